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

from collections.abc import AsyncIterator, Callable, Sequence

from .._errors import PaginationError
from .._pagination import MAX_PER_PAGE, AsyncPager
from .._types import Task

__all__ = ["PARTITION", "TaskUnion"]

PARTITION = ("incomplete", "complete")
"""``status`` values of ``GET .../tasks`` (DOCS list-org-tasks) that split the tasks."""

MakePager = Callable[[str | None, int, int | None], AsyncPager[Task]]
"""``(status, per_page, limit)`` → a pager of the org's tasks with the caller's filters."""


class TaskUnion:
    """``async for task in client.tasks.list_every(org)``: each task once. Iterable once."""

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
        if self._started:
            raise RuntimeError("a TaskUnion can be iterated only once; call the method again")
        self._started = True
        return self._items()

    async def to_list(self) -> list[Task]:
        return [task async for task in self]

    async def _items(self) -> AsyncIterator[Task]:
        seen: set[str] = set()
        for status in self._statuses:
            pager = self._make(status, MAX_PER_PAGE, None)
            self._pagers.append(pager)
            async for task in pager:
                key = _key(task)
                if key not in seen:
                    seen.add(key)
                    yield task
        probe = self._make(None, 1, 1)
        first_page = probe.__aiter__()
        try:  # page 1 only: its meta has the total; closing stops any page fetched ahead
            await anext(first_page, None)
        finally:
            await first_page.aclose()  # type: ignore[attr-defined]
        if probe.total is not None and probe.total <= len(seen):
            return
        self.default_view_walked = True
        async for task in self._make(None, MAX_PER_PAGE, None):
            key = _key(task)
            if key not in seen:
                seen.add(key)
                yield task


def _key(task: Task) -> str:
    key = task.get("id") if isinstance(task, dict) else None
    if not isinstance(key, str) or not key:
        raise PaginationError("a task without an 'id' in a task list: cannot de-duplicate it")
    return key
