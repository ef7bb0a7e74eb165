"""Quiet hours: when a marketing text may reach a person, by their local clock.

Rules:

* A **sending window** is a local time-of-day range ``[start, end)``: "08:00-21:00" means a text
  may arrive from 08:00:00 up to, but not including, 21:00:00. It never wraps midnight. The
  company default is 08:00-21:00; "off" means the company sets no window of its own.
* **States with stricter laws** (FL, CT, MD, OK, WA) allow marketing texts only 08:00-20:00.
  The recipient's `effective_window` is the stricter of the company window and the state
  window (later start, earlier end). A state window applies even when the company window is
  "off": the company cannot switch the law off.
* **Where the person is, is uncertain.** A number maps to one or more candidate zones
  (`app.audience.phones.candidate_time_zones`). A text is sendable only if the moment is inside
  the window in *every* candidate zone (`is_sendable_at`).
* **Waiting, not dropping.** A text outside the window waits for `next_window_start`: the
  earliest instant at or after now that is inside the window in every candidate zone,
  computed with real zone rules, so DST changes are honoured. If the candidate zones are so far
  apart that no such instant exists within 48 hours, we fall back to the moment the window
  opens in the most restrictive zone — the zone whose window opens last after now. Then nobody
  receives the text before their window has opened; a zone that opened earlier may already be
  past its end. Only very narrow windows over widely spread zones get here.
* `share_in_quiet_hours` tells a campaign check which share of an audience would have to wait
  if the campaign went out at a given moment.

All instants are timezone-aware datetimes; naive datetimes are refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

_DAY = 24 * 3600
FALLBACK_HORIZON = timedelta(hours=48)


@dataclass(frozen=True, order=True)
class Window:
    """A daily local sending window ``[start, end)`` in seconds after local midnight."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= _DAY:
            raise ValueError(f"a sending window needs 00:00 <= start < end <= 24:00, got {self}")

    def contains(self, local: time) -> bool:
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        return self.start <= seconds < self.end

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–—]\s*(\d{1,2}):(\d{2})\s*$")


def parse_window(text: str) -> Window | None:
    """Parse "HH:MM-HH:MM" into a `Window`, or "off" into None; raise ValueError saying what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"a sending window is text like '08:00-21:00' or 'off', got {text!r}")
    if text.strip().lower() == "off":
        return None
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"sending window {text!r} is not of the form 'HH:MM-HH:MM' (or 'off')")
    sh, sm, eh, em = (int(g) for g in match.groups())
    for hour, minute in ((sh, sm), (eh, em)):
        if minute > 59 or hour > 24 or (hour == 24 and minute):
            raise ValueError(f"sending window {text!r} has an impossible time {hour:02d}:{minute:02d}")
    start, end = sh * 3600 + sm * 60, eh * 3600 + em * 60
    if start >= end:
        raise ValueError(
            f"sending window {text!r} must start before it ends on the same day (it cannot wrap midnight)"
        )
    return Window(start, end)


DEFAULT_WINDOW = Window(8 * 3600, 21 * 3600)
STATE_WINDOWS: dict[str, Window] = {
    state: Window(8 * 3600, 20 * 3600) for state in ("FL", "CT", "MD", "OK", "WA")
}


def effective_window(default: Window | None, state: str | None) -> Window | None:
    """The stricter of the company window and the recipient's state window; None if neither applies.

    Raises ValueError if the two do not overlap at all (a company window set outside the law).
    """
    law = STATE_WINDOWS.get(state.upper()) if state else None
    if default is None or law is None:
        return default or law
    start, end = max(default.start, law.start), min(default.end, law.end)
    if start >= end:
        raise ValueError(f"company window {default} does not overlap the {state.upper()} window {law}")
    return Window(start, end)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime (UTC)")
    return moment.astimezone(UTC)


def _require_zones(zones: Sequence[str]) -> list[ZoneInfo]:
    if isinstance(zones, str):
        zones = [zones]
    if not zones:
        raise ValueError("at least one candidate time zone is needed")
    return [_zone(z) for z in zones]


def _inside(moment: datetime, zone: ZoneInfo, window: Window) -> bool:
    return window.contains(moment.astimezone(zone).time())


def is_sendable_at(now_utc: datetime, zones: Sequence[str], window: Window | None) -> bool:
    """True if ``now_utc`` is inside ``window`` in every candidate zone (always, for no window)."""
    now = _require_aware(now_utc)
    tzs = _require_zones(zones)
    return window is None or all(_inside(now, tz, window) for tz in tzs)


def _first_instant_at_or_after(zone: ZoneInfo, day: date, seconds: int) -> list[datetime]:
    """The UTC instants at which the local clock of ``zone`` first reads ``day`` + ``seconds``.

    Usually one; two when the clocks go back over that time (both occurrences); and when the
    clocks jump over it (spring forward), the instant of the jump, when the clock first reads
    later than it.
    """
    wall = datetime.combine(day, time()) + timedelta(seconds=seconds)
    found = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            found.append(instant)
    if found:
        return sorted(set(found))
    # A gap: between the two readings of the skipped wall time lies the jump. Find its second.
    low, high = sorted(int(wall.replace(tzinfo=zone, fold=f).timestamp()) for f in (0, 1))
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return [datetime.fromtimestamp(high, UTC)]


def _next_inside(moment: datetime, zone: ZoneInfo, window: Window) -> datetime:
    """The earliest instant >= ``moment`` at which ``zone``'s local clock is inside ``window``."""
    if _inside(moment, zone, window):
        return moment
    today = moment.astimezone(zone).date()
    openings = (
        instant
        for offset in (-1, 0, 1, 2)
        for instant in _first_instant_at_or_after(zone, today + timedelta(days=offset), window.start)
        if instant >= moment and _inside(instant, zone, window)  # a window inside a DST gap: skip the day
    )
    return min(openings)


def next_window_start(now_utc: datetime, zones: Sequence[str], window: Window | None) -> datetime:
    """The earliest UTC instant >= ``now_utc`` inside ``window`` in every candidate zone.

    Each step jumps to the latest of the zones' next openings; any instant sendable everywhere
    is at or after that, so the first step at which every zone is inside is the answer. See the
    module docstring for the fallback when the zones never overlap within 48 hours.
    """
    now = _require_aware(now_utc)
    tzs = _require_zones(zones)
    if window is None:
        return now
    first_step = None
    moment = now
    while moment - now <= FALLBACK_HORIZON:
        step = max(_next_inside(moment, tz, window) for tz in tzs)
        if first_step is None:
            first_step = step
        if step == moment:
            return moment
        moment = step
    return first_step


def share_in_quiet_hours(
    at_utc: datetime,
    recipients: Iterable[tuple[Sequence[str], str | None]],
    window: Window | None,
) -> float:
    """The share (0..1) of ``recipients`` — (candidate zones, state) pairs — who could not be texted at ``at_utc``.

    Each recipient is judged against their `effective_window`. An empty audience gives 0.0.
    """
    now = _require_aware(at_utc)
    verdicts: dict[tuple[tuple[str, ...], str | None], bool] = {}  # audiences repeat a few zone sets
    total = waiting = 0
    for zones, state in recipients:
        key = ((zones,) if isinstance(zones, str) else tuple(zones), state)
        if key not in verdicts:
            verdicts[key] = is_sendable_at(now, key[0], effective_window(window, state))
        total += 1
        waiting += not verdicts[key]
    return waiting / total if total else 0.0
