"""Fake routes: blueprint clone / publish / restore / permanent delete, automations (automated
actions) and tag associations.

Rules and their sources:

- ``POST .../checklists/{id}/clone`` ``{tenant, title?}``: ``tenant`` (the org cloned *from*,
  SDK ``duplicate_template``) is required here: the SDK says required, the CLI says the server
  defaults it; the stricter reading wins (422). Title at most 250 (MCP). Steps, form fields,
  kick-off fields and automations are copied (MCP ``clone_template``) → 201. Without a title
  the copy keeps the original's (inferred).
- ``PUT .../publish`` (CLI, no body) → 200; ``PUT .../restore`` (MCP) un-archives → 200.
- ``DELETE .../checklists/{id}/delete`` (DOCS *delete-archive-template*): admin only (403),
  the blueprint must be archived first (404 otherwise, as DOCS *delete-process* answers for
  runs) → 200 ``{message, deleted_references: {}}``.
- ``POST``/``PUT``/``DELETE .../automated-actions[/{id}]`` (CLI; SDK ``automation.py``; MCP
  quotes api-v2 ``AutomatedActionRequest``/``DoableActionValidator``): ``automated_alias``
  (≤ 300), ``conditions``, ``then_actions`` required on create and on every PUT; condition and
  action vocabularies checked; ids must belong to the blueprint → 201 / 200 / 204.
- ``POST .../checklists/tags`` (SDK ``tag_management``, api-v2 ``AddTagChecklistRequest``):
  all four fields required, ``tag_type`` private|public picks the table ``tag_id`` is checked
  against (the fake has no public tags, so a public tag id is always invalid); an archived
  blueprint is "Subject not found", an archived process "Cannot update archived processes."
  (MCP ``tag_template``); one row per tag and subject → 201 (200 for an existing row).
  ``DELETE .../checklists/tags/{id}``: the id is cast to int (SDK), so a non-numeric id
  matches nothing → 404 → 204.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._envelope import json_response, not_found
from ._fake_common import area_for, created, item, no_content, require_fields, validation_errors
from ._fake_design_state import any_checklist, design, live_checklist, require_admin
from ._fake_store import area
from ._router import RouteContext, Router

__all__ = ["register_blueprint_design_routes"]

CONDITIONABLE_TYPES = frozenset({"Step", "Capture", "Prerun"})
STEP_OPERATIONS = frozenset(
    {"completed", "reopened", "approved", "rejected", "acknowledged", "expired", "not_assigned"}
)
FIELD_OPERATIONS = frozenset(
    {"contains", "not_contains", "equals", "not_equals", "equals_any", "greater_than",
     "less_than", "is_empty", "is_not_empty"}
)  # fmt: skip
ACTION_VERBS = {
    "visibility": {"show", "hide"},
    "deadline": {"deadline"},
    "status": {"reopen"},
    "assignment": {"assign", "assign_only", "clear_assignees", "unassign"},
    "webhook": {"emit_webhook"},
}


def _hex(ctx: RouteContext) -> str:
    return f"{area_for(ctx).rng.getrandbits(128):032x}"


# ---------------------------------------------------------------------------- lifecycle
async def _clone(ctx: RouteContext) -> web.StreamResponse:
    body = ctx.json_object()
    require_fields(body, "tenant")
    source_org = ctx.data.org_state(str(body["tenant"]))
    if source_org is None or source_org.forbidden:
        raise validation_errors({"tenant": "The selected tenant is invalid."})
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or not title or len(title) > 250):
        raise validation_errors({"title": "The title may not be greater than 250 characters."})
    source_area = area(ctx.data, source_org)
    cid = ctx.params["checklist"]
    source = next((c for c in source_org.checklists if c["id"] == cid), None)
    if source is None or source.get("archived_at") is not None:
        raise not_found()
    dest = area_for(ctx)
    copy = dest.add_checklists(1, steps=0)[0]
    ids: dict[str, str] = {}

    def new_id(old: str) -> str:
        ids[old] = _hex(ctx)
        return ids[old]

    for key in ("title", "summary", "type", "webhook", "is_public", "status"):
        copy[key] = source.get(key)
    copy.update({"title": title or source["title"], "created_at": ctx.now_iso()})
    steps = []
    for step in source_area.steps.get(cid, []):
        sid = new_id(step["id"])
        captures = [dict(c, id=new_id(c["id"]), step_id=sid) for c in step["captures"]]
        steps.append(dict(step, id=sid, checklist_id=copy["id"], captures=captures))
    dest.steps[copy["id"]] = steps
    dest.prerun[copy["id"]] = [
        dict(f, id=new_id(f["id"]), checklist_id=copy["id"]) for f in source_area.prerun[cid]
    ]
    copy["automated_actions"] = [
        {
            **rule,
            "id": _hex(ctx),
            "conditions": [
                dict(c, conditionable_id=ids.get(c["conditionable_id"], c["conditionable_id"]))
                for c in rule["conditions"]
            ],
            "then_actions": [
                dict(a, target_step_id=ids.get(a["target_step_id"], a["target_step_id"]))
                for a in rule["then_actions"]
            ],
        }
        for rule in source.get("automated_actions") or []
    ]
    copy["steps_count"] = len(steps)
    return created(dict(copy, prerun=dest.prerun[copy["id"]]))


async def _publish(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    checklist["status"] = "published"
    checklist["last_updated"] = ctx.now_iso()
    return item(checklist)


async def _restore(ctx: RouteContext) -> web.StreamResponse:
    checklist = any_checklist(ctx)
    checklist["archived_at"] = None
    return item(checklist)


async def _delete_for_good(ctx: RouteContext) -> web.StreamResponse:
    require_admin(ctx)
    checklist = any_checklist(ctx)
    if checklist.get("archived_at") is None:
        raise not_found()  # not archived: the run twin answers 404 (DOCS delete-process)
    ar = area_for(ctx)
    ctx.org_state.checklists.remove(checklist)
    ar.steps.pop(checklist["id"], None)
    ar.prerun.pop(checklist["id"], None)
    return json_response(
        {
            "message": "The Template was deleted, and references were also deleted from:",
            "deleted_references": {},
        }
    )


# ---------------------------------------------------------------------------- automations
def _check_rule(ctx: RouteContext, checklist: dict[str, Any], body: dict[str, Any]) -> None:
    require_fields(body, "automated_alias", "conditions", "then_actions")
    if not isinstance(body["automated_alias"], str) or len(body["automated_alias"]) > 300:
        raise validation_errors(
            {"automated_alias": "The automated alias may not be greater than 300 characters."}
        )
    ar = area_for(ctx)
    step_ids = {s["id"] for s in ar.steps.get(checklist["id"], [])}
    known = {
        "Step": step_ids,
        "Capture": {c["id"] for s in ar.steps.get(checklist["id"], []) for c in s["captures"]},
        "Prerun": {f["id"] for f in ar.prerun.get(checklist["id"], [])},
    }
    if not isinstance(body["conditions"], list) or not isinstance(body["then_actions"], list):
        raise validation_errors({"conditions": "The conditions must be an array."})
    for n, cond in enumerate(body["conditions"]):
        key = f"conditions.{n}"
        ctype = cond.get("conditionable_type") if isinstance(cond, dict) else None
        if ctype not in CONDITIONABLE_TYPES:
            raise validation_errors({f"{key}.conditionable_type": "The selected type is invalid."})
        if cond.get("conditionable_id") not in known[ctype]:
            raise validation_errors({f"{key}.conditionable_id": "The selected id is invalid."})
        ops = STEP_OPERATIONS if ctype == "Step" else FIELD_OPERATIONS
        if cond.get("operation") not in ops:
            raise validation_errors({f"{key}.operation": "The selected operation is invalid."})
        if "statement" not in cond:
            raise validation_errors({f"{key}.statement": "The statement field must be present."})
        if cond.get("logic") not in (None, "and", "or"):
            raise validation_errors({f"{key}.logic": "The selected logic is invalid."})
    for n, action in enumerate(body["then_actions"]):
        key = f"then_actions.{n}"
        action_type = str(action.get("action_type")) if isinstance(action, dict) else ""
        verbs = ACTION_VERBS.get(action_type)
        if verbs is None:
            raise validation_errors({f"{key}.action_type": "The selected action type is invalid."})
        if action.get("action_verb") not in verbs:
            raise validation_errors(
                {f"{key}.action_verb": f"The action verb only accepts {', '.join(sorted(verbs))}."}
            )
        if action.get("target_step_id") not in step_ids:
            raise validation_errors({f"{key}.target_step_id": "The selected step is invalid."})


def _rule(ctx: RouteContext, checklist: dict[str, Any]) -> dict[str, Any]:
    rules: list[dict[str, Any]] = checklist.get("automated_actions") or []
    for rule in rules:
        if rule["id"] == ctx.params["automation"]:
            return rule
    raise not_found()


_RULE_KEYS = ("automated_alias", "conditions", "then_actions")


async def _create_rule(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    body = ctx.json_object()
    _check_rule(ctx, checklist, body)
    rule = {"id": _hex(ctx), **{k: body[k] for k in _RULE_KEYS}, "created_at": ctx.now_iso()}
    checklist.setdefault("automated_actions", []).append(rule)
    return created(rule)


async def _update_rule(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    rule = _rule(ctx, checklist)
    body = ctx.json_object()
    _check_rule(ctx, checklist, body)
    rule.update({k: body[k] for k in _RULE_KEYS})
    return item(rule)


async def _delete_rule(ctx: RouteContext) -> web.StreamResponse:
    checklist = live_checklist(ctx)
    checklist["automated_actions"].remove(_rule(ctx, checklist))
    return no_content()


# ---------------------------------------------------------------------------- tag associations
def _subject_error(ctx: RouteContext, subject_type: str, subject_id: str) -> str | None:
    st = ctx.org_state
    if subject_type == "Checklist":
        checklist = next((c for c in st.checklists if c["id"] == subject_id), None)
        alive = checklist is not None and checklist.get("archived_at") is None
        return None if alive else "Subject not found"
    r = st.run_index.get(subject_id)
    if r is None or subject_id in area_for(ctx).deleted_runs:
        return "Subject not found"
    if st.runs[r].get("archived_at") is not None:
        return "Cannot update archived processes."
    return None


async def _add_tag(ctx: RouteContext) -> web.StreamResponse:
    body = ctx.json_object()
    require_fields(body, "tag_id", "subject_id", "subject_type", "tag_type")
    if body["tag_type"] not in ("private", "public"):
        raise validation_errors({"tag_type": "The selected tag type is invalid."})
    if body["subject_type"] not in ("Checklist", "Run"):
        raise validation_errors({"subject_type": "The selected subject type is invalid."})
    private = area_for(ctx).tags
    if body["tag_type"] == "public" or body["tag_id"] not in private:
        raise validation_errors({"tag_id": "The selected tag id is invalid."})
    problem = _subject_error(ctx, body["subject_type"], str(body["subject_id"]))
    if problem is not None:
        raise validation_errors({"subject_id": problem})
    state = design(ctx)
    for link in state.tag_links.values():
        if (link["tag_id"], link["subject_id"]) == (body["tag_id"], body["subject_id"]):
            return item(link)  # one row per tag and subject (TagsChecklistsRepository::create)
    link = {
        "id": state.next_tag_link,
        "tag_id": body["tag_id"],
        "subject_id": body["subject_id"],
        "subject_type": body["subject_type"],
        "tag_type": body["tag_type"],
        "created_at": ctx.now_iso(),
    }
    state.tag_links[link["id"]] = link
    state.next_tag_link += 1
    return created(link)


async def _remove_tag(ctx: RouteContext) -> web.StreamResponse:
    raw = ctx.params["association"]
    number = int(raw) if raw.isdigit() else 0  # (int) cast: "a1b2..." is 0 (SDK, sdk#77)
    if design(ctx).tag_links.pop(number, None) is None:
        raise not_found()
    return no_content()


def register_blueprint_design_routes(router: Router) -> None:
    org = "/organizations/{org}"
    base = f"{org}/checklists/{{checklist}}"
    router.post(f"{org}/checklists/tags", _add_tag)
    router.delete(f"{org}/checklists/tags/{{association}}", _remove_tag)
    router.post(f"{base}/clone", _clone)
    router.put(f"{base}/publish", _publish)
    router.put(f"{base}/restore", _restore)
    router.delete(f"{base}/delete", _delete_for_good)
    router.post(f"{base}/automated-actions", _create_rule)
    router.put(f"{base}/automated-actions/{{automation}}", _update_rule)
    router.delete(f"{base}/automated-actions/{{automation}}", _delete_rule)
