"""Every page of a Tallyfy list, as one async iterator.

Tallyfy's envelope (League Fractal): ``{"data": [...], "meta": {"pagination": {"total",
"count", "per_page", "current_page", "total_pages", "links"}}}`` where ``links`` is ``[]``
when there is no previous or next page (a PHP empty array), else an object with ``previous``
and/or ``next``. We ask for ``per_page=100`` (the server's maximum), read page 1, then fetch
the remaining pages concurrently (a bounded window ahead) and yield items strictly in page
order. Each page fetch goes through the client's one retry layer, so a 429 or a dropped
connection in the middle is retried there and the iteration goes on.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import orjson

from ._errors import PaginationError

__all__ = ["AsyncPager", "PageInfo", "PendingPage", "parse_page"]

T = TypeVar("T")

MAX_PER_PAGE = 100
DEFAULT_MAX_PAGES = 100_000

FetchPage = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class PageInfo:
    """What one page says about the list. ``None`` where the server left a counter out."""

    items: list[Any]
    current_page: int | None
    total_pages: int | None
    total: int | None
    has_next_link: bool


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_page(payload: Any) -> PageInfo:
    """Read one page of the envelope, tolerating ``links`` as ``[]``, ``{}``, ``null`` or
    missing, and a missing ``meta`` (then the response is the whole list)."""
    if isinstance(payload, list):
        return PageInfo(payload, None, None, None, False)
    if not isinstance(payload, dict):
        raise PaginationError(f"expected a JSON object with 'data', got {type(payload).__name__}")
    data = payload.get("data")
    if data is None:
        data = []
    if not isinstance(data, list):
        raise PaginationError("expected 'data' to be a list")
    meta = payload.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    if not isinstance(pagination, dict):
        return PageInfo(data, None, None, None, False)
    links = pagination.get("links")
    has_next = isinstance(links, dict) and bool(links.get("next"))
    return PageInfo(
        items=data,
        current_page=_as_int(pagination.get("current_page")),
        total_pages=_as_int(pagination.get("total_pages")),
        total=_as_int(pagination.get("total")),
        has_next_link=has_next,
    )


def _item_key(item: Any) -> Any:
    if isinstance(item, dict):
        return item.get("id", None)
    return None


# (items on the page, items handed out or None once ``limit`` was reached, total_pages)
PageStep = tuple[int, int | None, int | None]


class PendingPage(Generic[T]):
    """A page fetched ahead and handed on undecoded: ``take()`` decodes, checks and cuts it
    when the consumer reaches it, so that its objects are born just before they are used
    and die young, instead of aging in a queue where the garbage collector rescans them."""

    __slots__ = ("_done", "_outcome", "_payload", "_settle", "count")

    def __init__(self, payload: Any, settle: Callable[[Any], tuple[list[T], PageStep]]):
        self._payload = payload
        self._settle = settle
        self._done = asyncio.Event()
        self._outcome: PageStep | BaseException | None = None
        self.count = 0  # items handed out by ``take()``

    def take(self) -> list[T]:
        """The page's items (``[]`` if it failed: the pager raises its error in the worker)."""
        payload, self._payload = self._payload, None
        try:
            if isinstance(payload, bytes):
                try:
                    payload = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    return []  # outcome None: the pager fetches the page again
            batch, self._outcome = self._settle(payload)
        except Exception as exc:
            self._outcome = exc
            return []
        finally:
            self._done.set()
        self.count = len(batch)
        return batch

    async def taken(self) -> int:
        """Wait until the consumer took the page; the number of items it handed out."""
        await self._done.wait()
        return self.count

    async def settled(self) -> PageStep | None:
        """What the page says about going on, ``None`` if the body was not JSON; raises the
        page's check error. Counts only: the page's objects belong to the consumer alone."""
        await self._done.wait()
        outcome = self._outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class AsyncPager(Generic[T]):
    """An async iterator over every item of a list, across all pages.

    ``async for task in client.tasks.list_mine(org_id): ...``. It can be iterated once.
    ``limit`` stops after that many items; ``prefetch`` is how many pages may be in flight
    (and buffered) ahead of the consumer.

    ``fetch_raw``, if given, returns the same payload as ``fetch`` but may leave it as the
    undecoded ``bytes`` body: pages after the first then wait in the prefetch window
    undecoded and are decoded when the consumer reaches them. Decoded pages held there are
    thousands of objects that survive into the garbage collector's older generations and make
    its full collections expensive; bytes are not tracked by it at all.
    """

    def __init__(
        self,
        fetch: FetchPage,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int = MAX_PER_PAGE,
        prefetch: int = 4,
        limit: int | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        describe: str = "list",
        fetch_raw: FetchPage | None = None,
    ) -> None:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        if prefetch < 1:
            raise ValueError("prefetch must be >= 1")
        self._fetch = fetch
        self._params = {k: v for k, v in (params or {}).items() if v is not None}
        self._params.pop("page", None)
        self._params["per_page"] = per_page
        self._per_page = per_page
        self._prefetch = prefetch
        self._limit = limit
        self._max_pages = max_pages
        self._describe = describe
        self._iterator: AsyncGenerator[Any, None] | None = None
        self._fetch_raw = fetch_raw
        self.pages_fetched = 0
        self.total: int | None = None

    def __repr__(self) -> str:
        return f"AsyncPager({self._describe}, per_page={self._params['per_page']})"

    def __aiter__(self) -> AsyncIterator[T]:
        if self._iterator is not None:
            raise RuntimeError("an AsyncPager can be iterated only once; call the method again")
        self._iterator = self._items()
        return self._iterator

    async def to_list(self) -> list[T]:
        """Every item in one list. For large lists prefer ``async for``: memory stays flat."""
        return [item async for item in self]

    async def _get(self, page: int) -> PageInfo:
        params = dict(self._params)
        params["page"] = page
        info = parse_page(await self._fetch(params))
        self.pages_fetched += 1
        return info

    async def _get_ahead(self, page: int) -> Any:
        """A page fetched ahead of the consumer: undecoded when the source can (see
        ``fetch_raw``), so that it waits in the window as one ``bytes`` object."""
        if self._fetch_raw is None:
            return await self._get(page)
        params = dict(self._params)
        params["page"] = page
        return await self._fetch_raw(params)

    async def _resolve(self, page: int, fetched: Any) -> PageInfo:
        """Decode a page fetched ahead, now that the consumer has reached it. A body that is
        not JSON is fetched again through the ordinary path, whose one retry layer treats it
        like any malformed answer (retried, or raised once retries run out)."""
        if isinstance(fetched, bytes):
            try:
                fetched = orjson.loads(fetched)
            except orjson.JSONDecodeError:
                return await self._get(page)
        return self._parse(fetched)

    def _parse(self, payload: Any) -> PageInfo:
        if isinstance(payload, PageInfo):
            return payload  # fetched by ``_get``: already parsed and counted
        info = parse_page(payload)
        self.pages_fetched += 1
        return info

    def _iter_lazy_pages(self) -> AsyncGenerator[list[T] | PendingPage[T], None]:
        """Every page's items as one list (the last one cut at ``limit``), for consumers that
        move whole pages (``fan_out_stream``), except that a page fetched ahead comes as a
        ``PendingPage`` that the final consumer decodes with ``take()``; the generator goes on
        only once it has. So a page that waits in a queue between a worker and its consumer
        waits undecoded."""
        if self._iterator is not None:
            raise RuntimeError("an AsyncPager can be iterated only once; call the method again")
        self._iterator = generator = self._pages(lazy=True)
        return generator

    async def _items(self) -> AsyncGenerator[T, None]:
        pages = self._pages()
        try:
            async for batch in pages:
                for item in cast(list[T], batch):
                    yield item
        finally:
            await pages.aclose()  # now, not at garbage collection: cancels the prefetch window

    async def _pages(self, lazy: bool = False) -> AsyncGenerator[list[T] | PendingPage[T], None]:
        yielded = 0
        seen_first_keys: set[Any] = set()
        limit = self._limit

        def take(items: list[Any]) -> list[T] | None:
            """The part of a page to hand out; ``None`` once ``limit`` is reached. Item by
            item this was: stop at the first item past the limit."""
            nonlocal yielded
            if limit is None:
                yielded += len(items)
                return items
            room = limit - yielded
            if room <= 0:
                return None if items else items
            batch = items[:room] if room < len(items) else items
            yielded += len(batch)
            return batch

        def check(page: int, info: PageInfo) -> None:
            if info.current_page is not None and info.current_page != page:
                raise PaginationError(
                    f"{self._describe}: asked for page {page}, the server sent page "
                    f"{info.current_page} (it may be ignoring the page parameter)"
                )
            if info.items:
                key = (_item_key(info.items[0]), _item_key(info.items[-1]), len(info.items))
                if key[0] is not None and key in seen_first_keys:
                    raise PaginationError(
                        f"{self._describe}: page {page} repeats an earlier page; stopping "
                        "instead of looping"
                    )
                seen_first_keys.add(key)

        def settle(page: int, payload: Any) -> tuple[list[T], PageStep]:
            """Parse and check a page fetched ahead, and cut it at ``limit``: the batch to
            hand out, and the counts the pager goes on with (it keeps no reference to the
            page, so the page dies as soon as its consumer is done with it)."""
            info = self._parse(payload)
            check(page, info)
            if not info.items:
                return [], (0, 0, info.total_pages)
            batch = take(info.items)
            return batch or [], (
                len(info.items),
                None if batch is None else len(batch),
                info.total_pages,
            )

        first = await self._get(1)
        check(1, first)
        self.total = first.total
        batch = take(first.items)
        if batch is None:
            return
        if batch:
            yield batch
        if len(batch) < len(first.items):
            return

        if first.total_pages is None:
            # No page count: walk while the server links a next page (the Go CLI's rule).
            page, info = 1, first
            while info.has_next_link and info.items:
                page += 1
                self._guard_page_cap(page)
                info = await self._get(page)
                check(page, info)
                batch = take(info.items)
                if batch is None:
                    return
                if batch:
                    yield batch
                if len(batch) < len(info.items):
                    return
            return

        last_page = first.total_pages
        del first, batch  # page 1 belongs to the consumer now
        next_page = 2
        window: dict[int, asyncio.Task[Any]] = {}
        try:
            page = 2
            while page <= last_page:
                self._guard_page_cap(page)
                while next_page <= last_page and len(window) < self._prefetch:
                    window[next_page] = asyncio.ensure_future(self._get_ahead(next_page))
                    next_page += 1
                fetched = await window.pop(page)
                step: PageStep | None
                if lazy:
                    pending = PendingPage[T](fetched, functools.partial(settle, page))
                    del fetched
                    yield pending
                    step = await pending.settled()
                    if step is None:
                        # Not JSON: fetch it again through the retry layer, which retries it.
                        pending = PendingPage[T](
                            await self._get(page), functools.partial(settle, page)
                        )
                        yield pending
                        step = await pending.settled()
                        assert step is not None  # already parsed: nothing to decode
                    del pending
                else:
                    page_batch, step = settle(page, await self._resolve(page, fetched))
                    del fetched
                    if step[0] and step[1] is not None:
                        yield page_batch
                    del page_batch
                items, taken, total_pages = step
                if not items:
                    # The list shrank while we read it: nothing further to read.
                    return
                if taken is None or taken < items:
                    return  # ``limit`` reached
                if page == last_page and total_pages and total_pages > last_page:
                    # The list grew while we read it: keep going to the new end.
                    last_page = total_pages
                page += 1
        finally:
            for task in window.values():
                task.cancel()
            if window:
                await asyncio.gather(*window.values(), return_exceptions=True)

    def _guard_page_cap(self, page: int) -> None:
        if page > self._max_pages:
            raise PaginationError(
                f"{self._describe}: more than {self._max_pages} pages; stopping (max_pages)"
            )
