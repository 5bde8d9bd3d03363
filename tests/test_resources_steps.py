"""Blueprint steps and form fields end to end against FakeTallyfy: step CRUD, clone, reorder,
the back-filled update that never unassigns a step, captures create/update/move/delete,
kick-off field delete, and the 422/403/404 answers the sources describe."""

from __future__ import annotations

from typing import Any

import pytest
from _hostile import hostile_server
from _resources_helpers import org
from aiohttp import web

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    TallyfyClient,
    TallyfyError,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


def checklist(fake: FakeTallyfy, k: int = 0) -> str:
    return str(fake.data.org_state(org(fake)).checklists[k]["id"])  # type: ignore[union-attr]


def step_titles(fake: FakeTallyfy, cid: str) -> list[str]:
    return [s["title"] for s in area_of(fake, org(fake)).steps[cid]]


async def test_step_create_get_clone_reorder_delete(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    o, cid = org(fake), checklist(fake)
    made = await client.steps.create(o, cid, title="Sign contract", step_type="approval")
    posted = next(r for r in fake.requests if r.method == "POST")
    assert posted.json() == {"title": "Sign contract", "step_type": "approval", "checklist_id": cid}
    assert (posted.status, made["position"], made["step_type"]) == (201, 6, "approval")
    got = await client.steps.get(o, cid, made["id"])
    assert (got["title"], got["assignees"], got["captures"]) == ("Sign contract", [], [])
    copy = await client.steps.clone(o, cid, made["id"])
    assert copy["id"] != made["id"]
    assert copy["position"] == 7
    moved = await client.steps.reorder(o, cid, copy["id"], 1)
    assert moved["position"] == 1
    assert step_titles(fake, cid)[:2] == ["Sign contract", "Collect step 1"]
    await client.steps.delete(o, cid, copy["id"])
    assert step_titles(fake, cid) == [
        "Collect step 1", "Review step 2", "Approve step 3", "Notify step 4", "Archive step 5",
        "Sign contract",
    ]  # fmt: skip
    assert [s["position"] for s in area_of(fake, o).steps[cid]] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(NotFoundError):
        await client.steps.get(o, cid, copy["id"])
    with pytest.raises(ValidationError) as info:
        await client.steps.reorder(o, cid, made["id"], 40)
    assert info.value.errors == {"position": ["The position must be between 1 and 6."]}


async def test_step_create_refuses_what_the_api_drops(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    o, cid = org(fake), checklist(fake)
    for bad in ({"description": "x"}, {"position": 1}, {"alias": "a"}, {"step_type": "memo"}):
        with pytest.raises(InvalidArgument) as info:
            await client.steps.create(o, cid, title="T", **bad)
        assert info.value.attempts == 0
    with pytest.raises(InvalidArgument):
        await client.steps.reorder(o, cid, "a" * 32, 0)
    assert fake.requests == []
    # the fake's own 422 for a create without checklist_id (N8N live test sends it)
    with pytest.raises(ValidationError) as server:
        await client.request(
            "POST", f"/organizations/{o}/checklists/{cid}/steps", json={"title": "T"}
        )
    assert server.value.errors == {"checklist_id": ["The checklist id field is required."]}


async def test_update_backfills_title_and_assignees(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    o, cid = org(fake), checklist(fake)
    step = await client.steps.create(
        o, cid, title="Review", assignees=[fake.data.me_id], guests=["g@example.org"]
    )
    updated = await client.steps.update(o, cid, step["id"], summary="Check the numbers")
    put = next(r for r in fake.requests if r.method == "PUT")
    assert put.json() == {
        "summary": "Check the numbers",
        "title": "Review",
        "assignees": [fake.data.me_id],
        "guests": ["g@example.org"],
        "groups": [],
    }
    assert (updated["assignees"], updated["guests"]) == ([fake.data.me_id], ["g@example.org"])
    assert fake.count("GET", f"/steps/{step['id']}") == 1
    # everything given: no read first
    await client.steps.update(o, cid, step["id"], title="R2", assignees=[], guests=[], groups=[])
    assert fake.count("GET", f"/steps/{step['id']}") == 1
    # what the back-fill protects against: the fake, like api-v2, clears absent buckets
    raw = await client.request(
        "PUT",
        f"/organizations/{o}/checklists/{cid}/steps/{step['id']}",
        json={"title": "R3", "assignees": [fake.data.me_id]},
    )
    assert raw.data["data"]["guests"] == []
    with pytest.raises(ValidationError) as info:
        await client.request(
            "PUT", f"/organizations/{o}/checklists/{cid}/steps/{step['id']}", json={}
        )
    assert info.value.errors == {"title": ["The title field is required."]}


async def test_capture_lifecycle_and_rules(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o, cid = org(fake), checklist(fake)
    steps = area_of(fake, o).steps[cid]
    first, second = steps[0]["id"], steps[1]["id"]
    options: list[dict[str, Any]] = [{"text": "High"}, {"text": "Low"}]
    field = await client.captures.create(
        o, cid, first, field_type="dropdown", label="Priority", required=True, options=options
    )
    assert field["options"] == [{"text": "High", "id": 1}, {"text": "Low", "id": 2}]
    assert fake.count("POST", "/captures", status=201) == 1
    updated = await client.captures.update(
        o, cid, first, field["id"], field_type="dropdown", label="Urgency", required=False,
        options=options,
    )  # fmt: skip
    assert (updated["label"], updated["required"]) == ("Urgency", False)
    with pytest.raises(ValidationError) as changed:
        await client.captures.update(
            o, cid, first, field["id"], field_type="text", label="Urgency", required=False
        )
    assert changed.value.errors == {"field_type": ["The field type cannot be changed."]}
    moved = await client.captures.move(o, cid, first, field["id"], to_step_id=second)
    assert moved["step_id"] == second
    assert next(c["id"] for c in area_of(fake, o).steps[cid][1]["captures"]) == field["id"]
    with pytest.raises(NotFoundError):  # no longer on the first step
        await client.captures.delete(o, cid, first, field["id"])
    await client.captures.delete(o, cid, second, field["id"])
    assert field["id"] not in [c["id"] for s in area_of(fake, o).steps[cid] for c in s["captures"]]


async def test_capture_local_checks_send_nothing(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o, cid = org(fake), checklist(fake)
    step = area_of(fake, o).steps[cid][0]["id"]
    cases: list[dict[str, Any]] = [
        {"field_type": "number", "label": "N", "required": True},
        {"field_type": "text", "label": "", "required": True},
        {"field_type": "text", "label": "T", "required": "yes"},
        {"field_type": "radio", "label": "R", "required": True, "options": [{"text": "a"}]},
        {"field_type": "table", "label": "T", "required": True},
        {"field_type": "text", "label": "T", "required": True, "description": "help"},
    ]
    for case in cases:
        with pytest.raises(InvalidArgument) as info:
            await client.captures.create(o, cid, step, **case)
        assert info.value.attempts == 0
    assert fake.requests == []
    with pytest.raises(ValidationError) as server:
        await client.request(
            "POST",
            f"/organizations/{o}/checklists/{cid}/steps/{step}/captures",
            json={"field_type": "text", "label": "T"},
        )
    assert server.value.errors == {"required": ["The required field must be true or false."]}


async def test_kickoff_field_delete_and_automation_guard(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    o, cid = org(fake), checklist(fake)
    area = area_of(fake, o)
    client_name, start_date = (f["id"] for f in area.prerun[cid])
    steps = area.steps[cid]
    run = await client.runs.launch(o, cid, prerun={client_name: "Kim", start_date: "2026-01-02"})
    await client.automations.create(
        o, cid, automated_alias="Show review when Kim",
        conditions=[{"conditionable_type": "Prerun", "conditionable_id": client_name,
                     "operation": "equals", "statement": "Kim", "logic": "and"}],
        then_actions=[{"action_type": "visibility", "action_verb": "show",
                       "target_step_id": steps[1]["id"]}],
    )  # fmt: skip
    with pytest.raises(PermissionDeniedError):
        await client.captures.delete_kickoff_field(o, cid, client_name)
    with pytest.raises(ValidationError) as info:  # the rule depends on this step
        await client.steps.delete(o, cid, steps[1]["id"])
    assert info.value.errors == {
        "step": ["Cannot delete this step because there are rules dependent on it."]
    }
    await client.captures.delete_kickoff_field(o, cid, start_date)
    assert [f["label"] for f in (await client.blueprints.get(o, cid))["prerun"]] == ["Client name"]
    assert (await client.runs.get(o, run["id"]))["prerun"] == {client_name: "Kim"}
    with pytest.raises(NotFoundError):
        await client.captures.delete_kickoff_field(o, cid, start_date)


async def test_archived_blueprint_hides_its_steps(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o, cid = org(fake), checklist(fake)
    step = area_of(fake, o).steps[cid][0]["id"]
    await client.blueprints.archive(o, cid)
    with pytest.raises(NotFoundError):
        await client.steps.get(o, cid, step)
    with pytest.raises(NotFoundError):
        await client.steps.create(o, cid, title="Late")
    with pytest.raises(NotFoundError) as other_org:  # an org the user is not in
        await client.steps.get("f" * 32, cid, step)
    assert other_org.value.code == "RESOURCE_NOT_FOUND"


async def test_repeat_safety(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o, cid = org(fake), checklist(fake)
    step = area_of(fake, o).steps[cid][0]
    # reorder and update set values: re-sent after a lost answer, same end state
    fake.inject("malformed_json", method="PUT", path_contains="/reorder")
    assert (await client.steps.reorder(o, cid, step["id"], 3))["position"] == 3
    assert (fake.count("PUT", "/reorder"), client.stats.retries) == (2, 1)
    # a move and a step delete are not: after them a repeat would answer 404
    second = area_of(fake, o).steps[cid][1]["id"]
    capture = step["captures"][0]["id"]
    fake.inject("malformed_json", method="PUT", path_contains="/move-out")
    with pytest.raises(OutcomeUnknownError):
        await client.captures.move(o, cid, step["id"], capture, to_step_id=second)
    # (a 204 has no body to truncate: an answer that never comes stands in for the lost one)
    fake.inject("hang", method="DELETE", path_contains="/steps/", hang_seconds=120)
    with pytest.raises(OutcomeUnknownError):
        await client.steps.delete(o, cid, second)
    assert (fake.count("PUT", "/move-out"), fake.count("DELETE"), client.stats.retries) == (1, 1, 1)
    # step and capture creation and step clone are POSTs: never re-sent
    for call in (
        lambda: client.steps.create(o, cid, title="Once"),
        lambda: client.steps.clone(o, cid, step["id"]),
        lambda: client.captures.create(
            o, cid, step["id"], field_type="text", label="L", required=False
        ),
    ):
        fake.inject("reset_after_apply", method="POST")
        with pytest.raises(OutcomeUnknownError):
            await call()
    assert fake.count("POST") == 3


async def test_move_unconfirmed_by_the_answer_is_an_error() -> None:
    stale = {"data": {"id": "c" * 32, "step_id": "a" * 32}}  # the field still on its old step

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(stale)

    async with hostile_server(handler) as server:
        client = TallyfyClient("t", base_url=server.base_url)
        async with client:
            with pytest.raises(TallyfyError) as info:
                await client.captures.move(
                    "o" * 32, "b" * 32, "a" * 32, "c" * 32, to_step_id="d" * 32
                )
    assert "read the step" in str(info.value)
    assert [(s.method, s.path) for s in server.seen] == [
        ("PUT", f"/api/organizations/{'o' * 32}/checklists/{'b' * 32}/steps/{'a' * 32}"
                f"/captures/{'c' * 32}/move-out")
    ]  # fmt: skip
