"""Tests for aiotallyfy.testing._virtual_time: a virtual clock over real loopback I/O."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiolimiter import AsyncLimiter

from aiotallyfy.testing._virtual_time import (
    VirtualTimeLoop,
    run_virtual,
    virtual_time_loop_factories,
)

pytest_plugins = ["pytester"]


def _blocking_sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


# --- pure timers ----------------------------------------------------------------------------


def test_sleep_an_hour_is_instant_and_exact() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        before = loop.time()
        await asyncio.sleep(3600)
        return before, loop.time()

    real0 = time.perf_counter()
    assert run_virtual(main()) == (0.0, 3600.0)
    assert run_virtual(main, start=1000.0) == (1000.0, 4600.0)
    assert time.perf_counter() - real0 < 1.0


def test_wait_for_times_out_at_exactly_30_virtual_seconds() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        never = asyncio.Event()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(never.wait(), 30)
        return loop.time()

    assert run_virtual(main) == 30.0


def test_timers_fire_in_deadline_order_on_exact_deadlines() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        fired: list[tuple[str, float]] = []

        async def sleeper(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            fired.append((name, loop.time()))

        await asyncio.gather(
            sleeper("c", 0.3), sleeper("a", 0.1), sleeper("b", 0.2), sleeper("d", 1e6)
        )
        return fired

    # start=0.7: now + (when - now) is not exact in floats; the loop lands on `when` itself.
    fired = run_virtual(main, start=0.7)
    assert fired == [("a", 0.7 + 0.1), ("b", 0.7 + 0.2), ("c", 0.7 + 0.3), ("d", 0.7 + 1e6)]


def test_advance_moves_the_clock_forward_only() -> None:
    async def main() -> tuple[float, bool]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        handle = loop.call_later(5, lambda: None)
        loop.advance(7.5)
        assert loop.time() == 7.5
        await asyncio.sleep(0)
        with pytest.raises(ValueError, match="cannot advance"):
            loop.advance(-1)
        return loop.time(), handle.cancelled()

    assert run_virtual(main) == (7.5, False)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="finite start"):
        VirtualTimeLoop(float("nan"))
    with pytest.raises(ValueError, match="io_grace >= 0"):
        VirtualTimeLoop(io_grace=-1)


def test_run_virtual_accepts_async_callable_and_closes_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> str:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(1)
        return "done"

    assert run_virtual(main) == "done"
    assert loops[0].is_closed()


def test_without_timers_the_loop_blocks_on_real_io() -> None:
    """No timer pending: the loop really waits, here for a foreign thread's wake-up."""

    async def main() -> tuple[str, float, float]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        timer = threading.Timer(0.03, loop.call_soon_threadsafe, (fut.set_result, "woken"))
        real0 = time.perf_counter()
        timer.start()
        result = await fut
        timer.join()
        return result, loop.time(), time.perf_counter() - real0

    result, vtime, real = run_virtual(main)
    assert (result, vtime) == ("woken", 0.0)
    assert real >= 0.025


# --- executor threads freeze virtual time -----------------------------------------------------


def test_executor_job_freezes_virtual_time() -> None:
    """Documented behaviour: while a run_in_executor job is pending the virtual clock does
    not move at all (the loop waits for it in real time, still running callbacks), so the
    job completes at the virtual instant it started and no virtual timer (a pending 1 s
    sleep, a 10 ms wait_for timeout) can fire before it."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sleeper = asyncio.ensure_future(asyncio.sleep(1.0, result="timer"))
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        ticking = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)

        real0 = time.perf_counter()
        assert await loop.run_in_executor(None, _blocking_sleep, 0.05) == 0.05
        assert time.perf_counter() - real0 >= 0.045
        assert loop.time() == 0.0
        assert not sleeper.done()
        stop = True
        await ticking
        assert ticks > 1  # ready callbacks kept running during the real wait

        # A virtual timeout shorter than the job's real duration cannot expire.
        job = loop.run_in_executor(None, _blocking_sleep, 0.03)
        assert await asyncio.wait_for(job, timeout=0.01) == 0.03
        assert await asyncio.to_thread(_blocking_sleep, 0.01) == 0.01
        assert loop.time() == 0.0

        # Once no job is pending, time jumps again.
        assert await sleeper == "timer"
        assert loop.time() == 1.0

    real0 = time.perf_counter()
    run_virtual(main)
    assert time.perf_counter() - real0 < 1.0


def test_shutdown_default_executor_freezes_time() -> None:
    """Joining the executor's threads happens in real time; virtual timers wait for it."""

    async def main() -> tuple[float, list[float]]:
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(None, _blocking_sleep, 0.05)
        job.cancel()  # no longer pending for the loop, but the thread runs on
        fired: list[float] = []
        loop.call_later(1, lambda: fired.append(loop.time()))
        await loop.shutdown_default_executor()
        frozen_at = loop.time()
        await asyncio.sleep(2)
        return frozen_at, fired

    assert run_virtual(main) == (0.0, [1.0])


# --- aiolimiter ------------------------------------------------------------------------------


def test_aiolimiter_burst_then_steady_rate() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        limiter = AsyncLimiter(10, 1)
        times: list[float] = []

        async def acquire() -> None:
            async with limiter:
                times.append(loop.time())

        await asyncio.gather(*(acquire() for _ in range(100)))
        return times

    real0 = time.perf_counter()
    times = run_virtual(main)
    assert time.perf_counter() - real0 < 1.0
    assert len(times) == 100
    assert times[:10] == [0.0] * 10  # the burst
    # Then one every 0.1 s. (Float rounding in aiolimiter makes it spin on a due timer at
    # times; the spin guard's 1 ns nudges are the only deviation from the ideal schedule.)
    assert times[10:] == pytest.approx([(i - 9) / 10 for i in range(10, 100)], abs=1e-7)
    assert times[-1] == pytest.approx(9.0, abs=1e-7)
    assert times == sorted(times)


def test_spin_guard_nudges_a_timer_spinning_at_now() -> None:
    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        done: asyncio.Future[int] = loop.create_future()
        spins = 0

        def spin() -> None:
            nonlocal spins
            spins += 1
            if loop.time() > start:
                done.set_result(spins)
            else:
                loop.call_at(loop.time(), spin)  # due at once: a frozen clock would never move

        loop.call_at(start, spin)
        return await done, loop.time() - start

    spins, moved = run_virtual(main, start=5.0)
    assert spins == 16  # 16 consecutive iterations scheduled a due timer: then the nudge
    assert 0 < moved <= 1e-9 + 1e-15


# --- aiohttp client and server in the same loop over real loopback sockets -------------------


async def _delayed(request: web.Request) -> web.Response:
    loop = asyncio.get_running_loop()
    started = loop.time()
    delay = float(request.query["delay"])
    await asyncio.sleep(delay)
    return web.json_response(
        {"id": request.query.get("id"), "started": started, "finished": loop.time()}
    )


@asynccontextmanager
async def _serve() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/delayed", _delayed)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        # Backlog above the number of simultaneous connections: see the module docstring.
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def test_aiohttp_response_after_virtual_delay() -> None:
    async def main() -> tuple[dict[str, Any], float]:
        loop = asyncio.get_running_loop()
        async with _serve() as base, aiohttp.ClientSession() as session:
            timeout = aiohttp.ClientTimeout(total=60)
            async with session.get(f"{base}/delayed?delay=10", timeout=timeout) as resp:
                assert resp.status == 200
                body: dict[str, Any] = await resp.json()
            return body, loop.time()

    real0 = time.perf_counter()
    body, received_at = run_virtual(main)
    assert time.perf_counter() - real0 < 1.0
    assert body == {"id": None, "started": 0.0, "finished": 10.0}
    assert received_at == 10.0


def test_aiohttp_total_timeout_at_virtual_deadline() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        async with _serve() as base, aiohttp.ClientSession() as session:
            timeout = aiohttp.ClientTimeout(total=5)
            with pytest.raises(TimeoutError):
                async with session.get(f"{base}/delayed?delay=10", timeout=timeout) as resp:
                    await resp.read()
            timed_out_at = loop.time()
        # Server shutdown waits for the still-sleeping handler, in virtual time too.
        return timed_out_at, loop.time()

    real0 = time.perf_counter()
    timed_out_at, _ = run_virtual(main)
    assert time.perf_counter() - real0 < 1.0
    assert timed_out_at == 5.0


def test_aiohttp_200_concurrent_requests_ordered_by_virtual_time() -> None:
    delays = [((i * 7) % 20 + 1) / 2 for i in range(200)]  # 0.5 .. 10.0, 10 of each

    async def main() -> list[tuple[int, float, dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        done: list[tuple[int, float, dict[str, Any]]] = []
        connector = aiohttp.TCPConnector(limit=0)
        async with _serve() as base, aiohttp.ClientSession(connector=connector) as session:

            async def fetch(i: int) -> None:
                url = f"{base}/delayed?delay={delays[i]}&id={i}"
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=60)) as resp:
                    assert resp.status == 200
                    done.append((i, loop.time(), await resp.json()))

            await asyncio.gather(*(fetch(i) for i in range(200)))
        return done

    real0 = time.perf_counter()
    done = run_virtual(main)
    assert time.perf_counter() - real0 < 2.0
    assert sorted(i for i, _, _ in done) == list(range(200))
    for i, received_at, body in done:
        # Every request reached its handler before the clock first moved ...
        assert body == {"id": str(i), "started": 0.0, "finished": delays[i]}
        # ... and its response arrived at exactly its virtual deadline.
        assert received_at == delays[i]
    completion_times = [t for _, t, _ in done]
    assert completion_times == sorted(completion_times)


# --- pytest-asyncio recipe ---------------------------------------------------------------------


def test_virtual_time_loop_factories_selects_by_marker() -> None:
    class Item:
        def __init__(self, marked: bool) -> None:
            self.marked = marked

        def get_closest_marker(self, name: str) -> object | None:
            return object() if self.marked and name == "virtual_time" else None

    assert virtual_time_loop_factories(Item(True)) == {"virtual_time": VirtualTimeLoop}
    assert virtual_time_loop_factories(Item(False)) == {"asyncio": asyncio.new_event_loop}


_RECIPE_CONFTEST = """
import pytest

from aiotallyfy.testing._virtual_time import virtual_time_loop_factories


def pytest_configure(config):
    config.addinivalue_line("markers", "virtual_time: run this async test on a VirtualTimeLoop")


def pytest_asyncio_loop_factories(config, item):
    return virtual_time_loop_factories(item)
"""

_RECIPE_TESTS = """
import asyncio

import pytest

from aiotallyfy.testing._virtual_time import VirtualTimeLoop


@pytest.fixture
async def after_a_minute():
    await asyncio.sleep(60)
    yield asyncio.get_running_loop()
    await asyncio.sleep(60)


@pytest.mark.virtual_time
async def test_virtual(after_a_minute):
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    assert after_a_minute is loop
    assert loop.time() == 60.0
    await asyncio.sleep(3600)
    assert loop.time() == 3660.0


async def test_unmarked_uses_a_normal_loop():
    assert not isinstance(asyncio.get_running_loop(), VirtualTimeLoop)


def test_sync_untouched():
    pass
"""


def test_pytest_asyncio_recipe(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    pytester.makeconftest(_RECIPE_CONFTEST)
    pytester.makepyfile(test_recipe=_RECIPE_TESTS)
    result = pytester.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    # One factory per test: ids are not parametrized.
    result.stdout.fnmatch_lines(["*test_recipe.py::test_virtual PASSED*"])
