"""What every command gets: parsed options, environment and the output streams."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from ._logging import SinkHandler

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """``stdout`` is binary (exports are bytes, encoded once); ``stderr`` is text."""

    args: argparse.Namespace
    environ: Mapping[str, str]
    stdout: BinaryIO
    stderr: TextIO
    log_handler: SinkHandler | None = None

    def error(self, message: str) -> None:
        """One line on stderr, whatever ``-q`` says: errors are never noise."""
        self.stderr.write(f"aiotallyfy: {message}\n")
        self.stderr.flush()

    def info(self, message: str) -> None:
        """One line on stderr, unless ``-q``."""
        if not self.args.quiet:
            self.stderr.write(f"aiotallyfy: {message}\n")
            self.stderr.flush()

    def emit(self, line: bytes) -> None:
        self.stdout.write(line)
