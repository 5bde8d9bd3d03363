"""Task writers (jsonl, csv) and the output file that only appears once it is complete.

jsonl: one line per task, the object exactly as the API returned it plus an ``organization_id``
key, serialized once with orjson.

csv: a header row, then one row per task with the stable column set ``CSV_COLUMNS``. Values
are written as: empty for null or a missing field, ``true``/``false`` for booleans, JSON for
nested values (``owners``, ``taskdata``). Fields outside ``CSV_COLUMNS`` are left out; use jsonl
to keep everything. A text cell that starts with ``= + - @``, a tab or a carriage return gets a
leading ``'``: spreadsheets run such cells as formulas (CSV injection), and anyone who can name a
task controls its title. Numbers, booleans and JSON cells are written unchanged.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final, Protocol

import orjson

__all__ = [
    "CSV_COLUMNS",
    "SYNC_EVERY",
    "AtomicOutput",
    "CsvWriter",
    "JsonlWriter",
    "TaskWriter",
    "make_writer",
]

CSV_COLUMNS: Final[tuple[str, ...]] = (
    "organization_id",
    "id",
    "increment_id",
    "title",
    "status",
    "status_label",
    "task_type",
    "is_oneoff_task",
    "run_id",
    "checklist_id",
    "step_id",
    "owners",
    "position",
    "started_at",
    "deadline",
    "created_at",
    "last_updated",
    "completed_at",
    "archived_at",
    "starter_id",
    "completer_id",
    "is_approved",
    "problem",
    "taskdata",
)
"""The csv columns, in order. Stable: new columns are only ever appended."""


class TaskWriter(Protocol):
    def write_page(self, org_id: str, tasks: Sequence[dict[str, Any]]) -> None:
        """Write a page of tasks with one ``write`` to the stream: per task it was the
        export's largest single cost (400,000 ``BufferedWriter.write`` calls in a profile)."""
        ...

    def finish(self) -> None:
        """Flush everything to the underlying binary stream (which stays open)."""
        ...


_LINE: Final = orjson.OPT_APPEND_NEWLINE


class JsonlWriter:
    __slots__ = ("_out",)

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write_page(self, org_id: str, tasks: Sequence[dict[str, Any]]) -> None:
        for task in tasks:
            task["organization_id"] = org_id
        # A comprehension calling orjson directly: a helper function mapped over the page
        # costs a Python frame per task (~7% of this method at 100 tasks a page).
        dumps = orjson.dumps
        self._out.write(b"".join([dumps(task, option=_LINE) for task in tasks]))

    def finish(self) -> None:
        self._out.flush()


_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _text_cell(value)
    if isinstance(value, (int, float)):
        return str(value)
    return orjson.dumps(value).decode()


class CsvWriter:
    """Rows are built a page at a time in a text buffer, then written to the binary stream
    with one ``write``."""

    __slots__ = ("_buffer", "_out", "_writer")

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        # newline="" as the csv module requires; rows end in \r\n (RFC 4180).
        self._buffer = io.StringIO(newline="")
        self._writer = csv.writer(self._buffer)
        self._writer.writerow(CSV_COLUMNS)
        self._drain()

    def write_page(self, org_id: str, tasks: Sequence[dict[str, Any]]) -> None:
        org = _text_cell(org_id)
        self._writer.writerows(
            [org, *(_cell(task.get(name)) for name in _CSV_FIELDS)] for task in tasks
        )
        self._drain()

    def _drain(self) -> None:
        buffer = self._buffer
        self._out.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()

    def finish(self) -> None:
        self._out.flush()


_CSV_FIELDS: Final = CSV_COLUMNS[1:]


def make_writer(fmt: str, out: BinaryIO) -> TaskWriter:
    if fmt == "csv":
        return CsvWriter(out)
    return JsonlWriter(out)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The existing file's permission bits (a private 0600 export stays private), else what
    ``open()`` would give a new file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


SYNC_EVERY: Final = 32 << 20
"""Bytes written between two background syncs of an export file (``AtomicOutput``)."""

_data_sync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class _BackgroundSync:
    """Writes the file's data to disk in a thread while the export goes on, every
    ``SYNC_EVERY`` bytes, so that the ``fsync`` before the rename finds little left to do.

    The export produces hundreds of MB faster than the disk takes them, and the kernel starts
    writing dirty pages back on its own only past a share of RAM (10% by default): without
    this, all of it waited for the final ``fsync``, after the last page (measured: ~1 s of
    wall time for 463 MB). ``fdatasync`` releases the GIL, so the thread costs the event
    loop nothing. This only moves work earlier; the final ``fsync`` stays the guarantee.

    A failed sync is kept and raised by ``stop(raise_error=True)``: after a write-back error
    Linux may mark the pages clean, so a later ``fsync`` can succeed on data that was lost.
    """

    __slots__ = ("_error", "_fd", "_stopping", "_thread", "_wake")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._wake = threading.Event()
        self._stopping = False
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None  # started by the first request

    def request(self) -> None:
        """Sync what has been written so far, soon (never blocks the caller)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="aiotallyfy-export-sync", daemon=True
            )
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                _data_sync(self._fd)
            except OSError as exc:
                self._error = exc
                return

    def stop(self, *, raise_error: bool) -> None:
        """Wait for a sync under way (the file descriptor must outlive it); then raise the
        error a sync met, if asked."""
        self._stopping = True
        if self._thread is not None:
            self._wake.set()
            self._thread.join()
            self._thread = None
        if raise_error and self._error is not None:
            raise self._error


class _SyncingFileIO(io.FileIO):
    """The temporary file's raw layer: counts what reaches the kernel (one call per buffer
    flush, not per page) and asks for a background sync every ``sync_every`` bytes."""

    def __init__(self, fd: int, syncer: _BackgroundSync, sync_every: int) -> None:
        super().__init__(fd, "wb")
        self._syncer = syncer
        self._sync_every = sync_every
        self._unsynced = 0

    def write(self, data: Any, /) -> int:
        n = super().write(data)
        if n:
            self._unsynced += n
            if self._unsynced >= self._sync_every:
                self._unsynced = 0
                self._syncer.request()
        return n


def _sync_directory(directory: Path) -> None:
    """``fsync`` a directory, so that a rename in it survives a crash. A filesystem or
    platform that cannot sync a directory (EINVAL, no ``O_DIRECTORY``) is let be; a real
    I/O error is raised."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:
        return
    fd = os.open(directory, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


class AtomicOutput:
    """A file written under a hidden temporary name in the target's directory and renamed
    onto the target only by ``commit()``. ``discard()`` (or leaving the ``with`` block
    without committing) deletes the temporary file; the target is then untouched.

    The rename is atomic on one filesystem, so a reader sees either the old file, nothing,
    or the complete new file. A process killed outright (SIGKILL) leaves only the hidden
    ``.NAME.*.part`` file, never a complete-looking ``NAME``. ``commit()`` makes it durable:
    the file is ``fsync``ed before the rename and the directory after it, so a crash never
    leaves a renamed but empty or partial file. Data is synced in the background while it
    is written (``_BackgroundSync``, every ``sync_every`` bytes, default ``SYNC_EVERY``) so
    the final ``fsync`` is short.

    Like writing the file in place would: an existing file keeps its permission bits (set on
    the temporary file before anything is written), and a ``path`` that is a symlink is
    written through, to the file it points at (renamed next to that file, so the link stays).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        buffer_size: int = 1 << 20,
        sync_every: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.real_path = Path(os.path.realpath(path))  # through any symlink: the file replaced
        directory = self.real_path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.real_path.name}.", suffix=".part", dir=directory)
        self.temp_path = Path(tmp)
        self._syncer = _BackgroundSync(fd)
        try:
            os.fchmod(fd, _mode_for(self.real_path))
            raw = _SyncingFileIO(fd, self._syncer, sync_every or SYNC_EVERY)
        except BaseException:
            os.close(fd)
            self.temp_path.unlink(missing_ok=True)
            raise
        self.file: BinaryIO = io.BufferedWriter(raw, buffer_size)
        self.committed = False
        self._closed = False

    def commit(self) -> None:
        """Flush, ``fsync``, rename onto the target, ``fsync`` the directory. Raises (and
        renames nothing) when a background sync failed."""
        self.file.flush()
        self._syncer.stop(raise_error=True)
        os.fsync(self.file.fileno())
        self.file.close()
        self._closed = True
        os.replace(self.temp_path, self.real_path)
        self.committed = True
        _sync_directory(self.real_path.parent)

    def discard(self) -> None:
        if self.committed:
            return
        self._syncer.stop(raise_error=False)
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self.file.close()
        self.temp_path.unlink(missing_ok=True)

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
