"""Processes end to end against FakeTallyfy: every page, launch (201, 422, local rejection),
the safe "launch once" path under a connection that dies after sending, and run writes."""

from __future__ import annotations

from typing import Any

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    OutcomeUnknownError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy._resources._runs import marker_tag
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


@pytest.fixture
def fake_tasks_per_org() -> int:
    return 10


def required_field(fake: FakeTallyfy, checklist_id: str) -> str:
    return str(area_of(fake, org(fake)).prerun[checklist_id][0]["id"])


async def test_list_walks_every_page(fake: FakeTallyfy, client: TallyfyClient) -> None:
    area_of(fake, org(fake)).add_runs(230)
    expected = [r["id"] for r in fake.data.runs(org(fake))]
    assert len(expected) == 232
    got = [r["id"] async for r in client.runs.list(org(fake))]
    assert got == expected
    gets = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/runs")]
    assert [(r.query["page"], r.query["per_page"]) for r in gets] == [
        ("1", "100"),
        ("2", "100"),
        ("3", "100"),
    ]


async def test_launch_201_tasks_and_422(fake: FakeTallyfy, client: TallyfyClient) -> None:
    checklist = fake.data.org_state(org(fake)).checklists[0]["id"]  # type: ignore[union-attr]
    field = required_field(fake, checklist)
    run = await client.runs.launch(org(fake), checklist, name="Onboard Kim", prerun={field: "Kim"})
    assert run["name"] == "Onboard Kim"
    assert run["prerun"] == {field: "Kim"}
    assert fake.count("POST", "/runs", status=201) == 1
    tasks = [t async for t in client.runs.tasks(org(fake), run["id"])]
    assert [t["title"] for t in tasks] == [
        f"{v} step {i}"
        for i, v in enumerate(("Collect", "Review", "Approve", "Notify", "Archive"), start=1)
    ]
    assert [t["id"] async for t in client.tasks.list_for_run(org(fake), run["id"])] == [
        t["id"] for t in tasks
    ]
    # missing required kick-off field: the server's 422, field errors kept
    with pytest.raises(ValidationError) as info:
        await client.runs.launch(org(fake), checklist, prerun={})
    assert info.value.status == 422
    assert info.value.errors == {f"prerun.{field}": ["Client name is required"]}
    # a list-shaped prerun never leaves the client
    before = len(fake.requests)
    listed: Any = [{"id": field, "value": "x"}]
    with pytest.raises(InvalidArgument) as local:
        await client.runs.launch(org(fake), checklist, prerun=listed)
    assert local.value.attempts == 0
    with pytest.raises(InvalidArgument):
        await client.runs.launch(org(fake), checklist, prerun={"Client name": "x"})
    assert len(fake.requests) == before


async def test_safe_launch_after_connection_dies(fake: FakeTallyfy, client: TallyfyClient) -> None:
    checklist = fake.data.org_state(org(fake)).checklists[1]["id"]  # type: ignore[union-attr]
    field = required_field(fake, checklist)
    fake.inject("reset_after_apply", method="POST", path_contains="/runs")
    marker = "job-7f3a9c21"
    run = await client.runs.launch(
        org(fake), checklist, prerun={field: "Acme"}, summary="Q3", launch_marker=marker
    )
    with_marker = [
        r for r in fake.data.runs(org(fake)) if marker_tag(marker) in str(r.get("summary"))
    ]
    assert len(with_marker) == 1
    assert run["id"] == with_marker[0]["id"]
    assert run["summary"] == f"Q3\n\n{marker_tag(marker)}"
    assert fake.count("POST", "/runs") == 1
    assert fake.count("POST", "/runs", status=None) == 1  # the dropped one
    # calling again with the same marker launches nothing
    again = await client.runs.launch(
        org(fake), checklist, prerun={field: "Acme"}, launch_marker=marker
    )
    assert again["id"] == run["id"]
    assert fake.count("POST", "/runs") == 1


async def test_unmarked_launch_reports_outcome_unknown(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    checklist = fake.data.org_state(org(fake)).checklists[0]["id"]  # type: ignore[union-attr]
    fake.inject("reset_after_apply", method="POST", path_contains="/runs")
    with pytest.raises(OutcomeUnknownError):
        await client.runs.launch(
            org(fake), checklist, prerun={required_field(fake, checklist): "x"}
        )
    assert fake.count("POST", "/runs") == 1


async def test_safe_launch_relaunches_when_absent(fake: FakeTallyfy, client: TallyfyClient) -> None:
    checklist = fake.data.org_state(org(fake)).checklists[0]["id"]  # type: ignore[union-attr]
    fake.inject("reset", method="POST", path_contains="/runs")  # dropped before applying
    marker = "job-0001-abcd"
    run = await client.runs.launch(
        org(fake),
        checklist,
        prerun={required_field(fake, checklist): "x"},
        launch_marker=marker,
        lookup_attempts=2,
        lookup_delay=1.0,
    )
    assert fake.count("POST", "/runs") == 2
    found = [r for r in fake.data.runs(org(fake)) if marker_tag(marker) in str(r["summary"])]
    assert [r["id"] for r in found] == [run["id"]]
    # lookups: 1 before launching + 2 after the unknown outcome
    assert fake.count("GET", "/runs") == 3


async def test_run_writes(fake: FakeTallyfy, client: TallyfyClient) -> None:
    run_id = fake.data.runs(org(fake))[0]["id"]
    updated = await client.runs.update(org(fake), run_id, name="Renamed", starred=True)
    assert (updated["name"], updated["starred"]) == ("Renamed", True)
    with pytest.raises(ValidationError) as info:
        await client.runs.update(org(fake), run_id, name="x" * 551)
    assert info.value.status == 422
    archived = await client.runs.archive(org(fake), run_id)
    assert archived is not None
    assert archived["archived_at"] is not None
    assert run_id not in [r["id"] async for r in client.runs.list(org(fake))]
    assert [r["id"] async for r in client.runs.list(org(fake), archived="only")] == [run_id]
    active = await client.runs.activate(org(fake), run_id)
    assert active["archived_at"] is None
    assert (await client.runs.get(org(fake), run_id))["name"] == "Renamed"
    await client.runs.delete(org(fake), run_id)
    assert fake.count("DELETE", "/delete", status=200) == 1  # 200, empty body (DOCS)
    with pytest.raises(NotFoundError):
        await client.runs.get(org(fake), run_id)
