"""``TallyfyClient``: the object users hold. It wires the layers together and owns their
lifetime; the behaviour lives in the modules it composes."""

from __future__ import annotations

import dataclasses
import random
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ._auth import AuthBinding, StaticToken, TokenProvider, bind_provider
from ._checks import positive_int, positive_seconds
from ._clock import Clock
from ._fanout import FanOutStream, OrgResult, fan_out
from ._health import HealthStatus, check_health, health_url
from ._hooks import Observer, RequestHooks, make_observer
from ._http import ClientStats, HTTPCore, Response
from ._limits import (
    DEFAULT_TOKEN_RATE_LIMITS,
    FeedbackScope,
    LocalRateLimiter,
    RateLimit,
    RateLimiter,
)
from ._resources import (
    Applications,
    Automations,
    Blueprints,
    Captures,
    Comments,
    CustomFieldKeys,
    Files,
    Folders,
    FormValues,
    Groups,
    Guests,
    Organizations,
    Runs,
    SearchResults,
    Steps,
    TagAssociations,
    Tags,
    Tasks,
    Users,
    Watchers,
)
from ._resources._base import unwrap
from ._resources._search import search as _search
from ._retry import RetryPolicy
from ._secrets import Secret
from ._transport import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RESPONSE_BYTES,
    AiohttpTransport,
    Timeouts,
    normalize_base_url,
)
from ._types import Me
from ._version import __version__

__all__ = ["TallyfyClient"]

T = TypeVar("T")

_UNSET: Any = object()


class TallyfyClient:
    """An asyncio client for the Tallyfy REST API.

    ::

        async with TallyfyClient(os.environ["TALLYFY_API_TOKEN"]) as client:
            async for org in client.organizations.list():
                async for task in client.tasks.list_mine(org["id"]):
                    ...

    One client holds one ``aiohttp.ClientSession`` (created in the running loop on first use),
    one rate limiter and one retry policy. Share it across tasks; close it with ``async with``
    or ``await client.aclose()``.

    - ``token``: a personal access token (str or ``Secret``), or a ``TokenProvider``:
      ``PasswordGrant``/``ClientCredentialsGrant`` (OAuth, renewed single-flight),
      ``CallableTokenProvider``, or ``PerOrgTokens`` (a token per organization).
    - ``base_url``: ``https://go.tallyfy.com/api`` (default) or ``https://api.tallyfy.com``.
    - ``rate_limits``: per-token limits, default Tallyfy's documented 600/minute per user.
    - ``org_rate_limits``: per-organization limits, all enforced together (none by default).
    - ``max_concurrency``: requests in flight at once, and the connection pool size.
    - ``max_retries``, ``retry_budget``: see ``RetryPolicy``; or pass ``retry_policy``.
    - ``timeout``: seconds for one attempt (send to last byte), or a ``Timeouts``; time queued
      for the limiter or a connection never counts against it. Must be > 0.
    - ``max_response_bytes``: the largest decoded answer accepted (default 64 MiB), checked
      while reading, so a compression bomb stops there: ``ResponseTooLargeError``.
    - ``limiter``: a ``RateLimiter`` to use instead of the in-process one. It carries its own
      limits, so passing ``rate_limits``, ``org_rate_limits`` or ``rate_limit_feedback`` with
      it raises ``ValueError`` rather than ignoring them.
    - ``rate_limit_feedback``: ``"token"`` (default) or ``"org"``; see ``LocalRateLimiter``.
    - ``ssl_context``: TLS is verified by default (system CAs); pass an ``ssl.SSLContext``
      for a private CA or client certificates, e.g. ``ssl.create_default_context(cafile=...)``.
      OAuth token requests go through the same transport, so they use it too.
    - ``allow_insecure_http``: plain ``http://`` is refused except to loopback; opt in here.
    - ``hooks``: ``RequestHooks`` told about every call and attempt (metrics, traces:
      ``aiotallyfy.otel.OpenTelemetryHooks``); none by default, at no cost.
    - ``clock``, ``rng``: injectable time and randomness, for tests.
    """

    def __init__(
        self,
        token: str | Secret | TokenProvider,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate_limits: Sequence[RateLimit] = _UNSET,
        org_rate_limits: Sequence[RateLimit] = _UNSET,
        max_concurrency: int = 16,
        max_retries: int = _UNSET,
        retry_budget: float = _UNSET,
        retry_policy: RetryPolicy | None = None,
        timeout: float | Timeouts = 60.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        limiter: RateLimiter | None = None,
        rate_limit_feedback: FeedbackScope = _UNSET,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure_http: bool = False,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        user_agent: str | None = None,
        hooks: Sequence[RequestHooks[Any]] = (),
    ) -> None:
        positive_int("max_concurrency", max_concurrency)
        positive_int("max_response_bytes", max_response_bytes)
        self._auth: TokenProvider = (
            StaticToken(token) if isinstance(token, (str, Secret)) else token
        )
        self.base_url = normalize_base_url(base_url, allow_insecure_http=allow_insecure_http)
        policy = retry_policy or RetryPolicy()
        overrides: dict[str, Any] = {}
        if max_retries is not _UNSET:
            overrides["max_retries"] = max_retries
        if retry_budget is not _UNSET:
            overrides["total_budget"] = retry_budget
        if overrides:
            policy = dataclasses.replace(policy, **overrides)
        if isinstance(timeout, Timeouts):
            timeouts = timeout
        else:
            # 0 or -1 used to reach aiohttp, which reads them as "no time limit" (L11).
            timeouts = Timeouts(total=positive_seconds("timeout", timeout))
        rng = rng or random.Random()
        self._limiter: RateLimiter = _limiter_for(
            limiter, rate_limits, org_rate_limits, rate_limit_feedback, clock=clock, rng=rng
        )
        self._transport = AiohttpTransport(
            base_url=self.base_url,
            max_connections=max_concurrency,
            timeouts=timeouts,
            ssl_context=ssl_context,
            user_agent=user_agent or f"aiotallyfy/{__version__}",
            max_response_bytes=max_response_bytes,
        )
        self._core = HTTPCore(
            transport=self._transport,
            auth=self._auth,
            limiter=self._limiter,
            policy=policy,
            max_concurrency=max_concurrency,
            clock=clock,
            rng=rng,
        )
        # OAuth providers send their token requests through this client's send path (its
        # TLS settings, pool, body cap, counters and log) and time expiry on its clock.
        bind_provider(self._auth, AuthBinding(send=self._core.send_unmetered, clock=clock))
        self._hooks = tuple(hooks)
        # Request hooks (_hooks.py); without them the loop pays an is-None check.
        self._core.observer = _observer(hooks, self.base_url, self._core.clock)
        self.max_concurrency = max_concurrency
        self.organizations = Organizations(self._core)
        self.tasks = Tasks(self._core)
        self.runs = Runs(self._core)
        self.blueprints = Blueprints(self._core)
        self.users = Users(self._core)
        self.guests = Guests(self._core)
        self.groups = Groups(self._core)
        self.tags = Tags(self._core)
        self.folders = Folders(self._core)
        self.comments = Comments(self._core)
        # blueprint design and process values (issue 10, part 3a)
        self.steps = Steps(self._core)
        self.captures = Captures(self._core)
        self.form_values = FormValues(self._core)
        self.automations = Automations(self._core)
        self.tag_associations = TagAssociations(self._core)
        self.files = Files(self._core)
        self.applications = Applications(self._core)
        self.watchers = Watchers(self._core)
        self.custom_field_keys = CustomFieldKeys(self._core)
        self._closed = False

    def __repr__(self) -> str:
        return f"TallyfyClient(base_url={self.base_url!r}, max_concurrency={self.max_concurrency})"

    # -- lifetime ----------------------------------------------------------------------
    async def __aenter__(self) -> TallyfyClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session and release every connection. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._transport.aclose()
        await self._limiter.aclose()
        await self._auth.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- introspection -----------------------------------------------------------------
    @property
    def stats(self) -> ClientStats:
        """Counters: attempts, retries, 429s, 5xx, transport errors, limiter wait."""
        return self._core.stats

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._core.policy

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    # -- calls -------------------------------------------------------------------------
    async def me(self) -> Me:
        """The token's user (``GET /me``); a cheap way to check a token."""
        response = await self._core.request("GET", "/me")
        result: Me = unwrap(response, "GET", "/me")
        return result

    async def health(self, *, url: str | None = None) -> HealthStatus:
        """Tallyfy's health endpoint (``GET https://api.tallyfy.com/health``): one attempt,
        no token, outside the rate limiter and retries; ``ok`` is a 2xx. With a base URL other
        than Tallyfy's production roots it asks ``{base_url}/health`` (see ``_health``);
        ``url`` overrides. Raises ``TransportError`` only when nothing usable came back."""
        return await check_health(self._core.send_unmetered, url or health_url(self.base_url))

    async def request(
        self,
        method: str,
        path: str,
        *,
        org_id: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Response:
        """Any Tallyfy route, through the same limiter and retry rules as the typed calls.

        ``org_id`` puts the request in that organization's rate-limit scope.
        """
        return await self._core.request(
            method, path, org_id=org_id, params=params, json=json, idempotent=idempotent
        )

    # -- many organizations --------------------------------------------------------------
    def fan_out(
        self,
        org_ids: Iterable[str],
        fn: Callable[[str], AsyncIterable[T]],
        *,
        concurrency: int | None = None,
    ) -> AsyncIterator[OrgResult[T]]:
        """Run ``fn(org_id)`` (an async iterator, e.g. ``lambda o: client.tasks.list_mine(o)``)
        for every org, bounded; yield an ``OrgResult`` per org as each finishes.
        ``concurrency`` defaults to ``max_concurrency``; 0 or less raises ``ValueError``."""
        return fan_out(org_ids, fn, concurrency=self._concurrency(concurrency))

    def fan_out_stream(
        self,
        org_ids: Iterable[str],
        fn: Callable[[str], AsyncIterable[T]],
        *,
        concurrency: int | None = None,
        buffer: int = 1000,
        on_org_done: Callable[[OrgResult[T]], None] | None = None,
    ) -> FanOutStream[T]:
        """Yield ``(org_id, item)`` as items arrive, in constant memory; see ``FanOutStream``."""
        return FanOutStream(
            org_ids,
            fn,
            concurrency=self._concurrency(concurrency),
            buffer=buffer,
            on_org_done=on_org_done,
        )

    def _concurrency(self, concurrency: int | None) -> int:
        """``None`` means the client's maximum; anything else is checked, never replaced (a 0
        used to become the maximum silently while -1 raised)."""
        if concurrency is None:
            return self.max_concurrency
        return positive_int("concurrency", concurrency)

    def search(
        self, org_id: str, text: str, *, on: Sequence[str] = ("process", "task", "blueprint"),
        limit_per_type: int | None = None, **extra: Any,
    ) -> SearchResults:  # fmt: skip
        """Search ``org_id``: iterate for ``SearchHit(type, item)`` over every page of every
        type in ``on``, or ``await ....by_type()``; see ``SearchResults``."""
        return _search(self._core, org_id, text, on=on, limit_per_type=limit_per_type, **extra)

    def as_member(self, org_id: str, email: str, **options: Any) -> TallyfyClient:
        """A new client acting as the member ``email`` of ``org_id``, its tokens minted by this
        (application, ``ClientCredentialsGrant``) client and renewed before they expire.

        It has its own session and rate limiter (Tallyfy counts per user, and this is another
        user); it inherits this client's ``base_url`` (and its ``http://`` opt-in), TLS
        context and request ``hooks`` unless ``options`` say otherwise. Keep this client open
        while it is used; closing it does not close this one.
        """
        provider = self.applications.member_token_provider(org_id, email)
        options.setdefault("base_url", self.base_url)
        options.setdefault("allow_insecure_http", self.base_url.startswith("http://"))
        options.setdefault("hooks", self._hooks)
        ssl_context = self._transport.ssl_context
        if ssl_context is not None:
            options.setdefault("ssl_context", ssl_context)
        return TallyfyClient(provider, **options)

    async def all_org_ids(self) -> list[str]:
        """The ids of every organization of the token's user (all pages)."""
        return [str(org["id"]) async for org in self.organizations.list()]


def _limiter_for(
    limiter: RateLimiter | None,
    rate_limits: Sequence[RateLimit],
    org_rate_limits: Sequence[RateLimit],
    feedback: FeedbackScope,
    *,
    clock: Clock | None,
    rng: random.Random,
) -> RateLimiter:
    """The caller's limiter, or the in-process one built from the limit options.

    A limiter brought by the caller was built with its own limits; limit options passed
    beside it could only be ignored, and silently ignoring a rate limit someone asked for
    is how a budget gets overrun. So that combination is refused.
    """
    given = [
        name
        for name, value in (
            ("rate_limits", rate_limits),
            ("org_rate_limits", org_rate_limits),
            ("rate_limit_feedback", feedback),
        )
        if value is not _UNSET
    ]
    if limiter is not None:
        if given:
            raise ValueError(
                f"limiter= replaces the client's own rate limiter, so {', '.join(given)} "
                "would be ignored; configure those on the limiter you pass"
            )
        return limiter
    return LocalRateLimiter(
        DEFAULT_TOKEN_RATE_LIMITS if rate_limits is _UNSET else rate_limits,
        () if org_rate_limits is _UNSET else org_rate_limits,
        clock=clock,
        rng=rng,
        feedback_scope="token" if feedback is _UNSET else feedback,
    )


def _observer(hooks: Sequence[RequestHooks[Any]], base_url: str, clock: Clock) -> Observer | None:
    """The hooks' dispatcher, timing calls on the client's clock (``None`` without hooks)."""
    url = urlsplit(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return make_observer(hooks, clock=clock, server=url.hostname or "", port=port)
