"""The in-process limiter on virtual time: window safety proved by counting, pauses, gates.

Every test runs on ``VirtualTimeLoop``: minutes of limiter time pass in milliseconds, and the
admission times are exact and repeatable.
"""

from __future__ import annotations

import asyncio
import bisect
import random

import pytest

from aiotallyfy import Admission, LimitScope, LocalRateLimiter, RateLimit

pytestmark = pytest.mark.virtual_time

TOKEN = LimitScope.token_key_for("secret-token")


def max_in_any_window(times: list[float], seconds: float) -> int:
    """The most admissions inside any half-open window [t, t + seconds): checking windows
    that start at an admission is enough, since sliding a window's start forward to its
    first admission never loses one."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        j = bisect.bisect_left(ordered, start + seconds)
        best = max(best, j - i)
    return best


async def admit(limiter: LocalRateLimiter, scope: LimitScope, log: list[float]) -> None:
    admission = await limiter.acquire(scope)
    await limiter.commit(admission)
    log.append(asyncio.get_running_loop().time())


@pytest.mark.parametrize(
    "limit",
    [
        RateLimit(10, 1.0),
        RateLimit(10, 1.0, burst=10),  # a full-size bucket: aiolimiter alone would admit 2N
        RateLimit(100, 60.0),
        RateLimit(600, 60.0, burst=600),
        RateLimit(1, 2.0),
        RateLimit(7, 0.5, burst=3),
    ],
    ids=str,
)
async def test_bursty_arrivals_never_exceed_n_in_any_window(limit: RateLimit) -> None:
    limiter = LocalRateLimiter([limit])
    scope = LimitScope(TOKEN)
    log: list[float] = []
    # Three bursts of 3N requests each, the later ones arriving while the queue still drains.
    for burst_at in (0.0, limit.seconds * 0.5, limit.seconds * 4):
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, burst_at - loop.time()))
        await asyncio.gather(*(admit(limiter, scope, log) for _ in range(3 * limit.requests)))
    assert len(log) == 9 * limit.requests
    assert max_in_any_window(log, limit.seconds) <= limit.requests


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_arrivals_never_exceed_n_in_any_window(seed: int) -> None:
    rng = random.Random(seed)
    limits = [RateLimit(20, 1.0), RateLimit(50, 5.0)]
    limiter = LocalRateLimiter(limits)
    scope = LimitScope(TOKEN)
    log: list[float] = []
    tasks = []
    now = 0.0
    for _ in range(400):
        now += rng.expovariate(rng.choice([5.0, 40.0, 200.0]))  # quiet spells and floods
        tasks.append(asyncio.ensure_future(_admit_at(now, limiter, scope, log)))
    await asyncio.gather(*tasks)
    assert len(log) == 400
    for limit in limits:
        assert max_in_any_window(log, limit.seconds) <= limit.requests, limit


async def _admit_at(
    when: float, limiter: LocalRateLimiter, scope: LimitScope, log: list[float]
) -> None:
    await asyncio.sleep(when - asyncio.get_running_loop().time())
    await admit(limiter, scope, log)


async def test_org_and_token_limits_hold_together() -> None:
    limiter = LocalRateLimiter([RateLimit(30, 1.0)], [RateLimit(8, 1.0), RateLimit(20, 10.0)])
    per_org: dict[str, list[float]] = {f"org{i}": [] for i in range(6)}
    everything: list[float] = []

    async def org_admit(org: str) -> None:
        log: list[float] = []
        await admit(limiter, LimitScope(TOKEN, org), log)
        per_org[org].extend(log)
        everything.extend(log)

    await asyncio.gather(*(org_admit(org) for org in per_org for _ in range(40)))
    assert len(everything) == 240
    assert max_in_any_window(everything, 1.0) <= 30
    for times in per_org.values():
        assert len(times) == 40
        assert max_in_any_window(times, 1.0) <= 8
        assert max_in_any_window(times, 10.0) <= 20


async def test_sustained_utilisation_is_close_to_the_limit() -> None:
    limit = RateLimit(100, 10.0)
    limiter = LocalRateLimiter([limit])
    log: list[float] = []
    await asyncio.gather(*(admit(limiter, LimitScope(TOKEN), log) for _ in range(1000)))
    span = max(log) - min(log)
    achieved = (len(log) - 1) / span
    allowed = limit.requests / limit.seconds
    assert max_in_any_window(log, limit.seconds) <= limit.requests
    assert achieved >= 0.95 * allowed, (achieved, allowed)


async def test_pause_holds_every_queued_request_of_the_scope() -> None:
    limiter = LocalRateLimiter([RateLimit(1000, 1.0, burst=1000)])
    scope = LimitScope(TOKEN)
    other = LimitScope(LimitScope.token_key_for("another-token"))
    log: list[float] = []
    other_log: list[float] = []
    limiter.pause(scope, 5.0)
    await asyncio.gather(
        *(admit(limiter, scope, log) for _ in range(10)),
        admit(limiter, other, other_log),
    )
    assert min(log) >= 5.0
    assert other_log == [0.0]  # another token's scope is not paused


async def test_pause_reaches_requests_already_queued_in_the_pacer() -> None:
    limiter = LocalRateLimiter([RateLimit(2, 1.0, burst=1)])
    scope = LimitScope(TOKEN)
    log: list[float] = []
    queued = [asyncio.ensure_future(admit(limiter, scope, log)) for _ in range(6)]
    await asyncio.sleep(0.01)
    limiter.pause(scope, 30.0)
    await asyncio.gather(*queued)
    assert len([t for t in log if t < 30.0]) == 1  # only the first had already left
    assert all(t >= 30.0 for t in sorted(log)[1:])


async def test_remaining_header_gate_holds_until_capacity_is_reported() -> None:
    limiter = LocalRateLimiter([RateLimit(1000, 1.0, burst=1000)], probe_initial=2.0)
    scope = LimitScope(TOKEN)
    first = await limiter.acquire(scope)
    await limiter.commit(first)
    # The server says: nothing left.
    limiter.observe(first, status=200, remaining=0, retry_after=None)
    log: list[float] = []
    waiting = asyncio.ensure_future(admit(limiter, scope, log))
    await asyncio.sleep(1.0)
    assert log == []  # held by the gate
    # A later answer reports capacity again: the gate opens at once.
    later = Admission(scope=scope, sequence=first.sequence + 100)
    limiter.observe(later, status=200, remaining=10, retry_after=None)
    await waiting
    assert log == [1.0]


async def test_closed_gate_probes_with_one_request_then_backs_off() -> None:
    limiter = LocalRateLimiter([RateLimit(1000, 1.0, burst=1000)], probe_initial=2.0)
    scope = LimitScope(TOKEN)
    first = await limiter.acquire(scope)
    await limiter.commit(first)
    limiter.observe(first, status=200, remaining=0, retry_after=None)
    log: list[float] = []
    await asyncio.gather(admit(limiter, scope, log), admit(limiter, scope, log))
    # No answer ever reopens the gate: one probe after 2 s, the next after a doubled wait.
    assert log == [2.0, 6.0]


async def test_429_clears_the_gate_so_the_pause_alone_governs() -> None:
    limiter = LocalRateLimiter([RateLimit(1000, 1.0, burst=1000)])
    scope = LimitScope(TOKEN)
    first = await limiter.acquire(scope)
    await limiter.commit(first)
    limiter.observe(first, status=429, remaining=0, retry_after=3.0)
    limiter.pause(scope, 3.0)
    log: list[float] = []
    await admit(limiter, scope, log)
    assert log == [3.0]


def test_rate_limit_parse_and_validation() -> None:
    assert RateLimit.parse("600/60") == RateLimit(600, 60.0)
    assert RateLimit.parse("100/0.5") == RateLimit(100, 0.5)
    for bad in ("600", "x/60", "0/60", "10/0"):
        with pytest.raises(ValueError, match=r"N/SECONDS|must be"):
            RateLimit.parse(bad)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(10, 1.0, burst=11)


def test_scope_keys_never_contain_the_token() -> None:
    key = LimitScope.token_key_for("super-secret-token-value")
    assert "super-secret" not in key
    assert key == LimitScope.token_key_for("super-secret-token-value")
    assert key != LimitScope.token_key_for("another")
