"""Hypothesis properties of the ``X-RateLimit-*`` parsing (``_limits.parse_rate_limit_count``).

Settings: ``max_examples=300`` (100 for sequences of answers), ``derandomize=True`` (the same
examples on every run, so CI never fails on a new random draw), no example database, no
deadline (a loaded machine must not turn a slow example into a failure).
"""

from __future__ import annotations

import math
import string

from hypothesis import example, given, settings
from hypothesis import strategies as st

from aiotallyfy import Admission, LimitScope, LocalRateLimiter
from aiotallyfy._limits import MAX_RATE_LIMIT_COUNT, parse_rate_limit_count


class StillClock:
    """A clock that never moves (``observe`` reads the time to place pauses)."""

    def now(self) -> float:
        return 100.0

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("observe never sleeps")


SETTINGS = settings(max_examples=300, derandomize=True, database=None, deadline=None)
SPACE = st.text(alphabet=" \t", max_size=3)


@SETTINGS
@given(st.one_of(st.none(), st.text(), st.text(alphabet=string.digits + "+-_.,eE xX\t")))
@example("-1")
@example("١٢")  # Arabic-Indic digits: int() accepts them
@example("1_000")  # int() accepts underscores
@example("9" * 5000)  # int() refuses more than 4300 digits with ValueError
def test_any_header_text_is_none_or_a_sane_count(text: str | None) -> None:
    count = parse_rate_limit_count(text)
    assert count is None or (type(count) is int and 0 <= count <= MAX_RATE_LIMIT_COUNT)


@SETTINGS
@given(st.integers(min_value=0, max_value=MAX_RATE_LIMIT_COUNT), SPACE, SPACE)
def test_a_plain_decimal_count_reads_back_exactly(count: int, before: str, after: str) -> None:
    assert parse_rate_limit_count(f"{before}{count}{after}") == count


@SETTINGS
@given(st.text(min_size=1).filter(lambda t: not t.strip(" \t").isascii()))
def test_non_ascii_text_is_never_a_count(text: str) -> None:
    assert parse_rate_limit_count(text) is None


@settings(SETTINGS, max_examples=100)  # each example is up to 20 answers
@given(
    st.lists(
        st.tuples(
            st.sampled_from([200, 204, 404, 429, 503]),
            st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 50).map(str)),
            st.one_of(st.none(), st.floats(allow_nan=True), st.floats(0, 120)),
        ),
        max_size=20,
    )
)
def test_any_sequence_of_answers_leaves_the_gate_sane(
    answers: list[tuple[int, str | None, float | None]],
) -> None:
    """Whatever the server says, the remaining count the gate holds is None or >= 0, and the
    pause it asks for is a finite time (``observe`` is synchronous; admissions are built
    directly, in order, as the client would number them)."""
    limiter = LocalRateLimiter(clock=StillClock())
    scope = LimitScope(LimitScope.token_key_for("hypothesis"))
    state = limiter._feedback_state(scope)
    for sequence, (status, remaining_text, retry_after) in enumerate(answers, start=1):
        state.sent_sequence = sequence
        admission = Admission(scope=scope, sequence=sequence, sent_at=float(sequence))
        wait = None if retry_after is None or not math.isfinite(retry_after) else retry_after
        limiter.observe(
            admission,
            status=status,
            remaining=parse_rate_limit_count(remaining_text),
            retry_after=wait,
        )
        assert state.remaining is None or state.remaining >= 0
        assert not math.isnan(state.paused_until)
        assert state.paused_until < math.inf
