"""The standing hostile suite for the transport and request layer (issue 12).

Every test builds one misbehaviour in a loopback server from ``_hostile.py`` and asserts the exact
error type and the exact requests the server saw. Nothing the client did not fully understand may
come back as success: redirects of every code and shape, for reads and for each write method;
bodies that are not what they claim (truncated, oversized, compression bombs, wrong JSON types,
not JSON at all); error bodies that echo a credential; a server-directed wait.
"""

from __future__ import annotations

import asyncio
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from _hostile import (
    hostile_server,
    raw_server,
    self_signed_cert,
    server_context,
)
from aiohttp import web

from aiotallyfy import (
    APIStatusError,
    AuthenticationError,
    ClientCredentialsGrant,
    OutcomeUnknownError,
    PaginationError,
    PermissionDeniedError,
    RateLimitedError,
    RedirectError,
    ResponseTooLargeError,
    TallyfyClient,
    TallyfyError,
    Timeouts,
    TransportError,
)

TOKEN = "PAT-aaaaSECRETaaaa-0001"
CLIENT_SECRET = "CS-bbbbSECRETbbbb-0002"
WRITES = ["POST", "PUT", "PATCH", "DELETE"]
FOLLOWED = {301, 302, 303, 307, 308}  # the codes a GET follows, to the same origin only
RESENT = {307, 308}  # the codes a write is re-sent for (method and body kept, RFC 9110)


def ok(request: web.Request, body: bytes) -> web.Response:
    return web.json_response({"data": {"method": request.method, "body": body.decode()}})


async def ok_handler(request: web.Request) -> web.StreamResponse:
    """What a second origin answers: it must never be asked anything."""
    return ok(request, await request.read())


# ----------------------------------------------------------------------------- redirects
def locations(server: str, other: str) -> dict[str, str | None]:
    """Location shapes, by name: ``/api/r/<name>`` answers with that Location."""
    port = server.rsplit(":", 1)[1]
    return {
        "relative": "../ok",
        "path": "/api/ok",
        "absolute": f"{server}/api/ok",
        "cross-origin": f"{other}/api/ok",
        "scheme-relative": f"//{other.split('//', 1)[1]}/api/ok",
        "host-alias": f"http://localhost:{port}/api/ok",
        "upgrade": f"https://127.0.0.1:{port}/api/ok",
        "outside-base": "/login",
        "missing": None,
        "bad-ipv6": "http://[::1",
        "bad-port": "http://127.0.0.1:99999/api/ok",
        "userinfo": f"http://user:pw-hunter2@127.0.0.1:{port}/api/ok",
        "ftp": "ftp://127.0.0.1/api/ok",
        "loop": "/api/r/loop",
    }


SAME_ORIGIN = {"relative", "path", "absolute"}


def followed(method: str, code: int) -> bool:
    return code in (FOLLOWED if method == "GET" else RESENT)


@pytest.mark.parametrize("code", range(300, 309))
@pytest.mark.parametrize("method", ["GET", *WRITES])
async def test_redirect_of_every_code_and_shape(method: str, code: int) -> None:
    async with hostile_server(ok_handler) as other:
        shapes: dict[str, str | None] = {}

        async def handler(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            if request.path == "/api/ok":
                return ok(request, body)
            location = shapes[request.path.rsplit("/", 1)[1]]
            headers = {} if location is None else {"Location": location}
            return web.Response(status=code, reason="Redirect", headers=headers)

        async with hostile_server(handler) as server:
            shapes.update(locations(server.url, other.url))
            payload = {"title": "x"}
            async with TallyfyClient(TOKEN, base_url=server.base_url) as client:
                for shape in shapes:
                    server.seen.clear()
                    path = f"/r/{shape}"
                    call = client.request(
                        method, path, org_id="o1", json=None if method == "GET" else payload
                    )
                    expect_body = b"" if method == "GET" else orjson.dumps(payload)
                    if followed(method, code) and shape in SAME_ORIGIN:
                        response = await call
                        assert response.status == 200, shape
                        assert response.data["data"]["method"] == method, shape
                        assert [(s.method, s.path) for s in server.seen] == [
                            (method, f"/api/r/{shape}"),
                            (method, "/api/ok"),
                        ], shape
                        assert [s.body for s in server.seen] == [expect_body] * 2, shape
                        hop = server.seen[1].headers
                        assert hop["Authorization"] == f"Bearer {TOKEN}", shape
                        continue
                    with pytest.raises(RedirectError) as info:
                        await call
                    exc = info.value
                    assert isinstance(exc, APIStatusError)
                    assert (exc.status, exc.method, exc.path, exc.attempts, exc.org_id) == (
                        code,
                        method,
                        path,
                        1,
                        "o1",
                    ), shape
                    sends = 4 if followed(method, code) and shape == "loop" else 1
                    assert server.paths() == [f"/api/r/{shape}"] * sends, shape
                    assert "pw-hunter2" not in str(exc), shape
                    assert "pw-hunter2" not in repr(exc.location), shape
            assert other.seen == [], "a redirect reached another origin"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_typed_calls_raise_on_an_unfollowed_redirect(method: str) -> None:
    """The reported case: ``tasks.delete`` returned ``None`` (success) for a 301 it never
    followed; a GET answered 304 returned ``data=None``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return web.Response(status=304)
        return web.Response(status=301, headers={"Location": "/api/moved"})

    async with (
        hostile_server(handler) as server,
        TallyfyClient(TOKEN, base_url=server.base_url) as client,
    ):
        if method == "GET":
            call = client.tasks.get("a" * 32, "b" * 32)
        else:
            call = client.tasks.delete("a" * 32, "b" * 32)
        with pytest.raises(RedirectError) as info:
            await call
    assert info.value.status == (304 if method == "GET" else 301)
    task_path = f"/api/organizations/{'a' * 32}/tasks/{'b' * 32}"
    expected = task_path if method == "GET" else f"{task_path}/delete"
    assert [(s.method, s.path) for s in server.seen] == [(method, expected)]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


async def test_an_https_to_http_downgrade_is_refused(tls_files: tuple[Path, Path]) -> None:
    import ssl

    cert, key = tls_files
    async with hostile_server(ok_handler) as plain:

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=302, headers={"Location": f"{plain.url}/api/ok"})

        trusting = ssl.create_default_context(cafile=str(cert))
        async with (
            hostile_server(handler, ssl_context=server_context(cert, key)) as secure,
            TallyfyClient(TOKEN, base_url=secure.base_url, ssl_context=trusting) as client,
        ):
            with pytest.raises(RedirectError, match="another origin"):
                await client.request("GET", "/me")
        assert secure.paths() == ["/api/me"]
        assert plain.seen == []


# ----------------------------------------------------------------------------- bodies
async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return head


@pytest.mark.virtual_time
@pytest.mark.parametrize(
    ("method", "error", "sends"),
    [("GET", TransportError, 3), ("POST", OutcomeUnknownError, 1)],
)
async def test_json_truncated_with_a_lying_content_length(
    method: str, error: type[TransportError], sends: int
) -> None:
    heads: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await read_request(reader))
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
            b'{"data": {"id": "abc", "tit'
        )
        await writer.drain()
        writer.close()

    async with (
        raw_server(handler) as url,
        TallyfyClient(TOKEN, base_url=f"{url}/api", max_retries=2) as client,
    ):
        with pytest.raises(error) as info:
            await client.request(method, "/me", json=None if method == "GET" else {"a": 1})
    assert type(info.value) is error
    assert info.value.sent is True
    assert [h.split(b" ", 2)[:2] for h in heads] == [[method.encode(), b"/api/me"]] * sends


def _chunks(data: bytes, size: int = 512) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_oversized_body_is_refused_and_not_retried(framing: str, method: str) -> None:
    big = orjson.dumps({"data": {"blob": "x" * 5000}})

    async def handler(request: web.Request) -> web.StreamResponse:
        if framing == "content-length":
            return web.Response(body=big, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for piece in _chunks(big):
            await resp.write(piece)
        await resp.write_eof()
        return resp

    async with (
        hostile_server(handler) as server,
        TallyfyClient(TOKEN, base_url=server.base_url, max_response_bytes=1000) as client,
    ):
        with pytest.raises(ResponseTooLargeError) as info:
            await client.request(method, "/me", json=None if method == "GET" else {})
    exc = info.value
    assert (exc.limit, exc.method, exc.path, exc.attempts) == (1000, method, "/me", 1)
    assert exc.sent is True
    assert server.paths() == ["/api/me"]


def bomb(encoding: str, decoded_size: int) -> bytes:
    """A valid JSON object of ``decoded_size`` bytes, compressed (about 1000:1)."""
    wbits = 31 if encoding == "gzip" else 15
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [packer.compress(b'{"data": "')]
    filler = b"a" * (1 << 20)
    parts += [packer.compress(filler) for _ in range(decoded_size >> 20)]
    parts += [packer.compress(b'"}'), packer.flush()]
    return b"".join(parts)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_is_stopped_while_reading(encoding: str) -> None:
    body = bomb(encoding, 48 << 20)
    assert len(body) < 100_000

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=body, headers={"Content-Type": "application/json", "Content-Encoding": encoding}
        )

    limit = 1 << 20
    async with (
        hostile_server(handler) as server,
        TallyfyClient(TOKEN, base_url=server.base_url, max_response_bytes=limit) as client,
    ):
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError) as info:
                await client.request("GET", "/tasks")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.value.limit == limit
    assert server.paths() == ["/api/tasks"]
    # Stopped near the cap, not after inflating 48 MiB.
    assert peak < 8 * limit, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("payload", [b"[1, 2, 3]", b'"hello"', b"42", b"null"])
async def test_a_top_level_json_type_that_is_not_an_object(payload: bytes) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=payload, content_type="application/json")

    async with (
        hostile_server(handler) as server,
        TallyfyClient(TOKEN, base_url=server.base_url) as client,
    ):
        with pytest.raises(PaginationError, match="expected an object with 'data'") as info:
            await client.me()
    assert server.paths() == ["/api/me"]
    error = info.value
    assert (error.method, error.path, error.org_id, error.attempts) == ("GET", "/me", None, 1)
    assert "applied" not in str(error)


async def test_a_write_answered_2xx_without_data_is_an_error_that_says_it_was_applied() -> None:
    """A 201 whose body is not Tallyfy's ``{"data": ...}`` is not understood: an error, never a
    made-up result; it names the call and says the write happened (no retry: sent once)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b'{"ok": true}', status=201, content_type="application/json")

    org = "3f9c2a6d1e8b4c7fa0b1c2d3e4f5a6b7"
    async with (
        hostile_server(handler) as server,
        TallyfyClient(TOKEN, base_url=server.base_url) as client,
    ):
        with pytest.raises(PaginationError) as info:
            await client.tags.create(org, title="urgent")
    assert server.paths() == [f"/api/organizations/{org}/tags"]  # sent once
    error = info.value
    path = f"/organizations/{org}/tags"
    assert (error.method, error.path, error.org_id, error.attempts) == ("POST", path, org, 1)
    assert str(error) == (
        f"{path}: expected an object with 'data', got dict; the POST was answered 201, so it "
        f"was applied [POST {path}]"
    )


@pytest.mark.virtual_time
@pytest.mark.parametrize(
    ("method", "error", "sends"),
    [("GET", TransportError, 3), ("POST", OutcomeUnknownError, 1)],
)
async def test_a_200_that_is_not_json(method: str, error: type[TransportError], sends: int) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    async with (
        hostile_server(handler) as server,
        TallyfyClient(TOKEN, base_url=server.base_url, max_retries=2) as client,
    ):
        with pytest.raises(error, match="not valid JSON") as info:
            await client.request(method, "/me", json=None if method == "GET" else {})
    assert type(info.value) is error
    assert server.paths(method) == ["/api/me"] * sends


# ----------------------------------------------------------------------------- secrets
def full_text(exc: APIStatusError) -> str:
    return "\n".join(
        [str(exc), repr(exc), repr(vars(exc)), repr(exc.body), repr(exc.errors), exc.message]
    )


async def test_an_error_body_echoing_the_token_is_scrubbed_before_truncation() -> None:
    bodies = [
        {"message": f"token {TOKEN} is not valid", "errors": {"token": [f"got {TOKEN}"]}},
        {"message": "x" * 492 + TOKEN, "code": f"BAD_{TOKEN}"},
        {"error": f"Bearer {TOKEN}", "detail": {"nested": [TOKEN]}},
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(bodies[len(server.seen) - 1], status=401)

    async with (
        hostile_server(handler) as server,
        TallyfyClient(TOKEN, base_url=server.base_url) as client,
    ):
        for _ in bodies:
            with pytest.raises(AuthenticationError) as info:
                await client.request("GET", "/me")
            text = full_text(info.value)
            assert TOKEN not in text
            assert TOKEN[:8] not in text  # no cut-off prefix either
            assert "**********" in str(info.value) or "**********" in repr(info.value.body)
    assert server.paths() == ["/api/me"] * 3


async def test_oauth_secrets_echoed_by_the_api_are_scrubbed() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/api/oauth/token":
            return web.json_response(
                {"token_type": "Bearer", "expires_in": 3600, "access_token": "oauth-access-77"}
            )
        return web.json_response(
            {"message": f"client {CLIENT_SECRET} with oauth-access-77 may not"}, status=403
        )

    async with hostile_server(handler) as server:
        grant = ClientCredentialsGrant(
            client_id="15", client_secret=CLIENT_SECRET, token_url=f"{server.base_url}/oauth/token"
        )
        async with TallyfyClient(grant, base_url=server.base_url) as client:
            with pytest.raises(PermissionDeniedError) as info:
                await client.request("GET", "/me")
    text = full_text(info.value)
    assert CLIENT_SECRET not in text
    assert "oauth-access-77" not in text
    assert server.paths() == ["/api/oauth/token", "/api/me"]


# ----------------------------------------------------------------------------- Retry-After
def answers(*statuses: tuple[int, dict[str, str]]) -> Callable[[web.Request], Any]:
    queue = list(statuses)

    async def handler(request: web.Request) -> web.StreamResponse:
        status, headers = queue.pop(0) if queue else (200, {})
        if status == 200:
            return web.json_response({"data": {"id": 1}})
        return web.json_response({"message": "slow down"}, status=status, headers=headers)

    return handler


@pytest.mark.virtual_time
async def test_a_60s_retry_after_is_waited_out_with_the_default_policy() -> None:
    """M5: Tallyfy's window is a rolling minute, so Retry-After of 45-60 s is normal; the
    README promises waits up to ``retry_after_cap`` (120 s), and the default 45 s budget used
    to fail such a 429 at once."""
    loop = asyncio.get_running_loop()
    async with (
        hostile_server(answers((429, {"Retry-After": "60"}))) as server,
        TallyfyClient(TOKEN, base_url=server.base_url) as client,
    ):
        start = loop.time()
        response = await client.request("GET", "/me")
        waited = loop.time() - start
    assert response.data == {"data": {"id": 1}}
    assert response.attempts == 2
    assert 60.0 <= waited <= 63.0
    assert server.paths() == ["/api/me"] * 2


@pytest.mark.virtual_time
async def test_a_retry_after_beyond_the_cap_still_fails_at_once() -> None:
    async with (
        hostile_server(answers((429, {"Retry-After": "121"}))) as server,
        TallyfyClient(TOKEN, base_url=server.base_url) as client,
    ):
        with pytest.raises(RateLimitedError) as info:
            await client.request("GET", "/me")
    assert info.value.retry_after == 121.0
    assert server.paths() == ["/api/me"]


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("bad", [0, -1, 0.0, float("nan"), float("inf"), True])
def test_a_timeout_that_is_not_a_positive_number_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        TallyfyClient(TOKEN, timeout=bad)
    for field in ("total", "connect", "read"):
        with pytest.raises(ValueError, match=field):
            Timeouts(**{field: bad})


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_max_response_bytes_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_response_bytes"):
        TallyfyClient(TOKEN, max_response_bytes=bad)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_fan_out_concurrency_is_validated_at_the_call(bad: Any) -> None:
    client = TallyfyClient(TOKEN)

    async def items(org_id: str) -> AsyncIterator[str]:
        yield org_id

    with pytest.raises(ValueError, match=r"concurrency must be an int >= 1"):
        client.fan_out(["a"], items, concurrency=bad)
    with pytest.raises(ValueError, match=r"concurrency must be an int >= 1"):
        client.fan_out_stream(["a"], items, concurrency=bad)
    with pytest.raises(ValueError, match=r"max_concurrency must be an int >= 1"):
        TallyfyClient(TOKEN, max_concurrency=bad)


async def test_fan_out_with_no_concurrency_uses_the_client_maximum() -> None:
    client = TallyfyClient(TOKEN, max_concurrency=2)
    running = peak = 0

    async def items(org_id: str) -> AsyncIterator[str]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        yield org_id

    results = [r async for r in client.fan_out(["a", "b", "c", "d"], items)]
    assert sorted(r.items[0] for r in results) == ["a", "b", "c", "d"]
    assert peak == 2


def test_every_redirect_error_is_a_tallyfy_error() -> None:
    assert issubclass(RedirectError, APIStatusError)
    assert issubclass(ResponseTooLargeError, TransportError)
    assert issubclass(ResponseTooLargeError, TallyfyError)


@pytest.mark.parametrize(("extra", "refused"), [(0, False), (1, True)])
async def test_a_declared_body_at_the_cap_is_read_whole_and_one_byte_more_refused(
    extra: int, refused: bool
) -> None:
    # An uncompressed body with a Content-Length within the cap is read in one read (the
    # transport's fast path); the cap is inclusive, and one byte more is refused up front.
    limit = 1000
    prefix, suffix = b'{"data": {"blob": "', b'"}}'
    body = prefix + b"x" * (limit + extra - len(prefix) - len(suffix)) + suffix
    assert len(body) == limit + extra

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    async with (
        hostile_server(handler) as server,
        TallyfyClient(TOKEN, base_url=server.base_url, max_response_bytes=limit) as client,
    ):
        if refused:
            with pytest.raises(ResponseTooLargeError) as info:
                await client.request("GET", "/me")
            assert (info.value.limit, info.value.attempts) == (limit, 1)
        else:
            response = await client.request("GET", "/me")
            assert response.data == orjson.loads(body)
    assert server.paths() == ["/api/me"]
