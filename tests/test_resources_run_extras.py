"""Process and task extras end to end against FakeTallyfy: the kick-off form (complete,
reopen), export, the activity feed (every page, newest first), a run's form fields (one
object) and setting stored values as a member or a guest, task clone and bot comments."""

from __future__ import annotations

from typing import Any

import pytest
from _resources_helpers import org

from aiotallyfy import (
    InvalidArgument,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    ServerError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, area_of
from aiotallyfy.testing._fake_design_state import design_of

pytestmark = pytest.mark.virtual_time


async def launch(fake: FakeTallyfy, client: TallyfyClient, **prerun: str) -> dict[str, Any]:
    o = org(fake)
    cid = fake.data.org_state(o).checklists[0]["id"]  # type: ignore[union-attr]
    fields = {f["label"]: f["id"] for f in area_of(fake, o).prerun[cid]}
    run = await client.runs.launch(o, cid, prerun={fields[k]: v for k, v in prerun.items()})
    return dict(run)


async def test_kickoff_complete_and_reopen(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o = org(fake)
    run = await launch(fake, client, **{"Client name": "Kim"})
    done = await client.runs.complete_kickoff(o, run["id"])
    assert done is not None
    assert (done["prerun_status"], done["prerun_completed_by"]) == ("completed", fake.data.me_id)
    with pytest.raises(ValidationError) as twice:
        await client.runs.complete_kickoff(o, run["id"])
    assert twice.value.errors == {"prerun": ["The kick-off form is already completed."]}
    reopened = await client.runs.reopen_kickoff(o, run["id"])
    assert reopened is not None
    assert reopened["prerun_status"] is None
    with pytest.raises(ValidationError):
        await client.runs.reopen_kickoff(o, run["id"])
    # a required kick-off field emptied after launch blocks completion
    fake.data.org_state(o).runs[-1]["prerun"] = {}  # type: ignore[union-attr]
    with pytest.raises(ValidationError) as missing:
        await client.runs.complete_kickoff(o, run["id"])
    assert list(missing.value.errors.values()) == [["Client name is required"]]
    with pytest.raises(NotFoundError):
        await client.runs.complete_kickoff(o, "0" * 32)
    assert [(r.method, r.body) for r in fake.requests if r.path.endswith("/complete-prerun")][
        :2
    ] == [("POST", b""), ("POST", b"")]


async def test_export_and_activity_feed(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o = org(fake)
    run = await launch(fake, client, **{"Client name": "Kim"})
    exported = await client.runs.export(o, run["id"])
    assert exported["data"]["id"] == run["id"]
    assert [t["title"] for t in exported["data"]["tasks"]["data"]][:2] == [
        "Collect step 1",
        "Review step 2",
    ]
    await client.runs.complete_kickoff(o, run["id"])
    design_of(fake, o).add_activities(
        fake.data.org_state(o),
        run["id"],
        45,
        at="2026-01-01T00:00:00.000Z",  # type: ignore[arg-type]
    )
    feed = [a async for a in client.runs.activity(o, run["id"], sort="-created_at")]
    assert len(feed) == 46
    assert feed[0]["verb"] == ["completed"]
    assert feed[0]["auditable_id"] == run["id"]  # the kick-off, newest
    pages = [r.query for r in fake.requests if r.path.endswith("/activity-feeds")]
    assert pages == [
        {"entity_type": "run", "entity_id": run["id"], "sort": "-created_at",
         "per_page": "100", "page": "1"}
    ]  # fmt: skip
    only_tasks = [a async for a in client.runs.activity(o, run["id"], type="Task")]
    assert len(only_tasks) == 45
    with pytest.raises(NotFoundError):
        await client.runs.activity(o, "0" * 32).to_list()
    with pytest.raises(InvalidArgument) as local:
        client.runs.activity_feed(o, entity_type="process")
    assert local.value.attempts == 0


async def test_run_form_fields_and_values(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o = org(fake)
    run = await launch(fake, client, **{"Client name": "Kim"})
    form = await client.form_values.for_run(o, run["id"])
    assert (form["id"], form["title"]) == (run["id"], run["name"])
    kickoff = {f["label"]: f for f in form["ko_form_fields"]}
    assert kickoff["Client name"]["value"] == "Kim"
    assert kickoff["Start date"]["value_id"] is None
    notes = form["form_fields"][0]
    assert (notes["label"], notes["value"], notes["value_id"]) == ("Notes for step 1", None, None)
    # the kick-off value has a stored value: set it
    stored = await client.form_values.set(o, kickoff["Client name"]["value_id"], "Kim Lee")
    assert stored["value"] == "Kim Lee"
    assert (await client.runs.get(o, run["id"]))["prerun"][kickoff["Client name"]["id"]] == (
        "Kim Lee"
    )
    put = next(r for r in fake.requests if r.method == "PUT")
    assert put.json() == {"id": kickoff["Client name"]["value_id"], "form_value": "Kim Lee"}
    # a field that never had a value: the member route answers 500 (api-v2 #5010)
    with pytest.raises(ServerError) as no_value:
        await client.form_values.set(o, "ab" * 16, "x")
    assert no_value.value.status == 500
    assert fake.count("PUT", "/form-field/value") == 2  # a 500 is not retried
    # a step value written through the task, then overwritten through form-field/value
    task = (await client.runs.tasks(o, run["id"]).to_list())[0]
    await client.tasks.update(o, task["id"], run["id"], taskdata={notes["id"]: "first"})
    notes = (await client.form_values.for_run(o, run["id"]))["form_fields"][0]
    await client.form_values.set(o, notes["value_id"], "second")
    assert (await client.tasks.get(o, task["id"]))["taskdata"] == {notes["id"]: "second"}
    with pytest.raises(ValidationError) as wrong_shape:
        await client.form_values.set(o, notes["value_id"], ["not", "text"])
    assert wrong_shape.value.errors == {
        "form_value": ["The form value is not a valid textarea value."]
    }


async def test_guest_form_value(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o = org(fake)
    run = await launch(fake, client, **{"Client name": "Kim"})
    guest = next(iter(area_of(fake, o).guests.values()))["email"]
    task = (await client.runs.tasks(o, run["id"]).to_list())[0]
    form = await client.form_values.for_run(o, run["id"])
    notes_id = form["form_fields"][0]["id"]
    await client.tasks.update(o, task["id"], run["id"], taskdata={notes_id: "draft"})
    value_id = (await client.form_values.for_run(o, run["id"]))["form_fields"][0]["value_id"]
    with pytest.raises(PermissionDeniedError):  # not assigned to the guest yet
        await client.form_values.set_as_guest(o, guest, value_id, "from guest")
    await client.tasks.update(
        o, task["id"], run["id"], owners={"users": [fake.data.me_id], "guests": [guest]}
    )
    # create-or-update on the server, so marked idempotent: re-sent after a lost answer
    fake.inject("reset_after_apply", method="POST", path_contains="/form-field/value")
    await client.form_values.set_as_guest(o, guest, value_id, "from guest")
    assert fake.count("POST", "/form-field/value", status=200) == 1
    assert fake.count("POST", "/form-field/value", fault="reset_after_apply") == 1
    assert (await client.tasks.get(o, task["id"]))["taskdata"] == {notes_id: "from guest"}
    posted = [r for r in fake.requests if r.path.endswith("/form-field/value")]
    assert posted[-1].raw_path.endswith(f"/guests/{guest.replace('@', '%40').replace('+', '%2B')}"
                                        "/form-field/value")  # fmt: skip
    with pytest.raises(NotFoundError):
        await client.form_values.set_as_guest(o, "nobody@example.org", value_id, "x")
    with pytest.raises(InvalidArgument) as local:
        await client.form_values.set_as_guest(o, "not-an-email", value_id, "x")
    assert local.value.attempts == 0


async def test_task_clone_and_bot_comment(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o = org(fake)
    task = fake.data.task(o, fake.data.task_ids(o)[0])
    assert task is not None
    copy = await client.tasks.clone(o, task["id"])
    assert copy["id"] != task["id"]
    assert (copy["title"], copy["run_id"], copy["status"]) == (
        task["title"], task["run_id"], "not-started"
    )  # fmt: skip
    assert fake.count("POST", "/clone", status=201) == 1
    bot = await client.tasks.bot_comment(o, task["id"], "Reminder: due tomorrow")
    assert (bot["content"], bot["author_type"]) == ("Reminder: due tomorrow", "bot")
    assert [c["content"] for c in await client.comments.list(o, task["id"])] == [
        "Reminder: due tomorrow"
    ]
    with pytest.raises(InvalidArgument) as empty:
        await client.tasks.bot_comment(o, task["id"], " ")
    assert empty.value.attempts == 0
    with pytest.raises(ValidationError) as server:
        await client.request("POST", f"/organizations/{o}/tasks/{task['id']}/bot-comment", json={})
    assert server.value.errors == {"content": ["The content field is required."]}
    with pytest.raises(NotFoundError):
        await client.tasks.clone(o, "0" * 32)


async def test_repeat_safety(fake: FakeTallyfy, client: TallyfyClient) -> None:
    o = org(fake)
    run = await launch(fake, client, **{"Client name": "Kim"})
    # export stores nothing: retried like a read
    fake.inject("reset_after_apply", method="POST", path_contains="/export")
    await client.runs.export(o, run["id"])
    assert fake.count("POST", "/export") == 2
    # form values set a value: retried (the guest POST too)
    value_id = next(
        f["value_id"]
        for f in (await client.form_values.for_run(o, run["id"]))["ko_form_fields"]
        if f["value"] is not None
    )
    fake.inject("malformed_json", method="PUT", path_contains="/form-field/value")
    await client.form_values.set(o, value_id, "Kim 2")
    assert (fake.count("PUT", "/form-field/value"), client.stats.retries) == (2, 2)
    # complete-prerun, task clone and bot comments are sent once
    task_id = fake.data.task_ids(o)[0]
    for path, call in (
        ("/complete-prerun", lambda: client.runs.complete_kickoff(o, run["id"])),
        ("/clone", lambda: client.tasks.clone(o, task_id)),
        ("/bot-comment", lambda: client.tasks.bot_comment(o, task_id, "hi")),
    ):
        fake.inject("reset_after_apply", method="POST", path_contains=path)
        with pytest.raises(OutcomeUnknownError):
            await call()
        assert fake.count("POST", path) == 1
