"""Fake route: ``GET /organizations/{org}/search?search=&on=``, answered keyed by type.

``process`` searches run names and summaries, ``task`` task titles, ``blueprint`` checklist
titles; ``snippet``, ``capture`` and ``step`` are accepted and come back empty. Each type is
paged on its own with the shared ``page``/``per_page`` (default 10, clamp 100).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._envelope import json_response, pagination_meta
from ._fake_common import area_for, validation_errors
from ._router import RouteContext, Router

__all__ = ["register_search_routes"]

TYPES = ("blueprint", "process", "task", "snippet", "capture", "step")


def _page(ctx: RouteContext, rows: list[Any], page: int, per_page: int) -> dict[str, Any]:
    start = (page - 1) * per_page
    items = rows[start : start + per_page]
    meta = pagination_meta(ctx, total=len(rows), count=len(items), page=page, per_page=per_page)
    return {"data": items, "meta": {"pagination": meta}}


async def _search(ctx: RouteContext) -> web.StreamResponse:
    text = (ctx.query.get("search") or "").strip().lower()
    if not text:
        raise validation_errors({"search": "The search field is required."})
    kinds = [k.strip() for k in (ctx.query.get("on") or "").split(",") if k.strip()]
    if not kinds or any(k not in TYPES for k in kinds):
        raise validation_errors({"on": "The selected on is invalid."})
    try:
        page = max(1, int(ctx.query.get("page") or 1))
        per_page = min(max(1, int(ctx.query.get("per_page") or 10)), ctx.fake.max_per_page)
    except ValueError:
        raise validation_errors({"page": "The page must be an integer."}) from None
    st = ctx.org_state
    ar = area_for(ctx)
    out: dict[str, Any] = {}
    for kind in kinds:
        rows: list[Any]
        if kind == "process":
            rows = [
                r
                for r in st.runs
                if r["id"] not in ar.deleted_runs
                and (text in r["name"].lower() or text in str(r.get("summary") or "").lower())
            ]
        elif kind == "blueprint":
            rows = [c for c in st.checklists if text in c["title"].lower()]
        elif kind == "task":
            rows = [
                t
                for t in (
                    ctx.data.task_at(st, i) for i in ctx.data.select(st.id, mine=False, status=None)
                )
                if text in t["title"].lower()
            ]
        else:
            rows = []
        out[kind] = _page(ctx, rows, page, per_page)
    return json_response(out)


def register_search_routes(router: Router) -> None:
    router.get("/organizations/{org}/search", _search)
