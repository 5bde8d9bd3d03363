"""A ready ``aiohttp.web`` handler for Tallyfy webhooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from aiohttp import web

from ._receiver import DEFAULT_MAX_BODY, ORG_HEADER, EventCallback, WebhookReceiver
from ._store import DedupStore

__all__ = ["webhook_handler"]


def webhook_handler(
    on_event: EventCallback,
    *,
    trusted_orgs: Collection[str],
    store: DedupStore | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler: ``app.router.add_post("/hooks/<random>", webhook_handler(...))``.

    ``on_event(event)`` runs once per distinct event (see ``WebhookReceiver`` for the status
    codes). Tallyfy waits for the answer and never retries, so keep ``on_event`` short: hand
    slow work to a queue.
    """
    receiver = WebhookReceiver(on_event, trusted_orgs=trusted_orgs, store=store, max_body=max_body)

    async def handle(request: web.Request) -> web.Response:
        org_id = request.headers.get(ORG_HEADER)
        if not receiver.org_is_trusted(org_id):
            return web.json_response({"outcome": "untrusted org"}, status=403)
        if request.content_length is not None and request.content_length > max_body:
            return web.json_response({"outcome": "body too large"}, status=413)
        body = await _read_body(request, max_body)
        if body is None:
            return web.json_response({"outcome": "body too large"}, status=413)
        result = await receiver.receive(org_id, body)
        return web.json_response({"outcome": result.outcome}, status=result.status)

    handle.receiver = receiver  # type: ignore[attr-defined]
    return handle


async def _read_body(request: web.Request, max_body: int) -> bytes | None:
    """The whole body, or ``None`` once it exceeds ``max_body`` (chunked bodies have no
    Content-Length to check first).

    One ``content.read(n)`` is not enough: it returns what is buffered so far, so a body
    arriving in several TCP segments was cut short and answered 400 (review H1). A body cut
    short by the peer raises aiohttp's payload error here and is never acknowledged.
    """
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > max_body:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
