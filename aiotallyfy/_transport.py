"""The wire: the ``Transport`` interface ``HTTPCore`` sends through, and its aiohttp
implementation (one shared ``aiohttp.ClientSession``, the headers Tallyfy requires, and the
mapping of every aiohttp failure to "could the request have been applied?").

A transport sends one attempt and reports what happened: a ``RawResponse`` (any status,
including a 3xx it did not follow, marked ``refused``), or a ``TransportFailure`` whose
``FailureKind`` says whether the request can have been applied. It raises nothing else for
anything the network or the server does. It does not retry, rate-limit or interpret status
codes; ``_http`` does that, for API calls and OAuth token requests alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._checks import positive_int, positive_seconds
from ._retry import FailureKind
from ._secrets import Secret

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AiohttpTransport",
    "Body",
    "Consume",
    "RawResponse",
    "RedirectRefused",
    "Timeouts",
    "Transport",
    "TransportFailure",
    "build_url",
    "check_url",
    "disable_hidden_resend",
    "is_loopback",
    "normalize_base_url",
    "resolve_redirect",
]

Consume = Callable[[aiohttp.ClientResponse], Awaitable[None]]
"""Reads a 2xx body itself, as a stream (a file download), instead of ``resp.read()``."""

Body = bytes | aiohttp.payload.Payload | None
"""JSON bytes (sent as ``application/json`` unless ``extra_headers`` say otherwise), a
streamed aiohttp ``Payload`` (a multipart upload), or nothing."""

CLIENT_HEADER: Final = "APIClient"
DEFAULT_BASE_URL: Final = "https://go.tallyfy.com/api"
_MAX_REDIRECTS: Final = 3
_BEARER_CACHE_LIMIT: Final = 64  # tokens whose headers are kept (one per org with OAuth)
# The largest decoded body accepted (M2). Tallyfy's biggest JSON answers are list pages of at
# most 100 items (a task with its form fields is a few KB, rarely 100 KB): ~10 MB at the very
# worst. 64 MiB leaves six times that for an unforeseen route, yet bounds what a compression
# bomb or a misbehaving proxy can make one request hold (x ``max_concurrency`` in flight).
DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
# Redirects HTTP says repeat the request unchanged (RFC 9110 15.4): any of these for a read,
# only 307/308 for a write (a 301/302 may turn a POST into a GET; a 303 answers a write that
# was applied with where its result is).
_READ_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_WRITE_REDIRECTS: Final = frozenset({307, 308})
_READ_METHODS: Final = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt timeouts, started only once the request holds a connection slot and has
    passed the rate limiter (so queueing never eats them; aiohttp #10313).

    ``total`` bounds one attempt from send to the last body byte; ``connect`` bounds opening a
    new connection; ``read`` bounds the gap between two reads of the response. Each is a
    finite number of seconds > 0, or ``None`` for no limit; ``0`` is refused, because aiohttp
    would read it as "no limit".
    """

    total: float | None = 60.0
    connect: float | None = 10.0
    read: float | None = 30.0

    def __post_init__(self) -> None:
        for name in ("total", "connect", "read"):
            positive_seconds(f"timeout {name}", getattr(self, name), allow_none=True)

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
    """One answer. For a 3xx that was not followed, ``refused`` says why and ``location`` is
    its target (no userinfo, no query), when it could be read."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str
    refused: str | None = None
    location: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class TransportFailure(Exception):
    """One attempt got no usable answer; ``kind`` says whether it may have been applied.
    ``limit`` is the byte cap that was passed, for ``FailureKind.TOO_LARGE``."""

    def __init__(self, kind: FailureKind, detail: str, *, limit: int | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.limit = limit


class Transport(Protocol):
    """What ``HTTPCore`` needs from the wire; ``AiohttpTransport`` is the one shipped, and a
    test can stand in a few lines (``tests/test_http_core.py``).

    ``send`` makes one attempt and returns whatever status came back, or raises
    ``TransportFailure`` and nothing else for what the network or the server did. A 3xx
    comes back only when it was not followed, with ``refused`` saying why; with
    ``follow_redirects=False`` none is followed (a request whose body carries credentials,
    such as an OAuth token request). ``total_timeout`` replaces the per-attempt total, in seconds.
    """

    base_url: str

    async def send(
        self,
        method: str,
        url: str,
        *,
        token: Secret | None,
        body: Body = None,
        extra_headers: Mapping[str, str] | None = None,
        consume: Consume | None = None,
        follow_redirects: bool = True,
        total_timeout: float | None = None,
    ) -> RawResponse: ...

    async def aclose(self) -> None: ...


class RedirectRefused(Exception):
    """A redirect that is not followed; ``reason`` is the sentence for the error."""

    def __init__(self, reason: str, location: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.location = location


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``, bracketed or not).

    Parsed, never prefix-matched: ``127.evil.example`` is a DNS name that resolves anywhere.
    """
    if not host:
        return False
    text = host.lower()
    if text == "localhost":
        return True
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _unprintable(text: str) -> bool:
    return not text.isascii() or any(c.isspace() or not c.isprintable() for c in text)


def check_url(
    url: str,
    *,
    name: str,
    allow_insecure_http: bool,
    carries: str = "the token",
    label: str = "",
) -> SplitResult:
    """Refuse a configured URL that would leak what it ``carries``: userinfo, a scheme other
    than http(s), plain ``http://`` to a host that is not loopback (unless opted in), a query
    or fragment, whitespace or control characters. The base URL and the OAuth token URL share
    this check.

    Messages never echo the URL: it may hold a credential (``user:token@``), and the
    credentials check runs first so that no later message can show one.
    """
    if not isinstance(url, str):
        raise ValueError(f"{name} must be a str")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check (range, digits)
    except ValueError:
        raise ValueError(f"{name} is not a valid URL") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError(f"{name} must not carry credentials")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        got = f" (got scheme {parts.scheme[:20]!r})" if parts.scheme else ""
        raise ValueError(f"{name} must be an http(s) URL with a host{got}")
    if _unprintable(url):
        raise ValueError(f"{name} must not contain whitespace or control characters")
    if "?" in url or "#" in url:
        raise ValueError(f"{name} must not have a query or fragment")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ValueError(
            f"refusing plain http:// {label}to {parts.hostname}: {carries} would travel "
            "unencrypted. Use https://, or pass allow_insecure_http=True if you really mean it."
        )
    return parts


def normalize_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Check and canonicalize a base URL (no trailing slash).

    Plain ``http://`` would send the bearer token in clear text; it is refused unless the host
    is loopback (the fake server) or the caller opts in explicitly.
    """
    check_url(base_url, name="base_url", allow_insecure_http=allow_insecure_http)
    return base_url.rstrip("/")


def resolve_redirect(current: str, location: str | None, *, base_url: str) -> str:
    """The URL a redirect from ``current`` to ``location`` leads to, if it may be followed.

    Only within the base URL: the same origin (scheme, host, port) and under its path. The
    token goes only to that origin, and an answer from anywhere else (another host, an
    https→http downgrade, the web app's login page) is not API data, so it is never read as
    such (M2). Anything else raises ``RedirectRefused``, never a bare ``ValueError`` (L6).
    """
    if location is None or not location.strip():
        raise RedirectRefused("the redirect has no Location")
    location = location.strip()
    if _unprintable(location):
        raise RedirectRefused("the redirect's Location is not a valid URL")
    try:
        parts = urlsplit(urljoin(current, location))
        parts.port  # noqa: B018 - parsing the port is the check (range, digits)
    except ValueError:
        raise RedirectRefused("the redirect's Location is not a valid URL") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RedirectRefused("the redirect's Location carries credentials")
    shown = _redact(parts)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RedirectRefused("the redirect's Location is not an http(s) URL", shown)
    base = urlsplit(base_url)
    if _origin_of(parts) != _origin_of(base):
        raise RedirectRefused(
            f"redirect to another origin ({shown}) refused: its answer would not be API data "
            f"from {base.scheme}://{base.netloc}, and the token never goes there",
            shown,
        )
    base_path = base.path.rstrip("/")
    inside = parts.path == base_path or parts.path.startswith(base_path + "/")
    if not inside or any(unquote(seg) in (".", "..") for seg in parts.path.split("/")):
        raise RedirectRefused(f"redirect outside the API root {base_path or '/'} refused", shown)
    query = f"?{parts.query}" if parts.query else ""
    return f"{base.scheme}://{base.netloc}{parts.path}{query}"


def _redact(parts: SplitResult) -> str:
    """A URL fit for an error message: no userinfo, no query or fragment, 200 chars at most."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    text = f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else parts.path
    return text[:200]


_PIECE_CACHE_LIMIT = 4096
_pieces: dict[tuple[str, str | int], str] = {}
"""``key=value`` encoded, by key and value, for plain ``str`` and ``int`` values: a list walk
asks for the same ``status=all&per_page=100`` on every page (``quote`` is ~1.5 us a call)."""


def _encode_piece(key: Any, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value)
    else:
        text = str(value)
    return f"{quote(str(key), safe='[]')}={quote(text, safe=',:')}"


def encode_query(params: Mapping[str, Any] | None) -> str:
    """``a=1&q=x%20y``: spaces as %20, never ``+``, which Tallyfy does not read as a space."""
    if not params:
        return ""
    pieces: list[str] = []
    for key, value in params.items():
        if value is None:
            continue
        kind = type(value)
        if (kind is str or kind is int) and type(key) is str:  # not bool: True == 1
            piece = _pieces.get((key, value))
            if piece is None:
                if len(_pieces) >= _PIECE_CACHE_LIMIT:
                    _pieces.clear()  # search terms and ids must not accumulate forever
                piece = _pieces[(key, value)] = _encode_piece(key, value)
        else:
            piece = _encode_piece(key, value)
        pieces.append(piece)
    return "&".join(pieces)


def build_url(base_url: str, path: str, params: Mapping[str, Any] | None = None) -> str:
    """``base_url`` + ``path`` (a leading ``/`` added if missing) + the encoded query."""
    if not path.startswith("/"):
        path = "/" + path
    query = encode_query(params)
    return f"{base_url}{path}?{query}" if query else f"{base_url}{path}"


def disable_hidden_resend(session: aiohttp.ClientSession) -> None:
    """Turn off aiohttp's own re-send of a GET/PUT/DELETE whose connection dropped.

    aiohttp re-sends those once, on its own, when the server drops the connection (RFC 9112
    "idempotent" methods). Whether a request is re-sent is the retry policy's decision: a
    delete whose repeat answers 404 must be sent once and end in ``OutcomeUnknownError``.
    There is no public switch; the private attribute has been stable since aiohttp 3.9. If
    aiohttp renames it, setting the old name would only warn and change nothing, so a
    missing attribute stops the client instead of letting hidden re-sends back in.
    """
    if not hasattr(session, "_retry_connection"):
        raise RuntimeError(
            "aiohttp.ClientSession has no _retry_connection attribute any more: aiotallyfy "
            "cannot turn off aiohttp's hidden re-send of dropped requests with this aiohttp "
            f"version ({aiohttp.__version__}); please report it"
        )
    session._retry_connection = False


class AiohttpTransport:
    """The ``Transport`` over aiohttp. Owns the session. Create it anywhere; the session is
    made in the running loop on first use and bound to that loop."""

    def __init__(
        self,
        *,
        base_url: str,
        max_connections: int,
        timeouts: Timeouts,
        ssl_context: ssl.SSLContext | bool | None = None,
        user_agent: str,
        trust_env: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = base_url
        self._max_connections = max_connections
        self.max_response_bytes = positive_int("max_response_bytes", max_response_bytes)
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
        self._bearer: dict[str, CIMultiDictProxy[str]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"AiohttpTransport(base_url={self.base_url!r}, max_connections={self._max_connections})"
        )

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
                auto_decompress=True,  # decoded as it streams in; ``_read_body`` caps it
                trust_env=self._trust_env,
                raise_for_status=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            disable_hidden_resend(self._session)
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

    async def send(
        self,
        method: str,
        url: str,
        *,
        token: Secret | None,
        body: Body = None,
        extra_headers: Mapping[str, str] | None = None,
        consume: Consume | None = None,
        follow_redirects: bool = True,
        total_timeout: float | None = None,
    ) -> RawResponse:
        """Send one attempt, following the redirects that may be followed, and read the whole
        body (at most ``max_response_bytes`` decoded); or raise ``TransportFailure``.
        ``follow_redirects=False`` follows none (a request whose body holds credentials).

        A 3xx comes back only when it was not followed, with ``refused`` saying why; the
        caller must treat it as an error, never as the answer.

        Streaming (file transfers): ``body`` may be an aiohttp ``Payload`` (a multipart
        upload, written in chunks; it sets its own ``Content-Type``), and ``consume`` reads a
        2xx body as a stream instead of reading it whole (the returned ``body`` is then empty,
        and ``max_response_bytes`` does not apply: the consumer bounds what it keeps; error
        bodies are still read whole, capped). Either one swaps the per-attempt ``total``
        timeout for ``Timeouts.streaming_timeout()``.
        """
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop():
            session = self.session  # made now, or refused (closed, another loop)
        headers: Mapping[str, str]
        # Every URL sent below is ours or passed ``resolve_redirect``: the base origin only.
        if body is None and not extra_headers and token is not None:
            text = token.reveal()  # a read, the common case: its headers are made once
            headers = self._bearer.get(text) or self._bearer_headers(text)
        else:
            built: dict[str, str] = {}
            if isinstance(body, bytes):
                built["Content-Type"] = "application/json"
            if extra_headers:
                built.update(extra_headers)
            if token is not None:
                built["Authorization"] = f"Bearer {token.reveal()}"
            headers = built
        streaming = consume is not None or not (body is None or isinstance(body, bytes))
        attempt_timeout = self._streaming_timeout if streaming else self._client_timeout
        if total_timeout is not None:
            attempt_timeout = aiohttp.ClientTimeout(
                total=total_timeout,
                sock_connect=attempt_timeout.sock_connect,
                sock_read=attempt_timeout.sock_read,
            )
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            # One exchange, written inline rather than as a helper coroutine: a coroutine
            # layer per attempt is measurable at thousands of requests a second.
            try:
                async with session.request(
                    method,
                    URL(current, encoded=True),
                    data=body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=attempt_timeout,
                ) as resp:
                    status = resp.status
                    if consume is not None and 200 <= status < 300:
                        await consume(resp)
                        payload = b""
                    elif (
                        (declared := resp.content_length) is not None
                        and declared <= self.max_response_bytes
                        and "Content-Encoding" not in resp.headers
                    ):
                        # Not compressed, with a length within the cap: aiohttp's parser
                        # reads exactly ``declared`` bytes and no more, so one read is as
                        # bounded as ``_read_body``'s counted loop (the common case).
                        payload = await resp.content.read()
                    else:
                        payload = await self._read_body(resp)
                    raw = RawResponse(status, resp.headers, payload, current)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _failure(exc) from None
            if not 300 <= raw.status < 400:
                return raw
            if not follow_redirects:
                return dataclasses.replace(
                    raw,
                    refused="redirect not followed: this request's body is not sent again (it "
                    "holds credentials, or is a stream that can be read once)",
                )
            try:
                current = self._next_hop(method, raw)
            except RedirectRefused as refused:
                return dataclasses.replace(raw, refused=refused.reason, location=refused.location)
        return dataclasses.replace(
            raw, refused=f"more than {_MAX_REDIRECTS} redirects (a loop?)", location=None
        )

    def _bearer_headers(self, token: str) -> CIMultiDictProxy[str]:
        """The headers of a request with no body, for ``token``'s first use: read-only (aiohttp
        copies them into each request's own), so one object serves every request in flight,
        and a ``CIMultiDictProxy`` is merged with the session's defaults without a copy."""
        if len(self._bearer) >= _BEARER_CACHE_LIMIT:
            self._bearer.clear()  # renewed tokens must not accumulate forever
        headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {token}"}))
        self._bearer[token] = headers
        return headers

    def _next_hop(self, method: str, raw: RawResponse) -> str:
        """Where a 3xx leads, or ``RedirectRefused``. A write answered 307/308 is re-sent, body
        and all: those codes mean the server did not apply it and wants it repeated there
        (RFC 9110 15.4.8-9), and the target is checked to be our own API, so the careful
        choice is to do what the server asked rather than fail a write that is safe to send.
        """
        status = raw.status
        if method in _READ_METHODS:
            if status not in _READ_REDIRECTS:
                why = {
                    300: "300 Multiple Choices: the server picked no answer",
                    304: "304 Not Modified, though the request was not conditional",
                }.get(status, f"HTTP {status} is not a redirect that can be followed")
                raise RedirectRefused(why)
        elif status == 303:
            raise RedirectRefused(
                f"303 See Other after {method}: this usually means the write WAS applied and "
                "its result is elsewhere; not followed. Check the resource before trying again"
            )
        elif status in (301, 302):
            raise RedirectRefused(
                f"{status} after {method}: not re-sent (a {status} may turn a write into a "
                "GET) and probably not applied. Check the resource, and base_url"
            )
        elif status not in _WRITE_REDIRECTS:
            raise RedirectRefused(f"HTTP {status} is not a redirect that can be followed")
        return resolve_redirect(raw.url, raw.header("Location"), base_url=self.base_url)

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        """The decoded body, counted as it streams in: aiohttp inflates a compressed body a
        bounded piece at a time, so stopping past the cap means a bomb is never inflated in
        full. The connection is closed, not reused, when reading stops early. (``send``
        reads an uncompressed body whose Content-Length is within the cap in one read.)"""
        limit = self.max_response_bytes
        declared = resp.content_length
        if declared is not None and declared > limit and "Content-Encoding" not in resp.headers:
            resp.close()
            raise TransportFailure(
                FailureKind.TOO_LARGE,
                f"HTTP {resp.status} declared a {declared}-byte body, over max_response_bytes "
                f"({limit})",
                limit=limit,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                resp.close()
                raise TransportFailure(
                    FailureKind.TOO_LARGE,
                    f"HTTP {resp.status} body passed max_response_bytes ({limit}) while being "
                    "read; reading stopped",
                    limit=limit,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _origin_of(parts: SplitResult) -> tuple[str, str, int]:
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _failure(exc: aiohttp.ClientError | TimeoutError) -> TransportFailure:
    """What an aiohttp failure means for "could the request have been applied?"."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        # A TLS verification failure is a configuration problem, not a transient one.
        return TransportFailure(
            FailureKind.TLS, f"TLS certificate verification failed for {exc.host}"
        )
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return TransportFailure(FailureKind.CONNECT, _describe(exc))
    if isinstance(exc, (aiohttp.ServerTimeoutError, TimeoutError)):
        return TransportFailure(FailureKind.TIMEOUT, _describe(exc) or "timed out")
    # ClientPayloadError, ServerDisconnectedError, ClientOSError and any other ClientError:
    # the request may have been written.
    return TransportFailure(FailureKind.DISCONNECTED, _describe(exc))


def _describe(exc: BaseException) -> str:
    """A one-line reason. aiohttp's messages name host and port, never headers."""
    name = type(exc).__name__
    text = str(exc).strip()
    return f"{name}: {text}" if text else name
