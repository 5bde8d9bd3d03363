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
from aiotallyfy.testing import FakeTallyfy, area_of

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


async def test_tags_auto_generated_filter_also_lifts_the_title_exclusion(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    """``tags.list(auto_generated=True)`` must return the auto-generated tags. api-v2
    ``TagsController::index`` (quoted by SDK 3.1.0 ``get_tags``; tallyfy/sdk#77) excludes
    titles ``(from|task|step):%`` unless ``all`` is the string ``true``, and that exclusion
    composes with the ``auto_generated`` filter, so the filter alone returns nothing."""
    area = area_of(fake, org(fake))
    plain, auto = area.add_tags(2)
    auto.update({"title": "task:Onboarding", "auto_generated": True})
    got = [t["id"] async for t in client.tags.list(org(fake), auto_generated=True)]
    assert got == [auto["id"]]
    assert fake.requests[-1].query["all"] == "true"
    assert fake.requests[-1].query["auto_generated"] == "true"
    assert plain["id"] in [t["id"] async for t in client.tags.list(org(fake))]


async def test_fake_tags_hides_auto_process_tags_unless_all_is_true(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    """The fake's ``GET .../tags`` as api-v2 ``TagsController::index`` (SDK ``get_tags``):
    ``all`` compared strictly with the string ``'true'``; ``auto_generated`` read with PHP's
    ``FILTER_VALIDATE_BOOLEAN`` (``yes``/``on``/``1``/``true``, anything else false)."""
    area = area_of(fake, org(fake))
    for tag in area.tags.values():
        tag["title"] = f"x{tag['title']}"
    plain, auto, step = area.add_tags(3)
    auto.update({"title": "from:Email", "auto_generated": True})
    step.update({"title": "step:Sign", "auto_generated": True})
    path = f"/organizations/{org(fake)}/tags"

    async def titles(**params: str) -> set[str]:
        response = await client.request("GET", path, params={"per_page": "100", **params})
        return {t["title"] for t in response.data["data"]}

    visible = {plain["title"], *(t["title"] for t in area.tags.values() if t["title"][0] == "x")}
    assert await titles() == visible
    assert await titles(all="True") == visible
    assert await titles(all="true") == visible | {"from:Email", "step:Sign"}
    assert await titles(all="true", auto_generated="yes") == {"from:Email", "step:Sign"}
    assert await titles(auto_generated="on") == set()
    assert await titles(all="true", auto_generated="no") == visible
