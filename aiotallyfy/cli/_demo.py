"""``aiotallyfy demo``: the whole export path against a local fake Tallyfy, no account needed.

It starts ``FakeTallyfy`` on 127.0.0.1 with 20-40 ms latency, Tallyfy's documented per-user
limit (600 requests/minute, answered with 429 + Retry-After by the fake when exceeded) and a
few injected HTML 503s and dropped connections; exports every task of ~25 organizations with
the same code as ``aiotallyfy tasks --all-orgs`` (progress display included); then reads the
file back to check that every task arrived exactly once, and prints a summary.

Sizing: ~10,000 tasks at 100 per page is ~110 requests. The client's limiter lets the first
60 go at once and paces the rest at 10/s, so the demo takes about 5 s, well under 30 s.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from .._auth import StaticToken
from ._build import build_client
from ._commands import export_exit_code, export_tasks, open_output
from ._context import Context
from ._errors import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from ..testing import FakeData

__all__ = ["demo_task_counts", "run_demo"]

DEMO_RATE_LIMIT = (600, 60.0)  # Tallyfy's documented per-user limit
DEMO_JITTER = 0.020


def demo_task_counts(orgs: int, tasks_per_org: int | None) -> list[int]:
    """250 to 550 tasks per org (a fixed spread, so pages per org differ), unless given."""
    if tasks_per_org is not None:
        return [tasks_per_org] * orgs
    return [250 + (k * 97) % 301 for k in range(orgs)]


def _verify(path: Path, expected: dict[str, int]) -> tuple[bool, str]:
    """Every task of every org exactly once, and nothing else."""
    seen: set[tuple[str, str]] = set()
    per_org: Counter[str] = Counter()
    duplicates = 0
    if not path.exists():
        return False, "no file written (an organization failed)"
    with path.open("rb") as fh:
        for line in fh:
            task = orjson.loads(line)
            key = (task["organization_id"], task["id"])
            if key in seen:
                duplicates += 1
            seen.add(key)
            per_org[key[0]] += 1
    if duplicates:
        return False, f"{duplicates} duplicated tasks"
    if dict(per_org) != {k: v for k, v in expected.items() if v}:
        return False, "per-organization counts differ from the server's"
    return True, "every one exactly once"


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _task_count(data: FakeData, org_id: str) -> int:
    state = data.org_state(org_id)
    return state.task_count if state is not None else 0


async def run_demo(ctx: Context) -> int:
    if getattr(ctx.args, "what", "export") == "load":
        from ._demo_load import run_demo_load

        return await run_demo_load(ctx)
    from ..testing import FakeData, FakeTallyfy, FaultPlan  # only the demo needs the fake

    args = ctx.args
    counts = demo_task_counts(args.orgs, args.tasks_per_org)
    data = FakeData(orgs=args.orgs, tasks_per_org=counts, seed=args.seed)
    expected = {org_id: _task_count(data, org_id) for org_id in data.org_ids}
    faults = FaultPlan(
        seed=args.seed,
        latency_jitter=DEMO_JITTER,
        html_503=args.fault_rate * 2 / 3,
        reset=args.fault_rate / 3,
    )
    latency = args.latency_ms / 1000
    fake = FakeTallyfy(data=data, rate_limit=DEMO_RATE_LIMIT, latency=latency, faults=faults)
    with tempfile.TemporaryDirectory(prefix="aiotallyfy-demo-") as tmp:
        output = args.output or os.path.join(tmp, "tasks.jsonl")
        started = time.monotonic()
        async with fake:
            client = build_client(
                args, ctx.environ, auth=StaticToken(fake.token), base_url=fake.base_url
            )
            async with client:
                org_ids = await client.all_org_ids()
                result = await export_tasks(
                    ctx,
                    client,
                    org_ids,
                    scope="org",
                    status=None,
                    fmt="jsonl",
                    atomic=open_output(output),
                    description="demo export",
                )
                stats = client.stats
        elapsed = time.monotonic() - started
        code = export_exit_code(ctx, result)
        ok, verdict = _verify(Path(output), expected)
    if not ok and code == EXIT_OK:
        code = EXIT_FAILED
    fault_counts = Counter(r.fault for r in fake.requests if r.fault)
    total_expected = sum(expected.values())
    lines = [
        f"aiotallyfy demo: every task of {args.orgs} organizations from a local fake Tallyfy "
        f"({DEMO_RATE_LIMIT[0]} requests/min per user enforced, "
        f"{args.latency_ms:g}-{args.latency_ms + DEMO_JITTER * 1000:g} ms latency, "
        f"{args.fault_rate:.0%} injected faults)",
        f"  orgs        {len(result.results)} ({len(result.results) - len(result.failed)} ok, "
        f"{len(result.failed)} failed)",
        f"  tasks       {result.state.tasks:,} exported, {total_expected:,} on the server: "
        f"{verdict}",
        f"  requests    {stats.requests:,} sent (the server saw {len(fake.requests):,})",
        f"  429s        {stats.rate_limited:,}",
        f"  retries     {stats.retries:,} (the server injected "
        f"{_plural(fault_counts['html_503'], 'HTML 503')} and "
        f"{_plural(fault_counts['reset'], 'dropped connection')})",
        f"  elapsed     {elapsed:.1f} s",
        f"  tasks/s     {result.state.tasks / max(elapsed, 1e-9):,.0f}",
        "  output      "
        + (
            f"{args.output} ({result.bytes_written / 1e6:.1f} MB)"
            if args.output
            else f"{result.bytes_written / 1e6:.1f} MB written to a temporary file, removed "
            "(pass -o FILE to keep it)"
        ),
    ]
    if importlib.util.find_spec("dlt") is not None:  # the load extra (not imported here)
        lines.append(
            "  next        aiotallyfy demo load: the same organizations into a DuckDB file, "
            "then SQL"
        )
    ctx.emit(("\n".join(lines) + "\n").encode())
    ctx.stdout.flush()
    return code
