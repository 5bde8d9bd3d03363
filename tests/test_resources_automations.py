"""Automations and tag associations end to end against FakeTallyfy: rule create/list/update/
delete with the vocabulary checks (local and server), tagging blueprints and processes with
the required ``tag_type``, archived subjects refused, and numeric association ids."""

from __future__ import annotations

from typing import Any

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    OutcomeUnknownError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


def checklist(fake: FakeTallyfy) -> str:
    return str(fake.data.org_state(org(fake)).checklists[0]["id"])  # type: ignore[union-attr]


def rule_parts(fake: FakeTallyfy, cid: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    steps = area_of(fake, org(fake)).steps[cid]
    conditions = [
        {"conditionable_type": "Step", "conditionable_id": steps[0]["id"],
         "operation": "completed", "statement": "any_time", "logic": "and"}
    ]  # fmt: skip
    actions = [{"action_type": "status", "action_verb": "reopen", "target_step_id": steps[2]["id"]}]
    return conditions, actions


async def test_rule_create_list_update_delete(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o, cid = org(fake), checklist(fake)
    conditions, actions = rule_parts(fake, cid)
    rule = await client.automations.create(
        o, cid, automated_alias="Reopen 3 when 1 is done", conditions=conditions,
        then_actions=actions,
    )  # fmt: skip
    sent = next(r for r in fake.requests if r.method == "POST")
    assert (sent.status, sent.json()) == (
        201,
        {"automated_alias": "Reopen 3 when 1 is done", "conditions": conditions,
         "then_actions": actions},
    )  # fmt: skip
    assert [r["id"] for r in await client.automations.list(o, cid)] == [rule["id"]]
    hide = [{"action_type": "visibility", "action_verb": "hide",
             "target_step_id": actions[0]["target_step_id"]}]  # fmt: skip
    updated = await client.automations.update(
        o, cid, rule["id"], automated_alias="Hide 3", conditions=conditions, then_actions=hide
    )
    assert (updated["automated_alias"], updated["then_actions"]) == ("Hide 3", hide)
    await client.automations.delete(o, cid, rule["id"])
    assert await client.automations.list(o, cid) == []
    with pytest.raises(NotFoundError):
        await client.automations.delete(o, cid, rule["id"])


async def test_rule_checks(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o, cid = org(fake), checklist(fake)
    conditions, actions = rule_parts(fake, cid)
    no_statement = [{k: v for k, v in conditions[0].items() if k != "statement"}]
    bad_pair = [dict(actions[0], action_type="visibility")]  # reopen belongs to "status"
    for kwargs in (
        {"conditions": [dict(conditions[0], conditionable_type="step")]},
        {"conditions": no_statement},
        {"then_actions": bad_pair},
        {"then_actions": [dict(actions[0], action_type="deadline", action_verb="deadline")]},
        {"conditions": []},
        {"condition_logic": "and"},
    ):
        call: dict[str, Any] = {"conditions": conditions, "then_actions": actions, **kwargs}
        with pytest.raises(InvalidArgument) as info:
            await client.automations.create(o, cid, automated_alias="r", **call)
        assert info.value.attempts == 0
    assert fake.requests == []
    # ids that are not the blueprint's: the fake's 422
    other = [dict(actions[0], target_step_id="f" * 32)]
    with pytest.raises(ValidationError) as server:
        await client.automations.create(
            o, cid, automated_alias="r", conditions=conditions, then_actions=other
        )
    assert server.value.errors == {
        "then_actions.0.target_step_id": ["The selected step is invalid."]
    }


async def test_tag_blueprint_and_process(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o, cid = org(fake), checklist(fake)
    tag = next(iter(area_of(fake, o).tags))
    link = await client.tag_associations.add(o, tag, cid, "Checklist")
    sent = next(r for r in fake.requests if r.method == "POST")
    assert sent.json() == {
        "tag_id": tag, "subject_id": cid, "subject_type": "Checklist", "tag_type": "private"
    }  # fmt: skip
    assert (sent.status, link["id"]) == (201, 1)
    again = await client.tag_associations.add(o, tag, cid, "Checklist")
    assert again["id"] == 1  # one row per tag and subject
    run = fake.data.org_state(o).runs[0]["id"]  # type: ignore[union-attr]
    run_link = await client.tag_associations.add(o, tag, run, "Run")
    assert run_link["id"] == 2
    await client.tag_associations.remove(o, run_link["id"])
    with pytest.raises(NotFoundError):
        await client.tag_associations.remove(o, str(run_link["id"]))
    # a public tag_type checks another table: this private tag is "invalid" there
    with pytest.raises(ValidationError) as public:
        await client.tag_associations.add(o, tag, cid, "Checklist", tag_type="public")
    assert public.value.errors == {"tag_id": ["The selected tag id is invalid."]}
    # archived subjects
    await client.blueprints.archive(o, cid)
    with pytest.raises(ValidationError) as archived:
        await client.tag_associations.add(o, tag, cid, "Checklist")
    assert archived.value.errors == {"subject_id": ["Subject not found"]}
    await client.runs.archive(o, run)
    with pytest.raises(ValidationError) as archived_run:
        await client.tag_associations.add(o, tag, run, "Run")
    assert archived_run.value.errors == {"subject_id": ["Cannot update archived processes."]}


async def test_tags_include_lists_the_associations(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    """``with=tags`` on a blueprint or a process lists its tag associations (``id`` is the
    association id ``remove`` takes): the official SDK's ``untag_template``/``untag_process``
    read it there, as ``{"data": [...]}`` or a bare list."""
    o, cid = org(fake), checklist(fake)
    tag = next(iter(area_of(fake, o).tags))
    run = fake.data.org_state(o).runs[0]["id"]  # type: ignore[union-attr]
    on_blueprint = await client.tag_associations.add(o, tag, cid, "Checklist")
    on_run = await client.tag_associations.add(o, tag, run, "Run")
    blueprint = await client.blueprints.get(o, cid, with_="steps,tags")
    assert blueprint["tags"] == {"data": [on_blueprint]}
    assert "tags" not in await client.blueprints.get(o, cid)
    assert (await client.runs.get(o, run, with_="tags"))["tags"] == {"data": [on_run]}
    await client.tag_associations.remove(o, on_run["id"])
    assert (await client.runs.get(o, run, with_=["tags"]))["tags"] == {"data": []}


async def test_tag_local_checks(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o, cid = org(fake), checklist(fake)
    tag = next(iter(area_of(fake, o).tags))
    for args, kwargs in (
        ((tag, cid, "checklist"), {}),
        ((tag, cid, "Task"), {}),
        ((tag, cid, "Run"), {"tag_type": "shared"}),
    ):
        with pytest.raises(InvalidArgument):
            await client.tag_associations.add(o, *args, **kwargs)
    for bad in (tag, "-1", True, "١٢"):
        with pytest.raises(InvalidArgument) as info:
            await client.tag_associations.remove(o, bad)  # type: ignore[arg-type]
        assert info.value.errors["association_id"]
    assert fake.requests == []
    # what the numeric check prevents: the server casts a hex id to 0 and matches nothing
    with pytest.raises(NotFoundError):
        await client.request("DELETE", f"/organizations/{o}/checklists/tags/{tag}")


async def test_repeat_safety(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o, cid = org(fake), checklist(fake)
    conditions, actions = rule_parts(fake, cid)
    fake.inject("reset_after_apply", method="POST", path_contains="/automated-actions")
    with pytest.raises(OutcomeUnknownError):
        await client.automations.create(
            o, cid, automated_alias="r", conditions=conditions, then_actions=actions
        )
    assert fake.count("POST", "/automated-actions") == 1
    rule = (await client.automations.list(o, cid))[0]
    fake.inject("malformed_json", method="PUT", path_contains="/automated-actions")
    await client.automations.update(
        o, cid, rule["id"], automated_alias="r2", conditions=conditions, then_actions=actions
    )
    assert (fake.count("PUT", "/automated-actions"), client.stats.retries) == (2, 1)
    assert [r["automated_alias"] for r in await client.automations.list(o, cid)] == ["r2"]
    tag = next(iter(area_of(fake, o).tags))
    fake.inject("reset_after_apply", method="POST", path_contains="/checklists/tags")
    with pytest.raises(OutcomeUnknownError):
        await client.tag_associations.add(o, tag, cid, "Checklist")
    assert fake.count("POST", "/checklists/tags") == 1
