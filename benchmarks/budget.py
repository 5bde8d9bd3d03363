"""Does the default limiter use the budget the server allows? (issue 11, item 6)

    python benchmarks/budget.py [--rounds 3] [--not-told]

The job: 10 organizations x 1,000 tasks (101 requests: the org list and 10 pages of 100 per
org), 50 ms server latency, a server enforcing 600 requests per 60 s (429 + Retry-After +
X-RateLimit-*). Two contenders, alternating, each on a fresh server process (so one run's
window never carries into the next):

- ``default``: ``TallyfyClient`` with its defaults (600/60 s, burst = the whole window);
- ``unlimited``: the same export told a limit it never reaches (the limiter still runs).

101 requests fit in one 600/min window, so the default should be as fast as unlimited, with
no 429. ``--not-told`` also runs ``run.py``'s rate-limit scenario (a server stricter than the
default, 40/5 s, client not told) to show the 429 share stays small. ``run.py`` calls
``budget()`` for its report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import median, run_worker, server

ORGS, TASKS_PER_ORG, LATENCY, SERVER_LIMIT = 10, 1000, 0.05, "600/60"


def _one(limits: str) -> dict[str, Any]:
    with server(
        orgs=ORGS, tasks_per_org=TASKS_PER_ORG, latency=LATENCY, rate_limit=SERVER_LIMIT
    ) as srv:
        run = run_worker(
            {
                "contender": "aiotallyfy",
                "base_url": srv.base_url,
                "token": srv.token,
                "concurrency": 16,
                "limits": limits,
            }
        )
        run.update(srv.stats(60.0))
    return run


def budget(rounds: int) -> dict[str, Any]:
    print(
        f"budget use: {ORGS} orgs x {TASKS_PER_ORG} tasks, {LATENCY * 1000:g} ms, "
        f"server {SERVER_LIMIT}",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {"default": [], "unlimited": []}
    for r in range(rounds):
        order = ("default", "unlimited") if r % 2 == 0 else ("unlimited", "default")
        for name in order:
            runs[name].append(_one("default" if name == "default" else "none"))
        print(
            f"    round {r + 1}/{rounds}: default {runs['default'][-1]['elapsed']:.2f}s, "
            f"unlimited {runs['unlimited'][-1]['elapsed']:.2f}s",
            flush=True,
        )
    out: dict[str, Any] = {"server_limit": SERVER_LIMIT, "orgs": ORGS, "latency_ms": LATENCY * 1e3}
    for name, rs in runs.items():
        out[name] = {
            "elapsed_s": median([r["elapsed"] for r in rs]),
            "requests": rs[0]["requests"],
            "tasks": rs[0]["tasks"],
            "rate_limited": max(r["rate_limited"] for r in rs),
            "max_in_window": max(r["max_in_window"] for r in rs),
            "limiter_wait_s": max(r["limiter_wait"] for r in rs),
            "runs": rs,
        }
    # Paired by round (the two ran back to back), so machine noise mostly cancels.
    out["default_vs_unlimited"] = median(
        [
            d["elapsed"] / u["elapsed"]
            for d, u in zip(runs["default"], runs["unlimited"], strict=True)
        ]
    )
    return out


def markdown(result: dict[str, Any]) -> str:
    rows = [
        f"## Budget use: {result['orgs']} orgs x 1,000 tasks at {result['latency_ms']:g} ms, "
        f"server enforcing {result['server_limit']}",
        "",
        "| client | requests | 429s | wall s (median) | time queued in the limiter (max) "
        "| server max in 60 s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("default", "unlimited"):
        r = result[name]
        rows.append(
            f"| {name} | {r['requests']} | {r['rate_limited']} | {r['elapsed_s']:.2f} | "
            f"{r['limiter_wait_s']:.3f} s | {r['max_in_window']} |"
        )
    ratio = result["default_vs_unlimited"]
    rows += ["", f"default / unlimited wall (median of paired rounds): {ratio:.2f}x", ""]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--not-told", action="store_true", help="also run run.py's 40/5 s case")
    args = parser.parse_args()
    result = budget(args.rounds)
    print(markdown(result))
    if args.not_told:
        from run import rate_limit  # benchmarks/ is on sys.path

        told = rate_limit(1)
        for key in ("told_median", "not_told_median"):
            m = told[key]
            print(
                f"{key[:-7]}: {m['requests']:.0f} requests, {m['rate_limited']:.0f} x 429 "
                f"({m['share_429']:.1%}), wall/ideal {m['time_vs_ideal']:.2f}, "
                f"server max in window {m['max_in_window']:.0f}"
            )


if __name__ == "__main__":
    main()
