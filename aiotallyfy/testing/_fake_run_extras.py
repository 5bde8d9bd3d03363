"""Fake routes: a run's kick-off form (complete / reopen), export, activity feed, form fields
and form values; task clone and bot comment.

Rules and their sources:

- ``POST``/``DELETE .../runs/{run}/complete-prerun`` (SDK; N8N): 404 unknown run; 422 on an
  archived run ("Cannot update archived processes.", the wording MCP quotes for runs); POST
  needs every required kick-off field filled ("<label> is required", the launch validator)
  and a form not yet completed; DELETE needs a completed form (both inferred, 422) → 200.
- ``POST .../runs/{run}/export`` (CLI ``process export``, no body, JSON answer of an
  undocumented shape): the fake answers ``{"data": run + "tasks": {"data": [...]}}``.
- ``GET .../activity-feeds`` (DOCS *get-process-activity*): Fractal-paginated, default 20 per
  page; ``entity_type`` in checklist|run|step|task|thread (422); ``entity_type=run`` with an
  unknown ``entity_id`` is 404; ``verb``/``type`` filter; ``sort=-created_at`` newest first.
- ``GET .../runs/{run}/form-fields`` (N8N live test; tallyfy/sdk#50 for the checklist twin):
  one object ``{id, title, form_fields[], ko_form_fields[]}``. Each field carries its
  ``value`` and, once it has one, the stored value's id under ``value_id`` (key inferred).
- ``PUT .../form-field/value`` ``{id, form_value}`` (N8N): ``id`` is a stored value's id; an
  id with no stored value answers **500** "Attempt to read property "capture" on null", as
  api-v2 does today (#5010, N8N live tripwire). ``form_value`` is checked against the field
  type (N8N ``FormValuesValidator`` notes; dropdown text must match an option: "Invalid
  dropdown choice selected"). A completed task's values cannot change (422).
- ``POST .../guests/{email}/form-field/value`` (N8N): the same body; unknown guest 404; the
  guest must be assigned to the field's task (403; kick-off values are not a guest's);
  unknown value id 404 (the create half of create-or-update is not modelled).
- ``POST .../tasks/{task}/clone`` (N8N, no body) → 201 with the copy; ``POST
  .../tasks/{task}/bot-comment`` ``{content}`` (N8N) → 201, 422 without content.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._envelope import FakeHTTPError, error_body, not_found
from ._fake_common import area_for, created, item, list_response, require_prerun, validation_errors
from ._fake_data import COMPLETED, NOT_STARTED
from ._fake_design_state import design, value_id_for
from ._fake_store import append_task, overlay_task, parse_api_date
from ._router import RouteContext, Router

__all__ = ["register_run_extra_routes"]

ENTITY_TYPES = frozenset({"checklist", "run", "step", "task", "thread"})
_ARCHIVED = "Cannot update archived processes."


def _run(ctx: RouteContext, run_id: str | None = None) -> tuple[int, dict[str, Any]]:
    st = ctx.org_state
    rid = run_id or ctx.params["run"]
    r = st.run_index.get(rid)
    if r is None or rid in area_for(ctx).deleted_runs:
        raise not_found()
    return r, st.runs[r]


def _live_run(ctx: RouteContext) -> tuple[int, dict[str, Any]]:
    r, run = _run(ctx)
    if run.get("archived_at") is not None:
        raise validation_errors({"run": _ARCHIVED})
    return r, run


# ---------------------------------------------------------------------------- kick-off form
async def _complete_prerun(ctx: RouteContext) -> web.StreamResponse:
    _, run = _live_run(ctx)
    if run.get("prerun_status") == "completed":
        raise validation_errors({"prerun": "The kick-off form is already completed."})
    fields = area_for(ctx).prerun.get(run["checklist_id"], [])
    require_prerun(fields, run.get("prerun") or {})
    run.update(
        prerun_status="completed",
        prerun_completed_at=ctx.now_iso(),
        prerun_completed_by=ctx.data.me_id,
    )
    _activity(ctx, run, "completed", "Completed the kick-off form")
    return item(run)


async def _reopen_prerun(ctx: RouteContext) -> web.StreamResponse:
    _, run = _live_run(ctx)
    if run.get("prerun_status") != "completed":
        raise validation_errors({"prerun": "The kick-off form is not completed."})
    run.update(prerun_status=None, prerun_completed_at=None, prerun_completed_by=None)
    _activity(ctx, run, "re-opened", "Reopened the kick-off form")
    return item(run)


def _activity(ctx: RouteContext, run: dict[str, Any], verb: str, text: str) -> None:
    design(ctx).record_activity(
        ctx.org_state,
        verb=verb,
        kind="Process",
        auditable=("Run", run["id"]),
        parent=None,
        description=text,
        created_at=ctx.now_iso(),
        actor_id=ctx.data.me_id,
    )


# ---------------------------------------------------------------------------- export, feed
async def _export(ctx: RouteContext) -> web.StreamResponse:
    r, run = _run(ctx)
    st = ctx.org_state
    tasks = [ctx.data.task_at(st, i) for i in area_for(ctx).run_task_indices(r)]
    design(ctx).exports += 1
    return item({**run, "tasks": {"data": tasks}})


async def _activity_feed(ctx: RouteContext) -> web.StreamResponse:
    entity_type = ctx.query.get("entity_type")
    entity_id = ctx.query.get("entity_id")
    if entity_type is not None and entity_type not in ENTITY_TYPES:
        raise validation_errors({"entity_type": "The selected entity type is invalid."})
    if entity_type == "run" and entity_id:
        _run(ctx, entity_id)
    rows = list(design(ctx).activities)
    if entity_id:
        rows = [a for a in rows if entity_id in (a["auditable_id"], a["parentable_id"])]
    for key in ("verb", "type"):
        wanted = ctx.query.get(key)
        if wanted:
            rows = [a for a in rows if wanted in a[key]]
    if ctx.query.get("sort") == "-created_at":
        rows.sort(key=lambda a: (a["created_at"], a["id"]), reverse=True)
    return list_response(ctx, rows, default_per_page=20)


# ---------------------------------------------------------------------------- form values
def _run_fields(ctx: RouteContext, r: int) -> list[tuple[dict[str, Any], int | None, Any]]:
    """``(field, task index or None for kick-off, value)`` for every field of run ``r``."""
    st = ctx.org_state
    run = st.runs[r]
    ar = area_for(ctx)
    out: list[tuple[dict[str, Any], int | None, Any]] = []
    for field in ar.prerun.get(run["checklist_id"], []):
        out.append((field, None, (run.get("prerun") or {}).get(field["id"])))
    by_position = {st.position[i]: i for i in ar.run_task_indices(r)}
    for step in ar.steps.get(run["checklist_id"], []):
        i = by_position.get(step["position"])
        for capture in step["captures"]:
            taskdata = (st.overlay.get(i, {}) if i is not None else {}).get("taskdata") or {}
            out.append((capture, i, taskdata.get(capture["id"])))
    return out


def _shown(run_id: str, field: dict[str, Any], value: Any) -> dict[str, Any]:
    shown = dict(field, value=value)
    shown["value_id"] = value_id_for(run_id, field["id"]) if value is not None else None
    return shown


async def _run_form_fields(ctx: RouteContext) -> web.StreamResponse:
    r, run = _run(ctx)
    fields = _run_fields(ctx, r)
    return item(
        {
            "id": run["id"],
            "title": run["name"],
            "form_fields": [_shown(run["id"], f, v) for f, i, v in fields if i is not None],
            "ko_form_fields": [_shown(run["id"], f, v) for f, i, v in fields if i is None],
        }
    )


def _find_value(
    ctx: RouteContext, value_id: str
) -> tuple[dict[str, Any], dict[str, Any], int | None]:
    """``(run, field, task index or None)`` of a stored value; ``LookupError`` if none."""
    st = ctx.org_state
    deleted = area_for(ctx).deleted_runs
    for r, run in enumerate(st.runs):
        if run["id"] in deleted:
            continue
        for field, i, value in _run_fields(ctx, r):
            if value is not None and value_id_for(run["id"], field["id"]) == value_id:
                return run, field, i
    raise LookupError(value_id)


def _check_form_value(field: dict[str, Any], value: Any) -> None:
    kind = field["field_type"]
    if kind in ("text", "textarea", "email", "date", "radio"):
        ok = isinstance(value, str)
    elif kind == "dropdown":
        texts = {o.get("text") for o in field.get("options") or []}
        if isinstance(value, dict) and "id" in value and value.get("text") in texts:
            return
        raise validation_errors({"form_value": "Invalid dropdown choice selected"})
    elif kind in ("multiselect", "table", "file"):
        ok = isinstance(value, list)
    else:  # assignees_form
        ok = isinstance(value, dict) and set(value) <= {"users", "guests", "groups"}
    if not ok:
        raise validation_errors({"form_value": f"The form value is not a valid {kind} value."})


def _store_value(ctx: RouteContext, run: dict[str, Any], field: dict[str, Any], i: int | None,
                 value: Any) -> web.Response:  # fmt: skip
    st = ctx.org_state
    if i is None:
        run.setdefault("prerun", {})[field["id"]] = value
    else:
        if st.status[i] == COMPLETED:
            raise validation_errors({"task": "A completed task cannot be updated."})
        taskdata = dict(st.overlay.get(i, {}).get("taskdata") or {})
        taskdata[field["id"]] = value
        overlay_task(st, i, {"taskdata": taskdata, "last_updated": ctx.now_iso()})
    return item({"id": value_id_for(run["id"], field["id"]), "value": value})


def _value_body(ctx: RouteContext) -> tuple[str, Any]:
    body = ctx.json_object()
    errors = {}
    if not body.get("id"):
        errors["id"] = "The id field is required."
    if "form_value" not in body:
        errors["form_value"] = "The form value field is required."
    if errors:
        raise validation_errors(errors)
    return str(body["id"]), body["form_value"]


async def _set_value(ctx: RouteContext) -> web.StreamResponse:
    value_id, value = _value_body(ctx)
    try:
        run, field, i = _find_value(ctx, value_id)
    except LookupError:
        raise FakeHTTPError(
            500, error_body('Attempt to read property "capture" on null')
        ) from None  # api-v2 #5010: no null guard, no create-if-missing
    _check_form_value(field, value)
    return _store_value(ctx, run, field, i, value)


async def _set_value_as_guest(ctx: RouteContext) -> web.StreamResponse:
    email = ctx.params["email"].lower()
    if email not in area_for(ctx).guests:
        raise not_found()
    value_id, value = _value_body(ctx)
    try:
        run, field, i = _find_value(ctx, value_id)
    except LookupError:
        raise not_found() from None
    guests = [] if i is None else ctx.data.task_at(ctx.org_state, i)["owners"]["guests"]
    if email not in [g.lower() for g in guests]:
        raise FakeHTTPError(403, error_body("This guest cannot edit this form field."))
    _check_form_value(field, value)
    return _store_value(ctx, run, field, i, value)


# ---------------------------------------------------------------------------- task extras
def _task_index(ctx: RouteContext) -> int:
    i = ctx.org_state.id_index.get(ctx.params["task"])
    if i is None or i in area_for(ctx).hidden:
        raise not_found()
    return i


async def _clone_task(ctx: RouteContext) -> web.StreamResponse:
    st = ctx.org_state
    i = _task_index(ctx)
    task = ctx.data.task_at(st, i)
    j = append_task(
        ctx.data,
        st,
        task_id=f"{area_for(ctx).rng.getrandbits(128):032x}",
        title=task["title"],
        run=st.run[i],
        position=st.position[i],
        owners=task["owners"],
        deadline=st.deadline[i],
        created=parse_api_date(ctx.now_iso()) or ctx.data.now,
        task_type=task["task_type"],
        status=NOT_STARTED,
        overlay={"summary": task.get("summary")},
    )
    return created(ctx.data.task_at(st, j))


async def _bot_comment(ctx: RouteContext) -> web.StreamResponse:
    i = _task_index(ctx)
    content = ctx.json_object().get("content")
    if not isinstance(content, str) or not content.strip():
        raise validation_errors({"content": "The content field is required."})
    task_id = ctx.org_state.ids[i]
    comment = area_for(ctx).new_comment(task_id, content, "comment", "open", now=ctx.now_iso())
    comment.update(author_type="bot", author_id=None)
    return created(comment)


def register_run_extra_routes(router: Router) -> None:
    org = "/organizations/{org}"
    router.post(f"{org}/runs/{{run}}/complete-prerun", _complete_prerun)
    router.delete(f"{org}/runs/{{run}}/complete-prerun", _reopen_prerun)
    router.post(f"{org}/runs/{{run}}/export", _export)
    router.get(f"{org}/runs/{{run}}/form-fields", _run_form_fields)
    router.get(f"{org}/activity-feeds", _activity_feed)
    router.put(f"{org}/form-field/value", _set_value)
    router.post(f"{org}/guests/{{email}}/form-field/value", _set_value_as_guest)
    router.post(f"{org}/tasks/{{task}}/clone", _clone_task)
    router.post(f"{org}/tasks/{{task}}/bot-comment", _bot_comment)
