"""``timesketch.jsonl``: the timeline as rows Timesketch (and plaso tooling) can import.

Timesketch requires ``message``, ``datetime`` and ``timestamp_desc`` on every row, takes
``timestamp`` in microseconds, parses ``tag`` into a list, and silently drops ``_id``,
``_type``, ``_index``, ``_source`` and ``__ts_timeline_id``; so ``datetime`` always carries an
explicit ``+00:00`` (a bare time would be read as the importer's local time), clawback's own
fields are prefixed ``ir_``, and none of them starts with an underscore.

The export is a derived view and is not signed: each row carries ``ir_entry_hash`` to match it
back to its signed entry, and ``ir_log_integrity`` so a row from a log that failed verify can't
pass for a trustworthy one once it is mixed into a larger sketch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from clawback.report.model import IncidentReport, TimelineRow

RESERVED_FIELDS = frozenset({"_id", "_type", "_index", "_source", "__ts_timeline_id"})
DATA_TYPE = "clawback:timeline:entry"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def timestamp_desc(row: TimelineRow) -> str:
    """What kind of moment the row's time is (Timesketch's ``timestamp_desc``)."""
    if row.action == "evidence.item" or (row.phase == "result" and row.outcome == "Collected"):
        return "Evidence Collected"
    if row.phase == "intent":
        return "IR Action Intent"
    if row.phase == "result":
        return "IR Action Result"
    return {
        "open": "IR Session Start",
        "resume": "IR Session Resume",
        "close": "IR Session End",
    }.get(row.action, "IR Event")


def _tags(row: TimelineRow, report: IncidentReport) -> list[str]:
    tags = ["clawback", row.step, row.status]
    if row.provider:
        tags.append(row.provider)
    if row.status == "unproven":
        tags.append("not-proven-dead")
    if row.flags:
        tags.append("verify-failed")
    if report.integrity.state == "not_intact":
        tags.append("log-not-intact")
    return list(dict.fromkeys(tags))


def rows(report: IncidentReport) -> Iterator[dict[str, Any]]:
    """One Timesketch row per readable timeline entry, in log order."""
    integrity = {
        "intact": "INTACT",
        "unanchored": "UNANCHORED",
        "not_intact": "NOT INTACT",
    }[report.integrity.state]
    for row in report.rows:
        if row.ts is None:
            continue  # Timesketch drops rows without a parseable datetime anyway
        yield {
            "message": row.message,
            "datetime": row.ts.isoformat(timespec="microseconds"),
            "timestamp": (row.ts - _EPOCH) // _MICROSECOND,
            "timestamp_desc": timestamp_desc(row),
            "data_type": DATA_TYPE,
            "ir_incident": report.incident_id,
            "ir_seq": row.seq,
            "ir_step": row.step,
            "ir_action": row.action,
            "ir_phase": row.phase,
            "ir_outcome": row.outcome or "",
            "ir_status": row.status,
            "ir_target": row.target,
            "ir_fingerprint": row.fingerprint,
            "ir_provider": row.provider or "",
            "ir_kind": row.kind or "",
            "ir_intent_seq": row.intent_seq,
            "ir_evidence_refs": list(row.evidence_refs),
            "ir_operator": row.actor,
            "ir_dry_run": row.dry_run,
            "ir_entry_hash": row.entry_hash,
            "ir_verify_flags": list(row.flags),
            # Revoked but not proven dead: what the operator should look at to settle it.
            **({"ir_check": str(row.extra.get("check") or "")} if row.status == "unproven"
               else {}),
            "ir_log_integrity": integrity,
            "tag": _tags(row, report),
        }


def timesketch_chunks(report: IncidentReport) -> Iterator[str]:
    """``timesketch.jsonl`` a line at a time."""
    # ASCII only: U+2028, U+0085 and friends stay escaped, so no reader that splits on more
    # than "\n" can cut a row in two.
    for row in rows(report):
        yield json.dumps(row, ensure_ascii=True) + "\n"


def render_timesketch(report: IncidentReport) -> str:
    return "".join(timesketch_chunks(report))
