"""The markdown report: tables of medians, ratios, and each target with pass/miss."""

from __future__ import annotations

from typing import Any

LABELS = {
    "raw_aiohttp": "raw aiohttp (the floor)",
    "aiotallyfy": "aiotallyfy library",
    "aiotallyfy_pages": "aiotallyfy library, page by page (`stream.pages()`)",
    "aiotallyfy_uvloop": "aiotallyfy library + uvloop",
    "aiotallyfy_c16": "aiotallyfy library, concurrency 16 (default)",
    "aiotallyfy_cli": "aiotallyfy CLI (subprocess)",
    "httpx": "httpx.AsyncClient",
    "sdk": "official tallyfy SDK 3.1.0 (sync)",
    "naive": "naive sequential loop (docs style)",
}


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _throughput_table(section: dict[str, Any]) -> list[str]:
    c = section["contenders"]
    floor = c["raw_aiohttp"]["tasks_per_s"]
    lines = [
        "| contender | tasks measured | requests | median tasks/s | x floor | CPU s (client) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in c.items():
        cpu = f"{s['cpu_s']:.2f}" if s.get("cpu_s") is not None else "n/a"
        reqs = s["requests"] if s["requests"] is not None else "-"
        lines.append(
            f"| {LABELS[name]} | {s['tasks']:,} | {reqs} | {s['tasks_per_s']:,.0f} | "
            f"{s['tasks_per_s'] / floor:.2f} | {cpu} |"
        )
    cli = c["aiotallyfy_cli"]
    lines.append("")
    lines.append(
        f"CLI figures are wall time of the whole process, including interpreter start-up and "
        f"imports ({cli['startup_s']:.2f} s measured separately); without it: "
        f"{cli['tasks_per_s_without_startup']:,.0f} tasks/s "
        f"({cli['tasks_per_s_without_startup'] / floor:.2f} x floor)."
    )
    return lines


Target = tuple[str, str, bool]


def _throughput_ratios(r: dict[str, Any]) -> dict[str, float]:
    t0, t50 = r["throughput_0ms"]["contenders"], r["throughput_50ms"]["contenders"]
    lib0 = t0["aiotallyfy"]["tasks_per_s"]
    lib50 = t50["aiotallyfy"]["tasks_per_s"]
    return {
        "0 ms: aiotallyfy / raw aiohttp": lib0 / t0["raw_aiohttp"]["tasks_per_s"],
        "0 ms: aiotallyfy pages / raw aiohttp": t0["aiotallyfy_pages"]["tasks_per_s"]
        / t0["raw_aiohttp"]["tasks_per_s"],
        "0 ms: aiotallyfy / httpx": lib0 / t0["httpx"]["tasks_per_s"],
        "0 ms: aiotallyfy / SDK": lib0 / t0["sdk"]["tasks_per_s"],
        "0 ms: aiotallyfy / naive": lib0 / t0["naive"]["tasks_per_s"],
        "0 ms: aiotallyfy+uvloop / aiotallyfy": t0["aiotallyfy_uvloop"]["tasks_per_s"] / lib0,
        "50 ms: aiotallyfy / raw aiohttp": lib50 / t50["raw_aiohttp"]["tasks_per_s"],
        "50 ms: aiotallyfy pages / raw aiohttp": t50["aiotallyfy_pages"]["tasks_per_s"]
        / t50["raw_aiohttp"]["tasks_per_s"],
        "50 ms: aiotallyfy / httpx": lib50 / t50["httpx"]["tasks_per_s"],
        "50 ms: aiotallyfy / SDK": lib50 / t50["sdk"]["tasks_per_s"],
        "50 ms: aiotallyfy / naive": lib50 / t50["naive"]["tasks_per_s"],
        "50 ms: aiotallyfy (c=16) / SDK": t50["aiotallyfy_c16"]["tasks_per_s"]
        / t50["sdk"]["tasks_per_s"],
    }


def _throughput_targets(ratios: dict[str, float]) -> list[Target]:
    return [
        (
            "throughput, no latency >= 0.95 x raw aiohttp (item stream)",
            f"{ratios['0 ms: aiotallyfy / raw aiohttp']:.2f}",
            ratios["0 ms: aiotallyfy / raw aiohttp"] >= 0.95,
        ),
        (
            "throughput, no latency >= 0.97 x raw aiohttp, page by page",
            f"{ratios['0 ms: aiotallyfy pages / raw aiohttp']:.2f}",
            ratios["0 ms: aiotallyfy pages / raw aiohttp"] >= 0.97,
        ),
        (
            "throughput, 50 ms >= 20 x SDK",
            f"{ratios['50 ms: aiotallyfy / SDK']:.1f}",
            ratios["50 ms: aiotallyfy / SDK"] >= 20,
        ),
        (
            "throughput, 50 ms >= httpx",
            f"{ratios['50 ms: aiotallyfy / httpx']:.2f}",
            ratios["50 ms: aiotallyfy / httpx"] >= 1.0,
        ),
    ]


def _rate_limit_targets(rl: dict[str, Any]) -> list[Target]:
    told, not_told = rl["told_median"], rl["not_told_median"]
    return [
        (
            "told the limit: utilisation >= 0.95, zero 429s",
            f"{told['utilisation']:.3f}, {told['rate_limited']:g} x 429",
            told["utilisation"] >= 0.95 and told["rate_limited"] == 0,
        ),
        (
            "not told: 429s <= 10% of requests",
            f"{not_told['share_429'] * 100:.1f}% ({not_told['rate_limited']:g} of "
            f"{not_told['requests']:g})",
            not_told["share_429"] <= 0.10,
        ),
        (
            "not told: wall time <= 1.3 x ideal",
            f"{not_told['time_vs_ideal']:.2f} x",
            not_told["time_vs_ideal"] <= 1.3,
        ),
    ]


def _memory_targets(mem: dict[str, Any]) -> list[Target]:
    return [
        (
            "peak RSS, 200k-task export <= 100 MB",
            f"{mem['200k']['peak_rss_mb']:.1f} MB",
            mem["200k"]["peak_rss_mb"] <= 100,
        ),
        (
            "peak RSS 200k <= 1.2 x 50k",
            f"{mem['ratio_200k_50k']:.3f} x",
            mem["ratio_200k_50k"] <= 1.2,
        ),
    ]


def _overhead_targets(oh: dict[str, Any]) -> list[Target]:
    return [
        (
            "per-request CPU overhead <= 40 us (raw with the client's timeouts)",
            f"{oh['overhead_cpu_us']:.0f} us",
            oh["overhead_cpu_us"] <= 40,
        )
    ]


def _export_targets(ex: dict[str, Any]) -> list[Target]:
    return [
        (
            f"CLI export, whole process, {ex['tasks']:,} tasks >= 0.9 x raw-aiohttp script",
            f"{ex['ratio']:.2f}",
            ex["ratio"] >= 0.9,
        ),
        (
            "CLI export and raw script write the same lines",
            "same" if ex["same_output"] else "DIFFERENT",
            bool(ex["same_output"]),
        ),
    ]


def _startup_targets(st: dict[str, Any]) -> list[Target]:
    return [
        (
            '`aiotallyfy --version` <= 1.15 x `python -c "import aiohttp"`',
            f"{st['ratio']:.2f}",
            st["ratio"] <= 1.15,
        )
    ]


def _throughput_sections(r: dict[str, Any]) -> list[str]:
    return [
        f"## 1a. Throughput, no added latency (20 orgs x 2,500 tasks, concurrency "
        f"{r['throughput_0ms']['concurrency']})",
        "",
        *_throughput_table(r["throughput_0ms"]),
        "",
        "SDK and naive loop are sequential, so their rate does not depend on how much they "
        "read: they read a sample of the organizations (see 'tasks measured').",
        "",
        "## 1b. Throughput, 50 ms latency per request",
        "",
        *_throughput_table(r["throughput_50ms"]),
        "",
    ]


def _rate_limit_section(rl: dict[str, Any]) -> list[str]:
    out = [
        f"## 2. Rate-limit utilisation (server enforces {rl['server_limit']}, 429 + "
        "Retry-After + X-RateLimit-* headers)",
        "",
        "| client | requests | 429s | 429 share | wall s | ideal s | wall / ideal | "
        "utilisation | server max in any window |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in (("told", "told the limit"), ("not_told", "not told (defaults)")):
        s = rl[key + "_median"]
        out.append(
            f"| {label} | {s['requests']:g} | {s['rate_limited']:g} | "
            f"{s['share_429'] * 100:.1f}% | {s['elapsed']:.1f} | {s['ideal_s']:.1f} | "
            f"{s['time_vs_ideal']:.2f} | {s['utilisation']:.3f} | {s['max_in_window']:g} |"
        )
    out += [
        "",
        "ideal = successful requests / allowed rate; utilisation = achieved successful "
        "rate / allowed rate.",
        "",
    ]
    return out


def _memory_section(mem: dict[str, Any]) -> list[str]:
    return [
        "## 3. Memory: peak RSS of the exporter process (streaming JSONL export)",
        "",
        "| export | tasks | peak RSS |",
        "|---|---:|---:|",
        f"| 50,000 tasks | {mem['50k']['tasks']:,} | {mem['50k']['peak_rss_mb']:.1f} MB |",
        f"| 200,000 tasks | {mem['200k']['tasks']:,} | {mem['200k']['peak_rss_mb']:.1f} MB |",
        f"| ratio 200k / 50k | | {mem['ratio_200k_50k']:.3f} |",
        "",
    ]


def _overhead_section(oh: dict[str, Any]) -> list[str]:
    return [
        f"## 4. Per-request overhead ({oh['count']:,} x GET /me, concurrency {oh['concurrency']})",
        "",
        "| stack | client CPU us / request | wall us / request |",
        "|---|---:|---:|",
        f"| raw aiohttp, the client's timeouts (60/10/30 s) | {oh['raw_aiohttp']['cpu_us']:.0f} "
        f"| {oh['raw_aiohttp']['wall_us']:.0f} |",
        *(
            [
                f"| raw aiohttp, aiohttp's default timeouts (no read timeout) | "
                f"{oh['raw_aiohttp_bare']['cpu_us']:.0f} | "
                f"{oh['raw_aiohttp_bare']['wall_us']:.0f} |"
            ]
            if "raw_aiohttp_bare" in oh
            else []
        ),
        f"| aiotallyfy (limiter + retry + transport) | {oh['aiotallyfy']['cpu_us']:.0f} | "
        f"{oh['aiotallyfy']['wall_us']:.0f} |",
        f"| **overhead** (vs raw, same timeouts) | **{oh['overhead_cpu_us']:.0f}** | "
        f"**{oh['overhead_wall_us']:.0f}** |",
        *(
            [f"| overhead vs raw with aiohttp's defaults | {oh['overhead_cpu_us_bare']:.0f} | |"]
            if "overhead_cpu_us_bare" in oh
            else []
        ),
        "",
    ]


def _export_section(ex: dict[str, Any]) -> list[str]:
    out = [
        f"## 5. Export as a whole process ({ex['orgs']} orgs x {ex['tasks_per_org']:,} tasks = "
        f"{ex['tasks']:,} tasks, {ex['requests']:,} requests, concurrency {ex['concurrency']}, "
        f"{ex['rounds']} alternated rounds)",
        "",
        f"CLI: `{ex['cli_command']}`; floor: `{ex['raw_command']}` (benchmarks/raw_export.py). "
        "Each is timed from outside, interpreter start-up included; CPU and peak RSS are the "
        "child's own (`wait4`); server CPU is the fake server's CPU time during the run (when it "
        "nears the wall time, the server, not the client, sets the pace).",
        "",
        "| contender | median wall s | tasks/s | x floor | median CPU s | server CPU s "
        "| peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    floor = ex["raw"]["elapsed_s"]
    rows = (
        ("raw", "raw-aiohttp script (the floor)"),
        ("cli", "aiotallyfy CLI"),
        ("raw_fsync", "reference: the floor + `fsync` before exit (the CLI's durability)"),
    )
    for key, label in rows:
        if key not in ex:
            continue
        s = ex[key]
        out.append(
            f"| {label} | {s['elapsed_s']:.2f} | {ex['tasks'] / s['elapsed_s']:,.0f} | "
            f"{floor / s['elapsed_s']:.2f} | {s['cpu_s']:.2f} | "
            f"{s.get('server_cpu_s', float('nan')):.2f} | {s['maxrss_mb']:.0f} |"
        )
    out += [
        "",
        f"Client CPU, floor / CLI: {ex['raw']['cpu_s'] / ex['cli']['cpu_s']:.2f} (steadier than "
        "wall time on a shared machine: other processes' load lands in the wall time). "
        "The CLI renames its file into place only after `fsync` (synced in the background as it "
        "is written); the floor leaves the write-back to the kernel after it has exited: the "
        "reference row is the floor doing the same.",
        "",
        "Bytecode: aiotallyfy's modules are compiled before timing, as `pip install` does (this "
        "machine sets PYTHONDONTWRITEBYTECODE, so an editable install would otherwise compile "
        "them in every run).",
        "",
        f"Output check (lines, bytes, order-free digest): raw {ex['raw']['digest']}, "
        f"CLI {ex['cli']['digest']}.",
        "",
    ]
    for key, label in (("cli", "CLI"), ("raw", "raw-aiohttp script")):
        rows = ex.get("profile_top", {}).get(key)
        if not rows:
            continue
        out += [
            f"{label} export profile (pyinstrument, sampling, one extra untimed run; functions "
            f"by own time; call tree in results/{key}_export_profile.txt):",
            "",
            "| own s | share | function |",
            "|---:|---:|---|",
            *[
                f"| {row['self_s']:.2f} | {row['share'] * 100:.1f}% | `{row['function']}` |"
                for row in rows
            ],
            "",
        ]
    return out


def _startup_section(st: dict[str, Any]) -> list[str]:
    return [
        f"## 6. Start-up ({st['runs']} alternated runs, medians)",
        "",
        "| command | median wall ms |",
        "|---|---:|",
        f'| `python -c "import aiohttp"` | {st["import_aiohttp_s"] * 1000:.0f} |',
        f"| `aiotallyfy --version` | {st['version_s'] * 1000:.0f} |",
        f"| ratio | {st['ratio']:.2f} |",
        "",
    ]


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    v = m["versions"]
    targets: list[Target] = []
    body: list[str] = []
    ratios: dict[str, float] = {}
    if "throughput_0ms" in r and "throughput_50ms" in r:
        ratios = _throughput_ratios(r)
        targets += _throughput_targets(ratios)
        body += _throughput_sections(r)
    if "rate_limit" in r:
        targets += _rate_limit_targets(r["rate_limit"])
        body += _rate_limit_section(r["rate_limit"])
    if "memory" in r:
        targets += _memory_targets(r["memory"])
        body += _memory_section(r["memory"])
    if "overhead" in r:
        targets += _overhead_targets(r["overhead"])
        body += _overhead_section(r["overhead"])
    if "export_process" in r:
        targets += _export_targets(r["export_process"])
        body += _export_section(r["export_process"])
    if "startup" in r:
        targets += _startup_targets(r["startup"])
        body += _startup_section(r["startup"])
    if r["command"].endswith("--quick"):
        targets.append(("--quick < 3 minutes", f"{r['duration_s']:.0f} s", r["duration_s"] < 180))
    out = [
        "# aiotallyfy benchmark results",
        "",
        f"Command: `{r['command']}` (started {r['started']}, took {r['duration_s']:.0f} s)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, aiohttp "
        f"{v['aiohttp']}, orjson {v['orjson']}, httpx {v['httpx']}, tallyfy {v['tallyfy']}, "
        f"requests {v['requests']}, uvloop {v['uvloop']} ({m['platform']})",
        "",
        "The fake server runs in its own process; every contender runs in a fresh worker "
        "process; contenders alternate round by round; figures are medians. This machine is "
        "shared, so read the ratios, not the absolute numbers.",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
        *[f"| {name} | {value} | {_mark(ok)} |" for name, value, ok in targets],
        "",
    ]
    if ratios:
        out += [
            "## Ratios",
            "",
            "| ratio | value |",
            "|---|---:|",
            *[f"| {k} | {val:.2f} |" for k, val in ratios.items()],
            "",
        ]
    return "\n".join(out + body)
