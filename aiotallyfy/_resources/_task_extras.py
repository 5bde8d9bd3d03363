"""Task extras: clone a task, post a bot comment. A mixin of ``Tasks``.

Sources: ``POST .../tasks/{task}/clone``, no body (N8N ``task:clone``); ``POST
.../tasks/{task}/bot-comment`` ``{content}`` (N8N ``comment:createBot``). Both create
something, so both are sent once.
"""

from __future__ import annotations

from .._types import Comment, Task
from .._validation import _local_error
from ._base import Resource
from ._writes import task_path

__all__ = ["TaskExtras"]


class TaskExtras(Resource):
    __slots__ = ()

    async def clone(self, org_id: str, task_id: str) -> Task:
        """Copy a task (``POST .../tasks/{task}/clone``); the answer is the new task. Sent
        once: a lost answer raises ``OutcomeUnknownError``."""
        path = f"{task_path(org_id, task_id)}/clone"
        return await self._write_item("POST", path, org_id=org_id, item_type=Task)

    async def bot_comment(self, org_id: str, task_id: str, content: str) -> Comment:
        """Post a comment as the bot rather than as the token's user (``POST
        .../tasks/{task}/bot-comment`` ``{content}``). Sent once."""
        if not isinstance(content, str) or not content.strip():
            raise _local_error("content", "content is required")
        path = f"{task_path(org_id, task_id)}/bot-comment"
        return await self._write_item(
            "POST", path, org_id=org_id, json={"content": content}, item_type=Comment
        )
