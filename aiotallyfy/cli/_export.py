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
import io
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final, Protocol

import orjson

__all__ = ["CSV_COLUMNS", "AtomicOutput", "CsvWriter", "JsonlWriter", "TaskWriter", "make_writer"]

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


class JsonlWriter:
    __slots__ = ("_out",)

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write_page(self, org_id: str, tasks: Sequence[dict[str, Any]]) -> None:
        for task in tasks:
            task["organization_id"] = org_id
        self._out.write(b"".join(map(_jsonl_line, tasks)))

    def finish(self) -> None:
        self._out.flush()


def _jsonl_line(task: dict[str, Any]) -> bytes:
    return orjson.dumps(task, option=orjson.OPT_APPEND_NEWLINE)


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


class AtomicOutput:
    """A file written under a hidden temporary name in the target's directory and renamed
    onto the target only by ``commit()``. ``discard()`` (or leaving the ``with`` block
    without committing) deletes the temporary file; the target is then untouched.

    The rename is atomic on one filesystem, so a reader sees either the old file, nothing,
    or the complete new file. A process killed outright (SIGKILL) leaves only the hidden
    ``.NAME.*.part`` file, never a complete-looking ``NAME``.

    Like writing the file in place would: an existing file keeps its permission bits (set on
    the temporary file before anything is written), and a ``path`` that is a symlink is
    written through, to the file it points at (renamed next to that file, so the link stays).
    """

    def __init__(self, path: str | os.PathLike[str], *, buffer_size: int = 1 << 20) -> None:
        self.path = Path(path)
        self.real_path = Path(os.path.realpath(path))  # through any symlink: the file replaced
        directory = self.real_path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.real_path.name}.", suffix=".part", dir=directory)
        self.temp_path = Path(tmp)
        try:
            os.fchmod(fd, _mode_for(self.real_path))
            self.file: BinaryIO = os.fdopen(fd, "wb", buffering=buffer_size)
        except BaseException:
            os.close(fd)
            self.temp_path.unlink(missing_ok=True)
            raise
        self.committed = False
        self._closed = False

    def commit(self) -> None:
        """Flush, sync and rename onto the target."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        self._closed = True
        os.replace(self.temp_path, self.real_path)
        self.committed = True

    def discard(self) -> None:
        if self.committed:
            return
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self.file.close()
        self.temp_path.unlink(missing_ok=True)

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
