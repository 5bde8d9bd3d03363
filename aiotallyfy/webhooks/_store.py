"""De-duplication of webhook deliveries: a tiny protocol and an in-memory TTL/LRU store.

Tallyfy delivers each webhook once, never retries, and the same event can arrive more than
once; receivers must be idempotent. The handler claims an event's ``dedup_key`` before it
runs your callback (so two concurrent copies cannot both run) and releases the claim if the
callback fails. For several receiver processes, implement ``DedupStore`` over a shared store
(e.g. Redis ``SET key 1 NX EX ttl`` for ``claim``, ``DEL`` for ``release``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["DedupStore", "MemoryDedupStore"]


@runtime_checkable
class DedupStore(Protocol):
    async def claim(self, key: str) -> bool:
        """Mark ``key`` as seen; ``True`` if it was new (process it), ``False`` if seen."""
        ...

    async def release(self, key: str) -> None:
        """Forget ``key`` (its processing failed, so a later copy may be processed)."""
        ...


class MemoryDedupStore:
    """Keys remembered for ``ttl`` seconds, at most ``max_entries`` (oldest evicted first).

    One process only; state is lost on restart. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        *,
        ttl: float = 24 * 3600.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries < 1:
            raise ValueError("ttl must be > 0 and max_entries >= 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now:
                break
            del self._seen[key]

    async def claim(self, key: str) -> bool:
        now = self._clock()
        self._expire(now)
        if key in self._seen:
            return False
        self._seen[key] = now + self.ttl
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return True

    async def release(self, key: str) -> None:
        self._seen.pop(key, None)
