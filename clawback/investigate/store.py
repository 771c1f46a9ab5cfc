"""The activity timeline while it is built: events spooled to a private SQLite file on disk.

Sources are read one after the other, each in its own order; the timeline is all of them in
time order. A GB of transcripts holds millions of events, so they are not kept in memory: each
is written as its JSON text with its time as the sort key, and read back sorted by SQLite's own
external sort. Memory stays bounded whatever the evidence size.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clawback.investigate.records import Event, iso

_BATCH = 2000
# Events with no time sort after every dated one, in the order they were read.
_UNDATED = "~"


class EventStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA temp_store=FILE")
        self._db.execute("PRAGMA cache_size=-16000")  # 16 MB
        self._db.execute("CREATE TABLE events (ts TEXT, severity INTEGER, kind TEXT, "
                         "body TEXT)")
        self._pending: list[tuple[str, int, str, str]] = []
        self.count = 0
        self.by_kind: Counter[str] = Counter()
        self.by_source: Counter[str] = Counter()

    def add(self, event: Event, severity: int) -> int:
        """Store one event; returns its row id (for a later flag)."""
        self._flush_if_full()
        self.count += 1
        self.by_kind[event.kind] += 1
        self.by_source[event.source] += 1
        self._pending.append((iso(event.ts) or _UNDATED, severity, event.kind,
                              json.dumps(event.as_dict(), ensure_ascii=False, sort_keys=True)))
        return self.count

    def _flush_if_full(self) -> None:
        if len(self._pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", self._pending)
            self._pending.clear()

    def update(self, rowid: int, body: dict[str, Any], severity: int) -> None:
        self.flush()
        self._db.execute("UPDATE events SET body = ?, severity = ? WHERE rowid = ?",
                         (json.dumps(body, ensure_ascii=False, sort_keys=True), severity, rowid))

    def first_at_least(self, severity: int) -> dict[str, Any] | None:
        self.flush()
        row = self._db.execute(
            "SELECT body FROM events WHERE severity >= ? AND ts != ? ORDER BY ts, rowid "
            "LIMIT 1", (severity, _UNDATED)).fetchone()
        return json.loads(row[0]) if row else None

    def ordered(self, min_severity: int = 0, limit: int | None = None) -> Iterator[str]:
        """Event JSON texts in time order (undated last)."""
        self.flush()
        query = "SELECT body FROM events WHERE severity >= ? ORDER BY ts, rowid"
        args: tuple[Any, ...] = (min_severity,)
        if limit is not None:
            query += " LIMIT ?"
            args += (limit,)
        for (body,) in self._db.execute(query, args):
            yield body

    def count_at_least(self, severity: int) -> int:
        self.flush()
        return int(self._db.execute("SELECT count(*) FROM events WHERE severity >= ?",
                                    (severity,)).fetchone()[0])

    def close(self) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)
