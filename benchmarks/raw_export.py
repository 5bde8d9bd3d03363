"""The floor as a whole process: the least raw-aiohttp code that does what
``aiotallyfy --concurrency 16 -q tasks --all-orgs --mine --status all -o FILE`` does.

    TALLYFY_API_TOKEN=... python benchmarks/raw_export.py BASE_URL OUT [--concurrency 16]

One ``ClientSession``, at most ``concurrency`` requests in flight, ``per_page=100``; the org
list, then page 1 of each org and the rest of its pages at once; every page decoded with
orjson and written as JSONL (the task exactly as returned plus ``organization_id``, the CLI's
jsonl format), one ``write`` per page. No retries, no rate limiting, no atomic rename: any
status but 200 ends the run. ``benchmarks/run.py`` times it side by side with the CLI, both
as whole processes (interpreter start-up and imports included).

``--fsync`` (not the floor; a reference row): ``fsync`` the file before exiting, the durability
the CLI gives its output (without it the kernel writes the file back after the script has
exited, outside its time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import IO, Any

import aiohttp
import orjson

LINE = orjson.OPT_APPEND_NEWLINE


async def export(base_url: str, token: str, out: IO[bytes], concurrency: int) -> int:
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Tallyfy-Client": "APIClient",
        "Accept": "application/json",
    }
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    written = 0
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def get(path: str, page: int, **params: str) -> Any:
            query = {**params, "per_page": "100", "page": str(page)}
            async with gate, session.get(base_url + path, params=query) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"{path}: HTTP {resp.status}")
            return orjson.loads(body)

        def write(org_id: str, payload: Any) -> None:
            nonlocal written
            tasks = payload["data"]
            for task in tasks:
                task["organization_id"] = org_id
            out.write(b"".join([orjson.dumps(task, option=LINE) for task in tasks]))
            written += len(tasks)

        async def org_tasks(org_id: str) -> None:
            path = f"/organizations/{org_id}/me/tasks"
            first = await get(path, 1, status="all")
            write(org_id, first)

            async def rest(page: int) -> None:
                write(org_id, await get(path, page, status="all"))

            pages = first["meta"]["pagination"]["total_pages"]
            await asyncio.gather(*(rest(p) for p in range(2, pages + 1)))

        org_ids: list[str] = []
        page = 1
        while True:
            orgs = await get("/me/organizations", page)
            org_ids += [o["id"] for o in orgs["data"]]
            if page >= orgs["meta"]["pagination"]["total_pages"]:
                break
            page += 1
        await asyncio.gather(*(org_tasks(o) for o in org_ids))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("out")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fsync", action="store_true", help="fsync the file before exiting")
    args = parser.parse_args()
    with open(args.out, "wb") as out:
        asyncio.run(export(args.base_url, os.environ["TALLYFY_API_TOKEN"], out, args.concurrency))
        if args.fsync:
            out.flush()
            os.fsync(out.fileno())


if __name__ == "__main__":
    main()
