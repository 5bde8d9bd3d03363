"""``aiotallyfy load`` into DuckDB against the JSONL export of the same data, in one run.

The fake serves from its own process (``benchmarks/_server.py``: 20 orgs x 5,000 tasks, no
rate limit, every task the token user's); each contender is a fresh ``aiotallyfy`` process
whose wall time and peak RSS (``os.wait4``'s ``ru_maxrss``, that process alone) are
measured (this process is kept small: a child's ``ru_maxrss`` includes its parent's peak
RSS at the fork). Rounds alternate export and load; figures are medians. Then, on the same
server:

1. the loaded table is checked: rows = the fake's tasks, 0 duplicated (organization_id, id);
2. the fake is changed through the API (tasks completed, one-off tasks deleted, tasks
   created) and loaded again: rows inserted / updated / marked deleted, measured by
   comparing the table before and after, must each equal what was changed;
3. a load is killed (SIGKILL) midway and run again: the result must be exact.

    python benchmarks/load_duckdb.py [--orgs 20] [--tasks-per-org 5000] [--rounds 2]

Exit status 0 when every check is exact (the ratio and RSS goals are reported, not gated).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson

from aiotallyfy import TallyfyClient

DATASET = "tallyfy_data"
META = ("_tallyfy_run_id", "_tallyfy_deleted_at", "_dlt_load_id", "_dlt_id")


def start_server(orgs: int, tasks: int) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    here = Path(__file__).resolve().parent
    server = subprocess.Popen(
        [sys.executable, str(here / "_server.py"), "--orgs", str(orgs),
         "--tasks-per-org", str(tasks)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert server.stdout is not None
    hello: dict[str, Any] = orjson.loads(server.stdout.readline())
    return server, hello


def run_cli(
    hello: dict[str, Any], args: list[str], env_extra: dict[str, str], kill_after: float = 0.0
) -> tuple[int, float, int]:
    """(exit code, wall seconds, peak RSS KiB) of one ``aiotallyfy`` process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYFY_")}
    env.update({"TALLYFY_API_TOKEN": hello["token"], "TALLYFY_BASE_URL": hello["base_url"]})
    env.update(env_extra)
    argv = [sys.executable, "-m", "aiotallyfy", "--rate", "100000/1", "-q", *args]
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env)
    if kill_after:
        time.sleep(kill_after)
        child.send_signal(signal.SIGKILL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, time.perf_counter() - started, usage.ru_maxrss


def snapshot(db: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """``(organization_id, id)`` -> (marked deleted, digest of every other column but the
    load's own). Digested by DuckDB, so this process stays small: a child inherits its
    parent's peak RSS in ``ru_maxrss`` (Linux counts the parent's pages from the fork to the
    exec), and full rows here (~300 MiB) showed up as the re-load's "peak"."""
    with duckdb.connect(str(db), read_only=True) as con:
        cols = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                "AND table_name = 'tasks' ORDER BY ordinal_position",
                [DATASET],
            ).fetchall()
        ]
        packed = ", ".join(f'"{c}" := "{c}"' for c in cols if c not in META)
        rows = con.execute(
            f"SELECT organization_id, id, _tallyfy_deleted_at IS NOT NULL, "
            f"md5(CAST(struct_pack({packed}) AS VARCHAR)) FROM {DATASET}.tasks"
        ).fetchall()
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in rows:
        key = (row[0], row[1])
        if key in out:
            raise SystemExit(f"duplicate row {key}")
        out[key] = row[2:]
    return out


async def server_tasks(hello: dict[str, Any]) -> set[tuple[str, str]]:
    async with TallyfyClient(hello["token"], base_url=hello["base_url"], rate_limits=[]) as c:
        keys = set()
        for org in await c.all_org_ids():
            keys |= {(org, t["id"]) async for t in c.tasks.list(org)}
        return keys


async def change(hello: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    """Complete 10 open tasks, delete 3 one-off tasks, create 5: in two organizations."""
    done: dict[str, set[tuple[str, str]]] = {"updated": set(), "deleted": set(), "new": set()}
    async with TallyfyClient(hello["token"], base_url=hello["base_url"], rate_limits=[]) as c:
        orgs = (await c.all_org_ids())[:2]
        for org in orgs:
            open_oneoff = [
                t async for t in c.tasks.list(org, is_oneoff="true")
                if t["status"] != "completed"
            ][:8]  # fmt: skip
            for t in open_oneoff[:5]:
                await c.tasks.complete(org, t["id"])
                done["updated"].add((org, t["id"]))
            for t in open_oneoff[5:8] if org == orgs[0] else ():
                await c.tasks.delete(org, t["id"])
                done["deleted"].add((org, t["id"]))
        for k in range(5):
            task = await c.tasks.create(
                orgs[1], title=f"New task {k}", owners={"users": []},
                deadline="2026-06-01 10:00:00",
            )  # fmt: skip
            done["new"].add((orgs[1], task["id"]))
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--tasks-per-org", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args()
    expected = opts.orgs * opts.tasks_per_org
    server, hello = start_server(opts.orgs, opts.tasks_per_org)
    ok = True
    try:
        with tempfile.TemporaryDirectory(prefix="aiotallyfy-load-bench-") as tmp:
            env = {"DLT_DATA_DIR": str(Path(tmp) / "dlt")}
            out, db = Path(tmp) / "tasks.jsonl", Path(tmp) / "tallyfy.duckdb"
            export_args = ["tasks", "--all-orgs", "--org-wide", "-o", str(out)]
            load_args = ["load", "--all-orgs", "--resources", "tasks", "--duckdb-path", str(db)]
            exports: list[tuple[float, int]] = []
            loads: list[tuple[float, int]] = []
            for k in range(opts.rounds):
                db.unlink(missing_ok=True)
                code_e, t_e, rss_e = run_cli(hello, export_args, env)
                code_l, t_l, rss_l = run_cli(hello, load_args, env)
                ok &= code_e == 0 and code_l == 0
                exports.append((t_e, rss_e))
                loads.append((t_l, rss_l))
                print(
                    f"round {k + 1}: export {t_e:.1f} s {rss_e / 1024:.0f} MiB | load "
                    f"{t_l:.1f} s {rss_l / 1024:.0f} MiB | ratio {t_l / t_e:.2f}",
                    flush=True,
                )
            t_export = statistics.median(t for t, _ in exports)
            t_load = statistics.median(t for t, _ in loads)
            rss_load = max(r for _, r in loads) / 1024
            ratios = [t_l / t_e for (t_e, _), (t_l, _) in zip(exports, loads, strict=True)]
            rss_all = [r / 1024 for _, r in loads]
            first = snapshot(db)
            truth = asyncio.run(server_tasks(hello))
            exact = set(first) == truth and len(first) == expected
            ok &= exact
            print(
                f"loaded {len(first):,} rows, the fake has {len(truth):,} ({expected:,} "
                f"expected), 0 duplicates: {'exact' if exact else 'NOT EXACT'}\n"
                f"wall time load / JSONL export: {t_load:.1f} s / {t_export:.1f} s = "
                f"{t_load / t_export:.2f} x (rounds {min(ratios):.2f}-{max(ratios):.2f} x; goal "
                f"<= 3); load peak RSS {rss_load:.0f} MiB (rounds {min(rss_all):.0f}-"
                f"{max(rss_all):.0f}; goal <= 300)",
                flush=True,
            )

            changed = asyncio.run(change(hello))
            code, t_re, rss_re = run_cli(hello, load_args, env)
            second = snapshot(db)
            inserted = set(second) - set(first)
            updated = {k for k in first if k in second and first[k][1:] != second[k][1:]}
            marked = {k for k, v in second.items() if v[0] and not first[k][0]}
            exact = (
                code == 0
                and inserted == changed["new"]
                and updated == changed["updated"]
                and marked == changed["deleted"]
            )
            ok &= exact
            print(
                f"re-load after changes ({t_re:.1f} s, peak RSS {rss_re / 1024:.0f} MiB): "
                f"inserted {len(inserted)} (changed {len(changed['new'])}), updated "
                f"{len(updated)} (changed {len(changed['updated'])}), marked deleted "
                f"{len(marked)} (deleted {len(changed['deleted'])}): "
                f"{'exact' if exact else 'NOT EXACT'}",
                flush=True,
            )

            killed_at = t_load * 0.5
            code_k, _, _ = run_cli(hello, load_args, env, kill_after=killed_at)
            code_r, t_r, _ = run_cli(hello, load_args, env)
            third = snapshot(db)
            truth = asyncio.run(server_tasks(hello))
            live = {k for k, v in third.items() if not v[0]}
            exact = code_r == 0 and live == truth and set(third) == set(second)
            ok &= exact
            print(
                f"load killed (SIGKILL) after {killed_at:.1f} s (exit {code_k}), run again "
                f"({t_r:.1f} s): {len(live):,} live rows = the fake's {len(truth):,}, "
                f"{len(third) - len(live)} marked deleted, 0 duplicates: "
                f"{'exact' if exact else 'NOT EXACT'}",
                flush=True,
            )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
