"""``aiotallyfy demo load``: the fake's organizations loaded into a DuckDB file through the
same code as ``aiotallyfy load``, then one SQL query over the result (tasks by status per
organization), and a check that every task arrived exactly once.

The fake enforces Tallyfy's 600 requests/minute and injects a few faults, as in ``demo``.
It reads tasks, processes, blueprints, members, guests, groups, tags and folders (not
my_tasks and comments, which walk the tasks again): about 110 task pages and 175 other
requests for 25 organizations, some 25 s at the documented limit.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from typing import Any

from .._auth import StaticToken
from ._build import build_client
from ._context import Context
from ._errors import EXIT_FAILED, EXIT_OK

__all__ = ["DEMO_RESOURCES", "run_demo_load", "status_table"]

DEMO_RESOURCES = (
    "tasks", "processes", "blueprints", "members", "guests", "groups", "tags", "folders",
)  # fmt: skip
STATUS_QUERY = (
    "SELECT organization_id, status, COUNT(*) FROM tallyfy_data.tasks "
    "WHERE _tallyfy_deleted_at IS NULL GROUP BY organization_id, status"
)


def status_table(rows: list[tuple[Any, ...]], names: dict[str, str]) -> list[str]:
    """``(org_id, status, count)`` rows as a text table: an org per line, a status per
    column, organizations in name order."""
    by_org: dict[str, dict[str, int]] = defaultdict(dict)
    for org_id, status, n in rows:
        by_org[str(org_id)][str(status)] = int(n)
    statuses = sorted({s for per in by_org.values() for s in per})
    orgs = sorted(by_org, key=lambda o: (names.get(o, o), o))
    label_width = max([len("organization"), *(len(names.get(o, o)[:28]) for o in orgs)])
    widths = [max(len(s), 6) for s in statuses]
    head = f"{'organization':<{label_width}}  " + "  ".join(
        f"{s:>{w}}" for s, w in zip(statuses, widths, strict=True)
    )
    lines = [head, "-" * len(head)]
    for org in orgs:
        cells = "  ".join(
            f"{by_org[org].get(s, 0):>{w},}" for s, w in zip(statuses, widths, strict=True)
        )
        lines.append(f"{names.get(org, org)[:28]:<{label_width}}  {cells}")
    return lines


def _pipeline(dlt: Any, output: str | None, tmp: str) -> tuple[str, Any]:
    """The DuckDB file (``-o`` or a temporary one) and a pipeline whose working files stay in
    the temporary directory."""
    from ._load_cmd import duckdb_credentials

    path = os.path.abspath(output or os.path.join(tmp, "tallyfy.duckdb"))
    pipeline = dlt.pipeline(
        pipeline_name="aiotallyfy_demo",
        pipelines_dir=os.path.join(tmp, "pipelines"),
        destination=dlt.destinations.duckdb(duckdb_credentials(path)),
        dataset_name="tallyfy_data",
    )
    return path, pipeline


async def run_demo_load(ctx: Context) -> int:
    from ..testing import FakeData, FakeTallyfy, FaultPlan
    from ._demo import DEMO_JITTER, DEMO_RATE_LIMIT, demo_task_counts
    from ._load_cmd import _import_load, run_load_with

    args = ctx.args
    dlt, _ = _import_load()
    data = FakeData(
        orgs=args.orgs, tasks_per_org=demo_task_counts(args.orgs, args.tasks_per_org),
        seed=args.seed,
    )  # fmt: skip
    expected = {}
    for org_id in data.org_ids:
        state = data.org_state(org_id)
        expected[org_id] = state.task_count if state is not None else 0
    names = {str(org["id"]): str(org.get("name") or org["id"]) for org in data.organizations()}
    faults = FaultPlan(
        seed=args.seed,
        latency_jitter=DEMO_JITTER,
        html_503=args.fault_rate * 2 / 3,
        reset=args.fault_rate / 3,
    )
    fake = FakeTallyfy(
        data=data, rate_limit=DEMO_RATE_LIMIT, latency=args.latency_ms / 1000, faults=faults
    )
    with tempfile.TemporaryDirectory(prefix="aiotallyfy-demo-") as tmp:
        path, pipeline = _pipeline(dlt, args.output, tmp)
        async with fake:

            def factory() -> Any:
                return build_client(
                    args, ctx.environ, auth=StaticToken(fake.token), base_url=fake.base_url
                )

            code = await run_load_with(
                ctx,
                pipeline,
                factory,
                data.org_ids,
                DEMO_RESOURCES,
                f"DuckDB {path if args.output else '(a temporary file)'}",
                description="demo load",
            )
        with pipeline.sql_client() as sql:
            rows = sql.execute_sql(STATUS_QUERY)
            dupes = sql.execute_sql(
                "SELECT COUNT(*) FROM (SELECT organization_id, id FROM tasks "
                "GROUP BY organization_id, id HAVING COUNT(*) > 1)"
            )[0][0]
    loaded: dict[str, int] = defaultdict(int)
    for org_id, _status, n in rows:
        loaded[str(org_id)] += int(n)
    exact = dupes == 0 and dict(loaded) == {k: v for k, v in expected.items() if v}
    total = sum(expected.values())
    lines = [
        f"aiotallyfy demo load: {args.orgs} organizations from a local fake Tallyfy into "
        + (path if args.output else "a temporary DuckDB file (pass -o FILE to keep it)"),
        f"  tasks       {sum(loaded.values()):,} rows, {total:,} on the server, {dupes} "
        f"duplicated: {'exact' if exact else 'NOT EXACT'}",
        "",
        f"  {STATUS_QUERY}",
        "",
        *("  " + line for line in status_table(rows, names)),
    ]
    ctx.emit(("\n".join(lines) + "\n").encode())
    ctx.stdout.flush()
    if code == EXIT_OK and not exact:
        return EXIT_FAILED
    return code
