"""Fake routes: tags and folders (with folder membership of objects)."""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web

from ._envelope import found, not_found
from ._fake_common import (
    area_for,
    created,
    item,
    list_response,
    no_content,
    require_fields,
    validation_errors,
)
from ._router import RouteContext, Router

__all__ = ["register_org_object_routes"]

SUBJECT_TYPES = frozenset({"Run", "Task"})
"""api-v2 ``FolderObjectRequest``: ``'subject_type' => 'required|string|in:Run,Task|...'``
(quoted by the SDK's ``add_object_to_folder``): a blueprint is not a folder object; it is
filed with ``PUT .../checklists/{id}`` ``{title, folder_id}``."""


def _tag(ctx: RouteContext) -> dict[str, Any]:
    return found(area_for(ctx).tags.get(ctx.params["tag"]))


def _check_title(body: dict[str, Any]) -> None:
    title = body.get("title")
    if not isinstance(title, str) or len(title) > 30:
        raise validation_errors({"title": "The title may not be greater than 30 characters."})


_AUTO_PROCESS_TITLE: Final = re.compile(r"(from|task|step):")
"""The ``withoutAutoProcessTags`` scope: ``title NOT SIMILAR TO '(from|task|step):%'``."""


def _php_bool(raw: str) -> bool:
    """PHP ``filter_var($v, FILTER_VALIDATE_BOOLEAN)`` without NULL_ON_FAILURE."""
    return raw.strip().lower() in ("1", "true", "on", "yes")


async def _tags(ctx: RouteContext) -> web.StreamResponse:
    """``GET .../tags``. api-v2 ``TagsController::index`` as quoted by the official SDK 3.1.0
    (``tag_management`` ``get_tags``; tallyfy/sdk#77, tallyfy/mcp#620): unless ``all`` is the
    literal string ``'true'`` the ``withoutAutoProcessTags`` scope is merged in, and it
    composes with the ``auto_generated`` filter (read with ``FILTER_VALIDATE_BOOLEAN``)."""
    tags = list(area_for(ctx).tags.values())
    if ctx.query.get("all") != "true":
        tags = [t for t in tags if not _AUTO_PROCESS_TITLE.match(str(t.get("title") or ""))]
    flag = ctx.query.get("auto_generated")
    if flag is not None:
        tags = [t for t in tags if bool(t.get("auto_generated")) == _php_bool(flag)]
    return list_response(ctx, tags, q_fields=("title",))


async def _get_tag(ctx: RouteContext) -> web.StreamResponse:
    return item(_tag(ctx))


async def _create_tag(ctx: RouteContext) -> web.StreamResponse:
    body = ctx.json_object()
    require_fields(body, "title")
    _check_title(body)
    ar = area_for(ctx)
    if any(t["title"] == body["title"] for t in ar.tags.values()):
        raise validation_errors({"title": "The title has already been taken."})
    tag = ar.add_tags(1)[0]
    tag.update({"title": body["title"], "created_at": ctx.now_iso()})
    if body.get("color"):
        tag["color"] = body["color"]
    return created(tag)


async def _update_tag(ctx: RouteContext) -> web.StreamResponse:
    """``PUT .../tags/{id}``: DOCS tags/update-tag mark ``title`` "Required: Yes"; the SDK
    allows a colour-only update. The sources disagree, so the stricter rule holds here:
    ``title`` on every update."""
    tag = _tag(ctx)
    body = ctx.json_object()
    require_fields(body, "title")
    _check_title(body)
    for key in ("title", "color"):
        if key in body:
            tag[key] = body[key]
    return item(tag)


async def _delete_tag(ctx: RouteContext) -> web.StreamResponse:
    """``DELETE .../tags/{id}`` answers 204, also for a tag that is already gone (DOCS
    tags/archive-tag): a repeat is harmless."""
    area_for(ctx).tags.pop(ctx.params["tag"], None)
    return no_content()


def _folder(ctx: RouteContext) -> dict[str, Any]:
    return found(area_for(ctx).folders.get(ctx.params["folder"]))


FOLDER_TYPES = frozenset({"checklist", "run"})


async def _folders(ctx: RouteContext) -> web.StreamResponse:
    """``GET .../folders?folder_type=checklist|run``: both official clients always send
    ``folder_type`` (SDK ``get_folders``, default ``checklist``, ``run`` for process folders;
    N8N "Template Folders"/"Process Folders"), and each type is its own tree. What the real
    server does without it is unverified: this fake then lists both trees."""
    folder_type = ctx.query.get("folder_type")
    if folder_type is not None and folder_type not in FOLDER_TYPES:
        raise validation_errors({"folder_type": "The selected folder type is invalid."})
    rows = [
        f
        for f in area_for(ctx).folders.values()
        if folder_type is None or f.get("folder_type", "checklist") == folder_type
    ]
    return list_response(ctx, rows, q_fields=("name",))


async def _get_folder(ctx: RouteContext) -> web.StreamResponse:
    return item(_folder(ctx))


async def _create_folder(ctx: RouteContext) -> web.StreamResponse:
    body = ctx.json_object()
    require_fields(body, "name")
    ar = area_for(ctx)
    parent = body.get("parent_id")
    if parent is not None and parent not in ar.folders:
        raise validation_errors({"parent_id": "The selected parent id is invalid."})
    folder_type = body.get("folder_type", "checklist")
    if folder_type not in FOLDER_TYPES:
        raise validation_errors({"folder_type": "The selected folder type is invalid."})
    folder = ar.add_folders(1, folder_type=folder_type)[0]
    folder.update({"name": body["name"], "parent_id": parent, "created_at": ctx.now_iso()})
    return created(folder)


async def _update_folder(ctx: RouteContext) -> web.StreamResponse:
    """``PUT .../folders/{id}``: "api-v2 UpdateFolderRequest requires 'name' on every PUT
    (plain 'required', no 'sometimes')" (SDK ``update_folder``, which back-fills it)."""
    folder = _folder(ctx)
    body = ctx.json_object()
    require_fields(body, "name")
    parent = body.get("parent_id")
    if parent is not None and (parent not in area_for(ctx).folders or parent == folder["id"]):
        raise validation_errors({"parent_id": "The selected parent id is invalid."})
    for key in ("name", "parent_id"):
        if key in body:
            folder[key] = body[key]
    folder["last_updated"] = ctx.now_iso()
    return item(folder)


async def _delete_folder(ctx: RouteContext) -> web.StreamResponse:
    del area_for(ctx).folders[_folder(ctx)["id"]]
    return no_content()


async def _add_object(ctx: RouteContext) -> web.StreamResponse:
    """``POST .../folders/add-object`` → the ``folder_objects`` row, Fractal-wrapped, with an
    INTEGER ``id`` (SDK ``_parse_folder_object``: ``respondWithItem``); ``subject_type`` only
    ``Run`` or ``Task`` (see ``SUBJECT_TYPES``)."""
    body = ctx.json_object()
    require_fields(body, "folder_id", "subject_id", "subject_type")
    ar = area_for(ctx)
    if body["folder_id"] not in ar.folders:
        raise validation_errors({"folder_id": "The selected folder id is invalid."})
    if body["subject_type"] not in SUBJECT_TYPES:
        raise validation_errors({"subject_type": "The selected subject type is invalid."})
    relation_id = 1 + max((int(k) for k in ar.folder_objects), default=9000)
    relation = {
        "id": relation_id,
        "folder_id": body["folder_id"],
        "subject_id": body["subject_id"],
        "subject_type": body["subject_type"],
    }
    ar.folder_objects[str(relation_id)] = relation
    return created(relation)


def _intval(text: str) -> int:
    """PHP's ``intval`` on a path segment: the leading digits, else 0."""
    digits = ""
    for ch in text:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


async def _remove_object(ctx: RouteContext) -> web.StreamResponse:
    """``DELETE .../folders-objects/{id}``: ``FolderObjectsController::destroy`` does
    ``removeFromFolder(intval($id))`` (SDK ``remove_object_from_folder``), so a hex id
    becomes 0, targets no row, and (per the SDK) the call still reports success: that trap
    is reproduced for id 0; another unknown id answers 404."""
    ar = area_for(ctx)
    relation_id = _intval(ctx.params["relation"])
    if ar.folder_objects.pop(str(relation_id), None) is None and relation_id != 0:
        raise not_found()
    return no_content()


def register_org_object_routes(router: Router) -> None:
    org = "/organizations/{org}"
    router.get(f"{org}/tags", _tags)
    router.post(f"{org}/tags", _create_tag)
    router.get(f"{org}/tags/{{tag}}", _get_tag)
    router.put(f"{org}/tags/{{tag}}", _update_tag)
    router.delete(f"{org}/tags/{{tag}}", _delete_tag)
    router.get(f"{org}/folders", _folders)
    router.post(f"{org}/folders", _create_folder)
    router.post(f"{org}/folders/add-object", _add_object)
    router.get(f"{org}/folders/{{folder}}", _get_folder)
    router.put(f"{org}/folders/{{folder}}", _update_folder)
    router.delete(f"{org}/folders/{{folder}}", _delete_folder)
    router.delete(f"{org}/folders-objects/{{relation}}", _remove_object)
