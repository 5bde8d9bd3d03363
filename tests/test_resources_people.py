"""Users, guests (email in the path) and groups end to end: every page, writes, 201/204, 422,
local rejection before sending."""

from __future__ import annotations

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


def pages(fake: FakeTallyfy, suffix: str) -> list[tuple[str, str]]:
    return [
        (r.query["page"], r.query["per_page"])
        for r in fake.requests
        if r.method == "GET" and r.path.endswith(suffix)
    ]


async def test_users_every_page_and_writes(fake: FakeTallyfy, client: TallyfyClient) -> None:
    area_of(fake, org(fake)).add_members(150)
    expected = [m["id"] for m in fake.data.members(org(fake))]
    assert len(expected) == 155
    assert [u["id"] async for u in client.users.list(org(fake))] == expected
    assert pages(fake, "/users") == [("1", "100"), ("2", "100")]  # never the 9999 default
    uid = expected[-1]
    assert (await client.users.get(org(fake), uid))["id"] == uid
    assert (await client.users.set_role(org(fake), uid, "admin"))["role"] == "admin"
    await client.users.disable(org(fake), uid)
    assert (await client.users.get(org(fake), uid))["status"] == "disabled"
    assert (await client.users.enable(org(fake), uid) or {})["status"] == "active"
    invited = await client.users.invite(
        org(fake), email="new.person@example.com", first_name="New", last_name="Person"
    )
    assert fake.count("POST", "/users/invite", status=201) == 1
    assert invited["email"] == "new.person@example.com"
    with pytest.raises(ValidationError) as dup:
        await client.users.invite(
            org(fake), email="new.person@example.com", first_name="N", last_name="P"
        )
    assert dup.value.status == 422
    assert dup.value.errors == {"email": ["The email has already been taken."]}
    before = len(fake.requests)
    with pytest.raises(InvalidArgument):
        await client.users.invite(org(fake), email="not-an-email", first_name="a", last_name="b")
    with pytest.raises(InvalidArgument):
        await client.users.set_role(org(fake), uid, "owner")
    assert len(fake.requests) == before
    with pytest.raises(NotFoundError):
        await client.users.get(org(fake), 1)


async def test_guests_by_email_every_page(fake: FakeTallyfy, client: TallyfyClient) -> None:
    made = area_of(fake, org(fake)).add_guests(150)
    emails = [g["email"] async for g in client.guests.list(org(fake))]
    assert len(emails) == 152
    assert emails[2:] == [g["email"] for g in made]
    assert pages(fake, "/guests") == [("1", "100"), ("2", "100")]
    email = made[0]["email"]  # has a '+': must be encoded in the path
    assert "+" in email
    guest = await client.guests.get(org(fake), email)
    assert guest["email"] == email
    raw = [r.raw_path for r in fake.requests if r.path.endswith(email)]
    assert raw == [
        f"/api/organizations/{org(fake)}/guests/{email.replace('+', '%2B').replace('@', '%40')}"
    ]
    created = await client.guests.create(org(fake), email="x.y@partner.example", first_name="X")
    assert fake.count("POST", "/guests", status=201) == 1
    assert created["first_name"] == "X"
    updated = await client.guests.update(org(fake), "x.y@partner.example", last_name="Y")
    assert updated["last_name"] == "Y"
    with pytest.raises(ValidationError) as dup:
        await client.guests.create(org(fake), email="x.y@partner.example")
    assert dup.value.status == 422
    await client.guests.disable(org(fake), email)
    assert (await client.guests.get(org(fake), email))["status"] == "disabled"
    await client.guests.enable(org(fake), email)
    await client.guests.delete(org(fake), "x.y@partner.example")
    assert fake.count("DELETE", "/guests/x.y@partner.example", status=200) == 1
    with pytest.raises(NotFoundError):
        await client.guests.get(org(fake), "x.y@partner.example")
    before = len(fake.requests)
    with pytest.raises(InvalidArgument):
        await client.guests.get(org(fake), "../users")
    with pytest.raises(InvalidArgument):
        await client.guests.create(org(fake), email="no at sign")
    assert len(fake.requests) == before


async def test_groups_every_page_and_writes(fake: FakeTallyfy, client: TallyfyClient) -> None:
    area_of(fake, org(fake)).add_groups(120)
    ids = [g["id"] async for g in client.groups.list(org(fake))]
    assert ids == list(area_of(fake, org(fake)).groups)
    assert len(ids) == 122
    assert pages(fake, "/groups") == [("1", "100"), ("2", "100")]
    me = fake.data.me_id
    group = await client.groups.create(
        org(fake), name="Finance", description="Money", members=[me], guests=["aud@ext.example"]
    )
    assert fake.count("POST", "/groups", status=201) == 1
    assert (group["members"], group["guests"]) == ([me], ["aud@ext.example"])
    with pytest.raises(ValidationError) as info:
        await client.groups.create(org(fake), name="Ghosts", description="x", members=[1])
    assert info.value.status == 422
    assert info.value.errors == {"members": ["The selected members is invalid."]}
    renamed = await client.groups.update(org(fake), group["id"], name="Finance EU")
    assert renamed["name"] == "Finance EU"
    assert (await client.groups.get(org(fake), group["id"]))["name"] == "Finance EU"
    await client.groups.delete(org(fake), group["id"])
    with pytest.raises(NotFoundError):
        await client.groups.get(org(fake), group["id"])
