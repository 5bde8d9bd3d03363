"""FakeTallyfy in its own process, so the server never shares the client's event loop or CPU
time slice with the contender being measured.

``python benchmarks/_server.py --orgs 20 --tasks-per-org 2500 [--latency 0.05]
[--rate-limit 40/5]`` prints one JSON line ``{"base_url", "root_url", "token", "tasks"}`` on
stdout once it listens, then serves until stdin closes or SIGTERM. While it runs it answers
``stats SECONDS`` on stdin with ``{"admitted", "max_in_window"}`` (server-side truth for the
rate-limit scenarios) and its own CPU seconds so far (``"cpu"``). Requests are not recorded
(``record_requests=False``) so its memory stays flat. Every task belongs to the token's user
(``members_per_org=0``), so "my tasks" is every task and each contender does exactly the same
work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
import time

import orjson

from aiotallyfy.testing import FakeData, FakeTallyfy


def _parse_limit(text: str | None) -> tuple[int, float] | None:
    if not text:
        return None
    count, seconds = text.split("/", 1)
    return int(count), float(seconds)


async def _serve(args: argparse.Namespace) -> None:
    data = FakeData(
        orgs=args.orgs, tasks_per_org=args.tasks_per_org, seed=args.seed, members_per_org=0
    )
    fake = FakeTallyfy(
        data=data,
        latency=args.latency,
        rate_limit=_parse_limit(args.rate_limit),
        rate_limit_headers=not args.no_rate_limit_headers,
        record_requests=False,
    )
    if args.max_upload_mb is not None:
        from aiotallyfy.testing import fake_files

        fake_files(fake).max_upload_bytes = int(args.max_upload_mb * 1024 * 1024)
    await fake.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    hello = {
        "base_url": fake.base_url,
        "root_url": fake.root_url,
        "token": fake.token,
        "tasks": args.orgs * args.tasks_per_org,
    }
    sys.stdout.write(orjson.dumps(hello).decode() + "\n")
    sys.stdout.flush()

    lines: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:  # a daemon thread: a blocked readline never delays exit
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, "")

    threading.Thread(target=read_stdin, daemon=True).start()

    async def control() -> None:
        while True:
            line = await lines.get()
            if not line:
                stop.set()
                return
            words = line.split()
            if words and words[0] == "stats":
                seconds = float(words[1]) if len(words) > 1 else 1.0
                reply = {
                    "admitted": len(fake.admission_times()),
                    "max_in_window": fake.max_admitted_in_window(seconds),
                    "cpu": time.process_time(),  # the server's own CPU seconds so far
                }
                sys.stdout.write(orjson.dumps(reply).decode() + "\n")
                sys.stdout.flush()

    reader = asyncio.ensure_future(control())
    try:
        await stop.wait()
    finally:
        reader.cancel()
        await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--tasks-per-org", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--rate-limit", default=None, help="N/SECONDS enforced with 429s")
    parser.add_argument("--no-rate-limit-headers", action="store_true")
    parser.add_argument(
        "--max-upload-mb", type=float, default=None, help="raise the fake's 100 MiB upload cap"
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
