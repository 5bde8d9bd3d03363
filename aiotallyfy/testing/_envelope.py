"""Tallyfy's response shapes, as the fake serves them: the Fractal list envelope, Laravel's
error and validation bodies, and :class:`FakeHTTPError` for handlers to answer with them.

Sources: the API digest (``/work/shared/reference/tallyfy-api.md``): Fractal pagination
(``meta.pagination`` with ``total``, ``count``, ``per_page``, ``current_page``,
``total_pages``, ``links``), ``per_page`` capped at 100, Laravel's 422 ``errors`` object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from ._router import RouteContext

__all__ = [
    "DEFAULT_PER_PAGE",
    "ENDPOINT_NOT_FOUND",
    "FORBIDDEN_ORG",
    "HTML_503",
    "JSON_TYPE",
    "MAX_PER_PAGE",
    "RESOURCE_NOT_FOUND",
    "SERVER_ERROR",
    "TOO_MANY",
    "UNAUTHENTICATED",
    "FakeHTTPError",
    "bool_param",
    "error_body",
    "found",
    "int_param",
    "json_response",
    "not_found",
    "paginated_response",
    "pagination_meta",
    "validation_error",
]

MAX_PER_PAGE: Final = 100
DEFAULT_PER_PAGE: Final = 10
JSON_TYPE: Final = "application/json"

UNAUTHENTICATED: Final = {"error": True, "message": "Unauthenticated."}
ENDPOINT_NOT_FOUND: Final = {
    "error": True,
    "message": "API endpoint not found",
    "code": "ENDPOINT_NOT_FOUND",
}
RESOURCE_NOT_FOUND: Final = {
    "error": True,
    "message": "Resource not found",
    "code": "RESOURCE_NOT_FOUND",
}
FORBIDDEN_ORG: Final = {
    "error": True,
    "message": "You don't have permission to access this organization.",
}
TOO_MANY: Final = {"message": "Too Many Attempts.", "code": "RATE_LIMIT_EXCEEDED"}
SERVER_ERROR: Final = {"error": True, "message": "Server Error"}
HTML_503: Final = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Temporarily Unavailable</title></head>\n"
    b"<body><center><h1>503 Service Temporarily Unavailable</h1></center>\n"
    b"<hr><center>nginx</center></body></html>\n"
)


class FakeHTTPError(Exception):
    """Raise from a route handler to answer with ``status`` and a JSON ``body``."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def error_body(message: str, *, code: str | None = None, **extra: Any) -> dict[str, Any]:
    """``{"error": true, "message": ..., ["code": ...]}`` plus ``extra`` keys."""
    body: dict[str, Any] = {"error": True, "message": message}
    if code is not None:
        body["code"] = code
    body.update(extra)
    return body


def not_found() -> FakeHTTPError:
    """404 ``RESOURCE_NOT_FOUND``."""
    return FakeHTTPError(404, RESOURCE_NOT_FOUND)


_T = TypeVar("_T")


def found(value: _T | None) -> _T:
    """``value``, or the 404 ``not_found()`` when a route's lookup by path segment found
    nothing (``None``; an index ``0`` is found)."""
    if value is None:
        raise not_found()
    return value


def validation_error(field: str, message: str) -> FakeHTTPError:
    """422 with Laravel's validation body for one field."""
    return FakeHTTPError(422, {"error": True, "message": message, "errors": {field: [message]}})


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An ``application/json`` response serialized with orjson (bytes are sent as-is)."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return web.Response(body=body, status=status, content_type=JSON_TYPE, headers=headers)


def int_param(ctx: RouteContext, name: str, default: int, minimum: int) -> int:
    raw = ctx.query.get(name)
    if raw is None or raw == "":
        return default
    label = name.replace("_", " ")
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(name, f"The {label} must be an integer.") from None
    if value < minimum:
        raise validation_error(name, f"The {label} must be at least {minimum}.")
    return value


def bool_param(ctx: RouteContext, name: str) -> bool | None:
    """A Laravel ``boolean`` query parameter: ``true``/``1``/``false``/``0`` or absent; 422
    otherwise."""
    raw = ctx.query.get(name)
    if raw is None or raw == "":
        return None
    low = raw.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise validation_error(name, f"The {name.replace('_', ' ')} field must be true or false.")


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes")


def paginated_response(
    ctx: RouteContext,
    total: int,
    fetch: Callable[[int, int], Sequence[Any]],
    *,
    default_per_page: int = DEFAULT_PER_PAGE,
    extra_meta: Mapping[str, Any] | None = None,
    allow_without_pagination: bool = False,
) -> web.Response:
    """The Fractal list envelope.

    ``fetch(start, stop)`` returns the items ``[start:stop]``: JSON-able objects, or all
    ``bytes`` (pre-serialized JSON items).  ``page`` / ``per_page`` are validated (422 when
    not integers or < 1), ``per_page`` is clamped to 100,
    ``total_pages = max(1, ceil(total / per_page))``, and a page past the end gives empty
    ``data`` with correct meta.  ``links`` is ``[]`` when there is neither a previous nor a
    next page, otherwise an object with ``previous`` (``current_page > 1``) and/or ``next``
    (``current_page < total_pages``); the URLs keep the other query parameters.  With
    ``allow_without_pagination`` and ``without_pagination=true`` everything is returned as
    one page (``per_page = max(1, total)``).
    """
    if allow_without_pagination and _truthy(ctx.query.get("without_pagination")):
        page, per_page = 1, max(1, total)
    else:
        page = int_param(ctx, "page", 1, 1)
        per_page = min(int_param(ctx, "per_page", default_per_page, 1), ctx.fake.max_per_page)
    start = (page - 1) * per_page
    items = fetch(start, min(start + per_page, total)) if start < total else []
    meta: dict[str, Any] = {
        "pagination": pagination_meta(
            ctx, total=total, count=len(items), page=page, per_page=per_page
        )
    }
    if extra_meta:
        meta.update(extra_meta)
    if items and all(isinstance(i, bytes) for i in items):
        body = b'{"data":[' + b",".join(items) + b'],"meta":' + orjson.dumps(meta) + b"}"
    else:
        body = orjson.dumps({"data": list(items), "meta": meta})
    return json_response(body)


def pagination_meta(
    ctx: RouteContext, *, total: int, count: int, page: int, per_page: int
) -> dict[str, Any]:
    """Fractal's ``meta.pagination`` for page ``page`` of ``total`` items (``count`` of them
    on this page): ``total_pages = max(1, ceil(total / per_page))``; ``links`` is ``[]``
    when there is neither a previous nor a next page, else an object with ``previous``
    and/or ``next`` URLs that keep the other query parameters. Shared by ``list_response``
    and the search route, which pages each result type on its own."""
    total_pages = max(1, math.ceil(total / per_page))
    links: dict[str, str] = {}
    if page > 1:
        links["previous"] = ctx.page_url(page - 1)
    if page < total_pages:
        links["next"] = ctx.page_url(page + 1)
    return {
        "total": total,
        "count": count,
        "per_page": per_page,
        "current_page": page,
        "total_pages": total_pages,
        "links": links or [],
    }
