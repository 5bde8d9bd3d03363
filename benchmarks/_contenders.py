"""The contenders: the same job (every task of every organization of the token's user, written
as JSONL lines with an ``organization_id`` key to a null sink) done several ways.

Each function returns ``{"tasks": n, "requests": n, ...}``; timing is the caller's business
(``_worker``), so every contender is timed the same way in a fresh process.

- ``aiotallyfy``: the library, ``fan_out_stream`` over ``tasks.list_mine``.
- ``raw_aiohttp``: the floor, the least code that does the job: one session, one semaphore,
  ``per_page=100``, orjson, page 1 of each org then the rest of its pages at once. No retries,
  no rate limiting, no error handling beyond "status must be 200".
- ``httpx``: the same code on ``httpx.AsyncClient``.
- ``sdk``: the official synchronous ``tallyfy`` SDK 3.1.0 the way its README shows
  (``sdk.tasks.get_my_tasks(org_id)``), paging by hand (it has no iterator) with its default
  ``per_page=100``. Compatibility shim: the SDK sends ``X-Tallyfy-Client: TallyfySDK``; the fake
  (like Tallyfy's docs) requires ``APIClient``, so the benchmark overwrites that one header on
  the SDK's public ``requests.Session`` (``sdk.session.headers``). Nothing else is changed.
- ``naive``: a sequential loop in the style of Tallyfy's docs code samples: ``requests.get`` per
  page (no session), the server's default ``per_page`` (10), stdlib ``json``.
- ``me_*``: many small ``GET /me`` requests, for the per-request overhead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
import orjson
import requests as http
from tallyfy import TallyfySDK

from aiotallyfy import RateLimit, TallyfyClient

ALL = orjson.OPT_APPEND_NEWLINE


class NullSink:
    """Counts bytes instead of writing them: measures the client, not the disk."""

    __slots__ = ("bytes",)

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)


def _headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "X-Tallyfy-Client": "APIClient",
        "Accept": "application/json",
    }


# ------------------------------------------------------------------------------- aiotallyfy
async def aiotallyfy_export(
    base_url: str,
    token: str,
    concurrency: int,
    limits: str = "none",
    by_page: bool = False,
    **_: Any,
) -> dict[str, Any]:
    """``limits``: ``"none"`` (a limit never reached: the limiter still runs, it is part of
    the stack being measured, but never waits), ``"default"`` (the client's defaults, i.e.
    not told), or ``"N/SECONDS"`` (told the server's limit). ``by_page``: consume the stream
    page by page (``stream.pages()``, as the CLI does) instead of item by item."""
    sink = NullSink()
    tasks = 0
    options: dict[str, Any] = {}
    if limits == "none":
        options["rate_limits"] = (RateLimit(1_000_000, 1.0),)
    elif limits != "default":
        options["rate_limits"] = (RateLimit.parse(limits),)
    async with TallyfyClient(
        token, base_url=base_url, max_concurrency=concurrency, **options
    ) as client:
        org_ids = await client.all_org_ids()
        stream = client.fan_out_stream(org_ids, lambda org: client.tasks.list_mine(org))
        write = sink.write
        dumps = orjson.dumps
        if by_page:
            async for org_id, page in stream.pages():
                for task in page:
                    task["organization_id"] = org_id
                    write(dumps(task, option=ALL))
                tasks += len(page)
        else:
            async for org_id, task in stream:
                task["organization_id"] = org_id
                write(dumps(task, option=ALL))
                tasks += 1
        failed = [r.org_id for r in stream.failed]
        stats = client.stats
    if failed:
        raise RuntimeError(f"orgs failed: {failed}")
    return {
        "tasks": tasks,
        "requests": stats.requests,
        "rate_limited": stats.rate_limited,
        "retries": stats.retries,
        "limiter_wait": stats.limiter_wait,
        "bytes": sink.bytes,
    }


# ------------------------------------------------------------------------------- the floor
async def raw_aiohttp_export(
    base_url: str, token: str, concurrency: int, **_: Any
) -> dict[str, Any]:
    sink = NullSink()
    counts = {"tasks": 0, "requests": 0}
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=_headers(token), connector=connector) as session:

        async def get(path: str, page: int) -> Any:
            params = {"status": "all", "per_page": "100", "page": str(page)}
            async with gate, session.get(base_url + path, params=params) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{path}: HTTP {resp.status}")
            counts["requests"] += 1
            return orjson.loads(body)

        await _minimal_export(get, counts, sink)
    return {**counts, "bytes": sink.bytes}


async def _minimal_export(get: Any, counts: dict[str, int], sink: NullSink) -> None:
    """The floor's job, shared by the raw-aiohttp and httpx contenders so that they differ
    only in ``get(path, page)``: page 1 of each org, then the rest of its pages at once, each
    page written as JSONL the moment it is decoded."""

    def write(org_id: str, page: Any) -> None:
        for task in page["data"]:
            task["organization_id"] = org_id
            sink.write(orjson.dumps(task, option=ALL))
        counts["tasks"] += len(page["data"])

    async def org_tasks(org_id: str) -> None:
        path = f"/organizations/{org_id}/me/tasks"
        first = await get(path, 1)
        write(org_id, first)
        pages = first["meta"]["pagination"]["total_pages"]

        async def rest(page: int) -> None:
            write(org_id, await get(path, page))

        await asyncio.gather(*(rest(p) for p in range(2, pages + 1)))

    org_ids = await _raw_org_ids(get)
    await asyncio.gather(*(org_tasks(o) for o in org_ids))


async def _raw_org_ids(get: Any) -> list[str]:
    ids: list[str] = []
    page = 1
    while True:
        payload = await get("/me/organizations", page)
        ids.extend(o["id"] for o in payload["data"])
        if page >= payload["meta"]["pagination"]["total_pages"]:
            return ids
        page += 1


# ------------------------------------------------------------------------------- httpx
async def httpx_export(base_url: str, token: str, concurrency: int, **_: Any) -> dict[str, Any]:
    sink = NullSink()
    counts = {"tasks": 0, "requests": 0}
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=_headers(token), limits=limits, timeout=60) as client:

        async def get(path: str, page: int) -> Any:
            params = {"status": "all", "per_page": "100", "page": str(page)}
            async with gate:
                resp = await client.get(base_url + path, params=params)
            if resp.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {resp.status_code}")
            counts["requests"] += 1
            return orjson.loads(resp.content)

        await _minimal_export(get, counts, sink)
    return {**counts, "bytes": sink.bytes}


# ------------------------------------------------------------------------------- official SDK
def sdk_export(root_url: str, token: str, max_orgs: int | None = None, **_: Any) -> dict[str, Any]:
    sink = NullSink()
    tasks = requests = 0
    sdk = TallyfySDK(api_key=token, base_url=root_url)
    # The one shim (see the module docstring): the header value the API requires.
    sdk.session.headers["X-Tallyfy-Client"] = "APIClient"
    org_ids: list[str] = []
    page = 1
    while True:
        orgs = sdk.get_current_user_organizations(page=page, per_page=100)
        requests += 1
        org_ids.extend(o.id for o in orgs.data)
        if orgs.meta is None or page >= orgs.meta.total_pages:
            break
        page += 1
    for org_id in org_ids[:max_orgs]:
        page = 1
        while True:
            result = sdk.tasks.get_my_tasks(org_id, page=page)
            requests += 1
            for task in result.data:
                # orjson serializes the SDK's dataclasses natively; add the org like the rest.
                line = orjson.dumps(task)
                sink.write(line[:-1] + b',"organization_id":' + orjson.dumps(org_id) + b"}\n")
            tasks += len(result.data)
            if result.meta is None or page >= result.meta.total_pages:
                break
            page += 1
    return {"tasks": tasks, "requests": requests, "bytes": sink.bytes, "orgs": len(org_ids)}


# ------------------------------------------------------------------------------- naive loop
def naive_export(
    base_url: str, token: str, max_orgs: int | None = None, max_pages: int | None = None, **_: Any
) -> dict[str, Any]:
    sink = NullSink()
    headers = _headers(token)
    tasks = requests = 0
    orgs = http.get(f"{base_url}/me/organizations", headers=headers, params={"per_page": 100})
    requests += 1
    orgs.raise_for_status()
    org_ids = [o["id"] for o in orgs.json()["data"]]
    for org_id in org_ids[:max_orgs]:
        page = 1
        while True:
            resp = http.get(
                f"{base_url}/organizations/{org_id}/me/tasks",
                headers=headers,
                params={"status": "all", "page": str(page)},
            )
            requests += 1
            resp.raise_for_status()
            payload = resp.json()
            for task in payload["data"]:
                task["organization_id"] = org_id
                sink.write((json.dumps(task) + "\n").encode())
            tasks += len(payload["data"])
            if page >= payload["meta"]["pagination"]["total_pages"]:
                break
            if max_pages is not None and page >= max_pages:
                break
            page += 1
    return {"tasks": tasks, "requests": requests, "bytes": sink.bytes, "orgs": len(org_ids)}


# ------------------------------------------------------------------------------- GET /me
async def me_aiotallyfy(
    base_url: str, token: str, concurrency: int, count: int, **_: Any
) -> dict[str, Any]:
    async with TallyfyClient(
        token,
        base_url=base_url,
        rate_limits=(RateLimit(1_000_000, 1.0),),
        max_concurrency=concurrency,
    ) as client:
        await client.me()  # open the connection outside the loop, like the floor below

        async def worker(n: int) -> None:
            for _ in range(n):
                await client.me()

        await asyncio.gather(*(worker(n) for n in _split(count - 1, concurrency)))
        return {"requests": client.stats.requests}


# The per-attempt timeouts TallyfyClient sets by default (``Timeouts()``: total 60 s, connect
# 10 s, read 30 s). aiohttp's own default has no read timeout; a read timeout costs aiohttp two
# timer handles per response (set when the request is sent, reset on each chunk), ~13 us of
# CPU per small request here. ``me_raw_aiohttp`` uses the client's settings, so that the
# overhead measures aiotallyfy's code, not a setting the floor leaves out;
# ``me_raw_aiohttp_bare`` is the floor as first defined (aiohttp's defaults), also reported.
SAME_TIMEOUTS = aiohttp.ClientTimeout(total=60.0, sock_connect=10.0, sock_read=30.0)


async def me_raw_aiohttp(
    base_url: str,
    token: str,
    concurrency: int,
    count: int,
    bare: bool = False,
    **_: Any,
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    done = 0
    options: dict[str, Any] = {} if bare else {"timeout": SAME_TIMEOUTS}
    async with aiohttp.ClientSession(
        headers=_headers(token), connector=connector, **options
    ) as session:
        url = base_url + "/me"

        async def one() -> None:
            nonlocal done
            async with session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
            orjson.loads(body)["data"]
            done += 1

        await one()

        async def worker(n: int) -> None:
            for _ in range(n):
                await one()

        await asyncio.gather(*(worker(n) for n in _split(count - 1, concurrency)))
    return {"requests": done}


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


ASYNC: dict[str, Callable[..., Any]] = {
    "aiotallyfy": aiotallyfy_export,
    "raw_aiohttp": raw_aiohttp_export,
    "httpx": httpx_export,
    "me_aiotallyfy": me_aiotallyfy,
    "me_raw_aiohttp": me_raw_aiohttp,
    "me_raw_aiohttp_bare": lambda **spec: me_raw_aiohttp(**spec, bare=True),
}
SYNC: dict[str, Callable[..., dict[str, Any]]] = {"sdk": sdk_export, "naive": naive_export}
