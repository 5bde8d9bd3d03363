"""Peak memory of a large ``aiotallyfy tasks`` export, measured on the exporting process alone.

Two processes, so the server's memory never counts against the exporter:

1. ``python -m aiotallyfy fake-server --orgs 20 --tasks-per-org 10000 --rate-limit off``
   (the fake, no server-side rate limit);
2. ``python -m aiotallyfy --rate 100000/1 -q tasks --all-orgs --org-wide -o OUT``
   (org-wide: every task of every org, so 20 x 10,000 = 200,000 tasks; ``--mine`` would get
   about half).

The exporter's peak resident set size comes from ``os.wait4`` on its pid (``ru_maxrss``, the
kernel's high-water mark for that one child, in KiB on Linux). The script then reads the file
back and checks that it holds every task exactly once.

    python benchmarks/export_memory.py [--orgs 20] [--tasks-per-org 10000] [--limit-mb 150]

Exit status 0 when the export is exact and the peak is under ``--limit-mb``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson


def start_server(orgs: int, tasks_per_org: int) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    server = subprocess.Popen(
        [
            sys.executable, "-m", "aiotallyfy", "fake-server",
            "--orgs", str(orgs), "--tasks-per-org", str(tasks_per_org), "--rate-limit", "off",
        ],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert server.stdout is not None
    settings: dict[str, str] = {}
    while len(settings) < 2:
        line = server.stdout.readline().decode()
        if not line:
            raise SystemExit("the fake server exited before printing its settings")
        name, sep, value = line.strip().partition("=")
        if sep and name.startswith("TALLYFY_"):
            settings[name] = value
    return server, settings


def export(settings: dict[str, str], out: Path) -> tuple[int, float, int]:
    """Run the exporter; return (exit code, wall seconds, peak RSS in KiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYFY_")}
    env.update(settings)
    argv = [
        sys.executable, "-m", "aiotallyfy", "--rate", "100000/1", "-q",
        "tasks", "--all-orgs", "--org-wide", "-o", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4 already
    return child.returncode, elapsed, usage.ru_maxrss


def check(out: Path) -> tuple[int, int]:
    """(tasks, distinct (org, id) pairs) in the export."""
    keys: set[tuple[str, str]] = set()
    lines = 0
    with out.open("rb") as fh:
        for line in fh:
            task = orjson.loads(line)
            keys.add((task["organization_id"], task["id"]))
            lines += 1
    return lines, len(keys)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--tasks-per-org", type=int, default=10_000)
    parser.add_argument("--limit-mb", type=float, default=150.0)
    opts = parser.parse_args()
    expected = opts.orgs * opts.tasks_per_org
    server, settings = start_server(opts.orgs, opts.tasks_per_org)
    try:
        with tempfile.TemporaryDirectory(prefix="aiotallyfy-bench-") as tmp:
            out = Path(tmp) / "tasks.jsonl"
            code, elapsed, peak_kib = export(settings, out)
            size = out.stat().st_size if out.exists() else 0
            lines, distinct = check(out) if out.exists() else (0, 0)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(10)
    peak_mb = peak_kib / 1024
    exact = code == 0 and lines == distinct == expected
    print(
        f"exported {lines:,} tasks ({distinct:,} distinct, {expected:,} expected) from "
        f"{opts.orgs} orgs: exit {code}, {elapsed:.1f} s, {lines / elapsed:,.0f} tasks/s, "
        f"{size / 1e6:.0f} MB file\n"
        f"exporter peak RSS: {peak_mb:.1f} MiB (limit {opts.limit_mb:g}) "
        f"{'OK' if exact and peak_mb < opts.limit_mb else 'FAIL'}"
    )
    return 0 if exact and peak_mb < opts.limit_mb else 1


if __name__ == "__main__":
    raise SystemExit(main())
