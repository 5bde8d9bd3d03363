"""Custom field keys: the organization's definitions of its own record metadata.

Source: docs ``open-api/custom-fields`` (2026-07-17): ``GET /organizations/{org}/custom-field-
keys`` lists the keys, filtered by ``applies_to``, ``key_type``, ``field_type``,
``is_required``, ``is_active``, ``q``, sorted by ``sort_by``/``sort_direction``, paged with
``per_page``. A key has ``key``, ``applies_to``, ``field_type`` (one of eleven), ``key_type``
(``system`` for Tallyfy's own), ``is_required``, ``is_active``. Values live on the records
(``custom_fields`` in their payloads). A read: retried like every GET.
"""

from __future__ import annotations

from typing import Any, TypedDict

from .._pagination import AsyncPager
from ._base import Resource

__all__ = ["CustomFieldKey", "CustomFieldKeys"]


class CustomFieldKey(TypedDict, total=False):
    id: Any
    key: str
    applies_to: str
    field_type: str
    key_type: str
    is_required: bool
    is_active: bool


class CustomFieldKeys(Resource):
    __slots__ = ()

    def list(
        self,
        org_id: str,
        *,
        applies_to: str | None = None,
        is_active: bool | None = None,
        q: str | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[CustomFieldKey]:
        """Every custom field key (all pages, 100 per page), e.g.
        ``list(org, applies_to="process", is_active=True)``; other filters by name
        (``key_type``, ``field_type``, ``is_required``, ``sort_by``, ``sort_direction``)."""
        params = {"applies_to": applies_to, "is_active": is_active, **filters}
        return self._org_list(
            org_id,
            "custom-field-keys",
            q=q,
            filters=params,
            limit=limit,
            item_type=CustomFieldKey,
        )
