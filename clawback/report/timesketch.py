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

import heapq
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from clawback.report.formatting import parse_ts
from clawback.report.model import IncidentReport
from clawback.report.parts import TimelineRow

_INTEGRITY = {"intact": "INTACT", "unanchored": "UNANCHORED", "not_intact": "NOT INTACT"}
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
    integrity = _INTEGRITY[report.integrity.state]
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


def activity_rows(report: IncidentReport) -> Iterator[dict[str, Any]]:
    """One row per event ``clawback investigate`` sealed (transcripts, logs, sockets...), in
    time order, each with the ``timestamp_desc`` of its source and its evidence member."""
    from clawback.report.investigation import TIMESTAMP_DESC, activity

    integrity = _INTEGRITY[report.integrity.state]
    for event in activity(report.incident_dir, report.investigation):
        moment = parse_ts(event.get("ts"))
        if moment is None:
            continue  # Timesketch drops rows without a datetime anyway
        source = str(event.get("source") or "")
        kind = str(event.get("kind") or "")
        evidence = found if isinstance(found := event.get("evidence"), dict) else {}
        severity = str(event.get("severity") or "info")
        flags = [str(f) for f in event.get("flags") or ()]
        attrs = given if isinstance(given := event.get("attrs"), dict) else {}
        yield {
            "message": f"{kind}: {event.get('summary') or ''}",
            "datetime": moment.isoformat(timespec="microseconds"),
            "timestamp": (moment - _EPOCH) // _MICROSECOND,
            "timestamp_desc": TIMESTAMP_DESC.get(source, "Event Recorded"),
            "data_type": f"clawback:investigate:{source or 'unknown'}",
            "ir_incident": report.incident_id,
            "ir_source": source,
            "ir_kind": kind,
            "ir_severity": severity,
            "ir_flags": flags,
            "ir_session": str(event.get("session") or ""),
            **{f"ir_{k}": str(v) for k, v in attrs.items() if isinstance(k, str)
               and k.isidentifier()},
            "ir_evidence_archive": str(evidence.get("archive") or ""),
            "ir_evidence_member": str(evidence.get("member") or ""),
            "ir_evidence_source": str(evidence.get("source") or ""),
            "ir_evidence_id": str(evidence.get("evidence_id") or ""),
            "ir_evidence_offset": evidence.get("offset"),
            "ir_evidence_line": evidence.get("line"),
            "ir_log_integrity": integrity,
            "tag": list(dict.fromkeys([
                "clawback", "investigate", source, severity,
                *(["suspicious"] if severity in ("medium", "high") else []),
                # As every row of a log that failed verify: never mixed in as trustworthy.
                *(["log-not-intact"] if report.integrity.state == "not_intact" else []),
            ])),
        }


def timesketch_chunks(report: IncidentReport) -> Iterator[str]:
    """``timesketch.jsonl`` a line at a time: the signed timeline and the investigated
    activity as one super-timeline, in time order (both are streamed)."""
    merged = heapq.merge(rows(report), activity_rows(report), key=lambda r: r["timestamp"])
    # ASCII only: U+2028, U+0085 and friends stay escaped, so no reader that splits on more
    # than "\n" can cut a row in two.
    for row in merged:
        yield json.dumps(row, ensure_ascii=True) + "\n"


def render_timesketch(report: IncidentReport) -> str:
    return "".join(timesketch_chunks(report))
