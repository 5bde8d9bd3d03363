"""The OAuth token exchange goes through the client's transport and its send → classify
path (issue 11, item 3): the token endpoint's answers are bounded, classified, counted in
``ClientStats`` and logged like every other request, and its failures carry method, path and
attempts. Every endpoint is a plain aiohttp handler on 127.0.0.1 (``tests/_hostile.py``)."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from _hostile import hostile_server, self_signed_cert, server_context
from aiohttp import web

from aiotallyfy import (
    ClientCredentialsGrant,
    RedirectError,
    ResponseTooLargeError,
    TallyfyClient,
    TransportError,
)

pytestmark = pytest.mark.virtual_time

CLIENT_ID = "15"
CLIENT_SECRET = "CS-ddddSECRETdddd-0003"


def grant_for(token_url: str, **kwargs: object) -> ClientCredentialsGrant:
    return ClientCredentialsGrant(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_url=token_url,
        **kwargs,  # type: ignore[arg-type]
    )


async def token_then_me(request: web.Request) -> web.StreamResponse:
    if request.path == "/oauth/token":
        return web.json_response(
            {"token_type": "Bearer", "access_token": "AT-0001", "expires_in": 3600}
        )
    return web.json_response({"data": {"id": 1}})


async def test_token_requests_are_counted_in_client_stats() -> None:
    async with hostile_server(token_then_me) as server:
        grant = grant_for(f"{server.url}/oauth/token")
        async with TallyfyClient(grant, base_url=server.base_url) as client:
            await client.me()
            stats = client.stats
    assert server.paths() == ["/oauth/token", "/api/me"]
    assert stats.requests == 2  # the token request and GET /me
    assert stats.by_status == {200: 2}


async def test_token_requests_are_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aiotallyfy")
    async with hostile_server(token_then_me) as server:
        grant = grant_for(f"{server.url}/oauth/token")
        async with TallyfyClient(grant, base_url=server.base_url) as client:
            await client.me()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("aiotallyfy")]
    assert any(line.startswith("POST /oauth/token -> 200") for line in lines), lines
    assert any(line.startswith("GET /me -> 200") for line in lines), lines
    assert CLIENT_SECRET not in caplog.text
    assert "AT-0001" not in caplog.text


async def test_token_answer_over_max_response_bytes_is_refused_and_not_retried() -> None:
    async def huge_token(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"token_type": "Bearer", "access_token": "AT-0001", "padding": "x" * 5000}
        )

    async with hostile_server(huge_token) as server:
        grant = grant_for(f"{server.url}/oauth/token")
        async with TallyfyClient(
            grant, base_url=server.base_url, max_response_bytes=1000
        ) as client:
            with pytest.raises(ResponseTooLargeError) as info:
                await client.me()
    assert server.paths() == ["/oauth/token"]
    err = info.value
    assert (err.method, err.path, err.attempts, err.limit) == ("POST", "/oauth/token", 1, 1000)


async def test_token_endpoint_redirect_is_a_redirect_error_not_a_bad_credential() -> None:
    async def moved(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(location="/elsewhere/oauth/token")

    async with hostile_server(moved) as server:
        grant = grant_for(f"{server.url}/oauth/token")
        async with TallyfyClient(grant, base_url=server.base_url) as client:
            with pytest.raises(RedirectError) as info:
                await client.me()
    assert server.paths() == ["/oauth/token"]  # never followed: the body holds the secret
    err = info.value
    assert (err.status, err.method, err.path, err.attempts) == (302, "POST", "/oauth/token", 1)
    assert "client_credentials grant failed" in str(err)


async def test_token_endpoint_tls_failure_is_sent_once(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    async with hostile_server(token_then_me, ssl_context=server_context(cert, key)) as server:
        grant = grant_for(f"{server.url}/oauth/token")
        trusting = ssl.create_default_context(cafile=str(cert))
        async with TallyfyClient(grant, base_url=server.base_url) as client:
            with pytest.raises(TransportError, match="certificate verification failed") as info:
                await client.me()
            assert client.stats.transport_errors == 1
        # a configuration error: the handshake is refused once, never retried
        assert info.value.attempts == 1
        assert (info.value.method, info.value.path, info.value.sent) == (
            "POST",
            "/oauth/token",
            False,
        )
        async with TallyfyClient(
            grant_for(f"{server.url}/oauth/token"), base_url=server.base_url, ssl_context=trusting
        ) as client:
            assert (await client.me())["id"] == 1


@pytest.mark.parametrize("bad", [0, -1, float("nan")])
def test_a_token_timeout_that_aiohttp_would_read_as_no_limit_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        grant_for("https://auth.example.com/oauth/token", timeout=bad)
