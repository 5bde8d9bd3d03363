"""Form fields of blueprint steps (``captures``) and kick-off fields (``preruns``):
``client.captures``.

Rules from the sources (api-v2 ``CaptureRequestValidator`` as quoted by the MCP form tools;
SDK ``form_fields_management``; N8N live test):

- create and update both need ``field_type``, ``label`` and ``required`` (a bool; the SDK's
  silent default of ``True`` made optional fields mandatory, MCP #630). Choice fields
  (``dropdown``, ``multiselect``, ``radio``) need ``options`` (radio at least two), ``table``
  needs ``columns``. The help text is ``guidance``; ``description`` is dropped silently by
  the API (tallyfy/mcp#623), so it is refused here.
- ``field_type`` cannot be changed by an update: N8N says it is immutable, the MCP says
  api-v2 converts it in place. Sources disagree, so ``update`` refuses a change locally and
  the fake refuses it too (the stricter reading).
- deleting a field an automation depends on is refused (403 for kick-off fields, MCP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._design_types import Capture
from .._errors import TallyfyError
from .._ids import segment
from .._validation import _local_error
from ._base import Resource
from ._blueprint_lifecycle import checklist_path
from ._steps import step_path

__all__ = ["CHOICE_TYPES", "FIELD_TYPES", "Captures", "check_capture"]

# api-v2 BaseCapture::$field_types (MCP form_fields: the UI cannot render "email", the API takes it)
FIELD_TYPES = frozenset(
    {"text", "textarea", "date", "email", "dropdown", "multiselect", "radio", "file", "table",
     "assignees_form"}
)  # fmt: skip
CHOICE_TYPES = frozenset({"dropdown", "multiselect", "radio"})


def check_capture(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a capture create/update, or ``InvalidArgument`` for what the
    API would reject (422) or silently drop."""
    if "description" in fields:
        raise _local_error(
            "description", "a form field has no 'description' (dropped by the API); use guidance"
        )
    body = {k: v for k, v in fields.items() if v is not None}
    field_type = body.get("field_type")
    if field_type not in FIELD_TYPES:
        raise _local_error("field_type", f"field_type must be one of {sorted(FIELD_TYPES)}")
    label = body.get("label")
    if not isinstance(label, str) or not label.strip():
        raise _local_error("label", "label is required")
    if not isinstance(body.get("required"), bool):
        raise _local_error("required", "required must be True or False (the API has no default)")
    if field_type in CHOICE_TYPES:
        options = body.get("options")
        if not isinstance(options, list) or not options:
            raise _local_error("options", f"a {field_type} field needs a list of options")
        if any(not isinstance(o, Mapping) or not o.get("text") for o in options):
            raise _local_error("options", "every option needs its 'text'")
        if field_type == "radio" and len(options) < 2:
            raise _local_error("options", "a radio field needs at least 2 options")
    if field_type == "table":
        columns = body.get("columns")
        if not isinstance(columns, list) or not columns:
            raise _local_error("columns", "a table field needs a list of columns")
    return body


class Captures(Resource):
    __slots__ = ()

    def _path(self, org_id: str, checklist_id: str, step_id: str, capture_id: str) -> str:
        step = step_path(org_id, checklist_id, step_id)
        return f"{step}/captures/{segment(capture_id, name='capture_id')}"

    async def create(
        self,
        org_id: str,
        checklist_id: str,
        step_id: str,
        *,
        field_type: str,
        label: str,
        required: bool,
        **fields: Any,
    ) -> Capture:
        """Add a form field to a step (``POST .../steps/{step}/captures`` → 201). ``fields``:
        ``guidance``, ``position``, ``options``, ``columns``, ``default_value``, ... Sent once.
        """
        body = check_capture({"field_type": field_type, "label": label, "required": required,
                              **fields})  # fmt: skip
        path = f"{step_path(org_id, checklist_id, step_id)}/captures"
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Capture)

    async def update(
        self,
        org_id: str,
        checklist_id: str,
        step_id: str,
        capture_id: str,
        *,
        field_type: str,
        label: str,
        required: bool,
        **fields: Any,
    ) -> Capture:
        """``PUT .../captures/{id}``: the API re-validates the whole field, so ``field_type``
        (its current type: it cannot change), ``label`` and ``required`` are required here.
        Sets values: retried like a read."""
        body = check_capture({"field_type": field_type, "label": label, "required": required,
                              **fields})  # fmt: skip
        path = self._path(org_id, checklist_id, step_id, capture_id)
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Capture
        )

    async def delete(self, org_id: str, checklist_id: str, step_id: str, capture_id: str) -> None:
        """Delete a step's form field (``DELETE .../captures/{id}``); its collected values go
        with it. Not re-sent after a lost answer (a repeat answers 404)."""
        path = self._path(org_id, checklist_id, step_id, capture_id)
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)

    async def move(
        self,
        org_id: str,
        checklist_id: str,
        step_id: str,
        capture_id: str,
        *,
        to_step_id: str,
        position: int = 1,
    ) -> Capture:
        """Move a form field from ``step_id`` to ``to_step_id`` (``PUT .../move-out``
        ``{target_step_id, position}``); returns the moved field.

        The answer must show the field on the target step (``step_id``); an answer that does
        not raises ``TallyfyError`` instead of reporting a move nobody saw (the SDK re-reads
        the target step for the same reason). Not retried: after the move the field is no
        longer under ``step_id``, so a repeat of an applied move answers 404."""
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            raise _local_error("position", "position must be an integer >= 1")
        target = segment(to_step_id, name="to_step_id")
        path = f"{self._path(org_id, checklist_id, step_id, capture_id)}/move-out"
        result = await self._write_item(
            "PUT",
            path,
            org_id=org_id,
            json={"target_step_id": target, "position": position},
            idempotent=False,
            item_type=Capture,
        )
        if not isinstance(result, dict) or str(result.get("step_id")) != str(to_step_id):
            raise TallyfyError(
                f"the move of form field {capture_id} was answered without the field on step "
                f"{to_step_id}; read the step to see where it is",
                method="PUT", path=path, attempts=1, org_id=org_id,
            )  # fmt: skip
        return result

    async def delete_kickoff_field(self, org_id: str, checklist_id: str, field_id: str) -> None:
        """Delete a kick-off field (``DELETE .../checklists/{id}/preruns/{field}``); its values
        are removed from existing processes too. Refused (403) while an automation uses the
        field. Not re-sent after a lost answer."""
        field = segment(field_id, name="field_id")
        path = f"{checklist_path(org_id, checklist_id)}/preruns/{field}"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)
