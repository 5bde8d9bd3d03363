"""The live progress display of an export, on stderr, only when a person is watching.

``make_progress`` returns a rich display when stderr is a terminal, ``-q`` is off and rich is
installed (the ``cli`` extra), and a silent ``NullProgress`` otherwise: piped or redirected
stderr gets no progress noise. rich is imported here, lazily, and never by the library.

The display reads counters instead of being told about every task: the exporter bumps
``ExportState.tasks`` (an int) and an asyncio task redraws ten times a second, so the hot
path costs nothing extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from .._fanout import OrgResult

__all__ = ["ExportState", "NullProgress", "ProgressDisplay", "RequestCounters", "make_progress"]


class RequestCounters(Protocol):
    """What the display reads of a client's ``ClientStats``."""

    @property
    def requests(self) -> int: ...

    @property
    def rate_limited(self) -> int: ...

    @property
    def retries(self) -> int: ...


class _HasTotal(Protocol):
    @property
    def total(self) -> int | None: ...


@dataclass(slots=True)
class ExportState:
    """What an export has done so far; shared by the exporter and the display."""

    orgs_total: int = 0
    tasks: int = 0
    done: dict[str, OrgResult[Any]] = field(default_factory=dict)
    pagers: dict[str, _HasTotal] = field(default_factory=dict)

    @property
    def orgs_done(self) -> int:
        return len(self.done)

    @property
    def orgs_failed(self) -> int:
        return sum(1 for r in self.done.values() if r.error is not None)

    def org_done(self, result: OrgResult[Any]) -> None:
        self.done[result.org_id] = result

    def estimated_total(self) -> int | None:
        """Tasks expected in all: finished orgs' counts, the totals the servers reported for
        running orgs, and their average for orgs not started yet."""
        known = [result.count for result in self.done.values()]
        known += [
            total
            for org_id, pager in self.pagers.items()
            if org_id not in self.done and (total := pager.total) is not None
        ]
        if not known:
            return None
        unknown = max(0, self.orgs_total - len(known))
        return sum(known) + round(unknown * (sum(known) / len(known)))


class ProgressDisplay(Protocol):
    async def __aenter__(self) -> ProgressDisplay: ...

    async def __aexit__(self, *exc: object) -> None: ...

    def log(self, line: str) -> None:
        """Print a line on stderr without breaking the display."""
        ...


class NullProgress:
    """No display: lines go straight to stderr."""

    def __init__(self, stderr: TextIO) -> None:
        self._stderr = stderr

    async def __aenter__(self) -> NullProgress:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def log(self, line: str) -> None:
        self._stderr.write(line + "\n")
        self._stderr.flush()


class _RichProgress:
    """orgs done/total, tasks, requests/s, 429s, retries, elapsed and ETA, redrawn at 10 Hz."""

    def __init__(
        self,
        stderr: TextIO,
        state: ExportState,
        stats: RequestCounters,
        description: str,
        rich: Any,
        unit: str = "tasks",
    ) -> None:
        console_mod, progress_mod = rich
        self._state = state
        self._stats = stats
        # (time, requests sent, tasks written), one per redraw: ~5 s at 10 Hz.
        self._samples: deque[tuple[float, int, int]] = deque(maxlen=50)
        self._ticker: asyncio.Task[None] | None = None
        self._console = console_mod.Console(file=stderr, force_terminal=True, highlight=False)
        p = progress_mod
        self._progress = p.Progress(
            p.SpinnerColumn(),
            p.TextColumn("[bold]{task.description}"),
            p.BarColumn(bar_width=24),
            p.TextColumn("orgs {task.fields[orgs]}"),
            p.TextColumn("{task.fields[tasks]} " + unit),
            p.TextColumn("{task.fields[rps]} req/s"),
            p.TextColumn("429s {task.fields[r429]}"),
            p.TextColumn("retries {task.fields[retries]}"),
            p.TimeElapsedColumn(),
            p.TextColumn("ETA {task.fields[eta]}"),
            console=self._console,
            auto_refresh=False,
            transient=False,
        )
        self._task_id = self._progress.add_task(description, total=None, **self._fields(None))

    def _fields(self, total: int | None) -> dict[str, Any]:
        s, st = self._state, self._stats
        now = time.monotonic()
        self._samples.append((now, st.requests, s.tasks))
        t0, requests0, tasks0 = self._samples[0]
        span = now - t0
        request_rate = (st.requests - requests0) / span if span > 0.05 else 0.0
        task_rate = (s.tasks - tasks0) / span if span > 0.05 else 0.0
        failed = f" ({s.orgs_failed} failed)" if s.orgs_failed else ""
        return {
            "orgs": f"{s.orgs_done}/{s.orgs_total}{failed}",
            "tasks": f"{s.tasks:,}",
            "rps": f"{request_rate:.1f}",
            "r429": st.rate_limited,
            "retries": st.retries,
            "eta": _eta(total, s.tasks, task_rate, done=s.orgs_done >= s.orgs_total),
        }

    def _draw(self) -> None:
        # rich's own ETA column restarts its estimate whenever the total changes, and ours
        # is re-estimated on every redraw, so the ETA is computed here from our samples.
        total = self._state.estimated_total()
        if total is not None:
            total = max(total, self._state.tasks)
        fields = self._fields(total)
        self._progress.update(self._task_id, completed=self._state.tasks, total=total, **fields)
        self._progress.refresh()

    async def _tick(self) -> None:
        while True:
            self._draw()
            await asyncio.sleep(0.1)

    async def __aenter__(self) -> _RichProgress:
        self._progress.start()
        self._ticker = asyncio.create_task(self._tick(), name="aiotallyfy-progress")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        with contextlib.suppress(Exception):
            self._draw()
        self._progress.stop()

    def log(self, line: str) -> None:
        self._console.print(line, markup=False, highlight=False, soft_wrap=True)


def _eta(total: int | None, tasks: int, rate: float, *, done: bool) -> str:
    if done:
        return "0:00"
    if total is None or rate <= 0:
        return "-:--"
    seconds = int(max(0, total - tasks) / rate + 0.5)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _import_rich() -> tuple[Any, Any] | None:
    try:
        import rich.console
        import rich.progress
    except ImportError:
        return None
    return rich.console, rich.progress


def make_progress(
    stderr: TextIO,
    state: ExportState,
    stats: RequestCounters,
    *,
    quiet: bool,
    description: str = "exporting",
    is_terminal: Callable[[], bool] | None = None,
    unit: str = "tasks",
) -> ProgressDisplay:
    """A live display on a terminal, otherwise (or with ``quiet``, or without rich) none."""
    tty = is_terminal() if is_terminal is not None else _isatty(stderr)
    if quiet or not tty:
        return NullProgress(stderr)
    rich = _import_rich()
    if rich is None:
        return NullProgress(stderr)
    return _RichProgress(stderr, state, stats, description, rich, unit)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
