"""Using the budget (issue 11, item 6): a job that fits in the window is not paced, a burst
policy is honoured when one is asked for, a limit learned from bare 429s grows back, and the
remaining-requests gate reopens when the server stops reporting a count.

All on virtual time: the admission times are exact, and minutes pass in milliseconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _hostile import hostile_server
from aiohttp import web
from test_limiter import admit, max_in_any_window

from aiotallyfy import LimitScope, LocalRateLimiter, RateLimit, TallyfyClient
from aiotallyfy._clock import LoopClock
from aiotallyfy.testing import FakeData, FakeTallyfy

pytestmark = pytest.mark.virtual_time

TOKEN = LimitScope.token_key_for("budget-token")


# ------------------------------------------------------------------------ the window's budget
async def test_a_job_within_the_window_is_admitted_at_once() -> None:
    """Defaults (600/60 s): 101 requests all leave at t=0, none paced."""
    limiter = LocalRateLimiter()
    log: list[float] = []
    await asyncio.gather(*(admit(limiter, LimitScope(TOKEN), log) for _ in range(101)))
    assert log == [0.0] * 101


async def test_a_job_larger_than_the_window_uses_each_window_fully() -> None:
    """1,000 requests under 100/10 s: 100 per window, never more, and no idle window."""
    limit = RateLimit(100, 10.0)
    limiter = LocalRateLimiter([limit])
    log: list[float] = []
    await asyncio.gather(*(admit(limiter, LimitScope(TOKEN), log) for _ in range(1000)))
    assert max_in_any_window(log, limit.seconds) == 100
    span = 10.0 + 0.1  # the window and its 1% margin
    assert log.count(0.0) == 100
    assert max(log) == pytest.approx(9 * span)


async def test_an_explicit_burst_paces_after_the_burst() -> None:
    """``burst=60`` keeps the old shape on request: 60 at once, then a steady N/S."""
    limiter = LocalRateLimiter([RateLimit(600, 60.0, burst=60)])
    log: list[float] = []
    await asyncio.gather(*(admit(limiter, LimitScope(TOKEN), log) for _ in range(101)))
    assert log.count(0.0) == 60
    gaps = [b - a for a, b in zip(sorted(log)[60:], sorted(log)[61:], strict=False)]
    assert min(gaps) == pytest.approx(60.6 / 600, rel=0.05)  # 600 per (60 s + margin)
    assert max(log) == pytest.approx(41 * 60.6 / 600, rel=0.05)


async def test_a_burst_limit_as_a_short_window_is_honoured() -> None:
    """A documented burst limit is another window: at most 20 in any second as well."""
    limits = [RateLimit(600, 60.0), RateLimit(20, 1.0)]
    limiter = LocalRateLimiter(limits)
    log: list[float] = []
    await asyncio.gather(*(admit(limiter, LimitScope(TOKEN), log) for _ in range(101)))
    assert max_in_any_window(log, 1.0) == 20
    assert log.count(0.0) == 20
    assert max(log) == pytest.approx(5 * 1.05)  # five more windows of 1 s + 50 ms margin


class CountingClock(LoopClock):
    def __init__(self) -> None:
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return super().now()


async def test_an_admission_that_waits_for_nothing_reads_the_clock_at_most_twice() -> None:
    clock = CountingClock()
    limiter = LocalRateLimiter(clock=clock)
    scope = LimitScope(TOKEN, "org-1")
    await admit(limiter, scope, [])  # first use builds the scope's state
    clock.reads = 0
    admission = await limiter.acquire(scope)
    await limiter.commit(admission)
    assert clock.reads <= 2
    assert admission.waited == 0.0


# ------------------------------------------------------------------------ end to end
async def _export(rate_limits: list[RateLimit] | None) -> tuple[float, int, int]:
    """10 orgs x 1,000 tasks at 50 ms against a server enforcing 600/min: (wall, 429s, tasks)."""
    data = FakeData(orgs=10, tasks_per_org=1000, members_per_org=0, seed=5)
    async with FakeTallyfy(data=data, latency=0.05, rate_limit=(600, 60.0)) as fake:
        kwargs: dict[str, Any] = {} if rate_limits is None else {"rate_limits": rate_limits}
        async with TallyfyClient(fake.token, base_url=fake.base_url, **kwargs) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            orgs = [org async for org in client.organizations.list()]
            tasks = 0
            stream = client.fan_out_stream([o["id"] for o in orgs], client.tasks.list_mine)
            async for _org, _task in stream:
                tasks += 1
            return loop.time() - started, fake.count(status=429), tasks


async def test_defaults_export_a_job_within_the_window_as_fast_as_unlimited() -> None:
    """The issue's figure: 101 requests, default limits, wall <= 1.2x unlimited, no 429."""
    unlimited, _, tasks_unlimited = await _export([RateLimit(10**9, 1.0)])
    wall, rate_limited, tasks = await _export(None)
    assert tasks == tasks_unlimited == 10_000
    assert rate_limited == 0
    assert wall <= 1.2 * unlimited, (wall, unlimited)


# ------------------------------------------------------------------------ learned limits
async def test_a_learned_limit_grows_back_when_the_server_allows_more() -> None:
    """Not told the limit, no X-RateLimit-* headers: the client learns ~10/s from bare 429s;
    once the server allows 40/s, clean windows raise the learned limit again."""
    async with FakeTallyfy(orgs=1, rate_limit=(10, 1.0), rate_limit_headers=False) as fake:
        async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
            loop = asyncio.get_running_loop()

            async def call_until(deadline: float) -> None:
                while loop.time() < deadline:
                    await client.me()

            raise_at = 4.0
            loop.call_at(raise_at, fake.set_rate_limit, 40, 1.0)
            await asyncio.gather(*(call_until(14.0) for _ in range(16)))
        times = fake.admission_times()
        before = [t for t in times if t < raise_at]
        after = [t for t in times if t >= 8.0]
        assert max_in_any_window(before, 1.0) <= 10
        # Learned ~10/s; four seconds after the server allows 40/s it is used again.
        assert max_in_any_window(after, 1.0) >= 30, max_in_any_window(after, 1.0)
        # Growing back costs a refusal now and then, not a storm.
        late = [r for r in fake.requests if r.time >= raise_at]
        refused = [r for r in late if r.status == 429]
        assert len(refused) <= 0.05 * len(late), (len(refused), len(late))


async def test_a_learned_limit_that_grows_to_the_configured_one_gives_way_to_it() -> None:
    """Told 30/s, the server allows 10/s (no headers), then 100/s: the learned limit grows
    back to 30 and is dropped; the configured window governs again, exactly."""
    async with FakeTallyfy(orgs=1, rate_limit=(10, 1.0), rate_limit_headers=False) as fake:
        limiter = LocalRateLimiter([RateLimit(30, 1.0)])
        async with TallyfyClient(fake.token, base_url=fake.base_url, limiter=limiter) as client:
            loop = asyncio.get_running_loop()

            async def call_until(deadline: float) -> None:
                while loop.time() < deadline:
                    await client.me()

            loop.call_at(3.0, fake.set_rate_limit, 100, 1.0)
            await asyncio.gather(*(call_until(14.0) for _ in range(16)))
        state = limiter.feedback.state(LimitScope(LimitScope.token_key_for(fake.token)))
        assert state.stats["learned"] >= 1
        assert state.learned is None
        late = [t for t in fake.admission_times() if t >= 10.0]
        assert max_in_any_window(late, 1.0) == 30


def test_rate_limit_parse_takes_an_optional_burst() -> None:
    assert RateLimit.parse("600/60/60") == RateLimit(600, 60.0, burst=60)
    assert RateLimit.parse("600/60").burst is None
    assert str(RateLimit(600, 60.0, burst=60)) == "600/60s (burst 60)"
    for bad in ("600/60/0", "600/60/601", "600/60/x", "1/2/3/4"):
        with pytest.raises(ValueError, match="N/SECONDS"):
            RateLimit.parse(bad)


# ------------------------------------------------------------------------ the gate reopens
async def test_the_gate_reopens_when_answers_stop_carrying_a_count() -> None:
    """A 429 with ``X-RateLimit-Remaining: 0``, then answers without the header: the gate
    must not stay shut (it used to probe one request at a time with doubling waits)."""
    loop = asyncio.get_running_loop()
    answered = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal answered
        answered += 1
        if answered == 1:
            headers = {"Retry-After": "1", "X-RateLimit-Remaining": "0"}
            return web.json_response({"message": "Too Many Attempts."}, status=429, headers=headers)
        return web.json_response({"data": {"id": 1}})

    async with (
        hostile_server(handler) as server,
        TallyfyClient("gate-token", base_url=server.base_url, max_concurrency=1) as client,
    ):
        for _ in range(21):  # one at a time: each asks the gate after the last answer
            await client.request("GET", "/me")
    assert answered == 22
    assert loop.time() < 2.0  # the pause (1 s + jitter), then no more waiting


async def test_a_gate_that_closes_again_probes_after_the_initial_wait() -> None:
    """The fast path skips the gate's wait: a reopened gate must still forget its last probe
    backoff, so the next closure probes after ``probe_initial``, not a doubled wait."""
    limiter = LocalRateLimiter([RateLimit(1000, 1.0)], probe_initial=2.0)
    scope = LimitScope(TOKEN)
    first = await limiter.acquire(scope)
    await limiter.commit(first)
    limiter.observe(first, status=200, remaining=0, retry_after=None)
    probe = await limiter.acquire(scope)  # the gate is shut: the probe leaves at 2.0
    await limiter.commit(probe)
    limiter.observe(probe, status=200, remaining=5, retry_after=None)  # open again
    again = await limiter.acquire(scope)  # the fast path, at 2.0
    await limiter.commit(again)
    limiter.observe(again, status=200, remaining=0, retry_after=None)  # shut again
    log: list[float] = []
    await admit(limiter, scope, log)
    assert [probe.sent_at, again.sent_at, *log] == [2.0, 2.0, 4.0]
