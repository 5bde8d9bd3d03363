"""``TallyfyClient``'s options: combinations that used to be ignored silently now raise, and
overrides keep every other field of the policy they override (issue 11, item 4)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from aiotallyfy import LocalRateLimiter, RateLimit, RetryPolicy, TallyfyClient


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("rate_limits", [RateLimit(10, 1.0)]),
        ("org_rate_limits", [RateLimit(5, 1.0)]),
        ("rate_limit_feedback", "org"),
    ],
)
def test_limiter_with_limit_options_is_refused(option: str, value: Any) -> None:
    limiter = LocalRateLimiter([RateLimit(100, 60.0)])
    with pytest.raises(ValueError, match=f"{option} would be ignored"):
        TallyfyClient("tok", limiter=limiter, **{option: value})


async def test_limiter_alone_is_the_one_used() -> None:
    limiter = LocalRateLimiter([RateLimit(100, 60.0)])
    client = TallyfyClient("tok", limiter=limiter)
    try:
        assert client.limiter is limiter
    finally:
        await client.aclose()


def test_retry_overrides_keep_every_other_policy_field() -> None:
    base = RetryPolicy(
        max_retries=2,
        backoff_base=0.1,
        backoff_cap=3.0,
        retry_after_cap=30.0,
        total_budget=10.0,
        retry_statuses=frozenset({503}),
        idempotent_methods=frozenset({"GET", "PUT"}),
    )
    client = TallyfyClient("tok", retry_policy=base, max_retries=7, retry_budget=99.0)
    assert client.retry_policy == dataclasses.replace(base, max_retries=7, total_budget=99.0)


def test_unknown_feedback_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="feedback_scope must be 'token' or 'org'"):
        TallyfyClient("tok", rate_limit_feedback="user")  # type: ignore[arg-type]
