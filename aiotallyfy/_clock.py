"""Time, behind a seam: every wait the client makes goes through a ``Clock``.

The default reads the running event loop's clock, the same one aiolimiter and aiohttp's
timeouts use, so that a virtual-time loop (``aiotallyfy.testing.VirtualTimeLoop``) makes the
whole stack deterministic. Tests may also inject their own clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import monotonic
from typing import Protocol

_BASE_TIME = asyncio.BaseEventLoop.time


class Clock(Protocol):
    """Monotonic seconds and an async sleep on the same time line."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock (``loop.time()``) and ``asyncio.sleep``."""

    __slots__ = ()

    def now(self) -> float:
        """The running loop's ``time()``: for the standard loop that is ``time.monotonic()``,
        read directly (one Python frame less); any other loop (a virtual-time one, uvloop) is
        asked."""
        loop = asyncio.get_running_loop()
        return monotonic() if type(loop).time is _BASE_TIME else loop.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "LoopClock()"


def reader_for(clock: Clock) -> Callable[[], float]:
    """``clock.now`` as one callable, for a caller on the running loop that reads it several
    times: for ``LoopClock`` and the standard loop, ``time.monotonic`` itself (its
    ``time()`` is exactly that: one Python frame less per reading); the loop's own ``time``
    for any other loop; any other clock's ``now``."""
    if type(clock) is not LoopClock:
        return clock.now
    loop = asyncio.get_running_loop()
    return monotonic if type(loop).time is _BASE_TIME else loop.time
