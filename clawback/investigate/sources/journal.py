"""``journalctl --output=export``: the systemd journal as the snapshot captured it.

The export format (systemd's "Journal Export Format"): entries separated by an empty line, each
field a ``KEY=value`` line, or, for values that are binary or hold a newline, ``KEY`` on its own
line followed by a little-endian 64-bit length, the bytes and a newline. The time is
``__REALTIME_TIMESTAMP`` (microseconds since the epoch, UTC). Messages are classified as syslog
lines are (``system_logs.classify``), by ``SYSLOG_IDENTIFIER`` (else ``_COMM``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO

from clawback.investigate.records import LOGGED, Event, MemberRef
from clawback.investigate.sources import ParseContext
from clawback.investigate.sources.system_logs import classify

MAX_FIELD_BYTES = 1024 * 1024
_KEPT = (b"MESSAGE", b"SYSLOG_IDENTIFIER", b"_COMM", b"__REALTIME_TIMESTAMP", b"_SYSTEMD_UNIT",
         b"_PID")


def _entries(stream: IO[bytes], member: MemberRef, ctx: ParseContext
             ) -> Iterator[tuple[int, dict[bytes, bytes]]]:
    offset = 0
    start = 0
    fields: dict[bytes, bytes] = {}
    while True:
        line = stream.readline(MAX_FIELD_BYTES + 1)
        if not line:
            if fields:
                yield start, fields
            return
        offset += len(line)
        if line == b"\n":
            if fields:
                yield start, fields
            fields = {}
            start = offset
            continue
        if not line.endswith(b"\n"):
            ctx.long_line(member)
            while (more := stream.readline(MAX_FIELD_BYTES)) and not more.endswith(b"\n"):
                offset += len(more)
            offset += len(more)
            continue
        body = line[:-1]
        key, sep, value = body.partition(b"=")
        if not sep:  # a binary field: its size, the bytes, a newline
            size_bytes = stream.read(8)
            offset += len(size_bytes)
            if len(size_bytes) < 8:
                ctx.bad_line(member)
                return
            (size,) = struct.unpack("<Q", size_bytes)
            if size > MAX_FIELD_BYTES:
                ctx.long_line(member)
                remaining = size + 1
                while remaining > 0:
                    chunk = stream.read(min(remaining, MAX_FIELD_BYTES))
                    if not chunk:
                        return
                    remaining -= len(chunk)
                    offset += len(chunk)
                continue
            value = stream.read(size)
            offset += len(value) + len(stream.read(1))
        if key in _KEPT:
            fields[key] = value


def parse(member: MemberRef, stream: IO[bytes], ctx: ParseContext) -> Iterator[Event]:
    for offset, fields in _entries(stream, member, ctx):
        try:
            micros = int(fields.get(b"__REALTIME_TIMESTAMP", b""))
            ts: datetime | None = datetime.fromtimestamp(micros / 1e6, UTC)
        except (ValueError, OverflowError, OSError):
            ts = None
        program = (fields.get(b"SYSLOG_IDENTIFIER") or fields.get(b"_COMM") or b"?").decode(
            "utf-8", errors="replace")
        message = fields.get(b"MESSAGE", b"").decode("utf-8", errors="replace")
        unit = fields.get(b"_SYSTEMD_UNIT", b"").decode("utf-8", errors="replace")
        ref = member.at(offset)
        event = classify(program, message, ts, ref, "journal", ctx)
        if event is None and "openclaw" in unit:
            event = classify("openclaw", message, ts, ref, "journal", ctx)
        if event is not None:
            if unit:
                event.attrs.setdefault("unit", unit)
            if not event.texts:
                event.texts = [(LOGGED, message)]
            yield event
        else:
            yield Event(ts, "journal", "log.line", "", ref, texts=[(LOGGED, message)])
