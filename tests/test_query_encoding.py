"""The query string (``encode_query``): what Tallyfy reads back is exactly what was asked,
whatever was asked before it (encoded pieces are cached by key and value)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from aiotallyfy import _transport
from aiotallyfy._transport import encode_query


def decoded(query: str) -> list[tuple[str, str]]:
    """Read back the way a server that does not take ``+`` for a space does."""
    if not query:
        return []
    return [(unquote(k), unquote(v)) for k, v in (p.split("=", 1) for p in query.split("&"))]


def expected_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.text(max_size=12),
    st.lists(st.one_of(st.integers(0, 9), st.text(alphabet="ab ,", max_size=3)), max_size=3),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=5), max_size=4))
def test_each_query_reads_back_as_asked_whatever_came_before(queries: list[dict[str, Any]]) -> None:
    for params in queries * 2:  # the second time round every piece comes from the cache
        query = encode_query(params)
        assert "+" not in query.replace("%2B", "")
        assert " " not in query
        assert decoded(query) == [(k, expected_text(v)) for k, v in params.items() if v is not None]


def test_a_bool_is_never_taken_for_the_int_it_equals() -> None:
    assert [encode_query({"x": v}) for v in (1, True, 1, False, 0, True)] == [
        "x=1", "x=true", "x=1", "x=false", "x=0", "x=true",
    ]  # fmt: skip


def test_the_piece_cache_is_bounded() -> None:
    for n in range(3 * _transport._PIECE_CACHE_LIMIT):
        assert encode_query({"q": f"term {n}", "page": n}) == f"q=term%20{n}&page={n}"
    assert len(_transport._pieces) <= _transport._PIECE_CACHE_LIMIT
