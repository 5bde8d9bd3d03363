"""The shared limiter against a hostile Redis: slow, jittery, gone, black-holed, skewed.

Redis is real (``redis-server`` on loopback, see ``_redis.py``); the hostility is a TCP proxy
written here (``LatencyProxy``) that holds every chunk for a delay on its way to Redis and
back, like a Redis in another zone, behind TLS, or on a congested link. On virtual time the
delays are virtual (exact and repeatable); while a command is inside ``redis-server`` the proxy
freezes the clock, as ``VirtualTimeRedis`` does, so that the real milliseconds Redis takes are
never mistaken for latency. A few tests run in real time, with small latencies and a bound on
the whole test.

What every test asserts: admission takes bounded time (never a livelock), the window is never
exceeded (sends counted per window), and Redis trouble is reported once per policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import _redis  # skips this module when redis-server or redis-py is missing
import pytest
import redis.asyncio as aioredis
from _redis import RedisProcess, max_in_any_window, virtual_time_redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiotallyfy import (
    LimitScope,
    LocalRateLimiter,
    RateLimit,
    RateLimiterUnavailableError,
    RedisRateLimiter,
    TallyfyClient,
)
from aiotallyfy.testing import FakeTallyfy, VirtualTimeLoop

redis_url = _redis.redis_url  # the session's redis-server (a fixture)
own_redis = _redis.own_redis  # a redis-server the test may stop (a fixture)

TOKEN_KEY = LimitScope.token_key_for("hostile-redis-token")
SCOPE = LimitScope(TOKEN_KEY)
Delay = Callable[[], float]


def fixed(seconds: float) -> Delay:
    return lambda: seconds


def jitter(low: float, high: float, seed: int) -> Delay:
    rng = random.Random(seed)
    return lambda: rng.uniform(low, high)


# ------------------------------------------------------------------------ the proxy
class LatencyProxy:
    """A TCP proxy on 127.0.0.1 in front of a Redis port.

    Each chunk read from one side is written to the other ``up()`` (to Redis) or ``down()``
    (back) seconds later, in order. ``black_hole`` swallows everything and never answers (a
    firewall dropping packets). On a ``VirtualTimeLoop`` the clock is frozen from the moment a
    command is written to Redis until its answer comes back.
    """

    def __init__(self, redis_port: int, up: Delay, down: Delay, *, black_hole: bool = False):
        self.redis_port = redis_port
        self.up = up
        self.down = down
        self.black_hole = black_hole
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def __aenter__(self) -> LatencyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()  # every pump then reads its end of stream and stops
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.append(writer)
        self.connections += 1
        frozen = _Freeze()
        try:
            if self.black_hole:
                while await reader.read(65536):
                    pass
                return
            try:
                to_redis = await asyncio.open_connection("127.0.0.1", self.redis_port)
            except OSError:
                return  # Redis is gone: the client sees its connection closed
            self._writers.append(to_redis[1])
            await asyncio.gather(
                _pump(reader, to_redis[1], self.up, after_write=frozen.freeze),
                _pump(to_redis[0], writer, self.down, after_read=frozen.thaw),
                return_exceptions=True,
            )
        finally:
            frozen.thaw()
            writer.close()
            self._handlers.discard(task)


class _Freeze:
    """Holds a ``VirtualTimeLoop``'s clock while Redis works on a command (a no-op otherwise)."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop if isinstance(loop, VirtualTimeLoop) else None
        self._held = False

    def freeze(self) -> None:
        if self._loop is not None and not self._held:
            self._loop._vt_freeze_depth += 1  # the loop's own freeze, as for executor jobs
            self._held = True

    def thaw(self) -> None:
        if self._loop is not None and self._held:
            self._loop._vt_freeze_depth -= 1
            self._held = False


def _nothing() -> None:
    return None


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: Delay,
    *,
    after_read: Callable[[], None] = _nothing,
    after_write: Callable[[], None] = _nothing,
) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay()`` seconds late, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        with contextlib.suppress(OSError):
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not chunk:
                    break
                writer.write(chunk)
                after_write()
                await writer.drain()
        writer.close()

    deliverer = asyncio.ensure_future(deliver())
    due = 0.0
    try:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(65536):
                after_read()
                due = max(due, loop.time() + delay())
                queue.put_nowait((due, chunk))
    finally:
        queue.put_nowait((due, b""))  # end of stream, after the data
        await deliverer


@asynccontextmanager
async def proxied(redis_port: int, up: Delay, down: Delay | None = None) -> AsyncIterator[str]:
    async with LatencyProxy(redis_port, up, down or up) as proxy:
        yield proxy.url


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def redis_client(url: str, *, socket_timeout: float = 2.0) -> aioredis.Redis:
    """A plain client (the proxy, not the client, freezes virtual time while Redis works)."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1),
    )


def prefix() -> str:
    return f"hostile-{uuid.uuid4().hex[:8]}"


async def admit(
    limiter: RedisRateLimiter, log: list[float], clock: Callable[[], float] | None = None
) -> None:
    """One admission; its send time (the loop's clock, or ``clock``) goes to ``log``."""
    admission = await limiter.acquire(SCOPE)
    await limiter.commit(admission)
    log.append(clock() if clock is not None else asyncio.get_running_loop().time())


async def admit_in_turn(limiter: RedisRateLimiter, count: int, log: list[float]) -> None:
    """``count`` admissions one after another, within 30 s (a livelock fails, not hangs)."""
    async with asyncio.timeout(30):
        for _ in range(count):
            await admit(limiter, log)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# ------------------------------------------------------------------------ slow
@pytest.mark.virtual_time
@pytest.mark.parametrize("one_way", [0.015, 0.03, 0.1], ids=lambda s: f"{s * 2000:g}ms-rtt")
async def test_slow_redis_admits_in_bounded_time(redis_url: str, one_way: float) -> None:
    """H4: at a 30 ms round trip every admission was withdrawn as late, forever."""
    async with proxied(port_of(redis_url), fixed(one_way)) as url:
        client = redis_client(url)
        limiter = RedisRateLimiter(
            client, [RateLimit(100, 1.0)], key_prefix=prefix(), time_source="client"
        )
        log: list[float] = []
        try:
            await admit_in_turn(limiter, 5, log)
        finally:
            await limiter.aclose()
            await client.aclose()
    rtt = 2 * one_way
    # The first admission also opens the connection and loads the scripts: a few round trips.
    assert log[0] <= 10 * rtt
    # Then each costs exactly its two round trips: pacing, and the window guard.
    assert [b - a for a, b in itertools.pairwise(log)] == [pytest.approx(2 * rtt)] * 4
    assert limiter.stats["redis_admissions"] == 5
    assert limiter.stats["fallback_admissions"] == 0
    assert limiter.stats["late_withdrawn"] == 0
    assert not limiter.using_fallback


@pytest.mark.virtual_time
async def test_slow_and_jittery_redis_keeps_the_window_across_processes(redis_url: str) -> None:
    """Three "processes" share one window: one next to Redis, one whose answers come back
    100 ms late (the worst case: its records lag its sends the most), one with 15-100 ms of
    jitter each way. Any N+1 sends must still be more than S apart, with half the margin to
    spare for the network to Tallyfy."""
    limit = RateLimit(5, 1.0, burst=5)  # a full burst: the window guard, not pacing, decides
    key_prefix = prefix()
    port = port_of(redis_url)
    sends: list[float] = []
    async with (
        proxied(port, fixed(0.0), fixed(0.1)) as late_url,
        proxied(port, jitter(0.015, 0.1, seed=1), jitter(0.015, 0.1, seed=2)) as jittery_url,
    ):
        clients = [virtual_time_redis(redis_url), redis_client(late_url), redis_client(jittery_url)]
        limiters = [
            RedisRateLimiter(c, [limit], key_prefix=key_prefix, time_source="client")
            for c in clients
        ]
        try:
            async with asyncio.timeout(60):
                for burst_at in (0.0, 2.5):
                    await asyncio.sleep(max(0.0, burst_at - asyncio.get_running_loop().time()))
                    await asyncio.gather(*(admit(lim, sends) for lim in limiters for _ in range(6)))
        finally:
            for lim in limiters:
                await lim.aclose()
            for c in clients:
                await c.aclose()
    assert len(sends) == 36
    margin = max(0.05, 0.01 * limit.seconds)
    assert max_in_any_window(sends, limit.seconds + margin / 2 - 1e-9) == limit.requests
    assert sum(lim.stats["redis_admissions"] for lim in limiters) == 36
    assert sum(lim.stats["fallback_admissions"] for lim in limiters) == 0
    # Not starved either: 36 sends need 7 further windows, plus the late process's allowance.
    assert max(sends) <= 7 * (limit.seconds + margin) + 2.5


async def test_stalled_event_loop_still_admits_and_keeps_the_window(redis_url: str) -> None:
    """A loop that is busy 15 ms per iteration delays every Redis answer by a few times that (real
    time: the stall is CPU, which a virtual clock would not see)."""
    limit = RateLimit(3, 0.3, burst=3)
    key_prefix = prefix()
    limiters = [RedisRateLimiter.from_url(redis_url, [limit], key_prefix=key_prefix) for _ in "ab"]
    sends: list[float] = []

    async def hog() -> None:
        while True:
            time.sleep(0.015)  # noqa: ASYNC251 - the point: a callback that holds the loop
            await asyncio.sleep(0)

    stall = asyncio.ensure_future(hog())
    started = time.monotonic()
    try:
        async with asyncio.timeout(8):
            await asyncio.gather(*(admit(limiters[i % 2], sends, time.monotonic) for i in range(6)))
    finally:
        stall.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stall
        for limiter in limiters:
            await limiter.aclose()
    assert len(sends) == 6
    assert max_in_any_window(sends, limit.seconds) <= limit.requests
    assert time.monotonic() - started < 8
    assert sum(lim.stats["redis_admissions"] for lim in limiters) == 6


@pytest.mark.virtual_time
@pytest.mark.parametrize("policy", ["fallback", "fail_closed"])
async def test_redis_too_slow_for_the_window_follows_the_policy(
    redis_url: str, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Answers that take 0.6 s cannot hold a window to its margin: a bounded number of tries,
    then the configured policy, never a spin."""
    caplog.set_level(logging.INFO, logger="aiotallyfy")
    async with proxied(port_of(redis_url), fixed(0.3)) as url:
        client = redis_client(url)
        limiter = RedisRateLimiter(
            client,
            [RateLimit(100, 1.0)],
            key_prefix=prefix(),
            time_source="client",
            on_redis_error=policy,  # type: ignore[arg-type]
        )
        log: list[float] = []
        try:
            async with asyncio.timeout(30):
                if policy == "fail_closed":
                    with pytest.raises(RateLimiterUnavailableError) as caught:
                        await admit(limiter, log)
                    assert "fail_closed" in str(caught.value)
                else:
                    await admit_in_turn(limiter, 3, log)
        finally:
            await limiter.aclose()
            await client.aclose()
    # Bounded: pacing (opening the connection and loading scripts) plus three late tries.
    first_done = log[0] if log else asyncio.get_running_loop().time()
    assert first_done <= 10.0
    assert 1 <= limiter.stats["late_withdrawn"] <= 3
    assert limiter.stats["redis_admissions"] == 0
    if policy == "fallback":
        assert limiter.using_fallback
        assert limiter.stats["fallback_admissions"] == 3
        assert log[1:] == [log[0], log[0]]  # the next ones go straight to the fallback
        [warning] = warnings_of(caplog)
        assert "Redis rate limiter unavailable" in warning
    else:
        assert log == []
        assert limiter.stats["fallback_admissions"] == 0
        assert warnings_of(caplog) == []


# ------------------------------------------------------------------------ gone
@pytest.mark.virtual_time
async def test_redis_stopped_mid_run_behind_a_slow_link(
    own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiotallyfy")
    # Paced one at a time (the default burst before issue 11 was N/10 = 1), so the window has
    # room when Redis goes: any wait at the switch would be the outage's.
    limit = RateLimit(10, 1.0, burst=1)
    async with proxied(own_redis.port, fixed(0.015)) as url:
        client = redis_client(url, socket_timeout=0.5)
        limiter = RedisRateLimiter(
            client,
            [limit],
            key_prefix=prefix(),
            time_source="client",
            fallback=LocalRateLimiter([limit]),
            retry_interval=60.0,
        )
        log: list[float] = []
        try:
            async with asyncio.timeout(60):
                for i in range(30):
                    if i == 10:
                        own_redis.stop()
                    await admit(limiter, log)
        finally:
            await limiter.aclose()
            await client.aclose()
    assert len(log) == 30
    assert limiter.stats["redis_admissions"] == 10
    assert limiter.stats["fallback_admissions"] == 20
    assert limiter.stats["outages"] == 1
    assert max_in_any_window(log, limit.seconds) <= limit.requests
    # The outage costs at most one failed pacing call (a refused connection): no waiting.
    assert log[10] - log[9] <= 0.2
    [warning] = warnings_of(caplog)
    assert "Redis rate limiter unavailable" in warning


@pytest.mark.virtual_time
async def test_black_holed_redis_costs_one_socket_timeout_then_falls_back(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiotallyfy")
    async with LatencyProxy(port_of(redis_url), fixed(0), fixed(0), black_hole=True) as proxy:
        limiter = RedisRateLimiter.from_url(
            proxy.url, [RateLimit(100, 1.0)], key_prefix=prefix(), retry_interval=10.0
        )
        log: list[float] = []
        try:
            await admit_in_turn(limiter, 5, log)
        finally:
            await limiter.aclose()
    # socket_timeout (0.5 s), once more for redis-py's one retry, then the fallback at once.
    assert log == [pytest.approx(1.0)] * 5
    assert limiter.stats["fallback_admissions"] == 5
    assert len(warnings_of(caplog)) == 1


# ------------------------------------------------------------------------ skewed
class SkewedClock:
    """The loop's clock, offset: another host's monotonic clock (which starts at its boot)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:
        return asyncio.get_running_loop().time() + self.offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def test_skewed_clocks_and_a_slow_link_share_one_window(redis_url: str) -> None:
    """Local clocks 1 h ahead and 1 day behind (negative) of each other, one process behind a
    30 ms round trip: with Redis's clock only durations cross the wire (real time)."""
    limit = RateLimit(5, 0.2)
    key_prefix = prefix()
    sends: list[float] = []
    async with proxied(port_of(redis_url), fixed(0.015)) as slow_url:
        limiters = [
            RedisRateLimiter.from_url(url, [limit], key_prefix=key_prefix, clock=SkewedClock(skew))
            for url, skew in ((redis_url, 0.0), (redis_url, 3600.0), (slow_url, -86400.0))
        ]
        started = time.monotonic()
        try:
            async with asyncio.timeout(8):
                await asyncio.gather(
                    *(admit(limiters[i % 3], sends, time.monotonic) for i in range(15))
                )
        finally:
            for limiter in limiters:
                await limiter.aclose()
    assert len(sends) == 15
    assert max_in_any_window(sends, limit.seconds) <= limit.requests
    assert time.monotonic() - started < 8
    assert [lim.stats["redis_admissions"] for lim in limiters] == [5, 5, 5]


# ------------------------------------------------------------------------ end to end
async def test_client_me_answers_through_a_30ms_redis(redis_url: str) -> None:
    """H4 end to end: ``client.me()`` had no answer after 10 s; 0 requests reached the API."""
    async with (
        proxied(port_of(redis_url), fixed(0.015)) as url,
        FakeTallyfy(orgs=1) as fake,
    ):
        limiter = RedisRateLimiter.from_url(url, key_prefix=prefix())
        async with TallyfyClient(
            fake.token, base_url=fake.base_url, limiter=limiter, timeout=2
        ) as client:
            started = time.monotonic()
            async with asyncio.timeout(5):
                me = await client.me()
            elapsed = time.monotonic() - started
    assert me["email"] == fake.data.me["email"]
    assert len(fake.requests) == 1
    assert elapsed < 2.0
    assert limiter.stats["redis_admissions"] == 1
    assert limiter.stats["late_withdrawn"] == 0
