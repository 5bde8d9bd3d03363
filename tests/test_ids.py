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

from aiotallyfy import ValidationError
from aiotallyfy._ids import segment

ALLOWED = string.ascii_letters + string.digits + "_-"
PROPERTY = settings(max_examples=300, deadline=None, database=None)


@pytest.mark.parametrize("bad", ["abc\n", "abc\r\n", "\nabc", "abc\n\n", "a\nb", "abc\x00"])
def test_ids_with_line_breaks_or_nul_are_refused(bad: str) -> None:
    # L5: the pattern ended in "$", which in Python also matches before one trailing "\n",
    # so "abc\n" passed and GET /organizations/abc%0A/tasks was sent.
    with pytest.raises(ValidationError) as info:
        segment(bad, name="org_id")
    assert info.value.errors == {"org_id": ["invalid id"]}
    assert info.value.status == 0


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
    except ValidationError:
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
    with pytest.raises(ValidationError):
        segment(bad, name="id")  # type: ignore[arg-type]
