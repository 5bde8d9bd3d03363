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

Routes come from the areas the fake is built with, ``FakeTallyfy(areas=DEFAULT_AREAS)``
(each :class:`FakeArea` carries its routes, task includes and hooks; nothing is registered
globally), plus ``fake.router.add(...)`` for one fake, effective immediately.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, Self

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from ._envelope import (
    DEFAULT_PER_PAGE,
    ENDPOINT_NOT_FOUND,
    FORBIDDEN_ORG,
    HTML_503,
    JSON_TYPE,
    MAX_PER_PAGE,
    SERVER_ERROR,
    TOO_MANY,
    UNAUTHENTICATED,
    FakeHTTPError,
    json_response,
    not_found,
)
from ._fake_areas import DEFAULT_AREAS
from ._fake_data import FakeData, iso
from ._fake_webhooks import deliver
from ._faults import FaultDecision, FaultPlan
from ._router import FakeArea, RouteContext, Router, TaskCompletedHook, TaskInclude

__all__ = ["FakeTallyfy", "RecordedRequest"]

_ORG_PATH: Final = re.compile(r"^/organizations/([^/]+)")


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
        areas: Iterable[FakeArea] = DEFAULT_AREAS,
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
        self.areas: tuple[FakeArea, ...] = tuple(areas)
        """The areas this fake serves (default :data:`DEFAULT_AREAS`: core + every resource
        area); pass fewer for a smaller fake, or your own ``FakeArea`` to add one."""
        self.router = Router()
        self.task_includes: dict[str, TaskInclude] = {}
        """``with=`` includes of one task and the task lists, from the areas (name -> builder)."""
        self.task_completed_hooks: list[TaskCompletedHook] = []
        """Awaited with ``(ctx, task_id)`` after a task was completed, from the areas."""
        self._wire(self.areas, extra_routes)
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

    def _wire(
        self, areas: Sequence[FakeArea], extra_routes: Iterable[Callable[[Router], None]]
    ) -> None:
        """Build this fake's routes, includes and hooks from its areas (in order)."""
        names: set[str] = set()
        for area in areas:
            if area.name in names:
                raise ValueError(f"area {area.name!r} given twice")
            names.add(area.name)
            if area.routes is not None:
                area.routes(self.router)
            for include, build in area.task_includes.items():
                if include in self.task_includes:
                    raise ValueError(f"task include {include!r} given by two areas")
                self.task_includes[include] = build
            self.task_completed_hooks.extend(area.task_completed_hooks)
        for registrar in extra_routes:
            registrar(self.router)

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
