"""Argument checks for programming errors (a zero timeout, a negative concurrency): they raise
``ValueError`` at the call that received the bad value, with its name, instead of letting a
library underneath read ``0`` as "no limit" or fail later somewhere else."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["positive_int", "positive_seconds"]


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is an ``int`` >= 1 (``bool`` is refused: ``True`` is a typo, not 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def positive_seconds(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    """``value`` if it is a finite number of seconds > 0; ``None`` only when allowed (it then
    means "no limit", which must be asked for explicitly, never reached through ``0``)."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)
