"""Token providers end to end against FakeTallyfy's ``/oauth/token``, on virtual time.

Token lifetimes of an hour or a week pass in milliseconds; every count is what the fake's
token endpoint and API routes saw (``oauth.count(grant)``, ``fake.count(...)``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest

from aiotallyfy import (
    AuthenticationError,
    CallableTokenProvider,
    ClientCredentialsGrant,
    IssuedToken,
    LimitScope,
    LocalRateLimiter,
    PasswordGrant,
    PerOrgTokens,
    Secret,
    ServerError,
    TallyfyClient,
)
from aiotallyfy._limits import Admission
from aiotallyfy.cli._credentials import provider_from_env
from aiotallyfy.testing import FakeOAuth, FakeTallyfy, enable_oauth

pytestmark = pytest.mark.virtual_time

CLIENT_ID = "15"
CLIENT_SECRET = "cs-9f8e7d6c5b4a-client-secret"
USER = "ada@example.com"
PASSWORD = "pw-31415926-user-password"
LIFETIME = 3600.0
MARGIN = 60.0


@asynccontextmanager
async def oauth_fake(**kwargs: Any) -> AsyncIterator[tuple[FakeTallyfy, FakeOAuth]]:
    async with FakeTallyfy(orgs=3, tasks_per_org=[3, 2, 1]) as fake:
        oauth = enable_oauth(
            fake,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            users={USER: PASSWORD},
            access_lifetime=kwargs.pop("access_lifetime", LIFETIME),
            **kwargs,
        )
        yield fake, oauth


def password_grant(oauth: FakeOAuth, **kwargs: Any) -> PasswordGrant:
    return PasswordGrant(
        client_id=kwargs.pop("client_id", CLIENT_ID),
        client_secret=kwargs.pop("client_secret", CLIENT_SECRET),
        username=kwargs.pop("username", USER),
        password=kwargs.pop("password", PASSWORD),
        token_url=kwargs.pop("token_url", oauth.token_url),
        **kwargs,
    )


def bearer(fake: FakeTallyfy, index: int = -1) -> str:
    return fake.requests[index].headers["Authorization"]


def now() -> float:
    return asyncio.get_running_loop().time()


# ----------------------------------------------------------------------------- the fake
async def test_fake_token_endpoint_grants_and_shapes() -> None:
    async with oauth_fake(client_credentials_lifetime=604800) as (fake, oauth):
        form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        async with aiohttp.ClientSession() as s:

            async def post(url: str, **kw: Any) -> tuple[int, Any]:
                async with s.post(url, **kw) as r:
                    return r.status, orjson.loads(await r.read())

            # JSON is refused with 400, under both roots.
            for url in (oauth.token_url, f"{fake.root_url}/oauth/token"):
                status, body = await post(url, json={"grant_type": "client_credentials", **form})
                assert status == 400
                assert body["error"] == "unsupported_grant_type"
            # client_id must be numeric.
            status, body = await post(
                oauth.token_url,
                data={"grant_type": "client_credentials", "client_id": "abc", "client_secret": "x"},
            )
            assert (status, body["error"]) == (401, "invalid_client")
            status, body = await post(
                oauth.token_url, data={"grant_type": "client_credentials", **form}
            )
            assert status == 200
            assert set(body) == {"token_type", "expires_in", "access_token"}
            assert (body["token_type"], body["expires_in"]) == ("Bearer", 604800)
            status, body = await post(
                f"{fake.root_url}/oauth/token",
                data={"grant_type": "password", "username": USER, "password": PASSWORD, **form},
            )
            assert status == 200
            assert set(body) == {"token_type", "expires_in", "access_token", "refresh_token"}
            assert body["expires_in"] == 3600
            access, refresh = body["access_token"], body["refresh_token"]
            status, body = await post(
                oauth.token_url,
                data={"grant_type": "password", "username": USER, "password": "nope", **form},
            )
            assert (status, body["error"]) == (400, "invalid_grant")

            # The issued token works, then expires on loop time: 401.
            headers = {**fake.headers, "Authorization": f"Bearer {access}"}
            async with s.get(f"{fake.base_url}/me", headers=headers) as r:
                assert r.status == 200
            await asyncio.sleep(3600)
            async with s.get(f"{fake.base_url}/me", headers=headers) as r:
                assert r.status == 401
                assert orjson.loads(await r.read()) == {
                    "error": True,
                    "message": "Unauthenticated.",
                }
            async with s.get(f"{fake.base_url}/me", headers=fake.headers) as r:
                assert r.status == 200  # the fake's own static token never expires

            # Refresh rotates: a new pair, and the old refresh token is dead.
            data = {"grant_type": "refresh_token", "refresh_token": refresh, **form}
            status, body = await post(oauth.token_url, data=data)
            assert status == 200
            assert body["refresh_token"] != refresh
            status, body = await post(oauth.token_url, data=data)
            assert (status, body["error"]) == (400, "invalid_grant")

    assert oauth.grant_counts == {
        "": 2,
        "client_credentials": 2,
        "password": 2,
        "refresh_token": 2,
    }
    # The token endpoint bypasses bearer auth: none of its requests was a 401 for that reason.
    assert fake.count("POST", "/oauth/token", 401) == 1  # the non-numeric client_id


# ----------------------------------------------------------------------------- password
async def test_password_grant_refreshes_a_margin_before_expiry() -> None:
    async with (
        oauth_fake() as (fake, oauth),
        TallyfyClient(password_grant(oauth), base_url=fake.base_url) as client,
    ):
        await client.me()
        assert oauth.grant_counts == {"password": 1}
        assert bearer(fake) == f"Bearer {oauth.issued[0].token}"

        await asyncio.sleep(LIFETIME - MARGIN - 1)  # still inside the margin-less lifetime
        await client.me()
        assert oauth.grant_counts == {"password": 1}

        await asyncio.sleep(2)  # past expiry - margin: renewed before the server would refuse
        await client.me()
        assert oauth.grant_counts == {"password": 1, "refresh_token": 1}
        assert oauth.issued[1].grant == "refresh_token"
        assert bearer(fake) == f"Bearer {oauth.issued[1].token}"
        assert fake.count(status=401) == 0


async def test_a_renewed_token_keeps_its_rate_limit_scope() -> None:
    # Tallyfy counts per user, not per token string: a renewal must not reset the budget.
    async with oauth_fake() as (fake, oauth):
        limiter = RecordingLimiter()
        grant = password_grant(oauth)
        async with TallyfyClient(grant, base_url=fake.base_url, limiter=limiter) as client:
            await client.me()
            await asyncio.sleep(LIFETIME)
            await client.me()
        assert oauth.grant_counts == {"password": 1, "refresh_token": 1}
        keys = {scope.token_key for scope in limiter.scopes}
        assert keys == {grant.rate_limit_identity(None)}
        other_user = PasswordGrant(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            username="someone@example.com",
            password=PASSWORD,
            token_url=oauth.token_url,
        )
        assert other_user.rate_limit_identity(None) != grant.rate_limit_identity(None)
        for issued in oauth.issued:
            assert issued.token not in str(keys)


async def test_password_grant_401_refreshes_once_and_retries_once() -> None:
    async with (
        oauth_fake() as (fake, oauth),
        TallyfyClient(password_grant(oauth), base_url=fake.base_url) as client,
    ):
        await client.me()
        oauth.expire()  # the server drops it; the client still believes it valid
        me = await client.me()
        assert me["email"] == fake.data.me["email"]
        assert oauth.grant_counts == {"password": 1, "refresh_token": 1}
        assert [
            (r.status, r.headers["Authorization"]) for r in fake.requests if r.path == "/me"
        ] == [
            (200, f"Bearer {oauth.issued[0].token}"),
            (401, f"Bearer {oauth.issued[0].token}"),
            (200, f"Bearer {oauth.issued[1].token}"),
        ]

        # A renewed token that is refused again is final: one renewal per call, no loop.
        oauth.expire()
        fake.tokens.discard(oauth.issued[1].token)
        oauth.fail_next(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": "junk"})
        with pytest.raises(AuthenticationError) as info:
            await client.me()
        assert info.value.status == 401
        assert fake.count("GET", "/me", 401) == 3
        assert oauth.count("refresh_token") == 2


async def test_50_concurrent_requests_on_an_expired_token_make_one_token_request() -> None:
    async with (
        oauth_fake() as (fake, oauth),
        TallyfyClient(password_grant(oauth), base_url=fake.base_url) as client,
    ):
        await client.me()
        await asyncio.sleep(LIFETIME)  # the client knows it expired
        results = await asyncio.gather(*(client.me() for _ in range(50)))
        assert len(results) == 50
        assert oauth.grant_counts == {"password": 1, "refresh_token": 1}
        assert fake.count("GET", "/me", 200) == 51
        assert fake.count(status=401) == 0


async def test_50_concurrent_401s_make_one_token_request_and_one_retry_each() -> None:
    async with (
        oauth_fake() as (fake, oauth),
        TallyfyClient(password_grant(oauth), base_url=fake.base_url) as client,
    ):
        await client.me()
        oauth.expire()  # the server refuses it; the client finds out from 50 401s at once
        await asyncio.gather(*(client.me() for _ in range(50)))
        assert oauth.grant_counts == {"password": 1, "refresh_token": 1}
        old, new = (f"Bearer {t.token}" for t in oauth.issued)
        me = [r for r in fake.requests if r.path == "/me"][1:]
        assert sum(1 for r in me if (r.status, r.headers["Authorization"]) == (401, old)) == 50
        assert sum(1 for r in me if (r.status, r.headers["Authorization"]) == (200, new)) == 50
        assert len(me) == 100


async def test_refused_refresh_token_falls_back_to_the_password() -> None:
    async with (
        oauth_fake() as (fake, oauth),
        TallyfyClient(password_grant(oauth), base_url=fake.base_url) as client,
    ):
        await client.me()
        oauth.revoke_refresh_tokens()
        await asyncio.sleep(LIFETIME)
        await client.me()
        assert oauth.grant_counts == {"password": 2, "refresh_token": 1}
        assert bearer(fake) == f"Bearer {oauth.issued[1].token}"


async def test_token_requests_use_the_clients_session_and_are_form_encoded() -> None:
    async with (
        oauth_fake() as (fake, oauth),
        TallyfyClient(
            password_grant(oauth), base_url=fake.base_url, user_agent="probe/1"
        ) as client,
    ):
        await client.me()
    token_request = next(r for r in fake.requests if r.path == "/oauth/token")
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert token_request.headers["User-Agent"] == "probe/1"  # the client's session
    assert "Authorization" not in token_request.headers
    assert sorted(k for k, _ in _form(token_request.body)) == [
        "client_id",
        "client_secret",
        "grant_type",
        "password",
        "username",
    ]


def _form(body: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body.decode())


async def test_unbound_provider_opens_and_closes_its_own_session() -> None:
    async with oauth_fake() as (_fake, oauth):
        provider = password_grant(oauth)
        token = await provider.get_token(None)
        assert token == Secret(oauth.issued[0].token)
        assert await provider.get_token("any-org") == token  # one token for every org
        own = provider._own_transport
        assert own is not None  # no client: a transport of its own
        session = own.session
        await provider.aclose()
        assert provider._own_transport is None
        assert session.closed
    assert oauth.grant_counts == {"password": 1}


# ----------------------------------------------------------------------------- errors
async def test_token_endpoint_errors_become_authentication_errors() -> None:
    async with oauth_fake() as (fake, oauth):
        cases = [
            (password_grant(oauth, client_secret="wrong"), 401, "invalid_client"),
            (password_grant(oauth, client_id="abc"), 401, "invalid_client"),
            (password_grant(oauth, password="wrong"), 400, "invalid_grant"),
        ]
        for provider, status, code in cases:
            async with TallyfyClient(provider, base_url=fake.base_url) as client:
                with pytest.raises(AuthenticationError) as info:
                    await client.me()
            assert (info.value.status, info.value.code) == (status, code)
            assert info.value.path == "/api/oauth/token"
        assert not [r for r in fake.requests if r.path == "/me"]  # nothing sent without a token

        # A 5xx is not an authentication failure (M1): it is retried a few times, then
        # raised as a ServerError; and not cached as a failure: the next call asks again.
        oauth.fail_next(503, {"message": "Service Unavailable"}, times=4)
        async with TallyfyClient(password_grant(oauth), base_url=fake.base_url) as client:
            with pytest.raises(ServerError) as info:
                await client.me()
            assert (info.value.status, info.value.message) == (
                503,
                "password grant failed: Service Unavailable",
            )
            assert info.value.attempts == 4  # the default: 3 retries
            await client.me()
        assert oauth.count("password") == 3 + 4 + 1


# ----------------------------------------------------------------------------- client creds
async def test_client_credentials_renews_before_expiry_and_on_401() -> None:
    week = 604800.0
    async with oauth_fake(client_credentials_lifetime=week) as (fake, oauth):
        grant = ClientCredentialsGrant(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=oauth.token_url
        )
        async with TallyfyClient(grant, base_url=fake.base_url) as client:
            await client.me()
            assert oauth.grant_counts == {"client_credentials": 1}
            await asyncio.sleep(week - MARGIN - 1)
            await client.me()
            assert oauth.grant_counts == {"client_credentials": 1}
            await asyncio.sleep(2)
            await asyncio.gather(*(client.me() for _ in range(20)))
            assert oauth.grant_counts == {"client_credentials": 2}
            assert bearer(fake) == f"Bearer {oauth.issued[1].token}"

            oauth.expire()
            await client.me()
            assert oauth.grant_counts == {"client_credentials": 3}
            assert fake.count("GET", "/me", 401) == 1
            assert bearer(fake) == f"Bearer {oauth.issued[2].token}"
    assert all(t.grant == "client_credentials" for t in oauth.issued)
    assert not oauth.refresh_tokens  # none issued for this grant


# ----------------------------------------------------------------------------- callable
async def test_callable_provider_caches_per_org_renews_and_stops_on_same_token() -> None:
    async with FakeTallyfy(orgs=2, tasks_per_org=1) as fake:
        calls: list[str] = []
        serial = 0

        async def mint(org_id: str | None) -> IssuedToken:
            nonlocal serial
            calls.append(str(org_id))
            await asyncio.sleep(1)  # a slow helper: concurrent callers must share one call
            serial += 1
            token = f"minted-{serial}"
            fake.tokens.add(token)
            return IssuedToken(token, expires_in=100)

        org_a, org_b = fake.data.org_ids
        async with TallyfyClient(CallableTokenProvider(mint), base_url=fake.base_url) as client:
            await asyncio.gather(
                *(client.organizations.get(o) for o in [org_a] * 10 + [org_b] * 10)
            )
            assert sorted(calls) == sorted([org_a, org_b])
            await asyncio.sleep(100 - MARGIN / 2)  # renew at min(margin, life / 2) = 50 s
            await client.organizations.get(org_a)
            assert calls.count(org_a) == 2

    # A callable that hands back the rejected token: the 401 is final, not retried forever.
    async with FakeTallyfy(orgs=1, tasks_per_org=1) as fake:
        stale_calls = 0

        async def stale(org_id: str | None) -> str:
            nonlocal stale_calls
            stale_calls += 1
            return "not-a-valid-token"

        async with TallyfyClient(CallableTokenProvider(stale), base_url=fake.base_url) as client:
            with pytest.raises(AuthenticationError):
                await client.me()
        assert stale_calls == 2
        assert fake.count("GET", "/me", 401) == 1


async def test_a_cancelled_waiter_does_not_cancel_the_shared_renewal() -> None:
    calls = 0

    async def slow(org_id: str | None) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(5)
        return "tok-1"

    provider = CallableTokenProvider(slow, per_org=False)
    first = asyncio.ensure_future(provider.get_token(None))
    second = asyncio.ensure_future(provider.get_token(None))
    await asyncio.sleep(1)
    first.cancel()
    assert await second == Secret("tok-1")
    assert first.cancelled()
    assert calls == 1
    await provider.aclose()


# ----------------------------------------------------------------------------- per org
class RecordingLimiter(LocalRateLimiter):
    def __init__(self) -> None:
        super().__init__()
        self.scopes: list[LimitScope] = []

    async def acquire(self, scope: LimitScope) -> Admission:
        self.scopes.append(scope)
        return await super().acquire(scope)


async def test_per_org_tokens_one_client_many_orgs() -> None:
    async with oauth_fake() as (fake, oauth):
        org_a, org_b, org_c = fake.data.org_ids
        fake.tokens.update({"tok-for-a", "tok-for-b"})
        app = ClientCredentialsGrant(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=oauth.token_url
        )
        auth = PerOrgTokens({org_a: "tok-for-a", org_b: Secret("tok-for-b"), org_c: app})
        limiter = RecordingLimiter()
        async with TallyfyClient(auth, base_url=fake.base_url, limiter=limiter) as client:
            results = {
                r.org_id: r.items
                async for r in client.fan_out(
                    [org_a, org_b, org_c], lambda o: client.tasks.list_mine(o, status="all")
                )
            }
            with pytest.raises(AuthenticationError) as info:
                await client.me()  # not org-scoped, and no default
            assert info.value.status == 0
        assert {o: sorted(t["id"] for t in items) for o, items in results.items()} == {
            o: sorted(t["id"] for t in fake.data.my_tasks(o, "all")) for o in (org_a, org_b, org_c)
        }
        expected = {
            org_a: "Bearer tok-for-a",
            org_b: "Bearer tok-for-b",
            org_c: f"Bearer {oauth.issued[0].token}",
        }
        api = [r for r in fake.requests if r.path.startswith("/organizations/")]
        assert len(api) == 3
        for r in api:
            assert r.headers["Authorization"] == expected[r.path.split("/")[2]]
        assert not [r for r in fake.requests if r.path == "/me"]
        assert oauth.grant_counts == {"client_credentials": 1}
        # Each org's credentials are their own rate-limit scope: static tokens by their hash,
        # the grant by its stable identity (which survives renewals).
        keys = {s.org_id: s.token_key for s in limiter.scopes}
        assert keys == {
            org_a: LimitScope.token_key_for("tok-for-a"),
            org_b: LimitScope.token_key_for("tok-for-b"),
            org_c: app.rate_limit_identity(org_c),
        }
        assert len(set(keys.values())) == 3
        assert oauth.issued[0].token not in str(keys)

        # With a default, /me and unlisted orgs use it.
        auth = PerOrgTokens({org_a: "tok-for-a"}, default=fake.token)
        async with TallyfyClient(auth, base_url=fake.base_url) as client:
            await client.me()
            await client.organizations.get(org_b)
        assert bearer(fake, -2) == bearer(fake, -1) == f"Bearer {fake.token}"


# ----------------------------------------------------------------------------- env
async def test_provider_from_env() -> None:
    assert provider_from_env({}) is None
    assert provider_from_env({"TALLYFY_API_TOKEN": "x"}) is None
    base = {"TALLYFY_CLIENT_ID": CLIENT_ID, "TALLYFY_CLIENT_SECRET": CLIENT_SECRET}
    app = provider_from_env(base)
    assert isinstance(app, ClientCredentialsGrant)
    assert app.token_url == "https://go.tallyfy.com/api/oauth/token"
    user = provider_from_env(
        {**base, "TALLYFY_USERNAME": USER, "TALLYFY_PASSWORD": PASSWORD},
        token_url="https://account.tallyfy.com/oauth/token",
    )
    assert isinstance(user, PasswordGrant)
    assert user.token_url == "https://account.tallyfy.com/oauth/token"
    await app.aclose()
    await user.aclose()

    bad = [
        ({"TALLYFY_CLIENT_ID": CLIENT_ID}, "TALLYFY_CLIENT_SECRET is missing"),
        ({"TALLYFY_CLIENT_SECRET": CLIENT_SECRET}, "TALLYFY_CLIENT_ID is missing"),
        ({**base, "TALLYFY_USERNAME": USER}, "TALLYFY_PASSWORD is missing"),
        ({**base, "TALLYFY_PASSWORD": PASSWORD}, "TALLYFY_USERNAME is missing"),
        ({"TALLYFY_USERNAME": USER, "TALLYFY_PASSWORD": PASSWORD}, "need TALLYFY_CLIENT_ID"),
        ({**base, "TALLYFY_TOKEN_URL": "http://auth.example.com/t"}, "auth.example.com"),
    ]
    for env, message in bad:
        with pytest.raises(ValueError, match=message) as info:
            provider_from_env(env)
        for value in (CLIENT_SECRET, PASSWORD):
            assert value not in str(info.value)

    async with oauth_fake() as (fake, oauth):
        env = {
            **base,
            "TALLYFY_USERNAME": USER,
            "TALLYFY_PASSWORD": PASSWORD,
            "TALLYFY_TOKEN_URL": oauth.token_url,
        }
        provider = provider_from_env(env)
        assert provider is not None
        async with TallyfyClient(provider, base_url=fake.base_url) as client:
            await client.me()
        assert oauth.grant_counts == {"password": 1}
