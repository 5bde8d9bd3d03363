"""Time, behind a seam: every wait the client makes goes through a ``Clock``.

The default reads the running event loop's clock, the same one aiolimiter and aiohttp's
timeouts use, so that a virtual-time loop (``aiotallyfy.testing.VirtualTimeLoop``) makes the
whole stack deterministic. Tests may also inject their own clock.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and an async sleep on the same time line."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock (``loop.time()``) and ``asyncio.sleep``."""

    __slots__ = ()

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "LoopClock()"
