"""The task routes added for issue 5, end to end: one-off create 201 / update / archive 204 /
restore / delete 204, process task update (taskdata rules), a member's, a guest's and a run's
tasks across pages, and the 422s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy

pytestmark = pytest.mark.virtual_time


@pytest.fixture
def fake_tasks_per_org() -> int:
    return 400


async def test_member_tasks_every_page(fake: FakeTallyfy, client: TallyfyClient) -> None:
    me = fake.data.me_id
    expected = [t["id"] for t in fake.data.org_tasks(org(fake), owners=[me])]
    assert len(expected) > 200
    got = [t["id"] async for t in client.tasks.list_for_user(org(fake), me)]
    assert got == expected
    assert fake.count("GET", f"/users/{me}/tasks") == -(-len(expected) // 100)
    with pytest.raises(NotFoundError):
        await client.tasks.list_for_user(org(fake), 1).to_list()


async def test_oneoff_lifecycle(fake: FakeTallyfy, client: TallyfyClient) -> None:
    me = fake.data.me_id
    deadline = datetime(2026, 2, 1, 18, 30, tzinfo=timezone(timedelta(hours=2)))
    task = await client.tasks.create(
        org(fake),
        title="Send contract",
        owners={"users": [me], "guests": ["signer@client.example"]},
        deadline=deadline,
        description="Before Friday",
    )
    sent = next(r for r in fake.requests if r.method == "POST").json()
    assert sent["deadline"] == "2026-02-01 16:30:00"  # UTC, the request format
    assert sent["owners"] == {"users": [me], "guests": ["signer@client.example"], "groups": []}
    assert fake.count("POST", "/tasks", status=201) == 1
    assert (task["title"], task["is_oneoff_task"], task["deadline"]) == (
        "Send contract",
        True,
        "2026-02-01T16:30:00.000Z",
    )
    with pytest.raises(NotFoundError):  # not a guest of the org
        await client.tasks.list_for_guest_email(org(fake), "signer@client.example")


async def test_oneoff_update_archive_restore_delete(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    me = fake.data.me_id
    guest = (await client.guests.list(org(fake)).to_list())[0]["email"]
    task = await client.tasks.create(
        org(fake), title="Call", owners={"users": [me], "guests": [guest]},
        deadline="2026-02-01 09:00:00",
    )  # fmt: skip
    guest_tasks = await client.tasks.list_for_guest_email(org(fake), guest)
    assert [t["id"] async for t in guest_tasks] == [task["id"]]
    updated = await client.tasks.update_oneoff(
        org(fake), task["id"], title="Call back", deadline=datetime(2026, 2, 2, tzinfo=UTC),
        owners={"users": [me]},
    )  # fmt: skip
    assert (updated["title"], updated["deadline"]) == ("Call back", "2026-02-02T00:00:00.000Z")
    assert updated["owners"] == {"users": [me], "guests": [], "groups": []}
    with pytest.raises(InvalidArgument) as info:
        await client.tasks.update_oneoff(org(fake), task["id"], title="x", deadline="soon",
                                         owners={"users": [me]})  # fmt: skip
    assert info.value.attempts == 0  # "soon" is not a date: rejected before sending
    with pytest.raises(ValidationError) as server:
        await client.tasks.update_oneoff(org(fake), task["id"], title="x",
                                         deadline="2026-02-02", owners={"users": [1]})  # fmt: skip
    assert server.value.status == 422
    await client.tasks.archive(org(fake), task["id"])
    assert fake.count("DELETE", f"/tasks/{task['id']}", status=204) == 1
    listed = {t["id"] async for t in client.tasks.list(org(fake), is_oneoff=True)}
    assert task["id"] not in listed
    restored = await client.tasks.restore(org(fake), task["id"])
    assert restored is not None
    assert restored["archived_at"] is None
    assert task["id"] in {t["id"] async for t in client.tasks.list(org(fake), is_oneoff=True)}
    await client.tasks.delete(org(fake), task["id"])
    assert fake.count("DELETE", "/delete", status=204) == 1
    with pytest.raises(NotFoundError):
        await client.tasks.get(org(fake), task["id"])


async def test_create_validation(fake: FakeTallyfy, client: TallyfyClient) -> None:
    before = len(fake.requests)
    for kwargs in (
        {"title": "", "owners": {}, "deadline": "2026-01-01"},
        {"title": "t", "owners": [], "deadline": "2026-01-01"},
        {"title": "t", "owners": {"users": ["7"]}, "deadline": "2026-01-01"},
        {"title": "t", "owners": {"guests": ["nope"]}, "deadline": "2026-01-01"},
        {"title": "t", "owners": {}, "deadline": datetime(2026, 1, 1)},  # naive
        {"title": "t", "owners": {}, "deadline": "2026-01-01", "task_type": "chore"},
    ):
        with pytest.raises(InvalidArgument) as info:
            await client.tasks.create(org(fake), **kwargs)
        assert info.value.attempts == 0
    assert len(fake.requests) == before
    with pytest.raises(ValidationError) as server:
        await client.tasks.create(
            org(fake), title="t", owners={"users": [1]}, deadline="2026-01-01"
        )
    assert server.value.errors == {"owners.users": ["The selected owners.users is invalid."]}


async def test_process_task_update(fake: FakeTallyfy, client: TallyfyClient) -> None:
    st = fake.data.org_state(org(fake))
    assert st is not None
    cid = st.checklists[0]["id"]
    blueprint = await client.blueprints.get(org(fake), cid)
    run = await client.runs.launch(org(fake), cid, prerun={blueprint["prerun"][0]["id"]: "Kim"})
    tasks = await client.tasks.list_for_run(org(fake), run["id"]).to_list()
    steps = await client.blueprints.steps(org(fake), cid).to_list()
    capture = steps[0]["captures"][0]["id"]  # type: ignore[typeddict-item]
    first = tasks[0]
    updated = await client.tasks.update(
        org(fake), first["id"], run["id"], taskdata={capture: "ok", "f" * 32: "dropped"},
        owners={"users": [fake.data.me_id]}, summary="Checked",
    )  # fmt: skip
    assert updated["taskdata"] == {capture: "ok"}  # unknown keys dropped by the server
    assert updated["summary"] == "Checked"
    before = len(fake.requests)
    listed: Any = [{capture: 1}]
    with pytest.raises(InvalidArgument):
        await client.tasks.update(org(fake), first["id"], run["id"], taskdata=listed)
    with pytest.raises(InvalidArgument):
        await client.tasks.update(org(fake), first["id"], run["id"], taskdata={"Notes": "x"})
    assert len(fake.requests) == before
    await client.tasks.complete(org(fake), first["id"], run["id"])
    with pytest.raises(ValidationError) as info:
        await client.tasks.update(org(fake), first["id"], run["id"], summary="late")
    assert info.value.errors == {"task": ["A completed task cannot be updated."]}
