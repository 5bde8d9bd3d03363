"""Fake routes: blueprints (checklists), their steps, kick-off fields and form fields.

``GET .../checklists/{id}/steps`` pages by 10 by default and ignores ``without_pagination``,
like the real route (tallyfy/sdk#99). ``GET .../checklists/{id}`` serves the ``steps`` and
``tags`` includes (``with=``; the tag associations, SDK ``untag_template``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._envelope import not_found
from ._fake_common import area_for, created, item, list_response, no_content, validation_errors
from ._fake_design_state import includes, tags_include
from ._fake_store import area
from ._router import RouteContext, Router

__all__ = ["register_blueprint_routes"]

CHECKLIST_TYPES = frozenset({"procedure", "form", "document"})


def _checklist(ctx: RouteContext) -> dict[str, Any]:
    cid = ctx.params["checklist"]
    for checklist in ctx.org_state.checklists:
        if checklist["id"] == cid:
            area_for(ctx)  # make sure steps / prerun exist
            return checklist
    raise not_found()


def _full(ctx: RouteContext, checklist: dict[str, Any]) -> dict[str, Any]:
    ar = area_for(ctx)
    out = dict(checklist)
    out["prerun"] = ar.prerun.get(checklist["id"], [])
    wanted = includes(ctx)
    if "steps" in wanted:
        out["steps"] = {"data": ar.steps.get(checklist["id"], [])}
    if "tags" in wanted:
        out["tags"] = tags_include(ctx, checklist["id"])
    return out


async def _list(ctx: RouteContext) -> web.StreamResponse:
    area_for(ctx)
    archived = (ctx.query.get("archived") or "").lower()
    rows = [
        c
        for c in ctx.org_state.checklists
        if (c.get("archived_at") is not None) == (archived == "only") or archived in ("true", "1")
    ]
    return list_response(ctx, rows, q_fields=("title", "summary"))


async def _get(ctx: RouteContext) -> web.StreamResponse:
    return item(_full(ctx, _checklist(ctx)))


async def _steps(ctx: RouteContext) -> web.StreamResponse:
    checklist = _checklist(ctx)
    # without_pagination is deliberately not honoured here (the real route ignores it)
    return list_response(ctx, area_for(ctx).steps.get(checklist["id"], []))


async def _form_fields(ctx: RouteContext) -> web.StreamResponse:
    """``GET .../checklists/{id}/form-fields`` answers ONE object, not a list: api-v2 routes
    it (``routes/api.php:407``) to ``ChecklistsControllerNew@getFormFields``, which
    "responds with a single item": ``{"data": {"id", "title", "form_fields": [...],
    "ko_form_fields": [...]}}`` (SDK ``get_kickoff_form_fields``, tallyfy/sdk#50; the N8N
    live test reads ``form_fields[0].id`` off the sibling run route)."""
    checklist = _checklist(ctx)
    ar = area_for(ctx)
    fields = [c for s in ar.steps.get(checklist["id"], []) for c in s["captures"]]
    return item(
        {
            "id": checklist["id"],
            "title": checklist["title"],
            "form_fields": fields,
            "ko_form_fields": ar.prerun.get(checklist["id"], []),
        }
    )


async def _create(ctx: RouteContext) -> web.StreamResponse:
    body = ctx.json_object()
    errors = {}
    if not body.get("title"):
        errors["title"] = "The title field is required."
    if not body.get("type"):
        errors["type"] = "The type field is required."
    elif body["type"] not in CHECKLIST_TYPES:
        errors["type"] = "The selected type is invalid."
    if errors:
        raise validation_errors(errors)
    ar = area(ctx.data, ctx.org_state)
    checklist = ar.add_checklists(1, steps=0)[0]
    checklist.update(
        {
            "title": body["title"],
            "type": body["type"],
            "summary": body.get("summary"),
            "status": "draft",
            "created_at": ctx.now_iso(),
            "last_updated": ctx.now_iso(),
            "webhook": body.get("webhook"),
        }
    )
    return created(_full(ctx, checklist))


async def _update(ctx: RouteContext) -> web.StreamResponse:
    """``PUT .../checklists/{id}``: ``title`` is required on EVERY update (DOCS
    templates/update-template: "The ``title`` field is **required** on every update request
    (max 250 characters)"; SDK: "GET current template to satisfy the required ``title`` field
    in UpdateChecklistRequest"; N8N: "Title is required for blueprint updates"). This is also
    how a blueprint is filed in a folder (``{title, folder_id}``: SDK
    ``add_object_to_folder``, N8N), so ``folder_id`` must name a folder of the org."""
    checklist = _checklist(ctx)
    body = ctx.json_object()
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        raise validation_errors({"title": "The title field is required."})
    if len(title) > 250:
        raise validation_errors({"title": "The title may not be greater than 250 characters."})
    if "type" in body and body["type"] not in CHECKLIST_TYPES:
        raise validation_errors({"type": "The selected type is invalid."})
    folder_id = body.get("folder_id")
    if folder_id is not None and folder_id not in area_for(ctx).folders:
        raise validation_errors({"folder_id": "The selected folder id is invalid."})
    for key in ("title", "summary", "type", "folder_id", "webhook", "starred", "is_public"):
        if key in body:
            checklist[key] = body[key]
    checklist["last_updated"] = ctx.now_iso()
    return item(_full(ctx, checklist))


async def _archive(ctx: RouteContext) -> web.StreamResponse:
    checklist = _checklist(ctx)
    if checklist.get("archived_at") is None:
        checklist["archived_at"] = ctx.now_iso()
    return no_content()


def register_blueprint_routes(router: Router) -> None:
    router.get("/organizations/{org}/checklists", _list)
    router.post("/organizations/{org}/checklists", _create)
    router.get("/organizations/{org}/checklists/{checklist}", _get)
    router.put("/organizations/{org}/checklists/{checklist}", _update)
    router.delete("/organizations/{org}/checklists/{checklist}", _archive)
    router.get("/organizations/{org}/checklists/{checklist}/steps", _steps)
    router.get("/organizations/{org}/checklists/{checklist}/form-fields", _form_fields)
