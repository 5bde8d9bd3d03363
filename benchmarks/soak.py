"""Soak: a long multi-org export through every fault FakeTallyfy knows, checked exact each run.

Not part of the test suite (it runs in real time, minutes). Each run starts a fresh in-process
``FakeTallyfy`` (its own seed, ``--orgs`` organizations of about ``--tasks`` tasks each), with
every fault kind of ``aiotallyfy.testing._faults`` mixed in at once:

- probabilistic, per request: ``html_503``, ``server_500``, ``reset``, ``reset_after_apply``,
  ``malformed_json`` (each ``--fault-rate``) and ``hang`` (``--hang-rate``, the server stalls
  ``--hang-seconds``, longer than the client's per-attempt timeout);
- scripted: ``429`` with ``Retry-After: 1`` on the task lists of a third of the orgs.

The export is the CLI's own (``export_tasks``: fan-out over every org, streamed JSONL into a
temporary file renamed into place only if every org was read in full), with a client whose
retry policy also retries 500 (the fake's ``server_500`` fault; the default policy does not).
After each run the file is read back and compared with the fake's data by ``(org, id)``:
0 lost, 0 duplicated, 0 unexpected, or the run fails. A run where the export itself refused
to commit (an org failed after its retries) is reported as such and counts as a failure.

    python benchmarks/soak.py [--runs 5] [--orgs 30] [--tasks 1000] [--fault-rate 0.02]

Prints, per run, the tasks, the requests (the client's logical calls and counted attempts,
the server's receipts, which also count attempts the client gave up on: timed-out hangs,
resets), the faults the server injected by kind, and the verdict; then totals. Exit status
0 when every run was exact.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

from aiotallyfy import RateLimit, RetryPolicy, TallyfyClient, Timeouts
from aiotallyfy.cli._commands import export_tasks, open_output
from aiotallyfy.cli._context import Context
from aiotallyfy.testing import FakeData, FakeTallyfy
from aiotallyfy.testing._faults import FAULT_NAMES, FaultPlan

PROBABILISTIC = ("html_503", "server_500", "reset", "reset_after_apply", "malformed_json")


def _check(path: Path, expected: dict[str, set[str]]) -> tuple[int, int, int, int]:
    """(rows, lost, duplicated, unexpected) of the export against the fake's data."""
    seen: Counter[tuple[str, str]] = Counter()
    with path.open("rb") as fh:
        for line in fh:
            task = orjson.loads(line)
            seen[(task["organization_id"], task["id"])] += 1
    want = {(org, task_id) for org, ids in expected.items() for task_id in ids}
    lost = len(want - seen.keys())
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    unexpected = len(seen.keys() - want)
    return sum(seen.values()), lost, duplicated, unexpected


@dataclass
class Run:
    run: int
    orgs: int
    tasks_expected: int
    calls: int
    sent: int
    received: int
    retries: int
    seen: str
    faults: Counter[str]
    elapsed: float
    failed_orgs: list[str]
    rows: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    exact: bool = False

    def line(self) -> str:
        kinds = ", ".join(f"{k} {self.faults.get(k, 0)}" for k in sorted(FAULT_NAMES))
        return (
            f"run {self.run}: {self.rows:,}/{self.tasks_expected:,} tasks from {self.orgs} "
            f"orgs, lost {self.lost}, duplicated {self.duplicated}, unexpected "
            f"{self.unexpected}; {self.calls:,} calls, {self.sent:,} attempts counted by the "
            f"client, {self.received:,} requests received by the server, {self.retries:,} "
            f"retries (client saw {self.seen}); injected: {kinds}; {self.elapsed:.1f} s: "
            + ("exact" if self.exact else "NOT EXACT")
        )


async def one_run(args: argparse.Namespace, run: int, workdir: Path) -> Run:
    seed = args.seed + run
    rng = random.Random(seed)
    sizes = [rng.randint(args.tasks * 8 // 10, args.tasks * 12 // 10) for _ in range(args.orgs)]
    data = FakeData(orgs=args.orgs, tasks_per_org=sizes, seed=seed, members_per_org=0)
    faults = FaultPlan(
        seed=seed,
        hang=args.hang_rate,
        hang_seconds=args.hang_seconds,
        latency_jitter=0.005,
        **{name: args.fault_rate for name in PROBABILISTIC},
    )
    for org_id in rng.sample(data.org_ids, max(1, args.orgs // 3)):
        faults.inject("429", path_contains=f"/organizations/{org_id}/tasks", retry_after=1)
    expected = {org: {t["id"] for t in data.org_tasks(org)} for org in data.org_ids}
    out = workdir / f"soak-{run}.jsonl"
    policy = RetryPolicy(
        max_retries=args.max_retries, retry_statuses=frozenset({500, 502, 503, 504})
    )
    started = time.monotonic()
    async with (
        # A server-side limit far above the load: every answer then carries
        # X-RateLimit-Remaining as Laravel's throttle sends it, which the 429 fault's
        # "Remaining: 0" needs next to it (see the README's note on the soak).
        FakeTallyfy(data=data, latency=0.002, faults=faults, rate_limit=(10_000_000, 60)) as fake,
        TallyfyClient(
            fake.token,
            base_url=fake.base_url,
            rate_limits=[RateLimit(1_000_000, 1)],
            retry_policy=policy,
            timeout=Timeouts(total=args.timeout * 2, read=args.timeout),
            max_concurrency=args.concurrency,
        ) as client,
    ):
        org_ids = await client.all_org_ids()
        ctx = Context(
            args=argparse.Namespace(quiet=True),
            environ={},
            stdout=io.BytesIO(),
            stderr=io.StringIO(),
        )
        result = await export_tasks(
            ctx,
            client,
            org_ids,
            scope="org",
            status=None,
            fmt="jsonl",
            atomic=open_output(str(out)),
        )
        stats = client.stats
        row = Run(
            run=run,
            orgs=len(org_ids),
            tasks_expected=sum(len(ids) for ids in expected.values()),
            calls=stats.calls,
            sent=stats.requests,
            received=len(fake.requests),
            retries=stats.retries,
            seen=f"{stats.rate_limited} 429, {stats.server_errors} 5xx, "
            f"{stats.transport_errors} transport",
            faults=Counter(r.fault for r in fake.requests if r.fault),
            elapsed=0.0,
            failed_orgs=[f"{r.org_id}: {r.error}" for r in result.failed],
        )
    row.elapsed = time.monotonic() - started
    if not result.committed:
        row.lost = row.tasks_expected
        return row
    row.rows, row.lost, row.duplicated, row.unexpected = _check(out, expected)
    out.unlink()
    row.exact = (
        row.rows == row.tasks_expected
        and row.lost == row.duplicated == row.unexpected == 0
        and row.orgs == args.orgs
    )
    return row


async def main_async(args: argparse.Namespace) -> int:
    rows: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="aiotallyfy-soak-") as tmp:
        for run in range(args.runs):
            row = await one_run(args, run, Path(tmp))
            rows.append(row)
            print(row.line(), flush=True)
            for failure in row.failed_orgs:
                print(f"  failed org {failure}", flush=True)
    faults: Counter[str] = Counter()
    for row in rows:
        faults.update(row.faults)
    exact = sum(1 for row in rows if row.exact)
    print(
        f"total: {exact}/{len(rows)} runs exact; {sum(r.rows for r in rows):,} tasks, lost "
        f"{sum(r.lost for r in rows)}, duplicated {sum(r.duplicated for r in rows)}; "
        f"{sum(r.received for r in rows):,} requests received; faults injected "
        f"{sum(faults.values()):,} ("
        + ", ".join(f"{k} {faults.get(k, 0)}" for k in sorted(FAULT_NAMES))
        + f"); {sum(r.elapsed for r in rows):.0f} s"
    )
    return 0 if exact == len(rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--orgs", type=int, default=30)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per org (+-20%%)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--fault-rate", type=float, default=0.02, help="per probabilistic kind")
    parser.add_argument("--hang-rate", type=float, default=0.005)
    parser.add_argument("--hang-seconds", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=1.0, help="per-attempt read timeout")
    parser.add_argument("--max-retries", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
