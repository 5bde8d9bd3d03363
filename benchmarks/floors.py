"""What each feature of the library's page path costs, per 100-task page, next to what a raw
aiohttp exporter spends on the same page: the budget behind issue 11's throughput goals.

Run::

    python benchmarks/floors.py [--rounds 7]

Each part is timed alone (CPU time, medians of alternating rounds), on the fake's own task
pages (20 orgs x 2,500 tasks, as in ``run.py``'s no-latency throughput section):

- ``raw page``: the raw-aiohttp floor's CPU per page for the whole job (``raw_aiohttp`` of
  ``_contenders``: request, read, ``orjson.loads``, one JSONL line per task), against the fake
  server in its own process. Every other row is a share of this.
- ``read timeout``: raw aiohttp's CPU per 100-task page with the client's timeouts (60 s total,
  30 s between reads) minus with aiohttp's defaults (no read timeout): aiohttp re-arms a timer
  on every chunk received.
- ``rate limiter``: ``acquire`` + ``commit`` + ``observe`` of a ``LocalRateLimiter`` whose limit
  is never reached (what the throughput benchmark tells the client).
- ``page checks``: ``_Walk.accept`` on each page as it is decoded (the envelope and its
  counters, the page number, the repeat guard, de-duplication by id against the pages before
  it), minus decoding alone.
- ``page hand-off``: ``fan_out_stream(...).pages()`` over ``AsyncPager``s of in-memory pages
  (a task per page fetched ahead, a ``Page``, the queue to the consumer, the walk's
  decisions) minus the raw floor's own job (``_minimal_export``) on the same pages with the
  same checks.
- ``async for, per item``: ``async for org_id, task in stream`` (the stream's item iterator)
  minus a plain ``for`` over the same pages, times 100.

The goals say how much of the raw page's CPU the library may add: 1/0.97 - 1 = 3.1% page by
page, 1/0.95 - 1 = 5.3% item by item. The table shows what the features cost against that.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _contenders import (
    ALL,
    SAME_TIMEOUTS,
    NullSink,
    _headers,
    _minimal_export,
    raw_aiohttp_export,
)
from _measure import server

from aiotallyfy import LimitScope, LocalRateLimiter, RateLimit
from aiotallyfy._fanout import FanOutStream, _Items
from aiotallyfy._pagination import AsyncPager, _Walk
from aiotallyfy.testing import FakeData

ORGS, TASKS = 20, 2500
PAGES = TASKS // 100
REQUESTS = ORGS * PAGES + 1  # + the org list


def task_pages() -> list[list[bytes]]:
    """Each org's pages as the fake serves them (``/me/tasks?status=all&per_page=100``)."""
    data = FakeData(orgs=ORGS, tasks_per_org=TASKS, seed=4, members_per_org=0)
    out = []
    for org in data.org_ids:
        tasks = data.my_tasks(org)
        pages = []
        for n in range(1, PAGES + 1):
            chunk = tasks[(n - 1) * 100 : n * 100]
            links = {"next": f"?page={n + 1}"} if n < PAGES else {}
            meta = {
                "total": len(tasks),
                "count": len(chunk),
                "per_page": 100,
                "current_page": n,
                "total_pages": PAGES,
                "links": links or [],
            }
            pages.append(orjson.dumps({"data": chunk, "meta": {"pagination": meta}}))
        out.append(pages)
    return out


def cpu(fn: Callable[[], Any]) -> float:
    gc.collect()
    started = time.process_time()
    fn()
    return time.process_time() - started


def page_checks(pages: list[list[bytes]]) -> float:
    """CPU of decoding and checking each page minus decoding alone: checked the moment it is
    decoded, as the pager does (pages decoded long before are colder in the CPU's caches)."""

    def checked() -> None:
        for org in pages:
            walk = _Walk("tasks", per_page=100, limit=None)
            for n, body in enumerate(org, 1):
                walk.accept(n, orjson.loads(body))

    def decoded() -> None:
        for org in pages:
            for body in org:
                orjson.loads(body)

    return cpu(checked) - cpu(decoded)


async def fetch_like(body: bytes) -> bytes:
    await asyncio.sleep(0)  # a fetch yields to the loop once at least
    return body


async def floor_shape(pages: list[list[bytes]]) -> None:
    """The raw floor's own job (``_contenders._minimal_export``: the org list, then per org
    page 1 and the rest at once, each page written in the task that fetched it) on in-memory
    pages, with the page checks run on each page as it is decoded."""
    paths = {f"/organizations/{i}/me/tasks": bodies for i, bodies in enumerate(pages)}
    walks = {path: _Walk("tasks", per_page=100, limit=None) for path in paths}
    org_ids = [{"id": str(i)} for i in range(len(pages))]
    org_list = orjson.dumps({"data": org_ids, "meta": {"pagination": {"total_pages": 1}}})

    async def get(path: str, page: int) -> Any:
        if path == "/me/organizations":
            return orjson.loads(await fetch_like(org_list))
        payload = orjson.loads(await fetch_like(paths[path][page - 1]))
        walks[path].accept(page, payload)
        return payload

    await _minimal_export(get, {"tasks": 0, "requests": 0}, NullSink())


class MemoryPages:
    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies

    async def fetch(self, params: dict[str, Any], *, decode: bool) -> Any:
        body = await fetch_like(self.bodies[params["page"] - 1])
        return orjson.loads(body) if decode else body


async def stream_shape(pages: list[list[bytes]]) -> None:
    """The library's: ``fan_out_stream(...).pages()`` over ``AsyncPager``s of the same pages."""
    sink = NullSink()
    sources = {str(i): bodies for i, bodies in enumerate(pages)}
    stream = FanOutStream(
        sources, lambda org: AsyncPager[Any](MemoryPages(sources[org])), concurrency=16
    )
    async for org_id, items in stream.pages():
        for task in items:
            task["organization_id"] = org_id  # as the floor's writer does
            sink.write(orjson.dumps(task, option=ALL))


async def _batches(
    decoded: list[list[list[Any]]],
) -> AsyncGenerator[tuple[str, Sequence[Any]], None]:
    for org in decoded:
        for items in org:
            yield "org", items


async def items_async(decoded: list[list[list[Any]]]) -> int:
    n = 0
    async for _, _task in _Items(_batches(decoded)):
        n += 1
    return n


async def items_plain(decoded: list[list[list[Any]]]) -> int:
    n = 0
    async for _, page in _batches(decoded):
        for _task in page:
            n += 1
    return n


async def limiter_run(count: int) -> None:
    limiter = LocalRateLimiter((RateLimit(1_000_000, 1.0),))
    scope = LimitScope("tok_benchmark", "org")
    for _ in range(count):
        admission = await limiter.acquire(scope)
        await limiter.commit(admission)
        limiter.observe(admission, status=200, remaining=None, retry_after=None)


async def raw_pages(base_url: str, token: str, n: int, *, bare: bool) -> float:
    """CPU per GET of one 100-task page, 16 at a time, with the client's timeouts
    (``SAME_TIMEOUTS``, as ``me_raw_aiohttp``) or, ``bare``, aiohttp's defaults."""
    gate = asyncio.Semaphore(16)
    connector = aiohttp.TCPConnector(limit=16)
    options: dict[str, Any] = {} if bare else {"timeout": SAME_TIMEOUTS}
    async with aiohttp.ClientSession(
        headers=_headers(token), connector=connector, **options
    ) as session:
        async with session.get(base_url + "/me/organizations") as resp:
            org = orjson.loads(await resp.read())["data"][0]["id"]
        url = f"{base_url}/organizations/{org}/me/tasks?status=all&per_page=100&page=2"

        async def one() -> None:
            async with gate, session.get(url) as resp:
                await resp.read()

        started = time.process_time()
        await asyncio.gather(*(one() for _ in range(n)))
        return (time.process_time() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    pages = task_pages()
    decoded = [[orjson.loads(b)["data"] for b in org] for org in pages]
    n_pages = ORGS * PAGES
    results: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    with server(orgs=ORGS, tasks_per_org=TASKS) as srv:
        for _ in range(args.rounds):
            job = cpu(
                lambda: asyncio.run(
                    raw_aiohttp_export(base_url=srv.base_url, token=srv.token, concurrency=32)
                )
            )
            add("raw page", job / REQUESTS)
            with_read = asyncio.run(raw_pages(srv.base_url, srv.token, 1000, bare=False))
            without = asyncio.run(raw_pages(srv.base_url, srv.token, 1000, bare=True))
            add("read timeout", with_read - without)
            add("rate limiter", cpu(lambda: asyncio.run(limiter_run(n_pages))) / n_pages)
            add("page checks", page_checks(pages) / n_pages)
            stream = cpu(lambda: asyncio.run(stream_shape(pages)))
            floor = cpu(lambda: asyncio.run(floor_shape(pages)))
            add("page hand-off", (stream - floor) / n_pages)
            per_item = cpu(lambda: asyncio.run(items_async(decoded))) - cpu(
                lambda: asyncio.run(items_plain(decoded))
            )
            add("async for, per item (x 100)", per_item / n_pages)
    medians = {name: statistics.median(values) for name, values in results.items()}
    raw = medians["raw page"]
    print(f"cost per 100-task page, median of {args.rounds} rounds (CPU)")
    print(f"{'part':<30} {'us/page':>8} {'of raw':>7}")
    for name, value in medians.items():
        share = "" if name == "raw page" else f"{value / raw:>7.1%}"
        print(f"{name:<30} {value * 1e6:>8.1f} {share}")
    page_path = sum(medians[k] for k in ("read timeout", "rate limiter", "page checks"))
    page_path += medians["page hand-off"]
    item_path = page_path + medians["async for, per item (x 100)"]
    print(
        f"page by page, these alone: {page_path / raw:.1%} of raw (goal allows 3.1%): "
        f"at best {1 / (1 + page_path / raw):.3f} x raw"
    )
    print(
        f"item by item, these alone: {item_path / raw:.1%} of raw (goal allows 5.3%): "
        f"at best {1 / (1 + item_path / raw):.3f} x raw"
    )


if __name__ == "__main__":
    main()
