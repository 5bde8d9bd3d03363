"""The request loop: token → limiter → connection slot → send → classify → decide →
(wait, retry | return | raise), every limiter call in that one loop.

``HTTPCore.request`` is the retry layer for API calls: resources, pagination and fan-out call
it and never retry on their own (the pager asks for a page again, through ``request``, only
when a 2xx body could not be read). OAuth token requests are not API calls (no bearer token,
no rate-limit budget, their own retry rules in ``_oauth``), but each of their attempts goes
through ``HTTPCore.send_unmetered``: the same transport, failure classification, counters and
log. Every error either path raises carries method, path and attempts, and an API call's its
organization; every error an API call ends in (its own, or its token request's) is counted in
``ClientStats.errors`` and logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from ._auth import TokenProvider, fixed_token, held_secrets, rate_limit_identity
from ._clock import Clock, LoopClock, reader_for
from ._errors import (
    APIStatusError,
    AuthenticationError,
    OutcomeUnknownError,
    RedirectError,
    ResponseTooLargeError,
    TallyfyError,
    TransportError,
    error_class_for_status,
)
from ._limits import LimitScope, RateLimiter, parse_rate_limit_count
from ._retry import (
    Decision,
    FailureKind,
    HTTPOutcome,
    Outcome,
    RetryPolicy,
    TransportOutcome,
    Verdict,
    decide,
    parse_retry_after,
)
from ._secrets import Secret, scrub, scrub_json
from ._transport import Body, Consume, RawResponse, Transport, TransportFailure, build_url

if TYPE_CHECKING:
    from ._hooks import Observer

__all__ = ["ClientStats", "HTTPCore", "Response", "failure_error"]

logger = logging.getLogger("aiotallyfy")

_SCOPE_CACHE_LIMIT = 4096
_MESSAGE_LIMIT = 500  # characters of a server's error message kept (after scrubbing)
# The usual successes' outcomes, made once: outcomes are immutable, and one per attempt adds up.
_SUCCESSES: dict[int, HTTPOutcome] = {status: HTTPOutcome(status) for status in (200, 201, 204)}


@dataclass(slots=True)
class ClientStats:
    """Counters for one client, for progress displays and diagnostics."""

    requests: int = 0  # attempts sent
    calls: int = 0  # logical calls (each may take several attempts)
    retries: int = 0
    rate_limited: int = 0  # 429 answers seen
    server_errors: int = 0  # 5xx answers seen
    transport_errors: int = 0
    errors: int = 0  # calls that ended in an error (raised to the caller)
    limiter_wait: float = 0.0  # seconds spent queued in the rate limiter
    by_status: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer: the decoded JSON (``None`` for an empty body, e.g. 204), or the
    body's bytes as received when the request was made with ``decode=False``."""

    status: int
    data: Any
    request_id: str | None
    attempts: int


# The methods as constants: ``str.upper()`` returns a new string on every call, whose hash
# each later set or dict lookup (the retry policy's idempotent methods, the observer's call
# cache, aiohttp's method sets) would compute again.
_METHODS = {m: m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}


class HTTPCore:
    """Sends requests through the limiter and the retry policy; shared by all resources."""

    def __init__(
        self,
        *,
        transport: Transport,
        auth: TokenProvider,
        limiter: RateLimiter,
        policy: RetryPolicy,
        max_concurrency: int,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.transport = transport
        self.auth = auth
        self.limiter = limiter
        self.policy = policy
        self.clock = clock or LoopClock()
        self.rng = rng or random.Random()
        self.stats = ClientStats()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._scopes: dict[tuple[str, str | None], LimitScope] = {}
        self.observer: Observer | None = None  # request hooks, set by the client

    def _scope(self, token: str, org_id: str | None) -> LimitScope:
        """The rate-limit scope: the provider's stable identity (a renewed OAuth token keeps
        its budget), else a hash of the token; never the token itself. Memoized: it is asked
        for on every attempt."""
        cache_key = (token, org_id)
        scope = self._scopes.get(cache_key)
        if scope is None:
            identity = rate_limit_identity(self.auth, org_id)
            key = identity if identity is not None else LimitScope.token_key_for(token)
            if len(self._scopes) >= _SCOPE_CACHE_LIMIT:
                self._scopes.clear()  # renewed tokens must not accumulate forever
            scope = self._scopes[cache_key] = LimitScope(token_key=key, org_id=org_id)
        return scope

    async def request(
        self,
        method: str,
        path: str,
        *,
        org_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        policy: RetryPolicy | None = None,
        decode: bool = True,
        payload: Callable[[], Any] | None = None,
        consume: Consume | None = None,
        replayable: bool = True,
    ) -> Response:
        """Send ``method path`` until it succeeds or the policy says stop; raise on failure.

        ``decode=False`` returns a 2xx body undecoded (``bytes``; ``None`` when empty), for a
        caller that holds it a while before use (the pager's prefetch window): bytes are one
        object the garbage collector never scans, a decoded page is hundreds that it would
        keep scanning while they wait. That caller then owns the JSON check.

        File transfers (``_resources._files``): ``payload()`` builds a fresh streamed body
        (an aiohttp ``Payload``) for each attempt, instead of ``json``; ``consume`` streams a
        2xx body to its destination (``Response.data`` is then ``None``). Neither is held
        in memory, and neither goes through a JSON body-size rule. ``replayable=False``: the
        body can be sent only once (an async iterator's chunks: a second ``payload()`` would
        be empty), so it never is: no retry, no redirect followed (a 307/308 is raised as
        ``RedirectError``), no re-send with a renewed token after a 401 (the token is still
        renewed, for the next call). Re-sending it would store an empty file as a success.
        """
        policy = policy or self.policy
        if not replayable:
            policy = replace(policy, max_retries=0)
        method = _METHODS.get(method) or method.upper()
        # Request hooks (``_hooks.Observer``) are told from this loop, with no wrapping
        # coroutine: without hooks, a call and each attempt pay one ``is not None`` check.
        # The observer is handed the clock readings the loop takes anyway.
        now = reader_for(self.clock)
        observer = self.observer
        call = None if observer is None else observer.start(method, path, org_id, now())
        streamed = payload is not None or consume is not None  # no body size to tell the hooks
        # Locals for what every attempt touches (attribute loads add up at ~10k requests/s).
        stats = self.stats
        stats.calls += 1
        limiter = self.limiter
        slots = self._slots
        auth = self.auth
        fixed = fixed_token(auth)
        transport = self.transport
        try:
            url = (
                transport.base_url + path  # the common case, without a call
                if params is None and path[:1] == "/"
                else build_url(transport.base_url, path, params)
            )
            body = orjson.dumps(json) if json is not None else None
            attempt = 0
            spent = 0.0  # time in attempts and retry waits; limiter queueing is not counted
            waited = 0.0
            refreshed_auth = False
            while True:
                attempt += 1
                token = fixed if fixed is not None else await auth.get_token(org_id)
                scope = self._scope(token.reveal(), org_id)
                admission = await limiter.acquire(scope)
                # Hold a connection slot and commit the admission for the send, written out
                # here rather than as a context manager: an async generator context manager
                # costs several awaits and allocations per attempt. An admission that never reaches
                # the wire (cancelled while queued for a slot or in ``commit``, or ``commit``
                # failed) is released, so the remaining-requests gate does not count it.
                try:
                    await slots.acquire()
                except BaseException:
                    limiter.release(admission)
                    raise
                try:
                    try:
                        await limiter.commit(admission)
                    except BaseException:
                        limiter.release(admission)
                        raise
                    waited += admission.waited
                    stats.limiter_wait += admission.waited
                    started = now()
                    raw: RawResponse | None = None
                    data: Any = None
                    try:
                        stats.requests += 1
                        raw = await transport.send(
                            method,
                            url,
                            token=token,
                            body=payload() if payload is not None else body,
                            consume=consume,
                            follow_redirects=replayable,
                        )
                    except TransportFailure as failure:
                        stats.transport_errors += 1
                        outcome: Outcome = TransportOutcome(failure.kind)
                        failure_detail = failure.detail
                        too_large_limit = failure.limit
                    else:
                        headers = raw.headers
                        text = headers.get("Retry-After")
                        retry_after = None if text is None else parse_retry_after(text)
                        text = headers.get("X-RateLimit-Remaining")
                        limiter.observe(
                            admission,
                            status=raw.status,
                            remaining=None if text is None else parse_rate_limit_count(text),
                            retry_after=retry_after,
                        )
                        outcome, data, failure_detail = self._classify(raw, retry_after, decode)
                        too_large_limit = None
                    ended = now()
                    duration = ended - started
                    spent += duration
                finally:
                    slots.release()

                if (
                    isinstance(outcome, HTTPOutcome)
                    and outcome.status == 401
                    and not refreshed_auth
                    and await auth.on_unauthorized(org_id, token)
                    and replayable  # renewed either way; a one-pass body is not re-sent
                ):
                    refreshed_auth = True
                    attempt -= 1  # a renewed credential gets a fresh attempt, once
                    continue

                decision = decide(
                    policy,
                    method=method,
                    attempt=attempt,
                    outcome=outcome,
                    elapsed=spent,
                    rng=self.rng,
                    idempotent=idempotent,
                )
                if logger.isEnabledFor(logging.DEBUG):
                    self._log(method, path, attempt, outcome, decision, admission.waited)
                if decision.verdict is Verdict.SUCCESS:
                    assert raw is not None
                    response = Response(raw.status, data, raw.headers.get("X-Request-Id"), attempt)
                    if observer is not None and call is not None:  # the answer just came: the end
                        observer.succeeded(
                            call, attempt, admission.waited, duration, raw, body, streamed, ended
                        )
                    return response
                if observer is not None and call is not None:  # request hooks
                    observer.attempt(
                        call, attempt, outcome, decision, admission.waited, duration, raw, body,
                        streamed,
                    )  # fmt: skip
                if decision.verdict is Verdict.RETRY:
                    stats.retries += 1
                    if decision.pause_scope is not None:
                        limiter.pause(scope, decision.pause_scope)
                    else:
                        await self.clock.sleep(decision.delay)
                    if decision.budgeted:
                        spent += decision.delay
                    continue
                secrets = [token, *held_secrets(self.auth, org_id)]
                common: dict[str, Any] = {
                    "method": method,
                    "path": path,
                    "attempts": attempt,
                    "waited": waited,
                    "org_id": org_id,
                }
                if isinstance(outcome, TransportOutcome):
                    raise failure_error(
                        outcome.kind,
                        failure_detail,
                        reason=decision.reason,
                        unknown=decision.verdict is Verdict.OUTCOME_UNKNOWN,
                        limit=too_large_limit,
                        **common,
                    )
                assert raw is not None
                raise self._status_error(outcome, raw, secrets, common)
        except TallyfyError as exc:
            # Every error a call ends in is counted and logged here, whatever raised it
            # (a status, the network, the token provider).
            stats.errors += 1
            logger.debug("%s %s failed: %s", method, path, type(exc).__name__)
            if observer is not None and call is not None:
                observer.finish(call, exc)
            raise
        except BaseException as exc:  # cancellation, or a bug: the hooks still see the end
            if observer is not None and call is not None:
                observer.finish(call, exc)
            raise

    async def send_unmetered(
        self,
        method: str,
        url: str,
        *,
        body: Body = None,
        extra_headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        total_timeout: float | None = None,
        attempt: int = 1,
    ) -> RawResponse:
        """One attempt that is not an API call: no bearer token, no rate-limit budget, no
        retry (an OAuth token request; its caller decides about retries). It goes through
        the same transport, so the same TLS settings, pool and body cap apply, and it is
        counted and logged like an API attempt; the body is never logged (it holds
        credentials). Raises ``TransportFailure`` as the transport does."""
        path = _path_of(url)
        try:
            raw = await self.transport.send(
                method,
                url,
                token=None,
                body=body,
                extra_headers=extra_headers,
                follow_redirects=follow_redirects,
                total_timeout=total_timeout,
            )
        except TransportFailure as failure:
            self.stats.requests += 1  # counted once it went out (not for a closed client)
            self.stats.transport_errors += 1
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s %s -> %s attempt=%d", method, path, failure.kind.value, attempt)
            raise
        self.stats.requests += 1
        status = raw.status
        self._count_status(status)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %d attempt=%d", method, path, status, attempt)
        return raw

    def _classify(
        self, raw: RawResponse, retry_after: float | None, decode: bool = True
    ) -> tuple[Outcome, Any, str]:
        """What an answer means for the retry policy, counted in the stats: its status (with
        the server's ``Retry-After``), the decoded JSON of a 2xx, or ``MALFORMED`` for a 2xx
        whose body is not JSON (a proxy's HTML page; nothing to hand to the caller)."""
        status = raw.status
        outcome = _SUCCESSES.get(status)
        if outcome is None:
            self._count_status(status)
            if not 200 <= status < 300:
                return HTTPOutcome(status, retry_after), None, ""
            outcome = HTTPOutcome(status)
        else:  # ``_count_status`` for a success, written out: this runs for every answer
            by_status = self.stats.by_status
            by_status[status] = by_status.get(status, 0) + 1
        body = raw.body
        if not body or body.isspace():  # not ``strip()``: that copies a whole page
            return outcome, None, ""
        if not decode:
            return outcome, body, ""
        try:
            return outcome, orjson.loads(body), ""
        except orjson.JSONDecodeError:
            self.stats.transport_errors += 1
            ctype = raw.header("Content-Type") or "no content type"
            detail = f"HTTP {status} with a body that is not valid JSON ({ctype})"
            return TransportOutcome(FailureKind.MALFORMED), None, detail

    def _count_status(self, status: int) -> None:
        stats = self.stats
        stats.by_status[status] = stats.by_status.get(status, 0) + 1
        if status == 429:
            stats.rate_limited += 1
        elif status >= 500:
            stats.server_errors += 1

    @staticmethod
    def _status_error(
        outcome: HTTPOutcome, raw: RawResponse, secrets: list[Secret], common: dict[str, Any]
    ) -> APIStatusError:
        """The error for an answer that was not a success (a 3xx not followed, a 4xx/5xx)."""
        if 300 <= outcome.status < 400:
            return RedirectError(
                raw.refused or f"HTTP {outcome.status} is not an answer",
                location=None if raw.location is None else scrub(raw.location, secrets),
                status=outcome.status,
                request_id=raw.header("X-Request-Id"),
                **common,
            )
        message, code, errors, body = _error_fields(raw, secrets)
        cls = error_class_for_status(outcome.status)
        error: APIStatusError = cls(
            message,
            status=outcome.status,
            code=code,
            request_id=raw.header("X-Request-Id"),
            errors=errors,
            body=body,
            retry_after=outcome.retry_after,
            **common,
        )
        if isinstance(error, AuthenticationError) and not message:
            error.message = "the token was rejected (expired, revoked, or wrong)"
        return error

    def _log(
        self,
        method: str,
        path: str,
        attempt: int,
        outcome: Outcome,
        decision: Decision,
        queued: float,
    ) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        result = str(outcome.status) if isinstance(outcome, HTTPOutcome) else outcome.kind.value
        extra = ""
        if decision.verdict is Verdict.RETRY:
            extra = f" retry in {decision.delay:.2f}s"
        elif decision.verdict is not Verdict.SUCCESS:
            extra = f" giving up: {decision.reason}"
        logger.debug(
            "%s %s -> %s attempt=%d queued=%.3fs%s",
            method,
            path,
            result,
            attempt,
            queued,
            extra,
        )


def failure_error(
    kind: FailureKind,
    detail: str,
    *,
    reason: str,
    unknown: bool,
    limit: int | None = None,
    **common: Any,
) -> TransportError:
    """The error for an attempt that got no usable answer, shared by API calls and token
    requests: ``ResponseTooLargeError`` (``limit`` is the cap), ``OutcomeUnknownError`` when
    a write may have been applied (``unknown``), else ``TransportError``. ``common`` holds
    method, path, attempts, waited and org_id."""
    method = common.get("method")
    if kind is FailureKind.TOO_LARGE:
        applied = (
            ""
            if method in ("GET", "HEAD", "OPTIONS")
            else f"; the server answered, so the {method} may have been applied"
        )
        return ResponseTooLargeError(f"{detail}{applied}", limit=limit or 0, **common)
    if unknown:
        return OutcomeUnknownError(
            f"{method} may have been applied: {detail or kind.value}; "
            "it was not re-sent. Check the resource before trying again",
            **common,
        )
    return TransportError(
        f"{detail or kind.value} ({reason})",
        sent=TransportOutcome(kind).sent,
        **common,
    )


def _path_of(url: str) -> str:
    """The path of ``url`` for a log line: no scheme, host or query (it may hold ids)."""
    return urlsplit(url).path or "/"


def _error_fields(
    raw: RawResponse, secrets: list[Secret]
) -> tuple[str, str | None, dict[str, list[str]], Any]:
    """Tallyfy's ``message``/``code``/``errors`` from an error body, tolerating HTML pages.

    Every string is scrubbed of the credentials the client holds (a server may echo the
    token it rejected, L2) before anything is cut, so no prefix of a secret survives a cut.
    """
    ctype = (raw.header("Content-Type") or "").lower()
    body: Any = None
    if raw.body:
        try:
            body = scrub_json(orjson.loads(raw.body), secrets)
        except orjson.JSONDecodeError:
            body = None
    if not isinstance(body, dict):
        kind = scrub(ctype.split(";")[0], secrets)[:60] or "empty"
        reason = _REASONS.get(raw.status, "error")
        return f"{reason} (non-JSON {kind} body)" if raw.body else reason, None, {}, None
    message = body.get("message")
    if not isinstance(message, str):
        error_value = body.get("error")
        message = error_value if isinstance(error_value, str) else _REASONS.get(raw.status, "")
    code = body.get("code")
    errors: dict[str, list[str]] = {}
    raw_errors = body.get("errors")
    if isinstance(raw_errors, dict):
        for name, value in raw_errors.items():
            if isinstance(value, list):
                errors[str(name)] = [str(v) for v in value]
            else:
                errors[str(name)] = [str(value)]
    code_text = code[:100] if isinstance(code, str) else None
    return message[:_MESSAGE_LIMIT], code_text, errors, body


_REASONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
