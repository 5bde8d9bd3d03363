"""Per-request cost of observability: request hooks and OpenTelemetry vs neither, side by side.

Run::

    pip install -e '.[test]'       # opentelemetry-api and -sdk
    python benchmarks/observability_overhead.py
    python benchmarks/observability_overhead.py --n 5000 --rounds 9   # (default 1000 x 30)

Configurations (one client each, everything else equal):

- ``none``: no hooks, the plain request loop;
- ``noop``: one ``RequestHooks`` overriding all three methods with ones that do nothing: what
  registering a hook costs, the hook's own work aside;
- ``hook``: one ``RequestHooks`` doing what a Prometheus exporter would (a few dict counters
  per attempt and per call);
- ``otel-api``: ``OpenTelemetryHooks`` with no SDK configured (the API's no-op providers:
  tracing installed but not switched on);
- ``otel-sdk``: ``OpenTelemetryHooks`` with the SDK on: a ``TracerProvider`` with a
  ``BatchSpanProcessor`` (exporter that drops) and a ``MeterProvider`` with a reader, so every
  span is built and every metric aggregated.

Three shapes, rounds alternating the configurations; figures are CPU time per call
(``process_time``: on a shared machine wall time mostly measures the neighbours, and CPU is
what a busy service pays), medians over the rounds; the differences to ``none`` are what to
read:

- ``dispatch``: exactly what the request loop adds per call with hooks, timed alone: the
  observer's ``start`` (with the clock reading the loop takes only for it) and, the call
  succeeding at its first attempt, ``succeeded`` (for ``none``: the loop's ``observer is not
  None`` check). The precise figure.
- ``loop``: ``client.me()`` through the whole request loop (limiter, retry policy, hooks) with
  an in-process transport that answers at once, so only client code is timed (noisier: the
  loop itself is ~50-80 us here);
- ``sdk-floor`` (``otel-sdk`` only): the OpenTelemetry SDK calls one call makes through
  ``OpenTelemetryHooks``, made directly with the same arguments (``floor_calls``: one
  ``CLIENT`` span started with the same attributes and made current, two histogram
  measurements with the same attribute dicts, the same six end attributes, detach, end), no
  more, no less: the part of ``otel-sdk`` that is the SDK's own cost, whoever calls it. It is
  timed in both shapes: alone (against ``dispatch``) and around a hook-less ``client.me()``
  (against ``loop``, minus ``loop``/``none``: the SDK costs more between the loop's own
  work than in a tight loop). ``ours`` = ``otel-sdk`` minus that floor, shape by shape: what
  aiotallyfy adds (the observer, the hook's own code). Each round times the floor right
  after ``otel-sdk`` and ``ours`` is the median of those paired differences: two ~110-140 us
  figures taken seconds apart drift apart with the neighbours' load by more than the ~10 us
  between them (hence many short rounds rather than a few long ones).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from aiotallyfy import (
    AttemptInfo,
    CallInfo,
    CallResult,
    LocalRateLimiter,
    RateLimit,
    RequestHooks,
    TallyfyClient,
)
from aiotallyfy._hooks import Observer, make_observer
from aiotallyfy._retry import Decision, HTTPOutcome, Verdict
from aiotallyfy._transport import RawResponse

UNLIMITED = [RateLimit(10**9, 1.0)]  # no admission ever waits: only overhead is measured
ME = orjson.dumps({"data": {"id": "u1", "email": "me@example.com"}})


class CountingHook(RequestHooks[None]):
    """What a Prometheus exporter would do: bump labelled counters and a latency sum."""

    def __init__(self) -> None:
        self.attempts: Counter[tuple[str, str, int | None]] = Counter()
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.seconds: Counter[tuple[str, str]] = Counter()

    def on_attempt(self, state: None, attempt: AttemptInfo) -> None:
        call = attempt.call
        self.attempts[(call.method, call.route, attempt.status)] += 1

    def on_call_end(self, state: None, result: CallResult) -> None:
        call: CallInfo = result.call
        self.calls[(call.method, call.route, result.outcome)] += 1
        self.seconds[(call.method, call.route)] += result.duration


class NoopHook(RequestHooks[None]):
    """Overrides all three methods (so each is called) and does nothing in them."""

    def on_call_start(self, call: CallInfo) -> None:
        return None

    def on_attempt(self, state: None, attempt: AttemptInfo) -> None:
        return None

    def on_call_end(self, state: None, result: CallResult) -> None:
        return None


class InstantTransport:
    """Answers ``GET /me`` at once, in process: the request loop without a network."""

    base_url = "http://127.0.0.1"
    max_response_bytes = 64 * 2**20

    def __init__(self) -> None:
        headers: CIMultiDict[str] = CIMultiDict({"Content-Type": "application/json"})
        self._answer = RawResponse(200, CIMultiDictProxy(headers), ME, "http://127.0.0.1/me")

    async def send(self, method: str, url: str, **_: Any) -> RawResponse:
        return self._answer

    async def aclose(self) -> None:
        return None


def otel_hooks(sdk: bool) -> RequestHooks[Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from aiotallyfy.otel import OpenTelemetryHooks

    if not sdk:
        return OpenTelemetryHooks()  # the API's no-op providers (no SDK configured globally)

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return OpenTelemetryHooks(tracer_provider=tracer_provider, meter_provider=meter_provider)


def hooks_for(name: str) -> list[RequestHooks[Any]]:
    if name == "none":
        return []
    if name == "noop":
        return [NoopHook()]
    if name == "hook":
        return [CountingHook()]
    return [otel_hooks(sdk=name == "otel-sdk")]


CONFIGS = ("none", "noop", "hook", "otel-api", "otel-sdk")


async def per_request_us(client: TallyfyClient, n: int) -> float:
    gc.collect()
    started = time.process_time()
    for _ in range(n):
        await client.me()
    return (time.process_time() - started) / n * 1e6


def loop_client(hooks: list[RequestHooks[Any]]) -> TallyfyClient:
    client = TallyfyClient(
        "benchmark-token",
        base_url="http://127.0.0.1:9",
        limiter=LocalRateLimiter(UNLIMITED),
        hooks=hooks,
    )
    client._core.transport = InstantTransport()  # type: ignore[assignment]
    return client


OUTCOME = HTTPOutcome(200)
DECISION = Decision(Verdict.SUCCESS)
PATH = "/organizations/3f9c2a6d1e8b4c7fa0b1c2d3e4f5a6b7/tasks/2acf01fc863c1dc92822bbf883f9aa0e"


def dispatch_us(observer: Observer | None, n: int) -> float:
    """The loop's per-call hook work, alone: the observer's ``start``, ``attempt``, ``finish``."""
    answer = InstantTransport()._answer
    now = time.monotonic
    gc.collect()
    started = time.process_time()
    if observer is None:
        for _ in range(n):
            if observer is not None:  # the loop's only cost without hooks
                raise AssertionError
    else:
        for _ in range(n):
            began = now()  # read for the hooks only; the end is a reading the loop takes anyway
            state = observer.start("GET", PATH, "3f9c2a6d1e8b4c7fa0b1c2d3e4f5a6b7", began)
            observer.succeeded(state, 1, 0.0, 0.001, answer, None, False, began + 0.001)
    return (time.process_time() - started) / n * 1e6


class FloorCalls:
    """Exactly the SDK calls ``OpenTelemetryHooks`` makes for one successful ``GET`` with one
    attempt, with the same arguments, made directly (``check_floor`` compares what the two
    record before any timing)."""

    def __init__(self, route: str, port: int, hooks: Any = None) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind

        self.attach, self.detach = context.attach, context.detach
        self.in_context = trace.set_span_in_context
        self.kind = SpanKind.CLIENT
        hooks = hooks or otel_hooks(sdk=True)
        self.tracer = hooks._tracer
        self.duration = hooks._duration
        self.wait = hooks._limiter_wait
        self.name = f"GET {route}"
        self.attributes = {
            "http.request.method": "GET",
            "url.template": route,
            "server.address": "127.0.0.1",
            "server.port": port,
        }
        self.final = {**self.attributes, "http.response.status_code": 200}
        self.end_attributes = {
            "aiotallyfy.attempts": 1,
            "aiotallyfy.limiter.wait": 0.0,
            "aiotallyfy.outcome": "success",
            "http.response.status_code": 200,
            "http.request.body.size": 0,
            "http.response.body.size": len(ME),
        }

    def start(self) -> tuple[Any, Any]:
        span = self.tracer.start_span(self.name, kind=self.kind, attributes=self.attributes)
        token = self.attach(self.in_context(span))
        return span, token

    def end(self, span: Any, token: Any) -> None:
        self.wait.record(0.0, self.attributes)  # on_attempt
        self.duration.record(0.001, self.final)  # on_call_end
        span.set_attributes(self.end_attributes)
        self.detach(token)
        span.end()


async def check_floor() -> None:
    """The floor records what ``OpenTelemetryHooks`` records for one ``client.me()`` (span
    name, kind, attributes, events; every metric point's attributes and value), or the
    subtraction would not be honest."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from aiotallyfy.otel import OpenTelemetryHooks

    seen = []
    for direct in (False, True):
        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        hooks = OpenTelemetryHooks(
            tracer_provider=tracer_provider,
            meter_provider=MeterProvider(metric_readers=[reader]),
        )
        client = loop_client([] if direct else [hooks])
        if direct:
            floor = FloorCalls("/me", 9, hooks)
            span, token = floor.start()
            await client.me()
            floor.end(span, token)
        else:
            await client.me()
        await client.aclose()
        (span,) = spans.get_finished_spans()
        data = reader.get_metrics_data()
        assert data is not None
        points = sorted(
            (m.name, sorted((p.attributes or {}).items()), getattr(p, "count", None))
            for r in data.resource_metrics
            for sm in r.scope_metrics
            for m in sm.metrics
            for p in m.data.data_points
            # counted by the hooks and read at collection (an observable): no per-call SDK work
            if m.name != "http.client.active_requests"
        )
        seen.append((span.name, span.kind, dict(span.attributes or {}), span.events, points))
    if seen[0] != seen[1]:
        raise SystemExit(f"the floor does not make the hooks' SDK calls:\n{seen[0]}\n{seen[1]}")


def sdk_floor_us(n: int) -> float:
    """The SDK calls one successful call makes through ``OpenTelemetryHooks``, without it."""
    floor = FloorCalls("/organizations/{org}/tasks/{task}", 443)
    start, end = floor.start, floor.end
    gc.collect()
    started = time.process_time()
    for _ in range(n):
        span, token = start()
        end(span, token)
    return (time.process_time() - started) / n * 1e6


async def loop_floor_us(client: TallyfyClient, n: int) -> float:
    """A hook-less ``client.me()`` with the SDK calls ``OpenTelemetryHooks`` would make for it
    around it (minus ``loop``/``none``: the SDK's own cost in the loop's shape)."""
    floor = FloorCalls("/me", 9)
    start, end = floor.start, floor.end
    gc.collect()
    started = time.process_time()
    for _ in range(n):
        span, token = start()
        await client.me()
        end(span, token)
    return (time.process_time() - started) / n * 1e6


def observer_for(name: str) -> Observer | None:
    hooks = hooks_for(name)
    if not hooks:
        return None
    clock = TallyfyClient("t", base_url="http://127.0.0.1:9")._core.clock
    return make_observer(hooks, clock=clock, server="127.0.0.1", port=443)  # as the client does


async def run(args: argparse.Namespace) -> None:
    await check_floor()
    results: dict[tuple[str, str], list[float]] = {}
    loop_clients = {name: loop_client(hooks_for(name)) for name in CONFIGS}
    observers = {name: observer_for(name) for name in CONFIGS}
    try:
        for name in CONFIGS:  # warm up: imports, caches
            await per_request_us(loop_clients[name], 500)
            dispatch_us(observers[name], 500)
        sdk_floor_us(500)
        await loop_floor_us(loop_clients["none"], 500)
        for round_number in range(args.rounds):
            turn = round_number % len(CONFIGS)
            order = CONFIGS[turn:] + CONFIGS[:turn]
            for name in order:
                results.setdefault(("dispatch", name), []).append(
                    dispatch_us(observers[name], args.n)
                )
                if name == "otel-sdk":  # its floor right after it: a pair, timed together
                    results.setdefault(("dispatch", "sdk-floor"), []).append(sdk_floor_us(args.n))
                results.setdefault(("loop", name), []).append(
                    await per_request_us(loop_clients[name], args.n)
                )
                if name == "otel-sdk":
                    results.setdefault(("loop", "sdk-floor"), []).append(
                        await loop_floor_us(loop_clients["none"], args.n)
                    )
    finally:
        for client in loop_clients.values():
            await client.aclose()

    print(
        f"per-call cost of observability, median of {args.rounds} alternating rounds of "
        f"{args.n} calls (one attempt each)"
    )
    print(f"{'shape':<9} {'config':<9} {'us/call':>8} {'vs none':>8} {'ours':>6}")
    for shape in ("dispatch", "loop"):
        base = statistics.median(results[(shape, "none")])
        # ``ours``: the median of each round's otel-sdk minus the floor timed right after it
        # (a pair a fraction of a second apart, so a neighbour's load shifts both alike).
        pairs = zip(results[(shape, "otel-sdk")], results[(shape, "sdk-floor")], strict=True)
        ours_us = statistics.median(sdk - floor for sdk, floor in pairs)
        for name in (*CONFIGS, "sdk-floor"):
            us = statistics.median(results[(shape, name)])
            delta = "" if name == "none" else f"{us - base:+.1f}"
            ours = f"{ours_us:+.1f}" if name == "otel-sdk" else ""
            print(f"{shape:<9} {name:<9} {us:>8.2f} {delta:>8} {ours:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=30)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
