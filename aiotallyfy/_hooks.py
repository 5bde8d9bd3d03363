"""Request hooks: the facts of every call and attempt, for metrics and traces.

A service that calls Tallyfy wants to see, on its own dashboards, how many calls it makes, how
long they take, how often they are rate limited or retried, and how long they queue in the
limiter. ``RequestHooks`` is the one interface for that: subclass it (a Prometheus exporter,
a log line, a test probe) and pass it to ``TallyfyClient(hooks=[...])``. The OpenTelemetry
support (``aiotallyfy.otel``) is one implementation of it, not a second mechanism (alone on a
client it brings its own observer for the common case: ``make_observer``).

Three moments, all on the calling task, in order: ``on_call_start`` (a logical call begins:
``client.tasks.get(...)``, one page of a list), ``on_attempt`` after each attempt the retry
policy judged (for a hook with ``successful_attempts = False``, each that did not succeed),
``on_call_end`` when the call returns or raises (cancellation included). Each
gets the same facts (``CallInfo``: method, route template, organization); what
``on_call_start`` returns is handed back to the other two, so a hook keeps per-call state
(a span) without a lookup.

Cost: with no hooks the request loop pays one ``is not None`` check per call and per attempt
(``benchmarks/observability_overhead.py``). With hooks, the observer is called from the loop
itself (no wrapping coroutine, no context variable), a method a hook does not override is
never called, and a record no hook reads is never built. The three records are named tuples:
immutable (every hook sees the same object) and built several times faster than frozen
dataclasses, which matters at one per attempt. A hook that raises is logged (the first time,
with its traceback) and otherwise ignored: a broken dashboard must not fail API calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from ._clock import Clock
from ._errors import OutcomeUnknownError
from ._retry import Decision, HTTPOutcome, Outcome, Verdict
from ._routes import route_template
from ._transport import RawResponse

__all__ = ["AttemptInfo", "CallInfo", "CallResult", "Observer", "RequestHooks", "make_observer"]

logger = logging.getLogger("aiotallyfy")

S = TypeVar("S")


class CallInfo(NamedTuple):
    """One logical call, as a hook sees it. Never the raw path: ids and guest e-mails in a
    path are unbounded and personal; ``route`` is its template
    (``/organizations/{org}/runs/{run}/tasks/{task}``). ``org_id`` is the organization whose
    rate-limit scope the call is in (``None`` for ``/me``...): a hook decides whether to
    record it. ``server_address``/``server_port`` are the base URL's host and port."""

    method: str
    route: str
    org_id: str | None
    server_address: str
    server_port: int


class AttemptInfo(NamedTuple):
    """One attempt, after the retry policy judged it.

    - ``status``: the HTTP status, ``None`` when no answer came (then ``error`` says why:
      ``connect``, ``disconnected``, ``timeout``, ``tls``, ``too_large``; ``malformed`` comes
      with the 2xx status whose body was not JSON).
    - ``duration``: seconds from the send to the answer; queueing is not in it.
    - ``limiter_wait``: seconds this attempt queued in the rate limiter before it was sent.
    - ``verdict``: ``success``, ``retry``, ``fail`` or ``outcome_unknown`` (a write that may
      have been applied and is not re-sent).
    - ``retry_in``: the wait before the next attempt (``verdict == "retry"``), and
      ``scope_paused``: that wait holds the whole rate-limit scope (a 429's ``Retry-After``).
    - ``request_bytes``/``response_bytes``: body sizes; ``None`` for a streamed file body.

    An attempt answered 401 after which the token was renewed is not reported: it does not
    count as an attempt (``Response.attempts``), the retry with the new token does.
    """

    call: CallInfo
    number: int
    status: int | None
    error: str | None
    duration: float
    limiter_wait: float
    verdict: str
    retry_in: float | None
    scope_paused: bool
    request_bytes: int | None
    response_bytes: int | None


class CallResult(NamedTuple):
    """How a call ended.

    - ``outcome``: ``success``, ``error``, ``outcome_unknown`` (``OutcomeUnknownError``) or
      ``cancelled``.
    - ``status``: the last HTTP status seen (``None`` if no attempt got an answer).
    - ``error_type``: the exception's class name (never its message: messages name paths).
    - ``duration``: the whole call, limiter queueing and retry waits included.
    - ``limiter_wait``: the sum over its attempts; ``rate_limited``: 429 answers seen.
    - ``request_bytes``/``response_bytes``, ``last_limiter_wait``: of the last attempt (its
      limiter wait ``0.0`` when no attempt was made).
    """

    call: CallInfo
    outcome: str
    status: int | None
    error_type: str | None
    attempts: int
    retries: int
    rate_limited: int
    duration: float
    limiter_wait: float
    request_bytes: int | None
    response_bytes: int | None
    last_limiter_wait: float


class RequestHooks(Generic[S]):
    """Override any of the three methods; the defaults do nothing.

    ``on_call_start`` returns the per-call state ``S`` passed back to ``on_attempt`` and
    ``on_call_end``. All three run on the task that made the call, synchronously: keep them
    cheap and never block (hand slow work to a queue).

    ``successful_attempts = False`` (a class attribute) tells ``on_attempt`` only of the
    attempts that did not succeed: a call that succeeds at its first attempt (almost all of
    them) then costs one record and one call less. The successful attempt's facts are in
    ``on_call_end``'s ``CallResult``: ``status``, the sizes, ``last_limiter_wait``, its
    number is ``attempts`` (its duration alone is not).
    """

    successful_attempts: ClassVar[bool] = True

    def on_call_start(self, call: CallInfo) -> S:
        return None  # type: ignore[return-value]  # S is None for a stateless hook

    def on_attempt(self, state: S, attempt: AttemptInfo) -> None:
        return None

    def on_call_end(self, state: S, result: CallResult) -> None:
        return None


# What the observer tracks for one call in flight (a local of the request loop): a list built
# from a literal (one allocation, no ``__init__`` frame), read by position: the ``CallInfo``;
# the start time; the hook's state (one hook) or the hooks' states (a list, several); the last
# ``AttemptInfo`` (attempts, status, sizes and retries follow from it); the limiter waits'
# sum; the 429s seen.
_CallState = list[Any]
_CALL, _STARTED, _STATES, _LAST, _WAITED, _RATE_LIMITED = range(6)

_NOT_STARTED: Any = object()  # the state of a hook whose ``on_call_start`` raised
_CALL_CACHE_LIMIT = 4096
# The records are built with ``tuple.__new__`` directly: a named tuple's own ``__new__`` is a
# Python function, one more frame per attempt and per call for the same tuple.
_new = tuple.__new__
_RETRY = Verdict.RETRY  # an enum member read from its class costs ~0.15 us each time
_RETRY_VALUE = Verdict.RETRY.value
_SUCCESS_VALUE = Verdict.SUCCESS.value


def _overrides(hook: RequestHooks[Any], name: str) -> bool:
    """Whether ``hook`` has its own ``name``: the base class's do-nothing methods are skipped."""
    return getattr(type(hook), name) is not getattr(RequestHooks, name)


def _outcome_of(error: BaseException) -> str:
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if isinstance(error, OutcomeUnknownError):
        return "outcome_unknown"
    return "error"


class Observer:
    """Turns the request loop's locals into ``CallInfo``/``AttemptInfo``/``CallResult`` and hands
    them to every hook. One per client; ``HTTPCore.request`` calls ``start`` once per call,
    ``attempt`` after each judged attempt that did not succeed, ``succeeded`` for the one that
    did (the attempt and the call's end in one step), and ``finish`` when the call raises.

    Per call and per attempt this is the hooks' whole cost in the loop, so it is lean: the
    loop hands over the clock readings it takes anyway (the call's start, the end of a
    successful call), the per-call state is one list, ``attempt`` keeps only the record (whose
    facts ``finish`` reads back) and two sums, and does nothing at all when no hook reads
    attempts or results; ``succeeded`` builds the result from what it is handed, and the
    attempt's record only for a hook told of successful attempts. With exactly one hook (the
    usual case: one exporter) its methods are bound once and called directly, with no loop
    over hooks and no list of states.
    """

    __slots__ = (
        "_attempts",
        "_broken",
        "_calls",
        "_count",
        "_ends",
        "_hooks",
        "_now",
        "_on_attempt",
        "_on_end",
        "_on_start",
        "_on_success",
        "_port",
        "_server",
        "_starts",
        "_successes",
        "_tracks",
    )

    def __init__(
        self, hooks: Sequence[RequestHooks[Any]], *, clock: Clock, server: str, port: int
    ) -> None:
        self._hooks = tuple(hooks)
        self._count = len(self._hooks)
        # Who implements what, worked out once: (position, hook) of each overriding hook.
        self._starts = tuple((i, h) for i, h in enumerate(hooks) if _overrides(h, "on_call_start"))
        self._attempts = tuple((i, h) for i, h in enumerate(hooks) if _overrides(h, "on_attempt"))
        self._ends = tuple((i, h) for i, h in enumerate(hooks) if _overrides(h, "on_call_end"))
        # Those told of the attempt a call succeeds with too (``successful_attempts``).
        self._successes = tuple((i, h) for i, h in self._attempts if h.successful_attempts)
        self._tracks = bool(self._attempts or self._ends)  # whether ``attempt`` has work
        # One hook: its overriding methods, bound once (``None``: not overridden).
        one = self._hooks[0] if self._count == 1 else None
        self._on_start = one.on_call_start if one is not None and self._starts else None
        self._on_attempt = one.on_attempt if one is not None and self._attempts else None
        self._on_success = self._on_attempt if self._successes else None
        self._on_end = one.on_call_end if one is not None and self._ends else None
        self._now = clock.now
        self._calls: dict[tuple[str, str, str | None], CallInfo] = {}
        self._server = server
        self._port = port
        self._broken: set[int] = set()

    def start(self, method: str, path: str, org_id: str | None, started: float) -> _CallState:
        """A call begins at ``started`` (the request loop's clock, read by the loop)."""
        key = (method, path, org_id)
        call = self._calls.get(key)
        if call is None:
            call = self._new_call(key)
        if self._count == 1:
            # A hook that keeps the default ``on_call_start`` has the state it would return.
            state: Any = None
            if self._on_start is not None:
                try:
                    state = self._on_start(call)
                except Exception as exc:
                    self._failed(self._hooks[0], exc)
                    state = _NOT_STARTED  # this call is not reported to that hook again
            return [call, started, state, None, 0.0, 0]
        states: list[Any] = [None] * self._count
        for i, hook in self._starts:
            try:
                states[i] = hook.on_call_start(call)
            except Exception as exc:
                self._failed(hook, exc)
                states[i] = _NOT_STARTED
        return [call, started, states, None, 0.0, 0]

    def _new_call(self, key: tuple[str, str, str | None]) -> CallInfo:
        """The ``CallInfo`` of a method, path and organization, cached: it is immutable, so
        one serves every call with those."""
        method, path, org_id = key
        call = CallInfo(method.upper(), route_template(path), org_id, self._server, self._port)
        if len(self._calls) >= _CALL_CACHE_LIMIT:
            self._calls.clear()  # paths carry ids: the cache must not grow with them
        self._calls[key] = call
        return call

    def attempt(
        self,
        state: _CallState,
        number: int,
        outcome: Outcome,
        decision: Decision,
        limiter_wait: float,
        duration: float,
        raw: RawResponse | None,
        body: bytes | None,
        streamed: bool,
    ) -> None:
        """Called by the request loop after each judged attempt (``HTTPCore.request``)."""
        if not self._tracks:
            return  # no hook reads attempts or results
        verdict = decision.verdict
        retrying = verdict is _RETRY
        if raw is None:
            status = response_bytes = None
        else:
            status = raw.status
            response_bytes = None if streamed else len(raw.body)
        info: AttemptInfo = _new(
            AttemptInfo,
            (
                state[_CALL],
                number,
                status,
                None if isinstance(outcome, HTTPOutcome) else outcome.kind.value,
                duration,
                limiter_wait,
                verdict._value_,  # not ``.value``: a slow descriptor
                decision.delay if retrying else None,
                retrying and decision.pause_scope is not None,
                None if streamed else len(body) if body is not None else 0,
                response_bytes,
            ),
        )
        state[_LAST] = info
        state[_WAITED] += limiter_wait
        if status == 429:
            state[_RATE_LIMITED] += 1
        self._tell_attempt(state[_STATES], info, self._on_attempt, self._attempts)

    def succeeded(
        self,
        state: _CallState,
        number: int,
        limiter_wait: float,
        duration: float,
        raw: RawResponse,
        body: bytes | None,
        streamed: bool,
        ended: float,
    ) -> None:
        """Attempt ``number`` succeeded and the call returns at ``ended``: ``attempt`` and
        ``finish`` in one step, for the request loop's common end. Its facts are known here
        (a 2xx, no error, no retry), so nothing is read back from a record, and a record no
        hook reads is not built."""
        if not self._tracks:
            return
        call = state[_CALL]
        status = raw.status
        request_bytes = None if streamed else len(body) if body is not None else 0
        response_bytes = None if streamed else len(raw.body)
        if self._successes:
            info: AttemptInfo = _new(
                AttemptInfo,
                (
                    call, number, status, None, duration, limiter_wait, _SUCCESS_VALUE, None,
                    False, request_bytes, response_bytes,
                ),
            )  # fmt: skip
            self._tell_attempt(state[_STATES], info, self._on_success, self._successes)
        if not self._ends:
            return
        result: CallResult = _new(
            CallResult,
            (
                call, "success", status, None, number, number - 1, state[_RATE_LIMITED],
                ended - state[_STARTED], state[_WAITED] + limiter_wait, request_bytes,
                response_bytes, limiter_wait,
            ),
        )  # fmt: skip
        self._tell_end(state[_STATES], result)

    def _tell_attempt(
        self,
        states: Any,
        info: AttemptInfo,
        one: Callable[[Any, AttemptInfo], None] | None,
        told: tuple[tuple[int, RequestHooks[Any]], ...],
    ) -> None:
        """``on_attempt`` of the one hook (``one``: its bound method, ``states``: its state),
        or of each of several hooks in ``told`` (``states``: their states)."""
        if one is not None:
            if states is not _NOT_STARTED:
                try:
                    one(states, info)
                except Exception as exc:
                    self._failed(self._hooks[0], exc)
            return
        if self._count == 1:
            return  # the one hook is not told of this attempt
        for i, hook in told:
            hook_state = states[i]
            if hook_state is _NOT_STARTED:
                continue
            try:
                hook.on_attempt(hook_state, info)
            except Exception as exc:
                self._failed(hook, exc)

    def finish(self, state: _CallState, error: BaseException) -> None:
        """The call raised ``error`` (a call that returns ends in ``succeeded``)."""
        if not self._ends:
            return  # no hook reads results: the record is not built
        last: AttemptInfo | None = state[_LAST]
        if last is None:  # no attempt was judged (the token provider or the limiter raised)
            attempts = retries = 0
            status = request_bytes = response_bytes = None
            last_wait = 0.0
        else:
            attempts = last.number
            status = last.status
            # Every judged attempt but the last was retried; the last, if cancelled or
            # failed in its retry wait.
            retries = attempts if last.verdict == _RETRY_VALUE else attempts - 1
            request_bytes = last.request_bytes
            response_bytes = last.response_bytes
            last_wait = last.limiter_wait
        result: CallResult = _new(
            CallResult,
            (
                state[_CALL],
                _outcome_of(error),
                status,
                type(error).__name__,
                attempts,
                retries,
                state[_RATE_LIMITED],
                self._now() - state[_STARTED],
                state[_WAITED],
                request_bytes,
                response_bytes,
                last_wait,
            ),
        )
        self._tell_end(state[_STATES], result)

    def _tell_end(self, states: Any, result: CallResult) -> None:
        """``on_call_end`` of the hook (``states``: its state) or of each hook (their states)."""
        if self._on_end is not None:  # one hook
            if states is not _NOT_STARTED:
                try:
                    self._on_end(states, result)
                except Exception as exc:
                    self._failed(self._hooks[0], exc)
            return
        for i, hook in self._ends:
            hook_state = states[i]
            if hook_state is _NOT_STARTED:
                continue
            try:
                hook.on_call_end(hook_state, result)
            except Exception as exc:
                self._failed(hook, exc)

    def _failed(self, hook: RequestHooks[Any], exc: Exception) -> None:
        if id(hook) in self._broken:
            return
        self._broken.add(id(hook))
        logger.warning(
            "request hook %s raised %s; ignored (further errors from it are not logged)",
            type(hook).__name__,
            type(exc).__name__,
            exc_info=exc,
        )


def make_observer(
    hooks: Sequence[RequestHooks[Any]], *, clock: Clock, server: str, port: int
) -> Observer | None:
    """The request loop's observer for ``hooks`` (``None`` without hooks: the loop then pays
    one ``is not None`` check).

    A hook that is the client's only one may supply its own: a ``_solo_observer(clock=...,
    server=..., port=...)`` method returning an ``Observer`` subclass that tells that hook of
    the common case (a call's start, its success) without building the records, or ``None``
    to be observed like any hook. ``OpenTelemetryHooks`` does (the records and their
    dispatch were most of its own cost); it must record exactly what its ``RequestHooks``
    methods record, which a test checks by running the same calls with it alone and beside
    another hook.
    """
    if not hooks:
        return None
    if len(hooks) == 1:
        solo = getattr(hooks[0], "_solo_observer", None)
        observer: Observer | None = (
            None if solo is None else solo(clock=clock, server=server, port=port)
        )
        if observer is not None:
            return observer
    return Observer(hooks, clock=clock, server=server, port=port)
