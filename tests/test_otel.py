"""OpenTelemetry (``aiotallyfy.otel``) read back through the SDK's in-memory exporters: the exact
span, events and metric points of a call that got a 429, then a 503, then succeeded; no secret
or id in any exported attribute; organization ids only when asked for; parenting."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from _observability import ROUTE, Top, get_after_429_and_503
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from aiotallyfy import (
    AttemptInfo,
    CallInfo,
    CallResult,
    NotFoundError,
    OutcomeUnknownError,
    RateLimit,
    RequestHooks,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.otel import OpenTelemetryHooks
from aiotallyfy.testing import FakeTallyfy

pytestmark = pytest.mark.virtual_time


class Telemetry:
    def __init__(self, **options: Any) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.hooks = OpenTelemetryHooks(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """metric name → [(attributes, value or (count, sum, bucket counts))]."""
        out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                assert scope.scope.name == "aiotallyfy"
                for metric in scope.metrics:
                    for p in metric.data.data_points:
                        value = (
                            (p.count, pytest.approx(p.sum), tuple(p.bucket_counts))
                            if hasattr(p, "bucket_counts")
                            else p.value
                        )
                        out.setdefault(metric.name, []).append((dict(p.attributes or {}), value))
        return out

    def every_value(self) -> Iterator[str]:
        """Every exported string: span names, status descriptions, attribute values of spans,
        events and metric points."""
        for span in self.finished():
            yield span.name
            yield str(span.status.description)
            yield from (f"{k}={v}" for k, v in (span.attributes or {}).items())
            for event in span.events:
                yield event.name
                yield from (f"{k}={v}" for k, v in (event.attributes or {}).items())
        for name, points in self.points().items():
            yield name
            for attributes, _ in points:
                yield from (f"{k}={v}" for k, v in attributes.items())


async def test_429_then_503_then_success_exact_span_events_and_metrics() -> None:
    otel = Telemetry()
    _, port = await get_after_429_and_503(otel.hooks)

    (span,) = otel.finished()
    base = {
        "http.request.method": "GET",
        "url.template": ROUTE,
        "server.address": "127.0.0.1",
        "server.port": port,
    }
    assert span.name == f"GET {ROUTE}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    response_size = attributes.pop("http.response.body.size")
    assert isinstance(response_size, int)
    assert response_size > 100
    assert attributes == {
        **base,
        "aiotallyfy.attempts": 3,
        "aiotallyfy.limiter.wait": pytest.approx(1.6),
        "aiotallyfy.outcome": "success",
        "http.response.status_code": 200,
        "http.request.resend_count": 2,
        "http.request.body.size": 0,
    }

    def event(name: str, attempt: int, **values: Any) -> tuple[str, dict[str, Any]]:
        extra = {f"aiotallyfy.{k}": pytest.approx(v) for k, v in values.items()}
        return f"aiotallyfy.{name}", {"aiotallyfy.attempt": attempt, **extra}

    def retry(attempt: int, reason: str, delay: float) -> tuple[str, dict[str, Any]]:
        return "aiotallyfy.retry", {
            "aiotallyfy.attempt": attempt,
            "aiotallyfy.retry.reason": reason,
            "aiotallyfy.retry.delay": pytest.approx(delay),
        }

    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        event("rate_limited", 1, pause=1.1),
        retry(1, "429", 1.1),
        event("limiter.wait", 2, wait=1.1),
        retry(2, "503", 1.0),
        # the gate's probe wait after a 503 that carried no X-RateLimit-Remaining (test_hooks)
        event("limiter.wait", 3, wait=0.5),
    ]  # fmt: skip

    def buckets(*indexes: int) -> tuple[int, ...]:
        counts = [0] * 15
        for i in indexes:
            counts[i] += 1
        return tuple(counts)

    # duration buckets: 0.005 0.01 0.025 0.05 0.075 0.1 0.25 0.5 0.75 1 2.5 5 7.5 10 (+inf)
    points = otel.points()
    assert points == {
        "http.client.request.duration": [
            ({**base, "http.response.status_code": 200}, (1, pytest.approx(2.75), buckets(11)))
        ],
        "http.client.active_requests": [(base, 0)],
        # waits 0, 1.1, 0.5; buckets 0 0.005 0.01 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 120 (+inf)
        "aiotallyfy.client.limiter.wait": [(base, (3, pytest.approx(1.6), buckets(0, 6, 8)))],
        "aiotallyfy.client.rate_limited": [(base, 1)],
        "aiotallyfy.client.retries": [
            ({**base, "aiotallyfy.retry.reason": "429"}, 1),
            ({**base, "aiotallyfy.retry.reason": "503"}, 1),
        ],
    }


async def test_no_secret_id_email_or_query_value_in_any_exported_attribute() -> None:
    otel = Telemetry()
    email = "kim.secret+x@example.com"
    query = "confidential merger words"
    async with FakeTallyfy(orgs=2, tasks_per_org=3) as fake:
        orgs = fake.data.org_ids
        tasks = [t for org in orgs for t in fake.data.task_ids(org)]
        fake.inject("429", method="GET", retry_after=1)
        fake.inject("reset_after_apply", method="POST")
        async with TallyfyClient(fake.token, base_url=fake.base_url, hooks=[otel.hooks]) as client:
            for org in orgs:
                await client.tasks.list_mine(org).to_list()
                for task in fake.data.task_ids(org):
                    await client.tasks.get(org, task)
            with pytest.raises(NotFoundError):
                await client.guests.get(orgs[0], email)
            with pytest.raises(NotFoundError):
                await client.tasks.get(orgs[0], "ffff" * 8)
            await client.search(orgs[0], query, on=["task"]).by_type()
            with pytest.raises(OutcomeUnknownError):
                await client.request("POST", f"/organizations/{orgs[1]}/tasks", json={"t": email})
            with pytest.raises(ValidationError):
                await client.request("POST", f"/organizations/{orgs[1]}/users/invite", json={})
        token = fake.token
    values = list(otel.every_value())
    assert len(values) > 100
    forbidden = [token, email, "kim.secret", "example.com", "%40", "confidential", *orgs, *tasks]
    forbidden += ["ffff" * 8]
    leaks = [(word, v) for word in forbidden for v in values if word in v]
    assert leaks == []
    templates = {v for v in values if v.startswith("url.template=")}
    assert templates == {
        "url.template=/organizations/{org}/me/tasks",
        "url.template=/organizations/{org}/tasks/{task}",
        "url.template=/organizations/{org}/guests/{guest}",
        "url.template=/organizations/{org}/search",
        "url.template=/organizations/{org}/tasks",
        "url.template=/organizations/{org}/users/invite",
    }
    failed = [s for s in otel.finished() if s.status.status_code is StatusCode.ERROR]
    assert sorted(str(s.status.description) for s in failed) == [
        "NotFoundError", "NotFoundError", "OutcomeUnknownError", "ValidationError",
    ]  # fmt: skip
    assert otel.points()["aiotallyfy.client.outcome_unknown"] == [
        (
            {
                "http.request.method": "POST",
                "url.template": "/organizations/{org}/tasks",
                "server.address": "127.0.0.1",
                "server.port": fake.port,
            },
            1,
        )
    ]


async def test_organization_id_only_when_asked_for() -> None:
    spans_only = Telemetry(org_id_on_spans=True)
    both = Telemetry(org_id_on_spans=True, org_id_on_metrics=True)
    async with FakeTallyfy(orgs=1, tasks_per_org=1) as fake:
        org = fake.data.org_ids[0]
        for otel in (spans_only, both):
            async with TallyfyClient(
                fake.token, base_url=fake.base_url, hooks=[otel.hooks]
            ) as client:
                await client.me()
                await client.tasks.get(org, fake.data.task_ids(org)[0])
    for otel in (spans_only, both):
        me, task = otel.finished()
        assert "aiotallyfy.organization.id" not in (me.attributes or {})  # /me has no org
        assert (task.attributes or {})["aiotallyfy.organization.id"] == org
    org_in_metrics = [
        name
        for name, points in both.points().items()
        for attributes, _ in points
        if attributes.get("aiotallyfy.organization.id") == org
    ]
    assert sorted(set(org_in_metrics)) == [
        "aiotallyfy.client.limiter.wait",
        "http.client.active_requests",
        "http.client.request.duration",
    ]
    metric_attributes = [a for p in spans_only.points().values() for a, _ in p]
    assert not any("aiotallyfy.organization.id" in a for a in metric_attributes)


async def test_the_call_span_is_a_child_of_the_callers_span_and_current_during_the_call() -> None:
    otel = Telemetry()
    tracer = otel.tracer_provider.get_tracer("service")
    current: list[int] = []

    class SeesCurrentSpan(RequestHooks[None]):
        def on_attempt(self, state: None, attempt: AttemptInfo) -> None:
            current.append(trace.get_current_span().get_span_context().span_id)

    hooks = [otel.hooks, SeesCurrentSpan()]
    async with (
        FakeTallyfy(orgs=1, tasks_per_org=1) as fake,
        TallyfyClient(fake.token, base_url=fake.base_url, hooks=hooks) as client,
    ):
        with tracer.start_as_current_span("GET /my-endpoint"):
            await client.me()
            await client.me()
    first, second, parent = otel.finished()
    assert parent.name == "GET /my-endpoint"
    assert first.parent is not None
    assert second.parent is not None
    assert first.parent.span_id == second.parent.span_id == parent.context.span_id
    assert first.context.trace_id == parent.context.trace_id
    assert current == [first.context.span_id, second.context.span_id]
    assert trace.get_current_span() is trace.INVALID_SPAN  # detached after each call


class FailsToStart(RequestHooks[None]):
    def __init__(self) -> None:
        self.later_calls = 0

    def on_call_start(self, call: CallInfo) -> None:
        raise RuntimeError("no")

    def on_attempt(self, state: None, attempt: AttemptInfo) -> None:
        self.later_calls += 1

    def on_call_end(self, state: None, result: CallResult) -> None:
        self.later_calls += 1


async def test_a_hook_failing_at_start_leaves_the_span_and_context_intact(
    fake: FakeTallyfy, caplog: pytest.LogCaptureFixture
) -> None:
    otel, failing = Telemetry(), FailsToStart()
    async with TallyfyClient(
        fake.token, base_url=fake.base_url, hooks=[otel.hooks, failing]
    ) as client:
        await client.me()
        await client.me()
    spans = otel.finished()
    assert [s.name for s in spans] == ["GET /me", "GET /me"]  # each started and ended once
    assert [s.parent for s in spans] == [None, None]  # the first did not stay current
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert failing.later_calls == 0  # a hook that did not start a call hears no more of it
    assert [r.getMessage() for r in caplog.records if "request hook" in r.getMessage()] == [
        "request hook FailsToStart raised RuntimeError; ignored (further errors from it are "
        "not logged)"
    ]


class CurrentSpans(RequestHooks[None]):
    """Records the span current when each attempt is reported (what aiohttp's own
    instrumentation would nest under)."""

    def __init__(self) -> None:
        self.spans: list[trace.Span] = []

    def on_attempt(self, state: None, attempt: AttemptInfo) -> None:
        self.spans.append(trace.get_current_span())


async def test_no_sdk_tracer_records_metrics_and_leaves_the_context_alone(
    fake: FakeTallyfy,
) -> None:
    reader = InMemoryMetricReader()
    hooks = OpenTelemetryHooks(
        tracer_provider=trace.NoOpTracerProvider(),
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    current = CurrentSpans()
    remote = trace.NonRecordingSpan(
        trace.SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=trace.TraceFlags(1))
    )
    async with TallyfyClient(fake.token, base_url=fake.base_url, hooks=[hooks, current]) as client:
        await client.me()  # nothing current: the no-op tracer hands back the invalid span
        with trace.use_span(remote):  # a propagated parent, no SDK: handed back too
            await client.me()
            assert trace.get_current_span() is remote
    assert current.spans == [trace.INVALID_SPAN, remote]
    assert trace.get_current_span() is trace.INVALID_SPAN
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        m.name: [(dict(p.attributes or {}), getattr(p, "count", getattr(p, "value", None)))
                 for p in m.data.data_points]
        for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics
    }  # fmt: skip
    base = {
        "http.request.method": "GET",
        "url.template": "/me",
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }
    assert points == {
        "http.client.request.duration": [({**base, "http.response.status_code": 200}, 2)],
        "http.client.active_requests": [(base, 0)],
        "aiotallyfy.client.limiter.wait": [(base, 2)],
    }


async def test_a_sampled_out_span_is_current_during_the_call_and_nothing_is_exported(
    fake: FakeTallyfy,
) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    spans = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    current = CurrentSpans()
    async with TallyfyClient(
        fake.token,
        base_url=fake.base_url,
        hooks=[OpenTelemetryHooks(tracer_provider=provider), current],
    ) as client:
        await client.me()
        await client.me()
    first, second = (s.get_span_context() for s in current.spans)
    assert first.is_valid  # a new span of its own, made current...
    assert second.is_valid
    assert first.span_id != second.span_id
    assert not first.trace_flags.sampled  # ...that tells the spans under it: not sampled
    assert not any(s.is_recording() for s in current.spans)
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert spans.get_finished_spans() == ()


class Sizes(RequestHooks[None]):
    def __init__(self) -> None:
        self.seen: list[tuple[int | None, int | None]] = []

    def on_call_end(self, state: None, result: CallResult) -> None:
        self.seen.append((result.request_bytes, result.response_bytes))


async def test_a_one_attempt_success_has_exactly_the_six_end_attributes() -> None:
    """The usual call (one attempt, JSON sizes known) takes the hooks' shortest path: the same
    attributes as any other call, nothing dropped, no resend count, no error type, status
    unset."""
    otel, sizes = Telemetry(), Sizes()
    async with FakeTallyfy(orgs=1, tasks_per_org=1) as fake:
        for hook in (otel.hooks, sizes):  # the same answer, its size told to a plain hook
            async with TallyfyClient(fake.token, base_url=fake.base_url, hooks=[hook]) as client:
                await client.me()
        port = int(fake.base_url.split(":")[2].split("/")[0])
    ((request_bytes, response_bytes),) = sizes.seen
    assert request_bytes == 0
    assert response_bytes is not None
    assert response_bytes > 20
    (span,) = otel.finished()
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.template": "/me",
        "server.address": "127.0.0.1",
        "server.port": port,
        "aiotallyfy.attempts": 1,
        "aiotallyfy.limiter.wait": 0.0,
        "aiotallyfy.outcome": "success",
        "http.response.status_code": 200,
        "http.request.body.size": 0,
        "http.response.body.size": response_bytes,
    }


async def test_active_requests_counts_the_calls_in_progress_per_route() -> None:
    """``http.client.active_requests`` is read when the SDK collects: mid-flight it shows the
    calls under way on each route, afterwards 0 (a call that failed included)."""
    otel = Telemetry()
    async with FakeTallyfy(orgs=1, tasks_per_org=2, latency=1.0) as fake:
        org = fake.data.org_ids[0]
        base = {
            "http.request.method": "GET",
            "server.address": "127.0.0.1",
            "server.port": fake.port,
        }
        me = {**base, "url.template": "/me"}
        task = {**base, "url.template": "/organizations/{org}/tasks/{task}"}
        async with TallyfyClient(fake.token, base_url=fake.base_url, hooks=[otel.hooks]) as client:
            calls = [asyncio.ensure_future(client.me()) for _ in range(3)]
            calls.append(asyncio.ensure_future(client.tasks.get(org, "0" * 32)))  # a 404
            await asyncio.sleep(0.5)  # virtual: every call is waiting for its answer
            assert sorted(otel.points()["http.client.active_requests"], key=repr) == sorted(
                [(me, 3), (task, 1)], key=repr
            )
            results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[3], NotFoundError)
    assert sorted(otel.points()["http.client.active_requests"], key=repr) == sorted(
        [(me, 0), (task, 0)], key=repr
    )


async def test_single_attempt_calls_record_their_limiter_wait_once_success_or_not() -> None:
    """A call that ends in one attempt (a success, a 404) records its limiter wait at its
    end: one histogram point per attempt, and the wait event when it queued."""
    otel = Telemetry()
    async with FakeTallyfy(orgs=1, tasks_per_org=2) as fake:
        org = fake.data.org_ids[0]
        async with TallyfyClient(
            fake.token,
            base_url=fake.base_url,
            hooks=[otel.hooks],
            rate_limits=[RateLimit(1, 2.0)],  # the second call queues a whole window
        ) as client:
            await client.me()
            with pytest.raises(NotFoundError):
                await client.tasks.get(org, "0" * 32)
    me, missing = otel.finished()
    assert [e.name for e in me.events] == []
    assert [(e.name, dict(e.attributes or {})) for e in missing.events] == [
        (
            "aiotallyfy.limiter.wait",
            {"aiotallyfy.attempt": 1, "aiotallyfy.wait": pytest.approx(2.0, abs=0.1)},
        )
    ]
    assert (missing.attributes or {})["aiotallyfy.limiter.wait"] == pytest.approx(2.0, abs=0.1)
    waits = otel.points()["aiotallyfy.client.limiter.wait"]
    assert sorted((a["url.template"], v[0]) for a, v in waits) == [
        ("/me", 1),
        ("/organizations/{org}/tasks/{task}", 1),
    ]
    assert "aiotallyfy.client.rate_limited" not in otel.points()
    assert "aiotallyfy.client.retries" not in otel.points()


class Told(RequestHooks[None]):
    """A second hook, told of everything: beside it, ``OpenTelemetryHooks`` is told through
    the generic observer's records."""

    def __init__(self) -> None:
        self.told: Counter[str] = Counter()

    def on_call_start(self, call: CallInfo) -> None:
        self.told["start"] += 1

    def on_attempt(self, state: None, attempt: AttemptInfo) -> None:
        self.told["attempt"] += 1

    def on_call_end(self, state: None, result: CallResult) -> None:
        self.told[result.outcome] += 1


def exported(otel: Telemetry, port: int) -> tuple[list[Any], list[Any]]:
    """Everything exported, ids and timestamps aside (the clock is virtual: durations are
    exact): each span's name, kind, status, attributes and events, and each metric point's
    attributes and value (a histogram's count, sum and bucket counts). The fake's port,
    which differs from fake to fake, reads ``"port"``."""

    def same_port(attributes: Any) -> dict[str, Any]:
        out = {k: round(v, 9) if isinstance(v, float) else v for k, v in (attributes or {}).items()}
        if "server.port" in out:
            assert out["server.port"] == port
            out["server.port"] = "port"
        return out

    spans = [
        (
            s.name,
            s.kind,
            s.status.status_code,
            s.status.description,
            same_port(s.attributes),
            [(e.name, same_port(e.attributes)) for e in s.events],
        )
        for s in otel.finished()
    ]
    data = otel.reader.get_metrics_data()
    assert data is not None
    points = sorted(
        (
            m.name,
            sorted(same_port(p.attributes).items()),
            (p.count, round(p.sum, 9), tuple(p.bucket_counts))
            if hasattr(p, "bucket_counts")
            else p.value,
        )
        for r in data.resource_metrics
        for sm in r.scope_metrics
        for m in sm.metrics
        for p in m.data.data_points
    )
    return spans, points


async def calls_of_every_ending(*hooks: RequestHooks[Any]) -> tuple[type, int]:
    """One of each: successes at the first attempt and after a 429 and a 503, a list's pages,
    a 404, a write whose outcome is unknown, a call cancelled mid-flight (40 ms latency: no
    duration near a bucket boundary; retry jitter at its ceiling). Returns the type of the
    client's observer and the fake's port."""
    async with FakeTallyfy(orgs=1, tasks_per_org=250, latency=0.04) as fake:
        org = fake.data.org_ids[0]
        first, retried, hung = fake.data.task_ids(org)[:3]
        fake.inject("429", path_contains=retried, retry_after=1)
        fake.inject("html_503", path_contains=retried)
        fake.inject("reset_after_apply", method="POST")
        fake.inject("hang", path_contains=hung, hang_seconds=30)
        async with TallyfyClient(
            fake.token, base_url=fake.base_url, hooks=hooks, rng=Top()
        ) as client:
            observer = type(client._core.observer)
            await client.me()
            await client.tasks.get(org, first)
            await client.tasks.get(org, retried)
            assert len(await client.tasks.list_mine(org).to_list()) > 100  # 2 pages
            with pytest.raises(NotFoundError):
                await client.tasks.get(org, "0" * 32)
            with pytest.raises(OutcomeUnknownError):
                await client.request("POST", f"/organizations/{org}/tasks", json={"t": "x"})
            pending = asyncio.create_task(client.tasks.get(org, hung))
            await asyncio.sleep(5)
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
        return observer, fake.port


async def test_alone_or_beside_another_hook_the_same_spans_and_points_are_exported() -> None:
    """Alone, ``OpenTelemetryHooks`` is told of a call's start and success by its own
    observer, straight from the request loop (no records); beside another hook, through the
    generic observer's records and its ``RequestHooks`` methods. Both must export exactly the
    same: every span (attributes, events, status) and every metric point."""
    from aiotallyfy._hooks import Observer
    from aiotallyfy.otel import _SoloObserver

    alone, beside = Telemetry(), Telemetry()
    observer, alone_port = await calls_of_every_ending(alone.hooks)
    assert observer is _SoloObserver
    told = Told()
    observer, beside_port = await calls_of_every_ending(beside.hooks, told)
    assert observer is Observer
    # 8 calls; 9 judged attempts (the retried call 3, the cancelled one none); 8 endings
    assert told.told == Counter(
        start=8, attempt=9, success=5, error=1, outcome_unknown=1, cancelled=1
    )
    spans, points = exported(alone, alone_port)
    assert (spans, points) == exported(beside, beside_port)
    assert [(name, status) for name, _, status, *_ in spans] == [
        ("GET /me", StatusCode.UNSET),
        (f"GET {ROUTE}", StatusCode.UNSET),
        (f"GET {ROUTE}", StatusCode.UNSET),
        ("GET /organizations/{org}/me/tasks", StatusCode.UNSET),
        ("GET /organizations/{org}/me/tasks", StatusCode.UNSET),
        (f"GET {ROUTE}", StatusCode.ERROR),
        ("POST /organizations/{org}/tasks", StatusCode.ERROR),
        (f"GET {ROUTE}", StatusCode.UNSET),  # cancelled: not an error
    ]
    outcomes = [attributes["aiotallyfy.outcome"] for *_, attributes, _ in spans]
    assert outcomes == [
        "success", "success", "success", "success", "success", "error", "outcome_unknown",
        "cancelled",
    ]  # fmt: skip
    assert [len(events) for *_, events in spans] == [0, 0, 5, 0, 0, 0, 0, 0]
    assert ("aiotallyfy.client.outcome_unknown", [], 1) not in points  # it has attributes
    assert sum(1 for name, *_ in points if name == "aiotallyfy.client.outcome_unknown") == 1


async def test_a_subclass_overriding_a_hook_method_is_observed_through_it(
    fake: FakeTallyfy,
) -> None:
    """A subclass that overrides a ``RequestHooks`` method gets the generic observer, so its
    override is called for every call, successes included."""
    from aiotallyfy._hooks import Observer

    called: list[str] = []

    class Counting(OpenTelemetryHooks):
        def on_call_end(self, state: Any, result: CallResult) -> None:
            called.append(result.outcome)
            super().on_call_end(state, result)

    otel = Telemetry()
    hooks = Counting(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    async with TallyfyClient(fake.token, base_url=fake.base_url, hooks=[hooks]) as client:
        assert type(client._core.observer) is Observer
        await client.me()
    assert called == ["success"]
    assert [s.name for s in otel.finished()] == ["GET /me"]


class BrokenTracer(trace.Tracer):
    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        raise RuntimeError("exporter misconfigured")

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("exporter misconfigured")


class BrokenTracerProvider(trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return BrokenTracer()


async def test_alone_a_hook_failing_at_start_is_logged_once_and_never_fails_a_call(
    fake: FakeTallyfy, caplog: pytest.LogCaptureFixture
) -> None:
    """The solo observer keeps the generic one's promise: a hook that raises is logged once
    and ignored, that call is not reported to it again (no metric point for it), and the
    calls themselves succeed."""
    from aiotallyfy.otel import _SoloObserver

    reader = InMemoryMetricReader()
    hooks = OpenTelemetryHooks(
        tracer_provider=BrokenTracerProvider(),
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    async with TallyfyClient(fake.token, base_url=fake.base_url, hooks=[hooks]) as client:
        assert type(client._core.observer) is _SoloObserver
        assert (await client.me())["id"]
        assert (await client.me())["id"]
    assert [r.getMessage() for r in caplog.records if "request hook" in r.getMessage()] == [
        "request hook OpenTelemetryHooks raised RuntimeError; ignored (further errors from "
        "it are not logged)"
    ]
    data = reader.get_metrics_data()
    names = [] if data is None else [
        m.name for r in data.resource_metrics for sm in r.scope_metrics for m in sm.metrics
    ]  # fmt: skip
    assert "http.client.request.duration" not in names  # no call was started, none ended
    assert trace.get_current_span() is trace.INVALID_SPAN
