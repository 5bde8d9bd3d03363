"""The embedding examples, run for real: the aiohttp.web app (one client in ``cleanup_ctx``)
under a few hundred concurrent handler calls against FakeTallyfy, a handler cancelled
mid-request, and the plain ASGI app's lifespan."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from aiotallyfy import Timeouts
from aiotallyfy.testing import FakeTallyfy

pytestmark = pytest.mark.virtual_time

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def get_300_tasks(
    get: Callable[[str], Awaitable[tuple[int, Any]]], fake: FakeTallyfy, org: str
) -> None:
    """300 concurrent GET /tasks/{id} through an example app: every answer right, and
    exactly 300 requests seen by the fake (one shared client, no retries)."""
    task_ids = fake.data.task_ids(org)
    calls = [task_ids[i % len(task_ids)] for i in range(300)]
    results = await asyncio.gather(*(get(t) for t in calls))
    assert [s for s, _ in results] == [200] * 300
    assert [b["id"] for _, b in results] == calls
    assert [b["title"] for _, b in results] == [
        (fake.data.task(org, t) or {})["title"] for t in calls
    ]
    assert fake.count("GET", "/tasks/") == 300


async def test_aiohttp_app_concurrency_cancellation_and_cleanup() -> None:
    example = load("aiohttp_app")
    async with FakeTallyfy(orgs=1, tasks_per_org=60) as fake:
        org = fake.data.org_ids[0]
        app = example.create_app(
            token=fake.token,
            org_id=org,
            base_url=fake.base_url,
            webhook_secret="s3cret",
            client_options={"max_concurrency": 8},
        )
        runner = web.AppRunner(app, handler_cancellation=True)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        client = app[example.CLIENT]
        task_ids = fake.data.task_ids(org)
        try:
            async with aiohttp.ClientSession() as http:

                async def get(task_id: str) -> tuple[int, Any]:
                    async with http.get(f"{base}/tasks/{task_id}") as r:
                        return r.status, await r.json()

                await get_300_tasks(get, fake, org)
                connector = client._transport.session.connector
                assert connector.limit == 8
                assert len(connector._acquired) == 0  # every connection given back

                # a handler cancelled mid-request: its caller gives up while Tallyfy hangs
                slow = task_ids[0]
                fake.inject("hang", method="GET", path_contains=f"/tasks/{slow}", hang_seconds=30)
                with pytest.raises(TimeoutError):
                    async with http.get(
                        f"{base}/tasks/{slow}", timeout=aiohttp.ClientTimeout(total=1)
                    ) as r:
                        await r.read()
                # Past the 30 s hang (virtual time): had the handler kept waiting, the fake
                # would have answered 200 by now; a cancelled call closed its connection.
                await asyncio.sleep(40)
                abandoned = [r for r in fake.requests if r.fault == "hang"]
                assert len(abandoned) == 1
                assert abandoned[0].status is None
                assert len(connector._acquired) == 0
                after = await asyncio.gather(*(get(t) for t in task_ids[:20]))
                assert [s for s, _ in after] == [200] * 20
                async with http.get(f"{base}/my-tasks") as r:
                    mine = await r.json()
                assert mine == {"active": len(fake.data.my_tasks(org, "active"))}
        finally:
            await runner.cleanup()
        assert client.closed
        assert client._transport._session is None or client._transport._session.closed


async def test_asgi_lifespan_app() -> None:
    example = load("asgi_app")
    async with FakeTallyfy(orgs=1, tasks_per_org=5) as fake:
        org = fake.data.org_ids[0]
        app = example.TallyfyASGI(
            token=fake.token, org_id=org, base_url=fake.base_url, webhook_secret="s3cret"
        )
        inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        outbox: list[MutableMapping[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            outbox.append(message)

        lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
        await inbox.put({"type": "lifespan.startup"})
        for _ in range(100):  # the startup message is handled within a few loop steps
            if outbox:
                break
            await asyncio.sleep(0)
        assert outbox.pop() == {"type": "lifespan.startup.complete"}

        async def http(method: str, path: str, body: bytes = b"", headers: Any = ()) -> Any:
            sent: list[MutableMapping[str, Any]] = []

            async def receive() -> MutableMapping[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def capture(message: MutableMapping[str, Any]) -> None:
                sent.append(message)

            scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
            await app(scope, receive, capture)
            return sent[0]["status"], orjson.loads(sent[1]["body"])

        assert await http("GET", "/me") == (
            200,
            {"id": fake.data.me_id, "email": fake.data.me["email"]},
        )
        payload = orjson.dumps({"event": "task.completed", "id": "e1", "data": {"id": "t"}})
        hook = [(b"x-tallyfy-orgid", org.encode())]
        assert await http("POST", "/hooks/s3cret", payload, hook) == (200, {"outcome": "processed"})
        assert await http("POST", "/hooks/s3cret", payload, hook) == (200, {"outcome": "duplicate"})
        assert await http("GET", "/nope") == (404, {"error": "not found"})
        assert [e.event for e in app.events] == ["task.completed"]
        client = app.client
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan
        assert outbox == [{"type": "lifespan.shutdown.complete"}]
        assert client.closed


async def test_fastapi_app_concurrency_deadline_disconnect_webhook_and_lifespan() -> None:
    """examples/fastapi_app.py through httpx's ASGI transport (no server process): 300
    concurrent requests through its one client, a request past its deadline (504), a caller
    that disconnects mid-call, the webhook route, and the lifespan closing the client."""
    import httpx

    example = load("fastapi_app")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with FakeTallyfy(orgs=1, tasks_per_org=60) as fake:
            org = fake.data.org_ids[0]
            task_ids = fake.data.task_ids(org)
            app = example.create_app(
                token=fake.token,
                org_id=org,
                base_url=fake.base_url,
                webhook_secret="s3cret",
                # attempts may take 120 s, so that the 45 s request deadline is what ends a hang
                # (with the default 30 s read timeout the client would retry it first)
                client_options={"max_concurrency": 8, "timeout": Timeouts(120, 10, 120)},
                deadline=45.0,  # queueing included: 300 calls at 600/min take ~25 s
            )
            async with app.router.lifespan_context(app):
                client = app.state.tallyfy
                connector = client._transport.session.connector
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:

                    async def get(task_id: str) -> tuple[int, Any]:
                        r = await http.get(f"/tasks/{task_id}")
                        return r.status_code, r.json()

                    await get_300_tasks(get, fake, org)
                    assert connector.limit == 8
                    assert len(connector._acquired) == 0

                    # Tallyfy hangs for 300 s: the request's 45 s deadline cancels the call
                    slow = task_ids[0]
                    fake.inject("hang", path_contains=f"/tasks/{slow}", hang_seconds=300)
                    started = asyncio.get_running_loop().time()
                    r = await http.get(f"/tasks/{slow}")
                    timed_out = {"detail": "Tallyfy did not answer in time"}
                    assert (r.status_code, r.json()) == (504, timed_out)
                    elapsed = asyncio.get_running_loop().time() - started
                    assert elapsed == pytest.approx(45.0, abs=0.01)
                    assert len(connector._acquired) == 0  # the cancelled call's slot is back

                    assert (await http.get(f"/tasks/{'0' * 32}")).status_code == 404
                    mine = (await http.get("/my-tasks")).json()
                    assert mine == {"active": len(fake.data.my_tasks(org, "active"))}

                    event = {"event": "task.completed", "id": "e1", "data": {"id": "t"}}
                    payload = orjson.dumps(event)
                    hook = {"x-tallyfy-orgid": org}
                    r = await http.post("/hooks/s3cret", content=payload, headers=hook)
                    assert (r.status_code, r.json()) == (200, {"outcome": "processed"})
                    r = await http.post("/hooks/s3cret", content=payload, headers=hook)
                    assert (r.status_code, r.json()) == (200, {"outcome": "duplicate"})
                    stranger = {"x-tallyfy-orgid": "x"}
                    r = await http.post("/hooks/s3cret", content=payload, headers=stranger)
                    assert r.status_code == 403
                    assert [e.event for e in app.state.events] == ["task.completed"]

                # A caller that disconnects 2 s into a call Tallyfy holds for 300 s, spoken to
                # in ASGI directly (httpx's transport cannot disconnect early).
                fake.inject("hang", path_contains=f"/tasks/{slow}", hang_seconds=300)
                sent: list[MutableMapping[str, Any]] = []
                messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

                async def receive() -> MutableMapping[str, Any]:
                    message = next(messages, None)
                    if message is not None:
                        return message
                    await asyncio.sleep(2)
                    return {"type": "http.disconnect"}

                async def send(message: MutableMapping[str, Any]) -> None:
                    sent.append(message)

                scope = {
                    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                    "method": "GET", "scheme": "http", "path": f"/tasks/{slow}", "raw_path": b"",
                    "root_path": "", "query_string": b"", "headers": [], "server": ("svc", 80),
                    "client": ("127.0.0.1", 5000), "app": app,
                }  # fmt: skip
                started = asyncio.get_running_loop().time()
                await app(scope, receive, send)
                assert asyncio.get_running_loop().time() - started == pytest.approx(2.0, abs=0.01)
                assert sent[0]["status"] == 499
                assert len(connector._acquired) == 0
                await asyncio.sleep(310)  # past the hang: nothing was left waiting for it
                hung = [r for r in fake.requests if r.fault == "hang"]
                assert [r.status for r in hung] == [None, None]  # both abandoned, not answered
                after = await asyncio.gather(*(client.tasks.get(org, t) for t in task_ids[:20]))
                assert [t["id"] for t in after] == task_ids[:20]
            assert client.closed
    assert [str(w.message) for w in caught] == []
