"""Tasks: mine, org-wide, one, complete, reopen (process and one-off routes).

``GET /organizations/{org}/me/tasks`` silently applies ``status=active`` when ``status`` is
absent (tallyfy/sdk#76: 0 tasks without it, 15 with ``status=all``), so ``list_mine`` always
sends it, defaulting to ``all``.
"""

from __future__ import annotations

from typing import Any

from .._ids import segment
from .._pagination import AsyncPager
from .._types import CompletedTask, Task
from ._base import Resource, unwrap

__all__ = ["Tasks"]

MY_TASK_STATUSES = frozenset({"all", "active", "completed", "overdue", "due_soon", "hasproblem"})


class Tasks(Resource):
    __slots__ = ()

    def list_mine(
        self,
        org_id: str,
        *,
        status: str = "all",
        q: str | None = None,
        sort: str | None = None,
        with_: str | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Task]:
        """The token user's tasks in ``org_id``, all pages. ``status`` is always sent."""
        if status not in MY_TASK_STATUSES:
            raise ValueError(f"status must be one of {sorted(MY_TASK_STATUSES)}, got {status!r}")
        org = segment(org_id, name="org_id")
        params: dict[str, Any] = {"status": status, "q": q, "sort": sort, "with": with_}
        params.update(filters)
        return self._pager(
            f"/organizations/{org}/me/tasks",
            org_id=org_id,
            params=params,
            limit=limit,
            item_type=Task,
        )

    def list(
        self,
        org_id: str,
        *,
        with_: str | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Task]:
        """Every task of ``org_id`` (process and one-off), all pages.

        ``filters`` are Tallyfy's query parameters as they are named there: ``status``,
        ``owners``, ``is_oneoff``, ``q``, ``tag``, ``folder``, ``archived``, ``sort``, ...
        Lists become comma-separated values.
        """
        org = segment(org_id, name="org_id")
        params: dict[str, Any] = {"with": with_, **filters}
        return self._pager(
            f"/organizations/{org}/tasks",
            org_id=org_id,
            params=params,
            limit=limit,
            item_type=Task,
        )

    async def get(
        self, org_id: str, task_id: str, *, run_id: str | None = None, with_: str | None = None
    ) -> Task:
        """One task. ``run_id`` uses the process-task route; without it the org route, which
        serves both kinds."""
        org = segment(org_id, name="org_id")
        task = segment(task_id, name="task_id")
        if run_id is not None:
            path = f"/organizations/{org}/runs/{segment(run_id, name='run_id')}/tasks/{task}"
        else:
            path = f"/organizations/{org}/tasks/{task}"
        params = {"with": with_} if with_ else None
        result: Task = await self._get_item(path, org_id=org_id, params=params)
        return result

    async def complete(
        self,
        org_id: str,
        task_id: str,
        run_id: str | None = None,
        *,
        is_approved: bool | None = None,
        override_user: int | None = None,
    ) -> CompletedTask:
        """Complete a task: with ``run_id`` a process task, without it a one-off task.

        Sent at most once: if the connection fails after the POST was written, this raises
        ``OutcomeUnknownError`` rather than risk completing twice; read the task to find out.
        """
        org = segment(org_id, name="org_id")
        body: dict[str, Any] = {"task_id": str(task_id)}
        segment(task_id, name="task_id")
        if is_approved is not None:
            body["is_approved"] = is_approved
        if override_user is not None:
            body["override_user"] = override_user
        if run_id is not None:
            path = f"/organizations/{org}/runs/{segment(run_id, name='run_id')}/completed-tasks"
        else:
            path = f"/organizations/{org}/completed-tasks"
        response = await self._core.request("POST", path, org_id=org_id, json=body)
        result: CompletedTask = unwrap(response.data, path)
        return result

    async def reopen(self, org_id: str, task_id: str, run_id: str | None = None) -> Task:
        """Reopen a completed task (``DELETE .../completed-tasks/{task}``). Reopening twice
        leaves the same state, so it is retried like a read."""
        org = segment(org_id, name="org_id")
        task = segment(task_id, name="task_id")
        if run_id is not None:
            run = segment(run_id, name="run_id")
            path = f"/organizations/{org}/runs/{run}/completed-tasks/{task}"
        else:
            path = f"/organizations/{org}/completed-tasks/{task}"
        response = await self._core.request("DELETE", path, org_id=org_id, idempotent=True)
        result: Task = unwrap(response.data, path)
        return result
