"""Tags and folders: plain CRUD, plus putting objects in folders.

Creates are POSTs, sent once; updates set values and are retried like reads; deletes are not
re-sent after a lost answer (a repeat of an applied delete answers 404).
"""

from __future__ import annotations

import builtins
from typing import Any

from .._errors import ValidationError
from .._ids import segment
from .._pagination import AsyncPager
from .._types import Folder, FolderObject, Tag
from ._base import Resource
from ._writes import body_of, org_path, with_param

__all__ = ["Folders", "Tags"]

SUBJECT_TYPES = frozenset({"Run", "Checklist", "Task"})


class Tags(Resource):
    __slots__ = ()

    def _path(self, org_id: str, tag_id: str) -> str:
        return f"{org_path(org_id)}/tags/{segment(tag_id, name='tag_id')}"

    def list(
        self,
        org_id: str,
        *,
        q: str | None = None,
        with_: str | builtins.list[str] | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Tag]:
        """Every tag, all pages (``all=True`` includes auto-generated ones)."""
        return self._org_list(
            org_id, "tags", q=q, with_=with_, filters=filters, limit=limit, item_type=Tag
        )

    async def get(
        self, org_id: str, tag_id: str, *, with_: str | builtins.list[str] | None = None
    ) -> Tag:
        """One tag; ``with_`` e.g. ``statistics`` (docs ``tags/get-tag``)."""
        path = self._path(org_id, tag_id)
        result: Tag = await self._get_item(path, org_id=org_id, params=with_param(with_))
        return result

    async def create(self, org_id: str, *, title: str, color: str | None = None) -> Tag:
        """``POST .../tags`` → 201 (``title`` at most 30 characters, checked here)."""
        if not title or len(title) > 30:
            raise ValidationError(
                "title is required and at most 30 characters",
                status=0,
                errors={"title": ["1-30 characters"]},
            )
        path = f"{org_path(org_id)}/tags"
        body = body_of({"title": title, "color": color})
        result: Tag = await self._write_item("POST", path, org_id=org_id, json=body)
        return result

    async def update(self, org_id: str, tag_id: str, **fields: Any) -> Tag:
        path = self._path(org_id, tag_id)
        result: Tag = await self._write_item(
            "PUT", path, org_id=org_id, json=body_of(fields), idempotent=True
        )
        return result

    async def delete(self, org_id: str, tag_id: str) -> None:
        await self._core.request(
            "DELETE", self._path(org_id, tag_id), org_id=org_id, idempotent=False
        )


class Folders(Resource):
    __slots__ = ()

    def _path(self, org_id: str, folder_id: str) -> str:
        return f"{org_path(org_id)}/folders/{segment(folder_id, name='folder_id')}"

    def list(
        self, org_id: str, *, q: str | None = None, limit: int | None = None, **filters: Any
    ) -> AsyncPager[Folder]:
        return self._org_list(
            org_id, "folders", q=q, filters=filters, limit=limit, item_type=Folder
        )

    async def get(self, org_id: str, folder_id: str) -> Folder:
        result: Folder = await self._get_item(self._path(org_id, folder_id), org_id=org_id)
        return result

    async def create(self, org_id: str, *, name: str, parent_id: str | None = None) -> Folder:
        path = f"{org_path(org_id)}/folders"
        if parent_id is not None:
            segment(parent_id, name="parent_id")
        result: Folder = await self._write_item(
            "POST", path, org_id=org_id, json=body_of({"name": name, "parent_id": parent_id})
        )
        return result

    async def update(self, org_id: str, folder_id: str, **fields: Any) -> Folder:
        path = self._path(org_id, folder_id)
        result: Folder = await self._write_item(
            "PUT", path, org_id=org_id, json=body_of(fields), idempotent=True
        )
        return result

    async def delete(self, org_id: str, folder_id: str) -> None:
        await self._core.request(
            "DELETE", self._path(org_id, folder_id), org_id=org_id, idempotent=False
        )

    async def add_object(
        self, org_id: str, folder_id: str, subject_id: str, subject_type: str = "Run"
    ) -> FolderObject:
        """Put a process (or other object) in a folder (``POST .../folders/add-object``).
        ``subject_type`` is case-sensitive on the server (``Run``, not ``run``): checked here."""
        if subject_type not in SUBJECT_TYPES:
            raise ValidationError(
                f"subject_type must be one of {sorted(SUBJECT_TYPES)} (case-sensitive)",
                status=0,
                errors={"subject_type": ["invalid"]},
            )
        path = f"{org_path(org_id)}/folders/add-object"
        body = {
            "folder_id": segment(folder_id, name="folder_id"),
            "subject_id": segment(subject_id, name="subject_id"),
            "subject_type": subject_type,
        }
        result: FolderObject = await self._write_item("POST", path, org_id=org_id, json=body)
        return result

    async def remove_object(self, org_id: str, relation_id: str) -> None:
        """``DELETE .../folders-objects/{relation_id}``; not re-sent (a repeat answers 404)."""
        path = f"{org_path(org_id)}/folders-objects/{segment(relation_id, name='relation_id')}"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)
