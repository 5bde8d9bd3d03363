"""Blueprints end to end: every page of blueprints and of steps (the steps route ignores
``without_pagination``), kick-off fields, form fields, create 201, update, archive, 422."""

from __future__ import annotations

import pytest
from _resources_helpers import org

from aiotallyfy import TallyfyClient, ValidationError
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


async def test_list_and_steps_every_page(fake: FakeTallyfy, client: TallyfyClient) -> None:
    area = area_of(fake, org(fake))
    area.add_checklists(120)
    ids = [b["id"] async for b in client.blueprints.list(org(fake))]
    assert ids == [c["id"] for c in fake.data.org_state(org(fake)).checklists]  # type: ignore[union-attr]
    assert len(ids) == 123
    assert fake.count("GET", "/checklists") == 2
    cid = ids[0]
    area.add_steps(cid, 125)  # 5 seeded + 125
    steps = [s async for s in client.blueprints.steps(org(fake), cid)]
    assert [s["position"] for s in steps] == list(range(1, 131))
    step_requests = [r for r in fake.requests if r.path.endswith("/steps")]
    assert [r.query for r in step_requests] == [
        {"per_page": "100", "page": "1"},
        {"per_page": "100", "page": "2"},
    ]
    fields = await client.blueprints.form_fields(org(fake), cid)
    assert len(fields["form_fields"]) == 130
    assert fields["form_fields"][0]["field_type"] == "textarea"


async def test_get_kickoff_create_update_archive(fake: FakeTallyfy, client: TallyfyClient) -> None:
    cid = fake.data.org_state(org(fake)).checklists[0]["id"]  # type: ignore[union-attr]
    blueprint = await client.blueprints.get(org(fake), cid, with_=["steps"])
    assert [f["label"] for f in blueprint["prerun"]] == ["Client name", "Start date"]
    assert len(blueprint["steps"]["data"]) == 5
    kickoff = await client.blueprints.kickoff_fields(org(fake), cid)
    assert kickoff == blueprint["prerun"]
    assert fake.requests[0].query == {"with": "steps"}
    made = await client.blueprints.create(org(fake), title="Vendor onboarding")
    assert fake.count("POST", "/checklists", status=201) == 1
    assert (made["title"], made["type"]) == ("Vendor onboarding", "procedure")
    with pytest.raises(ValidationError) as info:
        await client.blueprints.create(org(fake), title="No type", type="")
    assert (info.value.status, info.value.errors) == (
        422,
        {"type": ["The type field is required."]},
    )
    updated = await client.blueprints.update(org(fake), made["id"], summary="For vendors")
    assert updated["summary"] == "For vendors"
    await client.blueprints.archive(org(fake), made["id"])
    assert fake.count("DELETE", "/checklists/", status=204) == 1
    assert made["id"] not in [b["id"] async for b in client.blueprints.list(org(fake))]
    assert [b["id"] async for b in client.blueprints.list(org(fake), archived="only")] == [
        made["id"]
    ]
