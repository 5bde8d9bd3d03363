"""The ``Page`` as the unit of a list: decoded once, in the task that asks; a body that is not
JSON fetched again in one place; de-duplication that keeps only the ids a shift can reach;
``FanOutStream`` over anything with ``pages()``; the CLI writing a page at a time.

Driven by in-memory ``PageSource`` objects (no HTTP); ``test_client_e2e.py`` and
``test_hostile_pagination.py`` cover the same paths over real sockets.
"""

from __future__ import annotations

import io
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
import pytest

from aiotallyfy import (
    AsyncPager,
    FanOutStream,
    Page,
    PageSource,
    PaginationError,
    SupportsPages,
    TallyfyClient,
)
from aiotallyfy.cli._export import CSV_COLUMNS, CsvWriter, JsonlWriter
from aiotallyfy.testing import FakeTallyfy

pytestmark = pytest.mark.virtual_time


def envelope(items: list[Any], page: int, per_page: int, total: int | None) -> dict[str, Any]:
    pagination: dict[str, Any] = {"count": len(items), "per_page": per_page, "current_page": page}
    if total is not None:
        pagination["total"] = total
        pagination["total_pages"] = max(1, -(-total // per_page))
    last = total is not None and page * per_page >= total
    pagination["links"] = [] if last or not items else {"next": f"http://x/?page={page + 1}"}
    return {"data": items, "meta": {"pagination": pagination}}


class Pages:
    """A list served 100 a time, as bytes when the pager allows it (``decode=False``).
    ``views[page]`` replaces the list the page is cut from (a list that changed);
    ``not_json`` pages answer ``<html>`` to the first ``decode=False`` fetch."""

    def __init__(
        self,
        total: int,
        *,
        views: dict[int, list[dict[str, Any]]] | None = None,
        not_json: set[int] | None = None,
        announce_total: bool = True,
    ) -> None:
        self.items = [{"id": f"t{i:05d}"} for i in range(total)]
        self.views = views or {}
        self.not_json = set(not_json or ())
        self.announce_total = announce_total
        self.calls: list[tuple[int, bool]] = []

    async def fetch(self, params: dict[str, Any], *, decode: bool) -> Any:
        page, per_page = int(params["page"]), int(params["per_page"])
        self.calls.append((page, decode))
        if page in self.not_json and not decode:
            self.not_json.discard(page)
            return b"<html>502 Bad Gateway</html>"
        items = self.views.get(page, self.items)
        chunk = items[(page - 1) * per_page : page * per_page]
        payload = envelope(chunk, page, per_page, len(items) if self.announce_total else None)
        return payload if decode else orjson.dumps(payload)


def ids(start: int, stop: int, prefix: str = "t") -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(start, stop)]


async def test_a_page_stays_bytes_until_asked_then_is_decoded_once() -> None:
    source = Pages(250)
    pager = AsyncPager[Any](source)
    seen: list[tuple[int, bool, list[str]]] = []
    async for page in pager.pages():
        assert (page.done, page.info) == (False, None)
        items = page.items()
        assert page.items() is items  # decoded once
        assert page.info is not None
        assert page.info.total == 250
        seen.append((page.number, page.done, [t["id"] for t in items]))
    assert seen == [(1, True, ids(0, 100)), (2, True, ids(100, 200)), (3, True, ids(200, 250))]
    assert sorted(source.calls) == [(1, False), (2, False), (3, False)]
    assert (pager.total, pager.pages_fetched) == (250, 3)


async def test_pages_nobody_decoded_are_checked_by_the_pager_all_the_same() -> None:
    pager = AsyncPager[Any](Pages(250))
    numbers = [page.number async for page in pager.pages()]
    assert numbers == [1, 2, 3]
    assert pager.pages_fetched == 3
    # ... and a short list is still an error when nobody looks at the items.
    short = Pages(250)
    short.views[3] = short.items[:200]  # page 3 comes back empty
    with pytest.raises(PaginationError, match="200 of 250"):
        async for _ in AsyncPager[Any](short).pages():
            pass


async def test_a_body_that_is_not_json_is_fetched_again_through_the_retry_layer() -> None:
    source = Pages(300, not_json={2})
    items = await AsyncPager[Any](source, prefetch=1).to_list()
    assert [t["id"] for t in items] == ids(0, 300)
    assert [c for c in source.calls if c[0] == 2] == [(2, False), (2, True)]


async def test_a_page_that_breaks_the_rules_raises_from_items_and_from_the_pager() -> None:
    source = Pages(300)
    source.views[3] = source.items[:100] * 3  # page 3 is page 1 again
    pager = AsyncPager[Any](source)
    handed: list[str] = []

    async def read() -> None:
        async for page in pager.pages():
            handed.extend(t["id"] for t in page.items())

    with pytest.raises(PaginationError, match="repeats an earlier page") as info:
        await read()
    assert handed == ids(0, 200)
    assert info.value.received == 200
    assert "200 of 300 items handed out before it" in info.value.message


async def test_a_list_that_grows_at_the_front_by_more_than_a_page_is_read_once() -> None:
    # After page 1, 150 items are inserted before the first: page 2 repeats half of page 1,
    # page 3 the other half. Each item comes out once; the new items the walk reaches too.
    old = [{"id": f"t{i:05d}"} for i in range(300)]
    grown = [{"id": f"n{i:05d}"} for i in range(150)] + old
    source = Pages(300, views={p: grown for p in range(2, 6)})
    pager = AsyncPager[Any](source, prefetch=1)
    got = [t["id"] for t in await pager.to_list()]
    assert got == ids(0, 100) + ids(100, 150, "n") + ids(100, 300)
    assert sorted(c[0] for c in source.calls) == [1, 2, 3, 4, 5]


async def test_de_duplication_keeps_the_ids_of_one_page_when_the_list_does_not_grow() -> None:
    pager = AsyncPager[Any](Pages(5000))
    depth = []
    async for page in pager.pages():
        page.items()
        depth.append(len(pager._walk.recent))
    assert depth == [1] * 50
    # Without a total nothing bounds a shift: every id is kept, as before.
    unbounded = AsyncPager[Any](Pages(500, announce_total=False))
    assert len(await unbounded.to_list()) == 500
    assert sum(size for _, size in unbounded._walk.recent) == 500


class PageSourceOnly:
    """Not an ``AsyncPager``: anything with ``pages()`` is a fan-out source."""

    def __init__(self, org: str, sizes: list[int]) -> None:
        self.org = org
        self.sizes = sizes

    async def pages(self) -> AsyncIterator[Page[str]]:
        start = 0
        for n, size in enumerate(self.sizes, start=1):
            yield Page.of([f"{self.org}-{i}" for i in range(start, start + size)], n)
            start += size


async def one_by_one(org: str) -> AsyncGenerator[str, None]:
    for i in range(3):
        yield f"{org}-{i}"


async def test_fan_out_takes_any_source_with_pages_and_plain_async_iterables() -> None:
    assert isinstance(PageSourceOnly("a", []), SupportsPages)
    assert not isinstance(one_by_one("a"), SupportsPages)

    def source(org: str) -> Any:
        return PageSourceOnly(org, [2, 0, 3]) if org != "plain" else one_by_one(org)

    stream = FanOutStream(["a", "plain", "b"], source, buffer=2)
    got: dict[str, list[list[str]]] = {}
    async for org_id, items in stream.pages():
        got.setdefault(org_id, []).append(list(items))
    assert got["a"] == [["a-0", "a-1"], ["a-2", "a-3", "a-4"]]  # the empty page is skipped
    assert got["b"] == [["b-0", "b-1"], ["b-2", "b-3", "b-4"]]
    assert got["plain"] == [["plain-0"], ["plain-1"], ["plain-2"]]
    assert {o: r.count for o, r in stream.results.items()} == {"a": 5, "plain": 3, "b": 5}


async def test_fan_out_refetches_a_body_that_is_not_json_and_fails_a_broken_org_alone() -> None:
    sources = {
        "ok": Pages(300, not_json={2, 3}),
        "cut": Pages(300, views={3: [{"id": f"t{i:05d}"} for i in range(200)]}),
    }
    stream = FanOutStream(sources, lambda org: AsyncPager[Any](sources[org]), concurrency=2)
    got: dict[str, list[str]] = {"ok": [], "cut": []}
    async for org_id, items in stream.pages():
        got[org_id] += [t["id"] for t in items]
    assert got == {"ok": ids(0, 300), "cut": ids(0, 200)}
    assert [c for c in sources["ok"].calls if c[0] > 1] == [
        (2, False),
        (3, False),
        (2, True),
        (3, True),
    ]
    assert stream.results["ok"].error is None
    assert stream.results["cut"].count == 200
    assert isinstance(stream.results["cut"].error, PaginationError)


async def test_the_org_wide_union_streams_pages_each_task_once() -> None:
    async with (
        FakeTallyfy(orgs=2, tasks_per_org=[250, 130], seed=41) as fake,
        TallyfyClient(fake.token, base_url=fake.base_url) as client,
    ):
        org_ids = fake.data.org_ids
        every = client.tasks.list_every(org_ids[0])
        assert isinstance(every, SupportsPages)
        stream = client.fan_out_stream(org_ids, client.tasks.list_every)
        got: dict[str, list[str]] = {org: [] for org in org_ids}
        async for org_id, page in stream.pages():
            got[org_id] += [t["id"] for t in page]
        for org in org_ids:
            assert sorted(got[org]) == sorted(t["id"] for t in fake.data.org_tasks(org))
            assert len(got[org]) == len(set(got[org]))


def test_the_page_source_protocol_is_what_the_pager_calls() -> None:
    source: PageSource = Pages(1)  # mypy checks the structural fit
    assert callable(source.fetch)


class CountingSink(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)


@pytest.mark.parametrize("writer_type", [JsonlWriter, CsvWriter])
def test_the_cli_writes_a_page_with_one_write(writer_type: type[Any]) -> None:
    out = CountingSink()
    writer = writer_type(out)
    before = out.writes
    page = [{"id": f"t{i}", "title": f"=cmd {i}", "position": i} for i in range(100)]
    writer.write_page("org1", page)
    writer.write_page("org2", [])
    writer.finish()
    assert out.writes - before == 2
    data = out.getvalue()
    if writer_type is JsonlWriter:
        lines = [orjson.loads(line) for line in data.splitlines()]
        assert lines == [{**t, "organization_id": "org1"} for t in page]
    else:
        rows = data.decode().split("\r\n")
        assert rows[0] == ",".join(CSV_COLUMNS)
        assert rows[1].startswith("org1,t0,,'=cmd 0,")
        assert len(rows) == 102
        assert rows[-1] == ""


def test_compact_ids_are_exact_across_merges_and_keep_other_ids_as_they_are() -> None:
    import random

    from aiotallyfy._resources._task_union import CompactIds

    rng = random.Random(5)
    ids_in = [f"{rng.getrandbits(128):032x}" for _ in range(5000)]
    ids_out = [f"{rng.getrandbits(128):032x}" for _ in range(5000)]
    # Same upper half, another lower half: found only by the exact comparison.
    twin = ids_in[0][:16] + ("0" * 16 if ids_in[0][16:] != "0" * 16 else "1" * 16)
    seen = CompactIds()
    for key in ids_in:
        seen.add(key)
    for key in ("t00001", 42, "ABCDEF0123456789ABCDEF0123456789"):
        seen.add(key)
    assert len(seen) == 5003
    assert len(seen._high) > 4000  # most of them merged into the arrays
    assert all(key in seen for key in ids_in)
    assert not any(key in seen for key in ids_out)
    assert twin not in seen
    assert "t00001" in seen
    assert 42 in seen
    assert "ABCDEF0123456789ABCDEF0123456789" in seen
    assert "abcdef0123456789abcdef0123456789" not in seen
    assert 43 not in seen


async def test_a_page_taken_keeps_no_reference_to_its_items() -> None:
    # What FanOutStream does: the consumer takes the page's items, and the page (which its
    # pager's generator still holds until the worker's next turn) keeps nothing alive.
    pager = AsyncPager[Any](Pages(150))
    got: list[str] = []
    async for page in pager.pages():
        items = page.take()
        got += [t["id"] for t in items]
        assert page.info is None
        assert (page.done, page.sent, page.handed) == (True, len(items), len(items))
        with pytest.raises(RuntimeError, match="handed over"):
            page.items()
        assert await page.taken() == len(items)
    assert got == ids(0, 150)
