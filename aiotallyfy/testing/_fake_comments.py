"""Fake routes: comments (threads) on tasks, problems and their resolution.

Comments are read through ``GET .../tasks/{task}?with=threads`` (the ``threads`` include is
registered in ``_fake_server.TASK_INCLUDES``); there is no list route, as on the real API.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._fake_common import area_for, created, item, no_content, validation_errors
from ._fake_server import RouteContext, Router, not_found
from ._fake_store import area, overlay_task

__all__ = ["register_comment_routes", "threads_include"]

LABELS = frozenset({"comment", "problem", "resolve", "improvement", "advice"})
STATES = frozenset({"open", "hide-for-guests", "collapsed"})


def threads_include(ctx: RouteContext, task: dict[str, Any]) -> dict[str, Any]:
    """The ``threads`` include of a task: ``{"data": [comments]}``."""
    thread = area(ctx.data, ctx.org_state).threads.get(task["id"], [])
    return {"data": [c for c in thread if c.get("archived_at") is None]}


def _task_id(ctx: RouteContext) -> str:
    task_id = ctx.params["task"]
    if task_id not in ctx.org_state.id_index:
        raise not_found()
    return task_id


def _comment(ctx: RouteContext) -> dict[str, Any]:
    for comment in area_for(ctx).threads.get(_task_id(ctx), []):
        if comment["id"] == ctx.params["comment"] and comment["archived_at"] is None:
            return comment
    raise not_found()


async def _post(ctx: RouteContext) -> web.StreamResponse:
    task_id = _task_id(ctx)
    body = ctx.json_object()
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise validation_errors({"content": "The content field is required."})
    label = body.get("label", "comment")
    if label not in LABELS:
        raise validation_errors({"label": "The selected label is invalid."})
    state = body.get("state", "open")
    if state not in STATES:
        raise validation_errors({"state": "The selected state is invalid."})
    comment = area_for(ctx).new_comment(task_id, content, label, state, now=ctx.now_iso())
    if isinstance(body.get("sent_to"), list):
        comment["sent_to"] = body["sent_to"]
    return created(comment)


async def _edit(ctx: RouteContext) -> web.StreamResponse:
    comment = _comment(ctx)
    content = ctx.json_object().get("content")
    if not isinstance(content, str) or not content.strip():
        raise validation_errors({"content": "The content field is required."})
    comment["content"] = content
    comment["updated_at"] = ctx.now_iso()
    return item(comment)


async def _delete(ctx: RouteContext) -> web.StreamResponse:
    comment = _comment(ctx)
    comment["archived_at"] = ctx.now_iso()
    return no_content()


async def _problem(ctx: RouteContext) -> web.StreamResponse:
    task_id = _task_id(ctx)
    content = ctx.json_object().get("content")
    if not isinstance(content, str) or not content.strip():
        raise validation_errors({"content": "The content field is required."})
    comment = area_for(ctx).new_comment(task_id, content, "problem", "open", now=ctx.now_iso())
    st = ctx.org_state
    overlay_task(st, st.id_index[task_id], {"problem": True})
    return created(comment)


async def _resolve(ctx: RouteContext) -> web.StreamResponse:
    task_id = _task_id(ctx)
    ar = area_for(ctx)
    resolved = 0
    for comment in ar.threads.get(task_id, []):
        if comment["label"] == "problem" and comment["state"] == "open":
            comment["state"] = "collapsed"
            comment["label"] = "resolve"
            resolved += 1
    st = ctx.org_state
    overlay_task(st, st.id_index[task_id], {"problem": False})
    return item({"task_id": task_id, "resolved": resolved})


def register_comment_routes(router: Router) -> None:
    base = "/organizations/{org}/tasks/{task}"
    router.post(f"{base}/comment", _post)
    router.put(f"{base}/comment/{{comment}}", _edit)
    router.delete(f"{base}/comment/{{comment}}", _delete)
    router.post(f"{base}/problem", _problem)
    router.post(f"{base}/resolved-threads", _resolve)
