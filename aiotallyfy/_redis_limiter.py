"""A rate limiter shared by every process (and machine) that talks to one Redis.

Tallyfy counts requests per user token and per organization, not per process: four replicas
that each keep their own in-memory budget together send four times the limit and collect 429s.
``RedisRateLimiter`` keeps the budget in Redis and implements the same ``RateLimiter`` seam as
``LocalRateLimiter``, with the same two mechanisms, now shared:

1. **Pacing** (``acquire``): a GCRA reservation per ``RateLimit``, its tolerance the burst
   policy (``RateLimit.burst``; by default the whole window, so a job of N or fewer requests
   leaves at once, as locally). Every caller, in any process, gets its own slot in one queue
   and sleeps until it, so waiting requests never stampede Redis.
2. **The exact window guard** (``commit``, right before the request is written): a
   sliding-window log (a sorted set of send times) per ``RateLimit``. A request is recorded only
   if *every* window of *every* scope of the request (its token and its organization) has room;
   otherwise nothing is recorded and the script answers how long to wait. This is what makes
   "never more than N in any window of S seconds, across all processes" hold.

Both steps are one Lua script each, so each check-and-record is atomic in Redis: no other
process can slip in between reading a window and writing to it.

**One clock.** The scripts read Redis's own clock (``TIME``). Process clocks differ (each
host's monotonic clock starts at boot; wall clocks drift and step), so send times written by
one process would be meaningless to another. Only durations cross the wire: a script answers
"wait 0.4 s", and each process sleeps that long on its own clock. (``time_source="client"``
passes the caller's clock instead; that is only sound when every caller shares one clock, as
in tests on a virtual-time loop.)

**Margin, and a slow Redis.** As in the local limiter, each window is widened by a margin
``m = max(margin_min, S * margin_ratio)``: the server times a request when it arrives, not
when we send it. Half of ``m`` is kept for the way to Tallyfy (network jitter, the write after
``commit``). The other half absorbs the lag between a send's record (the script's time) and
the send itself: the way back of Redis's answer, and the event loop reading it. That lag is
the Redis round trip or more, so it is measured and declared rather than assumed:

- Each process keeps a smoothed round trip and its variation (RFC 6298, as TCP does for its
  retransmission timer) and allows an answer ``L = srtt + max(margin_min / 2, 4 * rttvar)``,
  at least ``margin_min / 2`` and at most ``max_redis_latency``.
- The script records the send at ``now + max(0, L - m/2)``: the record carries its own
  process's possible lag, so every *other* process, near Redis or far, counts it long enough.
- The admission stands if its answer came back within ``L``, measured from before the call
  (so ``send - script time <= L``). Otherwise the record is withdrawn and asked again with
  twice the allowance; after 3 late answers Redis counts as unavailable for that admission
  and ``on_redis_error`` applies: a bounded number of tries, never a spin.

Why the window holds: take any N+1 sends and the one whose script ran last (scripts run one at
a time in Redis). It was admitted at script time ``T``, so one of the others, ``o``, had a
record at or before ``T - span`` (``span = S + m``). ``o`` left at most ``L_o`` after its
script time ``T_o`` and was recorded at ``T_o + max(0, L_o - m/2)``, so the two sends are at
least ``T - T_o - L_o >= span - m/2 = S + m/2`` apart: more than S, with ``m/2`` to spare for
the network. Only ``o``'s own ``L`` appears in that sum, which is why each record declares its
own lag instead of each check assuming one. A consistently stalled event loop reads every
answer late, so its measured round trip grows and it is covered the same way.

Pacing reserves one scope at a time, the organization first: a reservation is a place in a
queue, and holding a place in the token's queue while waiting for a busy organization would
hold back the token's requests to every other organization. So an admission costs one round
trip per scope for pacing plus one for the window guard (``benchmarks/limiter_overhead.py``).

**Keys** (all in one Redis Cluster hash slot, thanks to the ``{prefix}`` hash tag, since one
script touches a token's and an org's keys together)::

    {aiotallyfy}:token:<token_key>:log:<seconds>    sorted set of send times
    {aiotallyfy}:token:<token_key>:pace:<seconds>   GCRA theoretical arrival time
    {aiotallyfy}:token:<token_key>:pause            pause-until (a 429's Retry-After)
    {aiotallyfy}:org:<org_id>:...                   the same per organization

``token_key`` is ``LimitScope.token_key``, a hash: the token never reaches Redis. Every key
has a TTL a little longer than the time it matters, so idle scopes disappear by themselves.
Processes sharing a prefix should be configured with the same limits: a log is trimmed to the
window of whoever writes to it.

**Server feedback** is ``_feedback.ServerFeedback``, as in the local limiter: this process's
copy of pauses, limits learned from bare 429s, and the opt-in remaining gate.

**429 feedback is shared.** ``pause(scope, seconds)`` writes a pause-until time (Redis clock)
that both scripts of every process honour, so one process's ``Retry-After`` holds them all.

**The ``X-RateLimit-Remaining`` gate is off by default** (``remaining_gate=True`` turns on a
process-local one, as in ``LocalRateLimiter``). The count the server reports includes every
process's requests; with the budget shared exactly, the window is often full for a moment,
and a gate in one process cannot tell that from "the limit is lower than we were told". It
closes, probes with a growing wait, and starves that process while the others carry on
(measured: one of four workers took 33 s instead of 5 s). The shared window bounds the rate;
if the configured limit is above the server's, the first 429's ``Retry-After`` pauses every
process, as above.

**Redis unavailable** (an error, a ``socket_timeout``, or 3 answers for one admission later
than ``max_redis_latency``). ``on_redis_error`` is the caller's choice:

- ``"fallback"`` (default): log one warning, then limit with an in-process ``LocalRateLimiter``
  (``fallback``; by default one with the same limits; pass one with a share of the budget, e.g.
  N / number of processes, to stay under the limit while Redis is away), and try Redis again
  every ``retry_interval`` seconds; an info line says when it is back. The fallback counts
  this process's Redis-admitted sends too, so it takes over mid-window knowing them. Requests
  never fail because of Redis; at worst processes together exceed the limit and the retry
  layer handles the 429s.
- ``"fail_closed"``: raise ``RateLimiterUnavailableError`` from ``acquire``/``commit``; nothing
  is sent without the shared budget's consent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ._clock import Clock, LoopClock
from ._errors import TallyfyError
from ._feedback import FeedbackScope, ServerFeedback
from ._limit_types import EPSILON, Admission, LimitScope, RateLimit, Route, window_span
from ._limits import DEFAULT_TOKEN_RATE_LIMITS, LocalRateLimiter

__all__ = ["RateLimiterUnavailableError", "RedisRateLimiter"]

logger = logging.getLogger("aiotallyfy")

OnRedisError = Literal["fallback", "fail_closed"]
TimeSource = Literal["redis", "client"]

# The time every script works on: Redis's clock, or the caller's (ARGV[1] non-empty).
# ``replicate_commands`` lets Redis < 5 replicate a script that reads TIME and then writes;
# later versions always do and keep the call as a no-op.
_NOW = """
local now = tonumber(ARGV[1])
if now == nil then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local npause = tonumber(ARGV[2])
local held = 0
for i = 1, npause do
  local p = tonumber(redis.call('GET', KEYS[i]))
  if p ~= nil and p - now > held then held = p - now end
end
if held > 0 then return {'paused', string.format('%.9f', held)} end
"""

# Pacing, GCRA over every window at once. KEYS: pause keys, then one pace key per window.
# ARGV: now, npause, then per window: emission interval, tolerance. Reserves the earliest
# start that every window allows and answers how long until it.
_PACE_SCRIPT = (
    _NOW
    + """
local start = now
local tats = {}
for i = npause + 1, #KEYS do
  local j = 3 + (i - npause - 1) * 2
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  tats[i] = tat
  local allow = tat - tonumber(ARGV[j + 1])
  if allow > start then start = allow end
end
for i = npause + 1, #KEYS do
  local j = 3 + (i - npause - 1) * 2
  local tat = tats[i]
  if tat < start then tat = start end
  local new = tat + tonumber(ARGV[j])
  redis.call('SET', KEYS[i], string.format('%.6f', new),
             'PX', math.ceil((new - now) * 1000) + 1000)
end
return {'ok', string.format('%.9f', start - now)}
"""
)

# The exact guard, a sliding-window log per window. KEYS: pause keys, then one log key per
# window. ARGV: now, npause, member (unique per send), L (the lag this process allows its
# answer), then per window: limit, span, half margin. Admits only if every window has fewer
# than ``limit`` records after ``now - span``; else answers the wait until the fullest frees a
# place. A send is recorded at ``now + max(0, L - half margin)`` (see "Margin" above). The
# check always uses the true ``now``: records in the future (another process's lag) are
# counted, and a Redis clock stepped back only makes older records count longer.
_ADMIT_SCRIPT = (
    _NOW
    + """
local late = tonumber(ARGV[4])
local wait = 0
for i = npause + 1, #KEYS do
  local j = 5 + (i - npause - 1) * 3
  local limit = tonumber(ARGV[j])
  local span = tonumber(ARGV[j + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%.6f', now - span))
  local n = redis.call('ZCARD', KEYS[i])
  if n >= limit then
    local e = redis.call('ZRANGE', KEYS[i], n - limit, n - limit, 'WITHSCORES')
    local w = tonumber(e[2]) + span - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return {'wait', string.format('%.9f', wait)} end
for i = npause + 1, #KEYS do
  local j = 5 + (i - npause - 1) * 3
  local span = tonumber(ARGV[j + 1])
  local lag = late - tonumber(ARGV[j + 2])
  if lag < 0 then lag = 0 end
  redis.call('ZADD', KEYS[i], string.format('%.6f', now + lag), ARGV[3])
  redis.call('PEXPIRE', KEYS[i], math.ceil((span + lag) * 1000) + 1000)
end
return {'ok', string.format('%.6f', now)}
"""
)

# Take a send back out of every log (KEYS): its answer came back too late, or never reached
# a caller that was cancelled meanwhile.
_WITHDRAW_SCRIPT = """
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 'ok'
"""

# A shared pause: KEYS[1] the pause key; ARGV: now, seconds. Only ever extends a pause.
_PAUSE_SCRIPT = """
local now = tonumber(ARGV[1])
if now == nil then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local seconds = tonumber(ARGV[2])
local new = now + seconds
local cur = tonumber(redis.call('GET', KEYS[1]))
if cur == nil or new > cur then
  redis.call('SET', KEYS[1], string.format('%.6f', new), 'PX', math.ceil(seconds * 1000) + 1000)
end
return string.format('%.6f', new)
"""

_CREDENTIALS = re.compile(r"//[^/@\s]*@")

# Late answers for one admission before Redis counts as unavailable for it.
_MAX_LATE_ANSWERS = 3


class RateLimiterUnavailableError(TallyfyError):
    """The shared (Redis) rate limiter could not be reached and the caller chose
    ``on_redis_error="fail_closed"``: the request was not sent."""


class _RedisDown(Exception):
    """Internal: Redis failed and the fallback takes over for this call."""


class RedisTooSlow(Exception):
    """Internal: Redis answers too late for a record to stand for the send (a warning's or
    a ``RateLimiterUnavailableError``'s cause, never raised to the caller)."""


class _RoundTrips:
    """The smoothed Redis round trip and its variation, as TCP estimates them for its
    retransmission timer (RFC 6298: gains 1/8 and 1/4, ``srtt + max(G, 4 * rttvar)``)."""

    __slots__ = ("rttvar", "srtt")

    def __init__(self) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0

    def add(self, sample: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = sample, sample / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - sample)
            self.srtt = 0.875 * self.srtt + 0.125 * sample

    def allowance(self, granularity: float) -> float:
        if self.srtt is None:
            return granularity
        return self.srtt + max(granularity, 4 * self.rttvar)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The keys and arguments of one scope's scripts, computed once per scope."""

    pause_keys: tuple[str, ...]
    # Pacing per scope, the organization first: (pace keys, pace args) for each.
    pace: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    log_keys: tuple[str, ...]
    log_args: tuple[str, ...]
    feedback_pause_key: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    """An error's type and message, with any ``user:password@`` of a URL removed."""
    message = _CREDENTIALS.sub("//***@", str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class RedisRateLimiter:
    """Per-token and per-organization ``RateLimit`` sets, shared through Redis.

    ::

        limiter = RedisRateLimiter.from_url("redis://127.0.0.1:6379/0", [RateLimit(600, 60)])
        async with TallyfyClient(token, limiter=limiter) as client:
            ...

    ``redis`` is a URL (the limiter then owns the connection and closes it in ``aclose``) or a
    ``redis.asyncio.Redis`` client (left open). See the module docstring for the design, the
    key layout and the ``on_redis_error`` policies.
    """

    def __init__(
        self,
        redis: str | aioredis.Redis,
        token_limits: Sequence[RateLimit] = DEFAULT_TOKEN_RATE_LIMITS,
        org_limits: Sequence[RateLimit] = (),
        *,
        key_prefix: str = "aiotallyfy",
        on_redis_error: OnRedisError = "fallback",
        fallback: LocalRateLimiter | None = None,
        retry_interval: float = 5.0,
        time_source: TimeSource = "redis",
        socket_timeout: float | None = 0.5,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        margin_ratio: float = 0.01,
        margin_min: float = 0.05,
        feedback_scope: FeedbackScope = "token",
        probe_initial: float = 0.5,
        probe_max: float = 30.0,
        remaining_gate: bool = False,
        max_redis_latency: float = 0.5,
    ) -> None:
        if on_redis_error not in ("fallback", "fail_closed"):
            raise ValueError("on_redis_error must be 'fallback' or 'fail_closed'")
        if time_source not in ("redis", "client"):
            raise ValueError("time_source must be 'redis' or 'client'")
        if retry_interval <= 0:
            raise ValueError("retry_interval must be > 0")
        if not max_redis_latency > 0:
            raise ValueError("max_redis_latency must be > 0")
        if not key_prefix:
            raise ValueError("key_prefix must not be empty")
        self._token_limits = tuple(token_limits)
        self._org_limits = tuple(org_limits)
        self._prefix = "{" + key_prefix.strip("{}") + "}"
        self._on_redis_error: OnRedisError = on_redis_error
        self._retry_interval = retry_interval
        self._time_source: TimeSource = time_source
        self._clock = clock or LoopClock()
        self._rng = rng or random.Random()
        self._margin_ratio = margin_ratio
        self._margin_min = margin_min
        self._feedback_scope: FeedbackScope = feedback_scope
        if isinstance(redis, str):
            self._redis: aioredis.Redis = aioredis.Redis.from_url(
                redis,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                # One immediate retry heals a pooled connection that Redis closed (a restart);
                # more would only delay noticing that Redis is gone.
                retry=Retry(NoBackoff(), 1),
            )
            self._owns_redis = True
        else:
            self._redis = redis
            self._owns_redis = False
        self._pace = self._redis.register_script(_PACE_SCRIPT)
        self._admit = self._redis.register_script(_ADMIT_SCRIPT)
        self._pause_script = self._redis.register_script(_PAUSE_SCRIPT)
        self._withdraw = self._redis.register_script(_WITHDRAW_SCRIPT)
        # How late a send may leave after its script ran (see "Margin" in the module
        # docstring): half the margin at least, the measured round trip as it grows, and
        # never more than ``max_redis_latency``.
        self._half_margin = margin_min / 2
        self._max_latency = max_redis_latency
        self._round_trips = _RoundTrips()
        # The process-local part of the server's feedback: a local copy of our own pauses
        # (effective before the Redis write lands), limits learned from bare 429s, and the
        # opt-in X-RateLimit-Remaining gate. The windows are Redis's.
        self._feedback = ServerFeedback(
            self._token_limits,
            self._org_limits,
            clock=self._clock,
            rng=self._rng,
            scope=feedback_scope,
            margin_ratio=margin_ratio,
            margin_min=margin_min,
            probe_initial=probe_initial,
            probe_max=probe_max,
            remaining_gate=remaining_gate,
        )
        self._fallback = fallback or LocalRateLimiter(
            self._token_limits,
            self._org_limits,
            clock=self._clock,
            rng=self._rng,
            margin_ratio=margin_ratio,
            margin_min=margin_min,
            feedback_scope=feedback_scope,
            probe_initial=probe_initial,
            # Several processes fall back at once and share the server's count: a long probe
            # backoff of the remaining-gate would starve one of them (see above).
            probe_max=min(probe_max, 1.0),
        )
        self._plans: dict[tuple[str, str | None], _Plan] = {}
        self._member_prefix = uuid.uuid4().hex[:12]
        self._members = 0
        self._down = False
        self._retry_at = 0.0
        self._probing = False
        self._closed = False
        self._background: set[asyncio.Task[None]] = set()
        self.stats: dict[str, int] = {
            "redis_admissions": 0,
            "fallback_admissions": 0,
            "commit_waits": 0,
            "late_withdrawn": 0,
            "shared_pauses": 0,
            "outages": 0,
        }
        """Counters for diagnostics and benchmarks."""

    @classmethod
    def from_url(
        cls,
        url: str,
        token_limits: Sequence[RateLimit] = DEFAULT_TOKEN_RATE_LIMITS,
        org_limits: Sequence[RateLimit] = (),
        **kwargs: Any,
    ) -> RedisRateLimiter:
        """A limiter on its own connection to ``url`` (``redis://``, ``rediss://``,
        ``unix://``), closed by ``aclose``. Takes the constructor's keyword arguments."""
        return cls(url, token_limits, org_limits, **kwargs)

    def __repr__(self) -> str:
        return (
            f"RedisRateLimiter(key_prefix={self._prefix!r}, "
            f"token_limits={[str(x) for x in self._token_limits]}, "
            f"org_limits={[str(x) for x in self._org_limits]}, "
            f"on_redis_error={self._on_redis_error!r}, "
            f"mode={'fallback' if self._down else 'redis'!r})"
        )

    @property
    def using_fallback(self) -> bool:
        """True while Redis is unavailable and the local fallback limits requests."""
        return self._down

    @property
    def fallback(self) -> LocalRateLimiter:
        return self._fallback

    # -- keys ----------------------------------------------------------------------------
    def _plan(self, scope: LimitScope) -> _Plan:
        cache_key = (scope.token_key, scope.org_id)
        plan = self._plans.get(cache_key)
        if plan is not None:
            return plan
        token_base = f"{self._prefix}:token:{scope.token_key}"
        # (key base, limits) per scope; the org, when there is one, comes first as locally.
        scopes: list[tuple[str, tuple[RateLimit, ...]]] = []
        if scope.org_id is not None:
            scopes.append((f"{self._prefix}:org:{scope.org_id}", self._org_limits))
        scopes.append((token_base, self._token_limits))
        pause_keys = tuple(f"{base}:pause" for base, _ in scopes)
        pace: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        log_keys: list[str] = []
        log_args: list[str] = []
        for base, limits in scopes:
            pace_keys: list[str] = []
            pace_args: list[str] = []
            for limit in limits:
                span = window_span(limit, self._margin_ratio, self._margin_min)
                interval = span / limit.requests
                pace_keys.append(f"{base}:pace:{limit.seconds:g}")
                pace_args += [repr(interval), repr((limit.effective_burst - 1) * interval)]
                log_keys.append(f"{base}:log:{limit.seconds:g}")
                log_args += [str(limit.requests), repr(span), repr((span - limit.seconds) / 2)]
            if pace_keys:
                pace.append((tuple(pace_keys), tuple(pace_args)))
        feedback = pause_keys[0] if self._feedback_scope == "org" else pause_keys[-1]
        plan = _Plan(
            pause_keys,
            tuple(pace),
            tuple(log_keys),
            tuple(log_args),
            feedback,
        )
        self._plans[cache_key] = plan
        return plan

    def _now_arg(self) -> str:
        return repr(self._clock.now()) if self._time_source == "client" else ""

    # -- Redis calls and the outage policy -------------------------------------------------
    async def _run(self, script: Any, keys: Sequence[str], args: Sequence[str]) -> list[str]:
        """Run a script; on a Redis failure apply the policy (raise, or ``_RedisDown``).
        Every answer's round trip feeds the estimate of how late answers may come."""
        started = self._clock.now()
        try:
            result = await script(keys=list(keys), args=list(args))
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
            raise _RedisDown from exc
        self._round_trips.add(self._clock.now() - started)
        return [_text(x) for x in result] if isinstance(result, list) else [_text(result)]

    def _redis_back(self) -> None:
        """An admission went through Redis in time: the fallback steps down."""
        if self._down:
            self._down = False
            logger.info("Redis rate limiter is reachable again; shared limits are back in force")

    def _late_after(self) -> float:
        allowance = self._round_trips.allowance(self._half_margin)
        return min(self._max_latency, max(self._half_margin, allowance))

    def _redis_failed(self, exc: BaseException) -> None:
        if self._on_redis_error == "fail_closed":
            raise RateLimiterUnavailableError(
                f"the shared rate limiter (Redis) is unavailable ({_describe(exc)}); "
                "nothing was sent (on_redis_error='fail_closed')"
            ) from exc
        self._retry_at = self._clock.now() + self._retry_interval
        if not self._down:
            self._down = True
            self.stats["outages"] += 1
            logger.warning(
                "Redis rate limiter unavailable (%s); limiting in this process only until it "
                "is back (retrying every %gs)",
                _describe(exc),
                self._retry_interval,
            )

    def _redis_route(self) -> Route:
        """How this call should go: via Redis when it is up; while it is down, one call per
        ``retry_interval`` probes it (the others keep to the fallback)."""
        if not self._down:
            return "redis"
        if self._probing or self._clock.now() < self._retry_at:
            return "fallback"
        self._probing = True
        return "probe"

    # -- the RateLimiter interface -------------------------------------------------------
    async def acquire(self, scope: LimitScope) -> Admission:
        started = self._clock.now()
        route = self._redis_route()
        if route != "fallback":
            probing = route == "probe"
            try:
                await self._paced(scope)
            except _RedisDown:
                route = "fallback"
            finally:
                if probing:
                    self._probing = False
        if route == "fallback":
            admission = await self._fallback.acquire(scope)
            admission.route = "fallback"
        else:
            # A probe stays a probe until its commit: pacing answering in time says nothing
            # about whether the window guard's answers will.
            state = self._feedback.state(scope)
            await self._feedback.wait(state)
            admission = Admission(scope=scope, sequence=self._feedback.take(state), route=route)
        admission.waited = self._clock.now() - started
        return admission

    async def _paced(self, scope: LimitScope) -> None:
        """Reserve a pacing slot in every window (waiting out shared pauses first).

        One scope at a time, the organization first, as in the local limiter: a reservation
        is a place in a queue, and holding a place in the token's queue while waiting for a
        busy organization would hold back the token's requests to every other organization.
        """
        plan = self._plan(scope)
        npause = str(len(plan.pause_keys))
        for pace_keys, pace_args in plan.pace or (((), ()),):
            keys = plan.pause_keys + pace_keys
            while True:
                args = (self._now_arg(), npause, *pace_args)
                status, wait_text = await self._run(self._pace, keys, args)
                wait = float(wait_text)
                if status != "ok":
                    # Paused: always sleep, however little is left, or a pause ending within
                    # a microsecond would be asked about again and again at the same instant.
                    await self._clock.sleep(max(EPSILON, wait))
                    continue
                if wait > EPSILON:
                    await self._clock.sleep(wait)
                break  # the slot is ours once the wait is over

    async def commit(self, admission: Admission) -> None:
        route = admission.route
        if route == "probe" or (route == "redis" and not self._down):
            started = self._clock.now()
            try:
                await self._admitted(admission.scope)
            except _RedisDown:
                pass
            else:
                now = self._clock.now()
                admission.route = "redis"
                admission.waited += now - started
                admission.sent_at = now
                self.stats["redis_admissions"] += 1
                self._feedback.sent(self._feedback.state(admission.scope), now)
                # The fallback counts this process's sends too: if Redis goes away mid-window,
                # it takes over knowing what this process already sent.
                self._fallback.note_sent(admission.scope)
                self._redis_back()
                return
        admission.route = "fallback"
        await self._fallback.commit(admission)
        self.stats["fallback_admissions"] += 1

    async def _admitted(self, scope: LimitScope) -> None:
        """Record the send in every window, waiting while any of them is full.

        An answer later than the lag it declared is withdrawn and asked again with twice the
        allowance; after ``_MAX_LATE_ANSWERS`` late answers Redis is unavailable for this
        admission (the module docstring, "Margin", says why the window holds).
        """
        plan = self._plan(scope)
        keys = plan.pause_keys + plan.log_keys
        npause = str(len(plan.pause_keys))
        late_after = self._late_after()
        late: list[float] = []
        while True:
            self._members += 1
            member = f"{self._member_prefix}:{self._members}"
            asked = self._clock.now()
            now_arg = repr(asked) if self._time_source == "client" else ""
            args = (now_arg, npause, member, repr(late_after), *plan.log_args)
            try:
                status, value = await self._run(self._admit, keys, args)
            except asyncio.CancelledError:
                self._withdraw_later(plan.log_keys, member)  # it may have been recorded
                raise
            elapsed = self._clock.now() - asked
            if status != "ok":
                self.stats["commit_waits"] += 1
                await self._clock.sleep(max(EPSILON, float(value)))
                continue
            if elapsed <= late_after:
                return
            self.stats["late_withdrawn"] += 1
            await self._run(self._withdraw, plan.log_keys, (member,))
            late.append(elapsed)
            if len(late) >= _MAX_LATE_ANSWERS:
                self._redis_failed(
                    RedisTooSlow(
                        f"{len(late)} answers took "
                        f"{', '.join(f'{t:.3f}' for t in late)} s; a send may leave at most "
                        f"max_redis_latency={self._max_latency:g} s after its record"
                    )
                )
                raise _RedisDown
            late_after = min(self._max_latency, max(self._late_after(), 2 * late_after))

    def _withdraw_later(self, keys: Sequence[str], member: str) -> None:
        if self._closed:
            return
        self._in_background(self._withdraw_quietly(keys, member))

    async def _withdraw_quietly(self, keys: Sequence[str], member: str) -> None:
        with contextlib.suppress(_RedisDown, RateLimiterUnavailableError):
            await self._run(self._withdraw, keys, (member,))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def release(self, admission: Admission) -> None:
        """Give back the remaining-gate place of an admission that will never be sent (the
        Redis pacing reservation is spent: a place in a queue that has already moved on)."""
        if admission.route == "fallback":
            self._fallback.release(admission)
        else:
            self._feedback.release(admission)

    def observe(
        self,
        admission: Admission,
        *,
        status: int | None,
        remaining: int | None,
        retry_after: float | None,
    ) -> None:
        if admission.route == "fallback":
            self._fallback.observe(
                admission, status=status, remaining=remaining, retry_after=retry_after
            )
            return
        pause = self._feedback.observe(
            admission, status=status, remaining=remaining, retry_after=retry_after
        )
        if pause is not None:
            # A bare 429's probe pause: every process holds the scope briefly, so the queues
            # do not storm.
            self.pause(admission.scope, pause)

    def pause(self, scope: LimitScope, seconds: float) -> None:
        """Hold ``scope`` for ``seconds`` here at once, and in every process via Redis."""
        seconds = max(0.0, seconds)
        self._feedback.pause(self._feedback.state(scope), seconds)
        self._fallback.pause(scope, seconds)
        if self._down or self._closed:
            return
        self._in_background(self._share_pause(scope, seconds))

    async def _share_pause(self, scope: LimitScope, seconds: float) -> None:
        key = self._plan(scope).feedback_pause_key
        try:
            await self._run(self._pause_script, (key,), (self._now_arg(), repr(seconds)))
        except (_RedisDown, RateLimiterUnavailableError):
            return  # reported by _redis_failed; the local pause still holds this process
        self.stats["shared_pauses"] += 1

    async def aclose(self) -> None:
        """Finish writing pauses, release waiters, and close the connection if we opened it."""
        if self._closed:
            return
        self._closed = True
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        self._feedback.close()
        await self._fallback.aclose()
        if self._owns_redis:
            await self._redis.aclose()

    def snapshot(self) -> dict[str, object]:
        """Counters for diagnostics: Redis vs fallback admissions, waits, pauses, outages."""
        return {
            "mode": "fallback" if self._down else "redis",
            **self.stats,
            "feedback": self._feedback.snapshot(),
            "fallback": self._fallback.snapshot(),
        }
