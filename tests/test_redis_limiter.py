"""The Redis-backed limiter against a real ``redis-server`` (started here, on loopback).

Most tests run on virtual time with ``time_source="client"``: every limiter (each with its own
connection, like separate processes) passes the shared virtual clock to the scripts, so
windows of seconds pass in milliseconds and admission times are exact. Two tests use Redis's
own clock in real time (short), and one runs four real processes (the benchmark script).

Skipped, with the reason, when ``redis-server`` is not on PATH or redis-py is not installed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import _redis  # skips this module when redis-server or redis-py is missing
import pytest
import pytest_asyncio
from _redis import RedisProcess, VirtualTimeRedis, max_in_any_window, virtual_time_redis

from aiotallyfy import (
    LimitScope,
    LocalRateLimiter,
    RateLimit,
    RateLimiterUnavailableError,
    RedisRateLimiter,
    TallyfyClient,
)
from aiotallyfy.testing import FakeTallyfy

redis_url = _redis.redis_url  # the session's redis-server (a fixture)
own_redis = _redis.own_redis  # a redis-server the test may stop (a fixture)

TOKEN = "secret-token-value"
TOKEN_KEY = LimitScope.token_key_for(TOKEN)
BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "redis_multiprocess.py"


@pytest_asyncio.fixture
async def make(redis_url: str) -> AsyncIterator[MakeLimiter]:
    """Limiters on one fresh key prefix, each on its own connection; closed at teardown."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    made: list[RedisRateLimiter] = []
    clients: list[VirtualTimeRedis] = []

    def factory(
        token_limits: list[RateLimit], org_limits: list[RateLimit] | None = None, **kwargs: object
    ) -> RedisRateLimiter:
        options: dict[str, object] = {"key_prefix": prefix, "time_source": "client"}
        options.update(kwargs)
        clients.append(virtual_time_redis(redis_url))
        limiter = RedisRateLimiter(
            clients[-1],
            token_limits,
            org_limits or [],
            **options,  # type: ignore[arg-type]
        )
        made.append(limiter)
        return limiter

    yield factory
    for limiter in made:
        await limiter.aclose()
    for client in clients:
        await client.aclose()


class MakeLimiter(Protocol):  # the type of the ``make`` fixture
    def __call__(
        self,
        token_limits: list[RateLimit],
        org_limits: list[RateLimit] | None = None,
        **kwargs: object,
    ) -> RedisRateLimiter: ...


async def admit(limiter: RedisRateLimiter, scope: LimitScope, log: list[float]) -> None:
    admission = await limiter.acquire(scope)
    await limiter.commit(admission)
    log.append(asyncio.get_running_loop().time())


# ------------------------------------------------------------------------ window safety
@pytest.mark.virtual_time
@pytest.mark.parametrize(
    "limit",
    [RateLimit(10, 1.0), RateLimit(10, 1.0, burst=10), RateLimit(12, 60.0), RateLimit(1, 2.0)],
    ids=str,
)
async def test_four_limiters_share_one_window(make: MakeLimiter, limit: RateLimit) -> None:
    limiters = [make([limit]) for _ in range(4)]
    scope = LimitScope(TOKEN_KEY)
    log: list[float] = []
    # Every "process" floods 2N at once, then again while the queue still drains.
    for burst_at in (0.0, limit.seconds * 0.5):
        await asyncio.sleep(max(0.0, burst_at - asyncio.get_running_loop().time()))
        await asyncio.gather(
            *(admit(lim, scope, log) for lim in limiters for _ in range(2 * limit.requests))
        )
    assert len(log) == 16 * limit.requests
    assert max_in_any_window(log, limit.seconds) == limit.requests
    assert sum(lim.stats["redis_admissions"] for lim in limiters) == 16 * limit.requests
    # Not slower than the budget allows: 16N sends need 15 further windows (plus margins).
    span = limit.seconds + max(0.05, 0.01 * limit.seconds)
    assert max(log) <= 16 * span


@pytest.mark.virtual_time
async def test_a_job_within_the_shared_window_is_admitted_at_once(make: MakeLimiter) -> None:
    """Issue 11 item 6, shared: 101 requests from two processes under 600/60 s all leave at
    t=0 (the GCRA pacing used to let 60 go, then drip)."""
    limiters = [make([RateLimit(600, 60.0)]) for _ in range(2)]
    scope = LimitScope(TOKEN_KEY)
    log: list[float] = []
    await asyncio.gather(*(admit(limiters[i % 2], scope, log) for i in range(101)))
    assert log == [0.0] * 101


@pytest.mark.virtual_time
async def test_token_and_org_windows_hold_together(make: MakeLimiter) -> None:
    token_limit, org_limit = RateLimit(12, 1.0), RateLimit(4, 1.0, burst=1)
    limiters = [make([token_limit], [org_limit]) for _ in range(3)]
    logs: dict[str, list[float]] = {"org-a": [], "org-b": [], "org-c": []}
    all_sends: list[float] = []

    async def send(limiter: RedisRateLimiter, org: str) -> None:
        await admit(limiter, LimitScope(TOKEN_KEY, org), logs[org])
        all_sends.append(logs[org][-1])

    await asyncio.gather(
        *(send(lim, org) for lim in limiters for org in logs for _ in range(8)),
    )
    assert len(all_sends) == 72
    for org, times in logs.items():
        assert len(times) == 24, org
        assert max_in_any_window(times, 1.0) <= 4, org
    assert max_in_any_window(all_sends, 1.0) == 12


@pytest.mark.virtual_time
async def test_limits_are_per_token(make: MakeLimiter) -> None:
    a, b = make([RateLimit(2, 10.0, burst=2)]), make([RateLimit(2, 10.0, burst=2)])
    log_one: list[float] = []
    log_two: list[float] = []
    one, two = LimitScope(TOKEN_KEY), LimitScope(LimitScope.token_key_for("another-token"))
    await asyncio.gather(
        *(admit(a, one, log_one) for _ in range(3)), *(admit(b, two, log_two) for _ in range(2))
    )
    # The third send of the first token waits for its window; the other token never waits.
    assert log_one == [0.0, 0.0, pytest.approx(10.1)]
    assert log_two == [0.0, 0.0]


# ------------------------------------------------------------------------ shared 429 feedback
@pytest.mark.virtual_time
async def test_a_pause_in_one_process_holds_every_process(make: MakeLimiter) -> None:
    first, second = make([RateLimit(100, 1.0)]), make([RateLimit(100, 1.0)])
    scope = LimitScope(TOKEN_KEY, "org-1")
    first.pause(scope, 3.0)
    await asyncio.sleep(0)  # let the pause reach Redis
    await asyncio.sleep(0.5)
    log: list[float] = []
    other: list[float] = []
    await asyncio.gather(
        admit(second, scope, log),
        admit(second, LimitScope(LimitScope.token_key_for("other"), "org-1"), other),
    )
    assert log == [pytest.approx(3.0)]
    assert other == [0.5]  # the token scope was paused, not the organization
    assert first.stats["shared_pauses"] == 1


@pytest.mark.virtual_time
async def test_retry_after_from_one_client_pauses_the_other(make: MakeLimiter) -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=3) as fake:
        limiters = [make([RateLimit(100, 1.0)]) for _ in range(2)]
        clients = [
            TallyfyClient(fake.token, base_url=fake.base_url, limiter=lim, allow_insecure_http=True)
            for lim in limiters
        ]
        fake.inject("429", path_contains="/me", retry_after=4)
        async with clients[0], clients[1]:
            first = asyncio.ensure_future(clients[0].me())
            await asyncio.sleep(1.0)
            await clients[1].me()  # issued at t=1, held by the shared pause
            await first
        times = [r.time for r in fake.requests]
        assert [r.status for r in fake.requests] == [429, 200, 200]
        assert times[0] == 0.0
        assert min(times[1:]) >= 4.0  # the pause covered the second client too
        assert clients[1].stats.rate_limited == 0


@pytest.mark.virtual_time
async def test_remaining_zero_does_not_gate_by_default(make: MakeLimiter) -> None:
    shared, gated = make([RateLimit(100, 1.0)]), make([RateLimit(100, 1.0)], remaining_gate=True)
    scope = LimitScope(TOKEN_KEY)
    times: dict[str, list[float]] = {"shared": [], "gated": []}
    for name, limiter in (("shared", shared), ("gated", gated)):
        first = await limiter.acquire(scope)
        await limiter.commit(first)
        # Another process used the window up: the server says 0 remaining.
        limiter.observe(first, status=200, remaining=0, retry_after=None)
        await admit(limiter, scope, times[name])
    assert times["shared"] == [0.0]  # the shared window decides, not this process's gate
    assert times["gated"] == [0.5]  # the opt-in local gate waits for its first probe


# ------------------------------------------------------------------------ keys
@pytest.mark.virtual_time
async def test_redis_keys_hold_a_token_hash_and_expire(redis_url: str, make: MakeLimiter) -> None:
    limiter = make([RateLimit(5, 60.0)], [RateLimit(3, 10.0)])
    scope = LimitScope(TOKEN_KEY, "org-7")
    await admit(limiter, scope, [])
    limiter.pause(scope, 2.0)
    await limiter.aclose()
    client = virtual_time_redis(redis_url, decode_responses=True)
    try:
        prefix = limiter._prefix  # the test owns this prefix
        keys = sorted(await client.keys(prefix + "*"))
        assert keys == sorted(
            [
                f"{prefix}:org:org-7:log:10",
                f"{prefix}:org:org-7:pace:10",
                f"{prefix}:token:{TOKEN_KEY}:log:60",
                f"{prefix}:token:{TOKEN_KEY}:pace:60",
                f"{prefix}:token:{TOKEN_KEY}:pause",
            ]
        )
        assert not any(TOKEN in key for key in keys)
        for key in keys:
            ttl = await client.pttl(key)
            assert 0 < ttl <= 62_000, key
        assert await client.pttl(f"{prefix}:org:org-7:log:10") <= 11_100
    finally:
        await client.aclose()


# ------------------------------------------------------------------------ Redis down
@pytest.mark.virtual_time
async def test_redis_stopped_mid_export_falls_back_and_loses_nothing(
    own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    limit = RateLimit(10, 1.0)
    redis_client = virtual_time_redis(own_redis.url)
    limiter = RedisRateLimiter(
        redis_client,
        [limit],
        key_prefix="stop-test",
        time_source="client",
        fallback=LocalRateLimiter([limit]),
        retry_interval=2.0,
    )
    caplog.set_level(logging.INFO, logger="aiotallyfy")
    async with FakeTallyfy(orgs=3, tasks_per_org=40, max_per_page=5, rate_limit=(10, 1.0)) as fake:
        orgs = fake.data.accessible_org_ids
        async with TallyfyClient(
            fake.token, base_url=fake.base_url, limiter=limiter, allow_insecure_http=True
        ) as client:

            async def stop_redis_after(requests: int) -> None:
                while len(fake.requests) < requests:  # noqa: ASYNC110 - polls the fake's log
                    await asyncio.sleep(0.05)
                own_redis.stop()

            stopper = asyncio.ensure_future(stop_redis_after(8))
            exported = await asyncio.gather(*(client.tasks.list(o).to_list() for o in orgs))
            await stopper
            assert limiter.using_fallback
            for org, tasks in zip(orgs, exported, strict=True):
                assert sorted(t["id"] for t in tasks) == sorted(fake.data.task_ids(org))
            assert client.stats.requests == len(fake.requests)
            assert fake.count(status=200) == 24  # 3 orgs x 8 pages, each exactly once
            assert limiter.stats["redis_admissions"] >= 8
            assert limiter.stats["fallback_admissions"] >= 1
            assert limiter.stats["outages"] == 1
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            assert "Redis rate limiter unavailable" in warnings[0].getMessage()

            # Back again: after retry_interval one request probes Redis and it takes over.
            own_redis.start()
            await asyncio.sleep(2.5)
            await client.me()
            assert not limiter.using_fallback
            assert any("reachable again" in r.getMessage() for r in caplog.records)
            assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    await redis_client.aclose()


@pytest.mark.virtual_time
async def test_fail_closed_raises_and_sends_nothing(own_redis: RedisProcess) -> None:
    url = f"redis://:pa55word@127.0.0.1:{own_redis.port}/0"
    own_redis.stop()
    limiter = RedisRateLimiter.from_url(url, [RateLimit(10, 1.0)], on_redis_error="fail_closed")
    async with FakeTallyfy(orgs=1) as fake:
        async with TallyfyClient(
            fake.token, base_url=fake.base_url, limiter=limiter, allow_insecure_http=True
        ) as client:
            with pytest.raises(RateLimiterUnavailableError) as caught:
                await client.me()
        assert len(fake.requests) == 0
    text = f"{caught.value} {caught.value!r} {limiter!r}"
    assert "pa55word" not in text
    assert "fail_closed" in str(caught.value)
    assert not limiter.using_fallback


# ------------------------------------------------------------------------ Redis's own clock
async def test_server_time_keeps_the_window_in_real_time(redis_url: str) -> None:
    prefix = f"real-{uuid.uuid4().hex[:8]}"
    limit = RateLimit(5, 0.2)
    limiters = [RedisRateLimiter.from_url(redis_url, [limit], key_prefix=prefix) for _ in range(2)]
    scope = LimitScope(TOKEN_KEY)
    sent: list[float] = []

    async def one(limiter: RedisRateLimiter) -> None:
        admission = await limiter.acquire(scope)
        await limiter.commit(admission)
        sent.append(time.monotonic())

    try:
        await asyncio.gather(*(one(limiters[i % 2]) for i in range(15)))
    finally:
        for limiter in limiters:
            await limiter.aclose()
    assert len(sent) == 15
    assert max_in_any_window(sent, 0.2) <= 5


def test_importing_aiotallyfy_does_not_import_redis() -> None:
    code = "import sys, aiotallyfy; assert 'redis' not in sys.modules; aiotallyfy.RedisRateLimiter"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ------------------------------------------------------------------------ four processes
def test_four_processes_share_one_budget(redis_url: str) -> None:
    """The benchmark's ``redis`` scenario, small: 4 worker processes, 1 fake server process."""
    run = subprocess.run(
        [
            *(sys.executable, str(BENCHMARK), "--scenarios", "redis", "--json"),
            *("--redis-url", redis_url, "--limit", "10/0.5", "--processes", "4"),
            *("--orgs", "8", "--tasks-per-org", "25", "--max-per-page", "5"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    [outcome] = json.loads(run.stdout)
    assert outcome["server"]["rate_limited"] == 0
    assert outcome["server"]["admitted"] == 40  # 8 orgs x 5 pages, each exactly once
    assert outcome["server"]["max_in_window"] <= 10
    assert outcome["data_exact"] is True
    assert [w["rate_limited"] for w in outcome["workers"]] == [0, 0, 0, 0]


async def test_cli_redis_url_shares_the_limit_and_never_echoes_the_url(redis_url: str) -> None:
    import io

    import orjson

    from aiotallyfy.cli import amain

    async with FakeTallyfy(orgs=3, tasks_per_org=[150, 40, 0], rate_limit=(30, 1.0)) as fake:
        env = {"TALLYFY_BASE_URL": fake.base_url, "TALLYFY_API_TOKEN": fake.token}
        out, err = io.BytesIO(), io.StringIO()
        argv = ["--redis-url", redis_url, "--rate", "30/1", "-q", "tasks", "--all-orgs"]
        code = await amain(argv, environ=env, stdout=out, stderr=err)
        assert code == 0, err.getvalue()
        ids = sorted(orjson.loads(line)["id"] for line in out.getvalue().splitlines())
        assert ids == sorted(t["id"] for o in fake.data.org_ids for t in fake.data.org_tasks(o))
        assert fake.count(status=429) == 0
        # The env var works too, and a malformed URL is a usage error that does not repeat it.
        bad = "redis://user:hunter2@[::1"
        err = io.StringIO()
        code = await amain(
            ["orgs"], environ={**env, "TALLYFY_REDIS_URL": bad}, stdout=io.BytesIO(), stderr=err
        )
        assert code == 2
        assert "hunter2" not in err.getvalue()
