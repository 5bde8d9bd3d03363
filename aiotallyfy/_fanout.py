"""Many organizations at once, with per-organization results, never all-or-nothing.

``fan_out`` gathers each org's items and yields one ``OrgResult`` per org as each finishes.
``FanOutStream`` (``client.fan_out_stream``) yields ``(org_id, item)`` as items arrive, or a
page at a time (``pages()``), through a bounded buffer, so an export of any size runs in
constant memory. In both, one org's failure is recorded in its result and never cancels the
others; cancelling the consumer (or leaving the loop) cancels every worker and waits for them,
so nothing keeps running behind the caller's back.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ._checks import positive_int
from ._errors import PaginationError
from ._pagination import Page, SupportsPages

__all__ = ["FanOutStream", "OrgResult", "fan_out"]

T = TypeVar("T")

OrgSource = Callable[[str], AsyncIterable[T]]


@dataclass(slots=True)
class OrgResult(Generic[T]):
    """One organization's outcome: its items (for ``fan_out``) or its item count (for the
    stream), and the error that stopped it, if any."""

    org_id: str
    items: list[T] = field(default_factory=list)
    count: int = 0
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _dedupe(org_ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(org_ids))


async def _cancel_all(tasks: Iterable[asyncio.Task[None]]) -> None:
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


def fan_out(
    org_ids: Iterable[str],
    fn: OrgSource[T],
    *,
    concurrency: int = 8,
) -> AsyncIterator[OrgResult[T]]:
    """Run ``fn(org_id)`` for every org, ``concurrency`` at a time; yield each org's result
    as it finishes (completion order). A bad ``concurrency`` raises here, at the call, not at
    the first iteration."""
    positive_int("concurrency", concurrency)
    return _fan_out(org_ids, fn, concurrency)


async def _fan_out(
    org_ids: Iterable[str], fn: OrgSource[T], concurrency: int
) -> AsyncIterator[OrgResult[T]]:
    orgs = _dedupe(org_ids)
    done: asyncio.Queue[OrgResult[T]] = asyncio.Queue()
    gate = asyncio.Semaphore(concurrency)

    async def run(org_id: str) -> None:
        result: OrgResult[T] = OrgResult(org_id)
        async with gate:
            try:
                async for item in fn(org_id):
                    result.items.append(item)
                    result.count += 1
            except Exception as exc:  # one org's failure is its own result
                result.error = exc
        done.put_nowait(result)

    tasks = [
        asyncio.create_task(run(org_id), name=f"aiotallyfy-fanout-{org_id}") for org_id in orgs
    ]
    try:
        for _ in orgs:
            yield await done.get()
    finally:
        await _cancel_all(tasks)


class FanOutStream(Generic[T]):
    """``async for org_id, item in stream``; afterwards ``stream.results`` holds every org's
    ``OrgResult`` (count and error), and ``stream.failed`` the ones that failed.

    At most ``buffer`` items wait between the workers and the consumer: a slow consumer
    slows the fetching down instead of growing memory.
    """

    def __init__(
        self,
        org_ids: Iterable[str],
        fn: OrgSource[T],
        *,
        concurrency: int = 8,
        buffer: int = 1000,
        on_org_done: Callable[[OrgResult[T]], None] | None = None,
    ) -> None:
        positive_int("concurrency", concurrency)
        positive_int("buffer", buffer)
        self.org_ids = _dedupe(org_ids)
        self._fn = fn
        self._concurrency = concurrency
        self._buffer = buffer
        self._on_org_done = on_org_done
        self.results: dict[str, OrgResult[T]] = {}
        self._started = False

    @property
    def failed(self) -> list[OrgResult[T]]:
        return [r for r in self.results.values() if r.error is not None]

    def __aiter__(self) -> AsyncIterator[tuple[str, T]]:
        self._start()
        return _Items(self._run())

    def pages(self) -> AsyncIterator[tuple[str, Sequence[T]]]:
        """``async for org_id, items in stream.pages()``: a page at a time, in each org's page
        order. The same stream as item by item, for consumers that write whole pages (a bulk
        export): a plain ``for`` over each page costs less than an ``async for`` per item."""
        self._start()
        return self._run()

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a FanOutStream can be iterated only once")
        self._started = True

    async def _run(self) -> AsyncGenerator[tuple[str, Sequence[T]], None]:
        # Whole pages travel through the queue when the source has ``pages()`` (one hand-off
        # per page, not per item); a plain async iterable's items travel as one-item pages.
        # ``buffer`` still counts items: a worker waits while ``buffer`` or more are queued (a
        # page not decoded yet counts as full). A page travels undecoded and is decoded here,
        # in the consumer's task, so its objects die young; its worker asks for the next page
        # only once the consumer has taken it (``Page.taken``).
        queue: asyncio.Queue[tuple[str, Page[T]] | OrgResult[T]] = asyncio.Queue()
        gate = asyncio.Semaphore(self._concurrency)
        buffer = self._buffer
        queued = 0
        space = asyncio.Event()
        space.set()

        async def put(org_id: str, page: Page[T]) -> None:
            nonlocal queued
            while queued >= buffer:
                space.clear()
                await space.wait()
            queued += page.capacity
            queue.put_nowait((org_id, page))

        async def run(org_id: str) -> None:
            result: OrgResult[T] = OrgResult(org_id)
            async with gate:
                try:
                    source = self._fn(org_id)
                    if isinstance(source, SupportsPages):
                        async for page in source.pages():
                            await put(org_id, page)
                            result.count += await page.taken()
                            del page  # decoded: it belongs to the consumer alone now
                    else:
                        async for item in source:
                            await put(org_id, Page.of([item]))
                            result.count += 1
                except Exception as exc:
                    result.error = exc
            queue.put_nowait(result)

        tasks = [
            asyncio.create_task(run(org_id), name=f"aiotallyfy-stream-{org_id}")
            for org_id in self.org_ids
        ]
        remaining = len(tasks)
        try:
            while remaining:
                entry = await queue.get()
                if isinstance(entry, OrgResult):
                    remaining -= 1
                    self.results[entry.org_id] = entry
                    if self._on_org_done is not None:
                        self._on_org_done(entry)
                    continue
                org_id, page = entry
                queued -= page.capacity
                if queued < buffer:
                    space.set()
                try:
                    items = page.take()  # the page keeps no reference: they die young
                except PaginationError:
                    continue  # the org's worker raises it from its pager: that org fails
                del page
                if items:
                    yield org_id, items
                del items  # the consumer's alone: freed as soon as it is done with it
        finally:
            await _cancel_all(tasks)


class _Items(Generic[T]):
    """``async for org_id, item in stream``: the pages of ``FanOutStream._run``, an item at a
    time. A class rather than an async generator: a step that only moves on to the page's next
    item is a coroutine that returns at once, no generator frame to suspend and resume, about
    a fifth less CPU per item (measured at ~0.33 against ~0.40 us); it awaits only to take
    the next page. Leaving the loop or cancelling it reaches ``_run`` the same way as before
    (its ``finally`` cancels the workers); ``aclose()`` closes it now."""

    __slots__ = ("_batches", "_items", "_org_id")

    def __init__(self, batches: AsyncGenerator[tuple[str, Sequence[T]], None]) -> None:
        self._batches = batches
        self._org_id = ""
        self._items: Iterator[T] = iter(())

    def __aiter__(self) -> _Items[T]:
        return self

    async def __anext__(self) -> tuple[str, T]:
        for item in self._items:
            return self._org_id, item
        # The next page (StopAsyncIteration at the end); ``_run`` yields no empty page.
        self._org_id, batch = await self._batches.__anext__()
        self._items = iter(batch)
        return self._org_id, next(self._items)

    async def aclose(self) -> None:
        """Stop now, like an async generator's ``aclose()``: the rest of the page is dropped
        too, and every later step ends the loop."""
        self._items = iter(())
        await self._batches.aclose()
