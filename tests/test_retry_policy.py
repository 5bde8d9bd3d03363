"""The retry decision is a pure function: every rule tested with numbers, no I/O, no clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from aiotallyfy import RetryPolicy
from aiotallyfy._retry import (
    FailureKind,
    HTTPOutcome,
    TransportOutcome,
    Verdict,
    backoff_delay,
    decide,
    parse_retry_after,
)

POLICY = RetryPolicy(max_retries=3, backoff_base=0.5, backoff_cap=8.0, total_budget=45.0)


def verdict(
    method: str,
    outcome: HTTPOutcome | TransportOutcome,
    *,
    attempt: int = 1,
    elapsed: float = 0.0,
    policy: RetryPolicy = POLICY,
    idempotent: bool | None = None,
) -> Verdict:
    return decide(
        policy,
        method=method,
        attempt=attempt,
        outcome=outcome,
        elapsed=elapsed,
        rng=random.Random(1),
        idempotent=idempotent,
    ).verdict


@pytest.mark.parametrize("status", [200, 201, 204])
def test_success_statuses(status: int) -> None:
    assert verdict("GET", HTTPOutcome(status)) is Verdict.SUCCESS
    assert verdict("POST", HTTPOutcome(status)) is Verdict.SUCCESS


@pytest.mark.parametrize("status", [100, 300, 301, 302, 303, 304, 307, 308, 399])
def test_a_redirect_or_informational_answer_is_never_success(status: int) -> None:
    """H2: a 3xx the transport did not follow is not an answer to the request."""
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert verdict(method, HTTPOutcome(status)) is Verdict.FAIL


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_429_is_retried_for_every_method(method: str) -> None:
    d = decide(
        POLICY,
        method=method,
        attempt=1,
        outcome=HTTPOutcome(429, retry_after=3.0),
        elapsed=0,
        rng=random.Random(0),
    )
    assert d.verdict is Verdict.RETRY
    # Retry-After plus a small jitter, and the whole scope is paused for the same time.
    assert 3.0 <= d.delay <= 3.0 + 0.3 + 1e-9
    assert d.pause_scope == d.delay


def test_429_without_retry_after_backs_off_and_pauses() -> None:
    d = decide(
        POLICY, method="GET", attempt=2, outcome=HTTPOutcome(429), elapsed=0, rng=random.Random(0)
    )
    assert d.verdict is Verdict.RETRY
    assert 0.0 <= d.delay <= 1.0
    assert d.pause_scope == d.delay


def test_retry_after_beyond_cap_gives_up_instead_of_hammering() -> None:
    policy = RetryPolicy(retry_after_cap=120.0, total_budget=1000.0)
    assert verdict("GET", HTTPOutcome(429, retry_after=121.0), policy=policy) is Verdict.FAIL
    assert verdict("GET", HTTPOutcome(429, retry_after=119.0), policy=policy) is Verdict.RETRY


def test_a_server_directed_wait_is_not_charged_to_the_budget() -> None:
    """M5: a 429's Retry-After up to ``retry_after_cap`` is honoured even past the budget
    (the README's promise); the budget still bounds backoff after failures."""
    assert verdict("GET", HTTPOutcome(429, retry_after=30.0), elapsed=20.0) is Verdict.RETRY
    assert verdict("GET", HTTPOutcome(429, retry_after=60.0), elapsed=44.0) is Verdict.RETRY
    d = decide(
        POLICY,
        method="GET",
        attempt=1,
        outcome=HTTPOutcome(429, retry_after=60.0),
        elapsed=0.0,
        rng=random.Random(1),
    )
    assert d.budgeted is False
    # A 429 without Retry-After backs off on our own schedule: that is budgeted.
    assert verdict("GET", HTTPOutcome(429), attempt=3, elapsed=44.9) is Verdict.FAIL
    # A 503's Retry-After is a failure's wait: budgeted too.
    assert verdict("GET", HTTPOutcome(503, retry_after=30.0), elapsed=20.0) is Verdict.FAIL


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_retried_only_when_idempotent(status: int) -> None:
    assert verdict("GET", HTTPOutcome(status)) is Verdict.RETRY
    assert verdict("HEAD", HTTPOutcome(status)) is Verdict.RETRY
    assert verdict("POST", HTTPOutcome(status)) is Verdict.FAIL
    assert verdict("PUT", HTTPOutcome(status)) is Verdict.FAIL
    assert verdict("PUT", HTTPOutcome(status), idempotent=True) is Verdict.RETRY


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500])
def test_client_errors_and_500_are_final(status: int) -> None:
    assert verdict("GET", HTTPOutcome(status)) is Verdict.FAIL


def test_connect_failure_is_retried_even_for_post() -> None:
    # Nothing reached the server, so a POST cannot have been applied.
    assert verdict("POST", TransportOutcome(FailureKind.CONNECT)) is Verdict.RETRY


@pytest.mark.parametrize(
    "kind", [FailureKind.DISCONNECTED, FailureKind.TIMEOUT, FailureKind.MALFORMED]
)
def test_failure_after_sending_post_is_outcome_unknown(kind: FailureKind) -> None:
    assert verdict("POST", TransportOutcome(kind)) is Verdict.OUTCOME_UNKNOWN
    assert verdict("GET", TransportOutcome(kind)) is Verdict.RETRY


def test_max_retries_counts_retries_after_the_first_attempt() -> None:
    outcome = HTTPOutcome(503)
    assert [verdict("GET", outcome, attempt=a) for a in (1, 2, 3, 4)] == [
        Verdict.RETRY,
        Verdict.RETRY,
        Verdict.RETRY,
        Verdict.FAIL,
    ]
    assert verdict("GET", outcome, policy=RetryPolicy(max_retries=0)) is Verdict.FAIL


def test_budget_stops_a_retry_whose_wait_would_cross_it() -> None:
    policy = RetryPolicy(max_retries=100, backoff_base=10.0, backoff_cap=10.0, total_budget=5.0)
    # Full jitter over [0, 10]: with this seed the wait is > 5 s.
    rng = random.Random(0)
    wait = backoff_delay(policy, 1, random.Random(0))
    d = decide(policy, method="GET", attempt=1, outcome=HTTPOutcome(503), elapsed=0.0, rng=rng)
    assert wait > 5.0
    assert d.verdict is Verdict.FAIL
    assert "budget" in d.reason


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=8.0)
    rng = random.Random(42)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        samples = [backoff_delay(policy, retry, rng) for _ in range(2000)]
        assert min(samples) >= 0.0
        assert max(samples) <= ceiling
        # Spread over the whole range, not bunched at the top (that would synchronise clients).
        assert min(samples) < ceiling * 0.05
        assert max(samples) > ceiling * 0.95


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("-3", now=now) == 0.0
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None
    assert parse_retry_after("inf", now=now) is None


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="total_budget"):
        RetryPolicy(total_budget=0)


def test_first_drop_of_a_read_is_retried_at_once_then_backs_off() -> None:
    """A stale kept-alive connection (see ``test_transport_no_hidden_resend``): the first
    retry of a dropped GET is immediate, the next ones back off; a dropped POST is never
    re-sent."""
    policy = RetryPolicy()
    dropped = TransportOutcome(FailureKind.DISCONNECTED)
    first = decide(
        policy, method="GET", attempt=1, outcome=dropped, elapsed=0.0, rng=random.Random(1)
    )
    second = decide(
        policy, method="GET", attempt=2, outcome=dropped, elapsed=0.0, rng=random.Random(1)
    )
    write = decide(
        policy, method="POST", attempt=1, outcome=dropped, elapsed=0.0, rng=random.Random(1)
    )
    assert (first.verdict, first.delay) == (Verdict.RETRY, 0.0)
    assert second.verdict is Verdict.RETRY
    assert 0.0 < second.delay <= policy.backoff_base * 2
    assert write.verdict is Verdict.OUTCOME_UNKNOWN
