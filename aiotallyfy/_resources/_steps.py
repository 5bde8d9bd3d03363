"""Blueprint steps: get, create, update, delete, clone, reorder (``client.steps``). The list of
a blueprint's steps is ``client.blueprints.steps`` (every page).

Rules mirrored from the sources (SDK ``template_management/basic_operations.py``, which quotes
api-v2's ``CreateStepRequest``/``StepBuilder``; N8N live test; MCP ``template_management``):

- create: ``title`` and ``checklist_id`` in the body; ``position`` is discarded at creation
  (steps always append: use ``reorder``); ``alias``, ``roles`` and ``description`` are
  stripped without an error (the step text is ``summary``). Those keys are refused here.
- update: ``title`` is required on every PUT, and ``assignees``/``guests``/``groups`` left out
  are read as *empty*, so a partial update silently unassigns the step (SDK: "an ABSENT key
  is an EMPTY SET"). ``update`` therefore reads the step first and sends the current values
  of whichever of those four you did not pass.
- delete is permanent and refused while an automation or another step's deadline depends on
  the step (MCP ``delete_step``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import InvalidArgument
from .._ids import segment
from .._types import Step
from .._validation import _local_error
from ._base import Resource
from ._blueprint_lifecycle import checklist_path
from ._writes import body_of

__all__ = ["STEP_TYPES", "Steps", "step_path"]

STEP_TYPES = frozenset({"task", "approval", "expiring", "email", "expiring_email"})
# Keys api-v2 drops on a step create without an error (SDK STEP_HINTS, tallyfy/sdk#32).
_DROPPED_ON_CREATE = {
    "description": "the step text is 'summary'",
    "alias": "the server sets it",
    "roles": "not accepted by the create route",
    "position": "steps always append; move it with reorder()",
}
_ASSIGNEE_BUCKETS = ("assignees", "guests", "groups")


def step_path(org_id: str, checklist_id: str, step_id: str) -> str:
    """``.../checklists/{id}/steps/{step}``, every id checked and encoded."""
    return f"{checklist_path(org_id, checklist_id)}/steps/{segment(step_id, name='step_id')}"


def _check_step_fields(fields: Mapping[str, Any]) -> None:
    step_type = fields.get("step_type")
    if step_type is not None and step_type not in STEP_TYPES:
        raise _local_error("step_type", f"step_type must be one of {sorted(STEP_TYPES)}")
    assignees = fields.get("assignees")
    if assignees is not None and (
        not isinstance(assignees, list)
        or any(isinstance(u, bool) or not isinstance(u, int) for u in assignees)
    ):
        raise _local_error("assignees", "assignees must be a list of integer user ids")


class Steps(Resource):
    __slots__ = ()

    async def get(self, org_id: str, checklist_id: str, step_id: str) -> Step:
        """One step with its ``captures`` (``GET .../steps/{step}``)."""
        path = step_path(org_id, checklist_id, step_id)
        return await self._get_item(path, org_id=org_id, item_type=Step)

    async def create(self, org_id: str, checklist_id: str, *, title: str, **fields: Any) -> Step:
        """Append a step (``POST .../checklists/{id}/steps`` → 201). ``fields``: ``summary``,
        ``step_type``, ``deadline``, ``assignees`` (user ids), ``guests``, ``groups``,
        ``webhook``, ``max_assignable``, the boolean flags. Sent once."""
        if not isinstance(title, str) or not title.strip():
            raise _local_error("title", "title is required")
        for key, why in _DROPPED_ON_CREATE.items():
            if key in fields:
                raise _local_error(key, f"{key} is dropped by the API on create ({why})")
        _check_step_fields(fields)
        checklist = segment(checklist_id, name="checklist_id")
        path = f"{checklist_path(org_id, checklist_id)}/steps"
        body = body_of({"title": title, **fields, "checklist_id": checklist})
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Step)

    async def update(self, org_id: str, checklist_id: str, step_id: str, **fields: Any) -> Step:
        """``PUT .../steps/{step}``. Sets values, so it is retried like a read.

        The API needs ``title`` on every update and treats a missing ``assignees``,
        ``guests`` or ``groups`` as "remove them all". Whichever of those four you leave out
        is read from the step first (one extra GET) and sent unchanged; if that read does not
        carry them, nothing is sent (``InvalidArgument``) rather than risk
        unassigning the step. Pass ``assignees=[]`` (etc.) to clear on purpose.
        """
        if "title" in fields and (not isinstance(fields["title"], str) or not fields["title"]):
            raise _local_error("title", "title must be a non-empty string")
        _check_step_fields(fields)
        path = step_path(org_id, checklist_id, step_id)
        body = body_of(fields)
        missing = [k for k in ("title", *_ASSIGNEE_BUCKETS) if k not in body]
        if missing:
            current: dict[str, Any] = dict(await self.get(org_id, checklist_id, step_id))
            for key in missing:
                value = current.get(key)
                ok = isinstance(value, str) and value if key == "title" else isinstance(value, list)
                if not ok:
                    raise InvalidArgument(
                        f"the step did not return its current {key!r}; pass {key}= explicitly "
                        "(the API would otherwise clear or reject it). Nothing was sent",
                        errors={key: ["not returned by GET; pass it explicitly"]},
                    )
                body[key] = list(value) if isinstance(value, list) else value
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Step
        )

    async def delete(self, org_id: str, checklist_id: str, step_id: str) -> None:
        """Delete a step for good (``DELETE .../steps/{step}``). Refused while automations
        or other steps' deadlines depend on it. Not re-sent after a lost answer (a repeat of
        an applied delete answers 404)."""
        path = step_path(org_id, checklist_id, step_id)
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)

    async def clone(self, org_id: str, checklist_id: str, step_id: str) -> Step:
        """Copy a step with its form fields and assignees (``POST .../steps/{step}/clone``);
        the answer is the new step. Sent once."""
        path = f"{step_path(org_id, checklist_id, step_id)}/clone"
        return await self._write_item("POST", path, org_id=org_id, item_type=Step)

    async def reorder(self, org_id: str, checklist_id: str, step_id: str, position: int) -> Step:
        """Move a step to ``position`` (1-based; ``PUT .../steps/{step}/reorder``). Moving it
        to where it already is changes nothing, so it is retried like a read."""
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            raise _local_error("position", "position must be an integer >= 1 (1-based)")
        path = f"{step_path(org_id, checklist_id, step_id)}/reorder"
        return await self._write_item(
            "PUT", path, org_id=org_id, json={"position": position}, idempotent=True, item_type=Step
        )
