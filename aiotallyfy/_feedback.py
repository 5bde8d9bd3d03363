"""The one owner of what the server says about its limit, for every limiter.

Configured limits are the client's promise; the server's answers are the truth. Both the local
and the Redis limiter hand every answer to a ``ServerFeedback`` and ask it, before a request
goes, whether the server lets it:

1. **Pauses.** A 429's ``Retry-After`` holds the whole scope: every queued request waits, not
   only the one that was refused. A 429 without one holds it briefly (a probe pause) so the
   queue does not storm.
2. **The remaining-requests gate.** ``X-RateLimit-Remaining`` closes the gate before the
   server would answer 429, counting the requests sent since the count was taken (not those
   given back unsent). While it is shut and nothing in flight can reopen it, one request goes
   out as a probe after a growing wait. A later answer that carries no count says the server
   stopped reporting one: the gate opens (the windows and pauses still hold).
3. **Limits learned from bare 429s** (no ``X-RateLimit-*``): the server's window is inferred
   from what it accepted and when it says to retry, and held like a configured limit, paced
   one at a time. Another bare 429 shrinks it by a tenth. A clean, full window (its span
   passed, at least its count accepted, no refusal) grows it by 1, the next by 2, then 4, ...
   (gently near the limit just found, fast when the server now allows far more), so a limit
   the server raised is found again; it is dropped once a configured limit is as strict.

Which scope the server's answers describe is ``FeedbackScope``: the token (Tallyfy documents
its limit per authenticated user) or the organization.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._clock import Clock
from ._limit_types import EPSILON, Admission, LimitScope, RateLimit, Window, window_span

__all__ = ["FeedbackScope", "FeedbackState", "ServerFeedback"]

FeedbackScope = Literal["token", "org"]

_ACCEPTED_LOG = 10_000
_SHRINK = 0.9  # a bare 429 after learning: the learned count times this


@dataclass(slots=True)
class FeedbackState:
    """What the server said about one scope (a token, or an org with ``FeedbackScope="org"``)."""

    # Not 0.0: a custom clock may read negative, and would then be paused for -now seconds.
    paused_until: float = -math.inf
    # X-RateLimit-Remaining as of the answer to admission ``remaining_sequence``. Sequences
    # number this state's own admissions (another scope's traffic is not in its count).
    remaining: int | None = None
    remaining_sequence: int = -1
    sent_sequence: int = 0
    # Admissions after ``remaining_sequence`` that were released unsent: not in the count.
    released: set[int] = field(default_factory=set)
    gate_changed: asyncio.Event | None = None
    closed_since: float | None = None
    probe_wait: float = 0.0
    stats: dict[str, int] = field(
        default_factory=lambda: {"paused": 0, "gated": 0, "learned": 0, "grown": 0}
    )
    # Send times of answered, admitted requests: what the server let through, for learning a
    # limit from bare 429s (no X-RateLimit-* headers).
    accepted: deque[float] = field(default_factory=lambda: deque(maxlen=_ACCEPTED_LOG))
    accepted_total: int = 0
    learned: Window | None = None
    learned_sequence: int = 0
    # When the learned limit last changed, and ``accepted_total`` then: a window is "clean and
    # full" once its span has passed and its count was accepted since.
    learned_at: float = 0.0
    learned_accepted: int = 0
    # What the next clean window adds to the learned count; doubles after each, back to 1
    # when the limit is learned or shrunk.
    growth: int = 1
    # The configured limits of this scope: a learned limit that grows to what they allow no
    # longer binds and is dropped.
    configured: tuple[RateLimit, ...] = ()

    def available(self) -> int | None:
        """Requests the server said we may still send, minus those sent since it said so."""
        if self.remaining is None:
            return None
        sent_since = self.sent_sequence - self.remaining_sequence - len(self.released)
        return self.remaining - sent_since


class ServerFeedback:
    """Pauses, the remaining-requests gate with probes, and learned limits, per scope.

    ``remaining_gate=False`` ignores ``X-RateLimit-Remaining`` (the Redis limiter's default:
    the count includes every process's requests, see ``_redis_limiter``).
    """

    def __init__(
        self,
        token_limits: Sequence[RateLimit] = (),
        org_limits: Sequence[RateLimit] = (),
        *,
        clock: Clock,
        rng: random.Random,
        scope: FeedbackScope = "token",
        margin_ratio: float = 0.01,
        margin_min: float = 0.05,
        probe_initial: float = 0.5,
        probe_max: float = 30.0,
        remaining_gate: bool = True,
    ) -> None:
        if scope not in ("token", "org"):
            raise ValueError("feedback_scope must be 'token' or 'org'")
        self.scope: FeedbackScope = scope
        self._token_limits = tuple(token_limits)
        self._org_limits = tuple(org_limits)
        self._clock = clock
        self._rng = rng
        self._margin_ratio = margin_ratio
        self._margin_min = margin_min
        self.probe_initial = probe_initial
        self._probe_max = probe_max
        self._remaining_gate = remaining_gate
        self._tokens: dict[str, FeedbackState] = {}
        self._orgs: dict[str, FeedbackState] = {}

    # -- scopes ---------------------------------------------------------------------------
    def state(self, scope: LimitScope) -> FeedbackState:
        if self.scope == "org" and scope.org_id is not None:
            states, key, limits = self._orgs, scope.org_id, self._org_limits
        else:
            states, key, limits = self._tokens, scope.token_key, self._token_limits
        state = states.get(key)
        if state is None:
            state = states[key] = FeedbackState(configured=limits)
        return state

    def window(self, limit: RateLimit) -> Window:
        return Window(limit, window_span(limit, self._margin_ratio, self._margin_min))

    # -- before a request goes --------------------------------------------------------------
    @staticmethod
    def ready(state: FeedbackState, now: float) -> bool:
        """Nothing to wait for (the fast path): not paused, the gate open, nothing learned."""
        if state.paused_until - now > EPSILON or state.learned is not None:
            return False
        available = state.available()
        if available is not None and available <= 0:
            return False
        if state.closed_since is not None:  # the gate reopened: the next closure starts afresh
            state.closed_since = None
            state.probe_wait = 0.0
        return True

    async def wait(self, state: FeedbackState) -> None:
        """Wait out pauses, the learned window's pacing, and the remaining-requests gate."""
        await self.wait_paused(state)
        learned = state.learned
        if learned is not None:
            if learned.pacer is not None:
                await learned.pacer.acquire()
            now = self._clock.now()
            start = learned.earliest(now)
            learned.schedule.append(start)
            if start - now > EPSILON:
                await self._clock.sleep(start - now)
        while True:
            await self.wait_paused(state)
            if not await self._wait_gate(state):
                return

    @staticmethod
    def take(state: FeedbackState) -> int:
        """Count an admission now, not at commit: concurrent acquirers must not all see the
        same place free. An admission that is never sent is given back by ``release``."""
        state.sent_sequence += 1
        return state.sent_sequence

    def paused_for(self, state: FeedbackState, now: float) -> float:
        return max(0.0, state.paused_until - now)

    async def wait_paused(self, state: FeedbackState) -> None:
        while (wait := state.paused_until - self._clock.now()) > EPSILON:
            await self._clock.sleep(wait)

    @staticmethod
    def commit_wait(state: FeedbackState, now: float) -> float:
        """How long a send at ``now`` must still wait: a pause, or the learned window."""
        wait = state.paused_until - now
        learned = state.learned
        if learned is not None:
            wait = max(wait, learned.wait_needed(now))
        return wait

    @staticmethod
    def sent(state: FeedbackState, now: float) -> None:
        if state.learned is not None:
            state.learned.log.append(now)

    def release(self, admission: Admission) -> None:
        """Give back the gate's place of an admission that was never sent."""
        if admission.sent_at is not None:
            return  # committed: it was (or is being) sent, and the server counts it
        state = self.state(admission.scope)
        if state.remaining is None:
            return
        if state.remaining_sequence < admission.sequence <= state.sent_sequence:
            state.released.add(admission.sequence)
            self._gate_changed(state)

    # -- after an answer ------------------------------------------------------------------
    def observe(
        self,
        admission: Admission,
        *,
        status: int | None,
        remaining: int | None,
        retry_after: float | None,
    ) -> float | None:
        """Take in one answer. Returns a pause the limiter should apply to the scope (a bare
        429's probe pause), or ``None``."""
        state = self.state(admission.scope)
        if admission.sequence < state.remaining_sequence:
            return None  # an older answer than the one we already hold
        if not self._remaining_gate or (remaining is not None and remaining < 0):
            remaining = None  # ignored, or not a count (parse_rate_limit_count never gives one)
        if status is not None and status < 400 and admission.sent_at is not None:
            state.accepted.append(admission.sent_at)
            state.accepted_total += 1
            if state.learned is not None:
                self._maybe_grow(state)
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
            self._gate_changed(state)
            if retry_after is None:
                # A bare 429 with no hint: hold the scope briefly so the queue does not storm.
                return self.probe_initial + self._rng.uniform(0, self.probe_initial)
            return None
        if remaining is not None:
            state.remaining = remaining
            self._remaining_as_of(state, admission.sequence)
            self._gate_changed(state)
        elif (
            state.remaining is not None
            and status is not None
            and status < 500
            and admission.sequence > state.remaining_sequence
        ):
            # An answer to a request sent after the count was taken, and no count in it: the
            # server no longer reports one. Waiting for a count that never comes would send
            # one probe at a time, with doubling waits, for ever.
            state.remaining = None
            state.released.clear()
            self._gate_changed(state)
        return None

    def pause(self, state: FeedbackState, seconds: float) -> None:
        until = self._clock.now() + max(0.0, seconds)
        if until > state.paused_until:
            state.paused_until = until
            state.stats["paused"] += 1

    def close(self) -> None:
        """Release every waiter (the limiter is closing)."""
        for state in [*self._tokens.values(), *self._orgs.values()]:
            self._gate_changed(state)

    def snapshot(self) -> dict[str, object]:
        """Counters for diagnostics: pauses, gate closures and learned limits per scope."""
        return {
            "tokens": {k: dict(v.stats) for k, v in self._tokens.items()},
            "orgs": {k: dict(v.stats) for k, v in self._orgs.items()},
        }

    # -- internals ------------------------------------------------------------------------
    @staticmethod
    def _remaining_as_of(state: FeedbackState, sequence: int) -> None:
        state.remaining_sequence = sequence
        state.released = {s for s in state.released if s > sequence}

    def _learn_from_bare_429(
        self, state: FeedbackState, admission: Admission, retry_after: float
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
            span = max(0.001, now + retry_after - state.accepted[0])
            count = len(state.accepted)
        else:
            span = state.learned.limit.seconds
            count = max(1, int(state.learned.limit.requests * _SHRINK))
        self._set_learned(state, RateLimit(max(1, count), span, burst=1), now)
        state.learned_sequence = state.sent_sequence
        state.growth = 1
        state.stats["learned"] += 1

    def _maybe_grow(self, state: FeedbackState) -> None:
        """After a clean, full learned window, probe upward: the server may allow more now."""
        learned = state.learned
        assert learned is not None
        limit = learned.limit
        now = self._clock.now()
        if now - state.learned_at < learned.span:
            return
        if state.accepted_total - state.learned_accepted < limit.requests:
            return  # not a full window: no evidence that more would pass
        count = limit.requests + state.growth
        state.growth *= 2
        # The most a configured window lets through in the learned span: at least that, and
        # the learned limit no longer binds.
        ceiling = min(
            (c.requests * math.ceil(limit.seconds / c.seconds - 1e-9) for c in state.configured),
            default=math.inf,
        )
        state.stats["grown"] += 1
        if count >= ceiling:
            state.learned = None  # a configured limit is at least as strict: it governs
            return
        self._set_learned(state, RateLimit(count, limit.seconds, burst=1), now)

    def _set_learned(self, state: FeedbackState, limit: RateLimit, now: float) -> None:
        window = self.window(limit)
        # Seed it with what the server already counts, so the scope does not burst again the
        # moment a pause ends.
        recent = list(state.accepted)[-limit.requests :]
        window.log.extend(recent)
        window.schedule.extend(recent)
        state.learned = window
        state.learned_at = now
        state.learned_accepted = state.accepted_total

    def _gate_changed(self, state: FeedbackState) -> None:
        if state.gate_changed is not None:
            state.gate_changed.set()
            state.gate_changed = None

    async def _wait_gate(self, state: FeedbackState) -> bool:
        """Hold while the server's remaining count is used up. Returns True if it waited.

        The gate reopens when a response reports capacity again. If nothing is in flight to
        tell us, one request goes out as a probe after a growing wait: the worst it can get is
        a 429 whose Retry-After then says exactly how long to pause.
        """
        available = state.available()
        if available is None or available > 0:
            state.closed_since = None
            state.probe_wait = 0.0
            return False
        state.stats["gated"] += 1
        now = self._clock.now()
        if state.closed_since is None:
            state.closed_since = now
            state.probe_wait = self.probe_initial
        event = state.gate_changed
        if event is None:
            event = state.gate_changed = asyncio.Event()
        timeout = state.closed_since + state.probe_wait - now
        if timeout <= EPSILON:
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
