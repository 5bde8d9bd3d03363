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


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    v = m["versions"]
    t0, t50 = r["throughput_0ms"]["contenders"], r["throughput_50ms"]["contenders"]
    rl, mem, oh = r["rate_limit"], r["memory"], r["overhead"]
    lib0 = t0["aiotallyfy"]["tasks_per_s"]
    lib50 = t50["aiotallyfy"]["tasks_per_s"]
    ratios = {
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
    told, not_told = rl["told_median"], rl["not_told_median"]
    targets = [
        (
            "throughput, no latency >= 0.9 x raw aiohttp",
            f"{ratios['0 ms: aiotallyfy / raw aiohttp']:.2f}",
            ratios["0 ms: aiotallyfy / raw aiohttp"] >= 0.9,
        ),
        (
            "throughput, no latency >= 0.9 x raw aiohttp, page by page",
            f"{ratios['0 ms: aiotallyfy pages / raw aiohttp']:.2f}",
            ratios["0 ms: aiotallyfy pages / raw aiohttp"] >= 0.9,
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
        "## Ratios",
        "",
        "| ratio | value |",
        "|---|---:|",
        *[f"| {k} | {val:.2f} |" for k, val in ratios.items()],
        "",
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
        "## 3. Memory: peak RSS of the exporter process (streaming JSONL export)",
        "",
        "| export | tasks | peak RSS |",
        "|---|---:|---:|",
        f"| 50,000 tasks | {mem['50k']['tasks']:,} | {mem['50k']['peak_rss_mb']:.1f} MB |",
        f"| 200,000 tasks | {mem['200k']['tasks']:,} | {mem['200k']['peak_rss_mb']:.1f} MB |",
        f"| ratio 200k / 50k | | {mem['ratio_200k_50k']:.3f} |",
        "",
        f"## 4. Per-request overhead ({oh['count']:,} x GET /me, concurrency {oh['concurrency']})",
        "",
        "| stack | client CPU us / request | wall us / request |",
        "|---|---:|---:|",
        f"| raw aiohttp | {oh['raw_aiohttp']['cpu_us']:.0f} | {oh['raw_aiohttp']['wall_us']:.0f} |",
        f"| aiotallyfy (limiter + retry + transport) | {oh['aiotallyfy']['cpu_us']:.0f} | "
        f"{oh['aiotallyfy']['wall_us']:.0f} |",
        f"| **overhead** | **{oh['overhead_cpu_us']:.0f}** | **{oh['overhead_wall_us']:.0f}** |",
        "",
    ]
    return "\n".join(out)
