"""A plain ASGI app (no framework, no extra dependency) using the ASGI lifespan protocol.

``lifespan.startup`` creates one TallyfyClient in the server's event loop and
``lifespan.shutdown`` closes it; every request shares it. ``POST /hooks/<secret>`` receives
Tallyfy webhooks (``aiotallyfy.webhooks.asgi_webhook_app``); ``GET /me`` shows the token's
user. Serve it with any ASGI server, e.g. ``uvicorn examples.asgi_app:app`` (with
``TALLYFY_API_TOKEN`` and ``TALLYFY_ORG_ID`` set), or mount the pieces in your framework.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from aiotallyfy import TallyfyClient
from aiotallyfy.webhooks import WebhookEvent, asgi_webhook_app

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class TallyfyASGI:
    def __init__(
        self,
        *,
        token: str,
        org_id: str,
        base_url: str = "https://go.tallyfy.com/api",
        webhook_secret: str = "change-me",
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self._token = token
        self._base_url = base_url
        self._options = client_options or {}
        self.client: TallyfyClient | None = None
        self.events: list[WebhookEvent] = []
        self._hook_path = f"/hooks/{webhook_secret}"
        self._hooks = asgi_webhook_app(self._on_event, trusted_orgs={org_id})

    async def _on_event(self, event: WebhookEvent) -> None:
        self.events.append(event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            if scope["path"] == self._hook_path:
                await self._hooks(scope, receive, send)
            elif scope["path"] == "/me" and scope["method"] == "GET":
                assert self.client is not None, "lifespan startup did not run"
                me = await self.client.me()
                await _json(send, 200, {"id": me["id"], "email": me["email"]})
            else:
                await _json(send, 404, {"error": "not found"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = TallyfyClient(self._token, base_url=self._base_url, **self._options)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _json(send: Send, status: int, payload: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(payload)})


def build_from_env() -> TallyfyASGI:
    return TallyfyASGI(token=os.environ["TALLYFY_API_TOKEN"], org_id=os.environ["TALLYFY_ORG_ID"])


if os.environ.get("TALLYFY_API_TOKEN") and os.environ.get("TALLYFY_ORG_ID"):
    app = build_from_env()
