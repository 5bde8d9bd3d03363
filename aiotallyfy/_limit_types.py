"""What every limiter shares: a limit, whom a request counts against, an admission, a window.

The local limiter (``_limits``), the server-feedback owner (``_feedback``) and the Redis limiter
(``_redis_limiter``) all build on these, so the window's arithmetic (its margin, its exact log,
the time a request may go) is written once, here.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from aiolimiter import AsyncLimiter

__all__ = [
    "EPSILON",
    "Admission",
    "LimitScope",
    "RateLimit",
    "Route",
    "Window",
    "window_span",
]

# Waits shorter than this are treated as done: a clock that lands on a deadline computed from
# floats can come out a hair early, and sleeping 1e-16 s would not move it.
EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` in any window of ``seconds``.

    ``burst`` is the burst policy. ``None`` (the default): any ``requests`` may leave at once,
    so a job that fits in the window is never paced; the exact window alone bounds the rate.
    A number: at most that many leave back to back, then the rest drip at
    ``requests / seconds`` (a leaky bucket), for a server that throttles bursts below its
    window. For a burst limit of its own window (e.g. "20 per second"), pass a second
    ``RateLimit(20, 1)`` instead: both hold at once. The window bound holds whatever the burst.
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
        """How many may leave back to back: ``burst``, or the whole window."""
        return self.burst if self.burst is not None else self.requests

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"600/60"`` → ``RateLimit(600, 60)``; ``"600/60/60"`` adds ``burst=60``."""
        try:
            parts = text.split("/")
            if len(parts) not in (2, 3):
                raise ValueError(text)
            burst = int(parts[2]) if len(parts) == 3 else None
            return cls(int(parts[0]), float(parts[1]), burst)
        except ValueError as exc:
            raise ValueError(
                f"expected N/SECONDS such as 600/60 (or N/SECONDS/BURST), got {text!r}"
            ) from exc

    def __str__(self) -> str:
        burst = "" if self.burst is None else f" (burst {self.burst})"
        return f"{self.requests}/{self.seconds:g}s{burst}"


def window_span(limit: RateLimit, margin_ratio: float, margin_min: float) -> float:
    """The window the client keeps: ``seconds`` plus a margin, ``max(margin_min, seconds *
    margin_ratio)``. The server times a request when it arrives, a little after we send it,
    and network jitter can squeeze two sends closer together."""
    return limit.seconds + max(margin_min, limit.seconds * margin_ratio)


@dataclass(frozen=True, slots=True)
class LimitScope:
    """Who a request counts against: a token (by a hash, never the token) and maybe an org."""

    token_key: str
    org_id: str | None = None

    @staticmethod
    def token_key_for(token: str) -> str:
        return "tok_" + hashlib.sha256(token.encode()).hexdigest()[:16]


# Which limiter admitted a request: the in-process one; Redis; the one admission per retry
# interval that tries Redis while its fallback is in charge; or that fallback.
Route = Literal["local", "redis", "probe", "fallback"]


@dataclass(slots=True)
class Admission:
    """A request that may be sent: ``commit`` records its send time, ``observe`` its answer.

    ``sequence`` numbers the admissions of its feedback scope (the server's remaining count
    is compared with it); ``waited`` is the time spent in the limiter.
    """

    scope: LimitScope
    sequence: int = 0
    waited: float = 0.0
    sent_at: float | None = None
    route: Route = "local"


class Window:
    """One ``RateLimit`` in one scope, in process: a schedule and an exact send log.

    - ``schedule`` (at ``acquire``): the times the last N admissions were given. A new one may
      go at ``max(now, schedule[0] + span)``: every caller gets its own time at once and sleeps
      once until it (no herd re-checking a full window), and a job of N or fewer goes at once.
    - ``log`` (at ``commit``, right before the request is written): the last N send times.
      Requests that waited for a connection after their scheduled time can bunch up; this is
      what makes "never more than N in any window" hold. The schedule makes it rarely wait.
    - ``pacer``: only with an explicit ``burst``: aiolimiter's leaky bucket.
    """

    __slots__ = ("limit", "log", "pacer", "schedule", "span")

    def __init__(self, limit: RateLimit, span: float) -> None:
        self.limit = limit
        self.span = span
        self.schedule: deque[float] = deque(maxlen=limit.requests)
        self.log: deque[float] = deque(maxlen=limit.requests)
        self.pacer: AsyncLimiter | None = None
        if limit.burst is not None and limit.burst < limit.requests:
            # Imported only for an explicit burst: aiolimiter reads its own version through
            # importlib.metadata, ~8 ms that an export with the default limits never needs.
            from aiolimiter import AsyncLimiter

            burst = limit.burst
            self.pacer = AsyncLimiter(burst, burst * span / limit.requests)

    def earliest(self, now: float) -> float:
        """The first time the schedule allows another admission."""
        schedule = self.schedule
        if len(schedule) < self.limit.requests:
            return now
        return max(now, schedule[0] + self.span)

    def wait_needed(self, now: float) -> float:
        """How long the exact log says a send at ``now`` must wait."""
        log = self.log
        if len(log) < self.limit.requests:
            return 0.0
        return max(0.0, log[0] + self.span - now)
