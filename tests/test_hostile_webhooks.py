"""The webhook receiver against hostile and unlucky deliveries (reliability review H1, M4, L10).

- H1: a body that arrives in several TCP segments (Content-Length or chunked, split at random
  points) is read whole, for the aiohttp handler and the ASGI app alike; over ``max_body`` is
  413 with or without a Content-Length; 400 only for a complete body that is not JSON.
- M4: de-dup keys are bounded whatever the sender puts in a payload, and ``MemoryDedupStore``
  is bounded in bytes.
- L10: a duplicate that arrives while the first copy's callback runs waits for its outcome; if
  the first copy fails, the duplicate is processed (never acknowledged as a lost "duplicate").

Deliveries go over real loopback sockets: a raw asyncio client writes each request in pieces
(draining and yielding between them, so the server reads each piece separately).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiotallyfy.webhooks import (
    ORG_HEADER,
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

ORG = "org1"
MAX_KEY = 128  # what every dedup key must fit in, whatever the payload holds


def task_payload(index: int, size: int = 0) -> bytes:
    """A task.completed body for a distinct event ``index``, padded to exactly ``size`` bytes
    (when ``size`` is larger than the unpadded body)."""
    payload: dict[str, Any] = {
        "this_task": {
            "id": f"{index:032x}",
            "title": f"Task {index}",
            "status": "completed",
            "completed_at": "2026-01-15T12:00:00.000Z",
            "summary": "",
        },
        "process": {"id": "b" * 32, "organization_id": ORG},
    }
    body = orjson.dumps(payload)
    if size > len(body):
        payload["this_task"]["summary"] = "x" * (size - len(body))
        body = orjson.dumps(payload)
        assert len(body) == size
    return body


# ------------------------------------------------------------------ servers under test
Recorder = Callable[[WebhookEvent], Awaitable[None]]


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[tuple[str, int]]:
    """The receiver under test on a loopback port. Not ``_hostile.hostile_server``: that one
    reads each request body before its handler runs, which is the very read under test."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield host, port
    finally:
        await runner.cleanup()


def aiohttp_receiver(on_event: Recorder, max_body: int, **kw: Any) -> web.Application:
    app = web.Application()
    handler = webhook_handler(on_event, trusted_orgs={ORG}, max_body=max_body, **kw)
    app.router.add_post("/hook", handler)
    return app


def asgi_receiver(on_event: Recorder, max_body: int, **kw: Any) -> web.Application:
    """The ASGI app behind a minimal ASGI bridge: each chunk aiohttp receives from the socket
    becomes one ``http.request`` message (``more_body`` until the end), as ASGI servers do."""
    asgi = asgi_webhook_app(on_event, trusted_orgs={ORG}, max_body=max_body, **kw)

    async def bridge(request: web.Request) -> web.StreamResponse:
        done = False

        async def receive() -> MutableMapping[str, Any]:
            nonlocal done
            if done:
                return {"type": "http.disconnect"}
            chunk = await request.content.readany()
            done = chunk == b""
            return {"type": "http.request", "body": chunk, "more_body": not done}

        started: dict[str, Any] = {}
        body: list[bytes] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            else:
                body.append(message.get("body", b""))

        headers = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
        scope = {"type": "http", "method": request.method, "headers": headers}
        await asgi(scope, receive, send)
        return web.Response(status=started["status"], body=b"".join(body),
                            content_type="application/json")  # fmt: skip

    app = web.Application()
    app.router.add_post("/hook", bridge)
    return app


RECEIVERS = {"aiohttp": aiohttp_receiver, "asgi": asgi_receiver}


# ------------------------------------------------------------------ a raw, splitting client
def request_bytes(body: bytes, *, chunked: bool, rng: random.Random, org: str = ORG) -> bytes:
    head = [
        "POST /hook HTTP/1.1",
        "Host: 127.0.0.1",
        f"{ORG_HEADER}: {org}",
        "Content-Type: application/json",
    ]
    if not chunked:
        head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body
    head.append("Transfer-Encoding: chunked")
    framed = bytearray(("\r\n".join(head) + "\r\n\r\n").encode())
    cuts = sorted(rng.sample(range(1, len(body)), k=min(3, len(body) - 1))) if body else []
    for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True):
        framed += f"{end - start:x}\r\n".encode() + body[start:end] + b"\r\n"
    framed += b"0\r\n\r\n"
    return bytes(framed)


async def send_split(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    wire: bytes,
    rng: random.Random,
    pieces: int,
) -> tuple[int, str]:
    """Write ``wire`` in ``pieces`` writes cut at random points (yielding between them), then
    read one response: (status, outcome)."""
    cuts = sorted(rng.sample(range(1, len(wire)), k=pieces - 1))
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        writer.write(wire[start:end])
        await writer.drain()
        for _ in range(3):
            await asyncio.sleep(0)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(v) for k, _, v in (ln.partition(":") for ln in lines[1:])
                  if k.lower() == "content-length")  # fmt: skip
    outcome = orjson.loads(await reader.readexactly(length))["outcome"]
    return status, outcome


@pytest.mark.parametrize("kind", sorted(RECEIVERS))
async def test_1000_split_deliveries_each_accepted_exactly_once(kind: str) -> None:
    """Issue 12's figure: 1,000 distinct deliveries of random size up to ``max_body``, every
    request written in 2-6 TCP writes cut at random points (half with Content-Length, half
    chunked) → 1,000 answers ``200 processed`` and the callback ran once for each event."""
    max_body = 16 * 1024
    seen: list[str] = []

    async def on_event(event: WebhookEvent) -> None:
        assert isinstance(event, TaskCompletedEvent)
        seen.append(event.task_id)

    rng = random.Random(12)
    answers: list[tuple[int, str]] = []
    connections, per_connection = 10, 100

    async def worker(port: int, first: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for index in range(first, first + per_connection):
                size = rng.choice([max_body, rng.randint(300, max_body)])
                wire = request_bytes(task_payload(index, size), chunked=index % 2 == 1, rng=rng)
                answers.append(await send_split(reader, writer, wire, rng, rng.randint(2, 6)))
        finally:
            writer.close()
            await writer.wait_closed()

    async with serve(RECEIVERS[kind](on_event, max_body)) as (_, port):
        await asyncio.gather(*(worker(port, c * per_connection) for c in range(connections)))
    assert answers == [(200, "processed")] * 1000
    assert len(seen) == 1000
    assert sorted(seen) == [f"{i:032x}" for i in range(1000)]


@pytest.mark.parametrize("kind", sorted(RECEIVERS))
async def test_body_limits_and_not_json_split(kind: str) -> None:
    max_body = 4096
    seen: list[WebhookEvent] = []

    async def on_event(event: WebhookEvent) -> None:
        seen.append(event)

    rng = random.Random(3)
    async with serve(RECEIVERS[kind](on_event, max_body)) as (_, port):

        async def once(body: bytes, *, chunked: bool) -> tuple[int, str]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                wire = request_bytes(body, chunked=chunked, rng=rng)
                return await send_split(reader, writer, wire, rng, 4)
            finally:
                writer.close()
                await writer.wait_closed()

        exact = task_payload(1, max_body)
        assert await once(exact, chunked=False) == (200, "processed")
        assert await once(task_payload(2, max_body), chunked=True) == (200, "processed")
        too_big = task_payload(3, max_body + 1)
        assert await once(too_big, chunked=False) == (413, "body too large")
        assert await once(too_big, chunked=True) == (413, "body too large")  # no Content-Length
        assert await once(exact[:-1], chunked=True) == (400, "webhook body is not JSON")
        assert await once(b"[1, 2]", chunked=False) == (400, "webhook body must be a JSON object")
    assert [e.kind for e in seen] == ["task.completed", "task.completed"]


async def test_large_body_from_aiohttp_client_default_max_body() -> None:
    """The review's loopback case: aiohttp's own client posting 900 KB bodies (under the
    default 1 MB ``max_body``) got 400 ten times out of ten."""
    seen: list[str] = []

    async def on_event(event: WebhookEvent) -> None:
        assert isinstance(event, TaskCompletedEvent)
        seen.append(event.task_id)

    app = web.Application()
    app.router.add_post("/hook", webhook_handler(on_event, trusted_orgs={ORG}))
    async with serve(app) as (host, port), aiohttp.ClientSession() as session:
        for index in range(3):
            body = task_payload(index, 900 * 1024)
            async with session.post(
                f"http://{host}:{port}/hook", data=body, headers={ORG_HEADER: ORG}
            ) as resp:
                assert (resp.status, await resp.json()) == (200, {"outcome": "processed"})
    assert seen == [f"{i:032x}" for i in range(3)]


# ------------------------------------------------------------------ L10: duplicates in flight
async def post_json(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str]:
    async with session.post(url, data=body, headers={ORG_HEADER: ORG}) as resp:
        return resp.status, (await resp.json())["outcome"]


@pytest.mark.parametrize("kind", sorted(RECEIVERS))
async def test_duplicate_during_failing_first_copy_is_processed(kind: str) -> None:
    release_first = asyncio.Event()
    calls: list[str] = []
    succeeded: list[str] = []

    async def on_event(event: WebhookEvent) -> None:
        calls.append(event.dedup_key)
        if len(calls) == 1:
            await release_first.wait()
            raise RuntimeError("database down")
        succeeded.append(event.dedup_key)

    body = task_payload(7)
    async with (
        serve(RECEIVERS[kind](on_event, 4096)) as (host, port),
        aiohttp.ClientSession() as session,
    ):
        post = partial(post_json, session, f"http://{host}:{port}/hook", body)
        first = asyncio.create_task(post())
        await asyncio.sleep(1)  # the first copy is inside the callback
        assert calls
        assert not first.done()
        duplicate = asyncio.create_task(post())
        await asyncio.sleep(5)
        assert not duplicate.done(), "the duplicate was answered before the first copy finished"
        release_first.set()
        assert await first == (500, "callback failed")
        assert await duplicate == (200, "processed")
    assert len(calls) == 2
    assert succeeded == [calls[0]]


@pytest.mark.parametrize("kind", sorted(RECEIVERS))
async def test_duplicate_waits_for_successful_first_copy(kind: str) -> None:
    release_first = asyncio.Event()
    calls: list[str] = []

    async def on_event(event: WebhookEvent) -> None:
        calls.append(event.dedup_key)
        await release_first.wait()

    body = task_payload(8)
    async with (
        serve(RECEIVERS[kind](on_event, 4096)) as (host, port),
        aiohttp.ClientSession() as session,
    ):
        post = partial(post_json, session, f"http://{host}:{port}/hook", body)
        first = asyncio.create_task(post())
        await asyncio.sleep(1)
        duplicates = [asyncio.create_task(post()) for _ in range(3)]
        await asyncio.sleep(5)
        assert not any(d.done() for d in duplicates)
        release_first.set()
        assert await first == (200, "processed")
        assert [await d for d in duplicates] == [(200, "duplicate")] * 3
    assert len(calls) == 1


async def test_cancelled_callback_releases_claim() -> None:
    """A first copy whose handler is cancelled (client gone, server shutting down) must not
    leave the event marked as seen: the next copy is processed."""
    from aiotallyfy.webhooks import WebhookReceiver

    gate = asyncio.Event()
    calls: list[int] = []

    async def on_event(event: WebhookEvent) -> None:
        calls.append(1)
        if len(calls) == 1:
            await gate.wait()

    receiver = WebhookReceiver(on_event, trusted_orgs={ORG})
    body = task_payload(9)
    first = asyncio.create_task(receiver.receive(ORG, body))
    await asyncio.sleep(1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    result = await receiver.receive(ORG, body)
    assert (result.status, result.outcome) == (200, "processed")
    assert len(calls) == 2


# ------------------------------------------------------------------ M4: bounded keys and store
def test_dedup_keys_bounded_whatever_the_sender_sends() -> None:
    huge = "9" * 900_000
    task = parse_webhook(
        {"this_task": {"id": huge, "completed_at": huge}, "process": {"id": huge}}, ORG
    )
    process = parse_webhook({"id": huge, "checklist_id": "c", "completed_at": huge}, ORG)
    launched = parse_webhook({"id": huge, "checklist_id": "c", "started_at": huge}, ORG)
    org_event = parse_webhook({"event": huge, "id": huge}, ORG)
    fallback = parse_webhook({"event": huge, "data": {"x": huge}}, ORG)
    keys = [e.dedup_key for e in (task, process, launched, org_event, fallback)]
    assert all(len(k) <= MAX_KEY for k in keys), [len(k) for k in keys]
    assert len(set(keys)) == 5
    # the variable parts still tell events apart
    other = parse_webhook(
        {"this_task": {"id": huge, "completed_at": huge + "1"}, "process": {"id": huge}}, ORG
    )
    assert other.dedup_key != task.dedup_key
    again = parse_webhook(
        orjson.dumps({"process": {"id": huge}, "this_task": {"completed_at": huge, "id": huge}}),
        ORG,
    )
    assert again.dedup_key == task.dedup_key
    assert (
        parse_webhook({"event": "e", "id": 5}, ORG).dedup_key
        != parse_webhook({"event": "e", "id": 6}, ORG).dedup_key
    )
    assert (
        parse_webhook({"event": "e", "id": 5}, "org2").dedup_key
        != parse_webhook({"event": "e", "id": 5}, ORG).dedup_key
    )


async def test_memory_store_bounded_in_bytes() -> None:
    """The review's figure: 150 claims of 900 KB keys held 135 MB. The store keeps a bounded
    digest of any long key, and evicts the oldest entries past ``max_bytes``."""
    store = MemoryDedupStore()
    for i in range(150):
        assert await store.claim(f"{i}:" + "x" * 900_000)
    assert not await store.claim("7:" + "x" * 900_000)  # still recognised
    assert len(store) == 150
    assert store.nbytes <= 150 * 400
    small = MemoryDedupStore(max_bytes=2000)
    for i in range(100):
        assert await small.claim(f"key-{i}")
    assert small.nbytes <= 2000
    assert 0 < len(small) < 100
    assert not await small.claim("key-99")  # the newest are kept
    assert await small.claim("key-0")  # the oldest were evicted
    await small.release("key-0")
    assert await small.claim("key-0")
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryDedupStore(max_bytes=10)


# ------------------------------------------------------------------ parsing: property tests
JSON_KEYS = st.sampled_from(
    ["event", "data", "id", "event_id", "uuid", "this_task", "process", "checklist_id",
     "process-tasks", "completed_at", "started_at", "status", "name", "next_task", "launcher",
     "completer", "template", "form-fields", "guest-links", "ko-form-fields", "prerun"]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(JSON_KEYS | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=20,
)
PAYLOADS = st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=8) | JSON_VALUES


def _check(body: bytes | str | dict[str, Any]) -> None:
    try:
        event = parse_webhook(body, ORG)
    except WebhookPayloadError:
        return
    assert isinstance(event, (OrganizationEvent, TaskCompletedEvent, ProcessEvent))
    key = event.dedup_key
    assert isinstance(key, str)
    assert len(key) <= MAX_KEY
    assert event.dedup_key == key  # stable


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAYLOADS)
def test_parse_any_json_payload(payload: Any) -> None:
    """Any JSON value, as a dict or as bytes: a typed event with a bounded key, or
    ``WebhookPayloadError``; nothing else escapes."""
    if isinstance(payload, dict):
        _check(payload)
    try:
        body = orjson.dumps(payload)
    except orjson.JSONEncodeError:  # integers beyond 64 bits: send them as JSON text
        import json

        body = json.dumps(payload).encode()
    _check(body)
    _check(body.decode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parse_any_bytes(body: bytes) -> None:
    _check(body)


@pytest.mark.parametrize("depth", [200, 300, 1000, 1023, 1025, 5000])
@pytest.mark.parametrize("where", ["id", "body", "event_id"])
def test_parse_deep_nesting(depth: int, where: str) -> None:
    nested = "[" * depth + "]" * depth
    head = {
        "id": '{"checklist_id": "c", "id": ',
        "event_id": '{"event": "x", "event_id": 1, "data": ',
        "body": '{"event": "x", "data": ',
    }[where]
    text = head + nested + "}"
    _check(text.encode())
    payload: Any = []
    for _ in range(depth):
        payload = [payload]
    _check({"event": "x", "data": payload})
    _check({"id": payload, "checklist_id": "c"})


def test_parse_dict_with_values_json_cannot_hold() -> None:
    for payload in (
        {"event": "x", "data": {1: "int key"}},
        {"event": "x", "data": object()},
        {"id": b"bytes", "checklist_id": "c"},
        {"this_task": {"id": "t", "completed_at": {1, 2}}},
    ):
        with pytest.raises(WebhookPayloadError):
            parse_webhook(payload, ORG)
