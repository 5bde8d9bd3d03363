"""Admission overhead per request: ``RedisRateLimiter`` vs ``LocalRateLimiter``, side by side.

Run::

    python benchmarks/limiter_overhead.py                  # starts its own redis-server
    python benchmarks/limiter_overhead.py --redis-url redis://127.0.0.1:6379/0

One admission is what the client does per attempt: ``acquire`` then ``commit``. The limits
are set so high that nothing ever waits, so the time measured is pure overhead: for the local
limiter, Python bookkeeping; for Redis, one pacing script per scope plus one admission script
(round trips to Redis on loopback, and the Lua run).

Rounds alternate local and Redis so that a noisy machine slows both alike; the figures are
medians over the rounds, and the ratio is what to read. Two shapes:

- ``sequential``: one admission at a time (the latency one request pays);
- ``concurrent``: ``--concurrency`` tasks admitting at once (wall time / admissions, what a
  busy process pays per request when Redis calls overlap).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import redis.asyncio as aioredis

from aiotallyfy import LimitScope, LocalRateLimiter, RateLimit, RateLimiter, RedisRateLimiter

# So high that no admission ever waits: only the overhead is left to measure.
UNLIMITED = [RateLimit(10**9, 1.0)]
TOKEN = LimitScope.token_key_for("benchmark-token")


async def sequential(limiter: RateLimiter, scope: LimitScope, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        admission = await limiter.acquire(scope)
        await limiter.commit(admission)
    return (time.perf_counter() - started) / n * 1e6


async def concurrent(limiter: RateLimiter, scope: LimitScope, n: int, tasks: int) -> float:
    async def worker(count: int) -> None:
        for _ in range(count):
            admission = await limiter.acquire(scope)
            await limiter.commit(admission)

    per_task = n // tasks
    started = time.perf_counter()
    await asyncio.gather(*(worker(per_task) for _ in range(tasks)))
    return (time.perf_counter() - started) / (per_task * tasks) * 1e6


async def ping_us(url: str, n: int) -> float:
    client = aioredis.Redis.from_url(url)
    try:
        await client.ping()
        started = time.perf_counter()
        for _ in range(n):
            await client.ping()
        return (time.perf_counter() - started) / n * 1e6
    finally:
        await client.aclose()


async def run(args: argparse.Namespace, url: str) -> None:
    prefix = f"overhead-{uuid.uuid4().hex[:8]}"
    local = LocalRateLimiter(UNLIMITED, UNLIMITED)
    shared = RedisRateLimiter.from_url(url, UNLIMITED, UNLIMITED, key_prefix=prefix)
    limiters: dict[str, RateLimiter] = {"local": local, "redis": shared}
    scopes = {"token": LimitScope(TOKEN), "token+org": LimitScope(TOKEN, "org-1")}
    results: dict[tuple[str, str, str], list[float]] = {}
    try:
        for scope in scopes.values():  # warm up: connections, script cache, key creation
            for limiter in limiters.values():
                await sequential(limiter, scope, 200)
        for _ in range(args.rounds):
            for scope_name, scope in scopes.items():
                for name, limiter in limiters.items():
                    seq = await sequential(limiter, scope, args.n)
                    con = await concurrent(limiter, scope, args.n, args.concurrency)
                    results.setdefault((scope_name, "sequential", name), []).append(seq)
                    results.setdefault((scope_name, "concurrent", name), []).append(con)
        ping = await ping_us(url, args.n)
        assert shared.snapshot()["mode"] == "redis"
    finally:
        await shared.aclose()
        await local.aclose()

    print(
        f"admission overhead (acquire + commit), median of {args.rounds} alternating rounds "
        f"of {args.n}; concurrency {args.concurrency}; Redis PING round trip {ping:.0f} us"
    )
    print(f"{'scope':<10} {'shape':<11} {'local us':>9} {'redis us':>9} {'ratio':>7}")
    for scope_name in scopes:
        for shape in ("sequential", "concurrent"):
            local_us = statistics.median(results[(scope_name, shape, "local")])
            redis_us = statistics.median(results[(scope_name, shape, "redis")])
            print(
                f"{scope_name:<10} {shape:<11} {local_us:>9.1f} {redis_us:>9.1f} "
                f"{redis_us / local_us:>6.1f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--n", type=int, default=1000, help="admissions per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.redis_url:
        asyncio.run(run(args, args.redis_url))
        return
    from redis_multiprocess import RedisServer  # benchmarks/ is on sys.path when run

    with RedisServer() as server:
        asyncio.run(run(args, server.url))


if __name__ == "__main__":
    main()
