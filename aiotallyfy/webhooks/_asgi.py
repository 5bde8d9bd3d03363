"""A plain ASGI app (no framework) that receives Tallyfy webhooks.

Mount it in any ASGI server or framework that accepts an ASGI callable (Starlette ``Mount``,
FastAPI ``app.mount``, bare uvicorn). It answers ``POST`` only (405 otherwise).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

import orjson

from ._receiver import DEFAULT_MAX_BODY, ORG_HEADER, EventCallback, WebhookReceiver
from ._store import DedupStore

__all__ = ["asgi_webhook_app"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER = ORG_HEADER.lower().encode()


async def _respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def asgi_webhook_app(
    on_event: EventCallback,
    *,
    trusted_orgs: Collection[str],
    store: DedupStore | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> ASGIApp:
    """An ASGI callable with the same checks and answers as ``webhook_handler``."""
    receiver = WebhookReceiver(on_event, trusted_orgs=trusted_orgs, store=store, max_body=max_body)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope.get("method") != "POST":
            await _respond(send, 405, {"outcome": "method not allowed"})
            return
        org_id: str | None = None
        declared = b""
        for name, value in scope.get("headers", []):
            if name.lower() == _HEADER:
                org_id = value.decode("latin-1")
            elif name.lower() == b"content-length":
                declared = value
        if not receiver.org_is_trusted(org_id):
            await _respond(send, 403, {"outcome": "untrusted org"})
            return
        if declared.isdigit() and int(declared) > max_body:  # refuse before reading, as aiohttp
            await _respond(send, 413, {"outcome": "body too large"})
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body:
                await _respond(send, 413, {"outcome": "body too large"})
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        result = await receiver.receive(org_id, b"".join(chunks))
        await _respond(send, result.status, {"outcome": result.outcome})

    app.receiver = receiver  # type: ignore[attr-defined]
    return app
