"""Tasks: mine, org-wide, one, complete, reopen (process and one-off routes); create, update,
archive, restore and delete one-off tasks; update process tasks; a member's, a guest's and a
run's tasks.

``GET /organizations/{org}/me/tasks`` silently applies ``status=active`` when ``status`` is
absent (tallyfy/sdk#76: 0 tasks without it, 15 with ``status=all``), so ``list_mine`` always
sends it, defaulting to ``all``.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .._errors import InvalidArgument
from .._ids import segment
from .._pagination import AsyncPager, SeenIds
from .._types import CompletedTask, Task
from .._validation import _local_error, format_datetime, validate_owners, validate_timeline_map
from ._people import Guests
from ._task_extras import TaskExtras
from ._task_union import TaskUnion
from ._writes import body_of, org_path, run_path, task_path, with_param

__all__ = ["Tasks"]

MY_TASK_STATUSES = frozenset({"all", "active", "completed", "overdue", "due_soon", "hasproblem"})
TASK_TYPES = frozenset({"task", "approval", "expiring", "email", "expiring_email"})


class Tasks(TaskExtras):
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
            raise _local_error(
                "status", f"status must be one of {sorted(MY_TASK_STATUSES)}, got {status!r}"
            )
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
        """The tasks of ``org_id`` (process and one-off) that the route shows for
        ``filters``, all pages. Without ``status`` that is the server's DEFAULT view, which may
        leave out completed tasks (undocumented; ``/me/tasks``' default does): for every task
        use ``list_every``.

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

    def list_every(self, org_id: str, *, with_: str | None = None, **filters: Any) -> TaskUnion:
        """EVERY task of ``org_id`` (process and one-off, completed or not), each once.

        ``list(org)`` without ``status`` returns the server's default view, and whether that
        view includes completed tasks is not documented (``/me/tasks``' default hides them,
        tallyfy/sdk#76). This reads the ``incomplete`` and ``complete`` views instead,
        de-duplicated by id, and walks the default view too only when its total says it holds
        tasks those two missed; see ``_task_union``. ``filters`` (not ``status``) apply to
        every view. The CLI's ``tasks --org-wide`` export uses this.
        """
        if "status" in filters:
            raise _local_error("status", "list_every reads every status; use list(org, status=...)")
        org = segment(org_id, name="org_id")
        path = f"/organizations/{org}/tasks"

        def make(
            status: str | None, per_page: int, limit: int | None, exclude: SeenIds | None
        ) -> AsyncPager[Task]:
            params: dict[str, Any] = {"status": status, "with": with_, **filters}
            return self._pager(
                path, org_id=org_id, params=params, per_page=per_page, limit=limit,
                item_type=Task, exclude=exclude,
            )  # fmt: skip

        return TaskUnion(make)

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
        return await self._get_item(path, org_id=org_id, params=params, item_type=Task)

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
        return await self._write_item(
            "POST", path, org_id=org_id, json=body, item_type=CompletedTask
        )

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
        return await self._write_item(
            "DELETE", path, org_id=org_id, idempotent=True, item_type=Task
        )

    # -- other people's tasks, a run's tasks ---------------------------------------------
    def list_for_user(
        self,
        org_id: str,
        user_id: int,
        *,
        status: str = "all",
        with_: str | builtins.list[str] | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Task]:
        """A member's tasks (``GET .../users/{id}/tasks``), all pages.

        ``status`` is always sent (default ``all``), as the official SDK does: ``/me/tasks``
        is proven to read a missing ``status`` as ``active`` (tallyfy/sdk#76) and no source
        says this sibling route does not, which would silently drop completed tasks.
        """
        path = f"{org_path(org_id)}/users/{segment(user_id, name='user_id')}/tasks"
        params: dict[str, Any] = {"status": status, **(with_param(with_) or {}), **filters}
        return self._pager(path, org_id=org_id, params=params, limit=limit, item_type=Task)

    def list_for_guest(
        self,
        org_id: str,
        guest_id: str,
        *,
        status: str = "all",
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Task]:
        """A guest's tasks (``GET .../guests/{guest_id}/tasks``), all pages.

        ``guest_id`` is the guest CODE at the end of the guest's ``link``
        (``https://go.tallyfy.com/guest/<code>``), not the email: the route is keyed by it
        (official SDK ``get_guest_tasks``, MCP ``resolve_guest_ids``, N8N). Have an email?
        ``await client.guests.guest_id(org, email)`` or ``list_for_guest_email``.
        ``status`` is always sent (default ``all``; see ``list_for_user``). The MCP notes this
        route may ignore ``per_page`` and page by 10; the pager follows the server's own page
        count, so every task is still read.
        """
        if isinstance(guest_id, str) and "@" in guest_id:
            raise InvalidArgument(
                "guest_id is the guest code from the guest's link, not an email; use "
                "tasks.list_for_guest_email(org, email) or guests.guest_id(org, email)",
                errors={"guest_id": ["an email, not a guest code"]},
            )
        path = f"{org_path(org_id)}/guests/{segment(guest_id, name='guest_id')}/tasks"
        params: dict[str, Any] = {"status": status, **filters}
        return self._pager(path, org_id=org_id, params=params, limit=limit, item_type=Task)

    async def list_for_guest_email(
        self,
        org_id: str,
        email: str,
        *,
        status: str = "all",
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Task]:
        """``list_for_guest`` from an email: looks the guest up first (``GET
        .../guests/{email}``, one request, as the MCP server does) and returns the pager of
        its tasks. ``NotFoundError`` when the email is not a guest of the org."""
        guest_id = await Guests(self._core).guest_id(org_id, email)
        return self.list_for_guest(org_id, guest_id, status=status, limit=limit, **filters)

    def list_for_run(
        self,
        org_id: str,
        run_id: str,
        *,
        status: str | None = None,
        with_: str | builtins.list[str] | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Task]:
        """The tasks of one process (``GET .../runs/{run}/tasks``), all pages."""
        path = f"{run_path(org_id, run_id)}/tasks"
        params: dict[str, Any] = {"status": status, **(with_param(with_) or {}), **filters}
        return self._pager(path, org_id=org_id, params=params, limit=limit, item_type=Task)

    # -- writes --------------------------------------------------------------------------
    async def update(
        self,
        org_id: str,
        task_id: str,
        run_id: str,
        *,
        taskdata: Mapping[str, Any] | None = None,
        owners: Mapping[str, Any] | None = None,
        deadline: datetime | str | None = None,
        started_at: datetime | str | None = None,
        **fields: Any,
    ) -> Task:
        """Update a process task (``PUT .../runs/{run}/tasks/{task}``); every field optional.

        ``taskdata`` (form values) must be keyed by capture timeline id: the API drops other
        keys silently, so a list or a label key is rejected here. ``owners`` **replaces** the
        assignees. Retried like a read: it sets values, so a repeat changes nothing more.
        """
        path = f"{run_path(org_id, run_id)}/tasks/{segment(task_id, name='task_id')}"
        body = body_of({"deadline": deadline, "started_at": started_at, **fields})
        if taskdata is not None:
            body["taskdata"] = validate_timeline_map(taskdata, field="taskdata")
        if owners is not None:
            body["owners"] = validate_owners(owners)
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Task
        )

    async def update_oneoff(
        self,
        org_id: str,
        task_id: str,
        *,
        title: str,
        deadline: datetime | str,
        owners: Mapping[str, Any],
        **fields: Any,
    ) -> Task:
        """Update a one-off task (``PUT .../tasks/{task}``). The API requires ``title``,
        ``deadline`` and ``owners`` on every update, so they are required arguments here.
        Idempotent (it sets values), so retried like a read."""
        if not title:
            raise _required("title")
        path = task_path(org_id, task_id)
        body = body_of({"title": title, "deadline": deadline, **fields})
        body["owners"] = validate_owners(owners)
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Task
        )

    async def create(
        self,
        org_id: str,
        *,
        title: str,
        owners: Mapping[str, Any],
        deadline: datetime | str,
        task_type: str = "task",
        description: str | None = None,
        started_at: datetime | str | None = None,
        tags: builtins.list[str] | None = None,
        **fields: Any,
    ) -> Task:
        """Create a one-off task (``POST .../tasks`` → 201).

        Sent at most once (no idempotency key exists): a connection lost after sending raises
        ``OutcomeUnknownError``; list tasks with ``q=<title>`` before creating it again.
        """
        if not title:
            raise _required("title")
        if len(title) > 600:
            raise _required("title", "title must be at most 600 characters")
        if task_type not in TASK_TYPES:
            raise _required("task_type", f"task_type must be one of {sorted(TASK_TYPES)}")
        path = f"{org_path(org_id)}/tasks"
        body = body_of(
            {
                "title": title,
                "task_type": task_type,
                "deadline": format_datetime(deadline, field="deadline"),
                # DOCS create-task name it ``description``; the official SDK sends it as
                # ``summary`` (the key tasks carry and updates use). Which one the create
                # route stores is unverified, so both are sent with the same text.
                "description": description,
                "summary": description,
                "started_at": started_at,
                "tags": tags,
                **fields,
            }
        )
        body["owners"] = validate_owners(owners)
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Task)

    async def archive(self, org_id: str, task_id: str) -> None:
        """Archive (soft-delete) a one-off task (``DELETE .../tasks/{task}`` → 204).
        Idempotent (archived stays archived), so retried like a read; undo with ``restore``."""
        path = task_path(org_id, task_id)
        await self._core.request("DELETE", path, org_id=org_id, idempotent=True)

    async def restore(self, org_id: str, task_id: str) -> Task | None:
        """Bring an archived one-off task back (``PUT .../tasks/{task}/restore``); idempotent."""
        path = f"{task_path(org_id, task_id)}/restore"
        return await self._write_optional(
            "PUT", path, org_id=org_id, idempotent=True, item_type=Task
        )

    async def delete(self, org_id: str, task_id: str) -> None:
        """Delete a one-off task for good (``DELETE .../tasks/{task}/delete`` → 204).

        Not re-sent after a lost answer: a repeat of an applied delete answers 404, which would
        turn a success into a failure; ``OutcomeUnknownError`` says to check instead.
        """
        path = f"{task_path(org_id, task_id)}/delete"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)


def _required(field: str, message: str | None = None) -> InvalidArgument:
    return _local_error(field, message or f"{field} is required")
