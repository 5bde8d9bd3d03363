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
total its first page announced both raise, saying how far the list got (``_Walk``).

The unit is the ``Page``: ``AsyncPager.pages()`` yields them, ``async for item in pager`` is
one loop over it, and ``FanOutStream`` moves them between tasks (anything with ``pages()``,
``SupportsPages``). Where the pages come from is a ``PageSource`` (``RoutePages`` for a plain
``GET`` route); what the walk has learned so far is one ``_Walk``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar, runtime_checkable

import orjson

from ._errors import PaginationError

if TYPE_CHECKING:
    from ._http import HTTPCore

__all__ = [
    "AsyncPager",
    "Page",
    "PageInfo",
    "PageSource",
    "RoutePages",
    "SupportsPages",
    "parse_page",
]

T = TypeVar("T")

MAX_PER_PAGE = 100
DEFAULT_MAX_PAGES = 100_000


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
    get: Callable[[str], Any] = pagination.get
    total, count, per_page, current_page, total_pages = counters = (
        get("total"),
        get("count"),
        get("per_page"),
        get("current_page"),
        get("total_pages"),
    )
    # The usual page has all five as non-negative ints: checked at once; anything else
    # one by one (``_counter``), for the error that names the counter.
    if not (
        type(total) is type(count) is type(per_page) is type(current_page) is int
        and type(total_pages) is int
        and min(counters) >= 0
    ):
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
    ``id`` (the usual page, checked in C-speed set operations); else ``None``, and the walk
    looks at the items one by one."""
    try:
        keys = {item["id"] for item in items}
    except (KeyError, TypeError):
        return None
    if len(keys) != len(items) or None in keys:
        return None
    return keys


class SeenIds(Protocol):
    """Ids handed out by related lists (``exclude``): a ``set`` will do."""

    def __contains__(self, key: object, /) -> bool: ...

    def add(self, key: str | int, /) -> None: ...

    def __len__(self) -> int: ...


class PageSource(Protocol):
    """Where a pager's pages come from: one ``fetch`` per page, through the client's one
    retry layer. ``decode=False`` allows the answer as the undecoded ``bytes`` body (a page
    fetched ahead then waits as one object the garbage collector never scans); the pager
    decodes it when the consumer reaches it."""

    async def fetch(self, params: dict[str, Any], *, decode: bool) -> Any: ...


@dataclass(frozen=True, slots=True)
class RoutePages:
    """The pages of a plain list route: ``GET path?page=N&per_page=...`` for one org."""

    core: HTTPCore
    path: str
    org_id: str | None

    async def fetch(self, params: dict[str, Any], *, decode: bool) -> Any:
        response = await self.core.request(
            "GET", self.path, org_id=self.org_id, params=params, decode=decode
        )
        return response.data


class _Walk:
    """What a walk over one list has learned so far, and its rules: each page checked
    (``parse_page``, the page number, the repeat guard), de-duplicated, cut at ``limit``;
    where the list ends; whether it ended complete.

    De-duplication keeps the ids of the last pages only, as many as a shift of the list can
    reach: a list that grows at the front by ``D`` items while it is read moves each item at
    most ``D`` places on, so only the ids of the last ``D`` items read can come again. ``D``
    is the growth the pages announced (their ``total`` over page 1's); a list that announces
    no ``total`` keeps every id. Memory is then a page of ids, whatever the list's length.
    """

    __slots__ = (
        "describe",
        "empty_page",
        "exclude",
        "first_total",
        "growth",
        "held",
        "last_page",
        "limit",
        "next_link",
        "page_keys",
        "pages_read",
        "per_page",
        "recent",
        "total",
        "yielded",
    )

    def __init__(
        self,
        describe: str,
        *,
        per_page: int,
        limit: int | None,
        exclude: SeenIds | None = None,
    ) -> None:
        self.describe = describe
        self.per_page = per_page
        self.limit = limit
        self.exclude = exclude
        """Ids handed out by related lists (a union of views): skipped; this list's added."""
        self.yielded = 0
        self.pages_read = 0
        self.total: int | None = None  # page 1's total
        self.first_total: int | None = None
        self.growth = 0  # how far the list grew (largest total announced - page 1's)
        self.last_page: int | None = None  # page 1's total_pages, followed as the list grows
        self.next_link = False
        self.empty_page: int | None = None
        self.recent: deque[tuple[set[Any], int]] = deque()  # (ids, items on the page)
        self.held = 0  # items on the pages in ``recent``
        self.page_keys: set[tuple[Any, Any, int]] = set()

    @property
    def reached(self) -> bool:
        return self.limit is not None and self.yielded >= self.limit

    def accept(self, number: int, payload: Any) -> tuple[PageInfo, list[Any]]:
        """Page ``number`` as sent and its new items, after every check; raises
        ``PaginationError``."""
        try:
            info = parse_page(payload)
        except PaginationError as exc:
            raise PaginationError(f"{self.describe}: page {number}: {exc.message}") from None
        if number > 1 and not info.enveloped:
            raise PaginationError(
                f"{self.describe}: page {number} is a bare JSON list, not a page of the list"
            )
        self.pages_read += 1
        items = info.items
        if info.current_page is not None and info.current_page != number:
            raise PaginationError(
                f"{self.describe}: asked for page {number}, the server sent page "
                f"{info.current_page} (it may be ignoring the page parameter)"
            )
        if items:
            key = (_item_key(items[0]), _item_key(items[-1]), len(items))
            if key[0] is not None and key in self.page_keys:
                grew = self.first_total is not None and (info.total or 0) > self.first_total
                if not grew:  # a list that grew may shift a whole page onto the next
                    raise PaginationError(
                        f"{self.describe}: page {number} repeats an earlier page; stopping "
                        "instead of looping"
                    )
            self.page_keys.add(key)
        if number == 1:
            self.total = self.first_total = info.total
            self.last_page = info.total_pages
        else:
            if info.total is not None and self.first_total is not None:
                self.growth = max(self.growth, info.total - self.first_total)
            if (
                self.last_page is not None
                and number == self.last_page
                and info.total_pages
                and info.total_pages > self.last_page
            ):
                self.last_page = info.total_pages  # the list grew while read: to its new end
        self.next_link = info.has_next_link
        if not items and self.empty_page is None and number > 1:
            self.empty_page = number
        fresh = self._fresh(items)
        if self.limit is not None:
            room = self.limit - self.yielded
            if room < len(fresh):
                fresh = fresh[: max(room, 0)]
        self.yielded += len(fresh)
        if self.exclude is not None:
            fresh = self._not_excluded(fresh, self.exclude)
        return info, fresh

    def _not_excluded(self, items: list[Any], exclude: SeenIds) -> list[Any]:
        """``items`` whose ids a related list did not hand out; their ids added."""
        out = []
        for item in items:
            key = _item_key(item)
            if key is None:
                raise PaginationError(
                    f"{self.describe}: an item without an 'id': cannot de-duplicate it"
                )
            if key not in exclude:
                exclude.add(key)
                out.append(item)
        return out

    def _fresh(self, items: list[Any]) -> list[Any]:
        """The items this list did not hand out before (by id); remembers the page's ids."""
        recent = self.recent
        keys = _distinct_ids(items)
        if keys is not None:
            for seen, _ in recent:
                if not seen.isdisjoint(keys):
                    keys = None
                    break
        if keys is not None:
            fresh = items  # the usual page: every id new, nothing to filter
        else:
            keys = set()
            fresh = []
            for item in items:
                key = _item_key(item)
                if key is not None:
                    if key in keys or any(key in seen for seen, _ in recent):
                        continue
                    keys.add(key)
                fresh.append(item)
        recent.append((keys, len(items)))
        self.held += len(items)
        if self.first_total is not None:
            # Keep the newest page, and older ones while the newer ones hold fewer than
            # ``growth`` items: an item ``growth`` places on can only be one of those.
            growth = self.growth
            while len(recent) > 1 and self.held - recent[0][1] >= growth:
                self.held -= recent.popleft()[1]
        return fresh

    def more(self, number: int, raw_items: bool) -> bool:
        """Whether a page follows ``number`` (whose items ``raw_items`` says it had); raises
        when the list ended short of what page 1 announced."""
        if self.reached:
            return False
        if self.last_page is not None:
            if not raw_items and number > 1:
                self.check_complete(number)
                return False
            if number < self.last_page:
                return True
            self.check_complete(number)
            return False
        if self.next_link:
            if not raw_items:
                raise self.incomplete(f"page {number} is empty but links a next page")
            return True
        self.check_complete(number)
        return False

    def incomplete(self, why: str) -> PaginationError:
        if self.total is not None:
            what = f"got {self.yielded} of {self.total} items (the total page 1 announced)"
        else:
            what = f"got {self.yielded} items"
        return PaginationError(
            f"{self.describe}: {what}: {why}; the list changed while it was read, or the "
            "server cut it short",
            received=self.yielded,
            expected=self.total,
        )

    def check_complete(self, last_read: int) -> None:
        empty = self.empty_page
        if self.total is not None:
            if self.yielded < self.total:
                why = (
                    f"page {empty} came back empty"
                    if empty is not None
                    else f"the pages up to {last_read} held fewer"
                )
                raise self.incomplete(why)
            return
        if empty is not None and self.last_page is not None and empty <= self.last_page:
            raise self.incomplete(
                f"page {empty} of the {self.last_page} pages page 1 announced came back empty"
            )

    def failed(self, exc: PaginationError) -> PaginationError:
        """``exc`` saying how far the list got (unless it already does)."""
        if exc.received is not None:
            return exc
        expected = f" of {self.total}" if self.total is not None else ""
        return PaginationError(
            f"{exc.message}; {self.yielded}{expected} items handed out before it",
            received=self.yielded,
            expected=self.total,
        )


class Page(Generic[T]):
    """One page of a list: its body as received until someone asks for its items, then
    decoded once, checked and de-duplicated, in the task that asked.

    ``items()`` is the page's new items (the last page cut at the pager's ``limit``);
    ``info`` the ``PageInfo`` as the server sent it (``None`` until decoded); ``number`` the
    page number. A page whose body turns out not to be JSON gives no items; the pager then
    fetches it again through the retry layer and yields it once more. ``items()`` raises the
    list's ``PaginationError`` when the page breaks the list's rules.

    A page handed to another task (``FanOutStream``) is decoded there: ``await taken()``
    waits until it was, so its objects are born just before they are used; and ``take()``
    hands the items over, so that they die with the consumer's last reference instead of
    living on in the page while its pager waits for its next turn.
    """

    __slots__ = (
        "_body",
        "_decoded",
        "_error",
        "_items",
        "_waiter",
        "_walk",
        "capacity",
        "handed",
        "info",
        "malformed",
        "number",
        "sent",
    )

    def __init__(self, number: int, body: Any, walk: _Walk | None, capacity: int) -> None:
        self.number = number
        self._body = body
        self._walk = walk
        self.capacity = capacity
        """At most this many items (the ``per_page`` asked for), known before decoding."""
        self.info: PageInfo | None = None
        self.malformed = False
        self.sent = 0
        """Items the server sent on the page (before de-duplication and ``limit``)."""
        self.handed = 0
        """Items ``items()`` gives."""
        self._items: list[T] | None = None
        self._decoded = False
        self._error: PaginationError | None = None
        self._waiter: asyncio.Future[None] | None = None

    @classmethod
    def of(cls, items: list[T], number: int = 1) -> Page[T]:
        """A page of items already at hand (a plain async iterable's item, in a fan-out)."""
        page: Page[T] = cls(number, None, None, len(items))
        page._items = items
        page._decoded = True
        page.sent = page.handed = len(items)
        return page

    def __repr__(self) -> str:
        state = f"{self.handed} items" if self._decoded else "undecoded"
        return f"Page({self.number}, {state})"

    @property
    def done(self) -> bool:
        """Whether the page was decoded (or failed)."""
        return self._decoded

    def items(self) -> list[T]:
        if self._decoded:
            if self._error is not None:
                raise self._error
            if self._items is None:
                raise RuntimeError("the page's items were handed over with take()")
            return self._items
        walk = self._walk
        assert walk is not None
        body, self._body = self._body, None
        self._decoded = True
        try:
            payload = orjson.loads(body) if isinstance(body, bytes) else body
        except orjson.JSONDecodeError:
            self.malformed = True
            self._items = []
        else:
            try:
                self.info, self._items = walk.accept(self.number, payload)
            except PaginationError as exc:
                self._error = walk.failed(exc)
            else:
                self.sent, self.handed = len(self.info.items), len(self._items)
        finally:
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)
        if self._error is not None:
            raise self._error
        assert self._items is not None
        return self._items

    def take(self) -> list[T]:
        """``items()``, handed over: the page keeps no reference to them (nor ``info``)."""
        items = self.items()
        self._items = self.info = None
        return items

    async def taken(self) -> int:
        """Wait until the page was decoded (by whichever task); the items it handed out."""
        if not self._decoded:
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self.handed

    def _settle(self) -> None:
        """Decode the page if nobody did; raise its error (the pager's side)."""
        if not self._decoded:
            self.items()
        elif self._error is not None:
            raise self._error


@runtime_checkable
class SupportsPages(Protocol[T]):
    """Anything that walks its list a ``Page`` at a time: ``AsyncPager``, ``TaskUnion``."""

    def pages(self) -> AsyncIterator[Page[T]]: ...


class AsyncPager(Generic[T]):
    """Every item of a list, across all pages: ``async for task in client.tasks.list_mine(org)``,
    or a page at a time with ``async for page in pager.pages(): page.items()``. Iterable once.

    ``limit`` stops after that many items; ``prefetch`` is how many pages may be in flight
    (and buffered) ahead of the consumer. Pages after the first are fetched ahead undecoded
    (``PageSource``'s ``decode=False``) and decoded when the consumer reaches them: decoded
    pages held there are thousands of objects that survive into the garbage collector's
    older generations and make its full collections expensive; bytes are not tracked by it.
    """

    def __init__(
        self,
        source: PageSource,
        params: Mapping[str, Any] | None = None,
        *,
        per_page: int = MAX_PER_PAGE,
        prefetch: int = 4,
        limit: int | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
        describe: str = "list",
        exclude: SeenIds | None = None,
    ) -> None:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        if prefetch < 1:
            raise ValueError("prefetch must be >= 1")
        self._source = source
        self._params = {k: v for k, v in (params or {}).items() if v is not None}
        self._params.pop("page", None)
        self._params["per_page"] = per_page
        self._prefetch = prefetch
        self._max_pages = max_pages
        self._describe = describe
        self._walk = _Walk(describe, per_page=per_page, limit=limit, exclude=exclude)
        self._started = False

    def __repr__(self) -> str:
        return f"AsyncPager({self._describe}, per_page={self._params['per_page']})"

    @property
    def total(self) -> int | None:
        """The number of items page 1 announced (``None`` before page 1, or if it did not)."""
        return self._walk.total

    @property
    def pages_fetched(self) -> int:
        """Pages read and understood so far."""
        return self._walk.pages_read

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items(self.pages())

    async def to_list(self) -> list[T]:
        """Every item in one list. For large lists prefer ``async for``: memory stays flat."""
        return [item async for item in self]

    async def _items(self, pages: AsyncGenerator[Page[T], None]) -> AsyncGenerator[T, None]:
        try:
            async for page in pages:
                for item in page.items():
                    yield item
                del page  # not kept alive while the next one is fetched
        finally:
            await pages.aclose()  # now, not at garbage collection: cancels the prefetch window

    def pages(self) -> AsyncGenerator[Page[T], None]:
        """Every page, in page order, then the completeness check (``_Walk``)."""
        if self._started:
            raise RuntimeError("an AsyncPager can be iterated only once; call the method again")
        self._started = True
        return self._pages()

    async def _pages(self) -> AsyncGenerator[Page[T], None]:
        walk = self._walk
        fetch, params = self._source.fetch, self._params
        capacity = params["per_page"]
        window: dict[int, asyncio.Future[Any]] = {}
        ahead = 2  # the next page to fetch ahead
        number = 1
        try:
            while True:
                if number > self._max_pages:
                    raise PaginationError(
                        f"{self._describe}: more than {self._max_pages} pages; stopping (max_pages)"
                    )
                last = walk.last_page
                if last is not None and number > 1:
                    ahead = max(ahead, number)
                    while ahead <= last and len(window) < self._prefetch:
                        window[ahead] = asyncio.ensure_future(
                            fetch({**params, "page": ahead}, decode=False)
                        )
                        ahead += 1
                pending = window.pop(number, None)
                body = await (
                    pending
                    if pending is not None
                    else fetch({**params, "page": number}, decode=False)
                )
                del pending
                page: Page[T] = Page(number, body, walk, capacity)
                del body
                yield page
                page._settle()
                if page.malformed:
                    # Not JSON: fetch it again through the retry layer, which retries it.
                    body = await fetch({**params, "page": number}, decode=True)
                    page = Page(number, body, walk, capacity)
                    del body
                    yield page
                    page._settle()
                had_items = page.sent > 0
                del page
                if not walk.more(number, had_items):
                    return
                number += 1
        except PaginationError as exc:
            raise walk.failed(exc) from None
        finally:
            for task in window.values():
                task.cancel()
            if window:
                await asyncio.gather(*window.values(), return_exceptions=True)
