"""Tests of the fake Tallyfy server (real loopback sockets, aiohttp client)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from aiotallyfy.testing import FakeTallyfy, RecordedRequest, Router, json_response
from aiotallyfy.testing._fake_data import FakeData
from aiotallyfy.testing._faults import FaultPlan

HEX32 = re.compile(r"^[0-9a-f]{32}$")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOT_FOUND = {"error": True, "message": "Resource not found", "code": "RESOURCE_NOT_FOUND"}
NO_ENDPOINT = {"error": True, "message": "API endpoint not found", "code": "ENDPOINT_NOT_FOUND"}
UNAUTH = {"error": True, "message": "Unauthenticated."}
TOO_MANY = {"message": "Too Many Attempts.", "code": "RATE_LIMIT_EXCEEDED"}


class Resp:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


async def call(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Resp:
    async with session.request(method, url, **kwargs) as r:
        return Resp(r.status, r.headers, await r.read())


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTallyfy]:
    # org 0: 25 tasks, org 1: empty, org 2: forbidden
    async with FakeTallyfy(orgs=3, tasks_per_org=[25, 0, 7], forbidden_orgs=1) as f:
        yield f


@pytest_asyncio.fixture
async def session(fake: FakeTallyfy) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=fake.headers) as s:
        yield s


def org0(fake: FakeTallyfy) -> str:
    return fake.data.org_ids[0]


# ----------------------------------------------------------------------------- data model
def test_data_is_seeded_and_realistic() -> None:
    a, b = FakeData(orgs=2, tasks_per_org=[200, 10], seed=7), FakeData(orgs=2, seed=7)
    assert a.org_ids == b.org_ids
    assert a.task_ids(a.org_ids[0])[:10] == b.task_ids(b.org_ids[0])[:10]
    assert FakeData(orgs=2, seed=8).org_ids != a.org_ids
    assert FakeTallyfy(seed=7).token == FakeTallyfy(seed=7).token
    assert FakeTallyfy(seed=7).token.startswith("fake-token-")
    assert FakeTallyfy(seed=7).token != FakeTallyfy(seed=8).token
    assert isinstance(a.me_id, int)
    org = a.organization(a.org_ids[0])
    assert org is not None
    assert HEX32.match(org["id"])
    assert ISO_Z.match(org["created_on"])
    assert {"name", "slug", "user_role", "users_count", "joined_on"} <= org.keys()
    assert all(isinstance(m["id"], int) for m in a.members(org["id"]))
    tasks = a.org_tasks(org["id"])
    assert len(tasks) == 200
    mine = [t for t in tasks if a.me_id in t["owners"]["users"]]
    assert 70 <= len(mine) <= 130
    assert [t["id"] for t in mine] == [t["id"] for t in a.my_tasks(org["id"])]
    assert {t["status"] for t in mine} == {"not-started", "in-progress", "completed"}
    run_ids = {r["id"] for r in a.runs(org["id"])}
    for t in tasks:
        assert HEX32.match(t["id"])
        assert ISO_Z.match(t["deadline"])
        assert ISO_Z.match(t["created_at"])
        assert t["owners"]["guests"] == []
        assert t["owners"]["groups"] == []
        if t["is_oneoff_task"]:
            assert t["run_id"] is None
            assert t["checklist_id"] is None
            assert t["step_id"] is None
        else:
            assert t["run_id"] in run_ids
            assert HEX32.match(t["step_id"])
        assert (t["completed_at"] is not None) == (t["status"] == "completed")
    assert any(t["is_oneoff_task"] for t in mine)
    assert a.my_tasks(org["id"], "overdue")
    assert a.my_tasks(org["id"], "due_soon")
    assert a.task(org["id"], tasks[3]["id"]) == tasks[3]
    assert a.task(org["id"], "0" * 32) is None
    with pytest.raises(ValueError, match="expected 2"):
        FakeData(orgs=2, tasks_per_org=[1, 2, 3])


def test_large_data_is_cheap() -> None:
    start = time.perf_counter()
    data = FakeData(orgs=2, tasks_per_org=20_000)
    assert time.perf_counter() - start < 2.0
    st = data.org_state(data.org_ids[1])
    assert st is not None
    assert st.task_count == 20_000
    assert not st._json_cache
    assert len(data.org_tasks(data.org_ids[1], "active", q="review")) == len(
        [t for t in data.org_tasks(data.org_ids[1], "active") if "review" in t["title"].lower()]
    )


# ----------------------------------------------------------------------------- basics
async def test_me_on_both_roots(fake: FakeTallyfy, session: aiohttp.ClientSession) -> None:
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/api"
    assert fake.root_url == f"http://127.0.0.1:{fake.port}"
    a = await call(session, "GET", f"{fake.base_url}/me")
    b = await call(session, "GET", f"{fake.root_url}/me/")
    assert a.status == b.status == 200
    assert a.headers["Content-Type"] == "application/json"
    assert a.body == b.body
    me = fake.data.me
    assert a.json == {
        "data": {
            "id": me["id"],
            "email": me["email"],
            "username": me["username"],
            "first_name": me["first_name"],
            "last_name": me["last_name"],
            "full_name": me["full_name"],
            "timezone": me["timezone"],
            "profile_pic": None,
        }
    }
    assert a.headers["X-Request-Id"] != b.headers["X-Request-Id"]
    r1, r2 = fake.requests
    assert (r1.root, r1.path, r1.raw_path) == ("api", "/me", "/api/me")
    assert (r2.root, r2.path, r2.raw_path) == ("root", "/me", "/me/")
    assert r1.request_id == a.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("override", "skip"),
    [
        ({"Authorization": "Bearer wrong"}, ()),
        ({"Authorization": "bearer {token}"}, ()),
        ({"Authorization": "Bearer  {token}"}, ()),
        ({"Authorization": "{token}"}, ()),
        ({}, ("Authorization",)),
        ({"X-Tallyfy-Client": "TallyfySDK"}, ()),
        ({}, ("X-Tallyfy-Client",)),
        ({}, ("Accept",)),
        ({"Accept": "text/html"}, ()),
    ],
)
async def test_auth_rejections(
    fake: FakeTallyfy, override: dict[str, str], skip: tuple[str, ...]
) -> None:
    fake.faults = FaultPlan(server_500=1.0)  # faults never hit unauthenticated requests
    headers = {k: v.format(token=fake.token) for k, v in {**fake.headers, **override}.items()}
    for name in skip:
        headers.pop(name, None)
    async with aiohttp.ClientSession(headers=headers, skip_auto_headers=["Accept"]) as s:
        r = await call(s, "GET", f"{fake.base_url}/organizations/{org0(fake)}/me/tasks")
    assert r.status == 401
    assert r.json == UNAUTH
    assert r.headers["Content-Type"] == "application/json"
    assert fake.count(status=401) == 1
    assert fake.max_admitted_in_window(60) == 0


async def test_accept_variants_and_revoked_token(fake: FakeTallyfy) -> None:
    for accept in ("application/json", "*/*", "application/json; charset=utf-8", "text/html, */*"):
        async with aiohttp.ClientSession(headers={**fake.headers, "Accept": accept}) as s:
            assert (await call(s, "GET", f"{fake.base_url}/me")).status == 200
    fake.tokens.discard(fake.token)  # "logging out deletes the token"
    async with aiohttp.ClientSession(headers=fake.headers) as s:
        assert (await call(s, "GET", f"{fake.base_url}/me")).status == 401


async def test_not_found_forbidden_and_method(
    fake: FakeTallyfy, session: aiohttp.ClientSession
) -> None:
    base, org = fake.base_url, org0(fake)
    forbidden = fake.data.forbidden_org_ids[0]
    assert forbidden == fake.data.org_ids[2]
    r = await call(session, "GET", f"{base}/organisations/{org}/tasks")
    assert (r.status, r.json) == (404, NO_ENDPOINT)
    r = await call(session, "GET", f"{fake.root_url}/organizations/{org}/tasks/{'a' * 32}")
    assert (r.status, r.json) == (404, NOT_FOUND)
    r = await call(session, "GET", f"{base}/organizations/{'b' * 32}/tasks")
    assert (r.status, r.json) == (404, NOT_FOUND)
    for path in ("", "/me/tasks", f"/tasks/{fake.data.task_ids(forbidden)[0]}"):
        r = await call(session, "GET", f"{base}/organizations/{forbidden}{path}")
        assert r.status == 403
        assert r.json == {
            "error": True,
            "message": "You don't have permission to access this organization.",
        }
    r = await call(session, "PATCH", f"{base}/organizations/{org}/tasks")
    assert r.status == 405
    assert r.headers["Allow"] == "GET, POST"  # POST: create a one-off task (issue 5)
    assert r.json == {
        "message": f"The PATCH method is not supported for route api/organizations/{org}/tasks. "
        "Supported methods: GET, POST."
    }
    r = await call(session, "GET", f"{base}/organizations/{org}")
    assert r.json == {"data": fake.data.organization(org)}


# ----------------------------------------------------------------------------- pagination
async def test_org_list_links(session: aiohttp.ClientSession) -> None:
    async with FakeTallyfy(orgs=5, org_list_per_page_default=2, forbidden_orgs=1) as f:
        url = f"{f.base_url}/me/organizations"
        p1 = (await call(session, "GET", url, headers=f.headers)).json
        assert [o["id"] for o in p1["data"]] == f.data.org_ids[:2]
        assert p1["meta"] == {
            "pagination": {
                "total": 5,
                "count": 2,
                "per_page": 2,
                "current_page": 1,
                "total_pages": 3,
                "links": {"next": f"{url}?page=2"},
            }
        }
        q = "per_page=2&q=a%20b&page=2&with=x%2Cy"
        p2 = (await call(session, "GET", f"{url}?{q}", headers=f.headers)).json
        assert p2["meta"]["pagination"]["links"] == {
            "previous": f"{url}?per_page=2&q=a%20b&page=1&with=x%2Cy",
            "next": f"{url}?per_page=2&q=a%20b&page=3&with=x%2Cy",
        }
        root = f"{f.root_url}/me/organizations"
        p3 = (await call(session, "GET", f"{root}?page=3", headers=f.headers)).json
        assert [o["id"] for o in p3["data"]] == f.data.org_ids[4:]
        assert p3["meta"]["pagination"]["links"] == {"previous": f"{root}?page=2"}
        assert p3["data"][0]["id"] in f.data.forbidden_org_ids
        past = (await call(session, "GET", f"{url}?page=9", headers=f.headers)).json
        assert past == {
            "data": [],
            "meta": {
                "pagination": {
                    "total": 5,
                    "count": 0,
                    "per_page": 2,
                    "current_page": 9,
                    "total_pages": 3,
                    "links": {"previous": f"{url}?page=8"},
                }
            },
        }
        single = (await call(session, "GET", f"{url}?per_page=10", headers=f.headers)).json
        assert single["meta"]["pagination"]["links"] == []
        assert single["meta"]["pagination"]["total_pages"] == 1


async def test_per_page_clamp_validation_and_without_pagination(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=250) as f:
        url = f"{f.base_url}/organizations/{f.data.org_ids[0]}/tasks"
        r = (await call(session, "GET", f"{url}?per_page=500&page=3", headers=f.headers)).json
        pg = r["meta"]["pagination"]
        assert (pg["per_page"], pg["count"], pg["total_pages"], pg["total"]) == (100, 50, 3, 250)
        assert [t["id"] for t in r["data"]] == f.data.task_ids(f.data.org_ids[0])[200:]
        for query, field, msg in [
            ("per_page=0", "per_page", "The per page must be at least 1."),
            ("page=abc", "page", "The page must be an integer."),
            ("page=0", "page", "The page must be at least 1."),
        ]:
            bad = await call(session, "GET", f"{url}?{query}", headers=f.headers)
            assert bad.status == 422
            assert bad.json == {"error": True, "message": msg, "errors": {field: [msg]}}
        everything = await call(
            session, "GET", f"{url}?without_pagination=true&per_page=5", headers=f.headers
        )
        body = everything.json
        assert len(body["data"]) == 250
        assert body["meta"]["pagination"] == {
            "total": 250,
            "count": 250,
            "per_page": 250,
            "current_page": 1,
            "total_pages": 1,
            "links": [],
        }


async def test_empty_list(fake: FakeTallyfy, session: aiohttp.ClientSession) -> None:
    empty = fake.data.org_ids[1]
    r = await call(session, "GET", f"{fake.base_url}/organizations/{empty}/me/tasks?status=all")
    assert r.json == {
        "data": [],
        "meta": {
            "pagination": {
                "total": 0,
                "count": 0,
                "per_page": 10,
                "current_page": 1,
                "total_pages": 1,
                "links": [],
            },
            "overdue_tasks": 0,
            "tasks_due_soon": 0,
        },
    }


# ----------------------------------------------------------------------------- task lists
async def test_my_tasks_default_status_is_active(
    fake: FakeTallyfy, session: aiohttp.ClientSession
) -> None:
    org = org0(fake)
    url = f"{fake.base_url}/organizations/{org}/me/tasks?per_page=100"
    default = (await call(session, "GET", url)).json
    active = (await call(session, "GET", f"{url}&status=active")).json
    everything = (await call(session, "GET", f"{url}&status=all")).json
    done = (await call(session, "GET", f"{url}&status=completed")).json
    assert default == active
    assert [t["id"] for t in default["data"]] == [
        t["id"] for t in fake.data.my_tasks(org, "active")
    ]
    assert all(t["status"] != "completed" for t in default["data"])
    assert [t["id"] for t in everything["data"]] == [t["id"] for t in fake.data.my_tasks(org)]
    assert len(everything["data"]) == len(default["data"]) + len(done["data"])
    assert len(done["data"]) >= 1
    assert everything["data"][0] == fake.data.my_tasks(org)[0]
    assert default["meta"]["overdue_tasks"] == len(fake.data.my_tasks(org, "overdue")) >= 1
    assert default["meta"]["tasks_due_soon"] == len(fake.data.my_tasks(org, "due_soon")) >= 1
    overdue = (await call(session, "GET", f"{url}&status=overdue")).json
    assert [t["id"] for t in overdue["data"]] == [
        t["id"] for t in fake.data.my_tasks(org, "overdue")
    ]
    title = everything["data"][0]["title"]
    word = title.split()[1].upper()
    found = (await call(session, "GET", f"{url}&status=all&q={word}")).json
    assert found["data"]
    assert all(word.lower() in t["title"].lower() for t in found["data"])
    bad = await call(session, "GET", f"{url}&status=bogus")
    assert bad.status == 422
    assert bad.json["errors"] == {"status": ["The selected status is invalid."]}


async def test_org_task_filters(fake: FakeTallyfy, session: aiohttp.ClientSession) -> None:
    org = org0(fake)
    url = f"{fake.base_url}/organizations/{org}/tasks?per_page=100"

    async def ids(query: str) -> list[str]:
        return [t["id"] for t in (await call(session, "GET", f"{url}&{query}")).json["data"]]

    assert await ids("x=1") == fake.data.task_ids(org)
    assert await ids("status=complete") == [
        t["id"] for t in fake.data.org_tasks(org) if t["status"] == "completed"
    ]
    assert await ids("status=inprogress") == [
        t["id"] for t in fake.data.org_tasks(org) if t["status"] == "in-progress"
    ]
    oneoff = await ids("is_oneoff=true")
    assert oneoff == [t["id"] for t in fake.data.org_tasks(org) if t["run_id"] is None]
    assert len(oneoff) >= 2
    me = fake.data.me_id
    assert await ids(f"owners={me}") == [t["id"] for t in fake.data.my_tasks(org)]
    other = fake.data.members(org)[1]["id"]
    assert await ids(f"owners={me},{other}") == [
        t["id"]
        for t in fake.data.org_tasks(org)
        if me in t["owners"]["users"] or other in t["owners"]["users"]
    ]
    for query, field in [("is_oneoff=maybe", "is_oneoff"), ("owners=a,b", "owners")]:
        r = await call(session, "GET", f"{url}&{query}")
        assert r.status == 422
        assert list(r.json["errors"]) == [field]


async def test_single_task_routes(fake: FakeTallyfy, session: aiohttp.ClientSession) -> None:
    org = org0(fake)
    tasks = fake.data.org_tasks(org)
    proc = next(t for t in tasks if t["run_id"])
    other_run = next(r["id"] for r in fake.data.runs(org) if r["id"] != proc["run_id"])
    base = f"{fake.base_url}/organizations/{org}"
    a = (await call(session, "GET", f"{base}/tasks/{proc['id']}")).json
    b = (await call(session, "GET", f"{base}/runs/{proc['run_id']}/tasks/{proc['id']}")).json
    assert a == b
    assert a["data"] == {**proc, "summary": a["data"]["summary"]}
    assert isinstance(a["data"]["summary"], str)
    inc = (await call(session, "GET", f"{base}/tasks/{proc['id']}?with=run")).json
    assert inc["data"]["run"] == {"data": fake.data.run(org, proc["run_id"])}
    for path in (f"/runs/{other_run}/tasks/{proc['id']}", f"/runs/{'c' * 32}/tasks/{proc['id']}"):
        r = await call(session, "GET", f"{base}{path}")
        assert (r.status, r.json) == (404, NOT_FOUND)


# ----------------------------------------------------------------------------- mutations
async def test_complete_reopen_process_task(
    fake: FakeTallyfy, session: aiohttp.ClientSession
) -> None:
    org = org0(fake)
    task = next(t for t in fake.data.my_tasks(org, "active") if t["run_id"])
    tid, run = task["id"], task["run_id"]
    base = f"{fake.base_url}/organizations/{org}"
    before_active = len(fake.data.my_tasks(org, "active"))
    # warm the list cache so the mutation must keep it consistent
    await call(session, "GET", f"{base}/me/tasks?per_page=100")
    r = await call(session, "POST", f"{base}/runs/{run}/completed-tasks", json={"task_id": tid})
    assert r.status == 200
    data = r.json["data"]
    assert set(data) == {
        "id", "title", "status", "completed_at", "completer_id", "tasks_changed_by_rules"
    }  # fmt: skip
    assert (data["id"], data["title"], data["status"]) == (tid, task["title"], "completed")
    assert data["completer_id"] == fake.data.me_id
    assert data["tasks_changed_by_rules"] == {}
    assert ISO_Z.match(data["completed_at"])
    assert fake.data.completion_count(tid) == 1
    assert fake.data.task(org, tid)["status"] == "completed"  # type: ignore[index]
    listed = (await call(session, "GET", f"{base}/me/tasks?per_page=100")).json
    assert tid not in [t["id"] for t in listed["data"]]
    assert listed["meta"]["pagination"]["total"] == before_active - 1

    again = await call(session, "POST", f"{base}/runs/{run}/completed-tasks", json={"task_id": tid})
    assert again.status == 422
    msg = "The task has already been completed."
    assert again.json == {"error": True, "message": msg, "errors": {"task_id": [msg]}}
    assert fake.data.completion_count(tid) == 1

    reopened = await call(session, "DELETE", f"{base}/runs/{run}/completed-tasks/{tid}")
    assert reopened.status == 200
    assert reopened.json == {
        "data": {
            "id": tid,
            "title": task["title"],
            "status": "in-progress",
            "completed_at": None,
            "completer_id": None,
            "completer_guest_id": None,
            "is_approved": None,
            "tasks_changed_by_rules": {},
        }
    }
    now = fake.data.task(org, tid)
    assert now is not None
    assert now["status"] == "in-progress"
    assert now["completed_at"] is None
    assert fake.data.reopen_count(tid) == 1
    listed = (await call(session, "GET", f"{base}/me/tasks?per_page=100")).json
    assert listed["meta"]["pagination"]["total"] == before_active
    twice = await call(session, "DELETE", f"{base}/runs/{run}/completed-tasks/{tid}")
    assert twice.status == 422


async def test_form_encoded_bodies_are_read(
    fake: FakeTallyfy, session: aiohttp.ClientSession
) -> None:
    """Laravel reads a form-encoded body like a JSON one; the official SDK clones a blueprint
    that way (``duplicate_template`` posts ``{tenant, title}`` as a form)."""
    org = org0(fake)
    cid = fake.data.org_state(org).checklists[0]["id"]  # type: ignore[union-attr]
    url = f"{fake.base_url}/organizations/{org}/checklists/{cid}/clone"
    r = await call(session, "POST", url, data={"tenant": org, "title": "Copy of it"})
    assert (r.status, r.json["data"]["title"]) == (201, "Copy of it")
    assert fake.requests[-1].headers["Content-Type"] == "application/x-www-form-urlencoded"
    r = await call(session, "POST", url, data={"title": "No tenant"})
    assert (r.status, r.json["errors"]) == (422, {"tenant": ["The tenant field is required."]})
    r = await call(session, "POST", url, data=b"{not json", headers={"Content-Type": "x"})
    assert (r.status, r.json) == (400, {"message": "The request body is not valid JSON."})


async def test_complete_validation(fake: FakeTallyfy, session: aiohttp.ClientSession) -> None:
    org = org0(fake)
    tasks = fake.data.org_tasks(org, "active")
    proc = next(t for t in tasks if t["run_id"])
    oneoff = next(t for t in tasks if t["run_id"] is None)
    base = f"{fake.base_url}/organizations/{org}"
    run_url = f"{base}/runs/{proc['run_id']}/completed-tasks"
    r = await call(session, "POST", run_url, data=b"{not json", headers={"Content-Type": "x"})
    assert r.status == 400
    assert r.json == {"message": "The request body is not valid JSON."}
    r = await call(session, "POST", run_url, json={})
    msg = "The task id field is required."
    assert (r.status, r.json) == (
        422,
        {"error": True, "message": msg, "errors": {"task_id": [msg]}},
    )
    invalid = "The selected task id is invalid."
    for url, tid in [(run_url, oneoff["id"]), (f"{base}/completed-tasks", proc["id"])]:
        r = await call(session, "POST", url, json={"task_id": tid})
        assert r.status == 422
        assert r.json["errors"] == {"task_id": [invalid]}
    r = await call(session, "POST", f"{base}/runs/{'d' * 32}/completed-tasks", json={"task_id": 1})
    assert (r.status, r.json) == (404, NOT_FOUND)
    assert sum(fake.data.completions.values()) == 0
    # one-off complete / reopen
    r = await call(session, "POST", f"{base}/completed-tasks", json={"task_id": oneoff["id"]})
    assert r.status == 200
    assert r.json["data"]["status"] == "completed"
    assert fake.data.completion_count(oneoff["id"]) == 1
    r = await call(session, "DELETE", f"{base}/completed-tasks/{oneoff['id']}")
    assert r.status == 200
    assert r.json["data"]["status"] == "in-progress"
    r = await call(session, "DELETE", f"{base}/completed-tasks/{'e' * 32}")
    assert (r.status, r.json) == (404, NOT_FOUND)


# ----------------------------------------------------------------------------- faults
async def test_scripted_faults(fake: FakeTallyfy, session: aiohttp.ClientSession) -> None:
    me_url = f"{fake.base_url}/me"
    normal = await call(session, "GET", me_url)

    fake.inject("html_503")
    r = await call(session, "GET", me_url)
    assert r.status == 503
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.body.startswith(b"<!DOCTYPE html>")

    fake.inject("server_500")
    r = await call(session, "GET", me_url)
    assert (r.status, r.json) == (500, {"error": True, "message": "Server Error"})

    fake.inject("malformed_json")
    r = await call(session, "GET", me_url)
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.body == normal.body[: len(normal.body) // 2]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.body)

    # aiohttp itself silently retries an idempotent request once after a disconnect
    fake.inject("reset", times=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(session, "GET", me_url)

    fake.inject("429", retry_after=7)
    r = await call(session, "GET", me_url)
    assert (r.status, r.json) == (429, TOO_MANY)
    assert r.headers["Retry-After"] == "7"
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert int(r.headers["X-RateLimit-Reset"]) >= int(time.time()) + 6

    assert (await call(session, "GET", me_url)).body == normal.body
    assert [(q.status, q.fault) for q in fake.requests] == [
        (200, None),
        (503, "html_503"),
        (500, "server_500"),
        (200, "malformed_json"),
        (None, "reset"),
        (None, "reset"),
        (429, "429"),
        (200, None),
    ]
    assert fake.max_admitted_in_window(3600) == 7  # the injected 429 is not an admission


async def test_faults_and_exactly_once(fake: FakeTallyfy, session: aiohttp.ClientSession) -> None:
    org = org0(fake)
    task = next(t for t in fake.data.org_tasks(org, "active") if t["run_id"])
    url = f"{fake.base_url}/organizations/{org}/runs/{task['run_id']}/completed-tasks"
    body = {"task_id": task["id"]}
    fake.inject("reset", method="POST", path_contains="completed-tasks")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(session, "POST", url, json=body)
    for fault, status in (("html_503", 503), ("server_500", 500)):
        fake.inject(fault, method="POST", path_contains="completed-tasks")
        assert (await call(session, "POST", url, json=body)).status == status
    assert fake.data.completion_count(task["id"]) == 0
    fake.inject("reset_after_apply", method="POST", times=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(session, "POST", url, json=body)
    assert fake.data.completion_count(task["id"]) == 1
    assert fake.requests[-1].status is None
    assert fake.requests[-1].fault == "reset_after_apply"
    retry = await call(session, "POST", url, json=body)
    assert retry.status == 422
    assert fake.data.completion_count(task["id"]) == 1


async def test_inject_filters_and_times(fake: FakeTallyfy, session: aiohttp.ClientSession) -> None:
    fake.inject("server_500", method="GET", path_contains="/organizations", times=2)
    assert fake.faults.pending == 2
    assert (await call(session, "GET", f"{fake.base_url}/me")).status == 200
    org_url = f"{fake.base_url}/organizations/{org0(fake)}"
    assert [(await call(session, "GET", org_url)).status for _ in range(3)] == [500, 500, 200]
    assert fake.faults.pending == 0
    with pytest.raises(ValueError, match="unknown fault"):
        fake.inject("explode")


async def test_probabilistic_faults_are_seeded() -> None:
    async def run() -> list[int]:
        plan = FaultPlan(seed=3, server_500=0.3, html_503=0.2)
        async with FakeTallyfy(faults=plan) as f, aiohttp.ClientSession(headers=f.headers) as s:
            return [(await call(s, "GET", f"{f.base_url}/me")).status for _ in range(30)]

    first, second = await run(), await run()
    assert first == second
    assert {200, 500, 503} == set(first)


@pytest.mark.virtual_time
async def test_hang_and_latency() -> None:
    loop = asyncio.get_running_loop()
    async with FakeTallyfy(latency=0.25) as f, aiohttp.ClientSession(headers=f.headers) as s:
        t0 = loop.time()
        assert (await call(s, "GET", f"{f.base_url}/me")).status == 200
        assert 0.25 <= loop.time() - t0 < 0.26
        f.inject("hang", hang_seconds=30)
        t0 = loop.time()
        with pytest.raises(asyncio.TimeoutError):  # (aiohttp rounds timeouts >= 5 s up)
            await call(s, "GET", f"{f.base_url}/me", timeout=aiohttp.ClientTimeout(total=2))
        assert 2 <= loop.time() - t0 < 2.01
        f.inject("hang")  # default 60 s, then answered normally
        t0 = loop.time()
        r = await call(s, "GET", f"{f.base_url}/me", timeout=aiohttp.ClientTimeout(total=100))
        assert r.status == 200
        assert 60.25 <= loop.time() - t0 < 60.3
        await asyncio.sleep(0)
        assert [(q.status, q.fault) for q in f.requests][1:] == [(None, "hang"), (200, "hang")]


# ----------------------------------------------------------------------------- rate limiting
@pytest.mark.virtual_time
async def test_rate_limit_headers_and_retry_after() -> None:
    loop = asyncio.get_running_loop()
    async with (
        FakeTallyfy(rate_limit=(3, 10.0)) as f,
        aiohttp.ClientSession(headers=f.headers) as s,
    ):
        url = f"{f.base_url}/me"
        seen = []
        for _ in range(3):
            r = await call(s, "GET", url)
            seen.append(
                (r.status, r.headers["X-RateLimit-Limit"], r.headers["X-RateLimit-Remaining"])
            )
            await asyncio.sleep(1.5)
        assert seen == [(200, "3", "2"), (200, "3", "1"), (200, "3", "0")]
        # now = 4.5; the oldest admission (0) frees a slot at 10 -> wait 5.5 -> Retry-After 6
        r = await call(s, "GET", url)
        assert (r.status, r.json) == (429, TOO_MANY)
        assert r.headers["Retry-After"] == "6"
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert r.headers["X-RateLimit-Remaining"] == "0"
        reset = int(r.headers["X-RateLimit-Reset"])
        assert time.time() + 4 <= reset <= time.time() + 7
        await asyncio.sleep(5.4)  # t = 9.9: still limited, 429s were not counted
        r = await call(s, "GET", url)
        assert (r.status, r.headers["Retry-After"]) == (429, "1")
        await asyncio.sleep(0.1)  # t = 10.0: the first admission left the window
        r = await call(s, "GET", url)
        assert (r.status, r.headers["X-RateLimit-Remaining"]) == (200, "0")
        assert f.max_admitted_in_window(10.0) == 3
        assert f.max_admitted_in_window(10.01) == 4
        assert f.count(status=429) == 2
        assert loop.time() == pytest.approx(10.0)


@pytest.mark.virtual_time
async def test_rate_limit_org_scope_and_live_change() -> None:
    async with (
        FakeTallyfy(orgs=2, rate_limit=(1, 60.0), rate_limit_scope="org") as f,
        aiohttp.ClientSession(headers=f.headers) as s,
    ):
        a, b = f.data.org_ids
        statuses = [
            (await call(s, "GET", f"{f.base_url}{path}")).status
            for path in (f"/organizations/{a}", f"/organizations/{b}/tasks", "/me",
                         f"/organizations/{a}/me/tasks", "/me")
        ]  # fmt: skip
        assert statuses == [200, 200, 200, 429, 429]
        assert f.max_admitted_in_window(60, key=a) == 1
        assert f.max_admitted_in_window(60, key=f.token) == 1
        assert f.max_admitted_in_window(60) == 3
        assert set(f.scope_keys) == {a, b, f.token}
        f.set_rate_limit(None)
        assert (await call(s, "GET", f"{f.base_url}/me")).status == 200
        f.set_rate_limit(2, 60.0)  # the earlier admission still counts
        r = await call(s, "GET", f"{f.base_url}/me")
        assert r.headers["X-RateLimit-Remaining"] == "0"
        assert (await call(s, "GET", f"{f.base_url}/me")).status == 429


@pytest.mark.virtual_time
async def test_rate_limit_without_headers() -> None:
    async with (
        FakeTallyfy(rate_limit=(1, 2.0), rate_limit_headers=False) as f,
        aiohttp.ClientSession(headers=f.headers) as s,
    ):
        ok = await call(s, "GET", f"{f.base_url}/me")
        assert ok.status == 200
        assert "X-RateLimit-Limit" not in ok.headers
        limited = await call(s, "GET", f"{f.base_url}/me")
        assert limited.status == 429
        assert limited.headers["Retry-After"] == "2"
        assert "X-RateLimit-Remaining" not in limited.headers


def test_max_admitted_in_window_math() -> None:
    f = FakeTallyfy()
    for t in (0.0, 0.5, 0.9, 1.0, 1.4, 3.0):
        f._admit("k", t)
    assert f.max_admitted_in_window(1.0) == 4  # 0.5, 0.9, 1.0, 1.4
    assert f.max_admitted_in_window(0.5) == 3  # 0.9, 1.0, 1.4
    assert f.max_admitted_in_window(10, key="k") == 6
    assert f.max_admitted_in_window(10, key="other") == 0


# ----------------------------------------------------------------------------- recording
async def test_recording(fake: FakeTallyfy, session: aiohttp.ClientSession) -> None:
    org = org0(fake)
    await call(session, "GET", f"{fake.base_url}/organizations/{org}/tasks?page=2&q=a%20b")
    await call(session, "POST", f"{fake.root_url}/organizations/{org}/completed-tasks",
               json={"task_id": "x"})  # fmt: skip
    rec = fake.requests[0]
    assert isinstance(rec, RecordedRequest)
    assert (rec.method, rec.path, rec.raw_path) == (
        "GET", f"/organizations/{org}/tasks", f"/api/organizations/{org}/tasks"
    )  # fmt: skip
    assert rec.query == {"page": "2", "q": "a b"}
    assert rec.headers["x-tallyfy-client"] == "APIClient"
    assert rec.headers["AUTHORIZATION"] == f"Bearer {fake.token}"
    assert (rec.body, rec.status, rec.fault, rec.root) == (b"", 200, None, "api")
    post = fake.requests[1]
    assert post.json() == {"task_id": "x"}
    assert post.status == 422
    assert post.root == "root"
    assert post.time >= rec.time
    assert fake.count() == 2
    assert fake.count("post") == 1
    assert fake.count(path_contains="/tasks", status=200) == 1
    assert fake.count(method="GET", status=422) == 0
    fake.reset_records()
    assert fake.requests == []
    assert fake.count() == 0


async def test_custom_routes(session: aiohttp.ClientSession) -> None:
    async def health(ctx: Any) -> Any:
        return json_response({"data": {"ok": True, "orgs": len(ctx.data.org_ids)}})

    def register(router: Router) -> None:
        router.get("/organizations/{org}/health", health)

    async with FakeTallyfy(orgs=2, forbidden_orgs=1, extra_routes=[register]) as f:
        ok, forbidden = f.data.org_ids
        r = await call(session, "GET", f"{f.base_url}/organizations/{ok}/health", headers=f.headers)
        assert r.json == {"data": {"ok": True, "orgs": 2}}
        url = f"{f.root_url}/organizations/{forbidden}/health"
        assert (await call(session, "GET", url, headers=f.headers)).status == 403


async def test_start_close_plain() -> None:
    fake = FakeTallyfy(orgs=1, tasks_per_org=1)
    await fake.start()
    try:
        async with aiohttp.ClientSession(headers=fake.headers) as s:
            assert (await call(s, "GET", f"{fake.base_url}/me")).status == 200
    finally:
        await fake.close()
    await fake.close()  # idempotent


pytest_plugins = ["pytester"]


def test_pytest_plugin_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import aiohttp

        async def test_fixture(fake_tallyfy):
            async with aiohttp.ClientSession(headers=fake_tallyfy.headers) as s:
                async with s.get(fake_tallyfy.base_url + "/me") as r:
                    assert r.status == 200

        async def test_factory(fake_tallyfy_factory):
            async with fake_tallyfy_factory(orgs=1, rate_limit=(1, 60.0)) as fake:
                assert len(fake.data.org_ids) == 1 and fake.rate_limit == (1, 60.0)
            leaked = await fake_tallyfy_factory(orgs=2).start()
            assert leaked.port
        """
    )
    result = pytester.runpytest(
        "-p", "no:aiotallyfy",  # the entry point, in case the package is installed
        "-p", "aiotallyfy.testing.pytest_plugin", "-p", "no:cacheprovider",
        "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
