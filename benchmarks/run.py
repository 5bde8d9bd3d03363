"""aiotallyfy benchmarks: every figure is a ratio measured side by side in one run.

    python benchmarks/run.py [--quick] [--only export_process,startup] [--profile-cli]

Starts FakeTallyfy in separate processes (seeded), runs each contender in a fresh worker
process, alternates contenders round by round, takes medians, and writes
``benchmarks/results/latest.md`` and ``latest.json``. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import (
    PYTHON,
    cli_export_cmd,
    cli_startup,
    jsonl_digest,
    machine_info,
    median,
    raw_export_cmd,
    run_cli,
    run_process,
    run_worker,
    server,
    startup_pair,
    token_env,
)
from _report import render
from budget import budget
from budget import markdown as budget_markdown

RESULTS = Path(__file__).resolve().parent / "results"
CONCURRENCY = 32

Runner = Callable[[], dict[str, Any]]


def _rounds(contenders: dict[str, Runner], rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Alternate: round 1 runs every contender once, then round 2, ... (rotating the order),
    so drift in machine load spreads over all of them."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            out[name].append(contenders[name]())
        print(f"    round {r + 1}/{rounds} done", flush=True)
    return out


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["tasks"] / r["elapsed"] for r in runs]
    return {
        "tasks_per_s": median(rates),
        "tasks": runs[0]["tasks"],
        "requests": runs[0].get("requests"),
        "elapsed_s": median([r["elapsed"] for r in runs]),
        "cpu_s": median([r["cpu"] for r in runs]) if "cpu" in runs[0] else None,
        "runs": runs,
    }


def throughput(latency: float, rounds: int, sample_orgs: int, quick: bool) -> dict[str, Any]:
    print(f"throughput, latency {latency * 1000:g} ms", flush=True)
    with server(orgs=20, tasks_per_org=2500, latency=latency) as srv:
        base = {
            "base_url": srv.base_url,
            "root_url": srv.root_url,
            "token": srv.token,
            "concurrency": CONCURRENCY,
        }
        run_worker({**base, "contender": "raw_aiohttp"})  # warm the server's JSON cache

        def worker(contender: str, **extra: Any) -> Runner:
            return lambda: run_worker({**base, "contender": contender, **extra})

        naive_pages = 30 if latency else None
        contenders: dict[str, Runner] = {
            "raw_aiohttp": worker("raw_aiohttp"),
            "aiotallyfy": worker("aiotallyfy"),
            "aiotallyfy_pages": worker("aiotallyfy", by_page=True),
            "httpx": worker("httpx"),
            "aiotallyfy_cli": lambda: run_cli(srv, CONCURRENCY),
            "sdk": worker("sdk", max_orgs=sample_orgs),
            "naive": worker("naive", max_orgs=1 if latency else sample_orgs, max_pages=naive_pages),
        }
        if latency:
            contenders["aiotallyfy_c16"] = worker("aiotallyfy", concurrency=16)
        else:
            contenders["aiotallyfy_uvloop"] = worker("aiotallyfy", loop="uvloop")
        runs = _rounds(contenders, rounds)
        startup = median([cli_startup() for _ in range(1 if quick else 3)])
    result = {name: _summary(r) for name, r in runs.items()}
    cli = result["aiotallyfy_cli"]
    cli["startup_s"] = startup
    cli["tasks_per_s_without_startup"] = median(
        [r["tasks"] / max(1e-9, r["elapsed"] - startup) for r in cli["runs"]]
    )
    return {"latency_ms": latency * 1000, "concurrency": CONCURRENCY, "contenders": result}


def rate_limit(rounds: int) -> dict[str, Any]:
    limit, seconds = 40, 5.0
    orgs, per_org = 8, 1500  # 8 x 15 pages + 1 org list = 121 requests: ~15 s at 8/s
    print(f"rate-limit utilisation, server {limit}/{seconds:g}s", flush=True)
    out: dict[str, Any] = {"server_limit": f"{limit}/{seconds:g}s", "told": [], "not_told": []}
    for _ in range(rounds):
        for key, limits in (("told", f"{limit}/{seconds:g}"), ("not_told", "default")):
            with server(orgs=orgs, tasks_per_org=per_org, rate_limit=f"{limit}/{seconds}") as srv:
                run = run_worker(
                    {
                        "contender": "aiotallyfy",
                        "base_url": srv.base_url,
                        "token": srv.token,
                        "concurrency": 16,
                        "limits": limits,
                    }
                )
                run.update(srv.stats(seconds))
            ok = run["requests"] - run["rate_limited"]
            ideal = ok / (limit / seconds)
            run["ideal_s"] = ideal
            run["utilisation"] = (ok / run["elapsed"]) / (limit / seconds)
            run["share_429"] = run["rate_limited"] / run["requests"]
            run["time_vs_ideal"] = run["elapsed"] / ideal
            out[key].append(run)
            print(f"    {key}: {run['elapsed']:.1f}s, 429s {run['rate_limited']}", flush=True)
    for key in ("told", "not_told"):
        runs = out[key]
        out[key + "_median"] = {
            field: median([r[field] for r in runs])
            for field in (
                "elapsed",
                "ideal_s",
                "utilisation",
                "share_429",
                "time_vs_ideal",
                "rate_limited",
                "requests",
                "max_in_window",
            )
        }
    return out


def memory(rounds: int) -> dict[str, Any]:
    print("memory: streaming export of 50,000 and 200,000 tasks", flush=True)
    out: dict[str, Any] = {}
    for label, per_org in (("50k", 2500), ("200k", 10000)):
        with server(orgs=20, tasks_per_org=per_org) as srv:
            runs = [
                run_worker(
                    {
                        "contender": "aiotallyfy",
                        "base_url": srv.base_url,
                        "token": srv.token,
                        "concurrency": CONCURRENCY,
                    }
                )
                for _ in range(rounds)
            ]
        out[label] = {
            "tasks": runs[0]["tasks"],
            "peak_rss_mb": median([r["maxrss_kb"] / 1024 for r in runs]),
            "runs": runs,
        }
    out["ratio_200k_50k"] = out["200k"]["peak_rss_mb"] / out["50k"]["peak_rss_mb"]
    return out


def overhead(count: int, rounds: int) -> dict[str, Any]:
    print(f"per-request overhead: {count} x GET /me", flush=True)
    with server(orgs=2, tasks_per_org=10) as srv:
        base = {
            "base_url": srv.base_url,
            "token": srv.token,
            "concurrency": 16,
            "count": count,
        }
        contenders: dict[str, Runner] = {
            "raw_aiohttp": lambda: run_worker({**base, "contender": "me_raw_aiohttp"}),
            "raw_aiohttp_bare": lambda: run_worker({**base, "contender": "me_raw_aiohttp_bare"}),
            "aiotallyfy": lambda: run_worker({**base, "contender": "me_aiotallyfy"}),
        }
        contenders["raw_aiohttp"]()  # warm-up
        runs = _rounds(contenders, rounds)
    out: dict[str, Any] = {"count": count, "concurrency": 16}
    for name, rs in runs.items():
        out[name] = {
            "cpu_us": median([1e6 * r["cpu"] / r["requests"] for r in rs]),
            "wall_us": median([1e6 * r["elapsed"] / r["requests"] for r in rs]),
            "runs": rs,
        }
    out["overhead_cpu_us"] = out["aiotallyfy"]["cpu_us"] - out["raw_aiohttp"]["cpu_us"]
    out["overhead_wall_us"] = out["aiotallyfy"]["wall_us"] - out["raw_aiohttp"]["wall_us"]
    out["overhead_cpu_us_bare"] = out["aiotallyfy"]["cpu_us"] - out["raw_aiohttp_bare"]["cpu_us"]
    return out


def export_process(
    rounds: int, orgs: int = 40, tasks_per_org: int = 10_000, profile: bool = False
) -> dict[str, Any]:
    """Issue 11: the CLI export as a whole process vs the raw-aiohttp exporter script as a
    whole process, same job, same output, alternated, medians."""
    concurrency = 16
    total = orgs * tasks_per_org
    print(f"export as a whole process: {orgs} x {tasks_per_org:,} tasks", flush=True)
    out: dict[str, Any] = {
        "orgs": orgs,
        "tasks_per_org": tasks_per_org,
        "tasks": total,
        "requests": orgs * -(-tasks_per_org // 100) + 1,
        "concurrency": concurrency,
        "rounds": rounds,
    }
    with (
        server(orgs=orgs, tasks_per_org=tasks_per_org) as srv,
        tempfile.TemporaryDirectory(prefix="aiotallyfy-bench-") as tmp,
    ):
        env = token_env(srv)
        target = Path(tmp) / "export.jsonl"
        cmds = {
            "raw": raw_export_cmd(srv, target, concurrency),
            "cli": cli_export_cmd(srv, target, concurrency),
            "raw_fsync": raw_export_cmd(srv, target, concurrency, fsync=True),
        }
        out["cli_command"] = " ".join(["aiotallyfy", *cmds["cli"][1:-1], "FILE"])
        out["raw_command"] = "python raw_export.py BASE_URL FILE --concurrency 16"
        digests: dict[str, dict[str, int]] = {}

        def once(name: str) -> dict[str, Any]:
            server_cpu = srv.stats(1.0)["cpu"]
            run = run_process(cmds[name], env=env)
            server_cpu = srv.stats(1.0)["cpu"] - server_cpu
            if run.returncode != 0:
                raise RuntimeError(f"{name} export failed ({run.returncode}): {run.stderr[-2000:]}")
            if name not in digests and name != "raw_fsync":  # check the output once
                digests[name] = jsonl_digest(target)
            target.unlink()
            return {
                "elapsed": run.elapsed,
                "cpu": run.cpu,
                "maxrss_kb": run.maxrss_kb,
                "server_cpu": server_cpu,
            }

        once("raw")  # warm the server's JSON cache; checked, not timed
        contenders: dict[str, Runner] = {name: functools.partial(once, name) for name in cmds}
        runs = _rounds(contenders, rounds)
        if profile:
            out["profile_top"] = {
                "cli": _profile("cli", ["-m", "aiotallyfy", *cmds["cli"][1:]], env, Path(tmp)),
                "raw": _profile("raw", cmds["raw"][1:], env, Path(tmp)),
            }
    for name, rs in runs.items():
        out[name] = {
            "elapsed_s": median([r["elapsed"] for r in rs]),
            "cpu_s": median([r["cpu"] for r in rs]),
            "server_cpu_s": median([r["server_cpu"] for r in rs]),
            "maxrss_mb": max(r["maxrss_kb"] for r in rs) / 1024,
            "digest": digests.get(name),
            "runs": rs,
        }
    out["ratio"] = out["raw"]["elapsed_s"] / out["cli"]["elapsed_s"]
    out["same_output"] = digests["raw"] == digests["cli"] and digests["raw"]["lines"] == total
    return out


def _profile(
    name: str, target: list[str], env: dict[str, str], tmp: Path, top: int = 15
) -> list[dict[str, Any]]:
    """One more export under pyinstrument (sampling, not timed); the functions with the most
    own time. The full call tree goes to results/<name>_export_profile.txt. ``target`` is
    what follows ``pyinstrument`` (``-m aiotallyfy ...`` or a script and its arguments) and
    ends with the output file."""
    stats_path, tree_path = tmp / f"{name}.pstats", RESULTS / f"{name}_export_profile.txt"
    pyinstrument = [PYTHON, "-m", "pyinstrument", "--interval", "0.001"]
    for renderer, path in (("pstats", stats_path), ("text", tree_path)):
        run = run_process([*pyinstrument, "-r", renderer, "-o", str(path), *target], env=env)
        if run.returncode != 0:
            raise RuntimeError(f"profiled {name} export failed: {run.stderr[-2000:]}")
        Path(target[-1]).unlink(missing_ok=True)
    stats = pstats.Stats(str(stats_path))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in table.values()) or 1.0
    ranked = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return [
        {
            "function": f"{Path(file).name}:{line} {function}",
            "self_s": row[2],
            "share": row[2] / total,
        }
        for (file, line, function), row in ranked
    ]


def startup(runs: int) -> dict[str, Any]:
    """Issue 11: ``aiotallyfy --version`` vs ``python -c "import aiohttp"``, alternated."""
    print(f"start-up: {runs} x (aiotallyfy --version, python -c 'import aiohttp')", flush=True)
    startup_pair()  # warm the page cache
    pairs = [startup_pair() for _ in range(runs)]
    version = median([p[0] for p in pairs])
    raw = median([p[1] for p in pairs])
    return {"runs": runs, "version_s": version, "import_aiohttp_s": raw, "ratio": version / raw}


SECTIONS = ("throughput", "rate_limit", "budget", "memory", "overhead", "export_process", "startup")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (< 3 minutes)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}"
    )
    parser.add_argument(
        "--profile-cli", action="store_true", help="profile one CLI export (pyinstrument)"
    )
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if only - set(SECTIONS):
        parser.error(f"unknown sections: {sorted(only - set(SECTIONS))}")
    started = time.perf_counter()
    # As installed by pip (it compiles bytecode at install): a whole-process figure must not
    # include compiling the package, which an editable install under PYTHONDONTWRITEBYTECODE
    # (set on this machine) would do in every run.
    package = Path(__file__).resolve().parent.parent / "aiotallyfy"
    if not compileall.compile_dir(package, quiet=1):
        raise SystemExit("could not compile aiotallyfy's bytecode")
    quick = args.quick
    partial = "" if only == set(SECTIONS) else ",".join(s for s in SECTIONS if s in only)
    results: dict[str, Any] = {
        "command": "python benchmarks/run.py"
        + (f" --only {partial}" if partial else "")
        + (" --profile-cli" if args.profile_cli else "")
        + (" --quick" if quick else ""),
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if "throughput" in only:
        results["throughput_0ms"] = throughput(0.0, 2 if quick else 5, 2 if quick else 3, quick)
        results["throughput_50ms"] = throughput(0.05, 1 if quick else 3, 2 if quick else 3, quick)
    if "rate_limit" in only:
        results["rate_limit"] = rate_limit(1 if quick else 2)
    if "budget" in only:
        results["budget"] = budget(2 if quick else 5)
    if "memory" in only:
        results["memory"] = memory(1 if quick else 2)
    if "overhead" in only:
        results["overhead"] = overhead(3000 if quick else 10000, 2 if quick else 3)
    if "export_process" in only:
        results["export_process"] = export_process(1 if quick else 3, profile=args.profile_cli)
    if "startup" in only:
        results["startup"] = startup(10 if quick else 20)
    results["duration_s"] = time.perf_counter() - started
    markdown = render(results)
    if "budget" in results:
        markdown += "\n" + budget_markdown(results["budget"])
    print(markdown)
    if not args.no_write:
        # A partial run never overwrites the full one: it goes to latest-<sections>.*
        stem = f"latest-{partial.replace(',', '-')}" if partial else "latest"
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{stem}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
        (RESULTS / f"{stem}.md").write_text(markdown)
        print(f"wrote {RESULTS / stem}.md and .json")


if __name__ == "__main__":
    main()
