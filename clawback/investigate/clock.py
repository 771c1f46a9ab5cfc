"""Reading the times evidence writes: ISO 8601, Unix milliseconds, and syslog's yearless local
time. Every result is an aware UTC datetime, or None when the text is no time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_SYSLOG = re.compile(r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? ")
_ISO_PREFIX = re.compile(
    r"^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s"
)
# A Unix time in milliseconds between 2001 and 2286; smaller numbers are seconds.
_MS_FLOOR = 10**12


def parse_iso(text: Any, local: timezone = UTC) -> datetime | None:
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local)
    return moment.astimezone(UTC)


def parse_epoch(value: Any) -> datetime | None:
    """A Unix time in milliseconds (OpenClaw's ``*Ms``, transcripts) or seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = value / 1000 if value >= _MS_FLOOR else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_any(value: Any, local: timezone = UTC) -> datetime | None:
    return parse_epoch(value) if isinstance(value, int | float) else parse_iso(value, local)


def host_zone(offset_seconds: Any) -> timezone:
    """The host's zone as its evidence recorded it (``local_utc_offset_seconds``)."""
    if isinstance(offset_seconds, int) and abs(offset_seconds) < 86400:
        return timezone(timedelta(seconds=offset_seconds))
    return UTC


def line_time(line: str, local: timezone, written: datetime) -> tuple[datetime | None, int]:
    """The time a log line starts with and where its text begins: an ISO prefix (rsyslog's
    high-precision format, OpenClaw's text logs) or syslog's ``Mon DD HH:MM:SS`` in the host's
    zone, whose year is the year the file was last ``written``, or the year before when that
    would put the line after the file's last write (a log spanning New Year)."""
    iso = _ISO_PREFIX.match(line)
    if iso is not None:
        return parse_iso(iso.group(1), local), iso.end()
    classic = _SYSLOG.match(line)
    if classic is None:
        return None, 0
    month = _MONTHS.get(classic.group(1))
    if month is None:
        return None, 0
    day, hour, minute, second = (int(classic.group(i)) for i in range(2, 6))
    try:
        moment = datetime(written.year, month, day, hour, minute, second, tzinfo=local)
        if moment - written > timedelta(days=1):
            moment = moment.replace(year=written.year - 1)
    except ValueError:  # Feb 29 of a year that has none
        return None, 0
    return moment.astimezone(UTC), classic.end()


def written_at(mtime: float | None, fallback: datetime) -> datetime:
    """When a file was last written (its recorded mtime), else ``fallback``."""
    if mtime:
        try:
            return datetime.fromtimestamp(mtime, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return fallback
