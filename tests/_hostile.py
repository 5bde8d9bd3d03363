"""Small hostile servers for the reliability suite: loopback only, one handler each, every
request recorded.

FakeTallyfy answers as Tallyfy does; these answer as Tallyfy must never be trusted to: redirects
of every shape, pages that lie about their totals, bodies that are not what they claim, raw
bytes written across TCP segments. A test builds the misbehaviour it names in a plain aiohttp
handler (or, below HTTP, a raw ``asyncio`` protocol) and asserts what the client made of it.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

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
async def hostile_server(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[HostileServer]:
    """Serve ``handler`` for every method and path on 127.0.0.1, recording each request
    (over TLS when ``ssl_context`` is given; see ``self_signed_cert``)."""
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
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        host, port = runner.addresses[0][:2]
        server.url = f"{'https' if ssl_context else 'http'}://{host}:{port}"
        yield server
    finally:
        await runner.cleanup()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 in ``folder`` (needs the openssl
    CLI; the calling test is skipped without it). Returns ``(cert, key)``."""
    import pytest

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not available")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The server side of ``self_signed_cert``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


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
