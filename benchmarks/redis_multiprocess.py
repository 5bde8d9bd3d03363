"""Four processes, one Tallyfy budget: a shared Redis limiter vs per-process local limiters.

Run::

    python benchmarks/redis_multiprocess.py                   # all three scenarios
    python benchmarks/redis_multiprocess.py --limit 10/0.5 --scenarios redis --json

What it does, per scenario, on real sockets and real time:

1. A ``FakeTallyfy`` enforcing ``--limit`` N/S per token starts in its own process (``serve``).
2. ``--processes`` worker processes (``worker``) each export every task of their share of the
   organizations (all pages) with one ``TallyfyClient``, concurrently, on the same token.
3. The server process reports what it saw: 429s, and the most requests it admitted in any
   window of S seconds (``FakeTallyfy.max_admitted_in_window``). Each worker reports how many
   tasks it exported and a hash of their ids, checked against the fake's seeded data.

Scenarios:

- ``redis``: every worker uses ``RedisRateLimiter`` told N/S (one shared budget).
- ``local``: every worker uses its own ``LocalRateLimiter`` told the same N/S (the problem).
  The fake sends ``X-RateLimit-Remaining``, whose gate in each local limiter hides part of it.
- ``local-bare``: as ``local``, but the server sends no ``X-RateLimit-*`` headers (only
  ``Retry-After`` on its 429s), so the local limiters have nothing but their own count.
- ``redis-stop``: as ``redis``, and the redis-server is stopped mid-run; the workers fall back
  to local limiters holding a 1/processes share of N each (the documented recommendation).

Needs ``redis-server`` on PATH (Debian: ``apt-get install redis-server``) unless ``--redis-url``
points at a running one (then ``redis-stop`` is skipped: we only stop a server we started).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiotallyfy
from aiotallyfy import LocalRateLimiter, RateLimit, RateLimiter, TallyfyClient, TallyfyError

SCRIPT = str(Path(__file__).resolve())


# ------------------------------------------------------------------------ a redis-server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port: no persistence, stopped by us."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------ server process
async def serve(args: argparse.Namespace) -> None:
    """Run a rate-limited FakeTallyfy; print its URL, then stats when told ``stats``."""
    from aiotallyfy.testing import FakeTallyfy

    n, seconds = args.limit.requests, args.limit.seconds
    fake = FakeTallyfy(
        orgs=args.orgs,
        tasks_per_org=args.tasks_per_org,
        max_per_page=args.max_per_page,
        seed=args.seed,
        rate_limit=(n, seconds),
        rate_limit_headers=not args.bare_429,
    )
    await fake.start()
    try:
        print(json.dumps({"base_url": fake.base_url, "token": fake.token}), flush=True)
        loop = asyncio.get_running_loop()
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            if line == "stats":
                stats = {
                    "requests": len(fake.requests),
                    "admitted": len(fake.admission_times()),
                    "rate_limited": fake.count(status=429),
                    "max_in_window": fake.max_admitted_in_window(seconds),
                }
                print(json.dumps(stats), flush=True)
    finally:
        await fake.close()


# ------------------------------------------------------------------------ worker process
def make_limiter(args: argparse.Namespace) -> RateLimiter:
    limit: RateLimit = args.limit
    if args.mode == "local":
        return LocalRateLimiter([limit])
    # A share of the budget while Redis is away: N / processes per process.
    share = RateLimit(max(1, limit.requests // args.processes), limit.seconds)
    return aiotallyfy.RedisRateLimiter.from_url(
        args.redis_url,
        [limit],
        key_prefix=args.key_prefix,
        # A short probe cap: the local limiter's X-RateLimit-Remaining gate backs off to 30 s
        # by default, which starves a process when the server's count includes the others'.
        fallback=LocalRateLimiter([share], probe_max=1.0),
        retry_interval=1.0,
    )


async def work(args: argparse.Namespace) -> None:
    """Export every task of the given orgs; print a JSON report.

    Started together with the server; the go signal on stdin carries the server's URL and
    token (stdin, not the command line, where other users could read the token).
    """
    limiter = make_limiter(args)
    report: dict[str, Any] = {"orgs": {}, "errors": []}
    print("ready", flush=True)
    go = json.loads(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    started = time.monotonic()
    async with TallyfyClient(
        go["token"], base_url=go["base_url"], allow_insecure_http=True, limiter=limiter
    ) as client:

        async def export(org_id: str) -> None:
            try:
                tasks = await client.tasks.list(org_id).to_list()
            except TallyfyError as exc:
                report["errors"].append(f"{org_id}: {type(exc).__name__}: {exc}")
                return
            report["orgs"][org_id] = id_digest(str(t["id"]) for t in tasks)

        await asyncio.gather(*(export(org) for org in args.org_ids.split(",")))
        stats = client.stats
        report.update(
            elapsed=time.monotonic() - started,
            requests=stats.requests,
            rate_limited=stats.rate_limited,
            retries=stats.retries,
        )
        snapshot = getattr(limiter, "snapshot", None)
        if args.mode == "redis" and snapshot is not None:
            info = snapshot()
            report["limiter"] = {
                k: info[k] for k in ("mode", "redis_admissions", "fallback_admissions", "outages")
            }
    print(json.dumps(report), flush=True)


def id_digest(ids: Any) -> list[Any]:
    ordered = sorted(ids)
    return [len(ordered), hashlib.sha256(",".join(ordered).encode()).hexdigest()[:16]]


# ------------------------------------------------------------------------ orchestration
@dataclass
class Outcome:
    scenario: str
    seconds: float
    server: dict[str, Any]
    workers: list[dict[str, Any]]
    data_exact: bool
    notes: list[str] = field(default_factory=list)


def _common(args: argparse.Namespace) -> list[str]:
    return [
        "--limit",
        f"{args.limit.requests}/{args.limit.seconds:g}",
        "--orgs",
        str(args.orgs),
        "--tasks-per-org",
        str(args.tasks_per_org),
        "--max-per-page",
        str(args.max_per_page),
        "--seed",
        str(args.seed),
        "--processes",
        str(args.processes),
        *(["--bare-429"] if args.bare_429 else []),
    ]


def run_scenario(
    args: argparse.Namespace, scenario: str, redis: RedisServer | None, redis_url: str
) -> Outcome:
    from aiotallyfy.testing import FakeData

    data = FakeData(orgs=args.orgs, tasks_per_org=args.tasks_per_org, seed=args.seed)
    orgs = data.accessible_org_ids
    server = subprocess.Popen(
        [sys.executable, SCRIPT, "serve", *_common(args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    args = argparse.Namespace(**{**vars(args), "bare_429": scenario == "local-bare"})
    mode = "local" if scenario.startswith("local") else "redis"
    prefix = f"bench-{scenario}-{os.getpid()}-{time.monotonic_ns()}"
    workers = []
    for i in range(args.processes):
        share = orgs[i :: args.processes]
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    SCRIPT,
                    "worker",
                    *_common(args),
                    "--org-ids",
                    ",".join(share),
                    "--mode",
                    mode,
                    "--redis-url",
                    redis_url,
                    "--key-prefix",
                    prefix,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    info = server.stdout.readline()
    for w in workers:
        assert w.stdout is not None
        assert w.stdout.readline().strip() == "ready"
    started = time.monotonic()
    for w in workers:
        assert w.stdin is not None
        w.stdin.write(info)
        w.stdin.flush()
    notes: list[str] = []
    if scenario == "redis-stop":
        assert redis is not None
        time.sleep(args.stop_after)
        redis.stop()
        notes.append(f"redis-server stopped {args.stop_after:g}s into the run")
    reports = []
    for w in workers:
        out, _ = w.communicate(timeout=600)
        if w.returncode != 0:
            raise RuntimeError(f"worker failed with exit code {w.returncode}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    seconds = time.monotonic() - started
    server.stdin.write("stats\n")
    server.stdin.flush()
    stats = json.loads(server.stdout.readline())
    server.stdin.close()
    server.wait(timeout=30)
    exported: dict[str, Any] = {}
    for report in reports:
        exported.update(report["orgs"])
    expected = {org: id_digest(data.task_ids(org)) for org in orgs}
    return Outcome(scenario, seconds, stats, reports, exported == expected, notes)


def summarize(args: argparse.Namespace, outcome: Outcome) -> str:
    n = args.limit.requests
    server = outcome.server
    lines = [
        f"== {outcome.scenario}: {args.processes} processes, limit {args.limit} per token "
        f"({outcome.seconds:.2f}s)",
        f"   server: {server['admitted']} admitted, {server['rate_limited']} answered 429, "
        f"max admitted in any {args.limit.seconds:g}s window = {server['max_in_window']} "
        f"(N = {n}: {'OK' if server['max_in_window'] <= n else 'EXCEEDED'})",
        f"   data: every task of every org exported exactly: {outcome.data_exact}",
    ]
    for i, report in enumerate(outcome.workers):
        extra = f" limiter={report['limiter']}" if "limiter" in report else ""
        errors = f" errors={report['errors']}" if report["errors"] else ""
        lines.append(
            f"   worker {i}: {report['requests']} requests, {report['rate_limited']} x 429, "
            f"{report['retries']} retries, {report['elapsed']:.2f}s{extra}{errors}"
        )
    lines += [f"   note: {note}" for note in outcome.notes]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("role", nargs="?", default="run", choices=["run", "serve", "worker"])
    parser.add_argument("--limit", type=RateLimit.parse, default=RateLimit(20, 1.0))
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--orgs", type=int, default=8)
    parser.add_argument("--tasks-per-org", type=int, default=60)
    parser.add_argument("--max-per-page", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--scenarios",
        default="redis,local,local-bare,redis-stop",
        help="comma-separated subset",
    )
    parser.add_argument("--stop-after", type=float, default=2.0)
    parser.add_argument("--bare-429", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    # worker-only
    parser.add_argument("--org-ids", default="")
    parser.add_argument("--mode", choices=["redis", "local"], default="redis")
    parser.add_argument("--key-prefix", default="aiotallyfy-bench")
    args = parser.parse_args()
    if args.role == "serve":
        asyncio.run(serve(args))
        return
    if args.role == "worker":
        asyncio.run(work(args))
        return

    outcomes: list[Outcome] = []
    for scenario in args.scenarios.split(","):
        if args.redis_url and not scenario.startswith("local"):
            if scenario == "redis-stop":
                continue  # we only stop a redis-server we started ourselves
            outcomes.append(run_scenario(args, scenario, None, args.redis_url))
            continue
        with RedisServer() as redis:
            outcomes.append(run_scenario(args, scenario, redis, redis.url))
    if args.json:
        print(json.dumps([o.__dict__ for o in outcomes]))
    else:
        for outcome in outcomes:
            print(summarize(args, outcome))


if __name__ == "__main__":
    main()
