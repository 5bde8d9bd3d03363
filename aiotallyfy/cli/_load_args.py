"""The ``load`` subcommand's grammar: its options, resource names and defaults.

Kept apart from :mod:`._load_cmd` so that building the parser (``--version``, ``--help``,
usage errors) imports neither the client nor dlt (start-up time, issue 11).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_DATASET", "DEFAULT_DUCKDB_PATH", "RESOURCE_NAMES", "add_load_parser"]

RESOURCE_NAMES = (
    "tasks", "my_tasks", "processes", "blueprints", "members", "guests", "groups", "tags",
    "folders", "comments",
)  # fmt: skip
"""The same names as ``aiotallyfy.load.RESOURCE_NAMES``, without importing dlt for --help."""

DEFAULT_DUCKDB_PATH = "tallyfy.duckdb"
DEFAULT_DATASET = "tallyfy_data"
"""Not ``tallyfy``: DuckDB names a file's catalog after the file, and a schema named like the
catalog makes every ``tallyfy.tasks`` ambiguous (dlt's own load fails with a Binder Error)."""


def add_load_parser(sub: Any) -> None:
    """The ``load`` subcommand's options (kept here, so the grammar file changes by a line
    and building the parser imports nothing of the load itself)."""
    load = sub.add_parser(
        "load",
        help="load organizations into a database (DuckDB by default; needs the load extra)",
        description="Read every selected list of every selected organization and merge it "
        "into a database through dlt: tables tasks, my_tasks, processes, blueprints, members, "
        "guests, groups, tags, folders, comments, keyed by (organization_id, id). Each load "
        "reads everything (Tallyfy has no changed-since filter) and marks the rows a "
        "completed read no longer returned (_tallyfy_deleted_at); an organization whose read "
        "failed keeps its rows as they were. Destinations other than DuckDB take their "
        "credentials from dlt's configuration (e.g. DESTINATION__POSTGRES__CREDENTIALS, or "
        ".dlt/secrets.toml), never from the command line.",
        allow_abbrev=False,
    )
    which = load.add_mutually_exclusive_group()
    which.add_argument(
        "--org", metavar="ID", action="append", dest="orgs", help="an organization id (repeatable)"
    )
    which.add_argument(
        "--all-orgs", action="store_true", help="every organization of the token's user"
    )
    load.add_argument(
        "--resources",
        metavar="LIST",
        default=None,
        help="comma-separated: " + ",".join(RESOURCE_NAMES) + " (default: all)",
    )
    load.add_argument(
        "--destination",
        metavar="NAME",
        default="duckdb",
        help="a dlt destination: duckdb (default), postgres, snowflake, bigquery, ...",
    )
    load.add_argument(
        "--duckdb-path",
        metavar="FILE",
        default=None,
        help=f"the DuckDB file (default ./{DEFAULT_DUCKDB_PATH}; duckdb only)",
    )
    load.add_argument(
        "--dataset",
        metavar="NAME",
        default=DEFAULT_DATASET,
        help=f"the dataset (schema) the tables go in (default {DEFAULT_DATASET})",
    )
