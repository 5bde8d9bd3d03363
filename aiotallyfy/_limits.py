"""Client-side rate limiting: use the budget the server allows, and stay under its limits.

Per scope (a token, and an organization), ``LocalRateLimiter`` keeps:

1. **The window, scheduled** (``acquire``): each ``RateLimit(N, S)`` hands every admission a
   time, the earliest at which it keeps N in any S seconds. A job of N or fewer requests all
   go at once (the budget is there to be used); beyond that, each waits for its own place, once.
   An explicit ``burst`` adds aiolimiter's leaky bucket: that many back to back, then a drip.
2. **An exact window guard** (``commit``): a log of the last N send times, checked right
   before a request is written. Requests queued for a connection after their scheduled time
   can bunch up; the guard is what makes "never more than N in any window of S seconds" hold.
3. **Feedback from the server**, owned by ``_feedback.ServerFeedback``: 429 pauses, the
   ``X-RateLimit-Remaining`` gate, and limits learned from bare 429s.

``RateLimiter`` is the seam for other backends (a shared limiter across processes): the client
calls ``acquire``, then ``commit`` right before writing the request (or ``release`` if it never
will), ``observe`` with each answer, ``pause`` on a 429 it will retry, and ``aclose``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ._clock import Clock, LoopClock
from ._feedback import FeedbackScope, FeedbackState, ServerFeedback
from ._limit_types import EPSILON, Admission, LimitScope, RateLimit, Window, window_span

__all__ = [
    "DEFAULT_TOKEN_RATE_LIMITS",
    "MAX_RATE_LIMIT_COUNT",
    "PACED_TOKEN_RATE_LIMITS",
    "SUPPORT_DOC_ORG_RATE_LIMITS",
    "Admission",
    "FeedbackScope",
    "LimitScope",
    "LocalRateLimiter",
    "RateLimit",
    "RateLimiter",
    "parse_rate_limit_count",
]

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


# Tallyfy's documented per-user limit: 600 requests per minute per authenticated user, rolling
# one-minute window (docs: api-clients/postman/troubleshooting, updated 2026-03-22). No burst
# number is published (open-api/index, updated 2026-07-19: "rapid bursts ... get throttled for
# a few seconds at a time", answered with 429 + Retry-After), so the default burst is the whole
# window and a burst throttle is met by the 429 feedback; see README "Burst policy".
DEFAULT_TOKEN_RATE_LIMITS: tuple[RateLimit, ...] = (RateLimit(600, 60.0),)

# The same limit, paced: a tenth of it back to back, then a steady 10/s (the default before
# issue 11), for a caller who would rather never meet Tallyfy's burst protection than finish
# sooner.
PACED_TOKEN_RATE_LIMITS: tuple[RateLimit, ...] = (RateLimit(600, 60.0, burst=60),)

# The older api-support README states 100/min and 1,000/hour per organization. Newer docs do
# not repeat it, so it is not a default; pass it as ``org_limits`` to be conservative.
SUPPORT_DOC_ORG_RATE_LIMITS: tuple[RateLimit, ...] = (RateLimit(100, 60.0), RateLimit(1000, 3600.0))


class RateLimiter(Protocol):
    """The limiter seam. All methods are called from the client's event loop."""

    async def acquire(self, scope: LimitScope) -> Admission:
        """Wait until the scope may send (pauses, the window's schedule, the remaining-requests
        gate)."""
        ...

    async def commit(self, admission: Admission) -> None:
        """Called right before the request is written: enforce the exact window bound and
        record the send. Waits only when requests bunched up after ``acquire``."""
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
        remaining: int | None,
        retry_after: float | None,
    ) -> None:
        """Feed back what the server said about its limit (``X-RateLimit-Remaining``,
        ``Retry-After``)."""
        ...

    def pause(self, scope: LimitScope, seconds: float) -> None:
        """Hold every request of ``scope`` for ``seconds`` (a 429's Retry-After plus jitter)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    """One scope's windows, looked up once: per limited scope (the org first, then the
    token), its windows; all of them flat; whether any paces; and the feedback state."""

    groups: tuple[tuple[Window, ...], ...]
    windows: tuple[Window, ...]
    paced: bool
    feedback: FeedbackState


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
        feedback_scope: FeedbackScope = "token",
        probe_initial: float = 0.5,
        probe_max: float = 30.0,
    ) -> None:
        self._token_limits = tuple(token_limits)
        self._org_limits = tuple(org_limits)
        self._clock = clock or LoopClock()
        self._margin_ratio = margin_ratio
        self._margin_min = margin_min
        self.feedback = ServerFeedback(
            self._token_limits,
            self._org_limits,
            clock=self._clock,
            rng=rng or random.Random(),
            scope=feedback_scope,
            margin_ratio=margin_ratio,
            margin_min=margin_min,
            probe_initial=probe_initial,
            probe_max=probe_max,
        )
        self._tokens: dict[str, tuple[Window, ...]] = {}
        self._orgs: dict[str, tuple[Window, ...]] = {}
        self._entries: dict[LimitScope, _Entry] = {}

    def __repr__(self) -> str:
        return (
            f"LocalRateLimiter(token_limits={[str(x) for x in self._token_limits]}, "
            f"org_limits={[str(x) for x in self._org_limits]})"
        )

    # -- scope bookkeeping ---------------------------------------------------------------
    def _windows(self, limits: Sequence[RateLimit]) -> tuple[Window, ...]:
        return tuple(
            Window(lim, window_span(lim, self._margin_ratio, self._margin_min)) for lim in limits
        )

    def _entry(self, scope: LimitScope) -> _Entry:
        entry = self._entries.get(scope)
        if entry is not None:
            return entry
        token = self._tokens.get(scope.token_key)
        if token is None:
            token = self._tokens[scope.token_key] = self._windows(self._token_limits)
        groups: tuple[tuple[Window, ...], ...] = (token,)
        if scope.org_id is not None:
            org = self._orgs.get(scope.org_id)
            if org is None:
                org = self._orgs[scope.org_id] = self._windows(self._org_limits)
            # The narrow scope first: its waits are longer, and the shared token capacity
            # should not be held while an org waits.
            groups = (org, token)
        windows = tuple(w for group in groups for w in group)
        entry = _Entry(
            groups=tuple(g for g in groups if g),
            windows=windows,
            paced=any(w.pacer is not None for w in windows),
            feedback=self.feedback.state(scope),
        )
        self._entries[scope] = entry
        return entry

    def _feedback_state(self, scope: LimitScope) -> FeedbackState:
        return self._entry(scope).feedback

    # -- the RateLimiter interface -------------------------------------------------------
    async def acquire(self, scope: LimitScope) -> Admission:
        entry = self._entry(scope)
        state = entry.feedback
        now = self._clock.now()
        if not entry.paced and self.feedback.ready(state, now):
            # The fast path: one clock read, no await, when nothing has to wait.
            for window in entry.windows:
                if window.earliest(now) > now:
                    break
            else:
                for window in entry.windows:
                    window.schedule.append(now)
                return Admission(scope=scope, sequence=self.feedback.take(state))
        await self.feedback.wait_paused(state)
        for group in entry.groups:
            for window in group:
                if window.pacer is not None:
                    await window.pacer.acquire()
            # One time for the whole group, taken in every window of it at once: each caller
            # gets its own place and sleeps once (no herd re-checking a full window).
            at = self._clock.now()
            start = max(window.earliest(at) for window in group)
            for window in group:
                window.schedule.append(start)
            if start - at > EPSILON:
                await self._clock.sleep(start - at)
        await self.feedback.wait(state)
        return Admission(
            scope=scope, sequence=self.feedback.take(state), waited=self._clock.now() - now
        )

    async def commit(self, admission: Admission) -> None:
        entry = self._entry(admission.scope)
        state = entry.feedback
        feedback = self.feedback
        started = now = self._clock.now()
        while True:
            wait = feedback.commit_wait(state, now)
            for window in entry.windows:
                needed = window.wait_needed(now)
                if needed > wait:
                    wait = needed
            if wait <= EPSILON:
                break
            await self._clock.sleep(wait)
            now = self._clock.now()
        for window in entry.windows:
            window.log.append(now)
        feedback.sent(state, now)
        if now != started:
            admission.waited += now - started
        admission.sent_at = now

    def note_sent(self, scope: LimitScope) -> None:
        """Count a send that another limiter admitted just now (the shared one this limiter
        stands in for), so that taking over mid-window does not start from an empty log."""
        now = self._clock.now()
        for window in self._entry(scope).windows:
            window.schedule.append(now)
            window.log.append(now)

    def release(self, admission: Admission) -> None:
        self.feedback.release(admission)

    def observe(
        self,
        admission: Admission,
        *,
        status: int | None,
        remaining: int | None,
        retry_after: float | None,
    ) -> None:
        pause = self.feedback.observe(
            admission, status=status, remaining=remaining, retry_after=retry_after
        )
        if pause is not None:
            self.pause(admission.scope, pause)

    def pause(self, scope: LimitScope, seconds: float) -> None:
        self.feedback.pause(self._entry(scope).feedback, seconds)

    async def aclose(self) -> None:
        self.feedback.close()

    def snapshot(self) -> dict[str, object]:
        """Counters for diagnostics: pauses, gate closures and learned limits per scope."""
        return self.feedback.snapshot()
