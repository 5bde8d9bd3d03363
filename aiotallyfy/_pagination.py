"""Every page of a Tallyfy list, as one async iterator.

Tallyfy's envelope (League Fractal): ``{"data": [...], "meta": {"pagination": {"total",
"count", "per_page", "current_page", "total_pages", "links"}}}`` where ``links`` is ``[]``
when there is no previous or next page (a PHP empty array), else an object with ``previous``
and/or ``next``. We ask for ``per_page=100`` (the server's maximum), read page 1, then fetch
the remaining pages concurrently (a bounded window ahead) and yield items strictly in page
order. Each page fetch goes through the client's one retry layer, so a 429 or a dropped
connection in the middle is retried there and the iteration goes on.

What the pager hands out is the whole list or a ``PaginationError``, never a silent part of
it: a page it does not fully understand (``parse_page``) and a list that ends short of the
total its first page announced both raise, saying how far the list got (``_pages``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast

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
    count: int | None = None
    per_page: int | None = None
    enveloped: bool = True
    """False for a bare JSON list (a route that answers with the whole list, no envelope)."""


_COUNTERS: Final = ("total", "count", "per_page", "current_page", "total_pages")


def _shown(value: Any) -> str:
    """A server value, short, for an error message."""
    text = repr(value)
    return f"{type(value).__name__} {text[:30]}{'...' if len(text) > 30 else ''}"


def _counter(pagination: dict[str, Any], name: str) -> int | None:
    """One Fractal counter: absent or null is tolerated, anything but a non-negative JSON
    integer is not (Fractal casts all five with ``(int)``; a float or a string is a server
    we do not understand, and guessing at it once cut a list to a third, silently)."""
    value = pagination.get(name)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise PaginationError(
            f"meta.pagination.{name} is {_shown(value)}, not a non-negative integer"
        )
    return value


def parse_page(payload: Any) -> PageInfo:
    """Read one page of the envelope, or raise ``PaginationError`` for a page we do not fully
    understand.

    Tolerated, because Tallyfy's sources show them (``tallyfy-api.md`` §4): ``links`` as
    ``[]``, ``{}``, ``null`` or missing; ``meta`` or ``meta.pagination`` missing (then the
    page is the whole list, as the Go CLI treats it); any counter missing or null; a bare
    JSON list (a route without the envelope). Refused, because they contradict the envelope:
    no ``data`` list (missing, ``null``, an object, ...), ``meta``/``pagination``/``links`` of
    another type, a counter that is not a non-negative integer, a ``count`` other than the
    number of items, more items than ``per_page`` or ``total``.
    """
    if isinstance(payload, list):
        return PageInfo(payload, None, None, None, False, enveloped=False)
    if not isinstance(payload, dict):
        raise PaginationError(f"expected a JSON object with a 'data' list, got {_shown(payload)}")
    if "data" not in payload:
        keys = ", ".join(repr(str(k)[:20]) for k in list(payload)[:5])
        raise PaginationError(f"the page has no 'data' list (keys: {keys or 'none'})")
    data = payload["data"]
    if not isinstance(data, list):
        raise PaginationError(f"'data' is {_shown(data)}, not a list")
    meta = payload.get("meta")
    if meta is None:
        return PageInfo(data, None, None, None, False)
    if not isinstance(meta, dict):
        raise PaginationError(f"'meta' is {_shown(meta)}, not an object")
    pagination = meta.get("pagination")
    if pagination is None:
        return PageInfo(data, None, None, None, False)
    if not isinstance(pagination, dict):
        raise PaginationError(f"meta.pagination is {_shown(pagination)}, not an object")
    total, count, per_page, current_page, total_pages = (
        _counter(pagination, name) for name in _COUNTERS
    )
    links = pagination.get("links")
    if isinstance(links, dict):
        has_next = bool(links.get("next"))
    elif links is None or links == []:
        has_next = False
    else:
        raise PaginationError(f"meta.pagination.links is {_shown(links)}, not an object")
    if count is not None and count != len(data):
        raise PaginationError(
            f"meta.pagination.count says {count} items, the page holds {len(data)}"
        )
    if per_page is not None and len(data) > per_page:
        raise PaginationError(
            f"the page holds {len(data)} items, more than meta.pagination.per_page {per_page}"
        )
    if total is not None and len(data) > total:
        raise PaginationError(
            f"the page holds {len(data)} items, more than meta.pagination.total {total}"
        )
    return PageInfo(
        items=data,
        current_page=current_page,
        total_pages=total_pages,
        total=total,
        has_next_link=has_next,
        count=count,
        per_page=per_page,
    )


def _item_key(item: Any) -> str | int | None:
    """An item's id, for de-duplication; ``None`` when it has none we can rely on."""
    if isinstance(item, dict):
        key = item.get("id")
        if isinstance(key, (str, int)) and not isinstance(key, bool):
            return key
    return None


def _distinct_ids(items: list[Any]) -> set[Any] | None:
    """The page's ids when every item is an object with its own distinct, hashable, non-null
    ``id`` (the usual page, checked in C-speed set operations); else ``None``, and the pager
    looks at the items one by one."""
    try:
        keys = {item["id"] for item in items}
    except (KeyError, TypeError):
        return None
    if len(keys) != len(items) or None in keys:
        return None
    return keys


# (items on the page, whether ``limit`` was reached, total_pages the page announced)
PageStep = tuple[int, bool, int | None]


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
        return self._parse(page, await self._fetch(params))

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
        return self._parse(page, fetched)

    def _parse(self, page: int, payload: Any) -> PageInfo:
        """``parse_page`` with the list and page named in its error. A bare JSON list is a
        whole list, so it is accepted as page 1 only."""
        if isinstance(payload, PageInfo):
            return payload  # fetched by ``_get``: already parsed and counted
        try:
            info = parse_page(payload)
        except PaginationError as exc:
            raise PaginationError(f"{self._describe}: page {page}: {exc.message}") from None
        if page > 1 and not info.enveloped:
            raise PaginationError(
                f"{self._describe}: page {page} is a bare JSON list, not a page of the list"
            )
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
        """Every page's new items, in page order, then the completeness check.

        Items are de-duplicated by ``id``: a list that grows at the front while it is read
        shifts items onto the next page, where they would come out twice. The ids handed out
        are kept for that (a set of strings, a few MB per 100,000 items).

        The list is complete when as many distinct items came out as page 1 announced
        (``total``), or, without a ``total``, when the walk reached the last page page 1
        announced (``total_pages``) or the last page that links no further. Anything short
        of that is a ``PaginationError`` saying what is missing, once every page that could
        be read was handed out: an empty or short page before the announced end, or a list
        that shrank while it was read (items may then have moved onto pages already read,
        so nothing vouches for the result). The official SDK refuses the same way when a
        walk yields fewer items than ``total`` (``tallyfy-api.md`` §4, tallyfy/sdk#99).
        """
        yielded = 0
        seen: set[str | int] = set()
        seen_page_keys: set[Any] = set()
        limit = self._limit
        announced_total: int | None = None
        announced_pages: int | None = None

        def take(items: list[Any]) -> tuple[list[T], bool]:
            """The page's items not handed out before, cut at ``limit``; and whether
            ``limit`` is reached."""
            nonlocal yielded
            keys = _distinct_ids(items)
            if keys is not None and seen.isdisjoint(keys):
                seen.update(keys)  # the usual page: every id new, nothing to filter
                fresh = items
            else:
                fresh = []
                append = fresh.append
                for item in items:
                    key = _item_key(item)
                    if key is not None:
                        if key in seen:
                            continue
                        seen.add(key)
                    append(item)
            if limit is not None:
                room = limit - yielded
                if room < len(fresh):
                    fresh = fresh[: max(room, 0)]
                yielded += len(fresh)
                return fresh, yielded >= limit
            yielded += len(fresh)
            return fresh, False

        def check(page: int, info: PageInfo) -> None:
            if info.current_page is not None and info.current_page != page:
                raise PaginationError(
                    f"{self._describe}: asked for page {page}, the server sent page "
                    f"{info.current_page} (it may be ignoring the page parameter)"
                )
            if info.items:
                key = (_item_key(info.items[0]), _item_key(info.items[-1]), len(info.items))
                if key[0] is not None and key in seen_page_keys:
                    grew = (
                        announced_total is not None
                        and info.total is not None
                        and info.total > announced_total
                    )
                    if not grew:  # a list that grew may shift a whole page onto the next
                        raise PaginationError(
                            f"{self._describe}: page {page} repeats an earlier page; stopping "
                            "instead of looping"
                        )
                seen_page_keys.add(key)

        def settle(page: int, payload: Any) -> tuple[list[T], PageStep]:
            """Parse and check a page fetched ahead, and cut it at ``limit``: the batch to
            hand out, and the counts the pager goes on with (it keeps no reference to the
            page, so the page dies as soon as its consumer is done with it)."""
            info = self._parse(page, payload)
            check(page, info)
            batch, reached = take(info.items)
            return batch, (len(info.items), reached, info.total_pages)

        def incomplete(why: str) -> PaginationError:
            if announced_total is not None:
                what = f"got {yielded} of {announced_total} items (the total page 1 announced)"
            else:
                what = f"got {yielded} items"
            return PaginationError(
                f"{self._describe}: {what}: {why}; the list changed while it was read, or the "
                "server cut it short",
                received=yielded,
                expected=announced_total,
            )

        def check_complete(last_read: int, empty_page: int | None) -> None:
            if announced_total is not None:
                if yielded < announced_total:
                    why = (
                        f"page {empty_page} came back empty"
                        if empty_page is not None
                        else f"the pages up to {last_read} held fewer"
                    )
                    raise incomplete(why)
                return
            if (
                empty_page is not None
                and announced_pages is not None
                and (empty_page <= announced_pages)
            ):
                raise incomplete(
                    f"page {empty_page} of the {announced_pages} pages page 1 announced "
                    "came back empty"
                )

        try:
            first = await self._get(1)
            check(1, first)
            self.total = announced_total = first.total
            announced_pages = first.total_pages
            batch, reached = take(first.items)
            if batch:
                yield batch
            del batch
            if reached:
                return

            if first.total_pages is None:
                # No page count: walk while the server links a next page (the Go CLI's rule).
                page, info = 1, first
                del first
                while info.has_next_link:
                    if not info.items:
                        raise incomplete(f"page {page} is empty but links a next page")
                    page += 1
                    self._guard_page_cap(page)
                    info = await self._get(page)
                    check(page, info)
                    batch, reached = take(info.items)
                    if batch:
                        yield batch
                    del batch
                    if reached:
                        return
                check_complete(page, page if not info.items and page > 1 else None)
                return

            last_page = first.total_pages
            del first  # page 1 belongs to the consumer now
            next_page = 2
            window: dict[int, asyncio.Task[Any]] = {}
            empty_page: int | None = None
            page = 2
            try:
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
                        if page_batch:
                            yield page_batch
                        del page_batch
                    items, reached, total_pages = step
                    if reached:
                        return
                    if not items:
                        empty_page = page  # the end as far as the server goes; checked below
                        break
                    if page == last_page and total_pages and total_pages > last_page:
                        # The list grew while we read it: keep going to the new end.
                        last_page = total_pages
                    page += 1
            finally:
                for task in window.values():
                    task.cancel()
                if window:
                    await asyncio.gather(*window.values(), return_exceptions=True)
            check_complete(min(page, last_page), empty_page)
        except PaginationError as exc:
            if exc.received is not None:
                raise
            # A page that could not be read: say how far the list got.
            expected = f" of {announced_total}" if announced_total is not None else ""
            raise PaginationError(
                f"{exc.message}; {yielded}{expected} items handed out before it",
                received=yielded,
                expected=announced_total,
            ) from None

    def _guard_page_cap(self, page: int) -> None:
        if page > self._max_pages:
            raise PaginationError(
                f"{self._describe}: more than {self._max_pages} pages; stopping (max_pages)"
            )
