"""Processes and numbers: the fake server subprocess, one worker run, medians, machine info."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


@dataclass
class Server:
    """A running ``_server.py``; ``stats()`` asks it for server-side admission counts."""

    proc: subprocess.Popen[str]
    base_url: str
    root_url: str
    token: str
    tasks: int

    def stats(self, window: float) -> dict[str, Any]:
        stdin, stdout = self._pipes()
        stdin.write(f"stats {window}\n")
        stdin.flush()
        result: dict[str, Any] = orjson.loads(stdout.readline())
        return result

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        return self.proc.stdin, self.proc.stdout


@contextmanager
def server(
    *,
    orgs: int,
    tasks_per_org: int,
    latency: float = 0.0,
    rate_limit: str | None = None,
    seed: int = 4,
) -> Iterator[Server]:
    """Start the fake in its own process; stop it (stdin closed, then terminate) on exit."""
    cmd = [
        PYTHON,
        str(HERE / "_server.py"),
        "--orgs",
        str(orgs),
        "--tasks-per-org",
        str(tasks_per_org),
        "--seed",
        str(seed),
        "--latency",
        str(latency),
    ]
    if rate_limit:
        cmd += ["--rate-limit", rate_limit]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        hello = orjson.loads(proc.stdout.readline())
        yield Server(proc, hello["base_url"], hello["root_url"], hello["token"], hello["tasks"])
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=5)


def run_worker(spec: dict[str, Any], *, timeout: float = 900) -> dict[str, Any]:
    """One contender in a fresh process; returns the worker's JSON result."""
    out = subprocess.run(
        [PYTHON, str(HERE / "_worker.py"), orjson.dumps(spec).decode()],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker {spec['contender']} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = orjson.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_cli(srv: Server, concurrency: int) -> dict[str, Any]:
    """``python -m aiotallyfy tasks --all-orgs --mine`` to /dev/null, timed from outside (so
    the figure includes interpreter start-up and imports, which the in-process contenders do
    not pay); ``startup`` is measured separately to show how much that is."""
    env = dict(os.environ, TALLYFY_API_TOKEN=srv.token)
    cmd = [
        PYTHON,
        "-m",
        "aiotallyfy",
        "--base-url",
        srv.base_url,
        "--rate",
        "1000000/1",
        "--concurrency",
        str(concurrency),
        "-q",
        "tasks",
        "--all-orgs",
        "--mine",
    ]
    started = time.perf_counter()
    out = subprocess.run(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"CLI failed ({out.returncode}): {out.stderr[-2000:]}")
    return {"tasks": srv.tasks, "elapsed": elapsed}


def cli_startup() -> float:
    """Seconds for ``python -c 'import aiotallyfy.cli'``: the fixed cost the CLI pays."""
    started = time.perf_counter()
    subprocess.run([PYTHON, "-c", "import aiotallyfy.cli, aiohttp, orjson"], check=True)
    return time.perf_counter() - started


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import aiohttp

    versions: dict[str, str] = {"aiohttp": aiohttp.__version__}
    for name in ("orjson", "httpx", "tallyfy", "requests", "uvloop", "aiolimiter"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


# --------------------------------------------------------------- whole processes (issue 11)
BIN = Path(PYTHON).parent


@dataclass
class ProcessRun:
    """One child process: wall time from outside, its CPU time and peak RSS from ``wait4``."""

    elapsed: float
    cpu: float
    maxrss_kb: int
    returncode: int
    stderr: str


def run_process(
    cmd: Sequence[str], *, env: dict[str, str] | None = None, stdout: int | None = None
) -> ProcessRun:
    """Run ``cmd`` to completion; the child's own rusage comes from ``os.wait4`` on its pid,
    so neither this process nor the server counts against it."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL if stdout is None else stdout,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    return ProcessRun(
        elapsed=elapsed,
        cpu=usage.ru_utime + usage.ru_stime,
        maxrss_kb=usage.ru_maxrss,
        returncode=proc.returncode,
        stderr=err,
    )


def cli_export_cmd(srv: Server, out: Path, concurrency: int) -> list[str]:
    """The issue's command, plus ``--rate 1000000/1``: the benchmark's server enforces no
    limit, and the floor paces nothing, so the CLI is told the same (its limiter still runs)."""
    return [
        str(BIN / "aiotallyfy"),
        "--base-url", srv.base_url,
        "--rate", "1000000/1",
        "--concurrency", str(concurrency),
        "-q",
        "tasks", "--all-orgs", "--mine", "--status", "all",
        "-o", str(out),
    ]  # fmt: skip


def raw_export_cmd(srv: Server, out: Path, concurrency: int, *, fsync: bool = False) -> list[str]:
    return [
        PYTHON, str(HERE / "raw_export.py"), srv.base_url, str(out),
        "--concurrency", str(concurrency), *(["--fsync"] if fsync else []),
    ]  # fmt: skip


def token_env(srv: Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYFY_")}
    env["TALLYFY_API_TOKEN"] = srv.token
    return env


def jsonl_digest(path: Path) -> dict[str, int]:
    """Order-independent fingerprint of a JSONL file: line count, bytes, and the sum of each
    line's BLAKE2 digest (mod 2**64). Two exports of the same tasks in any order match."""
    import hashlib

    lines = total = 0
    acc = 0
    with path.open("rb") as f:
        for line in f:
            lines += 1
            total += len(line)
            digest = hashlib.blake2b(line, digest_size=8).digest()
            acc = (acc + int.from_bytes(digest, "little")) & 0xFFFFFFFFFFFFFFFF
    return {"lines": lines, "bytes": total, "sum": acc}


def startup_pair() -> tuple[float, float]:
    """Wall seconds of ``aiotallyfy --version`` and of ``python -c "import aiohttp"``, run
    back to back (the console script, as a user types it)."""
    cli = run_process([str(BIN / "aiotallyfy"), "--version"])
    raw = run_process([PYTHON, "-c", "import aiohttp"])
    if cli.returncode or raw.returncode:
        raise RuntimeError(f"start-up probe failed: {cli.stderr or raw.stderr}")
    return cli.elapsed, raw.elapsed
