"""``investigation.json`` and ``investigation-activity.jsonl``: the findings written down.

``investigation.json`` is what a person and the report read: what was verified, the window,
every credential's exposure, the indicators, and the notable events (suspicious ones, capped).
``investigation-activity.jsonl`` is the whole agent-activity timeline, one event per line in
time order, streamed from the event store (it can be large; the report and Timesketch read it
line by line). Both carry fingerprints only and are sealed into the incident by ``seal``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawback.investigate.clock import parse_iso
from clawback.investigate.engine import SUSPICIOUS, Findings
from clawback.investigate.records import SCHEMA_VERSION, iso

DOCUMENT_NAME = "investigation.json"
ACTIVITY_NAME = "investigation-activity.jsonl"
MAX_NOTABLE = 1000


def _seconds(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds())


def _brief(event: dict[str, Any] | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {k: event[k] for k in ("ts", "kind", "summary", "severity", "flags", "evidence")
            if k in event}


def window(findings: Findings) -> dict[str, Any]:
    verified = findings.verified
    first = findings.first_suspicious
    exposed = [e.first for e in findings.exposures if e.first is not None]
    dated = [(s.ts, s) for s in exposed if s.ts is not None]
    first_exposure = min(dated, key=lambda pair: pair[0])[1] if dated else None
    sent = [e.first_sent for e in findings.exposures if e.first_sent and e.first_sent.ts]
    first_sent = min(sent, key=lambda s: s.ts, default=None)  # type: ignore[arg-type,return-value]
    opened, contained = parse_iso(verified.opened), parse_iso(verified.contained)
    first_ts = parse_iso(first["ts"]) if first else None
    return {
        "first_suspicious": _brief(first),
        "first_exposure": first_exposure.as_dict() if first_exposure else None,
        "first_secret_sent": first_sent.as_dict() if first_sent else None,
        "containment_started": verified.opened or None,
        "contained": verified.contained or None,
        # Detection is when the owner acted: clawback cannot know an earlier moment.
        "seconds_to_detect": _seconds(opened, first_ts),
        "seconds_to_contain": _seconds(contained, opened),
        "seconds_exposed": _seconds(contained, first_ts),
    }


def document(findings: Findings, activity_sha256: str, activity_events: int,
             usage: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    verified = findings.verified
    store = findings.store
    indicators = findings.scanner.table.sorted()
    notable = [json.loads(body) for body in store.ordered(SUSPICIOUS, MAX_NOTABLE)]
    suspect = list(dict.fromkeys(
        i.value for i in indicators if i.type in ("domain", "ip") and i.severity == "high"))
    return {
        "schema": SCHEMA_VERSION,
        "incident": verified.incident_id,
        "generated_at": iso(datetime.now(UTC)),
        "tool": _tool(),
        "verified": {
            "timeline_entries": verified.entries_checked,
            "timeline_sha256": verified.timeline_sha256,
            "manifest_sha256": verified.manifest_sha256,
            "anchored": verified.anchored,
            "archives": [{"file": a.file, "sha256": a.sha256, "size": a.size}
                         for a in verified.manifest.archives],
        },
        "rules": findings.rules.describe(),
        "analysed": {
            "bytes": findings.bytes_analysed,
            "members_by_parser": dict(sorted(findings.members.items())),
            "members_without_parser": findings.not_analysed,
            "duplicate_copies_skipped": findings.duplicates,
            "unreadable_lines": dict(sorted(findings.context.unreadable.items())),
            "oversized_lines_skipped": dict(sorted(findings.context.oversized.items())),
            "started": iso(findings.started),
            "finished": iso(findings.finished),
            # None: every member with a parser was read to its end.
            "incomplete": findings.incomplete,
        },
        "window": window(findings),
        "credentials": [e.as_dict() for e in findings.exposures],
        "summary": {
            "credentials": len(findings.exposures),
            "exposed": sum(e.exposed for e in findings.exposures),
            "sent": sum(e.first_sent is not None for e in findings.exposures),
            "suspicious_events": store.count_at_least(SUSPICIOUS),
            "events": activity_events,
            "suspect_destinations": suspect,
            "installed_during_window": len(findings.persistence),
            "complete": findings.incomplete is None,
        },
        "indicators": [i.as_dict() for i in indicators],
        "indicators_not_kept": findings.scanner.table.overflow,
        # What each provider's own records say of the keys (asked through their responders).
        "provider_usage": [{**u["target"], "detail": u["detail"], **u["extra"]}
                           for u in usage or ()],
        "notable_events": notable,
        "notable_not_listed": max(0, store.count_at_least(SUSPICIOUS) - len(notable)),
        "activity": {
            "file": ACTIVITY_NAME, "sha256": activity_sha256, "events": activity_events,
            "by_kind": dict(sorted(store.by_kind.items())),
            "by_source": dict(sorted(store.by_source.items())),
        },
        "caveats": ([findings.incomplete] if findings.incomplete else []) + CAVEATS,
    }


CAVEATS = [
    "Only the sealed evidence was read: what the snapshot did not collect (other hosts, the "
    "providers' own logs, a transcript deleted before the snapshot) is not here.",
    "'exposed' means the value appeared in what the agent read (messages, tool results, files "
    "it read) or sent (commands, URLs, messages) in the transcripts; 'reachable only' means the "
    "agent could read the file holding it, but no transcript shows the value. A value the agent "
    "read without a transcript recording it would be missed.",
    "Exposure is matched by fingerprint (last four characters and a 32-bit SHA-256 prefix): "
    "a chance collision is possible, about one in four billion candidates per credential.",
    "Prompt-injection, exfiltration and persistence findings are heuristics (the rules file "
    "says which); each names the evidence member and offset to check by hand.",
    "Detection time is taken as the moment contain started: an earlier alert is not known to "
    "clawback.",
    "Syslog times without a year take the year the file was last written, in the host's zone.",
]


def _tool() -> dict[str, str]:
    from clawback import __version__

    return {"name": "clawback", "version": __version__}


class _Hashed:
    """Lines on their way to a file, hashed and counted as they pass."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = lines
        self.sha256 = hashlib.sha256()
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            text = line + "\n"
            self.sha256.update(text.encode("utf-8"))
            self.count += 1
            yield text


def write(findings: Findings, directory: Path, *, prefix: str = "",
          usage: list[dict[str, Any]] | None = None) -> tuple[Path, Path, dict[str, Any]]:
    """Write both files into ``directory`` (0600, names behind ``prefix``: the sealing step
    writes them aside first); return their paths and the document."""
    from responders.kit.private_files import write_private

    hashed = _Hashed(findings.store.ordered())
    activity = write_private(directory / f"{prefix}{ACTIVITY_NAME}", hashed)
    doc = document(findings, hashed.sha256.hexdigest(), hashed.count, usage)
    text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path = write_private(directory / f"{prefix}{DOCUMENT_NAME}", text)
    return path, activity, doc
