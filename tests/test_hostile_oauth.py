"""Hostile token endpoints: what the OAuth grants make of servers that echo secrets, fail for
a moment, or fail for good. Every endpoint here is a plain aiohttp handler on 127.0.0.1
(``tests/_hostile.py``); the assertions are on the exact error and the exact requests seen."""

from __future__ import annotations

import asyncio
import io
from urllib.parse import parse_qsl

import pytest
from _hostile import hostile_server
from aiohttp import web

from aiotallyfy import (
    AuthenticationError,
    ClientCredentialsGrant,
    PasswordGrant,
    Secret,
    ServerError,
    TallyfyClient,
    TransportError,
)
from aiotallyfy.cli import amain

pytestmark = pytest.mark.virtual_time

CLIENT_ID = "15"
CLIENT_SECRET = "CS-bbbbSECRETbbbb-0001"
USER = "ada@example.com"
PASSWORD = "PW-ccccSECRETcccc-0002"


def password_grant(token_url: str, **kwargs: object) -> PasswordGrant:
    return PasswordGrant(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        username=USER,
        password=PASSWORD,
        token_url=token_url,
        **kwargs,  # type: ignore[arg-type]
    )


# ----------------------------------------------------------------------------- L1 scrubbing
@pytest.mark.parametrize("start", [0, 480, 485, 492, 499, 500, 510])
async def test_a_secret_echoed_near_the_cut_leaves_no_part_of_itself(start: int) -> None:
    # L1: the message was cut at 500 characters first and scrubbed second, so a secret that
    # straddled the cut was no longer recognised and its head leaked ("... CS-bbbbS").
    message = "a" * start + CLIENT_SECRET + " and " + PASSWORD

    async def echo(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "invalid_client", "message": message}, status=401)

    async with hostile_server(echo) as server:
        grant = password_grant(f"{server.url}/oauth/token")
        try:
            with pytest.raises(AuthenticationError) as info:
                await grant.get_token(None)
        finally:
            await grant.aclose()
    expected = ("a" * start + "**********" + " and " + "**********")[:500]
    assert info.value.message == f"password grant failed: {expected}"
    text = str(info.value)
    for secret in (CLIENT_SECRET, PASSWORD):
        for head in range(4, len(secret) + 1):
            assert secret[:head] not in text
    assert len(server.seen) == 1


def test_scrub_then_truncate_scrubs_first_and_longest_first() -> None:
    from aiotallyfy._secrets import scrub, scrub_then_truncate

    secret = Secret("abcdef")
    assert scrub_then_truncate("xxxxabcdef", [secret], 7) == "xxxx***"
    assert scrub_then_truncate("abcdef", [secret, None, ""], 100) == "**********"
    # One secret containing another: the longer one is replaced whole.
    assert scrub("k=abcdef", ["abc", secret]) == "k=**********"
    assert scrub("nothing here", [secret]) == "nothing here"
    with pytest.raises(ValueError, match="limit"):
        scrub_then_truncate("x", [secret], -1)


# ------------------------------------------------------------------------ M1 transient failures
class TokenAPI:
    """A Passport-like token endpoint (``POST /oauth/token``, form-encoded, ``tallyfy-api.md``
    §2) and ``GET /api/me`` that accepts only live tokens, on one hostile server.

    ``plan`` scripts the next token requests: ``"503"`` (a JSON 503), ``"html503"``,
    ``"reset"`` (the connection is aborted), ``"ok"``; once it is empty, ``default``.
    """

    def __init__(self, lifetime: float, *, default: str = "ok") -> None:
        self.lifetime = lifetime
        self.default = default
        self.plan: list[str] = []
        self.grants: list[str] = []  # grant_type of every token request, in order
        self.outcomes: list[str] = []
        self.live: dict[str, float] = {}  # access token -> expiry (loop time)
        self.me: list[tuple[int, str]] = []  # (status, bearer) of every /me
        self.issued = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        now = asyncio.get_running_loop().time()
        if request.path == "/oauth/token":
            form = dict(parse_qsl((await request.read()).decode()))
            self.grants.append(form.get("grant_type", ""))
            action = self.plan.pop(0) if self.plan else self.default
            self.outcomes.append(action)
            if action == "reset":
                assert request.transport is not None
                request.transport.abort()
                return web.Response(status=500)  # never delivered
            if action == "503":
                return web.json_response({"message": "Service Unavailable"}, status=503)
            if action == "html503":
                return web.Response(status=503, text="<html>bad gateway</html>")
            self.issued += 1
            token = f"AT-{self.issued:04d}"
            self.live[token] = now + self.lifetime
            return web.json_response(
                {
                    "token_type": "Bearer",
                    "expires_in": self.lifetime,
                    "access_token": token,
                    "refresh_token": f"RT-{self.issued:04d}",
                }
            )
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.live.get(bearer, -1.0) <= now:
            self.me.append((401, bearer))
            return web.json_response({"message": "Unauthenticated."}, status=401)
        self.me.append((200, bearer))
        return web.json_response({"data": {"id": 1, "email": USER}})


def client_credentials(token_url: str) -> ClientCredentialsGrant:
    return ClientCredentialsGrant(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=token_url
    )


@pytest.mark.parametrize("blip", ["503", "html503", "reset"])
async def test_one_blip_during_renewal_fails_none_of_20_waiting_calls(blip: str) -> None:
    # M1: a 2 s token renews 1 s before expiry; one 503 (or one dropped connection) at the
    # token endpoint failed all 20 concurrent calls with AuthenticationError(503).
    api = TokenAPI(lifetime=2)
    async with hostile_server(api.handle) as server:
        grant = client_credentials(f"{server.url}/oauth/token")
        async with TallyfyClient(grant, base_url=server.base_url) as client:
            await client.me()
            await asyncio.sleep(1.2)  # inside the renewal margin, the token still valid
            api.plan = [blip]
            results = await asyncio.gather(*(client.me() for _ in range(20)))
    assert [r["id"] for r in results] == [1] * 20
    assert api.grants == ["client_credentials"] * 3  # first token, the blip, its retry
    assert api.outcomes == ["ok", blip, "ok"]
    assert [status for status, _ in api.me] == [200] * 21


async def test_renewal_failing_for_good_serves_the_current_token_until_it_expires() -> None:
    # M1: the renewal is proactive, so while the current token is valid it keeps being used;
    # once it has expired, the failure surfaces as what it is: a ServerError, never a 401.
    api = TokenAPI(lifetime=20, default="503")
    api.plan = ["ok"]
    async with hostile_server(api.handle) as server:
        grant = client_credentials(f"{server.url}/oauth/token")
        async with TallyfyClient(grant, base_url=server.base_url) as client:
            await client.me()
            await asyncio.sleep(11)  # renew_at = 20 - min(60, 20 / 2) = 10
            assert (await client.me())["id"] == 1  # the renewal failed; AT-0001 still serves
            renewals = len(api.grants) - 1
            assert renewals >= 2  # retried, a few times
            assert api.me[-1] == (200, "AT-0001")
            # No storm: calls just after a failed renewal do not each ask again.
            for _ in range(5):
                await client.me()
            assert len(api.grants) - 1 == renewals
            assert all(status == 200 for status, _ in api.me)

            await asyncio.sleep(20)  # now expired
            with pytest.raises(ServerError) as info:
                await client.me()
    assert not isinstance(info.value, AuthenticationError)
    assert info.value.status == 503
    assert info.value.attempts == renewals
    assert "AT-0001" not in str(info.value)
    assert api.me[-1] == (200, "AT-0001")  # nothing sent with an expired token


async def test_password_refresh_503_forever_is_a_server_error_and_keeps_the_password() -> None:
    # M1: a 503 on the refresh grant was AuthenticationError(503); the CLI then said "check
    # TALLYFY_API_TOKEN". It is neither an authentication failure nor a reason to sign in again.
    api = TokenAPI(lifetime=3600)
    async with hostile_server(api.handle) as server:
        grant = password_grant(f"{server.url}/oauth/token")
        async with TallyfyClient(grant, base_url=server.base_url) as client:
            await client.me()
            await asyncio.sleep(3600)  # expired: no current token to fall back on
            api.default = "503"
            with pytest.raises(ServerError) as info:
                await client.me()
            attempts = info.value.attempts
            assert attempts >= 3
            assert api.grants == ["password"] + ["refresh_token"] * attempts
            api.default = "ok"
            assert (await client.me())["id"] == 1  # the endpoint is back: the next call renews
    assert api.grants[-1] == "refresh_token"
    assert not isinstance(info.value, AuthenticationError)


async def test_token_endpoint_reset_forever_is_a_transport_error() -> None:
    api = TokenAPI(lifetime=3600, default="reset")
    async with hostile_server(api.handle) as server:
        grant = client_credentials(f"{server.url}/oauth/token")
        async with TallyfyClient(grant, base_url=server.base_url) as client:
            with pytest.raises(TransportError) as info:
                await client.me()
    assert info.value.attempts == len(api.grants) >= 3
    assert api.me == []


async def test_a_refused_credential_is_not_retried() -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "invalid_client"}, status=401)

    async with hostile_server(refuse) as server:
        grant = client_credentials(f"{server.url}/oauth/token")
        try:
            with pytest.raises(AuthenticationError) as info:
                await grant.get_token(None)
        finally:
            await grant.aclose()
    assert (info.value.status, info.value.code) == (401, "invalid_client")
    assert len(server.seen) == 1


async def test_cli_token_endpoint_503_is_not_reported_as_a_bad_token() -> None:
    # M1: the CLI mapped the 503 to exit 3 and "Check TALLYFY_API_TOKEN".
    api = TokenAPI(lifetime=3600, default="503")
    async with hostile_server(api.handle) as server:
        err = io.StringIO()
        code = await amain(
            ["me"],
            environ={
                "TALLYFY_BASE_URL": server.base_url,
                "TALLYFY_CLIENT_ID": CLIENT_ID,
                "TALLYFY_CLIENT_SECRET": CLIENT_SECRET,
                "TALLYFY_USERNAME": USER,
                "TALLYFY_PASSWORD": PASSWORD,
                "TALLYFY_TOKEN_URL": f"{server.url}/oauth/token",
            },
            stdout=io.BytesIO(),
            stderr=err,
        )
    text = err.getvalue()
    assert code == 1
    assert text.startswith("aiotallyfy: HTTP 503: password grant failed: Service Unavailable")
    assert "TALLYFY_API_TOKEN" not in text
    assert text.count("\n") == 1
    assert len(api.grants) >= 3
    assert CLIENT_SECRET not in text
    assert PASSWORD not in text
