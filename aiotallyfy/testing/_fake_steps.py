"""Fake routes: blueprint steps (get, create, update, delete, clone, reorder), their form fields
(captures: create, update, delete, move) and kick-off field delete.

Every route 404s for an unknown or archived blueprint, step or field. Rules and their sources:

- ``POST .../steps`` (SDK ``add_step_to_template``, api-v2 ``CreateStepRequest``; N8N live
  test sends ``checklist_id``): ``title`` and ``checklist_id`` required (422); ``position``,
  ``alias``, ``roles``, ``description`` are dropped silently; steps always append → 201.
- ``PUT .../steps/{step}`` (SDK ``edit_description_on_step``, api-v2 ``StepBuilder``):
  ``title`` required (422); absent ``assignees``/``guests``/``groups`` become empty.
- ``DELETE .../steps/{step}`` (MCP ``delete_step``): 422 "Cannot delete this step because
  there are rules dependent on it." while an automation uses the step → 204.
- ``POST .../steps/{step}/clone`` (SDK ``clone_step``; MCP: "exact copy ... including form
  fields and assignees"): the copy goes right after the original (position inferred) → 201.
- ``PUT .../steps/{step}/reorder`` (SDK ``reorder_step``): ``position`` an integer from 1 to
  the number of steps (422) → 200.
- captures (api-v2 ``CaptureRequestValidator`` as quoted by MCP; N8N live test: "the capture
  PUT re-validates the whole field definition"): ``field_type``, ``label``, ``required``
  (bool) on create and update; options for choice types (radio ≥ 2), columns for tables; a
  changed ``field_type`` is refused (N8N: immutable; MCP: converted in place; the stricter
  reading wins). ``move-out`` needs ``target_step_id`` (a step of the same blueprint).
- ``DELETE .../preruns/{field}`` (N8N; MCP ``delete_kickoff_field``): 403 while an automation
  uses the field; the field's values leave every process of the blueprint → 204.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._envelope import FakeHTTPError, error_body, not_found
from ._fake_common import area_for, created, item, no_content, require_fields, validation_errors
from ._fake_design_state import live_checklist, step_of
from ._router import RouteContext, Router

__all__ = ["FIELD_TYPES", "register_step_routes", "rules_using"]

STEP_TYPES = frozenset({"task", "approval", "expiring", "email", "expiring_email"})
FIELD_TYPES = frozenset(
    {"text", "textarea", "date", "email", "dropdown", "multiselect", "radio", "file", "table",
     "assignees_form"}
)  # fmt: skip
STEP_FIELDS = (
    "summary", "step_type", "webhook", "max_assignable", "deadline", "start_date", "tags",
    "allow_guest_owners", "skip_start_process", "can_complete_only_assignees",
    "everyone_must_complete", "prevent_guest_comment", "is_soft_start_date",
    "role_changes_every_time", "assign_run_starter", "top_secret", "send_chromeless",
)  # fmt: skip
CAPTURE_FIELDS = (
    "guidance", "position", "options", "columns", "default_value", "default_value_enabled",
    "collect_time", "use_wysiwyg_editor", "field_validation", "prefix", "suffix", "settings",
)  # fmt: skip


def _new_id(ctx: RouteContext) -> str:
    return f"{area_for(ctx).rng.getrandbits(128):032x}"


def rules_using(checklist: dict[str, Any], target_id: str) -> list[dict[str, Any]]:
    """The automations whose conditions or actions name ``target_id``."""
    found = []
    for rule in checklist.get("automated_actions") or []:
        ids = {c.get("conditionable_id") for c in rule.get("conditions") or []}
        ids |= {a.get("target_step_id") for a in rule.get("then_actions") or []}
        if target_id in ids:
            found.append(rule)
    return found


def _steps(ctx: RouteContext, checklist: dict[str, Any]) -> list[dict[str, Any]]:
    return area_for(ctx).steps.setdefault(checklist["id"], [])


def _renumber(ctx: RouteContext, checklist: dict[str, Any]) -> None:
    steps = _steps(ctx, checklist)
    for pos, step in enumerate(steps, start=1):
        step["position"] = pos
    checklist["steps_count"] = len(steps)
    checklist["last_updated"] = ctx.now_iso()


def _check_step_body(body: dict[str, Any]) -> None:
    if "step_type" in body and body["step_type"] not in STEP_TYPES:
        raise validation_errors({"step_type": "The selected step type is invalid."})
    for bucket in ("assignees", "guests", "groups"):
        if bucket in body and not isinstance(body[bucket], list):
            raise validation_errors({bucket: f"The {bucket} must be an array."})


# ---------------------------------------------------------------------------- steps
async def _get_step(ctx: RouteContext) -> web.StreamResponse:
    return item(step_of(ctx, live_checklist(ctx), ctx.params["step"]))


async def _create_step(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    body = ctx.json_object()
    require_fields(body, "title", "checklist_id")
    if body["checklist_id"] != checklist["id"]:
        raise validation_errors({"checklist_id": "The selected checklist id is invalid."})
    _check_step_body(body)
    step_type = body.get("step_type", "task")
    step: dict[str, Any] = {
        "id": _new_id(ctx),
        "checklist_id": checklist["id"],
        "alias": None,
        "title": body["title"],
        "summary": None,
        "position": 0,
        "task_type": step_type,
        "step_type": step_type,
        "deadline": {"value": 2, "unit": "days"},
        "webhook": None,
        "captures": [],
        "assignees": list(body.get("assignees") or []),
        "guests": list(body.get("guests") or []),
        "groups": list(body.get("groups") or []),
    }
    step["alias"] = f"step-{step['id'][:8]}"
    step.update({k: body[k] for k in STEP_FIELDS if k in body})
    _steps(ctx, checklist).append(step)  # position is discarded: steps always append
    _renumber(ctx, checklist)
    return created(step)


async def _update_step(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    step = step_of(ctx, checklist, ctx.params["step"])
    body = ctx.json_object()
    require_fields(body, "title")
    _check_step_body(body)
    step["title"] = body["title"]
    step.update({k: body[k] for k in STEP_FIELDS if k in body})
    if "step_type" in body:
        step["task_type"] = body["step_type"]
    for bucket in ("assignees", "guests", "groups"):  # absent means empty (StepBuilder)
        step[bucket] = list(body.get(bucket) or [])
    checklist["last_updated"] = ctx.now_iso()
    return item(step)


async def _delete_step(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    step = step_of(ctx, checklist, ctx.params["step"])
    if rules_using(checklist, step["id"]):
        raise validation_errors(
            {"step": "Cannot delete this step because there are rules dependent on it."}
        )
    _steps(ctx, checklist).remove(step)
    _renumber(ctx, checklist)
    return no_content()


async def _clone_step(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    step = step_of(ctx, checklist, ctx.params["step"])
    copy = {k: (list(v) if isinstance(v, list) else v) for k, v in step.items()}
    copy["id"] = _new_id(ctx)
    copy["alias"] = f"step-{copy['id'][:8]}"
    copy["captures"] = [dict(c, id=_new_id(ctx), step_id=copy["id"]) for c in step["captures"]]
    steps = _steps(ctx, checklist)
    steps.insert(steps.index(step) + 1, copy)
    _renumber(ctx, checklist)
    return created(copy)


async def _reorder_step(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    step = step_of(ctx, checklist, ctx.params["step"])
    steps = _steps(ctx, checklist)
    position = ctx.json_object().get("position")
    if isinstance(position, bool) or not isinstance(position, int):
        raise validation_errors({"position": "The position must be an integer."})
    if not 1 <= position <= len(steps):
        raise validation_errors({"position": f"The position must be between 1 and {len(steps)}."})
    steps.remove(step)
    steps.insert(position - 1, step)
    _renumber(ctx, checklist)
    return item(step)


# ---------------------------------------------------------------------------- captures
def _check_capture(body: dict[str, Any]) -> None:
    require_fields(body, "field_type", "label")
    if not isinstance(body.get("required"), bool):
        raise validation_errors({"required": "The required field must be true or false."})
    field_type = body["field_type"]
    if field_type not in FIELD_TYPES:
        raise validation_errors({"field_type": "The selected field type is invalid."})
    if field_type in ("dropdown", "multiselect", "radio"):
        options = body.get("options")
        if not isinstance(options, list) or not options:
            raise validation_errors({"options": "The options field is required."})
        if any(not isinstance(o, dict) or not o.get("text") for o in options):
            raise validation_errors({"options.0.text": "The options.0.text field is required."})
        if field_type == "radio" and len(options) < 2:
            raise validation_errors({"options": "The options must have at least 2 items."})
    if field_type == "table" and not (isinstance(body.get("columns"), list) and body["columns"]):
        raise validation_errors({"columns": "The columns field is required."})


def _capture(step: dict[str, Any], capture_id: str) -> dict[str, Any]:
    captures: list[dict[str, Any]] = step["captures"]
    for capture in captures:
        if capture["id"] == capture_id:
            return capture
    raise not_found()


def _options(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(o, id=o.get("id", n)) for n, o in enumerate(body.get("options") or [], 1)]


async def _create_capture(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    step = step_of(ctx, checklist, ctx.params["step"])
    body = ctx.json_object()
    _check_capture(body)
    capture: dict[str, Any] = {
        "id": _new_id(ctx),
        "step_id": step["id"],
        "alias": None,
        "label": body["label"],
        "field_type": body["field_type"],
        "required": body["required"],
        "guidance": None,
        "position": len(step["captures"]) + 1,
        "options": [],
        "columns": [],
    }
    capture.update({k: body[k] for k in CAPTURE_FIELDS if k in body})
    capture["options"] = _options(body)
    step["captures"].append(capture)
    return created(capture)


async def _update_capture(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    capture = _capture(step_of(ctx, checklist, ctx.params["step"]), ctx.params["capture"])
    body = ctx.json_object()
    _check_capture(body)
    if body["field_type"] != capture["field_type"]:
        raise validation_errors({"field_type": "The field type cannot be changed."})
    capture.update({"label": body["label"], "required": body["required"]})
    capture.update({k: body[k] for k in CAPTURE_FIELDS if k in body})
    if "options" in body:
        capture["options"] = _options(body)
    return item(capture)


def _forbid_if_used(checklist: dict[str, Any], field_id: str) -> None:
    if rules_using(checklist, field_id):
        raise FakeHTTPError(
            403, error_body("This field is used by an automation rule; remove the rule first.")
        )


async def _delete_capture(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    step = step_of(ctx, checklist, ctx.params["step"])
    capture = _capture(step, ctx.params["capture"])
    _forbid_if_used(checklist, capture["id"])
    step["captures"].remove(capture)
    return no_content()


async def _move_capture(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    step = step_of(ctx, checklist, ctx.params["step"])
    capture = _capture(step, ctx.params["capture"])
    body = ctx.json_object()
    require_fields(body, "target_step_id")
    targets = {s["id"]: s for s in _steps(ctx, checklist)}
    target = targets.get(body["target_step_id"])
    if target is None:
        raise validation_errors({"target_step_id": "The selected target step id is invalid."})
    position = body.get("position", 1)
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise validation_errors({"position": "The position must be at least 1."})
    step["captures"].remove(capture)
    capture["step_id"] = target["id"]
    target["captures"].insert(min(position, len(target["captures"]) + 1) - 1, capture)
    for owner in (step, target):
        for pos, each in enumerate(owner["captures"], start=1):
            each["position"] = pos
    return item(capture)


async def _delete_prerun(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    fields = area_for(ctx).prerun.get(checklist["id"], [])
    field = next((f for f in fields if f["id"] == ctx.params["field"]), None)
    if field is None:
        raise not_found()
    _forbid_if_used(checklist, field["id"])
    fields.remove(field)
    for run in ctx.org_state.runs:  # its values leave every process of the blueprint
        if run["checklist_id"] == checklist["id"]:
            run.get("prerun", {}).pop(field["id"], None)
    return no_content()


def register_step_routes(router: Router) -> None:
    base = "/organizations/{org}/checklists/{checklist}"
    router.post(f"{base}/steps", _create_step)
    router.get(f"{base}/steps/{{step}}", _get_step)
    router.put(f"{base}/steps/{{step}}", _update_step)
    router.delete(f"{base}/steps/{{step}}", _delete_step)
    router.post(f"{base}/steps/{{step}}/clone", _clone_step)
    router.put(f"{base}/steps/{{step}}/reorder", _reorder_step)
    router.post(f"{base}/steps/{{step}}/captures", _create_capture)
    router.put(f"{base}/steps/{{step}}/captures/{{capture}}", _update_capture)
    router.delete(f"{base}/steps/{{step}}/captures/{{capture}}", _delete_capture)
    router.put(f"{base}/steps/{{step}}/captures/{{capture}}/move-out", _move_capture)
    router.delete(f"{base}/preruns/{{field}}", _delete_prerun)
