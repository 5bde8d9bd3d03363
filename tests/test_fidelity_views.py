"""Fidelity to the real Tallyfy (issue 10, audit section 2, M9-M13 and M16): folder types, tag
updates, the task-create description, what a task list shows without ``status`` (M12, under
both readings of the org-wide route), numeric relation ids, the delete status codes."""

from __future__ import annotations

from typing import Any

import pytest
from _resources_helpers import org
from test_cli import by_key, cli

from aiotallyfy import (
    InvalidArgument,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


def queries(fake: FakeTallyfy, suffix: str) -> list[dict[str, str]]:
    return [r.query for r in fake.requests if r.method == "GET" and r.path.endswith(suffix)]


# ---------------------------------------------------------------------------- M9
async def test_m9_folders_list_sends_folder_type(fake: FakeTallyfy, client: TallyfyClient) -> None:
    area = area_of(fake, org(fake))
    blueprint_folders = [f["id"] for f in area.folders.values()]
    run_folders = [f["id"] for f in area.add_folders(3, folder_type="run")]
    assert [f["id"] async for f in client.folders.list(org(fake))] == blueprint_folders
    assert [f["id"] async for f in client.folders.list(org(fake), folder_type="run")] == run_folders
    assert [q["folder_type"] for q in queries(fake, "/folders")] == ["checklist", "run"]
    with pytest.raises(InvalidArgument) as info:
        client.folders.list(org(fake), folder_type="Run")
    assert info.value.attempts == 0
    assert len(fake.requests) == 2


# ---------------------------------------------------------------------------- M10
async def test_m10_tag_update_backfills_title(fake: FakeTallyfy, client: TallyfyClient) -> None:
    tag = next(iter(area_of(fake, org(fake)).tags.values()))
    updated = await client.tags.update(org(fake), tag["id"], color="#00ff00")
    assert (updated["title"], updated["color"]) == (tag["title"], "#00ff00")
    puts = [r.json() for r in fake.requests if r.method == "PUT"]
    assert puts == [{"title": tag["title"], "color": "#00ff00"}]
    assert fake.count("GET", f"/tags/{tag['id']}") == 1
    with pytest.raises(InvalidArgument) as info:
        await client.tags.update(org(fake), tag["id"], title="t" * 31)
    assert info.value.attempts == 0
    assert fake.count() == 2


# ---------------------------------------------------------------------------- M11
async def test_m11_task_create_sends_description_as_summary_too(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    me = fake.data.me_id
    task = await client.tasks.create(
        org(fake), title="Check invoice", owners={"users": [me]},
        deadline="2026-02-01 12:00:00", description="Line 4 looks off",
    )  # fmt: skip
    (body,) = [r.json() for r in fake.requests if r.method == "POST"]
    assert (body["description"], body["summary"]) == ("Line 4 looks off", "Line 4 looks off")
    assert task["id"] in fake.data.task_ids(org(fake))


# ---------------------------------------------------------------------------- M12
async def test_m12_member_tasks_include_completed(fake: FakeTallyfy, client: TallyfyClient) -> None:
    me = fake.data.me_id
    expected = [t["id"] for t in fake.data.org_tasks(org(fake), owners=[me])]
    assert any(t["status"] == "completed" for t in fake.data.org_tasks(org(fake), owners=[me]))
    assert [t["id"] async for t in client.tasks.list_for_user(org(fake), me)] == expected
    assert [q["status"] for q in queries(fake, "/tasks")] == ["all"]


def _org_ids(fake: FakeTallyfy) -> set[str]:
    return {t["id"] for t in fake.data.org_tasks(org(fake))}


@pytest.mark.parametrize("default", ["all", "active"])
async def test_m12_every_task_under_either_server_default(default: Any) -> None:
    async with (
        FakeTallyfy(orgs=1, tasks_per_org=230, org_tasks_default_status=default) as fake,
        TallyfyClient(fake.token, base_url=fake.base_url) as client,
    ):
        expected = _org_ids(fake)
        completed = {t["id"] for t in fake.data.org_tasks(org(fake), "complete")}
        assert completed
        assert 0 < len(completed) < len(expected)
        plain = {t["id"] async for t in client.tasks.list(org(fake))}
        # The plain list is the server's default view: complete only if it means "all".
        assert (plain == expected) is (default == "all")
        fake.reset_records()
        every = client.tasks.list_every(org(fake))
        got = [t["id"] async for t in every]
        assert len(got) == len(set(got))  # each task once
        assert set(got) == expected
        statuses = [q.get("status") for q in queries(fake, "/tasks")]
        pages_incomplete = -(-(len(expected) - len(completed)) // 100)
        pages_complete = -(-len(completed) // 100)
        assert statuses == ["incomplete"] * pages_incomplete + ["complete"] * pages_complete + [
            None  # one probe of the default view, one item: its total says nothing is missing
        ]
        assert queries(fake, "/tasks")[-1]["per_page"] == "1"
        assert every.total == len(expected)


async def test_m12_every_task_walks_the_default_view_when_it_has_more() -> None:
    """Tasks a status filter never shows (as ``auto-skipped`` ones may be) are still exported:
    the default view's total exceeds what the filters gave, so it is walked too."""
    async with (
        FakeTallyfy(orgs=1, tasks_per_org=120) as fake,
        TallyfyClient(fake.token, base_url=fake.base_url) as client,
    ):
        st = fake.data.org_state(org(fake))
        assert st is not None
        hidden = next(i for i in range(st.task_count) if st.status[i] != 2)
        fake.data._preds["incomplete"] = lambda s, i: s.status[i] != 2 and i != hidden
        st._cache.clear()
        got = [t["id"] async for t in client.tasks.list_every(org(fake))]
        assert len(got) == len(set(got)) == 120
        assert st.ids[hidden] in got
        assert queries(fake, "/tasks")[-1].get("status") is None
        assert queries(fake, "/tasks")[-1]["per_page"] == "100"


@pytest.mark.parametrize("default", ["all", "active"])
async def test_m12_cli_org_wide_export_is_complete(default: Any) -> None:
    async with FakeTallyfy(
        orgs=2, tasks_per_org=[150, 40], org_tasks_default_status=default
    ) as fake:
        run = await cli("tasks", "--all-orgs", fake=fake)
        assert run.code == 0, run.err
        rows = run.lines()
        expected = [
            dict(t, organization_id=o) for o in fake.data.org_ids for t in fake.data.org_tasks(o)
        ]
        assert by_key(rows) == by_key(expected)


# ---------------------------------------------------------------------------- M13
async def _filed_run(fake: FakeTallyfy, client: TallyfyClient) -> tuple[str, dict[str, Any]]:
    """(run id, the folder relation ``add_object`` made for it)."""
    folder = next(iter(area_of(fake, org(fake)).folders.values()))
    run_id = fake.data.runs(org(fake))[0]["id"]
    relation = await client.folders.add_object(org(fake), folder["id"], run_id)
    return run_id, dict(relation)


async def test_m13_remove_object_refuses_a_non_numeric_id(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    run_id, relation = await _filed_run(fake, client)
    assert isinstance(relation["id"], int)
    for bad in (run_id, "12a", "", True):
        with pytest.raises(InvalidArgument) as info:
            await client.folders.remove_object(org(fake), bad)  # type: ignore[arg-type]
        assert info.value.attempts == 0
    assert fake.count("DELETE") == 0
    assert str(relation["id"]) in area_of(fake, org(fake)).folder_objects
    await client.folders.remove_object(org(fake), str(relation["id"]))
    assert fake.count("DELETE", f"/folders-objects/{relation['id']}", status=204) == 1


async def test_m13_the_fake_reproduces_the_intval_trap(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    _, relation = await _filed_run(fake, client)
    path = f"/organizations/{org(fake)}/folders-objects/{'f' * 32}"
    response = await client.request("DELETE", path, org_id=org(fake))
    assert response.status == 204  # "success", and nothing was removed
    assert str(relation["id"]) in area_of(fake, org(fake)).folder_objects


# ---------------------------------------------------------------------------- M16
async def test_m16_delete_status_codes(fake: FakeTallyfy, client: TallyfyClient) -> None:
    tag = next(iter(area_of(fake, org(fake)).tags.values()))
    await client.tags.delete(org(fake), tag["id"])
    await client.tags.delete(org(fake), tag["id"])  # a repeat is a 204 too
    assert fake.count("DELETE", "/tags/", status=204) == 2
    guest = area_of(fake, org(fake)).add_guests(1)[0]
    await client.guests.delete(org(fake), guest["email"])
    assert fake.count("DELETE", "/guests/", status=200) == 1
    with pytest.raises(ValidationError) as info:
        await client.guests.delete(org(fake), guest["email"])
    assert info.value.status == 422
    run_id = fake.data.runs(org(fake))[0]["id"]
    await client.runs.archive(org(fake), run_id)
    assert await client.runs.delete(org(fake), run_id) is None
    assert fake.count("DELETE", f"/runs/{run_id}/delete", status=200) == 1
