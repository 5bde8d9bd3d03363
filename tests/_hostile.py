"""Small hostile servers for the reliability suite: loopback only, one handler each, every
request recorded.

FakeTallyfy answers as Tallyfy does; these answer as Tallyfy must never be trusted to: redirects
of every shape, pages that lie about their totals, bodies that are not what they claim, raw
bytes written across TCP segments. A test builds the misbehaviour it names in a plain aiohttp
handler (or, below HTTP, a raw ``asyncio`` protocol) and asserts what the client made of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request as the hostile server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class HostileServer:
    """A running hostile server: ``base_url`` ends in ``/api`` like Tallyfy's."""

    url: str
    seen: list[Seen] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{self.url}/api"

    def paths(self, method: str | None = None) -> list[str]:
        """The paths received, in order (only ``method``'s when given)."""
        return [s.path for s in self.seen if method is None or s.method == method]


@asynccontextmanager
async def hostile_server(handler: Handler) -> AsyncIterator[HostileServer]:
    """Serve ``handler`` for every method and path on 127.0.0.1, recording each request."""
    server = HostileServer(url="")

    async def record_then_handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        server.seen.append(
            Seen(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record_then_handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        server.url = f"http://{host}:{port}"
        yield server
    finally:
        await runner.cleanup()


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[str]:
    """A TCP server below HTTP (split writes, resets, lies in framing); yields ``http://host:port``."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        host, port = server.sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.close()
        await server.wait_closed()
