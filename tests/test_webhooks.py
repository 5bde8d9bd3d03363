"""Webhook receiving: parsing into typed events, the sender check (trusted org accepted,
untrusted rejected with 403), de-duplication (a repeated delivery processed once), the ASGI
app, and FakeTallyfy delivering webhooks on launch and on task completion."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from aiotallyfy import TallyfyClient
from aiotallyfy.testing import FakeTallyfy
from aiotallyfy.testing._fake_webhooks import deliveries
from aiotallyfy.webhooks import (
    MemoryDedupStore,
    OrganizationEvent,
    ProcessEvent,
    TaskCompletedEvent,
    WebhookEvent,
    WebhookPayloadError,
    asgi_webhook_app,
    parse_webhook,
    webhook_handler,
)

pytestmark = pytest.mark.virtual_time

TASK_PAYLOAD: dict[str, Any] = {
    "this_task": {
        "id": "a" * 32,
        "title": "Review",
        "status": "completed",
        "completed_at": "2026-01-15T12:00:00.000Z",
        "completed_by": {"id": 7, "email": "k@x.example", "full_name": "K"},
        "captures": {"c" * 32: {"alias": "notes", "label": "Notes", "value": "ok"}},
    },
    "process": {"id": "b" * 32, "organization_id": "org1", "name": "Onboard"},
    "process-tasks": {"review": "a" * 32},
    "form-fields": {"notes": "ok"},
    "guest-links": {},
    "template": {"id": "c" * 32, "title": "Onboarding"},
    "launcher": {"id": 7, "email": "k@x.example", "full_name": "K"},
    "completer": {"id": 7, "email": "k@x.example", "full_name": "K"},
    "next_task": [],
}


class Receiver:
    """An aiohttp app with the ready handler, on a loopback port."""

    def __init__(self, trusted: set[str]) -> None:
        self.events: list[WebhookEvent] = []
        self.store = MemoryDedupStore(ttl=60)
        app = web.Application()
        app.router.add_post(
            "/hooks/k3y", webhook_handler(self.record, trusted_orgs=trusted, store=self.store)
        )
        self.runner = web.AppRunner(app)
        self.url = ""

    async def record(self, event: WebhookEvent) -> None:
        self.events.append(event)

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hooks/k3y"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTallyfy]:
    async with FakeTallyfy(orgs=2, tasks_per_org=10) as f:
        yield f


@pytest_asyncio.fixture
async def receiver(fake: FakeTallyfy) -> AsyncIterator[Receiver]:
    r = Receiver({fake.data.org_ids[0]})
    await r.start()
    yield r
    await r.runner.cleanup()


def test_parse_payload_kinds() -> None:
    event = parse_webhook(orjson.dumps(TASK_PAYLOAD), "org1")
    assert isinstance(event, TaskCompletedEvent)
    assert (event.task_id, event.process_id, event.form_fields) == ("a" * 32, "b" * 32,
                                                                    {"notes": "ok"})  # fmt: skip
    assert event.process_tasks == {"review": "a" * 32}
    assert event.next_task is None
    # org, kind, task id and completed_at, hashed so that the key is bounded (review M4)
    identity = orjson.dumps(["org1", "task.completed", "a" * 32, "2026-01-15T12:00:00.000Z"])
    assert event.dedup_key == f"task.completed:{hashlib.sha256(identity).hexdigest()}"
    launched = parse_webhook(
        {"id": "b" * 32, "checklist_id": "c" * 32, "status": "in-progress",
         "started_at": "2026-01-15T12:00:00.000Z", "completed_at": None,
         "ko-form-fields": {"client": "Acme"}, "process-tasks": {}},
        "org1",
    )  # fmt: skip
    assert isinstance(launched, ProcessEvent)
    assert (launched.kind, launched.ko_form_fields) == ("process.launched", {"client": "Acme"})
    done = parse_webhook({"id": "b" * 32, "checklist_id": "c", "completed_at": "2026-01-16"}, "o")
    assert done.kind == "process.completed"
    org_event = parse_webhook({"event": "task.comment_added", "data": {"id": 5}}, "org1")
    assert isinstance(org_event, OrganizationEvent)
    assert (org_event.kind, org_event.data) == ("task.comment_added", {"id": 5})
    for bad in (b"not json", b"[1]", b'{"hello": 1}'):
        with pytest.raises(WebhookPayloadError):
            parse_webhook(bad, "org1")


async def test_trusted_untrusted_and_duplicate(fake: FakeTallyfy, receiver: Receiver) -> None:
    trusted, other = fake.data.org_ids
    assert await fake.deliver_webhook(receiver.url, TASK_PAYLOAD, trusted) == 200
    assert await fake.deliver_webhook(receiver.url, TASK_PAYLOAD, trusted) == 200  # repeat
    assert await fake.deliver_webhook(receiver.url, TASK_PAYLOAD, other) == 403
    assert [e.kind for e in receiver.events] == ["task.completed"]  # processed once
    assert receiver.events[0].org_id == trusted
    assert [d.status for d in deliveries(fake)] == [200, 200, 403]
    # complete -> reopen -> complete is a new event (new completed_at): processed again
    again = {**TASK_PAYLOAD, "this_task": {**TASK_PAYLOAD["this_task"],
                                           "completed_at": "2026-01-16T08:00:00.000Z"}}  # fmt: skip
    assert await fake.deliver_webhook(receiver.url, again, trusted) == 200
    assert len(receiver.events) == 2


async def test_callback_failure_releases_claim(fake: FakeTallyfy) -> None:
    calls: list[str] = []

    async def flaky(event: WebhookEvent) -> None:
        calls.append(event.kind)
        if len(calls) == 1:
            raise RuntimeError("db down")

    app = web.Application()
    org = fake.data.org_ids[0]
    app.router.add_post("/h", webhook_handler(flaky, trusted_orgs=[org]))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/h"
    try:
        assert await fake.deliver_webhook(url, TASK_PAYLOAD, org) == 500
        assert await fake.deliver_webhook(url, TASK_PAYLOAD, org) == 200
        assert await fake.deliver_webhook(url, TASK_PAYLOAD, org) == 200
        assert calls == ["task.completed", "task.completed"]
    finally:
        await runner.cleanup()


async def test_fake_delivers_on_launch_and_completion(
    fake: FakeTallyfy, receiver: Receiver
) -> None:
    org = fake.data.org_ids[0]
    async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
        blueprint = (await client.blueprints.list(org).to_list())[0]
        await client.blueprints.update(org, blueprint["id"], webhook=receiver.url)
        field = (await client.blueprints.kickoff_fields(org, blueprint["id"]))[0]["id"]
        run = await client.runs.launch(org, blueprint["id"], prerun={field: "Acme"})
        assert len(receiver.events) == 1
        launched = receiver.events[0]
        assert isinstance(launched, ProcessEvent)
        assert (launched.kind, launched.process_id) == ("process.launched", run["id"])
        assert launched.prerun == {field: "Acme"}
        task = (await client.runs.tasks(org, run["id"]).to_list())[0]
        await client.tasks.update(org, task["id"], run["id"], webhook=receiver.url)
        await client.tasks.complete(org, task["id"], run["id"])
        completed = receiver.events[1]
        assert isinstance(completed, TaskCompletedEvent)
        assert (completed.task_id, completed.process_id) == (task["id"], run["id"])
    assert [d.org_id for d in deliveries(fake)] == [org, org]


async def test_asgi_app() -> None:
    events: list[WebhookEvent] = []

    async def on_event(event: WebhookEvent) -> None:
        events.append(event)

    app = asgi_webhook_app(on_event, trusted_orgs={"org1"})

    async def call(method: str, org: str | None, body: bytes) -> tuple[int, Any]:
        sent: list[MutableMapping[str, Any]] = []
        chunks = [body[:10], body[10:]]

        async def receive() -> MutableMapping[str, Any]:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        headers = [(b"x-tallyfy-orgid", org.encode())] if org else []
        await app({"type": "http", "method": method, "headers": headers}, receive, send)
        return sent[0]["status"], orjson.loads(sent[1]["body"])

    body = orjson.dumps(TASK_PAYLOAD)
    assert await call("POST", "org1", body) == (200, {"outcome": "processed"})
    assert await call("POST", "org1", body) == (200, {"outcome": "duplicate"})
    assert await call("POST", "evil", body) == (403, {"outcome": "untrusted org"})
    assert await call("POST", None, body) == (403, {"outcome": "untrusted org"})
    assert await call("GET", "org1", b"") == (405, {"outcome": "method not allowed"})
    assert await call("POST", "org1", b"{oops") == (400, {"outcome": "webhook body is not JSON"})
    assert len(events) == 1


async def test_memory_store_ttl_and_lru() -> None:
    now = [0.0]
    store = MemoryDedupStore(ttl=10, max_entries=2, clock=lambda: now[0])
    assert await store.claim("a")
    assert await store.claim("b")
    assert not await store.claim("a")
    assert await store.claim("c")  # evicts "a", the oldest
    assert len(store) == 2
    assert await store.claim("a")
    now[0] = 11.0
    assert await store.claim("b")  # expired
    await store.release("b")
    assert await store.claim("b")
