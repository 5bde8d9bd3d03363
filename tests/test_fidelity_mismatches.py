"""Fidelity to the real Tallyfy (issue 10, audit section 2, M1-M8 and M5): the fake now refuses
what the real server refuses (each route names its source), and the client sends what the real
server needs. Every test asserts the exact requests the server saw."""

from __future__ import annotations

from typing import Any

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    TallyfyClient,
    TallyfyError,
)
from aiotallyfy.testing import FakeTallyfy
from aiotallyfy.testing._fake_store import area_of, guest_code_of

pytestmark = pytest.mark.virtual_time


def sent(fake: FakeTallyfy, method: str, suffix: str) -> list[Any]:
    """The JSON bodies of the requests ``method ...suffix`` the fake saw, in order."""
    return [r.json() for r in fake.requests if r.method == method and r.path.endswith(suffix)]


def seen(fake: FakeTallyfy) -> list[tuple[str, str]]:
    """Every request as (method, path relative to the org)."""
    prefix = f"/organizations/{org(fake)}"
    return [(r.method, r.path.removeprefix(prefix)) for r in fake.requests]


# ---------------------------------------------------------------------------- M1
async def test_m1_guest_tasks_by_guest_code(fake: FakeTallyfy, client: TallyfyClient) -> None:
    me = fake.data.me_id
    guest = area_of(fake, org(fake)).add_guests(1)[0]
    code = guest_code_of(guest)
    assert code is not None
    assert len(code) == 40
    task = await client.tasks.create(
        org(fake), title="Sign NDA", owners={"users": [me], "guests": [guest["email"]]},
        deadline="2026-02-01 12:00:00",
    )  # fmt: skip
    fake.reset_records()
    got = [t["id"] async for t in client.tasks.list_for_guest(org(fake), code)]
    assert got == [task["id"]]
    assert [(r.path, r.query) for r in fake.requests] == [
        (
            f"/organizations/{org(fake)}/guests/{code}/tasks",
            {"status": "all", "per_page": "100", "page": "1"},
        )
    ]


async def test_m1_guest_tasks_from_an_email(fake: FakeTallyfy, client: TallyfyClient) -> None:
    me = fake.data.me_id
    guest = area_of(fake, org(fake)).add_guests(1)[0]
    email = guest["email"]
    task = await client.tasks.create(
        org(fake), title="Upload ID", owners={"users": [me], "guests": [email]},
        deadline="2026-02-01 12:00:00",
    )  # fmt: skip
    fake.reset_records()
    assert await client.guests.guest_id(org(fake), email) == guest_code_of(guest)
    pager = await client.tasks.list_for_guest_email(org(fake), email)
    assert [t["id"] async for t in pager] == [task["id"]]
    code = guest_code_of(guest)
    assert seen(fake) == [
        ("GET", f"/guests/{email}"),
        ("GET", f"/guests/{email}"),
        ("GET", f"/guests/{code}/tasks"),
    ]
    # An email where the route wants the code is refused before sending, with a pointer.
    before = len(fake.requests)
    with pytest.raises(InvalidArgument) as info:
        client.tasks.list_for_guest(org(fake), email)
    assert info.value.attempts == 0
    assert "list_for_guest_email" in str(info.value)
    assert len(fake.requests) == before


async def test_m1_fake_refuses_an_email_on_the_guest_tasks_route(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    email = area_of(fake, org(fake)).add_guests(1)[0]["email"]
    with pytest.raises(NotFoundError):
        await client.request(
            "GET", f"/organizations/{org(fake)}/guests/{email}/tasks", org_id=org(fake)
        )


async def test_m1_guest_without_link_is_an_error(fake: FakeTallyfy, client: TallyfyClient) -> None:
    guest = area_of(fake, org(fake)).add_guests(1)[0]
    guest["link"] = None
    with pytest.raises(TallyfyError, match="link"):
        await client.guests.guest_id(org(fake), guest["email"])


# ---------------------------------------------------------------------------- M2
async def test_m2_blueprint_form_fields_is_one_object(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    checklist = fake.data.org_state(org(fake)).checklists[0]  # type: ignore[union-attr]
    area_of(fake, org(fake)).add_steps(checklist["id"], 3)  # 5 seeded + 3
    fields = await client.blueprints.form_fields(org(fake), checklist["id"])
    assert fields["id"] == checklist["id"]
    assert fields["title"] == checklist["title"]
    assert [f["label"] for f in fields["form_fields"]] == [
        f"Notes for step {n}" for n in range(1, 9)
    ]
    assert [f["label"] for f in fields["ko_form_fields"]] == ["Client name", "Start date"]
    assert [(r.method, r.query) for r in fake.requests] == [("GET", {})]


# ---------------------------------------------------------------------------- M3
async def test_m3_invite_always_sends_a_message(fake: FakeTallyfy, client: TallyfyClient) -> None:
    invited = await client.users.invite(
        org(fake), email="kim@example.com", first_name="Kim", last_name="Lee"
    )
    assert invited["email"] == "kim@example.com"
    (body,) = sent(fake, "POST", "/users/invite")
    assert isinstance(body["message"], str)
    assert body["message"].strip()
    assert fake.count("POST", "/users/invite", status=201) == 1
    await client.users.invite(
        org(fake), email="ana@example.com", first_name="Ana", last_name="Roy", message="Welcome"
    )
    assert sent(fake, "POST", "/users/invite")[1]["message"] == "Welcome"


async def test_m3_invite_name_limits_checked_locally(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    for first, last, field in (("x" * 33, "Lee", "first_name"), ("Kim", "y" * 33, "last_name")):
        with pytest.raises(InvalidArgument) as info:
            await client.users.invite(
                org(fake), email="kim@example.com", first_name=first, last_name=last
            )
        assert (info.value.attempts, list(info.value.errors)) == (0, [field])
    with pytest.raises(InvalidArgument) as info:
        await client.users.invite(
            org(fake), email="kim@example.com", first_name="K", last_name="L", message="m" * 5001
        )
    assert (info.value.attempts, list(info.value.errors)) == (0, ["message"])
    assert fake.requests == []


# ---------------------------------------------------------------------------- M4
async def test_m4_blueprint_update_backfills_title(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    checklist = fake.data.org_state(org(fake)).checklists[0]  # type: ignore[union-attr]
    cid, title = checklist["id"], checklist["title"]
    updated = await client.blueprints.update(org(fake), cid, summary="For vendors")
    assert (updated["summary"], updated["title"]) == ("For vendors", title)
    assert seen(fake) == [("GET", f"/checklists/{cid}"), ("PUT", f"/checklists/{cid}")]
    assert sent(fake, "PUT", cid) == [{"title": title, "summary": "For vendors"}]
    # With a title given there is nothing to back-fill: one PUT, no GET.
    fake.reset_records()
    await client.blueprints.update(org(fake), cid, title="Renamed")
    assert seen(fake) == [("PUT", f"/checklists/{cid}")]


# ---------------------------------------------------------------------------- M5
async def test_m5_blueprint_filed_in_a_folder_by_put(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    checklist = fake.data.org_state(org(fake)).checklists[0]  # type: ignore[union-attr]
    folder = next(iter(area_of(fake, org(fake)).folders.values()))
    moved = await client.blueprints.move_to_folder(org(fake), checklist["id"], folder["id"])
    assert moved["folder_id"] == folder["id"]
    cid = checklist["id"]
    assert seen(fake) == [("GET", f"/checklists/{cid}"), ("PUT", f"/checklists/{cid}")]
    assert sent(fake, "PUT", cid) == [{"title": checklist["title"], "folder_id": folder["id"]}]
    assert area_of(fake, org(fake)).folder_objects == {}


async def test_m5_add_object_refuses_checklist_locally(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    checklist = fake.data.org_state(org(fake)).checklists[0]  # type: ignore[union-attr]
    folder = next(iter(area_of(fake, org(fake)).folders.values()))
    with pytest.raises(InvalidArgument) as info:
        await client.folders.add_object(org(fake), folder["id"], checklist["id"], "Checklist")
    assert info.value.attempts == 0
    assert "move_to_folder" in str(info.value)
    assert fake.requests == []


async def test_m5_resolve_one_problem_with_thread_and_content(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    task_id = fake.data.task_ids(org(fake))[1]
    first = await client.comments.report_problem(org(fake), task_id, "Missing file")
    second = await client.comments.report_problem(org(fake), task_id, "Wrong date")
    resolution = await client.comments.resolve_problems(org(fake), task_id, first["id"], "Found it")
    assert resolution is not None
    assert resolution["content"] == "Found it"
    assert sent(fake, "POST", "/resolved-threads") == [
        {"thread_id": first["id"], "content": "Found it"}
    ]
    assert (await client.tasks.get(org(fake), task_id))["problem"] is True  # type: ignore[typeddict-item]
    await client.comments.resolve_problems(org(fake), task_id, second["id"], "Fixed")
    assert (await client.tasks.get(org(fake), task_id))["problem"] is False  # type: ignore[typeddict-item]
    before = len(fake.requests)
    with pytest.raises(InvalidArgument) as info:
        await client.comments.resolve_problems(org(fake), task_id, first["id"], "")
    assert info.value.attempts == 0
    assert len(fake.requests) == before


# ---------------------------------------------------------------------------- M6
async def test_m6_folder_update_backfills_name(fake: FakeTallyfy, client: TallyfyClient) -> None:
    parent, child = list(area_of(fake, org(fake)).folders.values())[:2]
    moved = await client.folders.update(org(fake), child["id"], parent_id=parent["id"])
    assert (moved["name"], moved["parent_id"]) == (child["name"], parent["id"])
    fid = child["id"]
    assert seen(fake) == [("GET", f"/folders/{fid}"), ("PUT", f"/folders/{fid}")]
    assert sent(fake, "PUT", fid) == [{"name": child["name"], "parent_id": parent["id"]}]


# ---------------------------------------------------------------------------- M7
async def test_m7_group_update_sends_the_whole_group(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    group = next(iter(area_of(fake, org(fake)).groups.values()))
    gid, me = group["id"], fake.data.me_id
    assert group["description"] is None
    renamed = await client.groups.update(org(fake), gid, name="Finance EU")
    assert (renamed["name"], renamed["members"]) == ("Finance EU", [me])
    assert seen(fake) == [("GET", f"/groups/{gid}"), ("PUT", f"/groups/{gid}")]
    # description is left out when there is none (null or "" would be a 422)
    assert sent(fake, "PUT", gid) == [{"name": "Finance EU", "members": [me], "guests": []}]
    fake.reset_records()
    await client.groups.update(org(fake), gid, description="Accounts payable")
    assert sent(fake, "PUT", gid) == [
        {"name": "Finance EU", "members": [me], "guests": [], "description": "Accounts payable"}
    ]
    with pytest.raises(InvalidArgument) as info:
        await client.groups.update(org(fake), gid, description="")
    assert info.value.attempts == 0


# ---------------------------------------------------------------------------- M8
async def test_m8_group_create_requires_a_description(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    with pytest.raises(InvalidArgument) as info:
        await client.groups.create(org(fake), name="Finance", description="")
    assert (info.value.attempts, list(info.value.errors)) == (0, ["description"])
    assert fake.requests == []
    group = await client.groups.create(org(fake), name="Finance", description="Money people")
    assert group["description"] == "Money people"
    assert sent(fake, "POST", "/groups") == [{"name": "Finance", "description": "Money people"}]
