"""Fault plans for :class:`~aiotallyfy.testing.FakeTallyfy`.

A :class:`FaultPlan` decides, for every request that passed authentication and the
rate limiter, whether the fake misbehaves.  Two mechanisms exist:

* **probabilistic faults**: one seeded :class:`random.Random` draw per request picks at most
  one fault according to the configured probabilities.  With the same seed and the same
  request order the same requests fail, so test runs are reproducible;
* **scripted faults** (:meth:`FaultPlan.inject`): the next matching request(s) fail with the
  given fault.  Scripted faults take precedence over probabilistic ones.

Fault names (:data:`FAULT_NAMES`):

``"html_503"``
    503 with an HTML body and ``text/html`` content type (a proxy/load-balancer page).
    The request is *not* applied.
``"server_500"``
    500 with the JSON body ``{"error": true, "message": "Server Error"}``. Not applied.
``"reset"``
    The connection is aborted before any byte of the response is written. Not applied.
``"reset_after_apply"``
    The request is applied (e.g. the task is completed) and *then* the connection is
    aborted without a response: "the connection died after sending".
``"hang"``
    The server does not answer for ``hang_seconds`` (default 60 s), then handles the request
    normally (it is applied only after the hang, and only if the client is still there).
``"malformed_json"``
    The request is applied and the real response is sent with its status and
    ``application/json`` content type, but the body is truncated to half its length.
``"429"``
    A 429 ``RATE_LIMIT_EXCEEDED`` response with ``Retry-After: retry_after``.  Not applied,
    and not counted as an admitted request by the rate-limit bookkeeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

__all__ = ["FAULT_NAMES", "FaultDecision", "FaultPlan", "ScriptedFault"]

FAULT_NAMES: Final[frozenset[str]] = frozenset(
    {"html_503", "server_500", "reset", "reset_after_apply", "hang", "malformed_json", "429"}
)

# Order in which probabilistic faults are stacked on the [0, 1) interval.
_PROBABILISTIC_ORDER: Final[tuple[str, ...]] = (
    "html_503",
    "server_500",
    "reset",
    "reset_after_apply",
    "hang",
    "malformed_json",
)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What the plan decided for one request."""

    fault: str | None
    """The fault name, or ``None`` for a normal answer."""
    jitter: float = 0.0
    """Extra latency in seconds (added to the server's base latency)."""
    retry_after: int = 1
    """``Retry-After`` seconds for the ``"429"`` fault."""
    hang_seconds: float = 60.0
    """How long a ``"hang"`` lasts before the request is handled normally."""


@dataclass(slots=True)
class ScriptedFault:
    """One pending :meth:`FaultPlan.inject` entry."""

    fault: str
    method: str | None
    path_contains: str | None
    remaining: int
    retry_after: int = 1
    hang_seconds: float | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path


@dataclass
class FaultPlan:
    """Seeded, deterministic fault injection plan.

    Probabilities are per request (each in ``[0, 1]``, their sum at most 1).  ``latency_jitter``
    adds a uniform random delay in ``[0, latency_jitter]`` seconds to every admitted request.
    ``methods`` / ``path_contains`` restrict the *probabilistic* faults (and jitter) to matching
    requests; scripted faults carry their own filters.
    """

    seed: int = 0
    html_503: float = 0.0
    server_500: float = 0.0
    reset: float = 0.0
    reset_after_apply: float = 0.0
    hang: float = 0.0
    malformed_json: float = 0.0
    latency_jitter: float = 0.0
    hang_seconds: float = 60.0
    retry_after: int = 1
    methods: frozenset[str] | None = None
    path_contains: str | None = None
    scripted: list[ScriptedFault] = field(default_factory=list)
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = 0.0
        for name in _PROBABILISTIC_ORDER:
            p = float(getattr(self, name))
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"probability {name}={p!r} must be within [0, 1]")
            total += p
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total}, more than 1")
        if self.latency_jitter < 0 or self.hang_seconds < 0:
            raise ValueError("latency_jitter and hang_seconds must be >= 0")
        if self.methods is not None:
            self.methods = frozenset(m.upper() for m in self.methods)
        self._rng = random.Random(f"aiotallyfy-faults:{self.seed}")

    def inject(
        self,
        fault: str,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        times: int = 1,
        retry_after: int = 1,
        hang_seconds: float | None = None,
    ) -> None:
        """Make the next ``times`` matching requests fail with ``fault``."""
        if fault not in FAULT_NAMES:
            raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(FAULT_NAMES)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        if retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        self.scripted.append(
            ScriptedFault(fault, method, path_contains, times, retry_after, hang_seconds)
        )

    def clear_scripted(self) -> None:
        """Forget all pending scripted faults."""
        self.scripted.clear()

    @property
    def pending(self) -> int:
        """Number of scripted fault applications still pending."""
        return sum(s.remaining for s in self.scripted)

    def _applies(self, method: str, path: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self.path_contains is None or self.path_contains in path

    def decide(self, method: str, path: str) -> FaultDecision:
        """Decide the fault for one admitted request (consumes scripted entries / RNG draws)."""
        for i, entry in enumerate(self.scripted):
            if entry.matches(method, path):
                entry.remaining -= 1
                if entry.remaining <= 0:
                    del self.scripted[i]
                hang = self.hang_seconds if entry.hang_seconds is None else entry.hang_seconds
                return FaultDecision(entry.fault, 0.0, entry.retry_after, hang)
        if not self._applies(method, path):
            return FaultDecision(None, 0.0, self.retry_after, self.hang_seconds)
        jitter = self._rng.uniform(0.0, self.latency_jitter) if self.latency_jitter > 0 else 0.0
        roll = self._rng.random()
        acc = 0.0
        for name in _PROBABILISTIC_ORDER:
            p: float = getattr(self, name)
            if p <= 0.0:
                continue
            acc += p
            if roll < acc:
                return FaultDecision(name, jitter, self.retry_after, self.hang_seconds)
        return FaultDecision(None, jitter, self.retry_after, self.hang_seconds)
