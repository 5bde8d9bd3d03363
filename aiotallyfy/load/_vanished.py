"""Mark the rows a completed read no longer returned, and count rows per table.

Tallyfy cannot say what was deleted (no changed-since or deleted-since route), so after a
load every row of an organization whose read went to its last page without an error, and
that this load did not see (``_tallyfy_run_id`` is an older load's), gets
``_tallyfy_deleted_at``. Rows of an org whose read failed, or was never started, are left
exactly as they were: a failure must never look like a deletion. A row that comes back later
is merged again with ``_tallyfy_deleted_at`` empty.

Plain SQL through dlt's own client for the destination, so it works on every SQL
destination dlt supports (DuckDB, Postgres, Snowflake, BigQuery, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.pipeline.pipeline import Pipeline

from ._report import LoadReport
from ._resources import DELETED_COLUMN, RUN_COLUMN

__all__ = ["TableCounts", "empty_tables", "mark_vanished", "table_counts"]

_ORGS_PER_STATEMENT = 500


@dataclass(frozen=True, slots=True)
class TableCounts:
    rows: int
    deleted: int

    @property
    def live(self) -> int:
        return self.rows - self.deleted


def _names(pipeline: Pipeline) -> tuple[Any, str, str, str]:
    naming = pipeline.default_schema.naming
    return (
        naming,
        naming.normalize_identifier("organization_id"),
        naming.normalize_identifier(RUN_COLUMN),
        naming.normalize_identifier(DELETED_COLUMN),
    )


def _loaded_tables(pipeline: Pipeline, names: Iterable[str]) -> list[str]:
    """The resources that have a table with our columns in the pipeline's schema."""
    naming, _, run_col, _ = _names(pipeline)
    tables = pipeline.default_schema.tables
    found = []
    for name in names:
        table = tables.get(naming.normalize_table_identifier(name))
        if table is not None and run_col in table.get("columns", {}):
            found.append(name)
    return found


def mark_vanished(
    pipeline: Pipeline, report: LoadReport, *, now: datetime | None = None
) -> dict[str, int]:
    """Set ``_tallyfy_deleted_at`` on the rows the completed reads of ``report`` did not
    return; the number of rows marked per table."""
    naming, org_col, run_col, del_col = _names(pipeline)
    moment = now or report.started_at
    marked: dict[str, int] = {}
    with pipeline.sql_client() as sql:
        esc = sql.escape_column_name
        for name in _loaded_tables(pipeline, report.results):
            orgs = report.completed_orgs(name)
            table = sql.make_qualified_table_name(naming.normalize_table_identifier(name))
            count = 0
            for start in range(0, len(orgs), _ORGS_PER_STATEMENT):
                chunk = orgs[start : start + _ORGS_PER_STATEMENT]
                where = (
                    f"{esc(org_col)} IN ({', '.join(['%s'] * len(chunk))}) "
                    f"AND {esc(run_col)} <> %s AND {esc(del_col)} IS NULL"
                )
                args = [*chunk, report.run_id]
                with sql.begin_transaction():
                    rows = sql.execute_sql(f"SELECT COUNT(*) FROM {table} WHERE {where}", *args)
                    n = int(rows[0][0]) if rows else 0
                    if n:
                        sql.execute_sql(
                            f"UPDATE {table} SET {esc(del_col)} = %s WHERE {where}", moment, *args
                        )
                count += n
            marked[name] = count
    return marked


def table_counts(pipeline: Pipeline, names: Iterable[str]) -> dict[str, TableCounts]:
    """Rows, and rows marked deleted, in each of ``names``' tables (absent tables: none)."""
    naming, _, _, del_col = _names(pipeline)
    counts: dict[str, TableCounts] = {}
    wanted = list(names)
    loaded = set(_loaded_tables(pipeline, wanted))
    with pipeline.sql_client() as sql:
        for name in wanted:
            if name not in loaded:
                counts[name] = TableCounts(0, 0)
                continue
            table = sql.make_qualified_table_name(naming.normalize_table_identifier(name))
            try:
                rows = sql.execute_sql(
                    f"SELECT COUNT(*), COUNT({sql.escape_column_name(del_col)}) FROM {table}"
                )
            except DestinationUndefinedEntity:
                counts[name] = TableCounts(0, 0)
                continue
            total, deleted = rows[0] if rows else (0, 0)
            counts[name] = TableCounts(int(total), int(deleted))
    return counts


def empty_tables(pipeline: Pipeline, names: Iterable[str], naming: Any) -> set[str]:
    """The names whose table is absent from the destination or holds no row, asked of the
    destination itself (not the pipeline's local schema, which a new working folder or
    another pipeline loading the same dataset would not know). ``naming`` is the source
    schema's naming convention (the one the tables get their names from)."""
    empty: set[str] = set()
    with pipeline.sql_client() as sql:
        for name in names:
            table = sql.make_qualified_table_name(naming.normalize_table_identifier(name))
            try:
                rows = sql.execute_sql(f"SELECT 1 FROM {table} LIMIT 1")
            except DestinationUndefinedEntity:
                rows = None
            if not rows:
                empty.add(name)
    return empty
