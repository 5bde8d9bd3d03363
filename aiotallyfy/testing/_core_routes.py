"""The fake's core routes: identity (``/me``, ``/me/organizations``, ``/organizations/{org}``)
and tasks (my tasks, org tasks, one task, complete / reopen for process and one-off tasks).

Sources (API digest ``/work/shared/reference/tallyfy-api.md``): the official SDK
``tallyfy`` 3.1.0 (``task_management``), the Go CLI and Tallyfy's API docs: ``/me/tasks``
defaults ``status`` to ``active`` (tallyfy/sdk#76); completion is ``POST
.../completed-tasks`` with ``task_id``; reopening is ``DELETE .../completed-tasks/{task}``.
Task includes and completed-task hooks come from the fake's areas
(:attr:`FakeTallyfy.task_includes`, :attr:`FakeTallyfy.task_completed_hooks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from ._envelope import (
    bool_param,
    found,
    json_response,
    not_found,
    paginated_response,
    validation_error,
)
from ._fake_data import ME_TASK_STATUSES, ORG_TASK_STATUSES
from ._router import FakeArea, RouteContext, Router

__all__ = [
    "CORE_AREAS",
    "IDENTITY_AREA",
    "TASKS_AREA",
    "register_identity_routes",
    "register_task_routes",
]


def _task_summary(task: Mapping[str, Any]) -> str:
    return f"Please {str(task['title']).lower()} and mark this task complete when done."


def _with_includes(ctx: RouteContext, task: dict[str, Any]) -> dict[str, Any]:
    task["summary"] = _task_summary(task)
    includes = {w.strip() for w in ctx.query.get("with", "").split(",") if w.strip()}
    if "run" in includes:
        run = ctx.data.run(ctx.org_state.id, task["run_id"]) if task["run_id"] else None
        task["run"] = {"data": run}
    found = ctx.fake.task_includes
    for name in includes & found.keys():
        task[name] = found[name](ctx, task)
    return task


def _task_list(ctx: RouteContext, *, mine: bool) -> web.Response:
    st = ctx.org_state
    data = ctx.data
    raw_status = ctx.query.get("status")
    if mine:
        status: str | None = raw_status or "active"  # the server's default (tallyfy/sdk#76)
        allowed = ME_TASK_STATUSES
    else:
        # No source says what /tasks does without ``status``: serve either reading
        # (``FakeTallyfy(org_tasks_default_status=...)``) so clients are tested under both.
        status = raw_status or ctx.fake.org_tasks_default_status
        allowed = ORG_TASK_STATUSES
    if status is not None and status not in allowed:
        raise validation_error("status", "The selected status is invalid.")
    owners: list[int] | None = None
    is_oneoff: bool | None = None
    if not mine:
        is_oneoff = bool_param(ctx, "is_oneoff")
        raw_owners = ctx.query.get("owners")
        if raw_owners:
            try:
                owners = [int(p) for p in raw_owners.split(",") if p.strip()]
            except ValueError:
                raise validation_error(
                    "owners", "The owners must be a comma separated list of user ids."
                ) from None
    q = ctx.query.get("q") or None
    idx = data.select(st.id, mine=mine, status=status, is_oneoff=is_oneoff, owners=owners, q=q)
    overdue, due_soon = data.counts(st.id, mine=mine)

    # ``with`` includes on the list (e.g. ``threads``: DOCS list-org-tasks names ``with`` =
    # run, step, threads, ... for GET /tasks; shared/reference/tallyfy-api.md §5), from the
    # fake's areas like the single-task includes.
    found = ctx.fake.task_includes
    includes = {w.strip() for w in ctx.query.get("with", "").split(",") if w.strip()}
    listed = includes & found.keys()

    def fetch(start: int, stop: int) -> list[bytes] | list[dict[str, Any]]:
        if listed:
            tasks = [data.task_at(st, i) for i in idx[start:stop]]
            for task in tasks:
                for name in listed:
                    task[name] = found[name](ctx, task)
            return tasks
        if stop - start > 1000:  # huge pages: one orjson call, keep the cache small
            return [data.task_at(st, i) for i in idx[start:stop]]
        return [data.task_json(st, i) for i in idx[start:stop]]

    return paginated_response(
        ctx,
        len(idx),
        fetch,
        extra_meta={"overdue_tasks": overdue, "tasks_due_soon": due_soon},
        allow_without_pagination=True,
    )


async def _get_me(ctx: RouteContext) -> web.StreamResponse:
    auth = ctx.request.headers.get("Authorization", "")
    me = ctx.fake.token_users.get(auth[7:], ctx.data.me)
    keys = ("id", "email", "username", "first_name", "last_name", "full_name", "timezone")
    return json_response({"data": {k: me[k] for k in keys} | {"profile_pic": None}})


async def _get_my_orgs(ctx: RouteContext) -> web.StreamResponse:
    orgs = ctx.data.organizations()
    return paginated_response(
        ctx,
        len(orgs),
        lambda a, b: orgs[a:b],
        default_per_page=ctx.fake.org_list_per_page_default,
    )


async def _get_org(ctx: RouteContext) -> web.StreamResponse:
    return json_response({"data": ctx.org_state.org})


async def _get_org_me(ctx: RouteContext) -> web.StreamResponse:
    return await _get_me(ctx)


async def _get_my_tasks(ctx: RouteContext) -> web.StreamResponse:
    return _task_list(ctx, mine=True)


async def _get_org_tasks(ctx: RouteContext) -> web.StreamResponse:
    return _task_list(ctx, mine=False)


async def _get_task(ctx: RouteContext) -> web.StreamResponse:
    st = ctx.org_state
    i = st.id_index.get(ctx.params["task"])
    if i is None:
        raise not_found()
    return json_response({"data": _with_includes(ctx, ctx.data.task_at(st, i))})


def _run_index(ctx: RouteContext) -> int:
    return found(ctx.org_state.run_index.get(ctx.params["run"]))


async def _get_run_task(ctx: RouteContext) -> web.StreamResponse:
    st = ctx.org_state
    r = _run_index(ctx)
    i = st.id_index.get(ctx.params["task"])
    if i is None or st.run[i] != r:
        raise not_found()
    return json_response({"data": _with_includes(ctx, ctx.data.task_at(st, i))})


def _complete(ctx: RouteContext, run: int) -> web.Response:
    """Shared body of both complete routes (``run`` = -1 for one-off tasks)."""
    st = ctx.org_state
    body = ctx.json_object()
    task_id = body.get("task_id")
    if task_id is None or task_id == "":
        raise validation_error("task_id", "The task id field is required.")
    if not isinstance(task_id, str):
        raise validation_error("task_id", "The task id must be a string.")
    is_approved = body.get("is_approved")
    if is_approved is not None and not isinstance(is_approved, bool):
        raise validation_error("is_approved", "The is approved field must be true or false.")
    i = st.id_index.get(task_id)
    if i is None or st.run[i] != run:
        raise validation_error("task_id", "The selected task id is invalid.")
    if st.status[i] == 2:
        raise validation_error("task_id", "The task has already been completed.")
    now = ctx.now_iso()
    task = ctx.data.complete_task(
        st.id, task_id, completer_id=ctx.data.me_id, completed_at=now, is_approved=is_approved
    )
    return json_response(
        {
            "data": {
                "id": task["id"],
                "title": task["title"],
                "status": "completed",
                "completed_at": task["completed_at"],
                "completer_id": task["completer_id"],
                "tasks_changed_by_rules": {},
            }
        }
    )


def _reopen(ctx: RouteContext, run: int) -> web.Response:
    st = ctx.org_state
    task_id = ctx.params["task"]
    i = st.id_index.get(task_id)
    if i is None:
        raise not_found()
    if st.run[i] != run:
        raise validation_error("task_id", "The selected task id is invalid.")
    if st.status[i] != 2:
        raise validation_error("task_id", "The task is not completed.")
    task = ctx.data.reopen_task(st.id, task_id, updated_at=ctx.now_iso())
    return json_response(
        {
            "data": {
                "id": task["id"],
                "title": task["title"],
                "status": "in-progress",
                "completed_at": None,
                "completer_id": None,
                "completer_guest_id": None,
                "is_approved": None,
                "tasks_changed_by_rules": {},
            }
        }
    )


async def _completed_hooks(ctx: RouteContext, response: web.Response) -> web.Response:
    for hook in ctx.fake.task_completed_hooks:
        await hook(ctx, str(ctx.json_object().get("task_id")))
    return response


async def _complete_run_task(ctx: RouteContext) -> web.StreamResponse:
    return await _completed_hooks(ctx, _complete(ctx, _run_index(ctx)))


async def _reopen_run_task(ctx: RouteContext) -> web.StreamResponse:
    return _reopen(ctx, _run_index(ctx))


async def _complete_oneoff(ctx: RouteContext) -> web.StreamResponse:
    return await _completed_hooks(ctx, _complete(ctx, -1))


async def _reopen_oneoff(ctx: RouteContext) -> web.StreamResponse:
    return _reopen(ctx, -1)


def register_identity_routes(router: Router) -> None:
    """``/me``, ``/me/organizations``, ``/organizations/{org}``, ``/organizations/{org}/me``."""
    router.get("/me", _get_me)
    router.get("/me/organizations", _get_my_orgs)
    router.get("/organizations/{org}", _get_org)
    router.get("/organizations/{org}/me", _get_org_me)


def register_task_routes(router: Router) -> None:
    """Task listing, single task, complete / reopen (process and one-off)."""
    router.get("/organizations/{org}/me/tasks", _get_my_tasks)
    router.get("/organizations/{org}/tasks", _get_org_tasks)
    router.get("/organizations/{org}/tasks/{task}", _get_task)
    router.get("/organizations/{org}/runs/{run}/tasks/{task}", _get_run_task)
    router.post("/organizations/{org}/runs/{run}/completed-tasks", _complete_run_task)
    router.delete("/organizations/{org}/runs/{run}/completed-tasks/{task}", _reopen_run_task)
    router.post("/organizations/{org}/completed-tasks", _complete_oneoff)
    router.delete("/organizations/{org}/completed-tasks/{task}", _reopen_oneoff)


IDENTITY_AREA: Final = FakeArea("identity", register_identity_routes)
TASKS_AREA: Final = FakeArea("tasks", register_task_routes)
CORE_AREAS: Final[tuple[FakeArea, ...]] = (IDENTITY_AREA, TASKS_AREA)
"""The routes every useful fake serves: identity and task reads / completion."""
