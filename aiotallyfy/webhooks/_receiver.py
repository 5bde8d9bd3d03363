"""The receiving side, framework-neutral: check the sender, parse, de-duplicate, dispatch.

**Tallyfy signs nothing.** The only sender information is the ``X-Tallyfy-orgID`` header,
which anyone who knows your URL and an org id can set. Checking it against the orgs you
trust filters misdirected and casual traffic; it is not authentication. Use an unguessable
URL (a random path segment), HTTPS, and treat payloads as claims: read the process or task
back through the API before acting on anything that matters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from ._events import WebhookEvent, WebhookPayloadError, parse_webhook
from ._store import DedupStore, MemoryDedupStore

__all__ = ["ORG_HEADER", "WebhookReceiver", "WebhookResult"]

ORG_HEADER = "X-Tallyfy-orgID"
DEFAULT_MAX_BODY = 1024 * 1024

logger = logging.getLogger("aiotallyfy.webhooks")

EventCallback = Callable[[WebhookEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What to answer: ``status`` and a short machine-readable ``outcome``."""

    status: int
    outcome: str
    event: WebhookEvent | None = None


class _InFlight:
    """One event whose callback is running in this process; copies that arrive meanwhile
    wait on it (``succeeded`` is read once ``done`` is set)."""

    __slots__ = ("done", "succeeded")

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.succeeded = False

    def finish(self, succeeded: bool) -> None:
        self.succeeded = succeeded
        self.done.set()


class WebhookReceiver:
    """Shared logic of the aiohttp handler and the ASGI app.

    Answers: 200 ``processed``; 200 ``duplicate`` (already processed, callback not run); 403
    ``untrusted org`` (missing or unknown ``X-Tallyfy-orgID``); 413 body too large; 400 not a
    webhook payload; 500 ``callback failed`` (the claim is released, so a re-delivery of the
    same event would be processed).

    A copy that arrives while the same event's callback is still running in this receiver is
    not answered at once: it waits for that outcome. If the first copy succeeds, it is
    answered ``duplicate``; if it fails, the waiting copy runs the callback itself. Tallyfy
    never retries, so a copy acknowledged as "duplicate" of a copy that then failed would be
    an event lost. (With a ``DedupStore`` shared by several processes, a copy whose first copy
    is running in *another* process is answered ``duplicate`` from the store's claim alone.)
    """

    def __init__(
        self,
        on_event: EventCallback,
        *,
        trusted_orgs: Collection[str],
        store: DedupStore | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        orgs = frozenset(str(o) for o in trusted_orgs)
        if not orgs:
            raise ValueError("trusted_orgs must name at least one organization id")
        self.on_event = on_event
        self.trusted_orgs = orgs
        self.store: DedupStore = store if store is not None else MemoryDedupStore()
        self.max_body = max_body
        self._in_flight: dict[str, _InFlight] = {}

    def org_is_trusted(self, org_id: str | None) -> bool:
        return org_id is not None and org_id.strip() in self.trusted_orgs

    async def receive(self, org_id: str | None, body: bytes) -> WebhookResult:
        if not self.org_is_trusted(org_id):
            logger.warning("webhook rejected: untrusted %s", ORG_HEADER)
            return WebhookResult(403, "untrusted org")
        assert org_id is not None
        if len(body) > self.max_body:
            return WebhookResult(413, "body too large")
        try:
            event = parse_webhook(body, org_id.strip())
        except WebhookPayloadError as exc:
            return WebhookResult(400, str(exc))
        key = event.dedup_key
        while (running := self._in_flight.get(key)) is not None:
            await running.done.wait()
            if running.succeeded:
                return WebhookResult(200, "duplicate", event)
            # The first copy failed and released its claim: this copy is the event's chance.
        mine = self._in_flight[key] = _InFlight()  # before any await: later copies wait on it
        succeeded = False
        try:
            if not await self.store.claim(key):
                succeeded = True  # processed earlier, or by another process sharing the store
                return WebhookResult(200, "duplicate", event)
            try:
                await self.on_event(event)
            except BaseException as exc:
                await self.store.release(key)
                if not isinstance(exc, Exception):
                    raise  # cancelled (client gone, shutdown): not processed, claim released
                logger.exception("webhook callback failed for %s", event.kind)
                return WebhookResult(500, "callback failed", event)
            succeeded = True
            return WebhookResult(200, "processed", event)
        finally:
            del self._in_flight[key]
            mine.finish(succeeded)
