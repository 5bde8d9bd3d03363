"""Transport safety and secret hygiene: redirects, plain http, TLS, and no credential in any
repr, exception or log line."""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import ssl
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from _hostile import self_signed_cert, server_context
from aiohttp import web

from aiotallyfy import (
    AuthenticationError,
    CallableTokenProvider,
    ClientCredentialsGrant,
    IssuedToken,
    PasswordGrant,
    PerOrgTokens,
    RedirectError,
    Secret,
    StaticToken,
    TallyfyClient,
    TransportError,
)
from aiotallyfy.cli._credentials import provider_from_env
from aiotallyfy.testing import FakeTallyfy, RouteContext, enable_oauth

CLIENT_ID = "15"
CLIENT_SECRET = "cs-0b1c2d3e4f-super-secret"
USER = "grace@example.com"
PASSWORD = "pw-27182818-very-secret"
STATIC = "pat-static-4242-secret-token"


class Recorder:
    """A second loopback server (optionally TLS) that records every request's headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.requests.append((request.method, request.path, dict(request.headers)))
        if request.path == "/api/oauth/token":
            return web.json_response(
                {"token_type": "Bearer", "expires_in": 3600, "access_token": "tls-oauth-token"}
            )
        if request.path == "/api/me":
            if request.headers.get("Authorization") not in (
                "Bearer tls-token",
                "Bearer tls-oauth-token",
            ):
                return web.json_response({"error": True, "message": "Unauthenticated."}, status=401)
            return web.json_response({"data": {"id": 1, "email": "tls@example.com"}})
        return web.json_response({"data": {"landed": request.path}})

    @asynccontextmanager
    async def serve(self, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Recorder]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
        try:
            yield self
        finally:
            await runner.cleanup()


# ----------------------------------------------------------------------------- redirects
@pytest.mark.virtual_time
async def test_a_redirect_to_another_host_is_refused_and_gets_nothing() -> None:
    """The token never leaves the base URL's origin, and neither does the request: an answer
    from a host we were not configured for is not API data (M2)."""
    async with FakeTallyfy(orgs=1) as fake, Recorder().serve() as other:

        async def elsewhere(ctx: RouteContext) -> web.Response:
            raise web.HTTPFound(f"{other.url}/landing")

        async def same_origin(ctx: RouteContext) -> web.Response:
            raise web.HTTPFound("/api/me")

        fake.router.get("/elsewhere", elsewhere)
        fake.router.get("/same-origin", same_origin)
        async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
            with pytest.raises(RedirectError, match="another origin") as info:
                await client.request("GET", "/elsewhere")
            assert info.value.status == 302
            assert info.value.location == f"{other.url}/landing"
            assert other.requests == []

            # Same origin: followed, and the token is still sent, deliberately.
            me = await client.request("GET", "/same-origin")
            assert me.data["data"]["email"] == fake.data.me["email"]
        hop = [r for r in fake.requests if r.path == "/me"]
        assert [r.headers["Authorization"] for r in hop] == [f"Bearer {fake.token}"]
        assert fake.requests[0].headers["Authorization"] == f"Bearer {fake.token}"


# ----------------------------------------------------------------------------- plain http
def test_plain_http_to_a_non_loopback_host_is_refused() -> None:
    with pytest.raises(ValueError, match=r"refusing plain http:// to api\.example\.com"):
        TallyfyClient(STATIC, base_url="http://api.example.com/api")
    for url in ("http://127.0.0.1:8080/api", "http://localhost/api", "http://[::1]:9/api"):
        assert TallyfyClient(STATIC, base_url=url).base_url == url
    opted_in = TallyfyClient(
        STATIC, base_url="http://api.example.com/api", allow_insecure_http=True
    )
    assert opted_in.base_url == "http://api.example.com/api"
    with pytest.raises(ValueError, match="must not carry credentials"):
        TallyfyClient(STATIC, base_url="https://user:pw@api.example.com")

    # The OAuth token URL follows the same rule: secrets would travel in its body.
    for grant in (PasswordGrant, ClientCredentialsGrant):
        kwargs: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        if grant is PasswordGrant:
            kwargs |= {"username": USER, "password": PASSWORD}
        with pytest.raises(ValueError, match=r"plain http:// token URL to auth\.example\.com"):
            grant(token_url="http://auth.example.com/oauth/token", **kwargs)
        grant(token_url="http://auth.example.com/oauth/token", allow_insecure_http=True, **kwargs)


# ----------------------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


async def test_tls_is_verified_by_default_and_a_custom_context_is_used(
    tls_files: tuple[Path, Path],
) -> None:
    cert, key = tls_files
    trusting = ssl.create_default_context(cafile=str(cert))
    async with Recorder().serve(server_context(cert, key)) as server:
        base = f"{server.url}/api"
        async with TallyfyClient("tls-token", base_url=base) as client:
            with pytest.raises(TransportError, match="certificate verification failed"):
                await client.me()
        assert server.requests == []  # refused during the handshake: nothing was sent

        async with TallyfyClient("tls-token", base_url=base, ssl_context=trusting) as client:
            assert (await client.me())["email"] == "tls@example.com"
        assert server.requests[-1][2]["Authorization"] == "Bearer tls-token"

        # OAuth token requests go through the client's session, so its context applies ...
        token_url = f"{base}/oauth/token"
        grant = ClientCredentialsGrant(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=token_url
        )
        async with TallyfyClient(grant, base_url=base, ssl_context=trusting) as client:
            await client.me()
        assert [r[1] for r in server.requests[-2:]] == ["/api/oauth/token", "/api/me"]

        # ... and a provider on its own verifies too, with or without a custom context.
        alone = ClientCredentialsGrant(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=token_url
        )
        with pytest.raises(TransportError, match="TLS certificate verification failed"):
            await alone.get_token(None)
        await alone.aclose()
        alone = ClientCredentialsGrant(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_url=token_url,
            ssl_context=trusting,
        )
        assert await alone.get_token(None) == Secret("tls-oauth-token")
        await alone.aclose()


# ----------------------------------------------------------------------------- no leaks
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def full_text(exc: BaseException) -> str:
    """Everything an exception could show: str, repr, attributes, formatted traceback with
    its whole chain (suppressed contexts included)."""
    parts = [str(exc), repr(exc), repr(vars(exc)), "".join(traceback.format_exception(exc))]
    if exc.__context__ is not None:
        parts.append(full_text(exc.__context__))
    return "\n".join(parts)


@pytest.mark.virtual_time
async def test_no_secret_in_any_repr_error_or_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    shown: list[object] = []

    async def expect(exc_type: type[BaseException], coro: Any) -> None:
        with pytest.raises(exc_type) as info:
            await coro
        errors.append(info.value)

    async with FakeTallyfy(orgs=2, tasks_per_org=2) as fake:
        oauth = enable_oauth(
            fake, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, users={USER: PASSWORD}
        )

        def grant(**kw: Any) -> PasswordGrant:
            args: dict[str, Any] = {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "username": USER,
                "password": PASSWORD,
                "token_url": oauth.token_url,
            }
            return PasswordGrant(**(args | kw))

        # The happy path with every renewal: expiry, refresh, 401, refresh.
        provider = grant()
        async with TallyfyClient(provider, base_url=fake.base_url) as client:
            shown += [client, provider]
            await client.me()
            await asyncio.sleep(3600)
            await client.me()
            oauth.expire()
            await client.me()
            shown += [client, provider]
        assert oauth.grant_counts == {"password": 1, "refresh_token": 2}

        # Token endpoint failures, including a server that echoes the credentials back.
        oauth.fail_next(
            401,
            {"error": "invalid_client", "message": f"client {CLIENT_SECRET} / {PASSWORD} bad"},
        )
        for bad in (grant(), grant(client_secret="wrong-secret"), grant(password="wrong-pw")):
            async with TallyfyClient(bad, base_url=fake.base_url) as client:
                await expect(AuthenticationError, client.me())
            shown.append(bad)
        assert "**********" in str(errors[0])

        # Unreachable token endpoint.
        gone = grant(token_url=f"http://127.0.0.1:{closed_port()}/oauth/token")
        await expect(TransportError, gone.get_token(None))
        await gone.aclose()

        # A static token revoked (logged out of the web app): the API's 401.
        fake.tokens.add(STATIC)
        static = PerOrgTokens({fake.data.org_ids[0]: STATIC})
        async with TallyfyClient(static, base_url=fake.base_url) as client:
            await client.organizations.get(fake.data.org_ids[0])
            fake.tokens.discard(STATIC)
            await expect(AuthenticationError, client.organizations.get(fake.data.org_ids[0]))
            await expect(AuthenticationError, client.organizations.get(fake.data.org_ids[1]))
            shown += [client, static]

        async def mint(org_id: str | None) -> IssuedToken:
            return IssuedToken(STATIC, expires_in=60)

        shown += [
            CallableTokenProvider(mint),
            await mint(None),
            StaticToken(STATIC),
            Secret(STATIC),
            f"{Secret(STATIC)}",
            str(Secret(STATIC)),
        ]

    # Configuration errors name what is missing, never a value.
    env = {"TALLYFY_CLIENT_SECRET": CLIENT_SECRET, "TALLYFY_PASSWORD": PASSWORD}
    with pytest.raises(ValueError, match="TALLYFY_CLIENT_ID is missing") as value_error:
        provider_from_env(env)
    errors.append(value_error.value)
    with pytest.raises(ValueError, match="line break") as value_error:
        StaticToken(STATIC + "\r\nX-Injected: 1")
    errors.append(value_error.value)
    with pytest.raises(TypeError):
        pickle.dumps(Secret(STATIC))

    secrets = [CLIENT_SECRET, PASSWORD, STATIC]
    secrets += [t.token for t in oauth.issued] + oauth.issued_refresh_tokens
    assert len(secrets) == 3 + 3 + 3  # access and refresh tokens: 1 password + 2 refresh grants
    texts = {f"repr({type(o).__name__})": repr(o) for o in shown}
    texts |= {f"str({type(o).__name__})": str(o) for o in shown}
    texts |= {f"error {i} {type(e).__name__}": full_text(e) for i, e in enumerate(errors)}
    texts["logs"] = caplog.text
    assert len(errors) == 8
    assert "token issued: grant=refresh_token" in caplog.text  # the DEBUG log did run
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}"
