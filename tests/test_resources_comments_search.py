"""Comments (read through ``with=threads``) and search (results keyed by type) end to end."""

from __future__ import annotations

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


@pytest.fixture
def fake_tasks_per_org() -> int:
    return 30


async def test_comments(fake: FakeTallyfy, client: TallyfyClient) -> None:
    task_id = fake.data.task_ids(org(fake))[1]
    seeded = area_of(fake, org(fake)).add_comments(task_id, 120)
    comments = await client.comments.list(org(fake), task_id)
    assert [c["id"] for c in comments] == [c["id"] for c in seeded]
    reads = [r for r in fake.requests if r.method == "GET"]
    assert [(r.path, r.query) for r in reads] == [
        (f"/organizations/{org(fake)}/tasks/{task_id}", {"with": "threads"})
    ]
    posted = await client.comments.create(org(fake), task_id, "Looks good", state="open")
    assert fake.count("POST", "/comment", status=201) == 1
    assert (posted["label"], posted["content"]) == ("comment", "Looks good")
    edited = await client.comments.update(org(fake), task_id, posted["id"], "Looks great")
    assert edited["content"] == "Looks great"
    with pytest.raises(ValidationError) as info:
        await client.comments.update(org(fake), task_id, posted["id"], "   ")
    assert (info.value.status, info.value.errors) == (
        422,
        {"content": ["The content field is required."]},
    )
    await client.comments.delete(org(fake), task_id, posted["id"])
    assert fake.count("DELETE", "/comment/", status=204) == 1
    assert posted["id"] not in [c["id"] async for c in client.comments.iter(org(fake), task_id)]
    problem = await client.comments.report_problem(org(fake), task_id, "Missing file")
    assert problem["label"] == "problem"
    assert (await client.tasks.get(org(fake), task_id))["problem"] is True  # type: ignore[typeddict-item]
    resolved = await client.comments.resolve_problems(org(fake), task_id, problem["id"])
    assert resolved is not None
    assert (resolved["label"], resolved["content"]) == ("resolve", "Resolved")
    assert (await client.tasks.get(org(fake), task_id))["problem"] is False  # type: ignore[typeddict-item]
    before = len(fake.requests)
    with pytest.raises(InvalidArgument):
        await client.comments.create(org(fake), task_id, "x", label="shout")
    with pytest.raises(InvalidArgument):
        await client.comments.create(org(fake), task_id, "")
    assert len(fake.requests) == before
    with pytest.raises(NotFoundError):
        await client.comments.create(org(fake), "a" * 32, "hello")


async def test_search_keyed_by_type_every_page(fake: FakeTallyfy, client: TallyfyClient) -> None:
    area = area_of(fake, org(fake))
    made = area.add_checklists(130, steps=1)
    area.add_runs(140, checklist_id=made[0]["id"])
    expected_runs = [r["id"] for r in fake.data.runs(org(fake)) if "blueprint" in r["name"].lower()]
    expected_bps = [c["id"] for c in made]
    assert (len(expected_runs), len(expected_bps)) == (140, 130)
    results = client.search(org(fake), "Blueprint", on=["process", "blueprint", "step"])
    hits = [(h.type, h.item["id"]) async for h in results]
    assert hits == [("process", i) for i in expected_runs] + [
        ("blueprint", i) for i in expected_bps
    ]
    assert results.totals == {"process": 140, "blueprint": 130, "step": 0}
    searches = [r.query for r in fake.requests if r.path.endswith("/search")]
    assert searches == [
        {"search": "Blueprint", "on": "process,blueprint,step", "page": "1", "per_page": "100"},
        {"search": "Blueprint", "on": "process", "per_page": "100", "page": "2"},
        {"search": "Blueprint", "on": "blueprint", "per_page": "100", "page": "2"},
    ]
    grouped = await client.search(org(fake), "blueprint", on="blueprint").by_type()
    assert list(grouped) == ["blueprint"]
    assert [b["id"] for b in grouped["blueprint"]] == expected_bps
    before = len(fake.requests)
    with pytest.raises(InvalidArgument):
        client.search(org(fake), "x", on=["people"])
    assert len(fake.requests) == before
    with pytest.raises(ValidationError) as info:
        await client.request(
            "GET", f"/organizations/{org(fake)}/search", params={"search": "", "on": "task"}
        )
    assert (info.value.status, info.value.errors) == (
        422,
        {"search": ["The search field is required."]},
    )
