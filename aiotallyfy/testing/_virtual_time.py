"""A virtual-time asyncio event loop: deterministic, instant timing tests with real loopback I/O.

Everything time-related in the client stack reads the *event loop's* clock: aiolimiter
(``loop.time()`` / ``loop.call_at``), ``asyncio.sleep``, ``asyncio.timeout``/``wait_for``,
aiohttp's ``ClientTimeout`` and the aiohttp.web server's keep-alive timers.
:class:`VirtualTimeLoop` is a normal :class:`asyncio.SelectorEventLoop` whose ``time()`` is a
virtual clock. Whenever the loop would go to sleep waiting for its next timer, it instead checks
(for real, without blocking) whether any socket is ready and, only if nothing at all is
happening, jumps the virtual clock straight to that timer. A ``Retry-After: 30`` test, a
sliding-window rate-limit test or a hung-response timeout therefore run in milliseconds and
give the same virtual timestamps on every run.

Usage from a plain (sync) test::

    from aiotallyfy.testing import run_virtual

    def test_retry_after() -> None:
        async def main() -> None:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(30)
            assert loop.time() == 30.0

        run_virtual(main())        # or run_virtual(main)

``asyncio.Runner(loop_factory=VirtualTimeLoop)`` works as well.

pytest-asyncio 1.x recipe
-------------------------
pytest-asyncio 1.x (checked against 1.5.0) runs each async test and fixture in an
``asyncio.Runner`` whose ``loop_factory`` comes from its ``pytest_asyncio_loop_factories(config,
item)`` hook
(``firstresult``; it must return a non-empty ``{name: factory}`` mapping for *every* async
test it sees; when it returns a single factory, test ids are unchanged). Put this in a
``conftest.py`` (the hook is conftest/plugin-level; a test module cannot implement it)::

    import pytest
    from aiotallyfy.testing import virtual_time_loop_factories

    def pytest_configure(config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers", "virtual_time: run this async test on a VirtualTimeLoop"
        )

    def pytest_asyncio_loop_factories(config, item):
        # {"virtual_time": VirtualTimeLoop} for tests marked virtual_time,
        # {"asyncio": asyncio.new_event_loop} for every other async test.
        return virtual_time_loop_factories(item)

and mark tests (or a whole module with ``pytestmark = pytest.mark.virtual_time``)::

    @pytest.mark.virtual_time
    async def test_backoff() -> None:
        await asyncio.sleep(3600)       # instant
        assert asyncio.get_running_loop().time() == 3600.0

The loop lives as long as its ``loop_scope`` (function by default); give async fixtures that
must share it the same scope. Do not use the old ``event_loop_policy`` fixture override: it is
deprecated in pytest-asyncio 1.x (emits ``PytestDeprecationWarning``) and policies are
deprecated in Python 3.14.

Semantics and limits
--------------------
* Virtual time only moves when the loop has nothing else to do: no ready callbacks, no ready
  file descriptor on a non-blocking real poll (and, when any descriptor other than the loop's
  own wake-up pipe is registered, on a second real poll of ``io_grace`` seconds, 1 ms by
  default, which gives the kernel time to deliver loopback data). All I/O in flight on
  127.0.0.1 is therefore processed "at the same instant" before time moves on.
* With no timers and nothing ready, the loop blocks on real I/O (``select(None)``) as usual.
* Threads would race a virtual clock. Every ``loop.run_in_executor`` job (this includes
  ``asyncio.to_thread`` and ``loop.getaddrinfo``) *freezes* virtual time: while one is pending
  the loop keeps doing real I/O and running callbacks but waits in real time (it is woken by
  the job's completion) and never advances the clock, so a job that really takes 50 ms
  completes at the same virtual instant it started, and no virtual timeout can expire while
  it runs. ``loop.shutdown_default_executor()`` freezes time in the same way (so Python
  3.12+'s ``asyncio.Runner`` 300 s join timeout cannot fire spuriously). Threads started by
  other means (``threading.Thread`` + ``call_soon_threadsafe``, subprocess watchers) are not
  tracked, nor is a job whose future was cancelled: virtual time may jump past them.
* Use loopback **IP literals** (``http://127.0.0.1:PORT``), not ``localhost``: aiohttp's
  ``TCPConnector._resolve_host`` skips the resolver for IP literals, and asyncio's
  ``create_server``/``create_connection`` short-circuit ``getaddrinfo`` for them, so no thread
  is involved. (A hostname still works with aiohttp's default ``ThreadedResolver``: it just
  freezes time while resolving; ``aiodns``'s network queries would not.) Real network
  peers are not supported: their latency would be invisible to the virtual clock.
* Keep the listen backlog above the number of simultaneous connections (aiohttp's default
  connector limit of 100 is below ``TCPSite``'s default backlog of 128): a SYN dropped by a
  full accept queue is retransmitted only after one *real* second, during which virtual time
  would run on.
* Spin guard: with a frozen clock, code that reacts to a due timer by scheduling another timer
  for "now" would spin forever (a real clock always moves on a little). aiolimiter does this
  when float rounding leaves its bucket a hair over capacity. So when
  16 consecutive loop iterations each schedule a timer that is already due, the clock is
  nudged forward by max(1 ns, 1 ulp). Only such spinning code ever sees the nudge (the
  affected timestamps are off by nanoseconds); it never happens while time is frozen.
* The clock never goes backwards; :meth:`VirtualTimeLoop.advance` moves it forward by hand.
  In asyncio debug mode "slow callback" warnings are measured in virtual time (never fire).

Private asyncio API relied on: none is required. The loop is built with the public
``SelectorEventLoop(selector=...)`` argument and a ``selectors.BaseSelector`` proxy, and
overrides only public methods (``time``, ``call_at``, ``run_in_executor``,
``shutdown_default_executor``). The design relies on this behaviour of
``BaseEventLoop._run_once``, the same in 3.11, 3.12 and 3.13 (3.13 rewrote the clamp only):
``timeout = 0`` if callbacks are ready, ``None`` if there are no timers, otherwise
``min(max(0, next_when - self.time()), MAXIMUM_SELECT_TIMEOUT)``; then
``self._selector.select(timeout)``; then timers with ``when < self.time() + clock_resolution``
run. As an *optional* refinement the proxy reads ``loop._scheduled[0].when()`` to land the
clock exactly on the timer's deadline instead of ``now + timeout`` (which can differ by one
float ulp); if that attribute ever disappears it silently falls back to ``now + timeout``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import math
import selectors
import sys
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, TypeVarTuple

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

__all__ = ["VirtualTimeLoop", "run_virtual", "virtual_time_loop_factories"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

#: Real seconds to wait per poll while virtual time is frozen (executor jobs pending).
_FROZEN_POLL = 0.05
#: Consecutive loop iterations that each scheduled a timer already due before the spin guard
#: nudges the clock (see the module docstring).
_SPIN_LIMIT = 16
#: Smallest nudge, about the resolution of the real monotonic clock.
_MIN_TICK = 1e-9


class _VirtualClockSelector(selectors.BaseSelector):
    """Delegates to a real selector; turns timer sleeps into virtual-clock jumps."""

    def __init__(self, real: selectors.BaseSelector) -> None:
        self._real = real
        self._loop_ref: weakref.ref[VirtualTimeLoop] | None = None

    def bind(self, loop: VirtualTimeLoop) -> None:
        self._loop_ref = weakref.ref(loop)

    # --- plain delegation -------------------------------------------------------------------
    def register(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    # --- the virtual-time logic -------------------------------------------------------------
    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop_ref() if self._loop_ref is not None else None
        if loop is not None:
            loop._vt_spin_guard()
        if loop is None or timeout is None or timeout <= 0:
            # Ready callbacks (0) or no timers at all (None): exactly the real behaviour.
            return self._real.select(timeout)
        events = self._real.select(0)
        if events:
            return events
        if loop._vt_frozen():
            # Executor jobs in flight: wait in real time; their completion wakes us up
            # through the loop's self-pipe. The clock stays where it is.
            return self._real.select(_FROZEN_POLL)
        if loop._vt_io_grace > 0 and len(self._real.get_map()) > 1:
            events = self._real.select(loop._vt_io_grace)
            if events:
                return events
        loop._vt_jump(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop with a virtual clock that jumps to the next timer when idle.

    :param start: initial value of :meth:`time` (virtual seconds).
    :param io_grace: real seconds of a second, blocking poll before each jump, used only while
        file descriptors besides the loop's wake-up pipe are registered (0 disables it).
    """

    def __init__(self, start: float = 0.0, *, io_grace: float = 0.001) -> None:
        self._vt_now = float(start)
        self._vt_io_grace = float(io_grace)
        self._vt_executor_futures: set[asyncio.Future[Any]] = set()
        self._vt_freeze_depth = 0
        self._vt_due_now_scheduled = False
        self._vt_spins = 0
        selector = _VirtualClockSelector(selectors.DefaultSelector())
        super().__init__(selector)
        selector.bind(self)
        if not math.isfinite(self._vt_now) or not self._vt_io_grace >= 0:
            self.close()
            raise ValueError(f"need a finite start and io_grace >= 0, got {start!r}, {io_grace!r}")

    def time(self) -> float:
        """The virtual clock, in seconds."""
        return self._vt_now

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward by hand; due timers run on the next iteration."""
        if not seconds >= 0:
            raise ValueError(f"cannot advance by {seconds!r} seconds")
        self._vt_now += seconds

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        if when <= self._vt_now:
            self._vt_due_now_scheduled = True
        return super().call_at(when, callback, *args, context=context)

    # --- threads freeze virtual time ---------------------------------------------------------
    def run_in_executor(
        self,
        executor: Executor | None,
        func: Callable[[*_Ts], _T],
        *args: *_Ts,
    ) -> asyncio.Future[_T]:
        fut = super().run_in_executor(executor, func, *args)
        self._vt_executor_futures.add(fut)
        fut.add_done_callback(self._vt_executor_futures.discard)
        return fut

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """As the base method, with virtual time frozen until the executor has shut down."""
        self._vt_freeze_depth += 1
        try:
            if sys.version_info >= (3, 12):
                await super().shutdown_default_executor(timeout)
            else:
                await super().shutdown_default_executor()
        finally:
            self._vt_freeze_depth -= 1

    # --- used by the selector proxy ------------------------------------------------------------
    def _vt_frozen(self) -> bool:
        if self._vt_freeze_depth:
            return True
        return any(not fut.done() for fut in self._vt_executor_futures)

    def _vt_spin_guard(self) -> None:
        """Called once per loop iteration: nudge the clock if code spins on due timers."""
        if not self._vt_due_now_scheduled:
            self._vt_spins = 0
            return
        self._vt_due_now_scheduled = False
        self._vt_spins += 1
        if self._vt_spins >= _SPIN_LIMIT and not self._vt_frozen():
            self._vt_spins = 0
            self._vt_now += max(_MIN_TICK, math.ulp(self._vt_now))

    def _vt_jump(self, timeout: float) -> None:
        """Advance to the timer ``_run_once`` is about to wait ``timeout`` seconds for."""
        now = self._vt_now
        target = now + timeout
        deadline = self._vt_next_deadline()
        if (
            deadline is not None
            and deadline >= now
            and abs(deadline - target) <= 1e-9 * max(1.0, abs(target))
        ):
            target = deadline  # exact, instead of now + (deadline - now) in floating point
        if target > now:
            self._vt_now = target
            self._vt_spins = 0

    def _vt_next_deadline(self) -> float | None:
        # Optional private-API refinement; see the module docstring.
        scheduled = getattr(self, "_scheduled", None)
        if not isinstance(scheduled, list) or not scheduled:
            return None
        head = scheduled[0]
        if not isinstance(head, asyncio.TimerHandle) or head.cancelled():
            return None
        return head.when()


def run_virtual(
    main: Coroutine[Any, Any, _T] | Callable[[], Awaitable[_T]],
    *,
    start: float = 0.0,
) -> _T:
    """Run ``main`` (a coroutine, or an async function to call) on a fresh VirtualTimeLoop.

    Like :func:`asyncio.run`: remaining tasks are cancelled, async generators and the default
    executor are shut down and the loop is closed. Returns ``main``'s result.
    """
    coro: Coroutine[Any, Any, _T] = main if isinstance(main, Coroutine) else _await(main())
    with asyncio.Runner(loop_factory=functools.partial(VirtualTimeLoop, start)) as runner:
        return runner.run(coro)


async def _await(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


class _MarkedItem(Protocol):
    def get_closest_marker(self, name: str) -> object | None: ...


def virtual_time_loop_factories(
    item: _MarkedItem,
    *,
    marker: str = "virtual_time",
    default: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Result for pytest-asyncio's ``pytest_asyncio_loop_factories(config, item)`` hook.

    ``{"virtual_time": VirtualTimeLoop}`` for items carrying ``marker``, otherwise
    ``{"asyncio": default}``. Exactly one factory either way, so test ids do not change.
    """
    if item.get_closest_marker(marker) is not None:
        return {"virtual_time": VirtualTimeLoop}
    return {"asyncio": default}
