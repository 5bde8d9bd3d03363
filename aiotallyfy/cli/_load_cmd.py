"""``aiotallyfy load``: Tallyfy into a database through dlt (the ``load`` extra).

DuckDB (embedded, a file) by default; any other dlt destination by ``--destination NAME``,
its credentials coming from dlt's own configuration (environment variables such as
``DESTINATION__POSTGRES__CREDENTIALS``, or ``.dlt/secrets.toml``), never from the command
line. dlt is imported here, when the command runs, never at CLI start-up.

dlt runs the extraction in its own thread and event loop; this coroutine keeps the progress
display going on the CLI's loop meanwhile and reads what the load did from its
``LoadReport``. Exit codes as ``tasks``: 0 every read succeeded, 1 some failed (the others'
rows are loaded), 3 every read refused the token, 2 usage, 130/143 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._client import TallyfyClient
from .._errors import AuthenticationError
from .._fanout import OrgResult
from ._build import build_client
from ._commands import check_org_selection, selected_org_ids
from ._context import Context
from ._errors import EXIT_AUTH, EXIT_FAILED, EXIT_OK, CommandFailed, UsageError, describe
from ._load_args import DEFAULT_DUCKDB_PATH, RESOURCE_NAMES
from ._progress import ExportState, make_progress

if TYPE_CHECKING:
    from ..load import LoadSummary

__all__ = ["run_load", "run_load_with"]

# dlt's own settings, read from the environment: no telemetry and no schema warnings from a
# command-line tool unless the user asks for them.
#
# ARROW_DEFAULT_MEMORY_POOL=system: Arrow allocates with malloc instead of its bundled
# mimalloc, which kept ~20 MiB of freed Arrow buffers mapped through the load (the process is
# the CLI's own; set the variable to choose otherwise).
_DLT_DEFAULTS = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "RUNTIME__LOG_LEVEL": "ERROR",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}


def _resources(text: str | None) -> list[str]:
    if text is None:
        return list(RESOURCE_NAMES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in RESOURCE_NAMES]
    if unknown or not names:
        raise UsageError(
            f"--resources: unknown {', '.join(repr(n[:40]) for n in unknown) or 'empty list'}; "
            f"choose from {','.join(RESOURCE_NAMES)}"
        )
    return list(dict.fromkeys(names))


def _import_load() -> Any:
    for name, value in _DLT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    try:
        import dlt

        from .. import load
    except ImportError:
        raise UsageError("load needs the load extra: pip install 'aiotallyfy[load]'") from None
    logging.getLogger("dlt").setLevel(logging.ERROR)
    return dlt, load


DUCKDB_SETTINGS: dict[str, Any] = {"preserve_insertion_order": False, "memory_limit": "64MB"}
"""DuckDB's own settings for the load: its buffer pool capped at 64 MB (it writes to the
file or a temporary file beyond), and no insertion-order bookkeeping (the tables are keyed,
not ordered). The cap bounds what DuckDB holds of an insert: 100,000 tasks fit in one of
its row groups, which it otherwise keeps uncompressed in memory (~120 MB) until the commit.
A cap this low holds since the merge no longer de-duplicates with a window over every
staged row (``aiotallyfy.load._dedup``): that window ran out of memory under 64 MB at
1,000,000 tasks; the plain merge loads and re-loads 1,000,000 under it."""


def duckdb_credentials(path: str) -> Any:
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    return DuckDbCredentials(path, global_config=dict(DUCKDB_SETTINGS))


def make_pipeline(args: argparse.Namespace, dlt: Any) -> tuple[Any, str]:
    """The dlt pipeline for the options, and a description of where it loads."""
    destination_name = args.destination.strip().lower()
    dataset = args.dataset
    if not dataset.replace("_", "").isalnum():
        raise UsageError("--dataset must be letters, digits and underscores")
    if destination_name == "duckdb":
        path = os.path.abspath(args.duckdb_path or DEFAULT_DUCKDB_PATH)
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem.lower() == dataset.lower():
            raise UsageError(
                f"--dataset {dataset} is the DuckDB file's own name ({os.path.basename(path)}): "
                "DuckDB could not tell the file from the dataset; choose another --dataset"
            )
        destination: Any = dlt.destinations.duckdb(duckdb_credentials(path))
        where = f"DuckDB {path}"
    else:
        if args.duckdb_path:
            raise UsageError("--duckdb-path goes with --destination duckdb only")
        destination = destination_name
        where = destination_name
    try:
        pipeline = dlt.pipeline(
            pipeline_name=f"aiotallyfy_{destination_name}_{dataset}",
            destination=destination,
            dataset_name=dataset,
        )
    except Exception as exc:  # an unknown destination name, a bad configuration
        raise UsageError(f"--destination {destination_name}: {describe(exc)}") from None
    return pipeline, f"{where}, dataset {dataset}"


async def run_load(ctx: Context) -> int:
    args = ctx.args
    check_org_selection(args, "load")
    resources = _resources(args.resources)
    dlt, _ = _import_load()
    pipeline, where = make_pipeline(args, dlt)
    async with build_client(args, ctx.environ) as lister:  # fails fast on a missing token
        org_ids = list(dict.fromkeys(await selected_org_ids(ctx, lister)))
    return await run_load_with(
        ctx, pipeline, lambda: build_client(args, ctx.environ), org_ids, resources, where
    )


async def run_load_with(
    ctx: Context,
    pipeline: Any,
    factory: Any,
    org_ids: Sequence[str],
    resources: Sequence[str],
    where: str,
    *,
    description: str = "loading",
) -> int:
    """Load every resource of every org into ``pipeline`` with the progress display, print
    the summary, and return the exit code (shared with the demo)."""
    from ..load import LoadReport, load_tallyfy

    loop = asyncio.get_running_loop()
    state = ExportState(orgs_total=len(org_ids) * len(resources))
    report = LoadReport()
    client_stats: list[TallyfyClient] = []

    def read_done(resource: str, result: OrgResult[Any]) -> None:
        loop.call_soon_threadsafe(state.done.__setitem__, f"{resource}/{result.org_id}", result)

    def count(rows: int) -> None:
        state.tasks += rows  # one writer (dlt's thread); the display only reads it

    report.on_read_done = read_done
    report.on_rows = count

    def tracked() -> TallyfyClient:
        client: TallyfyClient = factory()
        client_stats.append(client)
        return client

    progress = make_progress(
        ctx.stderr,
        state,
        _StatsView(client_stats),
        quiet=ctx.args.quiet,
        description=description,
        unit="rows",
    )
    work = asyncio.ensure_future(
        asyncio.to_thread(
            load_tallyfy, pipeline, tracked, org_ids=org_ids, resources=resources, report=report
        )
    )
    async with contextlib.AsyncExitStack() as stack:
        if ctx.log_handler is not None:
            stack.enter_context(ctx.log_handler.routed(progress.log))
        async with progress:
            try:
                summary: LoadSummary = await asyncio.shield(work)
            except asyncio.CancelledError:
                report.stop()  # the extraction stops at its next page; nothing is marked
                with contextlib.suppress(BaseException):
                    await work
                raise
            except Exception as exc:
                stop_reason = _load_failure(exc)
                raise CommandFailed(f"load into {where} failed: {stop_reason}") from None
    return _report(ctx, summary, where)


class _StatsView:
    """The request counters of the client(s) the load made (on dlt's loop), summed for the
    display."""

    def __init__(self, clients: list[TallyfyClient]) -> None:
        self._clients = clients

    @property
    def requests(self) -> int:
        return sum(c.stats.requests for c in self._clients)

    @property
    def rate_limited(self) -> int:
        return sum(c.stats.rate_limited for c in self._clients)

    @property
    def retries(self) -> int:
        return sum(c.stats.retries for c in self._clients)


def _load_failure(exc: BaseException) -> str:
    """One line for a failed dlt step: the innermost cause, never a traceback."""
    inner: BaseException = exc
    while inner.__cause__ is not None or getattr(inner, "exception", None) is not None:
        nxt = getattr(inner, "exception", None) or inner.__cause__
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    return describe(inner).split(". ", 1)[0][:300]


def _report(ctx: Context, summary: LoadSummary, where: str) -> int:
    report = summary.report
    failed = report.failed
    for resource, r in failed:
        assert r.error is not None
        partial = f" after {r.count:,} rows" if r.count else ""
        ctx.error(f"org {r.org_id} failed reading {resource}{partial}: {describe(r.error)}")
    n_orgs = len(report.org_ids or [])
    rows = sum(report.rows.values())
    failed_text = f" ({len(failed)} reads failed)" if failed else ""
    ctx.info(
        f"loaded {rows:,} rows from {n_orgs} organization{'' if n_orgs == 1 else 's'} into "
        f"{where} in {summary.elapsed:.1f} s{failed_text}"
    )
    width = max(len(n) for n in summary.resources)
    for name in summary.resources:
        table = summary.after[name]
        ctx.info(
            f"  {name:<{width}}  {table.rows:>9,} rows  (read {report.rows[name]:,}, "
            f"new {summary.added(name):,}, marked deleted {summary.marked.get(name, 0):,}, "
            f"deleted in all {table.deleted:,})"
        )
    if not failed:
        return EXIT_OK
    reads = sum(len(per_org) for per_org in report.results.values())
    if len(failed) == reads and all(isinstance(r.error, AuthenticationError) for _, r in failed):
        return EXIT_AUTH
    return EXIT_FAILED
