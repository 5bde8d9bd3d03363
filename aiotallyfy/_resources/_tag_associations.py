"""Attach tags to blueprints and processes, and detach them: ``client.tag_associations``.

One route serves both subjects: ``POST .../checklists/tags`` ``{tag_id, subject_id,
subject_type: Checklist|Run, tag_type: private|public}`` and ``DELETE .../checklists/tags/
{association_id}`` (SDK ``tag_management``; N8N "V7").

- ``tag_type`` is required (api-v2 ``AddTagChecklistRequest``: ``required|in:private,public``)
  and picks the table ``tag_id`` is checked against, so a public tag sent as ``private`` is a
  422 that reads like a bad id (tallyfy/sdk#77).
- An archived blueprint cannot be tagged ("Subject not found", the same message as an unknown
  id), nor an archived process (MCP ``tag_template``).
- The association id is the numeric pivot id, not the tag's 32-hex id: the controller casts
  it with ``(int)``, so a hex id becomes 0 and the delete "succeeds" on nothing
  (tallyfy/sdk#77). A non-numeric id is refused here.
"""

from __future__ import annotations

from .._design_types import TagAssociation
from .._ids import segment
from .._validation import _local_error
from ._base import Resource
from ._writes import org_path

__all__ = ["SUBJECT_TYPES", "TAG_TYPES", "TagAssociations"]

SUBJECT_TYPES = frozenset({"Checklist", "Run"})
TAG_TYPES = frozenset({"private", "public"})


class TagAssociations(Resource):
    __slots__ = ()

    async def add(
        self,
        org_id: str,
        tag_id: str,
        subject_id: str,
        subject_type: str,
        *,
        tag_type: str = "private",
    ) -> TagAssociation:
        """Tag a blueprint (``subject_type="Checklist"``) or a process (``"Run"``); the
        answer carries the association ``id`` that ``remove`` needs. Sent once (the server
        keeps one row per tag and subject, but logs every call)."""
        if subject_type not in SUBJECT_TYPES:
            raise _local_error(
                "subject_type", f"subject_type must be one of {sorted(SUBJECT_TYPES)} "
                "(case-sensitive)",
            )  # fmt: skip
        if tag_type not in TAG_TYPES:
            raise _local_error("tag_type", f"tag_type must be one of {sorted(TAG_TYPES)}")
        body = {
            "tag_id": segment(tag_id, name="tag_id"),
            "subject_id": segment(subject_id, name="subject_id"),
            "subject_type": subject_type,
            "tag_type": tag_type,
        }
        path = f"{org_path(org_id)}/checklists/tags"
        return await self._write_item(
            "POST", path, org_id=org_id, json=body, item_type=TagAssociation
        )

    async def remove(self, org_id: str, association_id: int | str) -> None:
        """Detach (``DELETE .../checklists/tags/{association_id}``). ``association_id`` must be
        the numeric id from ``add`` (or the subject's ``with=tags``), never the tag id. Not
        re-sent after a lost answer (a repeat answers 404)."""
        text = str(association_id)
        if isinstance(association_id, bool) or not text.isdigit() or not text.isascii():
            raise _local_error(
                "association_id", "association_id must be the numeric association id; the "
                "server casts other ids to 0 and deletes nothing",
            )  # fmt: skip
        path = f"{org_path(org_id)}/checklists/tags/{segment(text, name='association_id')}"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)
