"""Blueprints (``checklists``): list, get (with kick-off fields), steps, form fields, create,
update, archive.

``GET .../checklists/{id}/steps`` pages by 10 and ignores ``without_pagination`` (3,744 of
15,374 live templates have more than 10 steps, tallyfy/sdk#99), so ``steps`` never sends that
flag and always walks every page.
"""

from __future__ import annotations

import builtins
from typing import Any

from .._errors import TallyfyError
from .._ids import segment
from .._pagination import AsyncPager
from .._types import Blueprint, BlueprintFormFields, KickoffField, Step
from ._blueprint_lifecycle import BlueprintLifecycle
from ._writes import body_of, org_path, with_param

__all__ = ["Blueprints"]


class Blueprints(BlueprintLifecycle):
    __slots__ = ()

    def _path(self, org_id: str, checklist_id: str) -> str:
        return f"{org_path(org_id)}/checklists/{segment(checklist_id, name='checklist_id')}"

    def list(
        self,
        org_id: str,
        *,
        q: str | None = None,
        with_: str | builtins.list[str] | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Blueprint]:
        """Every blueprint, all pages. ``filters``: ``status``, ``type``, ``starred``,
        ``folder``, ``tag``, ``owner_id``, ``archived``, ``sort_by``, ..."""
        return self._org_list(
            org_id,
            "checklists",
            q=q,
            with_=with_,
            filters=filters,
            limit=limit,
            item_type=Blueprint,
        )

    async def get(
        self,
        org_id: str,
        checklist_id: str,
        *,
        with_: str | builtins.list[str] | None = None,
        entire_folder_tree: bool | None = None,
        version: int | None = None,
    ) -> Blueprint:
        """One blueprint; it always carries ``prerun`` (kick-off fields; ``id`` is the
        timeline id to key a launch's ``prerun`` by). ``entire_folder_tree`` (sent as
        ``1``/``0``, the documented form) and ``version`` (a published version number, PAC
        Swagger) are passed through (API digest §3.3)."""
        path = self._path(org_id, checklist_id)
        params: dict[str, Any] = dict(with_param(with_) or {})
        if entire_folder_tree is not None:
            params["entire_folder_tree"] = int(entire_folder_tree)
        if version is not None:
            params["version"] = version
        return await self._get_item(path, org_id=org_id, params=params or None, item_type=Blueprint)

    async def kickoff_fields(self, org_id: str, checklist_id: str) -> builtins.list[KickoffField]:
        """The kick-off fields of a blueprint (its ``prerun``), for building a launch."""
        blueprint = await self.get(org_id, checklist_id)
        return list(blueprint.get("prerun") or [])

    def steps(
        self, org_id: str, checklist_id: str, *, limit: int | None = None
    ) -> AsyncPager[Step]:
        """Every step, walking all pages (the route ignores ``without_pagination``)."""
        return self._pager(
            f"{self._path(org_id, checklist_id)}/steps",
            org_id=org_id,
            limit=limit,
            item_type=Step,
        )

    async def form_fields(self, org_id: str, checklist_id: str) -> BlueprintFormFields:
        """The blueprint's form fields (``GET .../checklists/{id}/form-fields``): ONE object,
        ``{"id", "title", "form_fields": [step fields], "ko_form_fields": [kick-off
        fields]}``, not a list (api-v2 ``ChecklistsControllerNew@getFormFields`` "responds with
        a single item", official SDK, tallyfy/sdk#50). An answer without both lists is an
        error rather than a silently empty result."""
        path = f"{self._path(org_id, checklist_id)}/form-fields"
        data = await self._get_item(path, org_id=org_id, item_type=object)
        if not isinstance(data, dict) or not all(
            isinstance(data.get(key), list) for key in ("form_fields", "ko_form_fields")
        ):
            raise TallyfyError(
                f"GET {path}: expected an object with 'form_fields' and 'ko_form_fields' lists",
                method="GET",
                path=path,
                org_id=org_id,
            )
        result: BlueprintFormFields = data  # type: ignore[assignment]
        return result

    async def create(
        self, org_id: str, *, title: str, type: str = "procedure", **fields: Any
    ) -> Blueprint:
        """Create a blueprint (``POST .../checklists`` → 201); ``type`` is required by the API.
        Sent at most once (``OutcomeUnknownError`` after a lost answer)."""
        path = f"{org_path(org_id)}/checklists"
        body = body_of({"title": title, "type": type, **fields})
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Blueprint)

    async def update(self, org_id: str, checklist_id: str, **fields: Any) -> Blueprint:
        """``PUT .../checklists/{id}`` (``title``, ``summary``, ``folder_id``, ...).

        The API requires ``title`` on every update (DOCS update-template; official SDK and
        N8N), so without ``title=`` the blueprint is read first (``GET``) and its current title
        sent back with your fields, as the official SDK does. Read-then-write, not atomic: a
        rename made by someone else between the two requests is undone. Sets values, so a
        repeat is harmless: retried like a read.
        """
        path = self._path(org_id, checklist_id)
        body = await self._backfilled(path, body_of(fields), org_id=org_id, required=("title",))
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Blueprint
        )

    async def move_to_folder(
        self, org_id: str, checklist_id: str, folder_id: str | None
    ) -> Blueprint:
        """File a blueprint in a folder (``None``: out of any folder). Blueprints are not
        folder objects (``folders.add_object`` takes only ``Run``/``Task``: api-v2
        ``FolderObjectRequest``); the API files them with ``PUT .../checklists/{id}``
        ``{title, folder_id}`` (official SDK, N8N), which is what this sends, reading the title
        first (see ``update``)."""
        folder = None if folder_id is None else segment(folder_id, name="folder_id")
        path = self._path(org_id, checklist_id)
        body = await self._backfilled(
            path, {"folder_id": folder}, org_id=org_id, required=("title",)
        )
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Blueprint
        )

    async def archive(self, org_id: str, checklist_id: str) -> None:
        """Archive (``DELETE .../checklists/{id}``); archiving twice leaves it archived, so
        retried like a read."""
        path = self._path(org_id, checklist_id)
        await self._core.request("DELETE", path, org_id=org_id, idempotent=True)
