"""Fake routes: organization webhook subscriptions (watchers).

Source: the official n8n node ``TallyfyTrigger.node.ts`` (api-v2 #9561/#9562):

- ``POST /organizations/{org}/users/{user}/add-watcher`` ``{object_type: "organization",
  object_id, notification_type: "webhook", frequency: "electric", webhook}`` →
  ``{"data": {"id": ...}}`` (201 here; the status is not documented). "User-scoped": ``{user}``
  must be the caller (403 otherwise); an organization admin only (403 "require a Tallyfy
  organization admin"). Missing or invalid fields: 422.
- ``GET /organizations/{org}/watchers?notification=webhook``: the subscriptions, Fractal
  envelope (n8n reads ``data``); admins only.
- ``DELETE /organizations/{org}/remove-watcher/{id}`` → 204; 404 when unknown.

Subscriptions are kept per org in ``OrgState.extra["watchers"]`` (:func:`watchers_of`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from ._envelope import FakeHTTPError, not_found
from ._fake_common import area_for, created, list_response, no_content, validation_errors
from ._fake_data import hex32
from ._fake_members import require_admin
from ._router import RouteContext, Router

if TYPE_CHECKING:
    from ._server import FakeTallyfy

__all__ = ["register_watcher_routes", "watchers_of"]

OBJECT_TYPES = frozenset({"organization"})
NOTIFICATION_TYPES = frozenset({"webhook"})
FREQUENCIES = frozenset({"electric"})


def watchers_of(fake: FakeTallyfy, org_id: str) -> dict[str, dict[str, Any]]:
    """The webhook subscriptions of ``org_id`` (id → watcher), for assertions."""
    st = fake.data.org_state(org_id)
    if st is None:
        raise KeyError(org_id)
    found: dict[str, dict[str, Any]] = st.extra.setdefault("watchers", {})
    return found


async def _add(ctx: RouteContext) -> web.StreamResponse:
    who = require_admin(ctx)
    if ctx.params["user"] != str(who["id"]):
        raise FakeHTTPError(403, {"error": True, "message": "You can only add your own watchers."})
    body = ctx.json_object()
    errors: dict[str, str] = {}
    if body.get("object_type") not in OBJECT_TYPES:
        errors["object_type"] = "The selected object type is invalid."
    if body.get("object_id") != ctx.org_state.id:
        errors["object_id"] = "The selected object id is invalid."
    if body.get("notification_type") not in NOTIFICATION_TYPES:
        errors["notification_type"] = "The selected notification type is invalid."
    if body.get("frequency") not in FREQUENCIES:
        errors["frequency"] = "The selected frequency is invalid."
    url = body.get("webhook")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        errors["webhook"] = "The webhook must be a valid URL."
    if errors:
        raise validation_errors(errors)
    watcher = {
        "id": hex32(area_for(ctx).rng),
        "user_id": who["id"],
        "object_type": body["object_type"],
        "object_id": body["object_id"],
        "notification_type": body["notification_type"],
        "frequency": body["frequency"],
        "webhook": url,
        "created_at": ctx.now_iso(),
    }
    watchers_of(ctx.fake, ctx.org_state.id)[watcher["id"]] = watcher
    return created(watcher)


async def _list(ctx: RouteContext) -> web.StreamResponse:
    require_admin(ctx)
    kind = ctx.query.get("notification")
    rows = [
        w
        for w in watchers_of(ctx.fake, ctx.org_state.id).values()
        if kind is None or w["notification_type"] == kind
    ]
    return list_response(ctx, rows)


async def _remove(ctx: RouteContext) -> web.StreamResponse:
    require_admin(ctx)
    watchers = watchers_of(ctx.fake, ctx.org_state.id)
    if watchers.pop(ctx.params["watcher"], None) is None:
        raise not_found()
    return no_content()


def register_watcher_routes(router: Router) -> None:
    org = "/organizations/{org}"
    router.post(f"{org}/users/{{user}}/add-watcher", _add)
    router.get(f"{org}/watchers", _list)
    router.delete(f"{org}/remove-watcher/{{watcher}}", _remove)
