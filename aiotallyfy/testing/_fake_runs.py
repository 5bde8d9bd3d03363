"""Fake routes: processes (runs) and the tasks of a run.

Launch (``POST /runs`` → 201) checks ``checklist_id``, requires ``prerun`` to be an object
(a list gives 422, as the real API fails them), drops unknown ``prerun`` keys silently (as the
real API does), answers 422 "<label> is required" for a missing required kick-off field, and
creates one task per blueprint step (step ``tasks`` overrides applied). A blueprint with a
``webhook`` URL gets a process-launched webhook delivered before the answer is sent.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._envelope import not_found, paginated_response
from ._fake_common import area_for, created, item, list_response, require_prerun, validation_errors
from ._fake_data import COMPLETED, IN_PROGRESS, NOT_STARTED
from ._fake_design_state import includes, tags_include
from ._fake_store import append_task, parse_api_date
from ._router import RouteContext, Router

__all__ = ["register_run_routes"]

RUN_STATUS_FILTERS = frozenset(
    {"active", "complete", "problem", "issue", "improvement", "archived", "delayed", "starred"}
)


def _run(ctx: RouteContext) -> tuple[int, dict[str, Any]]:
    st = ctx.org_state
    r = st.run_index.get(ctx.params["run"])
    if r is None or ctx.params["run"] in area_for(ctx).deleted_runs:
        raise not_found()
    return r, st.runs[r]


def _progress(ctx: RouteContext, r: int) -> dict[str, Any]:
    st = ctx.org_state
    idx = area_for(ctx).run_task_indices(r)
    done = sum(1 for i in idx if st.status[i] == COMPLETED)
    total = len(idx)
    return {"complete": done, "total": total, "percent": round(100 * done / total) if total else 0}


async def _list_runs(ctx: RouteContext) -> web.StreamResponse:
    st = ctx.org_state
    deleted = area_for(ctx).deleted_runs
    archived = (ctx.query.get("archived") or "").lower()
    status = ctx.query.get("status")
    if status and status not in RUN_STATUS_FILTERS:
        raise validation_errors({"status": "The selected status is invalid."})
    checklist = ctx.query.get("checklist_id") or ctx.query.get("blueprint_id")
    rows = []
    for run in st.runs:
        if run["id"] in deleted:
            continue
        is_archived = run.get("archived_at") is not None
        if archived == "only" and not is_archived:
            continue
        if archived not in ("only", "true", "1") and is_archived and status != "archived":
            continue
        if status == "archived" and not is_archived:
            continue
        if status == "complete" and run.get("status") != "complete":
            continue
        if status == "active" and run.get("status") != "active":
            continue
        if status == "starred" and not run.get("starred"):
            continue
        if checklist and run["checklist_id"] != checklist:
            continue
        rows.append(run)
    sort = ctx.query.get("sort") or ctx.query.get("sort_by")
    if sort in ("-created_at", "created_at"):
        order = {run["id"]: n for n, run in enumerate(st.runs)}
        rows.sort(key=lambda r: (r["created_at"], order[r["id"]]), reverse=sort.startswith("-"))
    return list_response(ctx, rows, allow_without_pagination=True, q_fields=("name", "summary"))


async def _get_run(ctx: RouteContext) -> web.StreamResponse:
    r, run = _run(ctx)
    out = dict(run)
    out["progress"] = _progress(ctx, r)
    if "tags" in includes(ctx):
        out["tags"] = tags_include(ctx, run["id"])
    return item(out)


def _check_prerun(ctx: RouteContext, checklist: dict[str, Any], prerun: Any) -> dict[str, Any]:
    if prerun is None:
        prerun = {}
    if not isinstance(prerun, dict):
        raise validation_errors({"prerun": "The prerun must be an object keyed by field id."})
    fields = area_for(ctx).prerun.get(checklist["id"], [])
    known = {f["id"]: f for f in fields}
    kept = {k: v for k, v in prerun.items() if k in known}  # unknown keys: dropped silently
    require_prerun(fields, kept)
    return kept


async def _launch(ctx: RouteContext) -> web.StreamResponse:
    st = ctx.org_state
    data = ctx.data
    ar = area_for(ctx)
    body = ctx.json_object()
    checklist_id = body.get("checklist_id")
    if not checklist_id:
        raise validation_errors({"checklist_id": "The checklist id field is required."})
    checklist = next((c for c in st.checklists if c["id"] == checklist_id), None)
    if checklist is None or checklist.get("archived_at"):
        raise validation_errors({"checklist_id": "The selected checklist id is invalid."})
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 550):
        raise validation_errors({"name": "The name may not be greater than 550 characters."})
    overrides = body.get("tasks") or {}
    if not isinstance(overrides, dict):
        raise validation_errors({"tasks": "The tasks must be an object keyed by step id."})
    prerun = _check_prerun(ctx, checklist, body.get("prerun"))
    now_iso = ctx.now_iso()
    now = parse_api_date(now_iso) or data.now
    run = ar.new_run(
        checklist,
        name=name,
        summary=body.get("summary"),
        created=now_iso,
        owner_id=body.get("owner_id") if isinstance(body.get("owner_id"), int) else None,
        prerun=prerun,
    )
    if body.get("starred"):
        run["starred"] = True
    r = st.run_index[run["id"]]
    rng = ar.rng
    for step in ar.steps.get(checklist["id"], []):
        override = overrides.get(step["id"]) or {}
        owners = override.get("owners") or {"users": [data.me_id], "guests": [], "groups": []}
        deadline = parse_api_date(override.get("deadline")) or now + 2 * 86400
        append_task(
            data,
            st,
            task_id=f"{rng.getrandbits(128):032x}",
            title=step["title"],
            run=r,
            position=step["position"],
            owners=owners,
            deadline=deadline,
            created=now,
            status=IN_PROGRESS if step["position"] == 1 else NOT_STARTED,
            overlay={"webhook": step.get("webhook")},
        )
    ar.launches += 1
    out = dict(run)
    out["progress"] = _progress(ctx, r)
    hook = checklist.get("webhook")
    if hook:
        from ._fake_webhooks import process_payload

        await ctx.fake.deliver_webhook(hook, process_payload(ctx, r), st.id)
    return created(out)


async def _update_run(ctx: RouteContext) -> web.StreamResponse:
    _, run = _run(ctx)
    body = ctx.json_object()
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name or len(name) > 550):
        raise validation_errors({"name": "The name must be 1 to 550 characters."})
    for key in ("name", "summary", "starred", "is_public", "owner_id"):
        if key in body:
            run[key] = body[key]
    run["last_updated"] = ctx.now_iso()
    return item(run)


async def _archive_run(ctx: RouteContext) -> web.StreamResponse:
    _, run = _run(ctx)
    if run.get("archived_at") is None:
        run["archived_at"] = ctx.now_iso()
    return item(run)


async def _activate_run(ctx: RouteContext) -> web.StreamResponse:
    _, run = _run(ctx)
    run["archived_at"] = None
    return item(run)


async def _delete_run(ctx: RouteContext) -> web.StreamResponse:
    """``DELETE .../runs/{run}/delete`` answers 200 with an EMPTY body (DOCS
    processes/delete-process), not 204."""
    _, run = _run(ctx)
    area_for(ctx).deleted_runs.add(run["id"])
    return web.Response(status=200)


RUN_TASK_STATUSES = frozenset(
    {"complete", "active", "active_visible", "incomplete", "inprogress", "not-started",
     "hasproblem", "overdue", "due_soon", "all"}
)  # fmt: skip


async def _run_tasks(ctx: RouteContext) -> web.StreamResponse:
    st = ctx.org_state
    r, _ = _run(ctx)
    status = ctx.query.get("status")
    if status and status not in RUN_TASK_STATUSES:
        raise validation_errors({"status": "The selected status is invalid."})
    idx = area_for(ctx).run_task_indices(r)
    if status in ("complete",):
        idx = [i for i in idx if st.status[i] == COMPLETED]
    elif status in ("active", "active_visible", "incomplete"):
        idx = [i for i in idx if st.status[i] != COMPLETED]
    elif status == "inprogress":
        idx = [i for i in idx if st.status[i] == IN_PROGRESS]
    elif status == "not-started":
        idx = [i for i in idx if st.status[i] == NOT_STARTED]
    if ctx.query.get("sort") in ("-position",):
        idx = list(reversed(idx))

    def fetch(start: int, stop: int) -> list[bytes]:
        return [ctx.data.task_json(st, i) for i in idx[start:stop]]

    return paginated_response(ctx, len(idx), fetch, allow_without_pagination=True)


def register_run_routes(router: Router) -> None:
    router.get("/organizations/{org}/runs", _list_runs)
    router.post("/organizations/{org}/runs", _launch)
    router.get("/organizations/{org}/runs/{run}", _get_run)
    router.put("/organizations/{org}/runs/{run}", _update_run)
    router.delete("/organizations/{org}/runs/{run}", _archive_run)
    router.put("/organizations/{org}/runs/{run}/activate", _activate_run)
    router.delete("/organizations/{org}/runs/{run}/delete", _delete_run)
    router.get("/organizations/{org}/runs/{run}/tasks", _run_tasks)
