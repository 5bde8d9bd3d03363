"""Fake routes: comments (threads) on tasks, problems and their resolution.

Comments are read through ``GET .../tasks/{task}?with=threads`` (the ``threads`` include is
the comments area's ``FakeArea.task_includes``); there is no list route, as on the real API.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._envelope import not_found
from ._fake_common import area_for, created, item, no_content, validation_errors
from ._fake_store import area, overlay_task
from ._router import RouteContext, Router

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
    """``POST .../tasks/{task}/resolved-threads`` resolves ONE issue: the body needs
    ``thread_id`` (the problem comment's id) and ``content`` (the resolution comment) (SDK
    ``resolve_task_issues(org, task, thread_id, content="Resolved")`` sends both; N8N:
    "Resolve issue requires both thread_id and content"). A thread that is not an open
    problem of this task is a 422. The answer is the resolution comment."""
    task_id = _task_id(ctx)
    body = ctx.json_object()
    errors = {}
    if not isinstance(body.get("thread_id"), str) or not body["thread_id"]:
        errors["thread_id"] = "The thread id field is required."
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        errors["content"] = "The content field is required."
    if errors or not isinstance(content, str):
        raise validation_errors(errors)
    state = body.get("state", "open")
    if state not in STATES:
        raise validation_errors({"state": "The selected state is invalid."})
    ar = area_for(ctx)
    thread = ar.threads.get(task_id, [])
    problem = next(
        (
            c
            for c in thread
            if c["id"] == body["thread_id"] and c["label"] == "problem" and c["state"] == "open"
        ),
        None,
    )
    if problem is None:
        raise validation_errors({"thread_id": "The selected thread id is invalid."})
    problem["state"] = "collapsed"
    resolution = ar.new_comment(task_id, content, "resolve", state, now=ctx.now_iso())
    resolution["resolve_id"] = problem["id"]
    problem["resolve_id"] = resolution["id"]
    st = ctx.org_state
    still_open = any(c["label"] == "problem" and c["state"] == "open" for c in thread)
    overlay_task(st, st.id_index[task_id], {"problem": still_open})
    return item(resolution)


def register_comment_routes(router: Router) -> None:
    base = "/organizations/{org}/tasks/{task}"
    router.post(f"{base}/comment", _post)
    router.put(f"{base}/comment/{{comment}}", _edit)
    router.delete(f"{base}/comment/{{comment}}", _delete)
    router.post(f"{base}/problem", _problem)
    router.post(f"{base}/resolved-threads", _resolve)
