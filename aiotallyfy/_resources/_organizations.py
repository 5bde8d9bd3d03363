"""The user's organizations: ``GET /me/organizations`` and ``GET /organizations/{org}``."""

from __future__ import annotations

from .._ids import segment
from .._pagination import AsyncPager
from .._types import Organization
from ._base import Resource

__all__ = ["Organizations"]


class Organizations(Resource):
    __slots__ = ()

    def list(self, *, limit: int | None = None) -> AsyncPager[Organization]:
        """Every organization the token's user belongs to, across all pages."""
        return self._pager("/me/organizations", org_id=None, limit=limit, item_type=Organization)

    async def get(self, org_id: str, *, with_: str | None = None) -> Organization:
        org = segment(org_id, name="org_id")
        params = {"with": with_} if with_ else None
        return await self._get_item(
            f"/organizations/{org}", org_id=org_id, params=params, item_type=Organization
        )
