"""The embedding examples, run for real: the aiohttp.web app (one client in ``cleanup_ctx``)
under a few hundred concurrent handler calls against FakeTallyfy, a handler cancelled
mid-request, and the plain ASGI app's lifespan."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

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

                calls = [task_ids[i % len(task_ids)] for i in range(300)]
                results = await asyncio.gather(*(get(t) for t in calls))
                assert [s for s, _ in results] == [200] * 300
                assert [b["id"] for _, b in results] == calls
                assert [b["title"] for _, b in results] == [
                    (fake.data.task(org, t) or {})["title"] for t in calls
                ]
                assert fake.count("GET", "/tasks/") == 300  # one shared client, no retries
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
