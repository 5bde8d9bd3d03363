"""Tags and folders end to end: every page, create 201, update, delete 204, 422, local checks."""

from __future__ import annotations

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy
from aiotallyfy.testing._fake_store import area_of

pytestmark = pytest.mark.virtual_time


async def test_tags(fake: FakeTallyfy, client: TallyfyClient) -> None:
    area_of(fake, org(fake)).add_tags(210)
    ids = [t["id"] async for t in client.tags.list(org(fake))]
    assert ids == list(area_of(fake, org(fake)).tags)
    assert len(ids) == 213
    assert fake.count("GET", "/tags") == 3
    tag = await client.tags.create(org(fake), title="urgent", color="#ff0000")
    assert fake.count("POST", "/tags", status=201) == 1
    assert (await client.tags.get(org(fake), tag["id"]))["color"] == "#ff0000"
    with pytest.raises(ValidationError) as dup:
        await client.tags.create(org(fake), title="urgent")
    assert (dup.value.status, dup.value.errors) == (
        422,
        {"title": ["The title has already been taken."]},
    )
    assert (await client.tags.update(org(fake), tag["id"], color="#00ff00"))["color"] == "#00ff00"
    await client.tags.delete(org(fake), tag["id"])
    assert fake.count("DELETE", "/tags/", status=204) == 1
    with pytest.raises(NotFoundError):
        await client.tags.get(org(fake), tag["id"])
    before = len(fake.requests)
    with pytest.raises(InvalidArgument):
        await client.tags.create(org(fake), title="x" * 31)
    assert len(fake.requests) == before


async def test_folders(fake: FakeTallyfy, client: TallyfyClient) -> None:
    area_of(fake, org(fake)).add_folders(101)
    ids = [f["id"] async for f in client.folders.list(org(fake))]
    assert len(ids) == 103
    assert ids == list(area_of(fake, org(fake)).folders)
    assert fake.count("GET", "/folders") == 2
    folder = await client.folders.create(org(fake), name="Clients")
    child = await client.folders.create(org(fake), name="EU", parent_id=folder["id"])
    assert child["parent_id"] == folder["id"]
    with pytest.raises(ValidationError) as info:
        await client.folders.create(org(fake), name="Orphan", parent_id="f" * 32)
    assert info.value.status == 422
    run_id = fake.data.runs(org(fake))[0]["id"]
    relation = await client.folders.add_object(org(fake), folder["id"], run_id)
    assert (relation["subject_type"], relation["subject_id"]) == ("Run", run_id)
    relations = area_of(fake, org(fake)).folder_objects
    assert relations[str(relation["id"])]["folder_id"] == folder["id"]
    await client.folders.remove_object(org(fake), relation["id"])
    assert str(relation["id"]) not in relations
    with pytest.raises(InvalidArgument):
        await client.folders.add_object(org(fake), folder["id"], run_id, subject_type="run")
    renamed = await client.folders.update(org(fake), folder["id"], name="Customers")
    assert renamed["name"] == "Customers"
    await client.folders.delete(org(fake), child["id"])
    with pytest.raises(NotFoundError):
        await client.folders.get(org(fake), child["id"])
