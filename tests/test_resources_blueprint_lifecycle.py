"""Blueprint lifecycle end to end against FakeTallyfy: clone (tenant always sent, steps and
automations copied), publish, restore after archive, permanent delete (admin only, archived
first), and which of them are re-sent after a connection dies once the server applied them."""

from __future__ import annotations

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


def first_checklist(fake: FakeTallyfy) -> str:
    return str(fake.data.org_state(org(fake)).checklists[0]["id"])  # type: ignore[union-attr]


async def test_clone_copies_steps_and_sends_tenant(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    cid = first_checklist(fake)
    source_steps = [s["title"] async for s in client.blueprints.steps(org(fake), cid)]
    copy = await client.blueprints.clone(org(fake), cid, title="Onboarding v2")
    clone_requests = [r for r in fake.requests if r.path.endswith("/clone")]
    assert [(r.method, r.json(), r.status) for r in clone_requests] == [
        ("POST", {"tenant": org(fake), "title": "Onboarding v2"}, 201)
    ]
    assert copy["id"] != cid
    assert copy["title"] == "Onboarding v2"
    copied = [s async for s in client.blueprints.steps(org(fake), copy["id"])]
    assert [s["title"] for s in copied] == source_steps
    assert {s["checklist_id"] for s in copied} == {copy["id"]}
    assert not {s["id"] for s in copied} & {s["id"] for s in area_of(fake, org(fake)).steps[cid]}


async def test_clone_without_tenant_is_refused_by_the_fake(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    cid = first_checklist(fake)
    with pytest.raises(ValidationError) as info:
        await client.request(
            "POST", f"/organizations/{org(fake)}/checklists/{cid}/clone", json={"title": "x"}
        )
    assert (info.value.status, info.value.errors) == (
        422,
        {"tenant": ["The tenant field is required."]},
    )
    with pytest.raises(InvalidArgument) as local:
        await client.blueprints.clone(org(fake), cid, title="t" * 251)
    assert local.value.attempts == 0
    with pytest.raises(NotFoundError):
        await client.blueprints.clone(org(fake), "0" * 32)
    assert fake.count("POST", "/clone") == 2  # the local rejection sent nothing


async def test_publish_restore_and_permanent_delete(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    made = await client.blueprints.create(org(fake), title="Short-lived")
    assert made["status"] == "draft"
    published = await client.blueprints.publish(org(fake), made["id"])
    assert published is not None
    assert published["status"] == "published"
    # not archived yet: the permanent delete is refused
    with pytest.raises(NotFoundError):
        await client.blueprints.delete(org(fake), made["id"])
    await client.blueprints.archive(org(fake), made["id"])
    with pytest.raises(NotFoundError):  # an archived blueprint 404s on its other routes
        await client.blueprints.publish(org(fake), made["id"])
    restored = await client.blueprints.restore(org(fake), made["id"])
    assert restored is not None
    assert restored["archived_at"] is None
    assert made["id"] in [b["id"] async for b in client.blueprints.list(org(fake))]
    await client.blueprints.archive(org(fake), made["id"])
    assert await client.blueprints.delete(org(fake), made["id"]) == []
    assert made["id"] not in [
        b["id"] async for b in client.blueprints.list(org(fake), archived="true")
    ]
    with pytest.raises(NotFoundError):
        await client.blueprints.restore(org(fake), made["id"])


async def test_permanent_delete_is_admin_only(fake: FakeTallyfy, client: TallyfyClient) -> None:
    cid = first_checklist(fake)
    await client.blueprints.archive(org(fake), cid)
    fake.data.org_state(org(fake)).org["user_role"] = "standard"  # type: ignore[union-attr]
    with pytest.raises(PermissionDeniedError) as info:
        await client.blueprints.delete(org(fake), cid)
    assert info.value.status == 403
    assert cid in [b["id"] async for b in client.blueprints.list(org(fake), archived="only")]


async def test_repeat_safety(fake: FakeTallyfy, client: TallyfyClient) -> None:
    cid = first_checklist(fake)
    # publish sets state: re-sent by our retry layer after the answer is lost ("malformed_json"
    # truncates the body of an applied request; aiohttp never re-sends on that by itself)
    fake.inject("malformed_json", method="PUT", path_contains="/publish")
    await client.blueprints.publish(org(fake), cid)
    assert (fake.count("PUT", "/publish"), client.stats.retries) == (2, 1)
    # clone and the permanent delete are not: OutcomeUnknownError after one request
    fake.inject("reset_after_apply", method="POST", path_contains="/clone")
    with pytest.raises(OutcomeUnknownError):
        await client.blueprints.clone(org(fake), cid)
    assert fake.count("POST", "/clone") == 1
    await client.blueprints.archive(org(fake), cid)
    fake.inject("malformed_json", method="DELETE", path_contains="/delete")
    with pytest.raises(OutcomeUnknownError):
        await client.blueprints.delete(org(fake), cid)
    assert (fake.count("DELETE", "/delete"), client.stats.retries) == (1, 1)


async def test_permanent_delete_is_not_resent_after_a_lost_answer(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    cid = first_checklist(fake)
    await client.blueprints.archive(org(fake), cid)
    fake.inject("reset_after_apply", method="DELETE", path_contains="/delete")
    with pytest.raises(OutcomeUnknownError):
        await client.blueprints.delete(org(fake), cid)
    assert fake.count("DELETE", "/delete") == 1
