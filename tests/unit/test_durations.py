"""Durations are checked in one place: finite, positive, at most a year; never a traceback."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from makini_cli.durations import MAX_SECONDS, parse_duration
from makini_cli.errors import UsageError


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("1h30m", 5400.0), ("1d", 86400.0),
    ("250ms", 0.25), (" 2M ", 120.0), ("0.5s", 0.5),
])
def test_what_people_write_parses(text: str, seconds: float) -> None:
    assert parse_duration(text, flag="--x") == seconds


@pytest.mark.parametrize("text", [
    "nan", "NaN", "inf", "-inf", "infinity", "1e400", "0", "-5", "0s", "", "5x", "m", "400d",
])
def test_nonsense_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_duration(text, flag="--interval")
    assert raised.value.exit_code == 2 and "--interval" in raised.value.message


@given(st.text(max_size=40))
def test_any_text_is_a_duration_or_a_usage_error(text: str) -> None:
    try:
        seconds = parse_duration(text, flag="--x")
    except UsageError:
        return
    assert math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_number_is_a_duration_or_a_usage_error(number: float) -> None:
    try:
        seconds = parse_duration(repr(number), flag="--x")
    except UsageError:
        assert not (math.isfinite(number) and 0 < number <= MAX_SECONDS)
        return
    assert seconds == number
