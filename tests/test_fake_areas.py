"""The fake's wiring: each ``FakeTallyfy`` builds its routes, task includes and hooks from the
``FakeArea`` objects it is given; nothing is global, so fakes in one process never share them.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from aiotallyfy.testing import (
    CORE_AREAS,
    DEFAULT_AREAS,
    Area,
    FakeArea,
    FakeTallyfy,
    RouteContext,
    Router,
    area_of,
    json_response,
)

NO_ENDPOINT = {"error": True, "message": "API endpoint not found", "code": "ENDPOINT_NOT_FOUND"}


async def _get(fake: FakeTallyfy, path: str, **params: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=fake.headers) as s,
        s.get(fake.base_url + path, params=params) as r,
    ):
        return r.status, orjson.loads(await r.read())


async def _post(fake: FakeTallyfy, path: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=fake.headers) as s,
        s.post(fake.base_url + path, json=body) as r,
    ):
        return r.status, orjson.loads(await r.read())


def _open_oneoff_task(fake: FakeTallyfy, org: str) -> str:
    tasks = fake.data.org_tasks(org, is_oneoff=True)
    return str(next(t["id"] for t in tasks if t["status"] != "completed"))


async def test_core_areas_alone_serve_identity_and_tasks_only() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=5, areas=CORE_AREAS) as fake:
        org = fake.data.org_ids[0]
        assert (await _get(fake, "/me"))[0] == 200
        status, body = await _get(fake, f"/organizations/{org}/me/tasks", status="all")
        assert status == 200
        assert body["meta"]["pagination"]["total"] == len(fake.data.my_tasks(org))
        assert await _get(fake, f"/organizations/{org}/runs") == (404, NO_ENDPOINT)
        assert await _get(fake, f"/organizations/{org}/tags") == (404, NO_ENDPOINT)
        assert fake.task_includes == {}
        assert fake.task_completed_hooks == []
        assert [a.name for a in fake.areas] == ["identity", "tasks"]


async def test_default_areas_serve_every_resource_area() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=5) as fake:
        org = fake.data.org_ids[0]
        assert fake.areas == DEFAULT_AREAS
        assert (await _get(fake, f"/organizations/{org}/runs"))[0] == 200
        assert (await _get(fake, f"/organizations/{org}/tags"))[0] == 200
        assert set(fake.task_includes) == {"threads"}
        assert len(fake.task_completed_hooks) == 1
        names = [a.name for a in DEFAULT_AREAS]
        assert len(names) == len(set(names))


async def test_an_area_is_wired_into_its_own_fake_only() -> None:
    completed: list[str] = []

    async def ping(ctx: RouteContext) -> Any:
        return json_response({"data": {"org": ctx.org_state.id}})

    def routes(router: Router) -> None:
        router.get("/organizations/{org}/ping", ping)

    def stamp(ctx: RouteContext, task: dict[str, Any]) -> Any:
        return {"data": {"stamped": task["id"]}}

    async def on_completed(ctx: RouteContext, task_id: str) -> None:
        completed.append(task_id)

    mine = FakeArea(
        "ping",
        routes,
        task_includes={"stamp": stamp},
        task_completed_hooks=(on_completed,),
    )
    async with (
        FakeTallyfy(orgs=1, tasks_per_org=10, areas=(*CORE_AREAS, mine)) as extended,
        FakeTallyfy(orgs=1, tasks_per_org=10) as plain,
    ):
        org = extended.data.org_ids[0]
        assert await _get(extended, f"/organizations/{org}/ping") == (200, {"data": {"org": org}})
        plain_org = plain.data.org_ids[0]
        assert await _get(plain, f"/organizations/{plain_org}/ping") == (404, NO_ENDPOINT)

        task = _open_oneoff_task(extended, org)
        status, body = await _get(
            extended, f"/organizations/{org}/tasks/{task}", **{"with": "stamp"}
        )
        assert body["data"]["stamp"] == {"data": {"stamped": task}}
        plain_task = _open_oneoff_task(plain, plain_org)
        status, body = await _get(
            plain, f"/organizations/{plain_org}/tasks/{plain_task}", **{"with": "stamp"}
        )
        assert status == 200
        assert "stamp" not in body["data"]

        status, _ = await _post(
            extended, f"/organizations/{org}/completed-tasks", {"task_id": task}
        )
        assert status == 200
        assert completed == [task]
        status, _ = await _post(
            plain, f"/organizations/{plain_org}/completed-tasks", {"task_id": plain_task}
        )
        assert status == 200
        assert completed == [task]  # the other fake's completion never reaches this hook


async def test_router_add_on_one_fake_does_not_leak_into_the_next() -> None:
    async def hello(ctx: RouteContext) -> Any:
        return json_response({"data": "hi"})

    first = FakeTallyfy(orgs=1, tasks_per_org=1)
    before = len(first.router.routes)
    first.router.get("/hello", hello)
    second = FakeTallyfy(orgs=1, tasks_per_org=1)
    assert len(first.router.routes) == before + 1
    assert len(second.router.routes) == before
    assert second.router.match("GET", "/hello") == (None, {}, [])


def test_two_areas_with_one_name_or_one_include_are_refused() -> None:
    with pytest.raises(ValueError, match="area 'tasks' given twice"):
        FakeTallyfy(areas=(*CORE_AREAS, FakeArea("tasks")))
    dup = FakeArea("mine", task_includes={"threads": lambda ctx, task: None})
    with pytest.raises(ValueError, match="task include 'threads' given by two areas"):
        FakeTallyfy(areas=(*DEFAULT_AREAS, dup))


def test_area_of_is_public_and_is_the_orgs_typed_area() -> None:
    fake = FakeTallyfy(orgs=2, tasks_per_org=3)
    org = fake.data.org_ids[1]
    st = fake.data.org_state(org)
    assert st is not None
    assert st.area is None  # created on first use
    made = area_of(fake, org)
    assert isinstance(made, Area)
    assert st.area is made
    assert area_of(fake, org) is made
    assert len(made.guests) == 2  # seeded
    assert "area" not in st.extra
    with pytest.raises(KeyError):
        area_of(fake, "0" * 32)


async def test_task_list_includes_come_from_the_fakes_own_areas() -> None:
    """``with=`` on the task lists (main's ``threads`` include for ``GET .../tasks``) is served
    from the fake's areas, like the single-task includes: an area's include reaches the list
    of its own fake only, and an unknown name adds nothing."""

    def mark(ctx: RouteContext, task: dict[str, Any]) -> dict[str, Any]:
        return {"data": [task["id"]]}

    mine = FakeArea("marks", task_includes={"marks": mark})
    async with (
        FakeTallyfy(orgs=1, tasks_per_org=3, areas=(*CORE_AREAS, mine)) as with_area,
        FakeTallyfy(orgs=1, tasks_per_org=3, areas=CORE_AREAS) as core_only,
    ):
        for fake, expect in ((with_area, True), (core_only, False)):
            org = fake.data.org_ids[0]
            for path in (f"/organizations/{org}/tasks", f"/organizations/{org}/me/tasks"):
                status, body = await _get(fake, path, **{"status": "all", "with": "marks,nothing"})
                assert status == 200
                tasks = body["data"]
                assert tasks, path
                for task in tasks:
                    if expect:
                        assert task["marks"] == {"data": [task["id"]]}
                    else:
                        assert "marks" not in task
                    assert "nothing" not in task
