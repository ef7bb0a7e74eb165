"""Table-driven tests for quiet hours, with fixed instants around DST changes."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.audience.quiet_hours import (
    DEFAULT_WINDOW,
    STATE_WINDOWS,
    Window,
    effective_window,
    is_sendable_at,
    next_window_start,
    parse_window,
    share_in_quiet_hours,
)

NY, CHI, LA = "America/New_York", "America/Chicago", "America/Los_Angeles"
BOISE, HONOLULU, LONDON = "America/Boise", "Pacific/Honolulu", "Europe/London"
H = 3600


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("08:00-21:00", Window(8 * H, 21 * H)),
        (" 8:00 - 21:00 ", Window(8 * H, 21 * H)),
        ("08:00–20:00", Window(8 * H, 20 * H)),  # an en dash, as word processors type it
        ("09:30-17:45", Window(9 * H + 30 * 60, 17 * H + 45 * 60)),
        ("00:00-24:00", Window(0, 24 * H)),
        ("off", None),
        (" OFF ", None),
    ],
)
def test_parse_window(text, window):
    assert parse_window(text) == window


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "HH:MM-HH:MM"),
        ("8-21", "HH:MM-HH:MM"),
        ("08:00", "HH:MM-HH:MM"),
        ("8am-9pm", "HH:MM-HH:MM"),
        ("21:00-08:00", "cannot wrap midnight"),
        ("08:00-08:00", "start before it ends"),
        ("25:00-26:00", "impossible time 25:00"),
        ("08:60-21:00", "impossible time 08:60"),
        ("08:00-24:30", "impossible time 24:30"),
        (None, "'08:00-21:00' or 'off'"),
    ],
)
def test_parse_window_refuses_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        parse_window(text)


def test_default_and_state_windows():
    assert str(DEFAULT_WINDOW) == "08:00-21:00"
    assert set(STATE_WINDOWS) == {"FL", "CT", "MD", "OK", "WA"}
    assert all(str(w) == "08:00-20:00" for w in STATE_WINDOWS.values())


@pytest.mark.parametrize(
    ("default", "state", "expected"),
    [
        ("08:00-21:00", None, "08:00-21:00"),
        ("08:00-21:00", "NY", "08:00-21:00"),
        ("08:00-21:00", "FL", "08:00-20:00"),
        ("08:00-21:00", "fl", "08:00-20:00"),
        ("09:00-21:00", "WA", "09:00-20:00"),
        ("07:00-19:00", "OK", "08:00-19:00"),
        ("10:00-18:00", "MD", "10:00-18:00"),
        ("off", "CT", "08:00-20:00"),  # the law applies even when the company sets no window
        ("off", "TX", "off"),
        ("off", None, "off"),
    ],
)
def test_effective_window(default, state, expected):
    window = effective_window(parse_window(default), state)
    assert window == parse_window(expected)


def test_effective_window_refuses_a_window_outside_the_law():
    with pytest.raises(ValueError, match="does not overlap the FL window"):
        effective_window(parse_window("20:30-22:00"), "FL")


W = parse_window("08:00-21:00")
FL = effective_window(W, "FL")

SENDABLE = [
    # (instant, zones, window, sendable)
    (utc(2026, 1, 16, 1, 30), [NY], W, True),  # 20:30 EST in New York
    (utc(2026, 1, 16, 1, 30), [NY], FL, False),  # 20:30 EST in Miami: Florida stops at 20:00
    (utc(2026, 1, 16, 0, 59, 59), [NY], FL, True),  # 19:59:59 in Miami
    (utc(2026, 1, 16, 1, 59, 59), [NY], W, True),  # 20:59:59: the last second
    (utc(2026, 1, 16, 2, 0), [NY], W, False),  # 21:00 is already quiet
    (utc(2026, 1, 15, 12, 59, 59), [NY], W, False),  # 07:59:59
    (utc(2026, 1, 15, 13, 0), [NY], W, True),  # 08:00
    (utc(2026, 1, 15, 15, 30), [BOISE, LA], W, False),  # 08:30 in Boise but 07:30 in Los Angeles
    (utc(2026, 1, 15, 16, 0), [BOISE, LA], W, True),
    (utc(2026, 7, 1, 6, 59), [HONOLULU], W, True),  # 20:59 HST; Hawaii keeps no DST
    (utc(2026, 7, 1, 7, 0), [HONOLULU], W, False),
    (utc(2026, 1, 1, 7, 0), [HONOLULU], W, False),
    (utc(2026, 7, 1, 18, 0), [HONOLULU], W, True),  # 08:00 HST
    # DST starts in New York on 2026-03-08: 12:30 UTC is 07:30 EST the day before, 08:30 EDT on it
    (utc(2026, 3, 7, 12, 30), [NY], W, False),
    (utc(2026, 3, 8, 12, 30), [NY], W, True),
    # DST ends on 2026-11-01: 12:30 UTC is 08:30 EDT the day before, 07:30 EST on it
    (utc(2026, 10, 31, 12, 30), [NY], W, True),
    (utc(2026, 11, 1, 12, 30), [NY], W, False),
    (utc(2026, 11, 1, 13, 0), [NY], W, True),
    (utc(2026, 1, 16, 4, 0), [NY], None, True),  # window "off"
    (utc(2026, 1, 16, 4, 0), [LONDON], W, False),  # 04:00 GMT
    (utc(2026, 7, 16, 19, 30), [LONDON], W, True),  # 20:30 BST
    (utc(2026, 7, 16, 20, 0), [LONDON], W, False),  # 21:00 BST
]


@pytest.mark.parametrize(("instant", "zones", "window", "sendable"), SENDABLE)
def test_is_sendable_at(instant, zones, window, sendable):
    assert is_sendable_at(instant, zones, window) is sendable


def test_naive_datetimes_and_missing_zones_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        is_sendable_at(datetime(2026, 1, 15, 12), [NY], W)
    with pytest.raises(ValueError, match="candidate time zone"):
        is_sendable_at(utc(2026, 1, 15, 12), [], W)


NEXT_START = [
    # (now, zones, window, next start)
    (utc(2026, 1, 15, 15), [NY], W, utc(2026, 1, 15, 15)),  # already inside: now
    (utc(2026, 1, 15, 10), [NY], W, utc(2026, 1, 15, 13)),  # 05:00 EST -> 08:00 EST
    (utc(2026, 1, 16, 1, 30), [NY], FL, utc(2026, 1, 16, 13)),  # Florida 20:30 -> 08:00 tomorrow
    (utc(2026, 3, 8, 4), [NY], W, utc(2026, 3, 8, 12)),  # 23:00 EST -> 08:00 EDT, an hour "early" in UTC
    (utc(2026, 11, 1, 2), [NY], W, utc(2026, 11, 1, 13)),  # 22:00 EDT -> 08:00 EST
    (utc(2026, 1, 15, 14), [BOISE, LA], W, utc(2026, 1, 15, 16)),  # Los Angeles opens last
    (utc(2026, 1, 16, 2, 30), [NY, LA], W, utc(2026, 1, 16, 16)),  # NY closed, LA open: wait for both
    (utc(2026, 7, 1, 7, 0), [HONOLULU], W, utc(2026, 7, 1, 18)),
    (utc(2026, 1, 16, 4, 0), [NY], None, utc(2026, 1, 16, 4, 0)),  # "off"
    # A window wholly inside the skipped hour of 2026-03-08 does not exist that day
    (utc(2026, 3, 7, 12), [NY], parse_window("02:00-02:59"), utc(2026, 3, 9, 6)),
    # A window starting inside the skipped hour opens when the clocks jump (03:00 EDT)
    (utc(2026, 3, 7, 12), [NY], parse_window("02:30-05:00"), utc(2026, 3, 8, 7)),
    # Fallback: a 10:00-11:00 window never overlaps between New York and Los Angeles;
    # use the opening in the zone that opens last (LA), so nobody gets it before 10:00.
    (utc(2026, 1, 15, 12), [NY, LA], parse_window("10:00-11:00"), utc(2026, 1, 15, 18)),
]


@pytest.mark.parametrize(("now", "zones", "window", "expected"), NEXT_START)
def test_next_window_start(now, zones, window, expected):
    assert next_window_start(now, zones, window) == expected


ZONE_SETS = [
    [NY],
    [LA],
    [HONOLULU],
    [BOISE, LA],
    [NY, CHI],
    [NY, LA],
    ["America/Adak", "America/Anchorage"],
    [LONDON],
    ["Australia/Sydney"],
    ["America/Denver", "America/North_Dakota/Center"],
]
WINDOWS = ["08:00-21:00", "08:00-20:00", "09:15-17:30", "06:00-23:45", "12:00-13:00"]


def test_next_window_start_matches_a_brute_force_scan():
    rng = random.Random(7)
    start = utc(2026, 1, 1)
    for _ in range(150):
        # Instants near the 2026 DST changes on both sides of the Atlantic and the Pacific
        pivot = rng.choice(
            [
                utc(2026, 3, 8),
                utc(2026, 3, 29),
                utc(2026, 4, 5),
                utc(2026, 10, 4),
                utc(2026, 10, 25),
                utc(2026, 11, 1),
                start,
            ]
        )
        now = pivot + timedelta(minutes=15 * rng.randrange(-200, 200))
        zones, window = rng.choice(ZONE_SETS), parse_window(rng.choice(WINDOWS))
        got = next_window_start(now, zones, window)
        expected = next(
            (
                now + timedelta(minutes=15 * i)
                for i in range(4 * 48 + 1)
                if is_sendable_at(now + timedelta(minutes=15 * i), zones, window)
            ),
            None,
        )
        if expected is not None:
            assert got == expected, (now, zones, window)
        assert got >= now


def test_share_in_quiet_hours():
    at = utc(2026, 1, 16, 1, 30)  # 20:30 in New York, 17:30 in Los Angeles, 15:30 in Honolulu
    audience = [([NY], "NY"), ([NY], "FL"), ([LA], "CA"), ([HONOLULU], "HI")]
    assert share_in_quiet_hours(at, audience, W) == 0.25
    assert share_in_quiet_hours(at, audience, parse_window("09:00-17:00")) == 0.75
    assert share_in_quiet_hours(at, audience, None) == 0.25  # "off" still keeps Florida's law
    assert share_in_quiet_hours(at, [], W) == 0.0
    assert share_in_quiet_hours(at, iter(audience * 1000), W) == 0.25
