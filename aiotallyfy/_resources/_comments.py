"""Comments (``threads``) on tasks: read, post, edit, delete, report and resolve problems.

There is no list route: comments are read off the task with ``?with=threads``
(``data.threads.data[]``). Posting is a POST (sent once; counts against Tallyfy's hourly
comment cap); editing sets the content (retried like a read); deleting is not re-sent after
a lost answer (a repeat answers 404).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any

from .._errors import InvalidArgument
from .._ids import segment
from .._types import Comment
from ._base import Resource
from ._writes import body_of, task_path

__all__ = ["Comments"]

LABELS = frozenset({"comment", "problem", "resolve", "improvement", "advice"})
STATES = frozenset({"open", "hide-for-guests", "collapsed"})


class Comments(Resource):
    __slots__ = ()

    def _path(self, org_id: str, task_id: str, comment_id: str) -> str:
        return f"{task_path(org_id, task_id)}/comment/{segment(comment_id, name='comment_id')}"

    async def list(self, org_id: str, task_id: str) -> builtins.list[Comment]:
        """The task's comments, read through ``GET .../tasks/{task}?with=threads``."""
        path = task_path(org_id, task_id)
        task = await self._get_item(
            path, org_id=org_id, params={"with": "threads"}, item_type=object
        )
        threads = task.get("threads") if isinstance(task, dict) else None
        items = threads.get("data") if isinstance(threads, dict) else threads
        return list(items or [])

    async def iter(self, org_id: str, task_id: str) -> AsyncIterator[Comment]:
        """Like ``list``, as an async iterator (the API returns them in one response)."""
        for comment in await self.list(org_id, task_id):
            yield comment

    async def create(
        self,
        org_id: str,
        task_id: str,
        content: str,
        *,
        label: str = "comment",
        state: str | None = None,
        sent_to: builtins.list[Any] | None = None,
    ) -> Comment:
        """``POST .../tasks/{task}/comment``; sent once."""
        if not content:
            raise InvalidArgument("content is required", errors={"content": ["required"]})
        if label not in LABELS:
            raise InvalidArgument(
                f"label must be one of {sorted(LABELS)}", errors={"label": ["invalid"]}
            )
        if state is not None and state not in STATES:
            raise InvalidArgument(
                f"state must be one of {sorted(STATES)}", errors={"state": ["invalid"]}
            )
        path = f"{task_path(org_id, task_id)}/comment"
        body = body_of({"content": content, "label": label, "state": state, "sent_to": sent_to})
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Comment)

    async def update(self, org_id: str, task_id: str, comment_id: str, content: str) -> Comment:
        """``PUT .../tasks/{task}/comment/{id}``; sets the content, retried like a read."""
        path = self._path(org_id, task_id, comment_id)
        return await self._write_item(
            "PUT",
            path,
            org_id=org_id,
            json={"content": content},
            idempotent=True,
            item_type=Comment,
        )

    async def delete(self, org_id: str, task_id: str, comment_id: str) -> None:
        """``DELETE .../tasks/{task}/comment/{id}``; not re-sent (a repeat answers 404)."""
        path = self._path(org_id, task_id, comment_id)
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)

    async def report_problem(self, org_id: str, task_id: str, content: str) -> Comment:
        """``POST .../tasks/{task}/problem``: raise an issue on the task; sent once."""
        if not content:
            raise InvalidArgument("content is required", errors={"content": ["required"]})
        path = f"{task_path(org_id, task_id)}/problem"
        return await self._write_item(
            "POST", path, org_id=org_id, json={"content": content}, item_type=Comment
        )

    async def resolve_problems(
        self,
        org_id: str,
        task_id: str,
        thread_id: str,
        content: str = "Resolved",
        *,
        state: str | None = None,
    ) -> Comment | None:
        """Resolve one issue on a task (``POST .../tasks/{task}/resolved-threads``).

        The API needs both the issue's ``thread_id`` (the ``id`` ``report_problem`` returned,
        or a ``problem`` comment's id from ``list``) and ``content``, the resolution comment
        (official SDK ``resolve_task_issues``; N8N: "Resolve issue requires both thread_id and
        content"). Sent once. Returns the answer's ``data`` when the server sends one.
        """
        if not isinstance(content, str) or not content.strip():
            raise InvalidArgument("content is required", errors={"content": ["required"]})
        if state is not None and state not in STATES:
            raise InvalidArgument(
                f"state must be one of {sorted(STATES)}", errors={"state": ["invalid"]}
            )
        path = f"{task_path(org_id, task_id)}/resolved-threads"
        body = body_of(
            {"thread_id": segment(thread_id, name="thread_id"), "content": content, "state": state}
        )
        return await self._write_optional("POST", path, org_id=org_id, json=body, item_type=Comment)
