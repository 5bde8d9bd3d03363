"""Fake routes: the health check and custom field keys.

- ``GET /health`` (SUP ``tallyfy/api-support`` README: ``GET https://api.tallyfy.com/health``),
  served without bearer auth, rate limit or faults (``FakeTallyfy.public_paths``). The body
  is not documented; the fake answers ``{"status": "ok"}``. Set ``fake_health(fake).status``
  to answer something else (e.g. 503 during an outage).
- ``GET /organizations/{org}/custom-field-keys`` (docs ``open-api/custom-fields``): the Fractal
  envelope, filtered by ``applies_to``, ``key_type``, ``field_type``, ``is_required``,
  ``is_active`` and ``q`` (on ``key``). Keys are seeded per org (:func:`custom_field_keys_of`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._envelope import bool_param, json_response
from ._fake_common import list_response
from ._router import RouteContext, Router

if TYPE_CHECKING:
    from ._server import FakeTallyfy

__all__ = ["FakeHealth", "custom_field_keys_of", "fake_health", "register_misc_routes"]


@dataclass
class FakeHealth:
    status: int = 200
    body: Any = None


_HEALTH: weakref.WeakKeyDictionary[FakeTallyfy, FakeHealth] = weakref.WeakKeyDictionary()


def fake_health(fake: FakeTallyfy) -> FakeHealth:
    """What ``GET /health`` answers on ``fake`` (200 ``{"status": "ok"}`` by default)."""
    return _HEALTH.setdefault(fake, FakeHealth())


async def _health(ctx: RouteContext) -> web.StreamResponse:
    state = fake_health(ctx.fake)
    body = state.body if state.body is not None else {"status": "ok"}
    return json_response(body, state.status)


_SEED = (
    ("cost_center", "process", "text", False),
    ("priority", "task", "dropdown", False),
    ("region", "guest", "text", True),
    ("risk_rating", "template", "number", False),
)


def custom_field_keys_of(fake: FakeTallyfy, org_id: str) -> list[dict[str, Any]]:
    """The custom field keys of ``org_id`` (seeded on first use; append to add more)."""
    st = fake.data.org_state(org_id)
    if st is None:
        raise KeyError(org_id)
    keys: list[dict[str, Any]] | None = st.extra.get("custom_field_keys")
    if keys is None:
        keys = st.extra["custom_field_keys"] = [
            {
                "id": n + 1,
                "key": key,
                "applies_to": applies_to,
                "field_type": field_type,
                "key_type": "org",
                "is_required": required,
                "is_active": True,
            }
            for n, (key, applies_to, field_type, required) in enumerate(_SEED)
        ]
    return keys


async def _custom_field_keys(ctx: RouteContext) -> web.StreamResponse:
    rows = custom_field_keys_of(ctx.fake, ctx.org_state.id)
    for name in ("applies_to", "key_type", "field_type"):
        wanted = ctx.query.get(name)
        if wanted:
            rows = [r for r in rows if r[name] == wanted]
    for name in ("is_required", "is_active"):
        flag = bool_param(ctx, name)
        if flag is not None:
            rows = [r for r in rows if r[name] is flag]
    return list_response(ctx, rows, q_fields=("key",))


def register_misc_routes(router: Router) -> None:
    router.get("/health", _health)
    router.get("/organizations/{org}/custom-field-keys", _custom_field_keys)
