"""Lying pagination over real sockets: pages that lose ``data``, counters of the wrong type,
lists that end before what page 1 announced, lists that grow or shrink while read, repeated
pages and links to elsewhere. Each server is a plain aiohttp handler on 127.0.0.1
(``tests/_hostile.py``) that serves a Fractal envelope (``tallyfy-api.md`` §4) and then breaks
one promise of it. The client must either hand out every item exactly once or raise a
``PaginationError`` that names what is missing; never stop early as if the list had ended.

Hypothesis settings for the envelope properties: ``max_examples=200``, no deadline, no
example database (pure function, a few hundred ms in all).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from _hostile import HostileServer, hostile_server
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotallyfy import PaginationError, TallyfyClient
from aiotallyfy._pagination import PageInfo, parse_page
from aiotallyfy.cli import amain

pytestmark = pytest.mark.virtual_time

ORG = "a" * 32
TASKS = f"/api/organizations/{ORG}/tasks"

# (page, per_page, payload) -> payload to send (or a web.Response to send instead)
Lie = Callable[[int, int, dict[str, Any]], Any]


def envelope(
    items: list[Any], page: int, per_page: int, total: int, *, base: str = "http://x/api"
) -> dict[str, Any]:
    """Page ``page`` as Fractal's IlluminatePaginatorAdapter shapes it (``tallyfy-api.md`` §4):
    five integer counters; ``links`` is ``[]`` when there is no previous or next page."""
    total_pages = max(1, -(-total // per_page))
    links: dict[str, str] = {}
    if page > 1:
        links["previous"] = f"{base}?page={page - 1}"
    if page < total_pages:
        links["next"] = f"{base}?page={page + 1}"
    return {
        "data": items,
        "meta": {
            "pagination": {
                "total": total,
                "count": len(items),
                "per_page": per_page,
                "current_page": page,
                "total_pages": total_pages,
                "links": links or [],
            }
        },
    }


class ListServer:
    """A list of ``total`` items (ids ``t00000``...) served by page; ``lie`` rewrites a page."""

    def __init__(self, total: int, lie: Lie | None = None, *, prefix: str = "t") -> None:
        self.items: list[dict[str, Any]] = [{"id": f"{prefix}{i:05d}"} for i in range(total)]
        self.lie = lie

    def page(self, page: int, per_page: int) -> dict[str, Any]:
        chunk = self.items[(page - 1) * per_page : page * per_page]
        return envelope(chunk, page, per_page, len(self.items))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        page = int(request.query.get("page", "1"))
        per_page = int(request.query.get("per_page", "10"))
        payload: Any = self.page(page, per_page)
        if self.lie is not None:
            payload = self.lie(page, per_page, payload)
        if isinstance(payload, web.StreamResponse):
            return payload
        return web.Response(body=orjson.dumps(payload), content_type="application/json")


async def read_all(
    lie: Lie | None, total: int = 500, **list_kwargs: Any
) -> tuple[list[str], BaseException | None, HostileServer]:
    """Every task id the client hands out before it stops, and what stopped it."""
    source = ListServer(total, lie)
    got: list[str] = []
    error: BaseException | None = None
    async with (
        hostile_server(source.handle) as server,
        TallyfyClient("PAT-test", base_url=server.base_url) as client,
    ):
        try:
            async for task in client.tasks.list(ORG, **list_kwargs):
                got.append(task["id"])
        except PaginationError as exc:
            error = exc
    return got, error, server


def ids(start: int, stop: int) -> list[str]:
    return [f"t{i:05d}" for i in range(start, stop)]


def directory(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.iterdir()}


def pages_sent(server: HostileServer) -> list[int]:
    return sorted(int(s.query["page"]) for s in server.seen if s.path == TASKS)


# ----------------------------------------------------------------------------- a page without data
@pytest.mark.parametrize(
    "broken",
    [
        {"message": "Something went wrong"},  # no data at all
        {"data": None},
        {"data": None, "meta": {"pagination": {"total": 500, "total_pages": 5}}},
        {"data": {"id": "t00200"}},
        {"data": "t00200"},
        {},
        [],  # a bare list in the middle of a paginated walk, with no counters
    ],
    ids=["no-data", "data-null", "data-null-with-meta", "data-object", "data-str", "empty-object",
         "bare-empty-list"],
)  # fmt: skip
async def test_a_middle_page_without_a_data_list_is_an_error(broken: Any) -> None:
    # H3: page 3 of 5 answered 200 without a data list; the pager yielded 200 of 500 items and
    # stopped as if the list had ended.
    got, error, _ = await read_all(lambda page, _pp, p: broken if page == 3 else p)
    assert isinstance(error, PaginationError)
    assert got == ids(0, 200)
    assert "page 3" in error.message


async def test_a_first_page_of_an_empty_object_is_an_error() -> None:
    # H3: "{}" as page 1 gave 0 items and no error.
    got, error, server = await read_all(lambda page, _pp, p: {} if page == 1 else p)
    assert isinstance(error, PaginationError)
    assert got == []
    assert "data" in error.message
    assert pages_sent(server) == [1]


# ------------------------------------------------------------------- counters of the wrong type
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_pages", 3.0),
        ("total_pages", "5"),
        ("total_pages", True),
        ("total_pages", -1),
        ("total", 500.0),
        ("total", "500"),
        ("total", None if False else [500]),
        ("current_page", 1.0),
        ("count", "100"),
        ("per_page", 100.5),
    ],
)
async def test_a_counter_of_the_wrong_type_on_page_1_is_an_error(field: str, value: Any) -> None:
    # H3: a float total_pages (3.0) was ignored and 100 of 300 items came back with no error.
    # Fractal casts all five counters to int (tallyfy-api.md §4): anything else is a page we do
    # not understand.
    def lie(page: int, _pp: int, payload: dict[str, Any]) -> Any:
        if page == 1:
            payload["meta"]["pagination"][field] = value
        return payload

    got, error, _ = await read_all(lie, total=300)
    assert isinstance(error, PaginationError)
    assert got == []
    assert field in error.message


async def test_a_wrong_counter_on_a_later_page_stops_there() -> None:
    def lie(page: int, _pp: int, payload: dict[str, Any]) -> Any:
        if page == 2:
            payload["meta"]["pagination"]["total_pages"] = 3.0
        return payload

    got, error, _ = await read_all(lie, total=300)
    assert isinstance(error, PaginationError)
    assert got == ids(0, 100)


@pytest.mark.parametrize("meta", ["pagination", 5, ["x"], {"pagination": "x"}])
async def test_a_meta_of_the_wrong_shape_is_an_error(meta: Any) -> None:
    got, error, _ = await read_all(lambda page, _pp, p: {**p, "meta": meta}, total=300)
    assert isinstance(error, PaginationError)
    assert got == []


async def test_a_count_that_contradicts_the_page_is_an_error() -> None:
    def lie(page: int, _pp: int, payload: dict[str, Any]) -> Any:
        if page == 2:
            payload["data"] = payload["data"][:50]  # count still says 100
        return payload

    got, error, _ = await read_all(lie, total=300)
    assert isinstance(error, PaginationError)
    assert got == ids(0, 100)
    assert "count" in error.message


# -------------------------------------------------------------- ending before the announced end
async def test_an_empty_page_before_the_announced_last_page_is_an_error() -> None:
    # H3: an empty page ended the walk ("the list shrank") though the server still announced
    # 5 pages and 500 items on that very page.
    def lie(page: int, _pp: int, payload: dict[str, Any]) -> Any:
        if page == 3:
            payload["data"] = []
            payload["meta"]["pagination"]["count"] = 0
        return payload

    got, error, _ = await read_all(lie)
    assert isinstance(error, PaginationError)
    assert got == ids(0, 200)
    assert "200 of 500" in error.message


async def test_a_short_page_in_the_middle_is_reported_with_what_is_missing() -> None:
    def lie(page: int, _pp: int, payload: dict[str, Any]) -> Any:
        if page == 2:
            payload["data"] = payload["data"][:40]
            payload["meta"]["pagination"]["count"] = 40
        return payload

    got, error, _ = await read_all(lie)
    assert isinstance(error, PaginationError)
    assert got == ids(0, 140) + ids(200, 500)
    assert "440 of 500" in error.message


async def test_a_list_that_shrinks_while_read_is_an_error_naming_the_shortfall() -> None:
    # From page 3 on, the list has 300 items, and page 4 comes back empty. Items may have moved
    # onto pages already read, so the client cannot vouch for the result.
    def lie(page: int, per_page: int, payload: dict[str, Any]) -> Any:
        if page >= 3:
            items = [{"id": f"t{i:05d}"} for i in range(300)]
            return envelope(items[(page - 1) * per_page : page * per_page], page, per_page, 300)
        return payload

    got, error, _ = await read_all(lie)
    assert isinstance(error, PaginationError)
    assert got == ids(0, 300)
    assert "300 of 500" in error.message


async def test_links_without_counters_an_empty_page_that_still_links_on_is_an_error() -> None:
    def lie(page: int, _pp: int, payload: dict[str, Any]) -> Any:
        pagination = payload["meta"]["pagination"]
        del pagination["total_pages"], pagination["total"]
        if page == 2:
            payload["data"] = []
            pagination["count"] = 0
        return payload

    got, error, _ = await read_all(lie, total=300)
    assert isinstance(error, PaginationError)
    assert got == ids(0, 100)


# ----------------------------------------------------------------------------- lists that grow
async def test_a_list_that_grows_at_the_front_while_read_gives_every_item_once() -> None:
    # 50 items are inserted before the first after page 1 was read: the later pages shift by
    # 50, so the first 50 items of page 2 repeat page 1's tail. De-duplicated by id, no error.
    source: list[dict[str, Any]] = [{"id": f"t{i:05d}"} for i in range(300)]
    grown = [{"id": f"n{i:05d}"} for i in range(50)] + source

    def lie(page: int, per_page: int, payload: dict[str, Any]) -> Any:
        if page == 1:
            return payload
        return envelope(grown[(page - 1) * per_page : page * per_page], page, per_page, 350)

    got, error, server = await read_all(lie, total=300)
    assert error is None
    assert got == ids(0, 300)  # every item that existed when the walk began, once
    assert pages_sent(server) == [1, 2, 3, 4]


async def test_a_list_that_grows_at_the_end_while_read_is_followed_to_its_new_end() -> None:
    def lie(page: int, per_page: int, payload: dict[str, Any]) -> Any:
        if page == 1:
            return payload
        items = [{"id": f"t{i:05d}"} for i in range(350)]
        return envelope(items[(page - 1) * per_page : page * per_page], page, per_page, 350)

    got, error, server = await read_all(lie, total=300)
    assert error is None
    assert got == ids(0, 350)
    assert pages_sent(server) == [1, 2, 3, 4]


# ----------------------------------------------------------------------------- repeats and links
async def test_a_server_that_ignores_page_is_caught_without_looping() -> None:
    def lie(page: int, per_page: int, payload: dict[str, Any]) -> Any:
        first = ListServer(500).page(1, per_page)
        del first["meta"]["pagination"]["current_page"]
        return first

    got, error, server = await read_all(lie)
    assert isinstance(error, PaginationError)
    assert got == ids(0, 100)
    assert len(pages_sent(server)) <= 5


async def test_a_page_that_repeats_an_earlier_one_under_a_new_number_is_an_error() -> None:
    def lie(page: int, per_page: int, payload: dict[str, Any]) -> Any:
        if page == 3:
            repeat = ListServer(500).page(2, per_page)
            repeat["meta"]["pagination"]["current_page"] = 3
            return repeat
        return payload

    got, error, _ = await read_all(lie)
    assert isinstance(error, PaginationError)
    assert got == ids(0, 200)


async def test_links_pointing_elsewhere_are_never_followed() -> None:
    async with hostile_server(lambda r: _not_found(r)) as elsewhere:

        def lie(page: int, per_page: int, payload: dict[str, Any]) -> Any:
            links = payload["meta"]["pagination"]["links"]
            if isinstance(links, dict) and "next" in links:
                links["next"] = f"{elsewhere.url}/steal?page={page + 1}"
            return payload

        got, error, server = await read_all(lie, total=300)
    assert error is None
    assert got == ids(0, 300)
    assert elsewhere.seen == []
    assert pages_sent(server) == [1, 2, 3]


async def _not_found(request: web.Request) -> web.StreamResponse:
    return web.Response(status=404)


async def test_limit_stops_without_a_shortfall_error() -> None:
    got, error, _ = await read_all(None, total=500, limit=150)
    assert error is None
    assert got == ids(0, 150)


# ------------------------------------------------------------------- every place pages are read
async def test_the_org_list_cut_short_is_an_error_not_fewer_orgs() -> None:
    # H3: --all-orgs lists organizations with the same pager, so orgs could be dropped silently.
    orgs = ListServer(250, prefix="o")

    async def handle(request: web.Request) -> web.StreamResponse:
        page = int(request.query.get("page", "1"))
        if page == 2:
            return web.json_response({"data": None})
        return await orgs.handle(request)

    async with (
        hostile_server(handle) as server,
        TallyfyClient("PAT-test", base_url=server.base_url) as client,
    ):
        with pytest.raises(PaginationError) as info:
            await client.all_org_ids()
    assert "page 2" in info.value.message
    assert server.paths() == ["/api/me/organizations"] * 3


async def test_fan_out_one_org_cut_short_fails_alone() -> None:
    good, cut = "b" * 32, "c" * 32
    lists = {good: ListServer(250), cut: ListServer(250)}

    async def handle(request: web.Request) -> web.StreamResponse:
        org = request.path.split("/")[3]
        if org == cut and request.query.get("page") == "2":
            return web.json_response({"message": "maintenance"})
        return await lists[org].handle(request)

    async with (
        hostile_server(handle) as server,
        TallyfyClient("PAT-test", base_url=server.base_url) as client,
    ):
        stream = client.fan_out_stream([good, cut], lambda o: client.tasks.list(o))
        got: dict[str, list[str]] = {good: [], cut: []}
        async for org_id, task in stream:
            got[org_id].append(task["id"])
    assert got[good] == ids(0, 250)
    assert got[cut] == ids(0, 100)
    assert stream.results[good].error is None
    assert isinstance(stream.results[cut].error, PaginationError)


async def test_search_pages_cut_short_are_an_error() -> None:
    tasks = ListServer(250)

    async def handle(request: web.Request) -> web.StreamResponse:
        page = int(request.query.get("page", "1"))
        section: Any = tasks.page(page, int(request.query["per_page"]))
        if page == 2:
            section = {"data": None}
        return web.json_response({"task": section})

    async with (
        hostile_server(handle) as server,
        TallyfyClient("PAT-test", base_url=server.base_url) as client,
    ):
        got: list[str] = []
        error: BaseException | None = None
        try:
            async for hit in client.search(ORG, "x", on=["task"]):
                got.append(hit.item["id"])
        except PaginationError as exc:
            error = exc
    assert isinstance(error, PaginationError)
    assert got == ids(0, 100)


# ------------------------------------------------------ the CLI commits nothing it cannot vouch for
async def test_cli_export_with_a_list_cut_short_keeps_the_old_file_and_exits_1(
    tmp_path: Path,
) -> None:
    # H3: the export exited 0, said "exported 600 tasks from 3 organizations" and replaced the
    # old file with the truncated one.
    good, cut = "b" * 32, "c" * 32
    lists = {good: ListServer(250), cut: ListServer(500)}

    async def handle(request: web.Request) -> web.StreamResponse:
        org = request.path.split("/")[3]
        if org == cut and request.query.get("page") == "3":
            return web.json_response({"message": "Something went wrong"})
        return await lists[org].handle(request)

    target = tmp_path / "tasks.jsonl"
    target.write_bytes(b"previous export\n")
    async with hostile_server(handle) as server:
        err = io.StringIO()
        code = await amain(
            ["tasks", "--org", good, "--org", cut, "-o", str(target)],
            environ={"TALLYFY_BASE_URL": server.base_url, "TALLYFY_API_TOKEN": "PAT-test"},
            stdout=io.BytesIO(),
            stderr=err,
        )
    assert code == 1
    assert directory(tmp_path) == {"tasks.jsonl": b"previous export\n"}  # no .part left
    lines = err.getvalue().splitlines()
    [failure] = [line for line in lines if cut in line]
    assert failure.startswith(f"aiotallyfy: org {cut} failed after 200 tasks: ")
    assert "200 of 500" in failure
    assert lines[-2] == (
        f"aiotallyfy: {target} not written: 1 of 2 organizations failed, so it would be "
        "missing their tasks; the previous file, if any, is unchanged"
    )
    assert lines[-1].startswith("aiotallyfy: read 450 tasks from 2 organizations in ")
    assert lines[-1].endswith(" s (1 failed); nothing exported")


# ----------------------------------------------------------------------------- envelope properties
counters = st.integers(min_value=0, max_value=10**6)
items_st = st.lists(st.fixed_dictionaries({"id": st.text(min_size=1, max_size=8)}), max_size=20)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
PROPERTY = settings(max_examples=200, deadline=None, database=None)


@PROPERTY
@given(items=items_st, page=st.integers(1, 1000), per_page=st.integers(1, 100),
       extra=st.integers(0, 10**5), links=st.sampled_from([[], {}, None, "absent"]))  # fmt: skip
def test_property_a_well_formed_page_parses_exactly(
    items: list[dict[str, Any]], page: int, per_page: int, extra: int, links: Any
) -> None:
    per_page = max(per_page, len(items))  # Fractal never puts more than per_page on a page
    total = len(items) + extra
    pagination: dict[str, Any] = {
        "total": total, "count": len(items), "per_page": per_page,
        "current_page": page, "total_pages": max(1, -(-total // per_page)),
    }  # fmt: skip
    if links != "absent":
        pagination["links"] = links
    info = parse_page({"data": items, "meta": {"pagination": pagination}})
    assert info.items == items
    assert (info.current_page, info.total_pages, info.total) == (
        page, pagination["total_pages"], total
    )  # fmt: skip
    assert info.has_next_link is False


@PROPERTY
@given(json_values)
def test_property_any_json_parses_or_raises_pagination_error(payload: Any) -> None:
    try:
        info = parse_page(payload)
    except PaginationError:
        return
    assert isinstance(info, PageInfo)
    assert isinstance(info.items, list)
    for counter in (info.current_page, info.total_pages, info.total):
        assert counter is None or (type(counter) is int and counter >= 0)


@PROPERTY
@given(
    field=st.sampled_from(["total", "count", "per_page", "current_page", "total_pages"]),
    bad=st.floats() | st.text(max_size=4) | st.booleans() | st.integers(max_value=-1)
    | st.lists(st.integers(), max_size=2),
)  # fmt: skip
def test_property_a_counter_that_is_not_a_non_negative_int_is_refused(field: str, bad: Any) -> None:
    pagination: dict[str, Any] = {
        "total": 1, "count": 1, "per_page": 10, "current_page": 1, "total_pages": 1, "links": [],
    }  # fmt: skip
    pagination[field] = bad
    with pytest.raises(PaginationError) as info:
        parse_page({"data": [{"id": "x"}], "meta": {"pagination": pagination}})
    assert field in info.value.message


@PROPERTY
@given(
    st.none()
    | st.integers()
    | st.text(max_size=5)
    | st.dictionaries(st.text(max_size=4), st.integers(), max_size=3)
)
def test_property_an_object_without_a_data_list_is_refused(data: Any) -> None:
    with pytest.raises(PaginationError):
        parse_page({"data": data, "meta": {"pagination": {"total": 1}}})
    with pytest.raises(PaginationError):
        parse_page({"meta": {"pagination": {"total": 1}}, "message": data})


async def test_cli_all_orgs_with_the_org_list_cut_short_exports_nothing(tmp_path: Path) -> None:
    # H3: --all-orgs listed organizations with the same pager, so a cut org list dropped
    # organizations and the export still exited 0.
    orgs = ListServer(150, prefix="o")

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/api/me/organizations":
            if request.query.get("page") == "2":
                return web.json_response({"data": None})
            return await orgs.handle(request)
        return web.json_response(envelope([], 1, 100, 0))

    target = tmp_path / "tasks.jsonl"
    target.write_bytes(b"previous export\n")
    async with hostile_server(handle) as server:
        err = io.StringIO()
        code = await amain(
            ["tasks", "--all-orgs", "-o", str(target)],
            environ={"TALLYFY_BASE_URL": server.base_url, "TALLYFY_API_TOKEN": "PAT-test"},
            stdout=io.BytesIO(),
            stderr=err,
        )
    assert code == 1
    assert directory(tmp_path) == {"tasks.jsonl": b"previous export\n"}
    assert err.getvalue().startswith("aiotallyfy: could not list your organizations: ")
    assert "page 2" in err.getvalue()
    assert "100 of 150" in err.getvalue()
    assert not [s for s in server.seen if s.path.endswith("/tasks")]
