"""Blueprint lifecycle beyond create/update/archive: clone, publish, restore (un-archive) and
permanent delete. A mixin of ``Blueprints`` (``client.blueprints.clone(...)``), kept in its own
module so the blueprint namespace's reads and edits stay separate from these.

Sources: clone ``POST .../checklists/{id}/clone`` ``{tenant, title?}`` (CLI ``CloneBlueprint``;
SDK ``duplicate_template``; N8N ``clone``); publish ``PUT .../publish`` with no body (CLI
``PublishBlueprint``, "no request body per Swagger"); restore ``PUT .../restore`` (MCP
``tag_management``/``template_management``: the companion of archive); permanent delete
``DELETE .../checklists/{id}/delete``, admin only, template archived first, 200 with
``{message, deleted_references}`` (DOCS *templates/delete-archive-template*).
"""

from __future__ import annotations

from typing import Any

from .._ids import segment
from .._types import Blueprint
from .._validation import _local_error
from ._base import Resource
from ._writes import org_path

__all__ = ["BlueprintLifecycle", "checklist_path"]

MAX_TITLE = 250  # DOCS update-template / MCP clone_template: titles are at most 250 characters


def checklist_path(org_id: str, checklist_id: str) -> str:
    """``/organizations/{org}/checklists/{id}``, both ids checked and encoded."""
    return f"{org_path(org_id)}/checklists/{segment(checklist_id, name='checklist_id')}"


class BlueprintLifecycle(Resource):
    __slots__ = ()

    async def clone(
        self,
        org_id: str,
        checklist_id: str,
        *,
        title: str | None = None,
        tenant: str | None = None,
    ) -> Blueprint:
        """Copy a blueprint with its steps, form fields and automations into ``org_id``
        (``POST .../checklists/{id}/clone``); the answer is the new blueprint.

        ``tenant`` is the organization the blueprint is cloned *from*; it defaults to
        ``org_id``. The sources disagree on whether it may be left out (SDK: required; CLI:
        the server defaults it to the path org), so it is always sent. Sent once: a lost
        answer raises ``OutcomeUnknownError`` (list blueprints with ``q=<title>`` to check).
        """
        body: dict[str, Any] = {
            "tenant": segment(tenant if tenant is not None else org_id, name="tenant")
        }
        if title is not None:
            if not title.strip() or len(title) > MAX_TITLE:
                raise _local_error("title", f"title must be 1-{MAX_TITLE} characters")
            body["title"] = title
        path = f"{checklist_path(org_id, checklist_id)}/clone"
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Blueprint)

    async def publish(self, org_id: str, checklist_id: str) -> Blueprint | None:
        """Publish the blueprint (``PUT .../publish``, no body). Publishing a published
        blueprint leaves it published, so it is retried like a read."""
        path = f"{checklist_path(org_id, checklist_id)}/publish"
        return await self._write_optional(
            "PUT", path, org_id=org_id, idempotent=True, item_type=Blueprint
        )

    async def restore(self, org_id: str, checklist_id: str) -> Blueprint | None:
        """Bring an archived blueprint back (``PUT .../restore``). Idempotent: retried.

        An archived blueprint answers 404 to every other route (reads included), so this is
        the way to make it usable again."""
        path = f"{checklist_path(org_id, checklist_id)}/restore"
        return await self._write_optional(
            "PUT", path, org_id=org_id, idempotent=True, item_type=Blueprint
        )

    async def delete(self, org_id: str, checklist_id: str) -> list[Any]:
        """Delete an **archived** blueprint for good (``DELETE .../checklists/{id}/delete``;
        admin only). Returns ``deleted_references``: the other blueprints and steps the
        server edited to remove references to this one (a list; the sources disagree on its
        shape, so an object is returned as a one-element list and nothing is dropped).

        Archive it first (``archive``); a blueprint that is not archived answers an error.
        Not re-sent after a lost answer: a repeat of an applied delete answers 404.
        """
        path = f"{checklist_path(org_id, checklist_id)}/delete"
        response = await self._core.request("DELETE", path, org_id=org_id, idempotent=False)
        payload = response.data
        refs = payload.get("deleted_references") if isinstance(payload, dict) else None
        if refs is None:
            return []
        if isinstance(refs, list):
            return refs
        if isinstance(refs, dict) and not refs:
            return []
        return [refs]
