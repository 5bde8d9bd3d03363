"""``-v``: the library's request log (logger ``aiotallyfy`` at DEBUG) on stderr.

The library logs method, path, status, attempt and wait, and never headers, the query string
or the token. The handler writes through a swappable sink so that, while the live progress
display runs, log lines are printed above it instead of tearing it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TextIO

__all__ = ["request_log"]

LOGGER_NAME = "aiotallyfy"


class SinkHandler(logging.Handler):
    def __init__(self, stderr: TextIO) -> None:
        super().__init__(logging.DEBUG)
        self._stderr = stderr
        self.sink: Callable[[str], None] = self._write
        self.setFormatter(logging.Formatter("aiotallyfy: %(message)s"))

    def _write(self, line: str) -> None:
        self._stderr.write(line + "\n")
        self._stderr.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink(self.format(record))
        except Exception:
            self.handleError(record)

    @contextlib.contextmanager
    def routed(self, sink: Callable[[str], None]) -> Iterator[None]:
        previous, self.sink = self.sink, sink
        try:
            yield
        finally:
            self.sink = previous


@contextlib.contextmanager
def request_log(stderr: TextIO, *, enabled: bool) -> Iterator[SinkHandler | None]:
    """Attach the handler for the duration of one command; restore the logger after."""
    if not enabled:
        yield None
        return
    logger = logging.getLogger(LOGGER_NAME)
    handler = SinkHandler(stderr)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
