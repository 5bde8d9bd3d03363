"""Per-request cost of observability: request hooks and OpenTelemetry vs neither, side by side.

Run::

    pip install -e '.[test]'       # opentelemetry-api and -sdk
    python benchmarks/observability_overhead.py
    python benchmarks/observability_overhead.py --n 5000 --rounds 9

Configurations (one client each, everything else equal):

- ``none``: no hooks, the plain request loop;
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
  observer's ``start``, one ``attempt`` and ``finish`` (for ``none``: the loop's
  ``observer is not None`` check). The precise figure.
- ``loop``: ``client.me()`` through the whole request loop (limiter, retry policy, hooks) with
  an in-process transport that answers at once, so only client code is timed (noisier: the
  loop itself is ~50-80 us here);
- ``sdk-floor`` (``otel-sdk`` only): the OpenTelemetry SDK calls one call makes, without
  aiotallyfy (one span made current and ended, four metric measurements): the part of
  ``otel-sdk`` that is the SDK's own cost, whoever calls it.
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
from aiotallyfy._hooks import Observer
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
    if name == "hook":
        return [CountingHook()]
    return [otel_hooks(sdk=name == "otel-sdk")]


CONFIGS = ("none", "hook", "otel-api", "otel-sdk")


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
    gc.collect()
    started = time.process_time()
    if observer is None:
        for _ in range(n):
            if observer is not None:  # the loop's only cost without hooks
                raise AssertionError
    else:
        for _ in range(n):
            state = observer.start("GET", PATH, "3f9c2a6d1e8b4c7fa0b1c2d3e4f5a6b7")
            observer.attempt(state, 1, OUTCOME, DECISION, 0.0, 0.001, answer, None, False)
            observer.finish(state, None)
    return (time.process_time() - started) / n * 1e6


def sdk_floor_us(n: int) -> float:
    """The SDK calls one successful call makes through ``OpenTelemetryHooks``, without it."""
    from opentelemetry import context, trace

    hooks = otel_hooks(sdk=True)
    tracer = hooks._tracer  # type: ignore[attr-defined]
    active, duration, wait = hooks._active, hooks._duration, hooks._limiter_wait  # type: ignore[attr-defined]
    attributes = {
        "http.request.method": "GET",
        "url.template": "/organizations/{org}/tasks/{task}",
        "server.address": "127.0.0.1",
        "server.port": 443,
    }
    final = {**attributes, "http.response.status_code": 200}
    gc.collect()
    started = time.process_time()
    for _ in range(n):
        span = tracer.start_span("GET /organizations/{org}/tasks/{task}", attributes=attributes)
        token = context.attach(trace.set_span_in_context(span))
        active.add(1, attributes)
        wait.record(0.0, attributes)
        duration.record(0.001, final)
        active.add(-1, attributes)
        span.set_attributes({"aiotallyfy.attempts": 1, "http.response.status_code": 200})
        context.detach(token)
        span.end()
    return (time.process_time() - started) / n * 1e6


def observer_for(name: str) -> Observer | None:
    hooks = hooks_for(name)
    if not hooks:
        return None
    clock = TallyfyClient("t", base_url="http://127.0.0.1:9")._core.clock
    return Observer(hooks, clock=clock, server="127.0.0.1", port=443)


async def run(args: argparse.Namespace) -> None:
    results: dict[tuple[str, str], list[float]] = {}
    loop_clients = {name: loop_client(hooks_for(name)) for name in CONFIGS}
    observers = {name: observer_for(name) for name in CONFIGS}
    try:
        for name in CONFIGS:  # warm up: imports, caches
            await per_request_us(loop_clients[name], 500)
            dispatch_us(observers[name], 500)
        sdk_floor_us(500)
        for round_number in range(args.rounds):
            order = CONFIGS[round_number % 4 :] + CONFIGS[: round_number % 4]
            for name in order:
                results.setdefault(("dispatch", name), []).append(
                    dispatch_us(observers[name], args.n)
                )
                results.setdefault(("loop", name), []).append(
                    await per_request_us(loop_clients[name], args.n)
                )
            results.setdefault(("sdk-floor", "otel-sdk"), []).append(sdk_floor_us(args.n))
    finally:
        for client in loop_clients.values():
            await client.aclose()

    print(
        f"per-call cost of observability, median of {args.rounds} alternating rounds of "
        f"{args.n} calls (one attempt each)"
    )
    print(f"{'shape':<9} {'config':<9} {'us/call':>8} {'vs none':>8}")
    for shape in ("dispatch", "loop"):
        base = statistics.median(results[(shape, "none")])
        for name in CONFIGS:
            us = statistics.median(results[(shape, name)])
            delta = "" if name == "none" else f"{us - base:+.1f}"
            print(f"{shape:<9} {name:<9} {us:>8.2f} {delta:>8}")
    floor = statistics.median(results[("sdk-floor", "otel-sdk")])
    print(f"{'sdk-floor':<9} {'otel-sdk':<9} {floor:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=5000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
