"""Organization webhooks through watchers: subscribe a URL to every event of an organization.

Source: the official n8n node ``TallyfyTrigger.node.ts`` (api-v2 #9561/#9562; "rolling out",
needs an organization admin; a 403 means the caller is not one):

- subscribe: ``POST /organizations/{org}/users/{me}/add-watcher`` with ``{object_type:
  "organization", object_id: org, notification_type: "webhook", frequency: "electric",
  webhook: URL}`` → ``{"data": {"id": ...}}``; ``{me}`` is the caller's user id (``GET /me``);
- list: ``GET /organizations/{org}/watchers?notification=webhook``;
- unsubscribe: ``DELETE /organizations/{org}/remove-watcher/{id}``.

Events then arrive with an ``event`` field (``process.launched``, ``task.completed``, ...;
see ``aiotallyfy.webhooks``).

Repeat-safety: a second ``add-watcher`` for the same URL would double every delivery, so
``subscribe_webhook`` first looks for an existing subscription to the URL (as n8n's
``checkExists`` does) and, after a POST whose answer was lost, looks again before giving up;
the POST itself is sent once. ``unsubscribe`` is not re-sent (a repeat answers 404).
"""

from __future__ import annotations

from typing import Any, TypedDict
from urllib.parse import urlsplit

from .._errors import InvalidArgument, OutcomeUnknownError, TransportError
from .._ids import segment
from .._pagination import AsyncPager
from ._base import Resource, unwrap
from ._writes import org_path

__all__ = ["Watcher", "Watchers"]

_URL_KEYS = ("webhook", "webhook_url", "url")  # the keys n8n accepts for the URL


class Watcher(TypedDict, total=False):
    id: Any
    user_id: int
    object_type: str
    object_id: str
    notification_type: str
    frequency: str
    webhook: str
    created_at: str


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip()) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        message = "the webhook must be an absolute http(s) URL"
        raise InvalidArgument(message, errors={"webhook": [message]})
    return url.strip()


def _url_of(watcher: Any) -> str | None:
    if isinstance(watcher, dict):
        for key in _URL_KEYS:
            value = watcher.get(key)
            if isinstance(value, str):
                return value
    return None


class Watchers(Resource):
    __slots__ = ()

    def list_webhooks(self, org_id: str) -> AsyncPager[Watcher]:
        """The organization's webhook subscriptions (``GET .../watchers?notification=
        webhook``), every page if the server pages them."""
        return self._pager(
            f"{org_path(org_id)}/watchers",
            org_id=org_id,
            params={"notification": "webhook"},
            item_type=Watcher,
        )

    async def find_webhook(self, org_id: str, url: str) -> Watcher | None:
        """The subscription delivering to ``url``, if there is one."""
        async for watcher in self.list_webhooks(org_id):
            if _url_of(watcher) == url:
                return watcher
        return None

    async def subscribe_webhook(
        self, org_id: str, url: str, *, user_id: int | None = None, reuse_existing: bool = True
    ) -> Watcher:
        """Deliver every event of ``org_id`` to ``url`` (admin only). ``user_id`` is the
        caller's id (looked up with ``GET /me`` when not given). With ``reuse_existing``, an
        existing subscription to the same URL is returned instead of adding a second one."""
        url = _check_url(url)
        if reuse_existing:
            found = await self.find_webhook(org_id, url)
            if found is not None:
                return found
        if user_id is None:
            me = unwrap(await self._core.request("GET", "/me"), "GET", "/me")
            user_id = me.get("id") if isinstance(me, dict) else None
            if user_id is None:
                # An answer the client does not understand is an error, never a guess.
                raise TransportError(
                    "GET /me answered without the user's id", sent=True, method="GET", path="/me"
                )
        path = f"{org_path(org_id)}/users/{segment(user_id, name='user_id')}/add-watcher"
        body = {
            "object_type": "organization",
            "object_id": org_id,
            "notification_type": "webhook",
            "frequency": "electric",
            "webhook": url,
        }
        try:
            result = await self._write_item(
                "POST", path, org_id=org_id, json=body, item_type=Watcher
            )
        except OutcomeUnknownError:
            found = await self.find_webhook(org_id, url)
            if found is None:
                raise
            return found
        return result

    async def unsubscribe(self, org_id: str, watcher_id: str | int) -> None:
        """Stop a subscription (``DELETE .../remove-watcher/{id}``). Not re-sent."""
        path = f"{org_path(org_id)}/remove-watcher/{segment(watcher_id, name='watcher_id')}"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)
