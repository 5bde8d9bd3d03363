"""Form-field values of running processes: read a run's form fields, set a stored value as a
member or as a guest (``client.form_values``).

Sources: ``GET .../runs/{run}/form-fields`` answers ONE object ``{id, title, form_fields[],
ko_form_fields[]}``, not a list (N8N live test reads ``data.form_fields[0].id``; the checklist
twin is tallyfy/sdk#50). ``PUT .../form-field/value`` and ``POST .../guests/{email}/form-field/
value`` take ``{id, form_value}`` where ``id`` is the id of a *stored value* (api-v2
``CaptureValue``), not of the field definition (N8N ``formFieldId``). The member route has no
create-if-missing: a field that has never had a value answers **500** "Attempt to read property
`capture` on null" (api-v2 #5010, still open 2026-08-09, N8N live tripwire). To give a process
task's field its first value, use ``client.tasks.update(..., taskdata=...)``.

``form_value`` depends on the field type (N8N ``FormValuesValidator`` notes): a bare string for
text/textarea/email/date/radio; ``{"id", "text"}`` for dropdown (text must match the option);
a list for multiselect/table/file; ``{users, guests, groups}`` for assignees_form.
"""

from __future__ import annotations

from typing import Any

from .._design_types import RunFormFields
from .._errors import PaginationError
from .._ids import segment
from .._validation import email_segment
from ._base import Resource
from ._writes import org_path, run_path

__all__ = ["FormValues"]


class FormValues(Resource):
    __slots__ = ()

    async def for_run(self, org_id: str, run_id: str) -> RunFormFields:
        """``GET .../runs/{run}/form-fields``: the process's form fields and kick-off fields
        with their values (one object). Retried like any read."""
        path = f"{run_path(org_id, run_id)}/form-fields"
        result = await self._get_item(path, org_id=org_id, item_type=RunFormFields)
        if not isinstance(result, dict) or not isinstance(result.get("form_fields"), list):
            raise PaginationError(f"{path}: expected an object with a 'form_fields' list")
        return result

    async def set(self, org_id: str, value_id: str, form_value: Any) -> Any:
        """Overwrite a stored value (``PUT .../form-field/value`` ``{id, form_value}``).
        Sets a value, so a repeat leaves the same state: retried like a read."""
        path = f"{org_path(org_id)}/form-field/value"
        body = {"id": segment(value_id, name="value_id"), "form_value": form_value}
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=object
        )

    async def set_as_guest(self, org_id: str, email: str, value_id: str, form_value: Any) -> Any:
        """The guest route (``POST .../guests/{email}/form-field/value``), same body. api-v2
        stores it create-or-update (N8N notes ``storeOrUpdateFields``), so repeating it leaves
        the same value: marked idempotent and retried, although it is a POST."""
        path = f"{org_path(org_id)}/guests/{email_segment(email)}/form-field/value"
        body = {"id": segment(value_id, name="value_id"), "form_value": form_value}
        return await self._write_item(
            "POST", path, org_id=org_id, json=body, idempotent=True, item_type=object
        )
