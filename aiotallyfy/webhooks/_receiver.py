"""The receiving side, framework-neutral: check the sender, parse, de-duplicate, dispatch.

**Tallyfy signs nothing.** The only sender information is the ``X-Tallyfy-orgID`` header,
which anyone who knows your URL and an org id can set. Checking it against the orgs you
trust filters misdirected and casual traffic; it is not authentication. Use an unguessable
URL (a random path segment), HTTPS, and treat payloads as claims: read the process or task
back through the API before acting on anything that matters.
"""

from __future__ import annotations

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


class WebhookReceiver:
    """Shared logic of the aiohttp handler and the ASGI app.

    Answers: 200 ``processed``; 200 ``duplicate`` (already seen, callback not run); 403
    ``untrusted org`` (missing or unknown ``X-Tallyfy-orgID``); 413 body too large; 400 not a
    webhook payload; 500 ``callback failed`` (the claim is released, so a re-delivery of the
    same event would be processed).
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
        if not await self.store.claim(key):
            return WebhookResult(200, "duplicate", event)
        try:
            await self.on_event(event)
        except Exception:
            await self.store.release(key)
            logger.exception("webhook callback failed for %s", event.kind)
            return WebhookResult(500, "callback failed", event)
        return WebhookResult(200, "processed", event)
