"""``aiotallyfy.load`` and ``aiotallyfy load`` against real engines: embedded DuckDB always,
a real PostgreSQL server when its binaries exist (``.ci/run`` installs them).

The fake serves on the test's loop; dlt runs the load in a thread (``asyncio.to_thread``)
with its own event loop, exactly as the CLI does. Truth is FakeTallyfy's own data.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

dlt = pytest.importorskip("dlt")

from _hostile import hostile_server  # noqa: E402
from _postgres import PostgresServer, find_pg_bin  # noqa: E402

from aiotallyfy import TallyfyClient  # noqa: E402
from aiotallyfy.cli import amain  # noqa: E402
from aiotallyfy.load import (  # noqa: E402
    DELETED_COLUMN,
    RUN_COLUMN,
    LoadReport,
    load_tallyfy,
    tallyfy_source,
)
from aiotallyfy.testing import FakeTallyfy  # noqa: E402
from aiotallyfy.testing._fake_store import area_of  # noqa: E402

DATASET = "tallyfy_data"
META = {RUN_COLUMN, DELETED_COLUMN, "_dlt_load_id", "_dlt_id"}


@pytest.fixture(autouse=True)
def _dlt_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No telemetry, no warnings, and dlt's working files in the test's directory."""
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "ERROR")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))


def duckdb_pipeline(tmp_path: Path, name: str = "t") -> Any:
    return dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(str(tmp_path / "tallyfy.duckdb")),
        dataset_name=DATASET,
    )


def factory(fake: FakeTallyfy) -> Any:
    return lambda: TallyfyClient(fake.token, base_url=fake.base_url, rate_limits=[])


def table(pipeline: Any, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every row of ``name`` keyed by (organization_id, id), JSON columns decoded."""
    with pipeline.sql_client() as sql:
        query = f"SELECT * FROM {sql.make_qualified_table_name(name)}"
        with sql.execute_query(query) as cur:
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
    json_cols = {
        c
        for c, spec in pipeline.default_schema.tables[name]["columns"].items()
        if spec.get("data_type") == "json"
    }
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for values in rows:
        row = dict(zip(columns, values, strict=True))
        for c in json_cols:
            if isinstance(row.get(c), str):
                row[c] = orjson.loads(row[c])
        key = (row["organization_id"], str(row["id"]))
        assert key not in out, f"duplicate row {key}"
        out[key] = row
    return out


def live(rows: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {k: r for k, r in rows.items() if r[DELETED_COLUMN] is None}


def same(record: dict[str, Any], row: dict[str, Any]) -> bool:
    """The record as the API returned it equals the row: every field by value, nested values
    (stored as JSON text) decoded. Null fields may be absent (a column appears with its
    first value)."""
    for key, value in record.items():
        got = row.get(key)
        if isinstance(value, (dict, list)) and isinstance(got, str):
            got = orjson.loads(got)
        if got != value:
            return False
    return True


def fake_tasks(fake: FakeTallyfy) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (org_id, t["id"]): t
        for org_id in fake.data.accessible_org_ids
        for t in fake.data.org_tasks(org_id)
    }


def content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in META}


async def run_load(pipeline: Any, fake: FakeTallyfy, **kwargs: Any) -> Any:
    return await asyncio.to_thread(load_tallyfy, pipeline, factory(fake), **kwargs)


# ----------------------------------------------------------------------------- DuckDB
async def test_every_resource_loads_exactly_the_fakes_records(tmp_path: Path) -> None:
    async with FakeTallyfy(orgs=3, tasks_per_org=[250, 120, 0]) as fake:
        org0 = fake.data.org_ids[0]
        first_task = fake.data.org_tasks(org0)[0]["id"]
        async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
            await client.comments.create(org0, first_task, "first")
            await client.comments.create(org0, first_task, "second")
        pipeline = duckdb_pipeline(tmp_path)
        summary = await run_load(pipeline, fake)

        assert summary.report.failed == []
        tasks = table(pipeline, "tasks")
        expected = fake_tasks(fake)
        assert set(tasks) == set(expected)
        assert len(tasks) == 370
        assert [_diff(expected[k], tasks[k]) for k in expected if not same(expected[k], tasks[k])][
            :2
        ] == []
        assert all(r[RUN_COLUMN] == summary.report.run_id for r in tasks.values())

        async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
            for name, lister in [
                ("processes", client.runs.list),
                ("blueprints", client.blueprints.list),
                ("members", client.users.list),
                ("guests", client.guests.list),
                ("groups", client.groups.list),
                ("tags", client.tags.list),
                ("folders", client.folders.list),
                ("my_tasks", lambda o: client.tasks.list_mine(o, status="all")),
            ]:
                want = {
                    (o, str(item["id"])): item
                    for o in fake.data.org_ids
                    for item in await lister(o).to_list()  # type: ignore[operator]
                }
                got = table(pipeline, name)
                assert set(got) == set(want), name
                assert len(want) > 0, name
                assert all(same(want[k], got[k]) for k in want), name
                assert summary.after[name].rows == len(want)
        comments = table(pipeline, "comments")
        assert sorted(r["content"] for r in comments.values()) == ["first", "second"]
        assert {r["task_id"] for r in comments.values()} == {first_task}


async def test_reload_updates_exactly_the_changed_rows_and_marks_the_deleted(
    tmp_path: Path,
) -> None:
    async with FakeTallyfy(orgs=2, tasks_per_org=150) as fake:
        pipeline = duckdb_pipeline(tmp_path)
        await run_load(pipeline, fake, resources=["tasks"])
        before = table(pipeline, "tasks")

        org = fake.data.org_ids[1]
        tasks = fake.data.org_tasks(org)
        open_oneoff = [t for t in tasks if t["run_id"] is None and t["status"] != "completed"]
        gone = open_oneoff[0]["id"]
        completed = [t["id"] for t in open_oneoff[1:4]]
        async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
            for task_id in completed:
                await client.tasks.complete(org, task_id)
            await client.tasks.delete(org, gone)
            new = await client.tasks.create(
                org, title="Brand new", owners={"users": []}, deadline="2026-03-01 10:00:00"
            )

        summary = await run_load(pipeline, fake, resources=["tasks"])
        after = table(pipeline, "tasks")

        inserted = set(after) - set(before)
        changed = {k for k in set(before) & set(after) if content(before[k]) != content(after[k])}
        marked = {k for k, r in after.items() if r[DELETED_COLUMN] is not None}
        assert inserted == {(org, new["id"])}
        assert changed == {(org, t) for t in completed}
        assert all(after[k]["status"] == "completed" for k in changed)
        assert marked == {(org, gone)}
        assert summary.marked == {"tasks": 1}
        assert summary.added("tasks") == 1
        assert content(before[(org, gone)]) == content(after[(org, gone)])
        expected = fake_tasks(fake)
        assert set(live(after)) == set(expected)
        assert all(same(expected[k], after[k]) for k in expected)


async def test_a_failed_org_never_marks_its_rows_deleted(tmp_path: Path) -> None:
    async with FakeTallyfy(orgs=2, tasks_per_org=150) as fake:
        ok_org, bad_org = fake.data.org_ids
        pipeline = duckdb_pipeline(tmp_path)
        await run_load(pipeline, fake, resources=["tasks"])
        first = table(pipeline, "tasks")

        async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
            gone_ok = fake.data.org_tasks(ok_org, is_oneoff=True)[0]["id"]
            gone_bad = fake.data.org_tasks(bad_org, is_oneoff=True)[0]["id"]
            await client.tasks.archive(ok_org, gone_ok)
            await client.tasks.archive(bad_org, gone_bad)
        # the failing org answers its task list with a 500 (a read is not retried on a 500)
        fake.inject("server_500", path_contains=f"{bad_org}/tasks", times=1)
        summary = await run_load(pipeline, fake, resources=["tasks"])
        after = table(pipeline, "tasks")

        assert [(res, r.org_id) for res, r in summary.report.failed] == [("tasks", bad_org)]
        assert summary.marked == {"tasks": 1}
        assert after[(ok_org, gone_ok)][DELETED_COLUMN] is not None
        assert after[(bad_org, gone_bad)][DELETED_COLUMN] is None
        bad_rows = {k: content(r) for k, r in after.items() if k[0] == bad_org}
        assert bad_rows == {k: content(r) for k, r in first.items() if k[0] == bad_org}

        summary = await run_load(pipeline, fake, resources=["tasks"])  # the org is back
        assert summary.report.failed == []
        assert table(pipeline, "tasks")[(bad_org, gone_bad)][DELETED_COLUMN] is not None


async def test_a_load_stopped_midway_changes_nothing_and_the_next_is_exact(
    tmp_path: Path,
) -> None:
    async with FakeTallyfy(orgs=3, tasks_per_org=300) as fake:
        pipeline = duckdb_pipeline(tmp_path)
        await run_load(pipeline, fake, resources=["tasks"])
        first = table(pipeline, "tasks")
        org = fake.data.org_ids[0]
        async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
            target = next(t for t in fake.data.org_tasks(org) if t["run_id"] is None)
            await client.tasks.delete(org, target["id"])

        report = LoadReport()
        pages = 0

        def stop_after_two_pages(rows: int) -> None:
            nonlocal pages
            pages += 1
            if pages == 2:
                report.stop()

        report.on_rows = stop_after_two_pages
        with pytest.raises(Exception, match="the load was stopped"):
            await run_load(pipeline, fake, resources=["tasks"], report=report)
        assert table(pipeline, "tasks") == first  # nothing half-applied, nothing marked

        await run_load(pipeline, fake, resources=["tasks"])
        after = table(pipeline, "tasks")
        expected = fake_tasks(fake)
        assert set(live(after)) == set(expected)
        assert all(same(expected[k], after[k]) for k in expected)
        assert {k for k, r in after.items() if r[DELETED_COLUMN]} == {(org, target["id"])}


async def test_a_stale_package_left_by_a_killed_load_is_never_loaded(tmp_path: Path) -> None:
    """Killed between normalize and load: the next load must not finish that older read."""
    async with FakeTallyfy(orgs=2, tasks_per_org=120) as fake:
        pipeline = duckdb_pipeline(tmp_path)
        await run_load(pipeline, fake, resources=["tasks"])
        org = fake.data.org_ids[0]
        stale = tallyfy_source(factory(fake), resources=["tasks"])

        def extract_and_normalize() -> None:
            pipeline.extract(stale, loader_file_format="jsonl")
            pipeline.normalize()

        await asyncio.to_thread(extract_and_normalize)
        assert pipeline.list_normalized_load_packages()  # a package waits, as after a kill
        completed = next(t for t in fake.data.org_tasks(org) if t["status"] != "completed")
        async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
            await client.tasks.complete(org, completed["id"], completed["run_id"])

        await run_load(pipeline, fake, resources=["tasks"])
        after = table(pipeline, "tasks")
        assert after[(org, completed["id"])]["status"] == "completed"
        expected = fake_tasks(fake)
        assert set(after) == set(expected)
        assert all(same(expected[k], after[k]) for k in expected)


# ------------------------------------------------------------------------------- CLI
async def cli(argv: list[str], fake: FakeTallyfy) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.StringIO()
    env = {"TALLYFY_API_TOKEN": fake.token, "TALLYFY_BASE_URL": fake.base_url}
    code = await amain(argv, environ=env, stdout=out, stderr=err)
    return code, out.getvalue().decode(), err.getvalue()


async def test_cli_load_into_duckdb_and_a_failed_org(tmp_path: Path) -> None:
    db = tmp_path / "tallyfy.duckdb"
    async with FakeTallyfy(orgs=3, tasks_per_org=120, forbidden_orgs=1) as fake:
        code, _, err = await cli(
            ["load", "--all-orgs", "--resources", "tasks,tags", "--duckdb-path", str(db)], fake
        )
        ok_orgs = fake.data.accessible_org_ids
        bad = fake.data.forbidden_org_ids[0]
    assert code == 1
    assert f"org {bad} failed reading tasks" in err
    assert f"org {bad} failed reading tags" in err
    assert "loaded 246 rows from 3 organizations" in err
    assert "tasks" in err
    assert "240 rows" in err
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        got = con.execute(
            f"SELECT organization_id, COUNT(*) FROM {DATASET}.tasks GROUP BY 1 ORDER BY 1"
        ).fetchall()
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [DATASET]
        ).fetchall()}  # fmt: skip
    assert got == sorted((o, 120) for o in ok_orgs)
    assert {"tasks", "tags"} <= tables
    assert "processes" not in tables


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["load"], "needs --org ID"),
        (["load", "--all-orgs", "--resources", "tasks,nope"], "unknown 'nope'"),
        (["load", "--all-orgs", "--destination", "postgres", "--duckdb-path", "x.db"],
         "--duckdb-path goes with --destination duckdb only"),
        (["load", "--all-orgs", "--duckdb-path", "tallyfy.duckdb", "--dataset", "tallyfy"],
         "is the DuckDB file's own name"),
    ],
)  # fmt: skip
async def test_cli_load_usage_errors(argv: list[str], message: str) -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=1) as fake:
        code, _, err = await cli(argv, fake)
        assert len(fake.requests) == 0
    assert code == 2
    assert message in err


def test_the_cli_starts_without_importing_dlt() -> None:
    probe = (
        "import sys; from aiotallyfy.cli import main; from aiotallyfy.cli._args import "
        "parse_args; parse_args(['load', '--all-orgs']); "
        "assert 'dlt' not in sys.modules and 'duckdb' not in sys.modules, 'dlt imported'"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)


async def test_demo_load_prints_tasks_by_status_and_is_exact(tmp_path: Path) -> None:
    out, err = io.BytesIO(), io.StringIO()
    db = tmp_path / "demo.duckdb"
    argv = ["demo", "load", "--orgs", "3", "--latency-ms", "0", "--fault-rate", "0", "-o", str(db)]
    code = await amain(argv, environ={}, stdout=out, stderr=err)
    text = out.getvalue().decode()
    assert code == 0, err
    assert "0 duplicated: exact" in text
    assert "organization" in text
    assert "completed" in text
    assert "not-started" in text
    assert db.exists()


# -------------------------------------------------------------------------- Postgres
@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("CI: no PostgreSQL binaries (initdb, pg_ctl); .ci/run should install them")
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl); .ci/run installs them")
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def fake_for_pg() -> AsyncIterator[FakeTallyfy]:
    async with FakeTallyfy(orgs=2, tasks_per_org=130) as fake:
        yield fake


async def test_postgres_by_configuration_alone(
    postgres: PostgresServer, fake_for_pg: FakeTallyfy, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg2

    fake = fake_for_pg
    area_of(fake, fake.data.org_ids[0]).add_tags(2)
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres.url)
    argv = ["load", "--all-orgs", "--destination", "postgres", "--dataset", "tallyfy"]
    code, out, err = await cli(argv, fake)
    assert code == 0, err
    assert postgres.PASSWORD not in out + err
    expected = fake_tasks(fake)
    async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
        tags = {
            (o, t["id"]): t for o in fake.data.org_ids for t in await client.tags.list(o).to_list()
        }
    with psycopg2.connect(postgres.url) as con, con.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tallyfy'"
        )
        tables = sorted(r[0] for r in cur.fetchall())
        cur.execute("SELECT * FROM tallyfy.tasks")
        cols = [d[0] for d in cur.description]
        rows = {
            (r["organization_id"], r["id"]): r
            for r in (dict(zip(cols, v, strict=True)) for v in cur.fetchall())
        }
        cur.execute("SELECT organization_id, id, title FROM tallyfy.tags")
        got_tags = {(o, i): t for o, i, t in cur.fetchall()}
    assert [t for t in tables if not t.startswith("_dlt")] == sorted(
        [
            "blueprints",
            "folders",
            "groups",
            "guests",
            "members",
            "my_tasks",
            "processes",
            "tags",
            "tasks",
        ]
    )  # fmt: skip  (no comments yet: a table appears with its first row)
    assert set(rows) == set(expected)
    assert len(rows) == 260
    for key, record in expected.items():
        assert same(record, rows[key]), key
    assert got_tags == {k: t["title"] for k, t in tags.items()}


def _diff(record: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v, row.get(k)) for k, v in record.items() if row.get(k) != v}


def test_to_arrow_nested_as_json_text_null_columns_dropped_mixed_types_kept() -> None:
    from aiotallyfy.load._arrow import to_arrow

    rows = [
        {"id": "a", "owners": {"users": [1]}, "taskdata": {}, "gone": None, "n": 1},
        {"id": "b", "owners": {"users": []}, "taskdata": {"k": [1, "x"]}, "gone": None, "n": 2},
    ]
    table = to_arrow(rows)
    assert table.column_names == ["id", "owners", "taskdata", "n"]
    assert table.to_pylist() == [
        {"id": "a", "owners": '{"users":[1]}', "taskdata": "{}", "n": 1},
        {"id": "b", "owners": '{"users":[]}', "taskdata": '{"k":[1,"x"]}', "n": 2},
    ]
    mixed = to_arrow([{"id": "a", "v": 1, "w": None}, {"id": "b", "v": "one", "w": None}])
    assert mixed.column_names == ["id", "v"]
    assert mixed.column("v").to_pylist() == ["1", '"one"']
    assert rows[0]["owners"] == {"users": [1]}  # the page's objects are left as they were


async def test_cancelling_the_cli_load_stops_dlt_and_the_next_load_is_exact(
    tmp_path: Path,
) -> None:
    """Ctrl-C / SIGTERM cancel ``amain``: the load thread is told to stop, awaited, and the
    cancellation goes on; nothing was loaded, and the next load is exact."""
    db = tmp_path / "t.duckdb"
    argv = ["load", "--all-orgs", "--resources", "tasks", "--duckdb-path", str(db)]
    async with FakeTallyfy(orgs=4, tasks_per_org=300, latency=0.02) as fake:
        task = asyncio.ensure_future(cli(argv, fake))
        for _ in range(3000):  # until three task pages were asked for (at most 30 s)
            if sum("/tasks" in r.path for r in fake.requests) >= 3:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent = len(fake.requests)
        await asyncio.sleep(0.3)
        assert len(fake.requests) == sent  # nothing keeps reading behind the caller's back
        assert loaded_tasks(db) is None  # stopped before anything was loaded

        code, _, err = await cli(argv, fake)
        assert code == 0, err
        assert loaded_tasks(db) == set(fake_tasks(fake))


def loaded_tasks(db: Path) -> set[tuple[str, str]] | None:
    """The task keys in a DuckDB file, ``None`` when it holds no tasks table."""
    import duckdb

    if not db.exists():
        return None
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = 'tasks'",
            [DATASET],
        ).fetchone()
        if not found or not found[0]:
            return None
        rows = con.execute(f"SELECT organization_id, id FROM {DATASET}.tasks").fetchall()
    return {(o, i) for o, i in rows}


async def test_a_destination_that_fails_is_one_line_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    password = "pw-never-shown-3e9"
    monkeypatch.setenv(
        "DESTINATION__POSTGRES__CREDENTIALS", f"postgresql://u:{password}@127.0.0.1:{port}/db"
    )
    async with FakeTallyfy(orgs=1, tasks_per_org=10) as fake:
        code, out, err = await cli(
            ["load", "--all-orgs", "--resources", "tags", "--destination", "postgres"], fake
        )
    assert code == 1
    assert "load into postgres, dataset tallyfy_data failed: OperationalError" in err
    assert password not in out + err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_the_cli_knows_the_same_resources_as_the_source() -> None:
    from aiotallyfy.cli._load_args import RESOURCE_NAMES as CLI_NAMES
    from aiotallyfy.load import RESOURCE_NAMES

    assert CLI_NAMES == RESOURCE_NAMES


# ------------------------------------------------------- one row per key, first load appends
def test_first_seen_keeps_the_first_row_of_each_key_per_org() -> None:
    from aiotallyfy.load._dedup import FirstSeen

    seen = FirstSeen()
    a1, a2 = {"id": "a", "n": 1}, {"id": "a", "n": 2}
    assert seen.rows("o1", [a1, {"id": "b"}]) == [a1, {"id": "b"}]
    assert seen.rows("o1", [a2, {"id": "c"}, {"id": "c", "n": 3}]) == [{"id": "c"}]
    assert seen.rows("o2", [a2]) == [a2]  # another org's key
    assert seen.rows("o1", [{"id": 5}, {"id": "5"}, {"id": 5}]) == [{"id": 5}, {"id": "5"}]
    assert seen.dropped == 3
    seen.org_done("o1")
    assert seen.rows("o1", [a1]) == [a1]  # a new read of the org starts afresh


def staging_schemas(pipeline: Any) -> list[str]:
    with pipeline.sql_client() as sql:
        rows = sql.execute_sql(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
            f"{DATASET}%staging%",
        )
    return [r[0] for r in rows or []]


async def test_a_first_load_appends_the_next_merges_and_so_does_a_new_pipeline(
    tmp_path: Path,
) -> None:
    """A table that is empty takes the rows as they are (no staging dataset); the re-load
    merges through staging, each key once. Whether a table is empty is asked of the
    destination, not of the pipeline's local state: a second pipeline (another name, a
    fresh working folder) loading the same dataset must not add the rows a second time."""
    async with FakeTallyfy(orgs=2, tasks_per_org=60) as fake:
        pipeline = duckdb_pipeline(tmp_path, "first")
        await run_load(pipeline, fake, resources=["tasks"])
        assert staging_schemas(pipeline) == []
        assert set(table(pipeline, "tasks")) == set(fake_tasks(fake))

        summary = await run_load(pipeline, fake, resources=["tasks"])
        assert staging_schemas(pipeline) == [f"{DATASET}_staging"]
        after = table(pipeline, "tasks")  # asserts no duplicated key
        assert set(after) == set(fake_tasks(fake))
        assert summary.added("tasks") == 0
        assert all(r[RUN_COLUMN] == summary.report.run_id for r in after.values())

        other = dlt.pipeline(
            pipeline_name="second",
            pipelines_dir=str(tmp_path / "other-pipelines"),
            destination=dlt.destinations.duckdb(str(tmp_path / "tallyfy.duckdb")),
            dataset_name=DATASET,
        )
        summary = await run_load(other, fake, resources=["tasks"])
        rows = table(other, "tasks")  # asserts no duplicated key
        assert set(rows) == set(fake_tasks(fake))
        assert summary.after["tasks"].rows == 120
        assert all(r[RUN_COLUMN] == summary.report.run_id for r in rows.values())


async def test_a_comment_handed_out_twice_is_loaded_once(tmp_path: Path) -> None:
    """Two tasks' threads carrying the same comment id (the pager cannot see it: the tasks
    differ): one row, the first seen, on the first load (append) and the re-load (merge)."""

    def task(task_id: str, text: str) -> dict[str, Any]:
        comment = {"id": "c1", "content": text}
        return {"id": task_id, "title": task_id, "threads": {"data": [comment]}}

    async def handler(request: web.Request) -> web.Response:
        assert request.path == "/api/organizations/org1/tasks"
        body = {
            "data": [task("t1", "first"), task("t2", "second")],
            "meta": {"pagination": {"total": 2, "count": 2, "per_page": 100,
                                    "current_page": 1, "total_pages": 1}},
        }  # fmt: skip
        return web.json_response(body)

    async with hostile_server(handler) as server:

        def make() -> TallyfyClient:
            return TallyfyClient("t0ken", base_url=server.base_url, rate_limits=[])

        pipeline = duckdb_pipeline(tmp_path)
        for _ in range(2):
            summary = await asyncio.to_thread(
                load_tallyfy, pipeline, make, org_ids=["org1"], resources=["comments"]
            )
            assert summary.report.failed == []
            rows = table(pipeline, "comments")
            assert {k: (r["content"], r["task_id"]) for k, r in rows.items()} == {
                ("org1", "c1"): ("first", "t1")
            }
        assert len(server.paths()) == 2
