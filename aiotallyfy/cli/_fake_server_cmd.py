"""``aiotallyfy fake-server``: the bundled fake Tallyfy in the foreground, until Ctrl-C.

It prints the base URL and token as ``NAME=value`` lines (easy to read from a script or paste
into a shell) and stops cleanly, exit 0, on Ctrl-C or SIGTERM. Requests are not recorded, so a
long-running server stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from .._transport import is_loopback
from ._context import Context
from ._errors import EXIT_OK, UsageError

__all__ = ["run_fake_server"]


async def run_fake_server(ctx: Context) -> int:
    from ..testing import FakeData, FakeTallyfy, FaultPlan

    args = ctx.args
    if args.forbidden_orgs > args.orgs:
        raise UsageError("--forbidden-orgs cannot exceed --orgs")
    data = FakeData(
        orgs=args.orgs,
        tasks_per_org=args.tasks_per_org,
        seed=args.seed,
        forbidden_orgs=args.forbidden_orgs,
    )
    limit = args.rate_limit
    fake = FakeTallyfy(
        data=data,
        host=args.host,
        port=args.port,
        rate_limit=(limit.requests, limit.seconds) if limit is not None else None,
        latency=args.latency_ms / 1000,
        faults=FaultPlan(seed=args.seed, html_503=args.fault_rate / 2, reset=args.fault_rate / 2),
        record_requests=False,
    )
    try:
        await fake.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signal support: stop by cancellation
    try:
        if not is_loopback(args.host):
            ctx.error(
                f"warning: listening on {args.host}, not loopback; anyone who can reach it "
                "can use the fake token"
            )
        rate = f"{limit}" if limit is not None else "off"
        ctx.emit(
            (
                f"aiotallyfy fake server: {args.orgs} organizations x {args.tasks_per_org} tasks, "
                f"seed {args.seed}, rate limit {rate}, latency {args.latency_ms:g} ms, "
                f"fault rate {args.fault_rate:g}\n"
                f"TALLYFY_BASE_URL={fake.base_url}\n"
                f"TALLYFY_API_TOKEN={fake.token}\n"
                "Press Ctrl-C to stop.\n"
            ).encode()
        )
        ctx.stdout.flush()
        await stop.wait()
    finally:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await fake.close()
    ctx.info("fake server stopped")
    return EXIT_OK
