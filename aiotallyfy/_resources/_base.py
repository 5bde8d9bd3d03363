"""What every resource namespace shares: the request core and the list → pager glue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from .._errors import PaginationError, TallyfyError
from .._http import HTTPCore, Response
from .._pagination import MAX_PER_PAGE, AsyncPager, RoutePages, SeenIds
from ._writes import org_path, with_param

__all__ = ["Resource"]

T = TypeVar("T")


class Resource:
    """Base of the resource namespaces. Holds the client's ``HTTPCore``; no state of its own."""

    __slots__ = ("_core",)

    def __init__(self, core: HTTPCore) -> None:
        self._core = core

    def _pager(
        self,
        path: str,
        *,
        org_id: str | None,
        params: Mapping[str, Any] | None = None,
        per_page: int = MAX_PER_PAGE,
        limit: int | None = None,
        prefetch: int = 4,
        item_type: type[T],
        exclude: SeenIds | None = None,
    ) -> AsyncPager[T]:
        """The list at ``path``: the one way a resource walks a list (``AsyncPager``).
        ``exclude``: ids a related list already handed out (``TaskUnion``)."""
        return AsyncPager[T](
            RoutePages(self._core, path, org_id),
            params,
            per_page=per_page,
            limit=limit,
            prefetch=prefetch,
            describe=path,
            exclude=exclude,
        )

    def _org_list(
        self,
        org_id: str,
        collection: str,
        *,
        q: str | None,
        with_: str | list[str] | None = None,
        filters: Mapping[str, Any],
        limit: int | None,
        item_type: type[T],
    ) -> AsyncPager[T]:
        """The plain org-wide lists (``/organizations/{org}/{collection}``): ``q``, then the
        ``with`` includes, then the caller's filters as the query of every page."""
        params: dict[str, Any] = {"q": q, **(with_param(with_) or {}), **filters}
        return self._pager(
            f"{org_path(org_id)}/{collection}",
            org_id=org_id,
            params=params,
            limit=limit,
            item_type=item_type,
        )

    async def _get_item(
        self,
        path: str,
        *,
        org_id: str | None,
        params: Mapping[str, Any] | None = None,
        item_type: type[T],
    ) -> T:
        """``GET`` one object: Tallyfy wraps it as ``{"data": {...}}``. ``item_type`` names
        what the caller returns (typing only, like ``_pager``'s; items stay the server's
        dicts): ``object`` where the caller checks the shape itself."""
        response = await self._core.request("GET", path, org_id=org_id, params=params)
        return cast(T, unwrap(response, "GET", path, org_id))

    async def _backfilled(
        self,
        path: str,
        body: dict[str, Any],
        *,
        org_id: str,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
        defaults: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``body`` completed from the current object for routes that only accept a WHOLE
        object on ``PUT`` (blueprints need ``title``, folders ``name``, groups ``name``,
        ``members``, ``guests``): when a ``required`` field is missing, ``GET`` the object once
        and copy it (and any missing ``optional`` field the object has a value for) into the
        body, as the official SDK does; ``defaults`` stand in for a required field the object
        has no value for (a group's ``members``: ``[]``). Read-then-write, not atomic: a
        change someone makes between the two requests to a back-filled field is overwritten
        with what was read."""
        missing = [k for k in required if k not in body]
        if not missing:
            return body
        current = await self._get_item(path, org_id=org_id, item_type=object)
        if not isinstance(current, dict):
            raise TallyfyError(
                f"GET {path}: expected an object to complete the update from", method="GET",
                path=path, org_id=org_id,
            )  # fmt: skip
        filled: dict[str, Any] = {}
        for key in missing:
            if current.get(key) is None and defaults and key in defaults:
                filled[key] = defaults[key]
                continue
            if current.get(key) is None:
                raise TallyfyError(
                    f"GET {path}: the current object has no {key!r} to send back, and the "
                    f"update requires it; pass {key}= explicitly",
                    method="GET", path=path, org_id=org_id,
                )  # fmt: skip
            filled[key] = current[key]
        for key in optional:
            if key not in body and current.get(key) is not None:
                filled[key] = current[key]
        return filled | body

    async def _write_item(
        self,
        method: str,
        path: str,
        *,
        org_id: str,
        json: Any = None,
        idempotent: bool | None = None,
        item_type: type[T],
    ) -> T:
        """Send one write and return the object it answers with (``{"data": {...}}``), typed
        as ``item_type`` (as ``_get_item``).

        ``idempotent`` goes to ``HTTPCore.request`` unchanged (``None``: decided by the
        method), so whether a lost answer is re-sent stays each caller's explicit choice.
        """
        response = await self._core.request(
            method, path, org_id=org_id, json=json, idempotent=idempotent
        )
        return cast(T, unwrap(response, method.upper(), path, org_id))

    async def _write_optional(
        self,
        method: str,
        path: str,
        *,
        org_id: str,
        item_type: type[T],
        json: Any = None,
        idempotent: bool | None = None,
    ) -> T | None:
        """Send one write whose answer body the API does not promise (publish, restore,
        enable, ...): its ``data`` typed as ``item_type``, or ``None`` (``maybe_unwrap``).
        ``idempotent`` as for ``_write_item``."""
        response = await self._core.request(
            method, path, org_id=org_id, json=json, idempotent=idempotent
        )
        return cast("T | None", maybe_unwrap(response.data))


def unwrap(response: Response, method: str, path: str, org_id: str | None = None) -> Any:
    """``response.data["data"]``: the object Tallyfy wraps as ``{"data": {...}}``. An answer
    without it is not understood, so it is an error carrying the call's facts (method, path,
    organization, attempts); for a write it says the write was applied (a 2xx answered it)."""
    payload = response.data
    if isinstance(payload, dict) and "data" in payload:
        return payload["data"]
    applied = (
        ""
        if method in ("GET", "HEAD")
        else f"; the {method} was answered {response.status}, so it was applied"
    )
    raise PaginationError(
        f"{path}: expected an object with 'data', got {type(payload).__name__}{applied}",
        method=method, path=path, org_id=org_id, attempts=response.attempts,
    )  # fmt: skip


def maybe_unwrap(payload: Any) -> Any:
    """``payload["data"]``, or ``None`` when there is none (e.g. an empty 204 answer): for
    writes whose answer body the API does not promise."""
    if isinstance(payload, dict):
        return payload.get("data")
    return None
