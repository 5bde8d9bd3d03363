"""Client-side rate limiting: stay under Tallyfy's limits instead of collecting 429s.

Three mechanisms, per scope (a token, and an organization):

1. **Pacing** with aiolimiter's leaky bucket, so requests leave as a smooth stream.
2. **An exact window guard**: a log of the last N send times per ``RateLimit``. A leaky bucket
   alone admits a full burst and then drips (aiolimiter #200, #240, #298), and requests paced
   through two buckets, or queued for a connection after pacing, can bunch up. The guard, checked
   right before a request is written, is what makes "never more than N in any window of S
   seconds" hold; the pacer only makes it rarely needed.
3. **Feedback from the server**: a 429's ``Retry-After`` pauses the whole scope (every queued
   request waits, not only the one that was refused), and ``X-RateLimit-Remaining`` closes the
   gate before the server would answer 429, so that a limit we were never told is found and
   held within a few requests.

``RateLimiter`` is the seam for other backends (a shared limiter across processes): the client
calls ``acquire``, then ``commit`` right before writing the request (or ``release`` if it never
will), ``observe`` with each answer, ``pause`` on a 429, and ``aclose``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from aiolimiter import AsyncLimiter

from ._clock import Clock, LoopClock

__all__ = [
    "DEFAULT_TOKEN_RATE_LIMITS",
    "MAX_RATE_LIMIT_COUNT",
    "SUPPORT_DOC_ORG_RATE_LIMITS",
    "Admission",
    "LimitScope",
    "LocalRateLimiter",
    "RateLimit",
    "RateLimiter",
    "committed",
    "parse_rate_limit_count",
]


# Waits shorter than this are treated as done: a clock that lands on a deadline computed from
# floats can come out a hair early, and sleeping 1e-16 s would not move it.
_EPSILON = 1e-6
_ACCEPTED_LOG = 10_000

# The largest X-RateLimit-* count taken at face value; more digits are not a count we know.
MAX_RATE_LIMIT_COUNT = 10**9
_COUNT = re.compile(r"[0-9]{1,10}")


def parse_rate_limit_count(value: str | None) -> int | None:
    """An ``X-RateLimit-Limit``/``-Remaining`` header as a count, or ``None`` (not known).

    Only plain ASCII decimal digits (and surrounding blanks) are a count, at most
    ``MAX_RATE_LIMIT_COUNT``: Python's ``int`` also reads ``-3``, ``+3``, ``1_000`` and other
    scripts' digits (``"٣"``), and a negative "remaining" would close the gate on a number
    the server cannot have meant (Laravel's throttle, which Tallyfy runs, never sends one).
    A header we do not understand is ignored, never guessed at: the window guard still holds.
    """
    if value is None:
        return None
    text = value.strip(" \t")
    if _COUNT.fullmatch(text) is None:
        return None
    count = int(text)
    return count if count <= MAX_RATE_LIMIT_COUNT else None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` in any window of ``seconds``.

    ``burst`` is how many may leave back to back before pacing sets in (default: a tenth of
    ``requests``). The window bound holds whatever the burst.
    """

    requests: int
    seconds: float
    burst: int | None = None

    def __post_init__(self) -> None:
        if self.requests < 1:
            raise ValueError("RateLimit.requests must be >= 1")
        if self.seconds <= 0:
            raise ValueError("RateLimit.seconds must be > 0")
        if self.burst is not None and not 1 <= self.burst <= self.requests:
            raise ValueError("RateLimit.burst must be between 1 and requests")

    @property
    def effective_burst(self) -> int:
        return self.burst if self.burst is not None else max(1, self.requests // 10)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"600/60"`` → ``RateLimit(600, 60)``: requests per seconds."""
        try:
            requests_text, seconds_text = text.split("/", 1)
            return cls(int(requests_text), float(seconds_text))
        except ValueError as exc:
            raise ValueError(f"expected N/SECONDS such as 600/60, got {text!r}") from exc

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}s"


# Tallyfy's documented per-user limit: 600 requests per minute per authenticated user, rolling
# one-minute window (docs: api-clients/postman/troubleshooting, updated 2026-03-22).
DEFAULT_TOKEN_RATE_LIMITS: tuple[RateLimit, ...] = (RateLimit(600, 60.0),)

# The older api-support README states 100/min and 1,000/hour per organization. Newer docs do
# not repeat it, so it is not a default; pass it as ``org_rate_limits`` to be conservative.
SUPPORT_DOC_ORG_RATE_LIMITS: tuple[RateLimit, ...] = (RateLimit(100, 60.0), RateLimit(1000, 3600.0))


@dataclass(frozen=True, slots=True)
class LimitScope:
    """Who a request counts against: a token (by a hash, never the token) and maybe an org."""

    token_key: str
    org_id: str | None = None

    @staticmethod
    def token_key_for(token: str) -> str:
        return "tok_" + hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Admission:
    """A request that passed pacing; ``commit`` records its send time."""

    scope: LimitScope
    sequence: int = 0
    waited: float = 0.0
    sent_at: float | None = None
    backend_state: object = None


class RateLimiter(Protocol):
    """The limiter seam. All methods are called from the client's event loop."""

    async def acquire(self, scope: LimitScope) -> Admission:
        """Wait until the scope may send (pauses, pacing, the remaining-requests gate)."""
        ...

    async def commit(self, admission: Admission) -> None:
        """Called right before the request is written: enforce the exact window bound and
        record the send. Waits only when requests bunched up after pacing."""
        ...

    def release(self, admission: Admission) -> None:
        """The admission will never be sent (cancelled, or ``commit`` failed): give back
        whatever ``acquire`` counted for it. A committed admission is left as it is."""
        ...

    def observe(
        self,
        admission: Admission,
        *,
        status: int | None,
        limit: int | None,
        remaining: int | None,
        retry_after: float | None,
    ) -> None:
        """Feed back what the server said about its limit."""
        ...

    def pause(self, scope: LimitScope, seconds: float) -> None:
        """Hold every request of ``scope`` for ``seconds`` (a 429's Retry-After plus jitter)."""
        ...

    async def aclose(self) -> None: ...


class _Window:
    """One ``RateLimit`` in one scope: an aiolimiter pacer plus an exact send log."""

    __slots__ = ("limit", "log", "pacer", "span")

    def __init__(self, limit: RateLimit, margin: float) -> None:
        self.limit = limit
        # The server times a request when it arrives, a little after we send it, and network
        # jitter can squeeze two sends closer together: widen the window by a margin.
        self.span = limit.seconds + margin
        burst = limit.effective_burst
        self.pacer = AsyncLimiter(burst, burst * self.span / limit.requests)
        self.log: deque[float] = deque(maxlen=limit.requests)

    def wait_needed(self, now: float) -> float:
        if len(self.log) < self.limit.requests:
            return 0.0
        return max(0.0, self.log[0] + self.span - now)


@dataclass(slots=True)
class _ScopeState:
    windows: list[_Window]
    # Not 0.0: a custom clock may read negative, and would then be paused for -now seconds.
    paused_until: float = -math.inf
    # X-RateLimit-Remaining as of the response to request ``remaining_sequence``. Sequences
    # number this state's own admissions (another scope's traffic is not in its count).
    remaining: int | None = None
    remaining_sequence: int = -1
    sent_sequence: int = 0
    # Admissions after ``remaining_sequence`` that were released unsent: not in the count.
    released: set[int] = field(default_factory=set)
    gate_changed: asyncio.Event | None = None
    closed_since: float | None = None
    probe_wait: float = 0.0
    stats: dict[str, int] = field(default_factory=lambda: {"paused": 0, "gated": 0, "learned": 0})
    # Send times of answered, admitted requests: what the server let through, for learning a
    # limit from bare 429s (no X-RateLimit-* headers).
    accepted: deque[float] = field(default_factory=lambda: deque(maxlen=_ACCEPTED_LOG))
    learned: _Window | None = None
    learned_sequence: int = 0


class LocalRateLimiter:
    """The in-process limiter: per-token and per-organization ``RateLimit`` sets.

    ``feedback_scope`` says which scope the server's rate-limit headers and 429s describe:
    ``"token"`` (Tallyfy documents its limit per authenticated user) or ``"org"``.
    """

    def __init__(
        self,
        token_limits: Sequence[RateLimit] = DEFAULT_TOKEN_RATE_LIMITS,
        org_limits: Sequence[RateLimit] = (),
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        margin_ratio: float = 0.01,
        margin_min: float = 0.05,
        feedback_scope: str = "token",
        probe_initial: float = 0.5,
        probe_max: float = 30.0,
    ) -> None:
        if feedback_scope not in ("token", "org"):
            raise ValueError("feedback_scope must be 'token' or 'org'")
        self._token_limits = tuple(token_limits)
        self._org_limits = tuple(org_limits)
        self._clock = clock or LoopClock()
        self._rng = rng or random.Random()
        self._margin_ratio = margin_ratio
        self._margin_min = margin_min
        self._feedback_scope = feedback_scope
        self._probe_initial = probe_initial
        self._probe_max = probe_max
        self._tokens: dict[str, _ScopeState] = {}
        self._orgs: dict[str, _ScopeState] = {}

    def __repr__(self) -> str:
        return (
            f"LocalRateLimiter(token_limits={[str(x) for x in self._token_limits]}, "
            f"org_limits={[str(x) for x in self._org_limits]})"
        )

    # -- scope bookkeeping ---------------------------------------------------------------
    def _window(self, limit: RateLimit) -> _Window:
        return _Window(limit, max(self._margin_min, limit.seconds * self._margin_ratio))

    def _new_state(self, limits: Sequence[RateLimit]) -> _ScopeState:
        return _ScopeState(windows=[self._window(lim) for lim in limits])

    def _states(self, scope: LimitScope) -> list[_ScopeState]:
        token_state = self._tokens.get(scope.token_key)
        if token_state is None:
            token_state = self._tokens[scope.token_key] = self._new_state(self._token_limits)
        if scope.org_id is None:
            return [token_state]
        org_state = self._orgs.get(scope.org_id)
        if org_state is None:
            org_state = self._orgs[scope.org_id] = self._new_state(self._org_limits)
        # The narrow scope first: its pacing is slower, and the shared token capacity should
        # not be held while an org waits.
        return [org_state, token_state]

    def _feedback_state(self, scope: LimitScope) -> _ScopeState:
        states = self._states(scope)
        if self._feedback_scope == "org" and scope.org_id is not None:
            return states[0]
        return states[-1]

    # -- the RateLimiter interface -------------------------------------------------------
    async def acquire(self, scope: LimitScope) -> Admission:
        states = self._states(scope)
        feedback = self._feedback_state(scope)
        started = self._clock.now()
        await self._wait_pauses(states)
        for state in states:
            for window in state.windows:
                await window.pacer.acquire()
        while True:
            await self._wait_pauses(states)
            if not await self._wait_gate(feedback):
                break
        # Counted now, not at commit: concurrent acquirers must not all see the same place
        # free. An admission that is never sent is given back by ``release``.
        feedback.sent_sequence += 1
        return Admission(
            scope=scope, sequence=feedback.sent_sequence, waited=self._clock.now() - started
        )

    async def commit(self, admission: Admission) -> None:
        states = self._states(admission.scope)
        started = self._clock.now()
        while True:
            now = self._clock.now()
            wait = max(
                [self._paused_for(states)] + [w.wait_needed(now) for s in states for w in s.windows]
            )
            if wait <= _EPSILON:
                break
            await self._clock.sleep(wait)
        now = self._clock.now()
        for state in states:
            for window in state.windows:
                window.log.append(now)
        admission.waited += now - started
        admission.sent_at = now

    def note_sent(self, scope: LimitScope) -> None:
        """Count a send that another limiter admitted just now (the shared one this limiter
        stands in for), so that taking over mid-window does not start from an empty log."""
        now = self._clock.now()
        for state in self._states(scope):
            for window in state.windows:
                window.log.append(now)

    def release(self, admission: Admission) -> None:
        if admission.sent_at is not None:
            return  # committed: it was (or is being) sent, and the server counts it
        state = self._feedback_state(admission.scope)
        if state.remaining is None:
            return
        if state.remaining_sequence < admission.sequence <= state.sent_sequence:
            state.released.add(admission.sequence)
            self._gate_changed(state)

    def observe(
        self,
        admission: Admission,
        *,
        status: int | None,
        limit: int | None,
        remaining: int | None,
        retry_after: float | None,
    ) -> None:
        state = self._feedback_state(admission.scope)
        if admission.sequence < state.remaining_sequence:
            return  # an older answer than the one we already hold
        if remaining is not None and remaining < 0:
            remaining = None  # not a count (parse_rate_limit_count never gives one)
        if status is not None and status < 400 and admission.sent_at is not None:
            state.accepted.append(admission.sent_at)
        if status == 429:
            if remaining is None and retry_after is not None:
                self._learn_from_bare_429(state, admission, retry_after)
            if state.remaining is not None or remaining is not None:
                # The server reports its count: after the pause, one request goes first and
                # its answer says how many more may follow. Without this, every queued request
                # would leave at once when the pause ends and meet a window that frees slots
                # one at a time.
                state.remaining = 1
                self._remaining_as_of(state, state.sent_sequence)
            if retry_after is None:
                # A bare 429 with no hint: hold the scope briefly so the queue does not storm.
                self._pause_state(
                    state, self._probe_initial + self._rng.uniform(0, self._probe_initial)
                )
            self._gate_changed(state)
        elif remaining is not None:
            state.remaining = remaining
            self._remaining_as_of(state, admission.sequence)
            self._gate_changed(state)

    def pause(self, scope: LimitScope, seconds: float) -> None:
        self._pause_state(self._feedback_state(scope), seconds)

    async def aclose(self) -> None:
        for state in [*self._tokens.values(), *self._orgs.values()]:
            self._gate_changed(state)

    # -- internals -----------------------------------------------------------------------
    @staticmethod
    def _remaining_as_of(state: _ScopeState, sequence: int) -> None:
        state.remaining_sequence = sequence
        state.released = {s for s in state.released if s > sequence}

    def _learn_from_bare_429(
        self, state: _ScopeState, admission: Admission, retry_after: float
    ) -> None:
        """Infer the server's window from a 429 that carries only ``Retry-After``.

        A sliding- or fixed-window server refuses once the requests it accepted in its window
        reach N, and says to retry when the oldest of them leaves the window. So, counting the
        requests it accepted since we began (or, once learned, in the learned window), N is
        that count and the window ends ``retry_after`` from now. The learned limit then paces
        and guards the scope like a configured one; a later bare 429 shrinks it by a tenth.
        """
        now = self._clock.now()
        if not state.accepted:
            return
        if state.learned is not None and admission.sequence <= state.learned_sequence:
            return  # sent before we learned: the same episode, already accounted for
        if state.learned is None:
            oldest = state.accepted[0]
            span = max(0.001, now + retry_after - oldest)
            count = len(state.accepted)
        else:
            span = state.learned.limit.seconds
            count = max(1, int(state.learned.limit.requests * 0.9))
        limit = RateLimit(max(1, count), span, burst=1)
        window = self._window(limit)
        # Seed the guard with what the server already counts, so the scope does not burst
        # again the moment the pause ends.
        window.log.extend(list(state.accepted)[-limit.requests :])
        if state.learned is not None:
            state.windows.remove(state.learned)
        state.learned = window
        state.learned_sequence = state.sent_sequence
        state.windows.append(window)
        state.stats["learned"] += 1

    def _pause_state(self, state: _ScopeState, seconds: float) -> None:
        until = self._clock.now() + max(0.0, seconds)
        if until > state.paused_until:
            state.paused_until = until
            state.stats["paused"] += 1

    def _paused_for(self, states: Sequence[_ScopeState]) -> float:
        now = self._clock.now()
        return max(0.0, max(s.paused_until for s in states) - now)

    async def _wait_pauses(self, states: Sequence[_ScopeState]) -> None:
        while (wait := self._paused_for(states)) > _EPSILON:
            await self._clock.sleep(wait)

    def _gate_changed(self, state: _ScopeState) -> None:
        if state.gate_changed is not None:
            state.gate_changed.set()
            state.gate_changed = None

    def _available(self, state: _ScopeState) -> int | None:
        """Requests the server said we may still send, minus those sent since it said so."""
        if state.remaining is None:
            return None
        sent_since = state.sent_sequence - state.remaining_sequence - len(state.released)
        return state.remaining - sent_since

    async def _wait_gate(self, state: _ScopeState) -> bool:
        """Hold while the server's remaining count is used up. Returns True if it waited.

        The gate reopens when a response reports capacity again. If nothing is in flight to
        tell us, one request goes out as a probe after a growing wait: the worst it can get is
        a 429 whose Retry-After then says exactly how long to pause.
        """
        available = self._available(state)
        if available is None or available > 0:
            state.closed_since = None
            state.probe_wait = 0.0
            return False
        state.stats["gated"] += 1
        now = self._clock.now()
        if state.closed_since is None:
            state.closed_since = now
            state.probe_wait = self._probe_initial
        event = state.gate_changed
        if event is None:
            event = state.gate_changed = asyncio.Event()
        deadline = state.closed_since + state.probe_wait
        timeout = deadline - now
        if timeout <= _EPSILON:
            # Probe: let exactly one request through and back the next probe off.
            state.closed_since = now
            state.probe_wait = min(self._probe_max, state.probe_wait * 2)
            state.remaining = (state.remaining or 0) + 1
            return False
        waiter = asyncio.ensure_future(event.wait())
        try:
            sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
        finally:
            waiter.cancel()
        return True

    def snapshot(self) -> dict[str, object]:
        """Counters for diagnostics: pauses and gate closures per scope."""
        return {
            "tokens": {k: dict(v.stats) for k, v in self._tokens.items()},
            "orgs": {k: dict(v.stats) for k, v in self._orgs.items()},
        }


@asynccontextmanager
async def committed(
    limiter: RateLimiter, admission: Admission, slots: asyncio.Semaphore
) -> AsyncIterator[None]:
    """Hold one of ``slots`` (a connection) and commit ``admission``, for the block that sends.

    The admission was counted at ``acquire``; if it never reaches the wire (cancelled while
    queued for a slot or in ``commit``, or ``commit`` failed) it is released, so the
    ``X-RateLimit-Remaining`` gate does not count a request the server never saw.
    """
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
        yield
    finally:
        slots.release()
