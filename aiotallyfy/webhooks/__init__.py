"""Receive Tallyfy webhooks: typed events, sender check, de-duplication, ready handlers.

::

    from aiohttp import web
    from aiotallyfy.webhooks import webhook_handler, TaskCompletedEvent

    async def on_event(event):
        if isinstance(event, TaskCompletedEvent):
            print(event.task_id, event.task.get("title"))

    app = web.Application()
    app.router.add_post(
        "/hooks/tallyfy-3f9c2a",  # keep the path unguessable
        webhook_handler(on_event, trusted_orgs={"<your org id>"}),
    )

**Tallyfy signs nothing**: no HMAC, no secret. The only sender information is the
``X-Tallyfy-orgID`` header; the handler rejects (403) any org you did not list, but that is a
filter, not authentication. Deliveries are attempted once and never retried, and the same
event can arrive more than once, so each distinct event is passed to your callback once
(``dedup_key``, ``DedupStore``).
"""

from ._aiohttp import webhook_handler
from ._asgi import asgi_webhook_app
from ._events import (
    OrganizationEvent,
    ProcessEvent,
    TaskCompletedEvent,
    WebhookEvent,
    WebhookPayloadError,
    WebhookPerson,
    WebhookTask,
    parse_webhook,
)
from ._receiver import ORG_HEADER, WebhookReceiver, WebhookResult
from ._store import DedupStore, MemoryDedupStore

__all__ = [
    "ORG_HEADER",
    "DedupStore",
    "MemoryDedupStore",
    "OrganizationEvent",
    "ProcessEvent",
    "TaskCompletedEvent",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookPerson",
    "WebhookReceiver",
    "WebhookResult",
    "WebhookTask",
    "asgi_webhook_app",
    "parse_webhook",
    "webhook_handler",
]
