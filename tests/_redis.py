"""A real ``redis-server`` for the shared-limiter tests (``test_redis_limiter``,
``test_hostile_redis``): started on a free loopback port, never mocked.

Importing this module skips the importing test module, with the reason, when ``redis-server``
is not on PATH or redis-py is not installed; under CI (``CI`` set, as `.ci/run` runs) a
missing ``redis-server`` is an error instead, since `.ci/run` installs it.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("redis", reason="redis-py is not installed (pip install 'aiotallyfy[redis]')")
if shutil.which("redis-server") is None:
    if os.environ.get("CI"):
        # .ci/run installs redis-server: in CI a missing server is a broken install step, not a
        # reason to skip the shared-limiter tests silently.
        raise RuntimeError("CI: redis-server is not on PATH; .ci/run should have installed it")
    pytest.skip(
        "redis-server is not on PATH (apt-get install redis-server)", allow_module_level=True
    )

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiotallyfy.testing import VirtualTimeLoop


# ------------------------------------------------------------------------ redis-server
class RedisProcess:
    """A ``redis-server`` on a fixed free loopback port, without persistence."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(500):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    server = RedisProcess()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A redis-server this test may stop and restart."""
    server = RedisProcess()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class VirtualTimeRedis(aioredis.Redis):
    """A client whose commands take no virtual time.

    ``VirtualTimeLoop`` jumps its clock when no socket is ready within 1 ms. On a loaded
    machine a Redis reply can take longer, and the clock would jump (to the next timer, maybe a
    second away) while the command is in flight, as if Redis had answered a second late. So
    while a command runs, the clock stands still, as it does for executor jobs.
    """

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        loop = asyncio.get_running_loop()
        if not isinstance(loop, VirtualTimeLoop):
            return await super().execute_command(*args, **options)
        loop._vt_freeze_depth += 1  # the loop's own freeze, as for executor jobs
        try:
            return await super().execute_command(*args, **options)
        finally:
            loop._vt_freeze_depth -= 1


def virtual_time_redis(url: str, **kwargs: Any) -> VirtualTimeRedis:
    # No backoff between redis-py's retries: a sleep while time is frozen would never end.
    return VirtualTimeRedis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 1), **kwargs
    )


def max_in_any_window(times: list[float], seconds: float) -> int:
    """The most admissions inside any half-open window [t, t + seconds)."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, start + seconds) - i for i, start in enumerate(ordered)),
        default=0,
    )
