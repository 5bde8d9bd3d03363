"""The ``orgs``, ``me`` and ``tasks`` commands, and the export loop the demo shares."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from .._client import TallyfyClient
from .._errors import AuthenticationError, InvalidArgument, TallyfyError
from .._fanout import OrgResult
from .._ids import segment
from .._pagination import AsyncPager
from .._resources._task_union import TaskUnion
from .._resources._tasks import MY_TASK_STATUSES
from ._build import build_client
from ._context import Context
from ._errors import EXIT_AUTH, EXIT_FAILED, EXIT_OK, CommandFailed, UsageError, describe
from ._export import AtomicOutput, make_writer
from ._progress import ExportState, make_progress

__all__ = [
    "ExportResult",
    "export_exit_code",
    "export_tasks",
    "open_output",
    "run_me",
    "run_orgs",
    "run_tasks",
    "selected_org_ids",
]


async def run_orgs(ctx: Context) -> int:
    async with build_client(ctx.args, ctx.environ) as client:
        async for org in client.organizations.list():
            ctx.emit(orjson.dumps(org, option=orjson.OPT_APPEND_NEWLINE))
    ctx.stdout.flush()
    return EXIT_OK


async def run_me(ctx: Context) -> int:
    async with build_client(ctx.args, ctx.environ) as client:
        me = await client.me()
    ctx.emit(orjson.dumps(me, option=orjson.OPT_APPEND_NEWLINE))
    ctx.stdout.flush()
    return EXIT_OK


@dataclass(slots=True)
class ExportResult:
    state: ExportState
    results: list[OrgResult[Any]]
    elapsed: float
    bytes_written: int
    target: str
    committed: bool = False
    """Whether the output file was renamed into place (never when an organization failed)."""

    @property
    def failed(self) -> list[OrgResult[Any]]:
        return [r for r in self.results if r.error is not None]


def _isatty(stream: BinaryIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def check_org_selection(args: Any, command: str) -> None:
    """``--org`` (repeatable, each a valid Tallyfy id) or ``--all-orgs``: the choice every
    command that walks organizations (``tasks``, ``load``) requires, checked before any
    request; an invalid value is not echoed back."""
    if not args.orgs and not args.all_orgs:
        raise UsageError(f"{command} needs --org ID (repeatable) or --all-orgs")
    for org_id in args.orgs or ():
        try:
            segment(org_id, name="org_id")
        except InvalidArgument:
            raise UsageError("an --org value is not a valid Tallyfy id (value not shown)") from None


def _source(
    client: TallyfyClient, scope: str, status: str | None, state: ExportState, org_id: str
) -> AsyncIterable[Any]:
    source: AsyncPager[Any] | TaskUnion
    if scope == "mine":
        source = client.tasks.list_mine(org_id, status=status or "all")
    elif status:
        source = client.tasks.list(org_id, status=status)
    else:
        # Every task whatever the server's default view holds (see tasks.list_every).
        source = client.tasks.list_every(org_id)
    state.pagers[org_id] = source
    return source


def open_output(output: str | None) -> AtomicOutput | None:
    """The file to export into (``None`` for stdout), opened before any request is sent so
    that a bad path fails fast, as a usage error."""
    if not output or output == "-":
        return None
    try:
        return AtomicOutput(output)
    except OSError as exc:
        raise UsageError(f"cannot write {output!r}: {exc.strerror or exc}") from None


async def export_tasks(
    ctx: Context,
    client: TallyfyClient,
    org_ids: Sequence[str],
    *,
    scope: str,
    status: str | None,
    fmt: str,
    atomic: AtomicOutput | None,
    description: str = "exporting",
) -> ExportResult:
    """Stream every task of ``org_ids`` into ``atomic`` (``None``: stdout).

    The file is renamed into place only when every organization was read in full. If one
    failed (an HTTP error, a dropped connection, a list the server cut short: a
    ``PaginationError``), or the export stops early (interrupted, a write error), the
    temporary file is deleted and the target is left as it was: a file without one
    organization's tasks looks as complete as the real thing, so it is never written.
    Tasks already sent to stdout cannot be taken back; the exit code and stderr say so.
    """
    started = time.monotonic()
    state = ExportState(orgs_total=len(dict.fromkeys(org_ids)))
    out = atomic.file if atomic is not None else ctx.stdout
    with contextlib.ExitStack() as stack:
        if atomic is not None:
            stack.enter_context(atomic)  # discards the temporary file unless committed
        writer = make_writer(fmt, out)
        # Tasks printed to the same terminal would tear the live display: no display then.
        to_terminal = atomic is None and _isatty(ctx.stdout)
        progress = make_progress(
            ctx.stderr,
            state,
            client.stats,
            quiet=ctx.args.quiet or to_terminal,
            description=description,
        )
        if ctx.log_handler is not None:
            stack.enter_context(ctx.log_handler.routed(progress.log))
        stream = client.fan_out_stream(
            org_ids,
            lambda org_id: _source(client, scope, status, state, org_id),
            on_org_done=state.org_done,
        )
        async with progress:
            write_page = writer.write_page
            async for org_id, page in stream.pages():
                write_page(org_id, page)
                state.tasks += len(page)
        writer.finish()
        results = [stream.results[o] for o in stream.org_ids]
        complete = all(r.error is None for r in results)
        bytes_written = out.tell() if atomic is not None and complete else 0
        if atomic is not None and complete:
            atomic.commit()
    target = str(atomic.path) if atomic is not None else "stdout"
    return ExportResult(
        state,
        results,
        time.monotonic() - started,
        bytes_written,
        target,
        committed=atomic is not None and atomic.committed,
    )


def export_exit_code(ctx: Context, result: ExportResult) -> int:
    """Report each failed org on one line, then that the file was not written; 0 all ok,
    3 every org refused the token, else 1."""
    failed = result.failed
    for r in failed:
        assert r.error is not None
        after = f" after {r.count:,} tasks" if r.count else ""
        ctx.error(f"org {r.org_id} failed{after}: {describe(r.error)}")
    if not failed:
        return EXIT_OK
    if result.target != "stdout" and not result.committed:
        n = len(result.results)
        ctx.error(
            f"{result.target} not written: {len(failed)} of {n} organization"
            f"{'' if n == 1 else 's'} failed, so it would be missing their tasks; the previous "
            "file, if any, is unchanged"
        )
    if len(failed) == len(result.results) and all(
        isinstance(r.error, AuthenticationError) for r in failed
    ):
        return EXIT_AUTH
    return EXIT_FAILED


async def selected_org_ids(ctx: Context, client: TallyfyClient) -> list[str]:
    """``--org`` ids as given, or with ``--all-orgs`` every org of the token's user (a listing
    failure other than a refused token is ``CommandFailed``)."""
    if not ctx.args.all_orgs:
        return list(ctx.args.orgs)
    try:
        org_ids = await client.all_org_ids()
    except AuthenticationError:
        raise
    except TallyfyError as exc:
        raise CommandFailed(f"could not list your organizations: {describe(exc)}") from None
    if not org_ids:
        ctx.info("the token's user belongs to no organization")
    return org_ids


async def run_tasks(ctx: Context) -> int:
    args = ctx.args
    check_org_selection(args, "tasks")
    if args.scope == "mine" and args.status is not None and args.status not in MY_TASK_STATUSES:
        allowed = ", ".join(sorted(MY_TASK_STATUSES))
        raise UsageError(f"--status with --mine must be one of: {allowed}")
    client = build_client(args, ctx.environ)
    atomic = open_output(args.output)
    async with client, contextlib.AsyncExitStack() as stack:
        if atomic is not None:
            stack.enter_context(atomic)  # discarded if listing the orgs fails
        org_ids = await selected_org_ids(ctx, client)
        result = await export_tasks(
            ctx,
            client,
            org_ids,
            scope=args.scope,
            status=args.status,
            fmt=args.format,
            atomic=atomic,
        )
    code = export_exit_code(ctx, result)
    n_orgs, n_failed = len(result.results), len(result.failed)
    orgs = f"{n_orgs} organization{'' if n_orgs == 1 else 's'}"
    tasks = f"{result.state.tasks:,} tasks"
    if not n_failed:
        ctx.info(f"exported {tasks} from {orgs} to {result.target} in {result.elapsed:.1f} s")
    elif result.committed or result.target == "stdout":
        ctx.info(
            f"exported {tasks} from {orgs} to {result.target} in {result.elapsed:.1f} s "
            f"({n_failed} failed; their tasks are missing)"
        )
    else:
        ctx.info(f"read {tasks} from {orgs} in {result.elapsed:.1f} s ({n_failed} failed); "
                 "nothing exported")  # fmt: skip
    return code
