"""What one load did, per resource and organization: the read results the deletion marking
trusts, the rows read, and a stop switch.

The extraction runs in dlt's own event-loop thread, so the report is written from there and
read by whoever started the load. ``on_read_done`` lets a caller hand each finished read to
its own loop (the CLI does, with ``call_soon_threadsafe``).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .._fanout import OrgResult

__all__ = ["LoadInterrupted", "LoadReport", "new_run_id"]


def new_run_id(now: datetime | None = None) -> str:
    """A load id: its UTC start time (readable, sorts by time) and a random suffix (unique
    even for two loads started in the same microsecond)."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


class LoadInterrupted(Exception):
    """The load was asked to stop (``LoadReport.stop()``); nothing is marked deleted."""


@dataclass(slots=True)
class LoadReport:
    """Filled by a ``tallyfy_source`` while dlt extracts it."""

    run_id: str = field(default_factory=new_run_id)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    results: dict[str, dict[str, OrgResult[Any]]] = field(default_factory=dict)
    rows: Counter[str] = field(default_factory=Counter)
    org_ids: list[str] | None = None
    """The organizations read (known once the first resource started)."""
    on_read_done: Callable[[str, OrgResult[Any]], None] | None = None
    on_rows: Callable[[int], None] | None = None
    """Called with each page's row count, on dlt's thread (for a progress display)."""
    _stop: threading.Event = field(default_factory=threading.Event)

    def read_done(self, resource: str, result: OrgResult[Any]) -> None:
        self.results.setdefault(resource, {})[result.org_id] = result
        if self.on_read_done is not None:
            self.on_read_done(resource, result)

    def completed_orgs(self, resource: str) -> list[str]:
        """The orgs whose read of ``resource`` went to its last page without an error: the
        only ones whose missing rows may be marked deleted."""
        return [o for o, r in self.results.get(resource, {}).items() if r.error is None]

    @property
    def failed(self) -> list[tuple[str, OrgResult[Any]]]:
        return [
            (resource, r)
            for resource, per_org in self.results.items()
            for r in per_org.values()
            if r.error is not None
        ]

    def stop(self) -> None:
        """Ask the extraction to stop at its next page (thread-safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()
