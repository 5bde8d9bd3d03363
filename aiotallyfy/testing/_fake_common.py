"""Helpers shared by the fake's resource-area route modules."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from ._envelope import FakeHTTPError, json_response, paginated_response
from ._fake_store import Area, area
from ._router import RouteContext

__all__ = [
    "EMAIL",
    "area_for",
    "created",
    "item",
    "list_response",
    "no_content",
    "require_fields",
    "require_prerun",
    "validation_errors",
]

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def area_for(ctx: RouteContext) -> Area:
    return area(ctx.data, ctx.org_state)


def item(payload: Any, status: int = 200) -> web.Response:
    return json_response({"data": payload}, status)


def created(payload: Any) -> web.Response:
    """201 ``{"data": ...}``: Tallyfy's answer to a create or a launch."""
    return json_response({"data": payload}, 201)


def no_content() -> web.Response:
    """204 with an empty body (some DELETEs)."""
    return web.Response(status=204)


def validation_errors(errors: Mapping[str, str]) -> FakeHTTPError:
    """422 with Laravel's body for several fields at once."""
    first = next(iter(errors.values()))
    return FakeHTTPError(
        422,
        {"error": True, "message": first, "errors": {k: [v] for k, v in errors.items()}},
    )


def require_fields(body: Mapping[str, Any], *names: str) -> None:
    missing = {
        n: f"The {n.replace('_', ' ')} field is required."
        for n in names
        if body.get(n) in (None, "", [], {})
    }
    if missing:
        raise validation_errors(missing)


def require_prerun(fields: Sequence[Mapping[str, Any]], values: Mapping[str, Any]) -> None:
    """422 ``prerun.{id}``: "<label> is required" for each required kick-off field without a
    value: the one rule for a launch's ``prerun`` and for completing a run's kick-off form."""
    missing = {
        f"prerun.{f['id']}": f"{f['label']} is required"
        for f in fields
        if f["required"] and values.get(f["id"]) in (None, "", [], {})
    }
    if missing:
        raise validation_errors(missing)


def list_response(
    ctx: RouteContext,
    items: Sequence[Any],
    *,
    default_per_page: int = 10,
    allow_without_pagination: bool = False,
    q_fields: Sequence[str] = (),
    key: Callable[[Any], Any] | None = None,
) -> web.Response:
    """Filter by ``q`` (case-insensitive substring of ``q_fields``) and page ``items``."""
    rows = list(items)
    q = (ctx.query.get("q") or "").strip().lower()
    if q and q_fields:
        rows = [r for r in rows if any(q in str(r.get(f) or "").lower() for f in q_fields)]
    if key is not None:
        rows.sort(key=key)
    return paginated_response(
        ctx,
        len(rows),
        lambda a, b: rows[a:b],
        default_per_page=default_per_page,
        allow_without_pagination=allow_without_pagination,
    )
