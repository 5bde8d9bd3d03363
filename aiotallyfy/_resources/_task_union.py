"""Every task of an organization, whatever ``GET .../tasks`` does without ``status``.

``/me/tasks`` is proven to read a missing ``status`` as ``active`` (tallyfy/sdk#76); for the
org-wide ``/tasks`` no source says either way. So "every task" is not asked of the default
view. It is read as the union of two views the docs list as ``status`` values and that
partition the tasks (``incomplete`` and ``complete``: DOCS list-org-tasks), de-duplicated by
id, and then checked: one request for one item of the default view gives that view's total,
and only if it holds MORE tasks than the union found (tasks neither filter shows, e.g. if
``auto-skipped`` ones count as neither) is the default view walked as well.

Complete under either server behaviour: if the default view is every task, its total
equals the union's size unless the filters missed some, which are then read; if it is only
active tasks, it is a subset of ``incomplete`` and its total is never larger. Cost: the
pages of the two views plus one request, instead of the pages of one. ``incomplete`` is read
before ``complete``, so a task completed during the export shows up in both (and is written
once) rather than in neither; a task REOPENED between the two views can still be missed.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing

from .._pagination import MAX_PER_PAGE, AsyncPager, Page, SeenIds
from .._types import Task

__all__ = ["PARTITION", "TaskUnion"]

PARTITION = ("incomplete", "complete")
"""``status`` values of ``GET .../tasks`` (DOCS list-org-tasks) that split the tasks."""

MakePager = Callable[[str | None, int, int | None, SeenIds | None], AsyncPager[Task]]
"""``(status, per_page, limit, exclude)`` → a pager of the org's tasks with the caller's
filters, skipping the ids in ``exclude`` and adding its own."""


class TaskUnion:
    """``async for task in client.tasks.list_every(org)``: each task once; or a page at a
    time with ``pages()``, like an ``AsyncPager``. Iterable once."""

    def __init__(self, make: MakePager, *, statuses: Sequence[str] = PARTITION) -> None:
        self._make = make
        self._statuses = tuple(statuses)
        self._pagers: list[AsyncPager[Task]] = []
        self._started = False
        self.default_view_walked = False
        """Whether the default view had tasks the filters did not show (and was walked)."""

    def __repr__(self) -> str:
        return f"TaskUnion(statuses={self._statuses})"

    @property
    def total(self) -> int | None:
        """The sum of the totals the filtered views reported so far (for progress)."""
        totals = [p.total for p in self._pagers[: len(self._statuses)] if p.total is not None]
        return sum(totals) if totals else None

    def __aiter__(self) -> AsyncIterator[Task]:
        return self._items(self.pages())

    async def to_list(self) -> list[Task]:
        return [task async for task in self]

    async def _items(self, pages: AsyncGenerator[Page[Task], None]) -> AsyncIterator[Task]:
        try:
            async for page in pages:
                for task in page.items():
                    yield task
                del page
        finally:
            await pages.aclose()

    def pages(self) -> AsyncGenerator[Page[Task], None]:
        """Every page of every view walked, each task once (a page may be short, or empty,
        where an earlier view already handed out its tasks)."""
        if self._started:
            raise RuntimeError("a TaskUnion can be iterated only once; call the method again")
        self._started = True
        return self._pages()

    async def _pages(self) -> AsyncGenerator[Page[Task], None]:
        # Ids handed out so far, shared by the views' pagers: a task completed during the
        # export is in both views and is handed out once. It lives as long as the walk,
        # 16 bytes a task (``CompactIds``).
        seen = CompactIds()
        # Each view's pages are closed as soon as the loop over them ends: a pager's window
        # is cancelled then, not at garbage collection.
        for status in self._statuses:
            pager = self._make(status, MAX_PER_PAGE, None, seen)
            self._pagers.append(pager)
            async with aclosing(pager.pages()) as pages:
                async for page in pages:
                    yield page
                    del page  # not kept alive while the next one is fetched
        probe = self._make(None, 1, 1, None)
        async with aclosing(probe.pages()) as pages:
            async for page in pages:
                page.items()  # page 1 only: its meta has the total
                break
        if probe.total is not None and probe.total <= len(seen):
            return
        self.default_view_walked = True
        async with aclosing(self._make(None, MAX_PER_PAGE, None, seen).pages()) as pages:
            async for page in pages:
                yield page
                del page


_HEX_ID = re.compile(r"[0-9a-f]{32}")
_LOW = (1 << 64) - 1


class CompactIds:
    """A set of ids in 16 bytes each: Tallyfy's ids are 32 hex digits, that is a 128-bit
    number, kept as two 64-bit halves in sorted arrays (found with ``bisect``, exact: no
    hashing, so no two ids can be taken for each other). The newest ids wait in a plain set
    until there are an eighth as many as sorted ones, then are merged in, so adding stays
    cheap. Any other id (not 32 lowercase hex digits) is kept as it is, in a plain set.

    An org's every-status union needs every id it handed out (a task completed during the
    export is in both views); as a ``set`` of strings that was about 100 bytes a task per org
    being read, the one part of an export's memory that grew with the org's size."""

    __slots__ = ("_high", "_low", "_other", "_recent")

    def __init__(self) -> None:
        self._high = array("Q")
        self._low = array("Q")
        self._recent: set[str] = set()
        self._other: set[str | int] = set()

    def __len__(self) -> int:
        return len(self._high) + len(self._recent) + len(self._other)

    def __contains__(self, key: object, /) -> bool:
        if not isinstance(key, str) or _HEX_ID.fullmatch(key) is None:
            return key in self._other
        if key in self._recent:
            return True
        value = int(key, 16)
        high, low = value >> 64, value & _LOW
        at = bisect_left(self._high, high)
        size = len(self._high)
        while at < size and self._high[at] == high:
            if self._low[at] == low:
                return True
            at += 1
        return False

    def add(self, key: str | int, /) -> None:
        if not isinstance(key, str) or _HEX_ID.fullmatch(key) is None:
            self._other.add(key)
            return
        self._recent.add(key)
        if len(self._recent) >= max(1024, len(self._high) >> 3):
            self._merge()

    def _merge(self) -> None:
        values = [int(key, 16) for key in self._recent]
        values += [(hi << 64) | lo for hi, lo in zip(self._high, self._low, strict=True)]
        values.sort()
        self._high = array("Q", [v >> 64 for v in values])
        self._low = array("Q", [v & _LOW for v in values])
        self._recent = set()
