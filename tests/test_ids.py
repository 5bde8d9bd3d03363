"""Path-segment ids (``aiotallyfy._ids.segment``): what reaches a URL is exactly a Tallyfy id.

Hypothesis settings: ``max_examples=300`` per property, no deadline (pure functions, a few ms
in all); the database is off so runs do not depend on earlier ones.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aiotallyfy import (
    APIStatusError,
    InvalidArgument,
    TallyfyError,
)
from aiotallyfy._ids import segment

ALLOWED = string.ascii_letters + string.digits + "_-"
PROPERTY = settings(max_examples=300, deadline=None, database=None)


@pytest.mark.parametrize("bad", ["abc\n", "abc\r\n", "\nabc", "abc\n\n", "a\nb", "abc\x00"])
def test_ids_with_line_breaks_or_nul_are_refused(bad: str) -> None:
    # L5: the pattern ended in "$", which in Python also matches before one trailing "\n",
    # so "abc\n" passed and GET /organizations/abc%0A/tasks was sent.
    with pytest.raises(InvalidArgument) as info:
        segment(bad, name="org_id")
    assert info.value.errors == {"org_id": ["invalid id"]}
    assert info.value.attempts == 0


@PROPERTY
@given(st.text(alphabet=ALLOWED, min_size=1, max_size=255))
def test_every_well_formed_id_passes_unchanged(value: str) -> None:
    assert segment(value, name="id") == value


@PROPERTY
@given(st.text(max_size=300))
@example("abc\n")
@example("a" * 256)
@example("")
def test_an_id_passes_exactly_when_it_is_1_to_255_allowed_characters(value: str) -> None:
    ok = 1 <= len(value) <= 255 and all(c in ALLOWED for c in value)
    try:
        result = segment(value, name="id")
    except InvalidArgument:
        assert not ok
    else:
        assert ok
        assert result == value
        assert re.fullmatch(r"[A-Za-z0-9_-]+", result)


@PROPERTY
@given(st.integers(min_value=0, max_value=10**30))
def test_non_negative_int_ids_pass_as_their_digits(value: int) -> None:
    assert segment(value, name="id") == str(value)


@pytest.mark.parametrize("bad", [True, 1.5, None, b"abc", ["a"]])
def test_non_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidArgument):
        segment(bad, name="id")  # type: ignore[arg-type]


def test_a_local_rejection_is_a_value_error_and_does_not_read_as_http() -> None:
    with pytest.raises(InvalidArgument) as info:
        segment("a/b", name="org_id")
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, TallyfyError)
    assert not isinstance(err, APIStatusError)  # no request, no status
    assert str(err) == "org_id 'a/b' is not a valid Tallyfy id"
    assert (err.field, err.errors, err.attempts) == ("org_id", {"org_id": ["invalid id"]}, 0)
