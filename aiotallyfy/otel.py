"""OpenTelemetry traces and metrics for aiotallyfy (``pip install 'aiotallyfy[otel]'``).

::

    from aiotallyfy import TallyfyClient
    from aiotallyfy.otel import OpenTelemetryHooks

    client = TallyfyClient(token, hooks=[OpenTelemetryHooks()])

Importing this module imports ``opentelemetry-api`` (a no-op until your application configures
an SDK); nothing else in aiotallyfy does. It is one ``RequestHooks`` implementation, fed the
same facts as any other hook; alone on a client, it is told of a call's start and success by
its own observer straight from the request loop (``_SoloObserver``: the same facts without
building the records, which were half of its own cost), recording exactly the same.

**Spans.** One ``CLIENT`` span per logical call (an API method, or one page of a list), named
``"{method} {url.template}"``, e.g. ``GET /organizations/{org}/runs/{run}/tasks/{task}``,
made current while the call runs (so aiohttp's own instrumentation, if enabled, nests its
per-attempt spans under it). Attributes: ``http.request.method``, ``url.template``,
``server.address``, ``server.port``, ``http.response.status_code`` (the last answer),
``error.type`` (the exception class, or the status), ``http.request.resend_count``,
``aiotallyfy.attempts``, ``aiotallyfy.limiter.wait`` (seconds, all attempts),
``aiotallyfy.outcome``, ``http.request.body.size``, ``http.response.body.size``. Events:
``aiotallyfy.limiter.wait`` (an attempt queued at least ``limiter_wait_event_min`` seconds),
``aiotallyfy.rate_limited`` (a 429 that pauses the scope), ``aiotallyfy.retry``; they are
stamped when the attempt ends and carry their durations as attributes. A failed call's status
is ``ERROR`` with the class name only: exception messages name paths (ids), so they are never
recorded, and neither is the raw path, a query value, a header or the token.

**Metrics** (meter ``aiotallyfy``). The two of OpenTelemetry's HTTP client conventions that
apply, measured per *logical call* (what the calling service waits for, limiter queueing and
retries included): ``http.client.request.duration`` (s) and ``http.client.active_requests``
(counted by the hooks and read by the SDK when it collects: an asynchronous UpDownCounter).
Per attempt: ``aiotallyfy.client.limiter.wait`` (s), ``aiotallyfy.client.rate_limited`` (429s),
``aiotallyfy.client.retries`` (by ``aiotallyfy.retry.reason``: the status or the failure
kind); per call: ``aiotallyfy.client.outcome_unknown`` (writes that may have been applied).
Every attribute is bounded: method (unknown ones are ``_OTHER``), route template, server,
status, class names, failure kinds. If you also enable aiohttp's client instrumentation, its
``http.client.request.duration`` counts attempts under another meter: filter by scope.

**Organization ids** are off by default. An org id is bounded per deployment (your
tenants), so ``org_id_on_spans=True`` is cheap and useful for finding one tenant's slow
calls; ``org_id_on_metrics=True`` multiplies every series by the number of organizations, so
turn it on only when that number is small. Both record ``aiotallyfy.organization.id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import Token
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    Span,
    SpanKind,
    Status,
    StatusCode,
    set_span_in_context,
)

from ._clock import Clock
from ._hooks import (
    _NOT_STARTED,
    _STARTED,
    _STATES,
    _WAITED,
    AttemptInfo,
    CallInfo,
    CallResult,
    Observer,
    RequestHooks,
    _CallState,
)
from ._transport import RawResponse
from ._version import __version__

__all__ = ["OpenTelemetryHooks"]

# OpenTelemetry's advice for http.client.request.duration (semantic conventions, HTTP metrics).
_DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
)  # fmt: skip
# Limiter waits run up to a rolling minute (Tallyfy's 600/min) plus a 429 pause.
_WAIT_BUCKETS = (0.0, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_ORG = "aiotallyfy.organization.id"
_CACHE_LIMIT = 4096
_ENDINGS_LIMIT = 64  # statuses x error classes seen for one route: a bound, never reached
_CLIENT = SpanKind.CLIENT  # an enum member read from its class costs ~0.15 us each time


class _Series:
    """One set of metric attributes (method, route, server; the org when asked for): the
    attributes, the calls in progress with them (``http.client.active_requests``), and the
    duration's attributes by ending (the status; with an error, status and type), made once
    each and shared."""

    __slots__ = ("active", "attributes", "finals")

    def __init__(self, attributes: dict[str, Any]) -> None:
        self.attributes = attributes
        self.active = 0
        self.finals: dict[int | tuple[int | None, str] | None, dict[str, Any]] = {}


# The per-call state: a tuple, built in one step (no ``__init__`` call per request). The span;
# the context token, ``None`` when the span was already the current one (the API's no-op
# tracer hands back the caller's span: nothing to make current, detach or end); whether the
# span records (if not, no span attribute or event is built); the call's metric series.
_CallSpan = tuple[Span, "Token[Context] | None", bool, _Series]
_Known = tuple[str, dict[str, Any], _Series]


class OpenTelemetryHooks(RequestHooks[_CallSpan]):
    """Spans and metrics for every call; see the module docstring for what is recorded.

    ``tracer_provider``/``meter_provider`` default to the global ones (set by your SDK
    setup); ``limiter_wait_event_min`` is the shortest limiter wait recorded as a span event
    (seconds; every wait goes into the histogram).
    """

    # The attempt a call succeeds with is recorded from ``on_call_end`` (its limiter wait is
    # ``CallResult.last_limiter_wait``): no ``on_attempt`` call for it, nor its record.
    successful_attempts = False

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        org_id_on_spans: bool = False,
        org_id_on_metrics: bool = False,
        limiter_wait_event_min: float = 0.001,
    ) -> None:
        self._tracer = trace.get_tracer("aiotallyfy", __version__, tracer_provider)
        meter = metrics.get_meter("aiotallyfy", __version__, meter_provider)
        self._org_on_spans = org_id_on_spans
        self._org_on_metrics = org_id_on_metrics
        self._wait_event_min = limiter_wait_event_min
        self._attributes: dict[CallInfo, _Known] = {}  # by the call: a tuple of its facts
        self._duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of logical calls to Tallyfy, limiter waits and retries included.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        # Calls in progress are counted here and read by the SDK when it collects (an
        # asynchronous UpDownCounter: the same non-monotonic sum as the synchronous one the
        # conventions name, without two SDK measurements per call, about a fifth of the
        # SDK's per-call cost).
        self._series: dict[tuple[tuple[str, Any], ...], _Series] = {}
        meter.create_observable_up_down_counter(
            "http.client.active_requests",
            callbacks=[self._observe_active],
            unit="{request}",
            description="Logical calls to Tallyfy in progress, including those queued.",
        )
        self._limiter_wait = meter.create_histogram(
            "aiotallyfy.client.limiter.wait",
            unit="s",
            description="Time an attempt queued in the client's rate limiter.",
            explicit_bucket_boundaries_advisory=_WAIT_BUCKETS,
        )
        self._rate_limited = meter.create_counter(
            "aiotallyfy.client.rate_limited",
            unit="{response}",
            description="429 answers received.",
        )
        self._retries = meter.create_counter(
            "aiotallyfy.client.retries", unit="{retry}", description="Attempts retried."
        )
        self._outcome_unknown = meter.create_counter(
            "aiotallyfy.client.outcome_unknown",
            unit="{call}",
            description="Writes that may have been applied and were not re-sent.",
        )
        # The calls made on every call, bound once (a proxy tracer or instrument still
        # forwards to the SDK configured after this hook was made).
        self._start_span = self._tracer.start_span
        self._record_wait = self._limiter_wait.record
        self._record_duration = self._duration.record

    def on_call_start(self, call: CallInfo) -> _CallSpan:
        known = self._attributes.get(call)  # ``CallInfo`` is a tuple: equal facts, one entry
        if known is None:
            known = self._attributes_for(call)
            if len(self._attributes) >= _CACHE_LIMIT:
                self._attributes.clear()  # a bound: org ids and ports are not ours to count
            self._attributes[call] = known
        return self._begin(known)

    def _begin(self, known: _Known) -> _CallSpan:
        """A call starts (``on_call_start``, or the solo observer from the request loop)."""
        name, span_attributes, series = known
        span = self._start_span(name, kind=_CLIENT, attributes=span_attributes)
        if span is INVALID_SPAN:
            # The API's no-op tracer (no SDK) with no span current: it hands back the invalid
            # span that is already current. Nothing to make current, record, detach or end;
            # the metrics still go to the meter (a meter provider may be set without a tracer).
            series.active += 1
            return span, None, False, series
        # ``NonRecordingSpan`` is what the no-op tracer and a sampled-out SDK span are: no
        # attribute or event is built for it (checked by type, not ``is_recording()``: one
        # call less per request; another span class is treated as recording, which only
        # costs the no-op calls). Any other span is made current (a sampled-out span too:
        # the spans nested under it must see its context).
        recording = type(span) is not NonRecordingSpan
        token = attach(set_span_in_context(span))
        series.active += 1  # counted once started: a call whose start failed never ends here
        return span, token, recording, series

    def _attributes_for(self, call: CallInfo) -> _Known:
        """Span name, span attributes and metric series of a call (computed once per method,
        route, server and organization; the series shared by every call with its metric
        attributes)."""
        method = call.method if call.method in _KNOWN_METHODS else "_OTHER"
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.template": call.route,
            "server.address": call.server_address,
            "server.port": call.server_port,
        }
        span_attributes = dict(attributes)
        if call.org_id is not None:
            if self._org_on_spans:
                span_attributes[_ORG] = call.org_id
            if self._org_on_metrics:
                attributes[_ORG] = call.org_id
        key = tuple(attributes.items())
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= _CACHE_LIMIT:
                # A bound, like the attribute cache: series with calls in progress are kept
                # (their counts must come back to 0), idle ones stop being reported.
                self._series = {k: s for k, s in self._series.items() if s.active}
            series = self._series[key] = _Series(attributes)
        return f"{method} {call.route}", span_attributes, series

    def _observe_active(self, options: CallbackOptions) -> Iterable[Observation]:
        """``http.client.active_requests``, when the SDK collects (maybe on its exporter's
        thread: the series are copied in one step, and each count is read once)."""
        return [Observation(s.active, s.attributes) for s in list(self._series.values())]

    def on_attempt(self, state: _CallSpan, attempt: AttemptInfo) -> None:
        span, _, recording, series = state
        attributes = series.attributes
        wait = attempt.limiter_wait
        self._record_wait(wait, attributes)
        if recording and wait >= self._wait_event_min:
            self._wait_event(span, attempt.number, wait)
        if attempt.status == 429:
            self._rate_limited.add(1, attributes)
            if recording and attempt.scope_paused and attempt.retry_in is not None:
                span.add_event(
                    "aiotallyfy.rate_limited",
                    {"aiotallyfy.attempt": attempt.number, "aiotallyfy.pause": attempt.retry_in},
                )
        if attempt.retry_in is not None:
            reason = attempt.error or str(attempt.status)
            self._retries.add(1, {**attributes, "aiotallyfy.retry.reason": reason})
            if recording:
                span.add_event(
                    "aiotallyfy.retry",
                    {
                        "aiotallyfy.attempt": attempt.number,
                        "aiotallyfy.retry.reason": reason,
                        "aiotallyfy.retry.delay": attempt.retry_in,
                    },
                )

    @staticmethod
    def _wait_event(span: Span, number: int, wait: float) -> None:
        span.add_event(
            "aiotallyfy.limiter.wait", {"aiotallyfy.attempt": number, "aiotallyfy.wait": wait}
        )

    def on_call_end(self, state: _CallSpan, result: CallResult) -> None:
        # One unpack, in ``CallResult``'s order: each named field read is a descriptor call
        # (~0.1 us), and a call read a dozen of them.
        (
            _, outcome, status, error_type, attempts, _, _, duration, limiter_wait,
            request_bytes, response_bytes, last_wait,
        ) = result  # fmt: skip
        if outcome == "success":
            self._succeeded(
                state, status, attempts, duration, limiter_wait, last_wait, request_bytes,
                response_bytes,
            )  # fmt: skip
            return
        span, token, recording, series = state
        series.active -= 1
        attributes = series.attributes
        self._record_duration(duration, self._final(series, status, error_type))
        if outcome == "outcome_unknown":
            self._outcome_unknown.add(1, attributes)
        if recording:  # a non-recording span drops attributes and status: none is built
            span.set_attributes(
                _end_attributes(
                    outcome, status, error_type, attempts, limiter_wait, request_bytes,
                    response_bytes,
                )
            )  # fmt: skip
            if outcome in ("error", "outcome_unknown"):
                span.set_status(Status(StatusCode.ERROR, error_type))
        if token is not None:  # otherwise the span is the caller's, not ours to end
            detach(token)
            span.end()

    def _succeeded(
        self,
        state: _CallSpan,
        status: int | None,
        attempts: int,
        duration: float,
        limiter_wait: float,
        last_wait: float,
        request_bytes: int | None,
        response_bytes: int | None,
    ) -> None:
        """A call succeeded (``on_call_end``, or the solo observer from the request loop).
        ``last_wait`` is its successful attempt's limiter wait: that attempt is not told to
        ``on_attempt`` (``successful_attempts = False``)."""
        span, token, recording, series = state
        series.active -= 1
        attributes = series.attributes
        self._record_wait(last_wait, attributes)
        if recording and last_wait >= self._wait_event_min:
            self._wait_event(span, attempts, last_wait)
        final = series.finals.get(status)  # by status alone: no tuple to build per call
        if final is None:
            final = self._final(series, status, None)
        self._record_duration(duration, final)
        if not recording:  # a non-recording span drops attributes: none is built
            pass
        elif attempts == 1 and request_bytes is not None and response_bytes is not None:
            span.set_attributes(
                {
                    "aiotallyfy.attempts": 1,
                    "aiotallyfy.limiter.wait": limiter_wait,
                    "aiotallyfy.outcome": "success",
                    "http.response.status_code": status,
                    "http.request.body.size": request_bytes,
                    "http.response.body.size": response_bytes,
                }
            )  # the usual call, one dict literal; no error type: the status stays unset
        else:
            span.set_attributes(
                _end_attributes(
                    "success", status, None, attempts, limiter_wait, request_bytes,
                    response_bytes,
                )
            )  # fmt: skip
        if token is not None:  # otherwise the span is the caller's, not ours to end
            detach(token)
            span.end()

    @staticmethod
    def _final(series: _Series, status: int | None, error_type: str | None) -> dict[str, Any]:
        """The duration's attributes for an ending: the series' with the status and the error
        type, made once per status and error type (both bounded), then shared."""
        ending = status if error_type is None else (status, error_type)
        final = series.finals.get(ending)
        if final is None:
            final = dict(series.attributes)
            if status is not None:
                final["http.response.status_code"] = status
            if error_type is not None:
                final["error.type"] = error_type
            if len(series.finals) >= _ENDINGS_LIMIT:
                series.finals.clear()
            series.finals[ending] = final
        return final

    def _solo_observer(self, *, clock: Clock, server: str, port: int) -> Observer | None:
        """The request loop's observer when this is the client's only hook
        (``_hooks.make_observer``); ``None`` for a subclass that overrides one of the hook
        methods, which must then be called."""
        for name in ("on_call_start", "on_attempt", "on_call_end"):
            if getattr(type(self), name) is not getattr(OpenTelemetryHooks, name):
                return None
        return _SoloObserver(self, clock=clock, server=server, port=port)


def _end_attributes(
    outcome: str,
    status: int | None,
    error_type: str | None,
    attempts: int,
    limiter_wait: float,
    request_bytes: int | None,
    response_bytes: int | None,
) -> dict[str, Any]:
    """A call span's end attributes, any ending (a success in one attempt with both sizes
    has its own literal in ``_succeeded``)."""
    attributes: dict[str, Any] = {
        "aiotallyfy.attempts": attempts,
        "aiotallyfy.limiter.wait": limiter_wait,
        "aiotallyfy.outcome": outcome,
    }
    if status is not None:
        attributes["http.response.status_code"] = status
    if error_type is not None:
        attributes["error.type"] = error_type
    if attempts > 1:
        attributes["http.request.resend_count"] = attempts - 1
    if request_bytes is not None:
        attributes["http.request.body.size"] = request_bytes
    if response_bytes is not None:
        attributes["http.response.body.size"] = response_bytes
    return attributes


class _SoloObserver(Observer):
    """The request loop's observer when ``OpenTelemetryHooks`` is the client's only hook.

    A call's start and its success, almost every call, go from the request loop to the
    hook's ``_begin``/``_succeeded`` directly: no ``CallInfo`` lookup by its hash, no
    ``CallResult`` built and read back (measured: the generic observer's records and dispatch
    were about half of this hook's own cost with the SDK on). Everything else (attempts that
    did not succeed, a call that raises) goes through the generic observer to the hook's
    ``RequestHooks`` methods, with the same per-call state. Both ways record the same
    spans and points (``tests/test_otel.py`` runs the same calls with the hook alone and
    beside another hook and compares what was exported).
    """

    __slots__ = ("_hook", "_known")

    def __init__(self, hook: OpenTelemetryHooks, *, clock: Clock, server: str, port: int) -> None:
        super().__init__([hook], clock=clock, server=server, port=port)
        self._hook = hook
        # By method, path and organization: the call's ``CallInfo`` and the hook's facts.
        self._known: dict[tuple[str, str, str | None], tuple[CallInfo, _Known]] = {}

    def start(self, method: str, path: str, org_id: str | None, started: float) -> _CallState:
        key = (method, path, org_id)
        known = self._known.get(key)
        if known is None:
            call = self._new_call(key)
            known = (call, self._hook._attributes_for(call))
            if len(self._known) >= _CACHE_LIMIT:
                self._known.clear()  # paths carry ids: the cache must not grow with them
            self._known[key] = known
        try:
            state: Any = self._hook._begin(known[1])
        except Exception as exc:
            self._failed(self._hook, exc)
            state = _NOT_STARTED  # this call is not reported to the hook again
        return [known[0], started, state, None, 0.0, 0]

    def succeeded(
        self,
        state: _CallState,
        number: int,
        limiter_wait: float,
        duration: float,
        raw: RawResponse,
        body: bytes | None,
        streamed: bool,
        ended: float,
    ) -> None:
        hook_state = state[_STATES]
        if hook_state is _NOT_STARTED:
            return
        try:
            self._hook._succeeded(
                hook_state, raw.status, number, ended - state[_STARTED],
                state[_WAITED] + limiter_wait, limiter_wait,
                None if streamed else len(body) if body is not None else 0,
                None if streamed else len(raw.body),
            )  # fmt: skip
        except Exception as exc:
            self._failed(self._hook, exc)
