"""``tallyfy_source``: a dlt source whose resources are read through ``TallyfyClient``.

Every resource is an async generator that dlt evaluates on its own event loop (one loop, in a
thread, for the whole extraction). The client is made there, by the caller's factory, on the
first resource that starts, shared by every resource of the source (one session, one rate
limiter, one retry budget) and closed when the last running resource ends. Each resource
walks its list in every organization with ``fan_out_stream`` and hands dlt whole PAGES of
rows, never single items, a few pages to an Arrow table (``_arrow``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import dlt
from dlt.common.schema.typing import TDeleteInsertStrategyDict
from dlt.extract.source import DltSource

from .._client import TallyfyClient
from .._fanout import FanOutStream, OrgResult
from .._secrets import Secret
from ._arrow import to_arrow
from ._dedup import FirstSeen
from ._report import LoadInterrupted, LoadReport
from ._resources import DELETED_COLUMN, RUN_COLUMN, ResourceSpec, resource_specs

__all__ = ["ClientFactory", "tallyfy_source"]

ClientFactory = Callable[[], TallyfyClient]

PRIMARY_KEY = ("organization_id", "id")
MERGE: TDeleteInsertStrategyDict = {
    "disposition": "merge",
    "strategy": "delete-insert",
    "deduplicated": True,
}
"""Merged on ``PRIMARY_KEY``; the staged rows are de-duplicated by the source (``_dedup``),
so the merge copies them as they are (no window function over the staged rows)."""
_COLUMNS: dict[str, Any] = {
    "organization_id": {"data_type": "text", "nullable": False},
    RUN_COLUMN: {"data_type": "text", "nullable": False},
    DELETED_COLUMN: {"data_type": "timestamp", "nullable": True, "timezone": True},
}


def pages(stream: FanOutStream[Any]) -> AsyncIterator[tuple[str, Sequence[Any]]]:
    """``(org_id, items)`` per page of a fan-out stream: the one place that knows how the
    client hands out pages. ``FanOutStream.pages()`` moves each org's ``Page`` (issue #11)
    between tasks undecoded and hands over its items, decoded in this task, once per page."""
    return stream.pages()


class _SharedClient:
    """One client for all the resources of a source, made and closed on dlt's loop."""

    def __init__(self, factory: ClientFactory, org_ids: Sequence[str] | None) -> None:
        self._factory = factory
        self._client: TallyfyClient | None = None
        self._users = 0
        self._org_ids = list(dict.fromkeys(org_ids)) if org_ids is not None else None
        self._org_lock: asyncio.Lock | None = None

    def acquire(self) -> TallyfyClient:
        if self._client is None:
            self._client = self._factory()
        self._users += 1
        return self._client

    async def release(self) -> None:
        self._users -= 1
        if self._users == 0 and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def org_ids(self, client: TallyfyClient) -> list[str]:
        """The orgs given, or every org of the token's user, listed once per source."""
        if self._org_lock is None:
            self._org_lock = asyncio.Lock()
        async with self._org_lock:
            if self._org_ids is None:
                self._org_ids = await client.all_org_ids()
        return self._org_ids


def _factory_of(client: ClientFactory | str | Secret) -> ClientFactory:
    if isinstance(client, (str, Secret)):
        token = client
        return lambda: TallyfyClient(token)
    return client


def tallyfy_source(
    client: ClientFactory | str | Secret,
    *,
    org_ids: Sequence[str] | None = None,
    resources: Sequence[str] | None = None,
    report: LoadReport | None = None,
    batch_rows: int = 1000,
) -> DltSource:
    """A dlt source over Tallyfy: one resource (and table) per list in ``RESOURCES``.

    ``client``: a token, or a function that makes the ``TallyfyClient`` (OAuth, limits,
    base URL: ``lambda: TallyfyClient(provider, ...)``). It is called on dlt's extraction
    loop, because a client belongs to the loop it first runs on.
    ``org_ids``: the organizations to read (default: every org of the token's user).
    ``resources``: names to read (default: all). ``report`` collects, per resource and org,
    whether the read completed: pass it to ``mark_vanished`` after ``pipeline.run`` (or
    use ``load_tallyfy``, which does both).

    Every row carries ``organization_id`` and ``_tallyfy_run_id`` (this load); tables are
    merged on ``(organization_id, id)``, each key handed to dlt once per load (``_dedup``);
    nested values (owners, taskdata, ...) are JSON text columns, never child tables; dates
    are the API's ISO-8601 strings, as sent (``CAST(created_at AS TIMESTAMP)`` in SQL).
    Pages go to dlt as Arrow tables of about ``batch_rows`` rows (whole pages; ``_arrow``):
    a batch's rows wait as Python objects (~5 KB a task) until it is turned, so 1,000 rows
    (ten pages): 5,000 peaked ~6 MiB higher for the same CPU time (100,000 tasks).
    """
    specs = resource_specs(resources)
    shared = _SharedClient(_factory_of(client), org_ids)
    rep = report if report is not None else LoadReport()

    def make(spec: ResourceSpec) -> Any:
        async def read() -> AsyncIterator[Any]:  # Arrow tables
            client = shared.acquire()
            try:
                orgs = await shared.org_ids(client)
                if rep.org_ids is None:
                    rep.org_ids = list(orgs)
                first_seen = FirstSeen()

                def org_done(result: OrgResult[Any]) -> None:
                    first_seen.org_done(result.org_id)
                    rep.read_done(spec.name, result)

                stream = client.fan_out_stream(
                    orgs, lambda org_id: spec.list(client, org_id), on_org_done=org_done
                )
                run_id, to_rows, counts = rep.run_id, spec.rows, rep.rows
                batch: list[dict[str, Any]] = []
                async for org_id, items in pages(stream):
                    if rep.stopping:
                        raise LoadInterrupted("the load was stopped")
                    rows = first_seen.rows(org_id, to_rows(org_id, items, run_id))
                    counts[spec.name] += len(rows)
                    if rep.on_rows is not None:
                        rep.on_rows(len(rows))
                    batch += rows
                    if len(batch) >= batch_rows:
                        yield to_arrow(batch)
                        batch = []
                if batch:
                    yield to_arrow(batch)
            finally:
                await shared.release()

        return dlt.resource(
            read,
            name=spec.name,
            table_name=spec.name,
            primary_key=PRIMARY_KEY,
            write_disposition=MERGE,
            columns=_COLUMNS,
        )

    @dlt.source(name="tallyfy", max_table_nesting=0)
    def tallyfy() -> list[Any]:
        return [make(spec) for spec in specs]

    source: DltSource = tallyfy()
    return source
