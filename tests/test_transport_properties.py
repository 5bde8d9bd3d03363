"""Property tests (Hypothesis) for the pure checks of the transport layer: ``Retry-After``
parsing and the 429 decision, the base/token URL check, ``is_loopback`` and the redirect-target
rule. Settings: derandomized (the same examples on every run, so CI cannot flake), no deadline
(the machine is shared), 300 examples per property unless stated."""

from __future__ import annotations

import ipaddress
import math
import random
import string
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotallyfy import ClientCredentialsGrant, RetryPolicy
from aiotallyfy._retry import HTTPOutcome, Verdict, decide, parse_retry_after
from aiotallyfy._transport import (
    RedirectRefused,
    is_loopback,
    normalize_base_url,
    resolve_redirect,
)

PROPS = settings(max_examples=300, deadline=None, derandomize=True)
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

secrets = st.text(string.ascii_letters + string.digits + "-_.~", min_size=8, max_size=40)
schemes = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9+.-]{0,9}\Z")
hosts = st.sampled_from(
    ["go.tallyfy.com", "api.tallyfy.com", "127.0.0.1", "localhost", "[::1]", "10.1.2.3"]
)


# ----------------------------------------------------------------------------- Retry-After
@PROPS
@given(st.text(max_size=60))
def test_parse_retry_after_never_raises_and_never_returns_a_bad_number(text: str) -> None:
    value = parse_retry_after(text, now=NOW)
    assert value is None or (math.isfinite(value) and value >= 0.0)


@PROPS
@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_parse_retry_after_reads_delta_seconds(seconds: float) -> None:
    assert parse_retry_after(repr(seconds), now=NOW) == seconds
    assert parse_retry_after(f"  {seconds!r}\t", now=NOW) == seconds


@PROPS
@given(st.integers(min_value=-(10**6), max_value=10**7))
def test_parse_retry_after_reads_http_dates(offset: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=offset), usegmt=True)
    assert parse_retry_after(header, now=NOW) == max(0, offset)


@PROPS
@given(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.floats(min_value=0, max_value=1e4, allow_nan=False),
    st.integers(min_value=1, max_value=5),
    st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
)
def test_a_429_wait_is_honoured_up_to_the_cap_whatever_the_budget_spent(
    retry_after: float, elapsed: float, attempt: int, method: str
) -> None:
    """M5: a server-directed wait up to ``retry_after_cap`` is not charged to the budget;
    beyond the cap the call fails at once; ``max_retries`` still counts."""
    policy = RetryPolicy()
    d = decide(
        policy,
        method=method,
        attempt=attempt,
        outcome=HTTPOutcome(429, retry_after=retry_after),
        elapsed=elapsed,
        rng=random.Random(attempt),
    )
    if retry_after > policy.retry_after_cap:
        assert d.verdict is Verdict.FAIL
    else:
        assert d.verdict is Verdict.RETRY
        assert retry_after <= d.delay <= retry_after + 2.0
        assert d.pause_scope == d.delay
        assert d.budgeted is False


@PROPS
@given(st.integers(min_value=100, max_value=399), st.sampled_from(["GET", "POST", "DELETE"]))
def test_only_2xx_is_success(status: int, method: str) -> None:
    d = decide(
        RetryPolicy(),
        method=method,
        attempt=1,
        outcome=HTTPOutcome(status),
        elapsed=0.0,
        rng=random.Random(0),
    )
    expected = Verdict.SUCCESS if 200 <= status < 300 else Verdict.FAIL
    assert d.verdict is expected


# ----------------------------------------------------------------------------- URL checks
@PROPS
@given(st.text(max_size=80))
def test_the_base_url_check_raises_only_value_error(text: str) -> None:
    try:
        url = normalize_base_url(text)
    except ValueError:
        return
    scheme, _, rest = url.partition("://")
    assert scheme in ("http", "https")
    assert "@" not in rest.split("/", 1)[0]
    assert "?" not in url
    assert "#" not in url


@PROPS
@given(schemes, st.text(string.ascii_letters, min_size=1, max_size=10), secrets, hosts)
def test_a_url_with_credentials_is_refused_without_echoing_them(
    scheme: str, user: str, password: str, host: str
) -> None:
    """L3: whatever the scheme, the message never shows the userinfo."""
    url = f"{scheme}://{user}:{password}@{host}/api"
    with pytest.raises(ValueError, match="credentials") as info:
        normalize_base_url(url)
    assert password not in str(info.value)
    with pytest.raises(ValueError, match="credentials") as token_info:
        ClientCredentialsGrant(client_id="1", client_secret="s", token_url=url)
    assert password not in str(token_info.value)


@PROPS
@given(st.ip_addresses())
def test_is_loopback_agrees_with_ipaddress(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    text = str(ip)
    assert is_loopback(text) is ip.is_loopback
    if ip.version == 6:
        assert is_loopback(f"[{text}]") is ip.is_loopback


@PROPS
@given(st.from_regex(r"\A127\.[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){0,3}\Z"))
def test_a_name_that_starts_like_loopback_is_not_loopback(host: str) -> None:
    """L4: ``127.evil.example`` is a DNS name that can resolve anywhere."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        assert is_loopback(host) is False
        with pytest.raises(ValueError, match="refusing plain http://"):
            normalize_base_url(f"http://{host}/api")


def test_loopback_names() -> None:
    for host in ("localhost", "LOCALHOST", "127.0.0.1", "127.9.9.9", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("127.evil.example", "localhost.evil.example", "0x7f000001", "127.1", "", None):
        assert not is_loopback(host), host


# ----------------------------------------------------------------------------- redirects
BASE = "https://go.tallyfy.com/api"
CURRENT = "https://go.tallyfy.com/api/organizations/o1/tasks"


@PROPS
@given(st.text(max_size=80))
def test_a_redirect_target_stays_on_the_base_origin_and_path(location: str) -> None:
    """Any Location text either resolves to the base URL's origin, under its path, without
    userinfo, or is refused with ``RedirectRefused`` (never a bare ``ValueError``)."""
    try:
        target = resolve_redirect(CURRENT, location, base_url=BASE)
    except RedirectRefused:
        return
    assert target == BASE or target.startswith(BASE + "/")


@PROPS
@given(
    st.sampled_from(["http", "https", "HTTPS", "ftp"]),
    st.sampled_from(
        ["go.tallyfy.com", "go.tallyfy.com:443", "go.tallyfy.com:8443", "evil.example"]
    ),
    st.from_regex(r"\A(/[a-z0-9]{1,8}){0,3}\Z"),
)
def test_a_redirect_target_is_followed_only_to_the_same_origin(
    scheme: str, netloc: str, path: str
) -> None:
    location = f"{scheme}://{netloc}/api{path}"
    same = scheme.lower() == "https" and netloc in ("go.tallyfy.com", "go.tallyfy.com:443")
    try:
        target = resolve_redirect(CURRENT, location, base_url=BASE)
    except RedirectRefused:
        assert not same
    else:
        assert same
        assert target == f"https://go.tallyfy.com/api{path}" or target.startswith(BASE + "/")
