"""Search: ``GET /organizations/{org}/search?search=<text>&on=<types>``.

The answer is keyed by type, each with its own list envelope::

    {"process": {"data": [...], "meta": {"pagination": {...}}}, "task": {...}}

``client.search(org_id, text, on=["process", "task"])`` returns a ``SearchResults``: iterate
it for ``SearchHit(type, item)`` pairs (types in the order of ``on``, every page of each), or
call ``await results.by_type()`` for ``{type: [items]}``. Page 1 of every type comes from one
request; a type with more pages is then walked on its own (``on=<that type>``), because the
pages of different types end at different places.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, NamedTuple

from .._errors import InvalidArgument, PaginationError
from .._http import HTTPCore
from .._pagination import MAX_PER_PAGE, AsyncPager, parse_page
from ._writes import org_path

__all__ = ["SEARCH_TYPES", "SearchHit", "SearchResults", "search"]

SEARCH_TYPES = ("blueprint", "process", "task", "snippet", "capture", "step")


class SearchHit(NamedTuple):
    type: str
    item: dict[str, Any]


class SearchResults:
    """Every hit of one search, across types and pages. Iterate once, or ``by_type()``."""

    def __init__(
        self,
        core: HTTPCore,
        org_id: str,
        text: str,
        on: Sequence[str],
        *,
        limit_per_type: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._core = core
        self._org_id = org_id
        self._path = f"{org_path(org_id)}/search"
        self._text = text
        self._on = list(on)
        self._limit = limit_per_type
        self._extra = dict(extra or {})
        self._first: Any = None
        self._used = False
        self.totals: dict[str, int | None] = {}
        """``meta.pagination.total`` per type, filled once the first page is read."""

    def __repr__(self) -> str:
        return f"SearchResults(on={self._on})"

    async def _fetch(self, on: Sequence[str], page_params: dict[str, Any]) -> Any:
        params = {"search": self._text, "on": ",".join(on), **self._extra, **page_params}
        response = await self._core.request("GET", self._path, org_id=self._org_id, params=params)
        if not isinstance(response.data, dict):
            raise PaginationError(f"{self._path}: expected an object keyed by type")
        return response.data

    def _pager(self, kind: str) -> AsyncPager[dict[str, Any]]:
        return AsyncPager[dict[str, Any]](
            _TypePages(self, kind),
            None,
            per_page=MAX_PER_PAGE,
            limit=self._limit,
            describe=f"search:{kind}",
        )

    def __aiter__(self) -> AsyncIterator[SearchHit]:
        if self._used:
            raise RuntimeError("SearchResults can be iterated once; call search() again")
        self._used = True
        return self._hits()

    async def _hits(self) -> AsyncGenerator[SearchHit, None]:
        self._first = await self._fetch(self._on, {"page": 1, "per_page": MAX_PER_PAGE})
        for kind in self._on:
            section = self._first.get(kind)
            # The pager reads the same section as its page 1 and raises if it cannot.
            self.totals[kind] = None
            with contextlib.suppress(PaginationError):
                self.totals[kind] = None if section is None else parse_page(section).total
        for kind in self._on:
            async for item in self._pager(kind):
                yield SearchHit(kind, item)

    async def by_type(self) -> dict[str, list[dict[str, Any]]]:
        """Every hit, grouped: ``{type: [items]}`` with a key for every type searched."""
        out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in self._on}
        async for hit in self:
            out[hit.type].append(hit.item)
        return out


def search(
    core: HTTPCore,
    org_id: str,
    text: str,
    *,
    on: Sequence[str] = ("process", "task", "blueprint"),
    limit_per_type: int | None = None,
    **extra: Any,
) -> SearchResults:
    """Build a ``SearchResults`` after checking ``on`` locally (unknown types are rejected,
    since the server would silently return nothing for them)."""
    kinds = [on] if isinstance(on, str) else list(on)
    bad = [k for k in kinds if k not in SEARCH_TYPES]
    if not kinds or bad:
        raise InvalidArgument(
            f"on must name one or more of {list(SEARCH_TYPES)}; got {bad or kinds}",
            errors={"on": ["invalid type"]},
        )
    if not text:
        raise InvalidArgument("search text is required", errors={"search": ["required"]})
    return SearchResults(
        core, org_id, text, list(dict.fromkeys(kinds)), limit_per_type=limit_per_type, extra=extra
    )


class _TypePages:
    """The pages of one type of a search (a ``PageSource``): page 1 is that type's section of
    the first answer (every type at once), later pages ask for that type alone (``on=<type>``)
    because the pages of different types end at different places. A type the answer leaves
    out is an empty list."""

    __slots__ = ("_kind", "_results")

    def __init__(self, results: SearchResults, kind: str) -> None:
        self._results = results
        self._kind = kind

    async def fetch(self, params: dict[str, Any], *, decode: bool) -> Any:
        results = self._results
        if params.get("page") == 1 and results._first is not None:
            payload = results._first
        else:
            payload = await results._fetch([self._kind], params)
        section = payload.get(self._kind)
        return {"data": []} if section is None else section
