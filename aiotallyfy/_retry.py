"""When to retry, and how long to wait: a pure function of (policy, attempt, outcome).

Nothing here does I/O or reads a clock, so every rule is tested by calling ``decide`` with
numbers. The request loop in ``_http`` feeds it outcomes and obeys its decisions; there is no
other retry layer anywhere in aiotallyfy.
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

__all__ = [
    "Decision",
    "HTTPOutcome",
    "RetryPolicy",
    "TransportOutcome",
    "decide",
    "parse_retry_after",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try.

    - ``max_retries``: retries after the first attempt (so at most ``max_retries + 1`` sends).
      ``0`` turns retrying off for callers who bring their own.
    - ``backoff_base``/``backoff_cap``: exponential backoff with full jitter, a random wait in
      ``[0, min(cap, base * 2**(retry-1))]``, so that clients that failed together do not
      retry together.
    - ``retry_after_cap``: the longest server-directed wait (a 429's ``Retry-After``) we accept.
      A longer one ends the call with ``RateLimitedError`` carrying ``retry_after``, instead of
      either hammering early (the official Go CLI caps at 30 s and retries too soon) or
      freezing. A wait up to the cap is always honoured, whatever the budget (M5): Tallyfy's
      window is a rolling minute, so 45-60 s is normal; it still uses up one of ``max_retries``.
      To bound a call's wall time, lower this cap.
    - ``total_budget``: seconds one call may spend on its own failures: attempts plus the
      backoff after 5xx, network errors and 429s without ``Retry-After`` (stamina's 45 s idea).
      A retry whose wait would cross it is not made. Server-directed 429 waits are not counted,
      so the worst case for one call is ``total_budget + max_retries * retry_after_cap``.
    - ``retry_statuses``: 5xx statuses retried for idempotent requests. 500 is left out: it is
      usually a deterministic server bug, and the official clients do not retry it either.
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    retry_after_cap: float = 120.0
    total_budget: float = 45.0
    retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({502, 503, 504}))
    idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.backoff_base < 0 or self.backoff_cap < 0:
            raise ValueError("backoff times must be >= 0")
        if not math.isfinite(self.backoff_base) or not math.isfinite(self.backoff_cap):
            raise ValueError("backoff times must be finite")
        if not self.retry_after_cap >= 0 or not math.isfinite(self.retry_after_cap):
            raise ValueError("retry_after_cap must be a finite number >= 0")
        if not self.total_budget > 0 or not math.isfinite(self.total_budget):
            raise ValueError("total_budget must be a finite number > 0")


class FailureKind(Enum):
    """How a request failed below HTTP."""

    CONNECT = "connect"  # never reached the server: connection refused, DNS, connect timeout
    DISCONNECTED = "disconnected"  # reset or closed after the request was (possibly) written
    TIMEOUT = "timeout"  # no complete answer in time; the server may be working on it
    # A 2xx whose body is not the JSON it claims to be: set by ``HTTPCore._classify``, never
    # by a transport (which has no idea what the body should be); retried like a drop.
    MALFORMED = "malformed"
    TLS = "tls"  # certificate verification failed: configuration, never retried, never sent
    TOO_LARGE = "too_large"  # the body passed max_response_bytes: deterministic, never retried


@dataclass(frozen=True, slots=True)
class HTTPOutcome:
    """The server answered with ``status``."""

    status: int
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class TransportOutcome:
    """No usable answer. ``kind`` says whether the request can have been applied."""

    kind: FailureKind

    @property
    def sent(self) -> bool:
        return self.kind not in (FailureKind.CONNECT, FailureKind.TLS)


Outcome = HTTPOutcome | TransportOutcome


class Verdict(Enum):
    SUCCESS = "success"
    RETRY = "retry"
    FAIL = "fail"  # give up: raise the error for this outcome
    OUTCOME_UNKNOWN = "outcome_unknown"  # give up: a write may have been applied


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    delay: float = 0.0
    # A 429 pauses the whole rate-limit scope, not only this request: the caller publishes
    # ``pause_scope`` seconds to the limiter so that queued requests wait too.
    pause_scope: float | None = None
    reason: str = ""
    # False for a server-directed wait (a 429's Retry-After): it is not charged to the budget.
    budgeted: bool = True


_SUCCESS = Decision(Verdict.SUCCESS)


def backoff_delay(policy: RetryPolicy, retry_number: int, rng: random.Random) -> float:
    """Full-jitter exponential backoff for the ``retry_number``-th retry (1-based)."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * math.pow(2, retry_number - 1))
    return rng.uniform(0.0, ceiling)


def server_wait_jitter(wait: float, rng: random.Random) -> float:
    """Jitter added to a server-directed wait, so that N clients told "1 s" do not all come
    back at the same instant (the openai-python and aiohttp_retry#59 retry waves)."""
    return rng.uniform(0.0, min(2.0, max(0.05, 0.1 * wait)))


def decide(
    policy: RetryPolicy,
    *,
    method: str,
    attempt: int,
    outcome: Outcome,
    elapsed: float,
    rng: random.Random,
    idempotent: bool | None = None,
) -> Decision:
    """Decide what to do after attempt number ``attempt`` (1-based) ended with ``outcome``.

    ``elapsed`` is the time already spent on this call; ``idempotent`` overrides the policy's
    method list for one request (e.g. a PUT known to be safe to repeat).
    """
    if isinstance(outcome, HTTPOutcome) and 200 <= outcome.status < 300:
        return _SUCCESS  # the common case first, and one shared (immutable) decision
    safe_to_repeat = (
        idempotent if idempotent is not None else method.upper() in policy.idempotent_methods
    )

    if isinstance(outcome, HTTPOutcome):
        status = outcome.status
        if status < 400:
            # A 3xx here was not followed (the transport follows what may be followed): the
            # request got no answer, and a write was not applied or not known to be (H2).
            return Decision(Verdict.FAIL, reason=f"HTTP {status} is not an answer")
        if status == 429:
            # A 429 was not applied, whatever the method: always safe to send again.
            if outcome.retry_after is not None:
                if outcome.retry_after > policy.retry_after_cap:
                    return Decision(Verdict.FAIL, reason="Retry-After beyond retry_after_cap")
                wait = outcome.retry_after + server_wait_jitter(outcome.retry_after, rng)
                return _retry_within_limits(
                    policy, attempt, elapsed, wait, pause=wait, budgeted=False
                )
            wait = backoff_delay(policy, attempt, rng)
            return _retry_within_limits(policy, attempt, elapsed, wait, pause=wait)
        if status in policy.retry_statuses and safe_to_repeat:
            wait = backoff_delay(policy, attempt, rng)
            if outcome.retry_after is not None and outcome.retry_after <= policy.retry_after_cap:
                wait = max(wait, outcome.retry_after)
            return _retry_within_limits(policy, attempt, elapsed, wait, pause=None)
        return Decision(Verdict.FAIL, reason=f"HTTP {status} is not retried for {method}")

    if outcome.kind in (FailureKind.TLS, FailureKind.TOO_LARGE):
        return Decision(Verdict.FAIL, reason=f"{outcome.kind.value} is not retried")
    if not outcome.sent or safe_to_repeat:
        if outcome.kind is FailureKind.DISCONNECTED and attempt == 1 and safe_to_repeat:
            # The first drop of a read is retried at once: it is most often a kept-alive
            # connection the server closed just as we reused it (its idle timeout racing our
            # send), which the request never got past and a fresh connection fixes. aiohttp
            # re-sends these itself, at once; that is turned off (``_transport``) so that this
            # policy decides, counts and logs it. From the second drop on, the backoff applies.
            return _retry_within_limits(policy, attempt, elapsed, 0.0, pause=None)
        wait = backoff_delay(policy, attempt, rng)
        return _retry_within_limits(policy, attempt, elapsed, wait, pause=None)
    return Decision(
        Verdict.OUTCOME_UNKNOWN,
        reason=f"{outcome.kind.value} after {method} was sent; re-sending could apply it twice",
    )


def _retry_within_limits(
    policy: RetryPolicy,
    attempt: int,
    elapsed: float,
    wait: float,
    *,
    pause: float | None,
    budgeted: bool = True,
) -> Decision:
    if attempt > policy.max_retries:
        return Decision(Verdict.FAIL, reason=f"no retries left ({policy.max_retries} allowed)")
    if budgeted and elapsed + wait > policy.total_budget:
        return Decision(
            Verdict.FAIL,
            reason=f"waiting {wait:.2f}s more would exceed the {policy.total_budget:g}s budget",
        )
    return Decision(Verdict.RETRY, delay=wait, pause_scope=pause, reason="retry", budgeted=budgeted)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns ``None`` for a missing or unparseable value, and never a negative number.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return max(0.0, seconds)
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
