"""The pager against scripted pages: envelope tolerance, order, loop guards, prefetch bounds.

These drive ``AsyncPager`` with an in-memory ``PageSource``; the end-to-end pagination tests
against the fake server over real sockets are in ``test_client_e2e.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiotallyfy import AsyncPager, PaginationError
from aiotallyfy._pagination import parse_page

pytestmark = pytest.mark.virtual_time


def envelope(items: list[Any], page: int, total_pages: int, total: int, links: Any) -> Any:
    return {
        "data": items,
        "meta": {
            "pagination": {
                "total": total,
                "count": len(items),
                "per_page": 100,
                "current_page": page,
                "total_pages": total_pages,
                "links": links,
            }
        },
    }


@pytest.mark.parametrize("links", [[], {}, None, "missing"])
def test_parse_page_tolerates_every_links_shape(links: Any) -> None:
    payload = envelope([{"id": "a"}], 1, 1, 1, links)
    if links == "missing":
        del payload["meta"]["pagination"]["links"]
    info = parse_page(payload)
    assert info.items == [{"id": "a"}]
    assert (info.current_page, info.total_pages, info.total) == (1, 1, 1)
    assert info.has_next_link is False


def test_parse_page_without_meta_is_one_page() -> None:
    info = parse_page({"data": [{"id": 1}, {"id": 2}]})
    assert info.items == [{"id": 1}, {"id": 2}]
    assert info.total_pages is None
    assert parse_page([{"id": 3}]).items == [{"id": 3}]
    with pytest.raises(PaginationError):
        parse_page({"data": {"id": 1}})


class ScriptedPages:
    """A list of ``total`` items served ``per_page`` at a time, with optional misbehaviour."""

    def __init__(
        self,
        total: int,
        *,
        per_page_cap: int = 100,
        delays: dict[int, float] | None = None,
        ignore_page: bool = False,
        no_total_pages: bool = False,
    ) -> None:
        self.items = [{"id": f"t{i:05d}"} for i in range(total)]
        self.per_page_cap = per_page_cap
        self.delays = delays or {}
        self.ignore_page = ignore_page
        self.no_total_pages = no_total_pages
        self.calls: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def fetch(self, params: dict[str, Any], *, decode: bool) -> Any:
        self.calls.append(dict(params))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            page = 1 if self.ignore_page else int(params["page"])
            per_page = min(int(params["per_page"]), self.per_page_cap)
            await asyncio.sleep(self.delays.get(page, 0))
            total_pages = max(1, -(-len(self.items) // per_page))
            chunk = self.items[(page - 1) * per_page : page * per_page]
            links: Any = {}
            if page > 1:
                links["previous"] = f"http://x/?page={page - 1}"
            if page < total_pages:
                links["next"] = f"http://x/?page={page + 1}"
            payload = envelope(chunk, page, total_pages, len(self.items), links or [])
            if self.no_total_pages:
                del payload["meta"]["pagination"]["total_pages"]
            return payload
        finally:
            self.in_flight -= 1


async def test_every_item_once_in_order_with_out_of_order_page_arrival() -> None:
    # Later pages answer first; the pager must still yield in page order.
    server = ScriptedPages(950, delays={2: 0.03, 3: 0.02, 4: 0.01})
    items = await AsyncPager[Any](server, {"status": "all"}, prefetch=4).to_list()
    assert items == server.items
    assert sorted(c["page"] for c in server.calls) == list(range(1, 11))
    assert all(c["per_page"] == 100 and c["status"] == "all" for c in server.calls)
    assert server.max_in_flight == 4


async def test_prefetch_window_bounds_pages_in_flight() -> None:
    server = ScriptedPages(3000, delays={p: 0.001 for p in range(1, 31)})
    pager = AsyncPager[Any](server, prefetch=2)
    count = 0
    async for _ in pager:
        count += 1
    assert count == 3000
    assert server.max_in_flight == 2
    assert pager.pages_fetched == 30


async def test_single_page_makes_one_request() -> None:
    server = ScriptedPages(37)
    assert len(await AsyncPager[Any](server).to_list()) == 37
    assert len(server.calls) == 1


async def test_empty_list() -> None:
    server = ScriptedPages(0)
    assert await AsyncPager[Any](server).to_list() == []
    assert len(server.calls) == 1


async def test_limit_stops_early_and_cancels_prefetch() -> None:
    server = ScriptedPages(1000)
    items = await AsyncPager[Any](server, limit=150, prefetch=3).to_list()
    assert items == server.items[:150]
    # Page 1, then at most the prefetch window: never the whole list.
    assert len(server.calls) <= 4


async def test_server_ignoring_page_parameter_is_caught_not_looped() -> None:
    server = ScriptedPages(500, ignore_page=True)
    with pytest.raises(PaginationError, match="page"):
        await AsyncPager[Any](server).to_list()
    assert len(server.calls) <= 5


async def test_without_total_pages_follows_next_links() -> None:
    server = ScriptedPages(250, no_total_pages=True)
    items = await AsyncPager[Any](server).to_list()
    assert items == server.items
    assert [c["page"] for c in server.calls] == [1, 2, 3]


async def test_page_cap() -> None:
    server = ScriptedPages(1000, per_page_cap=10)
    with pytest.raises(PaginationError, match="max_pages"):
        await AsyncPager[Any](server, per_page=10, max_pages=5).to_list()


async def test_repeated_page_content_is_a_loop_guard() -> None:
    class SamePage:
        async def fetch(self, params: dict[str, Any], *, decode: bool) -> Any:
            page = int(params["page"])
            # Claims to be the right page but always returns the same items.
            return envelope([{"id": "same"}], page, 50, 50, {"next": "x"})

    with pytest.raises(PaginationError, match="repeats"):
        await AsyncPager[Any](SamePage(), prefetch=1).to_list()


async def test_a_pager_iterates_once() -> None:
    pager = AsyncPager[Any](ScriptedPages(3))
    assert len(await pager.to_list()) == 3
    with pytest.raises(RuntimeError, match="once"):
        await pager.to_list()


def test_per_page_bounds() -> None:
    with pytest.raises(ValueError, match="per_page"):
        AsyncPager[Any](ScriptedPages(1), per_page=101)
