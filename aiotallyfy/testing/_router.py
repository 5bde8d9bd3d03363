"""Routing for the fake: the per-instance :class:`Router`, what a handler gets
(:class:`RouteContext`) and :class:`FakeArea`, the unit a resource area of the fake is wired by.

Every fake builds its own router from the areas it is given (``FakeTallyfy(areas=...)``);
nothing here is module-level state, so two fakes in one process never share routes, task
includes or hooks. ``fake.router.add(...)`` adds a route to one running fake.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from aiohttp import web
from multidict import MultiMapping

from ._envelope import FakeHTTPError
from ._fake_data import FakeData, OrgState

if TYPE_CHECKING:
    from ._server import FakeTallyfy

__all__ = [
    "FakeArea",
    "Route",
    "RouteContext",
    "RouteHandler",
    "Router",
    "TaskCompletedHook",
    "TaskInclude",
]

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


TaskInclude = Callable[[RouteContext, dict[str, Any]], Any]
"""Builds one ``with=`` include (e.g. ``threads``) for a task, on one task and the task
lists alike."""
TaskCompletedHook = Callable[[RouteContext, str], Awaitable[None]]
"""Awaited with ``(ctx, task_id)`` after a task was completed (e.g. webhook delivery)."""


@dataclass(frozen=True, slots=True)
class FakeArea:
    """One resource area of the fake: its routes, the task includes and task-completed hooks
    it contributes. ``FakeTallyfy(areas=...)`` wires each area into that fake only.

    ``routes`` adds the area's routes to a router (``None``: the area has none, e.g. a hook
    only). ``task_includes`` maps a ``with=`` name of ``GET .../tasks/{task}`` and of the
    task lists to its builder.
    """

    name: str
    routes: Callable[[Router], None] | None = None
    task_includes: Mapping[str, TaskInclude] = field(default_factory=dict)
    task_completed_hooks: tuple[TaskCompletedHook, ...] = ()
