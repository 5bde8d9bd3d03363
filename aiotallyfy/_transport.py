"""The wire: one shared ``aiohttp.ClientSession``, the headers Tallyfy requires, and the
mapping of every aiohttp failure to "could the request have been applied?".

This layer sends one attempt and reports what happened. It does not retry, rate-limit or
interpret status codes; ``_http`` does that.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from ._errors import TransportError
from ._retry import FailureKind
from ._secrets import Secret

__all__ = [
    "Consume",
    "RawResponse",
    "Timeouts",
    "Transport",
    "TransportFailure",
    "normalize_base_url",
]

Consume = Callable[[aiohttp.ClientResponse], Awaitable[None]]
"""Reads a 2xx body itself, as a stream (a file download), instead of ``resp.read()``."""

CLIENT_HEADER: Final = "APIClient"
DEFAULT_BASE_URL: Final = "https://go.tallyfy.com/api"
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_MAX_REDIRECTS: Final = 3


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt timeouts, started only once the request holds a connection slot and has
    passed the rate limiter (so queueing never eats them; aiohttp #10313).

    ``total`` bounds one attempt from send to the last body byte; ``connect`` bounds opening a
    new connection; ``read`` bounds the gap between two reads of the response.
    """

    total: float | None = 60.0
    connect: float | None = 10.0
    read: float | None = 30.0

    def client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=self.total, sock_connect=self.connect, sock_read=self.read
        )

    def streaming_timeout(self) -> aiohttp.ClientTimeout:
        """For file transfers: no ``total`` (a 100 MB file may take minutes on a slow link);
        ``connect`` and ``read`` still catch a dead peer (aiohttp starts ``sock_read`` only
        once the request body is written)."""
        return aiohttp.ClientTimeout(total=None, sock_connect=self.connect, sock_read=self.read)


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class TransportFailure(Exception):
    """One attempt got no usable answer; ``kind`` says whether it may have been applied."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    return host.lower() in _LOOPBACK_HOSTS or host.startswith("127.")


def normalize_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Check and canonicalize a base URL (no trailing slash).

    Plain ``http://`` would send the bearer token in clear text; it is refused unless the host
    is loopback (the fake server) or the caller opts in explicitly.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
    if parts.username or parts.password:
        raise ValueError("base_url must not carry credentials")
    if parts.query or parts.fragment:
        raise ValueError("base_url must not have a query or fragment")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ValueError(
            f"refusing plain http:// to {parts.hostname}: the token would travel unencrypted. "
            "Use https://, or pass allow_insecure_http=True if you really mean it."
        )
    return base_url.rstrip("/")


def encode_query(params: Mapping[str, Any] | None) -> str:
    """``a=1&q=x%20y``: spaces as %20, never ``+``, which Tallyfy does not read as a space."""
    if not params:
        return ""
    pieces: list[str] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        pieces.append(f"{quote(str(key), safe='[]')}={quote(text, safe=',:')}")
    return "&".join(pieces)


class Transport:
    """Owns the session. Create it anywhere; the session is made in the running loop on
    first use and bound to that loop."""

    def __init__(
        self,
        *,
        base_url: str,
        max_connections: int,
        timeouts: Timeouts,
        ssl_context: ssl.SSLContext | bool | None = None,
        user_agent: str,
        trust_env: bool = False,
    ) -> None:
        self.base_url = base_url
        self._origin = _origin(base_url)
        self._base_prefix = base_url + "/"
        self._max_connections = max_connections
        self._timeouts = timeouts
        self._client_timeout = timeouts.client_timeout()
        self._streaming_timeout = timeouts.streaming_timeout()
        self._ssl: ssl.SSLContext | bool = True if ssl_context is None else ssl_context
        self._trust_env = trust_env
        self._default_headers = {
            "Accept": "application/json",
            "X-Tallyfy-Client": CLIENT_HEADER,
            "User-Agent": user_agent,
        }
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r}, max_connections={self._max_connections})"

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared session, created on first use inside the running event loop."""
        if self._closed:
            raise RuntimeError("this client is closed")
        loop = asyncio.get_running_loop()
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                ssl=self._ssl,
                enable_cleanup_closed=False,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._default_headers,
                timeout=self._client_timeout,
                auto_decompress=True,
                trust_env=self._trust_env,
                raise_for_status=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            # aiohttp re-sends a PUT/DELETE/GET once, on its own, when the server drops the
            # connection (RFC 9112 "idempotent" methods). Whether a request is re-sent is the
            # retry policy's decision: a delete whose repeat answers 404 must be sent once and
            # end in OutcomeUnknownError. There is no public switch; the attribute is stable
            # since aiohttp 3.9.
            self._session._retry_connection = False
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                "a TallyfyClient is bound to the event loop it was first used in; "
                "create one client per loop"
            )
        return self._session

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The caller's TLS context, if one was given (``None``: default verification)."""
        return self._ssl if isinstance(self._ssl, ssl.SSLContext) else None

    def url_for(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        if not path.startswith("/"):
            path = "/" + path
        query = encode_query(params)
        return f"{self.base_url}{path}?{query}" if query else f"{self.base_url}{path}"

    async def send(
        self,
        method: str,
        url: str,
        *,
        token: Secret | None,
        body: bytes | aiohttp.payload.Payload | None = None,
        extra_headers: Mapping[str, str] | None = None,
        consume: Consume | None = None,
    ) -> RawResponse:
        """Send one attempt and read the whole body, or raise ``TransportFailure``.

        Streaming (file transfers): ``body`` may be an aiohttp ``Payload`` (a multipart
        upload, written in chunks; it sets its own ``Content-Type``), and ``consume`` reads a
        2xx body as a stream instead of ``resp.read()`` (the returned ``body`` is then empty;
        error bodies are still read whole). Either one swaps the per-attempt ``total``
        timeout for ``Timeouts.streaming_timeout()``.
        """
        session = self.session
        headers: dict[str, str] = dict(extra_headers or {})
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
        streaming = consume is not None or not (body is None or isinstance(body, bytes))
        timeout = self._streaming_timeout if streaming else self._client_timeout
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            # Our own URLs start with the base URL; only a redirect target needs parsing.
            same_origin = current.startswith(self._base_prefix) or _origin(current) == self._origin
            if token is not None and same_origin:
                headers["Authorization"] = f"Bearer {token.reveal()}"
            else:
                # Never hand the token to another host, whatever a redirect says.
                headers.pop("Authorization", None)
            try:
                async with session.request(
                    method,
                    URL(current, encoded=True),
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=timeout,
                ) as resp:
                    if consume is not None and 200 <= resp.status < 300:
                        await consume(resp)
                        return RawResponse(resp.status, resp.headers, b"", current)
                    payload = await resp.read()
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        if method not in ("GET", "HEAD"):
                            return RawResponse(resp.status, resp.headers, payload, current)
                        current = str(resp.url.join(URL(resp.headers["Location"])))
                        continue
                    return RawResponse(resp.status, resp.headers, payload, current)
            except aiohttp.ClientConnectorCertificateError as exc:
                # A TLS verification failure is a configuration problem, not a transient one.
                raise TransportError(
                    f"TLS certificate verification failed for {exc.host}", sent=False
                ) from None
            except aiohttp.ClientConnectorError as exc:
                raise TransportFailure(FailureKind.CONNECT, _describe(exc)) from None
            except aiohttp.ConnectionTimeoutError as exc:
                raise TransportFailure(FailureKind.CONNECT, _describe(exc)) from None
            except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
                raise TransportFailure(FailureKind.TIMEOUT, _describe(exc) or "timed out") from None
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
                raise TransportFailure(FailureKind.DISCONNECTED, _describe(exc)) from None
            except aiohttp.ClientOSError as exc:
                raise TransportFailure(FailureKind.DISCONNECTED, _describe(exc)) from None
            except aiohttp.ClientError as exc:
                raise TransportFailure(FailureKind.DISCONNECTED, _describe(exc)) from None
        raise TransportError(f"more than {_MAX_REDIRECTS} redirects", sent=True)

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _describe(exc: BaseException) -> str:
    """A one-line reason. aiohttp's messages name host and port, never headers."""
    name = type(exc).__name__
    text = str(exc).strip()
    return f"{name}: {text}" if text else name
