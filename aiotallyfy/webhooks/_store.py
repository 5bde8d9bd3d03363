"""De-duplication of webhook deliveries: a tiny protocol and an in-memory TTL/LRU store.

Tallyfy delivers each webhook once, never retries, and the same event can arrive more than
once; receivers must be idempotent. The handler claims an event's ``dedup_key`` before it
runs your callback (so two concurrent copies cannot both run) and releases the claim if the
callback fails. For several receiver processes, implement ``DedupStore`` over a shared store
(e.g. Redis ``SET key 1 NX EX ttl`` for ``claim``, ``DEL`` for ``release``).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

__all__ = ["DedupStore", "MemoryDedupStore"]

_MAX_KEY: Final = 128
"""Keys longer than this are remembered by their SHA-256 (the bundled keys are shorter)."""
_ENTRY_OVERHEAD: Final = 120
"""Bytes per entry besides the key string: the ordered-dict node and slot, the expiry float."""
_MIN_BYTES: Final = 1024


@runtime_checkable
class DedupStore(Protocol):
    async def claim(self, key: str) -> bool:
        """Mark ``key`` as seen; ``True`` if it was new (process it), ``False`` if seen."""
        ...

    async def release(self, key: str) -> None:
        """Forget ``key`` (its processing failed, so a later copy may be processed)."""
        ...


def _bounded(key: str) -> str:
    if len(key) <= _MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _cost(key: str) -> int:
    return sys.getsizeof(key) + _ENTRY_OVERHEAD


class MemoryDedupStore:
    """Keys remembered for ``ttl`` seconds, at most ``max_entries`` and about ``max_bytes``
    of memory (oldest evicted first).

    Bounded in bytes as well as in count: a key longer than 128 characters is remembered by
    its SHA-256, so no sender can make one entry large (``nbytes`` is the running estimate).
    One process only; state is lost on restart. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        *,
        ttl: float = 24 * 3600.0,
        max_entries: int = 100_000,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0 or max_entries < 1:
            raise ValueError("ttl must be > 0 and max_entries >= 1")
        if max_bytes < _MIN_BYTES:
            raise ValueError(f"max_bytes must be at least {_MIN_BYTES}")
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def nbytes(self) -> int:
        """Estimated memory held by the entries (keys, nodes, expiry times)."""
        return self._bytes

    def _evict_oldest(self) -> None:
        key, _ = self._seen.popitem(last=False)
        self._bytes -= _cost(key)

    def _expire(self, now: float) -> None:
        while self._seen:
            expires = next(iter(self._seen.values()))
            if expires > now:
                break
            self._evict_oldest()

    async def claim(self, key: str) -> bool:
        key = _bounded(key)
        now = self._clock()
        self._expire(now)
        if key in self._seen:
            return False
        self._seen[key] = now + self.ttl
        self._bytes += _cost(key)
        while len(self._seen) > self.max_entries or self._bytes > self.max_bytes:
            self._evict_oldest()
        return True

    async def release(self, key: str) -> None:
        key = _bounded(key)
        if self._seen.pop(key, None) is not None:
            self._bytes -= _cost(key)
