import pytest

from shared.api.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m", 60),
        ("1m0s", 60),
        ("10m0s", 600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("500ms", 0.5),
        ("2h45m30.5s", 9930.5),
        ("1m1m", 120),
        ("0s", 0),
    ],
)
def test_flux_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("5x", "expected a Go duration such as 1m or 1h30m"),
        ("", "expected a Go duration"),
        ("10", "missing unit"),
        ("1d", "24h"),
        ("1 m", "without spaces"),
        ("-1m", "negative"),
        ("1ns", "expected a Go duration"),
        (".5h", "expected a Go duration"),
        ("1.m", "expected a Go duration"),
        ("m", "expected a Go duration"),
    ],
)
def test_bad_durations_are_refused_with_a_hint(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=f'invalid duration "{text}"') as info:
        parse_duration(text)
    assert says in str(info.value)


def test_hours_can_be_refused_where_flux_refuses_them() -> None:
    assert parse_duration("90s", allow_hours=False) == 90
    with pytest.raises(ValueError, match="hours are not allowed"):
        parse_duration("1h", allow_hours=False)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (1.5, "1.5s"),
        (60, "1m"),
        (90, "1m30s"),
        (90.25, "1m30.25s"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86400, "24h"),
        (3661, "1h1m1s"),
    ],
)
def test_seconds_format_as_compact_go_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
def test_negative_or_infinite_seconds_cannot_be_formatted(seconds: float) -> None:
    with pytest.raises(ValueError, match="cannot format"):
        format_duration(seconds)
