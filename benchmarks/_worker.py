"""Run ONE contender in a fresh process and print one JSON line: its counts, wall time
(``perf_counter``), CPU time of this process (``process_time``) and peak RSS
(``ru_maxrss`` of this process, KiB on Linux).

A fresh interpreter per measurement means no contender inherits another's heap, connection
pool or JIT-warm caches, and peak RSS is the exporter's own.

``python benchmarks/_worker.py '{"contender": "aiotallyfy", "base_url": ..., ...}'``
Optional keys: ``"loop": "uvloop"``, ``"profile": "path.txt"`` (pyinstrument text report).
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _contenders import ASYNC, SYNC


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    name = spec["contender"]
    if name in SYNC:
        sync_result: dict[str, Any] = SYNC[name](**spec)
        return sync_result
    coro = ASYNC[name](**spec)
    if spec.get("loop") == "uvloop":
        import uvloop

        result: dict[str, Any] = uvloop.run(coro)
        return result
    outcome: dict[str, Any] = asyncio.run(coro)
    return outcome


def main() -> None:
    spec = orjson.loads(sys.argv[1])
    profiler = None
    if spec.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = _run(spec)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if profiler is not None:
        profiler.stop()
        Path(spec["profile"]).write_text(
            profiler.output_text(unicode=False, color=False, show_all=False)
        )
    result.update(
        elapsed=wall,
        cpu=cpu,
        maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
