"""Member administration end to end: remove (with task reassignment), permanent delete after
disable, profile update with its required fields, approve, the org-scoped ``me``, the minimal
lists, and ``with`` on the single-object reads."""

from __future__ import annotations

import pytest
from _resources_helpers import org

from aiotallyfy import (
    BadRequestError,
    InvalidArgument,
    NotFoundError,
    OutcomeUnknownError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


@pytest.fixture
def fake_tasks_per_org() -> int:
    return 40


def owned_by(fake: FakeTallyfy, user_id: int) -> list[str]:
    return [t["id"] for t in fake.data.org_tasks(org(fake)) if user_id in t["owners"]["users"]]


async def test_remove_with_reassignment_then_gone(fake: FakeTallyfy, client: TallyfyClient) -> None:
    members = fake.data.members(org(fake))
    leaving = next(m["id"] for m in members[1:] if owned_by(fake, m["id"]))
    heir = next(m["id"] for m in members[1:] if m["id"] != leaving)
    theirs = owned_by(fake, leaving)
    removed = await client.users.remove(org(fake), leaving, reassign_to=heir)
    assert (removed["id"], removed["status"]) == (leaving, "disabled")
    assert fake.requests[-1].query == {"with_reassignment": "true", "to": str(heir)}
    assert owned_by(fake, leaving) == []
    assert set(theirs) <= set(owned_by(fake, heir))
    with pytest.raises(NotFoundError):
        await client.users.get(org(fake), leaving)
    with pytest.raises(NotFoundError):  # not re-sent by us; a repeat answers 404
        await client.users.remove(org(fake), leaving)
    with pytest.raises(BadRequestError, match="default administrator"):
        await client.users.remove(org(fake), fake.data.me_id)
    with pytest.raises(ValidationError) as err:
        await client.users.remove(org(fake), heir, reassign_to=999_999)
    assert err.value.errors == {"to": ["The selected to is invalid."]}
    before = len(fake.requests)
    with pytest.raises(InvalidArgument):
        await client.users.remove(org(fake), heir, reassign_to=heir)
    assert len(fake.requests) == before
    assert fake.count("DELETE", "/users/") == 4


async def test_remove_is_not_resent_after_a_lost_answer(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    uid = fake.data.members(org(fake))[1]["id"]
    fake.inject("reset_after_apply", method="DELETE", path_contains=f"/users/{uid}")
    with pytest.raises(OutcomeUnknownError):
        await client.users.remove(org(fake), uid)
    assert fake.count("DELETE", f"/users/{uid}") == 1
    assert uid not in [m["id"] for m in fake.data.members(org(fake))]


async def test_delete_needs_disable_first(fake: FakeTallyfy, client: TallyfyClient) -> None:
    uid = fake.data.members(org(fake))[2]["id"]
    with pytest.raises(ValidationError) as err:
        await client.users.delete(org(fake), uid)
    assert err.value.status == 422
    await client.users.disable(org(fake), uid)
    await client.users.delete(org(fake), uid)
    assert fake.count("DELETE", f"/users/{uid}/delete", status=204) == 1
    assert uid not in [m["id"] for m in fake.data.members(org(fake))]


async def test_update_approve_me_and_minimal_lists(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    uid = fake.data.members(org(fake))[1]["id"]
    updated = await client.users.update(
        org(fake), uid, first_name="Ana", last_name="Silva", timezone="Europe/Lisbon",
        job_title="Lead", date_format="dd/mm/yyyy",
    )  # fmt: skip
    assert (updated["full_name"], updated["timezone"]) == ("Ana Silva", "Europe/Lisbon")
    assert fake.requests[-1].json() == {
        "first_name": "Ana", "last_name": "Silva", "timezone": "Europe/Lisbon",
        "job_title": "Lead", "date_format": "dd/mm/yyyy",
    }  # fmt: skip
    before = len(fake.requests)
    for bad in (
        {"first_name": "A" * 33, "last_name": "S", "timezone": "UTC"},
        {"first_name": "A", "last_name": "S", "timezone": ""},
        {"first_name": "A", "last_name": "S", "timezone": "UTC", "date_format": "yyyy-mm-dd"},
        {"first_name": "A", "last_name": "S", "timezone": "UTC", "phone": "1" * 21},
    ):
        with pytest.raises(InvalidArgument) as err:
            await client.users.update(org(fake), uid, **bad)  # type: ignore[arg-type]
        assert err.value.attempts == 0
    assert len(fake.requests) == before

    fake.data.members(org(fake))  # a copy; the fake's own record is changed below
    area_of(fake, org(fake))  # seed guests
    st = fake.data.org_state(org(fake))
    assert st is not None
    st.members[1]["status"] = "pending"
    assert ((await client.users.approve(org(fake), uid)) or {})["status"] == "active"

    me = await client.users.me(org(fake))
    assert me["id"] == fake.data.me_id
    assert fake.requests[-1].path == f"/organizations/{org(fake)}/me"

    minimal = await client.users.list_minimal(org(fake)).to_list()
    assert [u["id"] for u in minimal] == [m["id"] for m in fake.data.members(org(fake))]
    assert set(minimal[0]) == {
        "id", "email", "first_name", "last_name", "full_name", "profile_pic", "role",
    }  # fmt: skip
    guests = await client.guests.list_minimal(org(fake)).to_list()
    assert [g["email"] for g in guests] == list(area_of(fake, org(fake)).guests)
    assert fake.count("GET", "/users-list") == 1
    assert fake.count("GET", "/guests-list") == 1


async def test_parameters_of_single_object_reads(fake: FakeTallyfy, client: TallyfyClient) -> None:
    ar = area_of(fake, org(fake))
    uid = fake.data.members(org(fake))[1]["id"]
    guest = next(iter(ar.guests.values()))["email"]
    group = next(iter(ar.groups))
    tag = next(iter(ar.tags))
    await client.users.get(org(fake), uid, with_=["groups", "stats"])
    await client.guests.get(org(fake), guest, with_="stats")
    await client.groups.get(org(fake), group, with_=["users", "guests"])
    await client.tags.get(org(fake), tag, with_="statistics")
    await client.tags.get(org(fake), tag)
    st = fake.data.org_state(org(fake))
    assert st is not None
    checklist, run = st.checklists[0]["id"], st.runs[0]["id"]
    got = await client.blueprints.get(
        org(fake), checklist, with_="steps", entire_folder_tree=True, version=3
    )
    assert got["id"] == checklist
    await client.blueprints.get(org(fake), checklist, entire_folder_tree=False)
    assert (await client.runs.get(org(fake), run, form_fields_values=True))["id"] == run
    assert [r.query for r in fake.requests] == [
        {"with": "groups,stats"}, {"with": "stats"}, {"with": "users,guests"},
        {"with": "statistics"}, {},
        {"with": "steps", "entire_folder_tree": "1", "version": "3"},
        {"entire_folder_tree": "0"},
        {"form_fields_values": "true"},
    ]  # fmt: skip
