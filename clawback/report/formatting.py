"""How the report reads a timeline's times and writes times, durations, sizes and counts.

Shared by the model, the sealed investigation's reader and every renderer; it imports nothing
of the report, so each of them can use it without importing the others.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_ts(text: object) -> datetime | None:
    """A timeline ``ts`` as an aware UTC datetime; None if it is not RFC 3339."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def utc_text(moment: datetime | None) -> str:
    """``2026-11-21 12:24:16.881 UTC``: millisecond precision is what a reader compares."""
    if moment is None:
        return "unknown"
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def clock_text(moment: datetime | None) -> str:
    if moment is None:
        return "?"
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 key``, ``2 keys``; ``many`` where adding an s is wrong."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
