"""Application context end to end: an app (client-credentials grant) provisions a member, mints
member tokens, and a client acting as that member renews them single-flight, before expiry
and once on a 401, without ever showing a token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from _resources_helpers import org

from aiotallyfy import (
    ClientCredentialsGrant,
    InvalidArgument,
    NotFoundError,
    PermissionDeniedError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import (
    FakeApplications,
    FakeOAuth,
    FakeTallyfy,
    area_of,
    enable_applications,
    enable_oauth,
)

pytestmark = pytest.mark.virtual_time

EMAIL = "kim.lee@example.com"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTallyfy]:
    async with FakeTallyfy(orgs=2, tasks_per_org=2) as f:
        yield f


@pytest.fixture
def oauth(fake: FakeTallyfy) -> FakeOAuth:
    return enable_oauth(fake, client_id="15", client_secret="app-secret")


@pytest.fixture
def apps(fake: FakeTallyfy, oauth: FakeOAuth) -> FakeApplications:
    return enable_applications(fake, oauth, org_id=org(fake))


@pytest_asyncio.fixture
async def app(
    fake: FakeTallyfy, oauth: FakeOAuth, apps: FakeApplications
) -> AsyncIterator[TallyfyClient]:
    grant = ClientCredentialsGrant(
        client_id="15", client_secret="app-secret", token_url=oauth.token_url
    )
    async with TallyfyClient(grant, base_url=fake.base_url) as client:
        yield client


def member_tokens_sent(fake: FakeTallyfy, apps: FakeApplications) -> list[str]:
    minted = {t.token for t in apps.oauth.issued if t.grant == "application_member"}
    return [
        r.headers["Authorization"][7:]
        for r in fake.requests
        if r.headers.get("Authorization", "")[7:] in minted
    ]


async def test_app_provisions_a_member_and_acts_as_them(
    fake: FakeTallyfy, apps: FakeApplications, app: TallyfyClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiotallyfy")
    user = await app.applications.create_user(
        org(fake), email=EMAIL, first_name="Kim", last_name="Lee", role="light", timezone="UTC"
    )
    assert (user["email"], user["role"]) == (EMAIL, "light")
    assert sorted(user) == ["created_at", "email", "first_name", "id", "last_name", "role"]
    created = [r for r in fake.requests if r.path == f"/applications/{org(fake)}/users"]
    assert [(r.method, r.status, r.json()) for r in created] == [
        ("POST", 201, {"first_name": "Kim", "last_name": "Lee", "email": EMAIL,
                       "role": "light", "timezone": "UTC"}),
    ]  # fmt: skip

    issued = await app.applications.member_token(org(fake), EMAIL)
    assert issued.expires_in == 7776000
    assert issued.token.reveal() not in repr(issued)
    assert fake.requests[-1].path == f"/applications/{org(fake)}/users/{EMAIL}/token"
    assert fake.requests[-1].raw_path.endswith("/users/kim.lee%40example.com/token")

    async with app.as_member(org(fake), EMAIL) as member:
        me = await member.me()
        assert (me["id"], me["email"]) == (user["id"], EMAIL)
        # 20 concurrent calls on a fresh client: one token minted (single flight).
        fresh = app.as_member(org(fake), EMAIL)
        async with fresh:
            results = await asyncio.gather(*(fresh.me() for _ in range(20)))
        assert {r["email"] for r in results} == {EMAIL}
        assert apps.minted[EMAIL] == 3  # the direct call, `member`, `fresh`
        assert len(member_tokens_sent(fake, apps)) == 21
        # One rate-limit budget per member, the same across providers and renewals:
        ids = {
            app.applications.member_token_provider(org(fake), e).rate_limit_identity(None)
            for e in (EMAIL, EMAIL.upper(), EMAIL)
        }
        assert len(ids) == 1
        assert next(iter(ids)).startswith("appmember_")  # type: ignore[union-attr]
    secrets = [t.token for t in apps.oauth.issued]
    provider = app.applications.member_token_provider(org(fake), EMAIL)
    for text in (caplog.text, repr(app), repr(member), repr(provider)):
        assert not any(s in text for s in secrets)


async def test_member_tokens_renew_before_expiry_and_on_401(
    fake: FakeTallyfy, apps: FakeApplications, app: TallyfyClient
) -> None:
    await app.applications.create_user(org(fake), email=EMAIL, first_name="K", last_name="L")
    async with app.as_member(org(fake), EMAIL) as member:
        await member.me()
        assert apps.minted[EMAIL] == 1
        await asyncio.sleep(7776000 - 120)  # inside the lifetime: the same token
        await member.me()
        assert apps.minted[EMAIL] == 1
        await asyncio.sleep(90)  # within the 60 s margin of expiry: renewed first
        await member.me()
        assert apps.minted[EMAIL] == 2
        apps.oauth.expire()  # revoked behind the client's back: one 401, one renewal, retried
        await member.me()
        assert apps.minted[EMAIL] == 3
        assert fake.count("GET", "/me", status=401) == 1
        assert fake.count("GET", "/me", status=200) == 4


async def test_what_the_application_routes_refuse(
    fake: FakeTallyfy, apps: FakeApplications, app: TallyfyClient
) -> None:
    other_org = fake.data.org_ids[1]
    outsider = area_of(fake, other_org).add_members(1)[0]["email"]
    with pytest.raises(NotFoundError):
        await app.applications.member_token(org(fake), "nobody@example.com")
    with pytest.raises(ValidationError) as err:  # exists, but not in this org
        await app.applications.member_token(org(fake), outsider)
    assert err.value.status == 422
    with pytest.raises(PermissionDeniedError) as denied:  # the app belongs to another org
        await app.applications.create_user(other_org, email=EMAIL, first_name="K", last_name="L")
    assert denied.value.message == "You don't have application's permissions for this organization!"
    async with TallyfyClient(fake.token, base_url=fake.base_url) as user_client:
        with pytest.raises(PermissionDeniedError):  # a user's token is not an app token
            await user_client.applications.member_token(org(fake), EMAIL)
    before = len(fake.requests)
    for kwargs in (
        {"first_name": "K" * 33, "last_name": "L"},
        {"first_name": "K", "last_name": ""},
        {"first_name": "K", "last_name": "L", "role": "owner"},
    ):
        with pytest.raises(InvalidArgument) as local:
            await app.applications.create_user(org(fake), email=EMAIL, **kwargs)
        assert local.value.attempts == 0
    with pytest.raises(InvalidArgument):
        await app.applications.member_token(org(fake), "not-an-email")
    assert len(fake.requests) == before
