"""Organization webhook subscriptions (watchers), the health check and custom field keys, end
to end against FakeTallyfy."""

from __future__ import annotations

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    OutcomeUnknownError,
    PermissionDeniedError,
    TallyfyClient,
    TransportError,
)
from aiotallyfy._health import health_url
from aiotallyfy.testing import FakeTallyfy
from aiotallyfy.testing._fake_misc import custom_field_keys_of, fake_health
from aiotallyfy.testing._fake_watchers import watchers_of

pytestmark = pytest.mark.virtual_time

HOOK = "https://hooks.example.com/tallyfy/9f2c6d1e"


async def test_subscribe_list_unsubscribe(fake: FakeTallyfy, client: TallyfyClient) -> None:
    watcher = await client.watchers.subscribe_webhook(org(fake), HOOK)
    add = [r for r in fake.requests if r.path.endswith("/add-watcher")]
    assert [r.path for r in add] == [
        f"/organizations/{org(fake)}/users/{fake.data.me_id}/add-watcher"
    ]
    assert add[0].json() == {
        "object_type": "organization", "object_id": org(fake), "notification_type": "webhook",
        "frequency": "electric", "webhook": HOOK,
    }  # fmt: skip
    assert fake.count("GET", "/watchers") == 1  # looked for an existing one first
    assert fake.requests[0].query["notification"] == "webhook"
    assert fake.count("GET", "/me") == 1  # the caller's id for the user-scoped route

    again = await client.watchers.subscribe_webhook(org(fake), HOOK, user_id=fake.data.me_id)
    assert again == watcher
    assert fake.count("POST", "/add-watcher") == 1  # reused, not doubled
    assert [w["id"] async for w in client.watchers.list_webhooks(org(fake))] == [watcher["id"]]

    await client.watchers.unsubscribe(org(fake), watcher["id"])
    assert watchers_of(fake, org(fake)) == {}
    assert await client.watchers.find_webhook(org(fake), HOOK) is None


async def test_a_lost_subscribe_answer_is_looked_up_not_resent(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    fake.inject("reset_after_apply", method="POST", path_contains="/add-watcher")
    watcher = await client.watchers.subscribe_webhook(org(fake), HOOK, user_id=fake.data.me_id)
    assert watcher["webhook"] == HOOK
    assert fake.count("POST", "/add-watcher") == 1
    assert len(watchers_of(fake, org(fake))) == 1
    # Lost and not applied (the reset came before the route): nothing to find, so it raises.
    fake.inject("reset", method="POST", path_contains="/add-watcher")
    with pytest.raises(OutcomeUnknownError):
        await client.watchers.subscribe_webhook(org(fake), HOOK + "/other", user_id=fake.data.me_id)
    assert fake.count("POST", "/add-watcher") == 2


async def test_what_watcher_routes_refuse(fake: FakeTallyfy, client: TallyfyClient) -> None:
    before = len(fake.requests)
    for bad in ("ftp://x.example.com/h", "/relative", "not a url"):
        with pytest.raises(InvalidArgument):
            await client.watchers.subscribe_webhook(org(fake), bad)
    assert len(fake.requests) == before
    other = fake.data.members(org(fake))[1]["id"]
    with pytest.raises(PermissionDeniedError):  # user-scoped: only the caller's own
        await client.watchers.subscribe_webhook(
            org(fake), HOOK, user_id=other, reuse_existing=False
        )
    st = fake.data.org_state(org(fake))
    assert st is not None
    st.members[0]["role"] = "standard"  # the fake's own user, no longer an admin
    with pytest.raises(PermissionDeniedError):
        await client.watchers.subscribe_webhook(org(fake), HOOK)


async def test_health_check(fake: FakeTallyfy, client: TallyfyClient) -> None:
    assert health_url("https://go.tallyfy.com/api") == "https://api.tallyfy.com/health"
    assert health_url("https://api.tallyfy.com") == "https://api.tallyfy.com/health"
    assert health_url("https://proxy.example.com/tallyfy/api") == (
        "https://proxy.example.com/tallyfy/api/health"
    )
    status = await client.health()
    assert (status.ok, status.status, status.body) == (True, 200, {"status": "ok"})
    assert status.url == f"{fake.base_url}/health"
    seen = fake.requests[-1]
    assert (seen.path, seen.status) == ("/health", 200)
    assert "Authorization" not in seen.headers  # never the token on a health check
    fake_health(fake).status = 503
    status = await client.health()
    assert (status.ok, status.status) == (False, 503)
    assert fake.count(path_contains="/health") == 2  # one attempt each, no retry
    with pytest.raises(TransportError) as err:
        await client.health(url="http://127.0.0.1:9/health")
    assert err.value.sent is False
    assert (err.value.method, err.value.path, err.value.attempts) == ("GET", "/health", 1)
    # counted with the client's other requests, outside the rate-limit budget
    assert (client.stats.by_status, client.stats.transport_errors) == ({200: 1, 503: 1}, 1)


async def test_custom_field_keys(fake: FakeTallyfy, client: TallyfyClient) -> None:
    keys = custom_field_keys_of(fake, org(fake))
    keys.extend(
        {"id": 100 + n, "key": f"extra_{n:03d}", "applies_to": "process", "field_type": "text",
         "key_type": "org", "is_required": False, "is_active": n % 2 == 0}
        for n in range(150)
    )  # fmt: skip
    every = [k["key"] async for k in client.custom_field_keys.list(org(fake))]
    assert every == [k["key"] for k in keys]
    active_process = await client.custom_field_keys.list(
        org(fake), applies_to="process", is_active=True
    ).to_list()
    assert [k["key"] for k in active_process] == ["cost_center"] + [
        f"extra_{n:03d}" for n in range(0, 150, 2)
    ]
    assert fake.requests[-1].query == {
        "applies_to": "process", "is_active": "true", "page": "1", "per_page": "100",
    }  # fmt: skip
