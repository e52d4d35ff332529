"""Durations as people write them: worked examples and properties (round trip, and
anything else is a ValueError naming the expected form, never another exception)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        (" 7D ", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_parse(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["", "6", "h", "6 hours", "0h", "-1h", "1.5h", "6hh", "PT6H"])
def test_refuse(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=9_999_999), st.sampled_from("smhdw"))
def test_round_trip(number: int, unit: str) -> None:
    value = parse_duration(f"{number}{unit}")
    assert parse_duration(format_duration(value)) == value


@given(st.text(max_size=20))
def test_anything_else_is_a_value_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError as e:
        assert "duration" in str(e)
    else:
        assert value > timedelta(0)
