"""A faithful fake Tallyfy API server on real loopback sockets (``aiohttp.web``).

Usage::

    async with FakeTallyfy(orgs=2, tasks_per_org=40) as fake:
        headers = {
            "Authorization": f"Bearer {fake.token}",
            "X-Tallyfy-Client": "APIClient",
            "Accept": "application/json",
        }
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{fake.base_url}/me", headers=headers) as r:
                ...

It also works from a plain script: ``fake = FakeTallyfy(); await fake.start()`` then
``await fake.close()``.

Behaviour (see the project's API digest for the sources):

* every route is served under both roots: ``/api/...`` (:attr:`FakeTallyfy.base_url`, the
  ``go.tallyfy.com/api`` style) and ``/...`` (:attr:`FakeTallyfy.root_url`, the
  ``api.tallyfy.com`` style); trailing slashes are ignored;
* auth: ``Authorization: Bearer <token>`` (exactly), ``X-Tallyfy-Client: APIClient`` and an
  ``Accept`` header that admits JSON (``application/json``, ``application/*``, ``*/*`` or a
  ``+json`` type) are required; otherwise 401 ``{"error": true, "message": "Unauthenticated."}``;
* responses are ``application/json`` and carry a unique ``X-Request-Id``;
* unknown path: 404 ``ENDPOINT_NOT_FOUND``; known path with another method: 405 (Laravel's
  message, ``Allow`` header); an org id the user does not belong to: 404
  ``RESOURCE_NOT_FOUND``; a forbidden org: 403;
* invalid JSON bodies: 400 ``{"message": "..."}``; validation errors: 422
  ``{"error": true, "message": "...", "errors": {"field": ["..."]}}``;
* pagination follows the Fractal envelope exactly (see :func:`paginated_response`);
* timing only uses the running loop's clock and :func:`asyncio.sleep` (virtual-time friendly);
  only ``X-RateLimit-Reset`` (an epoch timestamp) reads the wall clock.

Order of processing for each request: record it, check auth (401), apply the rate limiter
(429, not counted), decide the fault (faults only hit authenticated, admitted requests),
route and handle, sleep ``latency`` + jitter, respond.

New resource areas register routes with :func:`register_routes` (module level, applies to
fakes created afterwards) or ``fake.router.add(...)`` (one fake, effective immediately).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, Self
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping

from ._fake_data import ME_TASK_STATUSES, ORG_TASK_STATUSES, FakeData, OrgState, iso
from ._faults import FaultDecision, FaultPlan

__all__ = [
    "MAX_PER_PAGE",
    "ROUTE_REGISTRARS",
    "FakeHTTPError",
    "FakeTallyfy",
    "RecordedRequest",
    "Route",
    "RouteContext",
    "Router",
    "error_body",
    "json_response",
    "not_found",
    "paginated_response",
    "register_routes",
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

_ORG_PATH = re.compile(r"^/organizations/([^/]+)")


# ---------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request seen by the fake.

    ``path`` is normalized (decoded, no ``/api`` prefix, no trailing slash, no query);
    ``raw_path`` is the path exactly as sent (still percent-encoded, with any ``/api``).
    ``headers`` is a read-only case-insensitive mapping.  ``status`` is ``None`` when the
    connection was dropped (or the client went away) before a response was sent.
    ``time`` is the event-loop time at arrival.  ``root`` is ``"api"`` or ``"root"``.
    """

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    status: int | None
    fault: str | None
    time: float
    root: Literal["api", "root"]
    request_id: str = ""

    def json(self) -> Any:
        """The request body parsed as JSON."""
        return orjson.loads(self.body)


# ---------------------------------------------------------------------------- errors / helpers
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


def validation_error(field: str, message: str) -> FakeHTTPError:
    """422 with Laravel's validation body for one field."""
    return FakeHTTPError(422, {"error": True, "message": message, "errors": {field: [message]}})


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An ``application/json`` response serialized with orjson (bytes are sent as-is)."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return web.Response(body=body, status=status, content_type=JSON_TYPE, headers=headers)


def _int_param(ctx: RouteContext, name: str, default: int, minimum: int) -> int:
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
        page = _int_param(ctx, "page", 1, 1)
        per_page = min(_int_param(ctx, "per_page", default_per_page, 1), ctx.fake.max_per_page)
    total_pages = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    items = fetch(start, min(start + per_page, total)) if start < total else []
    links: dict[str, str] | list[Any]
    link_obj: dict[str, str] = {}
    if page > 1:
        link_obj["previous"] = ctx.page_url(page - 1)
    if page < total_pages:
        link_obj["next"] = ctx.page_url(page + 1)
    links = link_obj if link_obj else []
    meta: dict[str, Any] = {
        "pagination": {
            "total": total,
            "count": len(items),
            "per_page": per_page,
            "current_page": page,
            "total_pages": total_pages,
            "links": links,
        }
    }
    if extra_meta:
        meta.update(extra_meta)
    if items and all(isinstance(i, bytes) for i in items):
        body = b'{"data":[' + b",".join(items) + b'],"meta":' + orjson.dumps(meta) + b"}"
    else:
        body = orjson.dumps({"data": list(items), "meta": meta})
    return json_response(body)


# ---------------------------------------------------------------------------- routing
RouteHandler = Callable[["RouteContext"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: RouteHandler
    org_scoped: bool
    raw_body: bool = False
    """The handler reads the request body itself, as a stream (``ctx.request``; a file
    upload): the dispatcher does not read it first and the record's ``body`` stays empty."""


_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Router:
    """Method + path-pattern route table (``/organizations/{org}/tasks/{task}``).

    A pattern with an ``{org}`` parameter is org-scoped: the dispatcher answers 404/403 for
    unknown/forbidden orgs before the handler runs and sets :attr:`RouteContext.org`.
    """

    def __init__(self) -> None:
        self._by_head: dict[str, list[Route]] = {}
        self.streams_bodies = False
        """Whether any route reads its own body (``raw_body``); the dispatcher only looks a
        route up before reading the body when one does."""

    @staticmethod
    def _head(path: str) -> str:
        return path.split("/", 2)[1] if path.startswith("/") and len(path) > 1 else ""

    def add(
        self, method: str, pattern: str, handler: RouteHandler, *, raw_body: bool = False
    ) -> Route:
        if not pattern.startswith("/"):
            raise ValueError("pattern must start with '/'")
        regex_src = ""
        pos = 0
        for m in _PARAM.finditer(pattern):
            regex_src += re.escape(pattern[pos : m.start()]) + f"(?P<{m.group(1)}>[^/]+)"
            pos = m.end()
        regex_src += re.escape(pattern[pos:])
        head = self._head(pattern)
        if "{" in head:
            head = "*"
        route = Route(
            method.upper(),
            pattern,
            re.compile(f"^{regex_src}$"),
            handler,
            "{org}" in pattern,
            raw_body,
        )
        self._by_head.setdefault(head, []).append(route)
        self.streams_bodies = self.streams_bodies or raw_body
        return route

    def get(self, pattern: str, handler: RouteHandler) -> Route:
        return self.add("GET", pattern, handler)

    def post(self, pattern: str, handler: RouteHandler) -> Route:
        return self.add("POST", pattern, handler)

    def put(self, pattern: str, handler: RouteHandler) -> Route:
        return self.add("PUT", pattern, handler)

    def delete(self, pattern: str, handler: RouteHandler) -> Route:
        return self.add("DELETE", pattern, handler)

    @property
    def routes(self) -> list[Route]:
        return [r for lst in self._by_head.values() for r in lst]

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """``(route, params, allowed_methods)``; route is None when nothing matches the method."""
        allowed: list[str] = []
        for candidates in (self._by_head.get(self._head(path), ()), self._by_head.get("*", ())):
            for route in candidates:
                m = route.regex.match(path)
                if m is None:
                    continue
                if route.method == method:
                    return route, m.groupdict(), []
                allowed.append(route.method)
        return None, {}, allowed


ROUTE_REGISTRARS: list[Callable[[Router], None]] = []
"""Functions that add routes to every new fake's router (see :func:`register_routes`)."""


def register_routes(registrar: Callable[[Router], None]) -> Callable[[Router], None]:
    """Register a route-table function for all fakes created afterwards (usable as decorator)."""
    if registrar not in ROUTE_REGISTRARS:
        ROUTE_REGISTRARS.append(registrar)
    return registrar


@dataclass(slots=True)
class RouteContext:
    """What a route handler gets."""

    fake: FakeTallyfy
    request: web.Request
    method: str
    path: str
    root: Literal["api", "root"]
    params: dict[str, str]
    body: bytes
    org: OrgState | None = None

    @property
    def data(self) -> FakeData:
        return self.fake.data

    @property
    def query(self) -> MultiMapping[str]:
        return self.request.query

    @property
    def org_state(self) -> OrgState:
        """The (accessible) org of an org-scoped route."""
        if self.org is None:
            raise RuntimeError("not an org-scoped route")
        return self.org

    def json_body(self) -> Any:
        """The parsed body (``{}`` when empty); 400 ``{"message": ...}`` when not JSON.

        A form-encoded body (``application/x-www-form-urlencoded``) is read as an object of
        strings: Laravel merges form input and JSON alike, and the official SDK posts some
        writes as forms (``duplicate_template``: ``{tenant, title}``; the OAuth grants)."""
        if not self.body.strip():
            return {}
        kind = self.request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":
            return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise FakeHTTPError(400, {"message": "The request body is not valid JSON."}) from None

    def json_object(self) -> dict[str, Any]:
        """Like :meth:`json_body`; a non-object body counts as empty (Laravel merges input)."""
        body = self.json_body()
        return body if isinstance(body, dict) else {}

    def now_iso(self) -> str:
        """Current fake wall time (reference time + loop time since start), ISO Zulu."""
        return self.fake.now_iso()

    def page_url(self, page: int) -> str:
        """This request's full URL with ``page`` replaced (other params kept, in order)."""
        pairs: list[tuple[str, str]] = []
        seen = False
        for k, v in self.request.query.items():
            if k == "page":
                if not seen:
                    pairs.append(("page", str(page)))
                    seen = True
                continue
            pairs.append((k, v))
        if not seen:
            pairs.append(("page", str(page)))
        prefix = "/api" if self.root == "api" else ""
        req = self.request
        return f"{req.scheme}://{req.host}{prefix}{self.path}?{urlencode(pairs, quote_via=quote)}"


# ---------------------------------------------------------------------------- core routes
def _task_summary(task: Mapping[str, Any]) -> str:
    return f"Please {str(task['title']).lower()} and mark this task complete when done."


TASK_INCLUDES: dict[str, Callable[[RouteContext, dict[str, Any]], Any]] = {}
"""Extra ``with=`` includes of the single-task routes (name -> builder), e.g. ``threads``."""
TASK_COMPLETED_HOOKS: list[Callable[[RouteContext, str], Awaitable[None]]] = []
"""Awaited with ``(ctx, task_id)`` after a task was completed (webhook delivery)."""


def _with_includes(ctx: RouteContext, task: dict[str, Any]) -> dict[str, Any]:
    task["summary"] = _task_summary(task)
    includes = {w.strip() for w in ctx.query.get("with", "").split(",") if w.strip()}
    if "run" in includes:
        run = ctx.data.run(ctx.org_state.id, task["run_id"]) if task["run_id"] else None
        task["run"] = {"data": run}
    for name in includes & TASK_INCLUDES.keys():
        task[name] = TASK_INCLUDES[name](ctx, task)
    return task


def _bool_param(ctx: RouteContext, name: str) -> bool | None:
    raw = ctx.query.get(name)
    if raw is None or raw == "":
        return None
    low = raw.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise validation_error(name, f"The {name.replace('_', ' ')} field must be true or false.")


def _task_list(ctx: RouteContext, *, mine: bool) -> web.Response:
    st = ctx.org_state
    data = ctx.data
    raw_status = ctx.query.get("status")
    if mine:
        status: str | None = raw_status or "active"  # the server's default (tallyfy/sdk#76)
        allowed = ME_TASK_STATUSES
    else:
        # No source says what /tasks does without ``status``: serve either reading
        # (``FakeTallyfy(org_tasks_default_status=...)``) so clients are tested under both.
        status = raw_status or ctx.fake.org_tasks_default_status
        allowed = ORG_TASK_STATUSES
    if status is not None and status not in allowed:
        raise validation_error("status", "The selected status is invalid.")
    owners: list[int] | None = None
    is_oneoff: bool | None = None
    if not mine:
        is_oneoff = _bool_param(ctx, "is_oneoff")
        raw_owners = ctx.query.get("owners")
        if raw_owners:
            try:
                owners = [int(p) for p in raw_owners.split(",") if p.strip()]
            except ValueError:
                raise validation_error(
                    "owners", "The owners must be a comma separated list of user ids."
                ) from None
    q = ctx.query.get("q") or None
    idx = data.select(st.id, mine=mine, status=status, is_oneoff=is_oneoff, owners=owners, q=q)
    overdue, due_soon = data.counts(st.id, mine=mine)

    # ``with`` includes on the list (e.g. ``threads``: DOCS list-org-tasks names ``with`` =
    # run, step, threads, ... for GET /tasks; shared/reference/tallyfy-api.md §5).
    includes = {w.strip() for w in ctx.query.get("with", "").split(",") if w.strip()}
    listed = includes & TASK_INCLUDES.keys()

    def fetch(start: int, stop: int) -> list[bytes] | list[dict[str, Any]]:
        if listed:
            tasks = [data.task_at(st, i) for i in idx[start:stop]]
            for task in tasks:
                for name in listed:
                    task[name] = TASK_INCLUDES[name](ctx, task)
            return tasks
        if stop - start > 1000:  # huge pages: one orjson call, keep the cache small
            return [data.task_at(st, i) for i in idx[start:stop]]
        return [data.task_json(st, i) for i in idx[start:stop]]

    return paginated_response(
        ctx,
        len(idx),
        fetch,
        extra_meta={"overdue_tasks": overdue, "tasks_due_soon": due_soon},
        allow_without_pagination=True,
    )


async def _get_me(ctx: RouteContext) -> web.StreamResponse:
    auth = ctx.request.headers.get("Authorization", "")
    me = ctx.fake.token_users.get(auth[7:], ctx.data.me)
    keys = ("id", "email", "username", "first_name", "last_name", "full_name", "timezone")
    return json_response({"data": {k: me[k] for k in keys} | {"profile_pic": None}})


async def _get_my_orgs(ctx: RouteContext) -> web.StreamResponse:
    orgs = ctx.data.organizations()
    return paginated_response(
        ctx,
        len(orgs),
        lambda a, b: orgs[a:b],
        default_per_page=ctx.fake.org_list_per_page_default,
    )


async def _get_org(ctx: RouteContext) -> web.StreamResponse:
    return json_response({"data": ctx.org_state.org})


async def _get_org_me(ctx: RouteContext) -> web.StreamResponse:
    return await _get_me(ctx)


async def _get_my_tasks(ctx: RouteContext) -> web.StreamResponse:
    return _task_list(ctx, mine=True)


async def _get_org_tasks(ctx: RouteContext) -> web.StreamResponse:
    return _task_list(ctx, mine=False)


async def _get_task(ctx: RouteContext) -> web.StreamResponse:
    st = ctx.org_state
    i = st.id_index.get(ctx.params["task"])
    if i is None:
        raise not_found()
    return json_response({"data": _with_includes(ctx, ctx.data.task_at(st, i))})


def _run_index(ctx: RouteContext) -> int:
    r = ctx.org_state.run_index.get(ctx.params["run"])
    if r is None:
        raise not_found()
    return r


async def _get_run_task(ctx: RouteContext) -> web.StreamResponse:
    st = ctx.org_state
    r = _run_index(ctx)
    i = st.id_index.get(ctx.params["task"])
    if i is None or st.run[i] != r:
        raise not_found()
    return json_response({"data": _with_includes(ctx, ctx.data.task_at(st, i))})


def _complete(ctx: RouteContext, run: int) -> web.Response:
    """Shared body of both complete routes (``run`` = -1 for one-off tasks)."""
    st = ctx.org_state
    body = ctx.json_object()
    task_id = body.get("task_id")
    if task_id is None or task_id == "":
        raise validation_error("task_id", "The task id field is required.")
    if not isinstance(task_id, str):
        raise validation_error("task_id", "The task id must be a string.")
    is_approved = body.get("is_approved")
    if is_approved is not None and not isinstance(is_approved, bool):
        raise validation_error("is_approved", "The is approved field must be true or false.")
    i = st.id_index.get(task_id)
    if i is None or st.run[i] != run:
        raise validation_error("task_id", "The selected task id is invalid.")
    if st.status[i] == 2:
        raise validation_error("task_id", "The task has already been completed.")
    now = ctx.now_iso()
    task = ctx.data.complete_task(
        st.id, task_id, completer_id=ctx.data.me_id, completed_at=now, is_approved=is_approved
    )
    return json_response(
        {
            "data": {
                "id": task["id"],
                "title": task["title"],
                "status": "completed",
                "completed_at": task["completed_at"],
                "completer_id": task["completer_id"],
                "tasks_changed_by_rules": {},
            }
        }
    )


def _reopen(ctx: RouteContext, run: int) -> web.Response:
    st = ctx.org_state
    task_id = ctx.params["task"]
    i = st.id_index.get(task_id)
    if i is None:
        raise not_found()
    if st.run[i] != run:
        raise validation_error("task_id", "The selected task id is invalid.")
    if st.status[i] != 2:
        raise validation_error("task_id", "The task is not completed.")
    task = ctx.data.reopen_task(st.id, task_id, updated_at=ctx.now_iso())
    return json_response(
        {
            "data": {
                "id": task["id"],
                "title": task["title"],
                "status": "in-progress",
                "completed_at": None,
                "completer_id": None,
                "completer_guest_id": None,
                "is_approved": None,
                "tasks_changed_by_rules": {},
            }
        }
    )


async def _completed_hooks(ctx: RouteContext, response: web.Response) -> web.Response:
    for hook in TASK_COMPLETED_HOOKS:
        await hook(ctx, str(ctx.json_object().get("task_id")))
    return response


async def _complete_run_task(ctx: RouteContext) -> web.StreamResponse:
    return await _completed_hooks(ctx, _complete(ctx, _run_index(ctx)))


async def _reopen_run_task(ctx: RouteContext) -> web.StreamResponse:
    return _reopen(ctx, _run_index(ctx))


async def _complete_oneoff(ctx: RouteContext) -> web.StreamResponse:
    return await _completed_hooks(ctx, _complete(ctx, -1))


async def _reopen_oneoff(ctx: RouteContext) -> web.StreamResponse:
    return _reopen(ctx, -1)


def register_identity_routes(router: Router) -> None:
    """``/me``, ``/me/organizations``, ``/organizations/{org}``, ``/organizations/{org}/me``."""
    router.get("/me", _get_me)
    router.get("/me/organizations", _get_my_orgs)
    router.get("/organizations/{org}", _get_org)
    router.get("/organizations/{org}/me", _get_org_me)


def register_task_routes(router: Router) -> None:
    """Task listing, single task, complete / reopen (process and one-off)."""
    router.get("/organizations/{org}/me/tasks", _get_my_tasks)
    router.get("/organizations/{org}/tasks", _get_org_tasks)
    router.get("/organizations/{org}/tasks/{task}", _get_task)
    router.get("/organizations/{org}/runs/{run}/tasks/{task}", _get_run_task)
    router.post("/organizations/{org}/runs/{run}/completed-tasks", _complete_run_task)
    router.delete("/organizations/{org}/runs/{run}/completed-tasks/{task}", _reopen_run_task)
    router.post("/organizations/{org}/completed-tasks", _complete_oneoff)
    router.delete("/organizations/{org}/completed-tasks/{task}", _reopen_oneoff)


CORE_REGISTRARS: Final[tuple[Callable[[Router], None], ...]] = (
    register_identity_routes,
    register_task_routes,
)


# ---------------------------------------------------------------------------- the fake
def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return False
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("application/json", "application/*", "*/*") or media.endswith("+json"):
            return True
    return False


class _Drop(Exception):
    """Internal: abort the connection without a response."""


class FakeTallyfy:
    """The fake server. An async context manager; also ``await start()`` / ``await close()``."""

    def __init__(
        self,
        *,
        orgs: int = 3,
        tasks_per_org: int | Sequence[int] = 25,
        seed: int = 0,
        token: str | None = None,
        org_list_per_page_default: int = DEFAULT_PER_PAGE,
        max_per_page: int = MAX_PER_PAGE,
        rate_limit: tuple[int, float] | None = None,
        rate_limit_scope: Literal["token", "org"] = "token",
        rate_limit_headers: bool = True,
        latency: float = 0.0,
        faults: FaultPlan | None = None,
        forbidden_orgs: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        data: FakeData | None = None,
        extra_routes: Iterable[Callable[[Router], None]] = (),
        record_requests: bool = True,
        org_tasks_default_status: Literal["all", "active"] | None = None,
    ) -> None:
        if rate_limit_scope not in ("token", "org"):
            raise ValueError("rate_limit_scope must be 'token' or 'org'")
        if org_tasks_default_status not in (None, "all", "active"):
            raise ValueError("org_tasks_default_status must be None, 'all' or 'active'")
        self.org_tasks_default_status: str | None = (
            None if org_tasks_default_status == "all" else org_tasks_default_status
        )
        """What ``GET /organizations/{org}/tasks`` does without ``status``: every task
        (``None``/``"all"``, the default) or, like ``/me/tasks`` (tallyfy/sdk#76), only
        ``active`` ones. No source settles which the real route does."""
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.data: FakeData = data or FakeData(
            orgs=orgs, tasks_per_org=tasks_per_org, seed=seed, forbidden_orgs=forbidden_orgs
        )
        self.seed = seed
        self.token: str = token or f"fake-token-{self.data.rng('token').getrandbits(64):016x}"
        self.tokens: set[str] = {self.token}
        """Every accepted bearer token (add OAuth-issued ones here; remove to revoke)."""
        self.token_users: dict[str, dict[str, Any]] = {}
        """Bearer token → the user it acts for (``/me`` answers with it; default ``data.me``):
        e.g. member tokens issued by the application routes (``_fake_applications``)."""
        self.public_paths: set[str] = {"/health"}
        """Normalized paths served without bearer auth, rate limit or faults (``/oauth/token``)."""
        self.org_list_per_page_default = org_list_per_page_default
        self.max_per_page = max_per_page
        """The clamp on ``per_page`` (Tallyfy's is 100; lower it to test clients that ask for
        more than a server gives)."""
        self.rate_limit_scope: Literal["token", "org"] = rate_limit_scope
        self.rate_limit_headers = rate_limit_headers
        self.latency = latency
        self.faults: FaultPlan = faults if faults is not None else FaultPlan(seed=seed)
        self.host = host
        self._port = port
        self.requests: list[RecordedRequest] = []
        self.record_requests = record_requests
        """Set to False (e.g. in benchmarks) to stop filling :attr:`requests`."""
        self.router = Router()
        from ._fake_areas import AREA_REGISTRARS  # runs, blueprints, people, ... (issue 5)

        for registrar in (*CORE_REGISTRARS, *AREA_REGISTRARS, *ROUTE_REGISTRARS, *extra_routes):
            registrar(self.router)
        self._rate_limit: tuple[int, float] | None = None
        self.set_rate_limit(*(rate_limit or (None, 60.0)))
        self._windows: dict[str, deque[float]] = {}
        self._admissions: dict[str, list[float]] = {}
        self._all_admissions: list[float] = []
        self._rid_rng = self.data.rng("request-ids")
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._closing: asyncio.Event | None = None
        self._start_time = 0.0
        self._generation = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> Self:
        """Start serving (idempotent). Returns ``self``."""
        if self._runner is not None:
            return self
        self._closing = asyncio.Event()
        self._start_time = asyncio.get_running_loop().time()
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        addresses = runner.addresses
        if addresses:
            self._port = int(addresses[0][1])
        return self

    async def close(self) -> None:
        """Stop serving; pending hangs are released and their connections dropped."""
        if self._closing is not None:
            self._closing.set()
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (api.tallyfy.com style; paths have no ``/api``)."""
        if self._runner is None and self._port == 0:
            raise RuntimeError("FakeTallyfy is not started")
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api`` (go.tallyfy.com/api style)."""
        return f"{self.root_url}/api"

    @property
    def headers(self) -> dict[str, str]:
        """Headers a well-behaved client sends."""
        return {
            "Authorization": f"Bearer {self.token}",
            "X-Tallyfy-Client": "APIClient",
            "Accept": JSON_TYPE,
        }

    def now_iso(self) -> str:
        """Fake wall time: the data's reference time plus loop time elapsed since start."""
        elapsed = asyncio.get_running_loop().time() - self._start_time if self._runner else 0.0
        return iso(self.data.now + elapsed) or ""

    async def deliver_webhook(self, url: str, payload: Any, org_id: str) -> int | None:
        """POST ``payload`` to ``url`` with ``X-Tallyfy-orgID: org_id``, once (no retry, like
        Tallyfy); the receiver's status, or ``None`` if unreachable. See ``_fake_webhooks``."""
        from ._fake_webhooks import deliver

        return await deliver(self, url, payload, org_id)

    # ------------------------------------------------------------------ faults / limits
    def inject(
        self,
        fault: str,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        times: int = 1,
        retry_after: int = 1,
        hang_seconds: float | None = None,
    ) -> None:
        """Make the next ``times`` matching requests fail with ``fault`` (see ``FaultPlan``)."""
        self.faults.inject(
            fault,
            method=method,
            path_contains=path_contains,
            times=times,
            retry_after=retry_after,
            hang_seconds=hang_seconds,
        )

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        return self._rate_limit

    def set_rate_limit(self, limit: int | None, seconds: float = 60.0) -> None:
        """Change the limit live (``None`` disables it). The admission log is kept."""
        if limit is None:
            self._rate_limit = None
            return
        if limit < 1 or seconds <= 0:
            raise ValueError("rate limit needs limit >= 1 and seconds > 0")
        self._rate_limit = (int(limit), float(seconds))

    def _scope_key(self, path: str, token: str) -> str:
        if self.rate_limit_scope == "org":
            m = _ORG_PATH.match(path)
            if m is not None:
                return m.group(1)
        return token

    def _check_limit(self, key: str, now: float) -> tuple[bool, int, float]:
        """``(admitted, remaining_after, wait)``; does not record the admission."""
        if self._rate_limit is None:
            return True, -1, 0.0
        limit, window = self._rate_limit
        dq = self._windows.get(key)
        if dq is None:
            dq = self._windows[key] = deque()
        cutoff = now - window
        while dq and dq[0] <= cutoff:
            dq.popleft()
        if len(dq) >= limit:
            return False, 0, dq[len(dq) - limit] + window - now
        return True, limit - len(dq) - 1, 0.0

    def _admit(self, key: str, now: float) -> None:
        if self._rate_limit is not None:
            self._windows.setdefault(key, deque()).append(now)
        self._admissions.setdefault(key, []).append(now)
        self._all_admissions.append(now)

    def admission_times(self, key: str | None = None) -> list[float]:
        """Loop times of admitted (non-429) authenticated requests, all or for one scope key."""
        return list(self._all_admissions if key is None else self._admissions.get(key, []))

    @property
    def scope_keys(self) -> list[str]:
        """Rate-limit scope keys seen so far (tokens, or org ids with ``scope="org"``)."""
        return list(self._admissions)

    def max_admitted_in_window(self, seconds: float, key: str | None = None) -> int:
        """Max number of admitted requests in any window ``(t - seconds, t]``.

        ``key=None`` merges every scope; pass a token / org id for one scope.  Admission is
        recorded even when no rate limit is configured.  Requests answered 401 or 429 (by the
        limiter or an injected ``"429"``) are not admissions.
        """
        times = self._all_admissions if key is None else self._admissions.get(key, [])
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= seconds:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # ------------------------------------------------------------------ records
    def count(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        status: int | None = None,
        *,
        fault: str | None = None,
    ) -> int:
        """Number of recorded requests matching all given filters."""
        m = method.upper() if method else None
        return sum(
            1
            for r in self.requests
            if (m is None or r.method == m)
            and (path_contains is None or path_contains in r.path)
            and (status is None or r.status == status)
            and (fault is None or r.fault == fault)
        )

    def reset_records(self) -> None:
        """Forget recorded requests and admission history (not the live rate-limit windows)."""
        self.requests.clear()
        self._admissions.clear()
        self._all_admissions.clear()
        self._generation += 1

    # ------------------------------------------------------------------ dispatch
    def _new_request_id(self) -> str:
        return str(uuid.UUID(int=self._rid_rng.getrandbits(128), version=4))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        raw_path = request.rel_url.raw_path
        path = request.path
        root: Literal["api", "root"] = "root"
        if path == "/api" or path.startswith("/api/"):
            path, root = path[4:], "api"
        if len(path) > 1:
            path = path.rstrip("/")
        path = path or "/"
        streamed = None
        if request.body_exists and self.router.streams_bodies:
            streamed, _, _ = self.router.match(request.method, path)
        body = b"" if streamed is not None and streamed.raw_body else await request.read()
        request_id = self._new_request_id()
        record = RecordedRequest(
            method=request.method,
            path=path,
            raw_path=raw_path,
            query=dict(request.query.items()),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
            status=None,
            fault=None,
            time=arrived,
            root=root,
            request_id=request_id,
        )
        generation = self._generation
        index = -1
        if self.record_requests:
            index = len(self.requests)
            self.requests.append(record)
        status: int | None = None
        cell: list[str | None] = [None]
        try:
            try:
                response = await self._process(request, record, root, body, cell)
            except _Drop:
                transport = request.transport
                if transport is not None:
                    transport.abort()
                return web.Response(status=500)
            response.headers["X-Request-Id"] = request_id
            status = response.status
            return response
        finally:
            if 0 <= index < len(self.requests) and generation == self._generation:
                self.requests[index] = replace(record, status=status, fault=cell[0])

    async def _process(
        self,
        request: web.Request,
        record: RecordedRequest,
        root: Literal["api", "root"],
        body: bytes,
        cell: list[str | None],
    ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        if record.path in self.public_paths:
            await self._delay(self.latency)
            return await self._route(request, record, root, body)
        headers = request.headers
        auth = headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if (
            token is None
            or token not in self.tokens
            or headers.get("X-Tallyfy-Client") != "APIClient"
            or not _accepts_json(headers.get("Accept"))
        ):
            await self._delay(self.latency)
            return json_response(UNAUTHENTICATED, 401)

        method, path = record.method, record.path
        key = self._scope_key(path, token)
        now = loop.time()
        admitted, remaining, wait = self._check_limit(key, now)
        if not admitted:
            await self._delay(self.latency)
            return self._too_many(max(1, math.ceil(wait - 1e-9)), wait)

        decision: FaultDecision = self.faults.decide(method, path)
        fault = cell[0] = decision.fault
        if fault == "429":
            await self._delay(self.latency)
            return self._too_many(decision.retry_after, float(decision.retry_after))
        self._admit(key, now)
        rl_headers: dict[str, str] = {}
        if self._rate_limit is not None and self.rate_limit_headers:
            rl_headers["X-RateLimit-Limit"] = str(self._rate_limit[0])
            rl_headers["X-RateLimit-Remaining"] = str(max(0, remaining))

        delay = self.latency + decision.jitter
        if fault == "reset":
            await self._delay(delay)
            raise _Drop
        if fault == "html_503":
            await self._delay(delay)
            resp = web.Response(body=HTML_503, status=503, content_type="text/html")
            resp.headers.update(rl_headers)
            return resp
        if fault == "server_500":
            await self._delay(delay)
            return json_response(SERVER_ERROR, 500, rl_headers)
        if fault == "hang":
            assert self._closing is not None
            try:
                await asyncio.wait_for(self._closing.wait(), decision.hang_seconds)
            except TimeoutError:
                pass
            else:
                raise _Drop

        response = await self._route(request, record, root, body)
        response.headers.update(rl_headers)
        await self._delay(delay)
        if fault == "reset_after_apply":
            raise _Drop
        if fault == "malformed_json":
            body_bytes = response.body if isinstance(response, web.Response) else None
            raw = body_bytes if isinstance(body_bytes, bytes) else b"{}"
            truncated = web.Response(
                body=raw[: max(1, len(raw) // 2)],
                status=response.status,
                content_type=JSON_TYPE,
                headers=rl_headers,
            )
            return truncated
        return response

    async def _route(
        self,
        request: web.Request,
        record: RecordedRequest,
        root: Literal["api", "root"],
        body: bytes,
    ) -> web.StreamResponse:
        route, params, allowed = self.router.match(record.method, record.path)
        if route is None:
            if allowed:
                methods = ", ".join(sorted(set(allowed)))
                prefix = "api" if root == "api" else ""
                shown = f"{prefix}{record.path}".lstrip("/")
                msg = (
                    f"The {record.method} method is not supported for route {shown}. "
                    f"Supported methods: {methods}."
                )
                return json_response({"message": msg}, 405, {"Allow": methods})
            return json_response(ENDPOINT_NOT_FOUND, 404)
        ctx = RouteContext(self, request, record.method, record.path, root, params, body)
        try:
            if route.org_scoped:
                st = self.data.org_state(params["org"])
                if st is None:
                    raise not_found()
                if st.forbidden:
                    raise FakeHTTPError(403, FORBIDDEN_ORG)
                ctx.org = st
            result = await route.handler(ctx)
        except FakeHTTPError as exc:
            return json_response(exc.body, exc.status, exc.headers)
        if not isinstance(result, web.StreamResponse):
            raise TypeError("route handlers must return an aiohttp.web response")
        return result

    def _too_many(self, retry_after: int, wait: float) -> web.Response:
        headers = {"Retry-After": str(retry_after)}
        if self.rate_limit_headers:
            if self._rate_limit is not None:
                headers["X-RateLimit-Limit"] = str(self._rate_limit[0])
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset"] = str(math.ceil(time.time() + wait))
        return json_response(TOO_MANY, 429, headers)

    async def _delay(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)
