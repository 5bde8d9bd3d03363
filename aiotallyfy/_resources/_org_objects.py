"""Tags and folders: plain CRUD, plus putting objects in folders.

Creates are POSTs, sent once; updates set values and are retried like reads; deletes are not
re-sent after a lost answer (a repeat of an applied delete answers 404).
"""

from __future__ import annotations

import builtins
from typing import Any

from .._errors import InvalidArgument
from .._ids import segment
from .._pagination import AsyncPager
from .._types import Folder, FolderObject, Tag
from ._base import Resource
from ._writes import body_of, org_path, with_param

__all__ = ["Folders", "Tags"]

FOLDER_TYPES = frozenset({"checklist", "run"})

SUBJECT_TYPES = frozenset({"Run", "Task"})
"""api-v2 ``FolderObjectRequest``: ``subject_type`` ``in:Run,Task`` (quoted by the official
SDK). Blueprints are filed with ``blueprints.move_to_folder``."""


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
        """Every tag, all pages (``all=True`` includes auto-generated ones).

        ``auto_generated=True`` also sends ``all=true`` (unless ``all`` is given): api-v2
        ``TagsController::index`` hides the auto process tags (``from:``/``task:``/``step:``
        titles) unless ``all`` is ``'true'``, and that exclusion composes with the filter, so
        the filter alone would answer an empty list at 200 (SDK 3.1.0 ``get_tags``;
        tallyfy/sdk#77)."""
        if filters.get("auto_generated") in (True, "true") and "all" not in filters:
            filters = {**filters, "all": True}
        return self._org_list(
            org_id, "tags", q=q, with_=with_, filters=filters, limit=limit, item_type=Tag
        )

    async def get(
        self, org_id: str, tag_id: str, *, with_: str | builtins.list[str] | None = None
    ) -> Tag:
        """One tag; ``with_`` e.g. ``statistics`` (docs ``tags/get-tag``)."""
        path = self._path(org_id, tag_id)
        return await self._get_item(path, org_id=org_id, params=with_param(with_), item_type=Tag)

    async def create(self, org_id: str, *, title: str, color: str | None = None) -> Tag:
        """``POST .../tags`` → 201 (``title`` at most 30 characters, checked here)."""
        _check_tag_title(title)
        path = f"{org_path(org_id)}/tags"
        body = body_of({"title": title, "color": color})
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Tag)

    async def update(
        self,
        org_id: str,
        tag_id: str,
        *,
        title: str | None = None,
        color: str | None = None,
        **fields: Any,
    ) -> Tag:
        """``PUT .../tags/{id}``. Tallyfy's docs mark ``title`` required on every update (the
        official SDK sends a colour alone; the sources disagree), so without ``title=`` the
        tag is read first (``GET``) and its title sent back: read-then-write, not atomic.
        ``title`` at most 30 characters, checked here. Retried like a read."""
        if title is not None:
            _check_tag_title(title)
        path = self._path(org_id, tag_id)
        given = body_of({"title": title, "color": color, **fields})
        body = await self._backfilled(path, given, org_id=org_id, required=("title",))
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Tag
        )

    async def delete(self, org_id: str, tag_id: str) -> None:
        """``DELETE .../tags/{id}`` → 204, also when the tag is already gone (DOCS
        tags/archive-tag), so a repeat is harmless: retried like a read."""
        await self._core.request(
            "DELETE", self._path(org_id, tag_id), org_id=org_id, idempotent=True
        )


def _check_tag_title(title: Any) -> None:
    if not isinstance(title, str) or not title or len(title) > 30:
        raise InvalidArgument(
            "title is required and at most 30 characters",
            errors={"title": ["1-30 characters"]},
        )


class Folders(Resource):
    __slots__ = ()

    def _path(self, org_id: str, folder_id: str) -> str:
        return f"{org_path(org_id)}/folders/{segment(folder_id, name='folder_id')}"

    def list(
        self,
        org_id: str,
        *,
        folder_type: str | None = "checklist",
        q: str | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Folder]:
        """The folders of one tree, all pages: ``folder_type="checklist"`` (blueprint
        folders, the default) or ``"run"`` (process folders). Both official clients always
        send ``folder_type`` (SDK ``get_folders`` defaults to ``checklist``; N8N); what the
        server does without it is unverified, so ``None`` (send nothing) is your call."""
        if folder_type is not None and folder_type not in FOLDER_TYPES:
            raise InvalidArgument(
                f"folder_type must be one of {sorted(FOLDER_TYPES)} or None",
                errors={"folder_type": ["invalid"]},
            )
        return self._org_list(
            org_id,
            "folders",
            q=q,
            filters={"folder_type": folder_type, **filters},
            limit=limit,
            item_type=Folder,
        )

    async def get(self, org_id: str, folder_id: str) -> Folder:
        return await self._get_item(self._path(org_id, folder_id), org_id=org_id, item_type=Folder)

    async def create(self, org_id: str, *, name: str, parent_id: str | None = None) -> Folder:
        path = f"{org_path(org_id)}/folders"
        if parent_id is not None:
            segment(parent_id, name="parent_id")
        return await self._write_item(
            "POST",
            path,
            org_id=org_id,
            json=body_of({"name": name, "parent_id": parent_id}),
            item_type=Folder,
        )

    async def update(
        self,
        org_id: str,
        folder_id: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        **fields: Any,
    ) -> Folder:
        """``PUT .../folders/{id}``: rename or move (``parent_id``) a folder.

        The API requires ``name`` on every update (api-v2 ``UpdateFolderRequest``, quoted by
        the official SDK), so without ``name=`` the folder is read first (``GET``) and its
        current name sent back: read-then-write, not atomic (a concurrent rename is undone).
        Retried like a read (it sets values).
        """
        if parent_id is not None:
            segment(parent_id, name="parent_id")
        path = self._path(org_id, folder_id)
        given = body_of({"name": name, "parent_id": parent_id, **fields})
        body = await self._backfilled(path, given, org_id=org_id, required=("name",))
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Folder
        )

    async def delete(self, org_id: str, folder_id: str) -> None:
        await self._core.request(
            "DELETE", self._path(org_id, folder_id), org_id=org_id, idempotent=False
        )

    async def add_object(
        self, org_id: str, folder_id: str, subject_id: str, subject_type: str = "Run"
    ) -> FolderObject:
        """Put a process (``Run``) or a task (``Task``) in a folder (``POST
        .../folders/add-object``); the answer's integer ``id`` is what ``remove_object`` takes.
        ``subject_type`` is case-sensitive on the server (``Run``, not ``run``) and a blueprint
        is not accepted (``Checklist`` would be a 422): both are checked here. File a blueprint
        with ``client.blueprints.move_to_folder``."""
        if subject_type not in SUBJECT_TYPES:
            hint = (
                "; blueprints are filed with client.blueprints.move_to_folder(org, id, folder)"
                if subject_type.lower() in ("checklist", "blueprint", "template")
                else ""
            )
            raise InvalidArgument(
                f"subject_type must be one of {sorted(SUBJECT_TYPES)} (case-sensitive){hint}",
                errors={"subject_type": ["invalid"]},
            )
        path = f"{org_path(org_id)}/folders/add-object"
        body = {
            "folder_id": segment(folder_id, name="folder_id"),
            "subject_id": segment(subject_id, name="subject_id"),
            "subject_type": subject_type,
        }
        return await self._write_item(
            "POST", path, org_id=org_id, json=body, item_type=FolderObject
        )

    async def remove_object(self, org_id: str, relation_id: int | str) -> None:
        """``DELETE .../folders-objects/{relation_id}``; not re-sent (a repeat answers 404).

        ``relation_id`` is the integer ``id`` ``add_object`` returned, not the process's id:
        api-v2 reads this segment with ``intval()``, so a hex id becomes 0, deletes nothing
        and still answers success (official SDK). A non-numeric id is refused here.
        """
        text = str(relation_id).strip() if not isinstance(relation_id, bool) else ""
        if not text.isdigit():
            raise InvalidArgument(
                f"relation_id must be the numeric folder-object id add_object returned, got "
                f"{str(relation_id)[:40]!r}; the API would turn it into 0 and report success "
                "without removing anything",
                errors={"relation_id": ["not numeric"]},
            )
        path = f"{org_path(org_id)}/folders-objects/{text}"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)
