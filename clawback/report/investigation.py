"""What the report shows of ``clawback investigate``'s findings, and the activity it merges into
``timesketch.jsonl``.

The findings are read from ``evidence/investigation.json`` only when the evidence manifest
lists it (sealed by the investigation) and its SHA-256 matches: verify has already said
whether the whole incident is intact, and a findings file that is not what was sealed is not
shown as a finding. The activity (``investigation-activity.jsonl``) is read line by line, never
whole. Every fact carries its evidence member and line, which the renderers turn into a
reference a reader can follow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from clawback.report.formatting import parse_ts

DOCUMENT = "investigation.json"
ACTIVITY = "investigation-activity.jsonl"
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
# The report lists the worst facts; everything is in the sealed files it names.
MAX_SHOWN_EVENTS = 200
MAX_SHOWN_INDICATORS = 40

# What kind of moment each source's time is (Timesketch's ``timestamp_desc``).
TIMESTAMP_DESC = {
    "openclaw-transcript": "Agent Transcript Entry",
    "openclaw-command-log": "Agent Command Logged",
    "openclaw-config-audit": "Config Written",
    "openclaw-gateway-log": "Gateway Log Entry",
    "openclaw-cron-jobs": "Cron Job Created",
    "openclaw-cron-runs": "Cron Job Run",
    "openclaw-exec-approvals": "Exec Approval Last Used",
    "openclaw-listing": "File Modified",
    "auth-log": "Auth Log Entry",
    "syslog": "Syslog Entry",
    "journal": "Journal Entry",
    "sockets": "Socket Table Snapshot",
    "crontab": "File Modified",
    "authorized-keys": "File Modified",
}


@dataclass(frozen=True)
class EvidencePlace:
    archive: str
    member: str
    source: str
    evidence_id: str
    offset: int
    line: int | None

    @classmethod
    def of(cls, data: Any) -> EvidencePlace:
        data = data if isinstance(data, Mapping) else {}
        line = data.get("line")
        return cls(str(data.get("archive") or ""), str(data.get("member") or ""),
                   str(data.get("source") or ""), str(data.get("evidence_id") or ""),
                   int(data.get("offset") or 0), line if isinstance(line, int) else None)

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"byte {self.offset}"

    @property
    def text(self) -> str:
        return f"{self.source} ({self.where}; {self.evidence_id})"

    @property
    def href(self) -> str:
        """The archive holding the member, relative to the report."""
        return f"evidence/{self.archive}" if self.archive else ""


@dataclass(frozen=True)
class Finding:
    """One fact to show: when, what, how bad, and where in the evidence it stands."""

    ts: datetime | None
    kind: str
    summary: str
    severity: str
    place: EvidencePlace
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exposure:
    provider: str
    kind: str
    fingerprint: str
    key_id: str | None
    status: str
    sent: bool
    first: Finding | None
    times_read: int
    times_sent: int
    logged: Finding | None
    first_sent: Finding | None = None

    @property
    def worst(self) -> Finding | None:
        """The event to show: the first time it left, else the first time it was read."""
        return self.first_sent or self.first


@dataclass(frozen=True)
class Indicator:
    type: str
    value: str
    relation: str
    severity: str
    rule: str
    count: int
    first: Finding
    known: bool


@dataclass(frozen=True)
class ProviderUse:
    """What a provider said of a key's use, and which API said it."""

    credential: str  # provider kind fingerprint
    said: str  # "last used …", "never used", or why it could not say
    source: str
    uses: int = 0


def _provider_uses(doc: Mapping[str, Any]) -> tuple[ProviderUse, ...]:
    out = []
    for cred in doc.get("credentials") or ():
        before = cred.get("provider_last_used")
        if isinstance(before, Mapping) and before.get("at"):
            out.append(ProviderUse(
                f"{cred.get('provider')} {cred.get('kind')} {cred.get('fingerprint')}",
                f"last used {before['at']} (read before the key was deleted)",
                str(before.get("source") or "")))
    for said in doc.get("provider_usage") or ():
        if not isinstance(said, Mapping):
            continue
        credential = f"{said.get('provider')} {said.get('kind')} {said.get('fingerprint')}"
        if said.get("status") == "ok":
            text = f"last used {said['last_used']}" if said.get("last_used") else "never used"
            where = " in ".join(str(said[k]) for k in ("last_service", "last_region")
                                if said.get(k))
            text += f" ({where})" if where else ""
        else:
            text = f"not said: {said.get('reason') or said.get('error') or said.get('status')}"
        sources = ", ".join(str(x) for x in said.get("sources") or ())
        out.append(ProviderUse(credential, text, sources, len(said.get("uses") or ())))
    return tuple(out)


@dataclass(frozen=True)
class InvestigationFindings:
    file: str
    sha256: str
    generated_at: str
    exposures: tuple[Exposure, ...]
    indicators: tuple[Indicator, ...]
    events: tuple[Finding, ...]
    events_not_shown: int
    first_suspicious: Finding | None
    first_exposure: Finding | None
    containment_started: datetime | None
    contained: datetime | None
    seconds_to_detect: int | None
    seconds_to_contain: int | None
    seconds_exposed: int | None
    suspect_destinations: tuple[str, ...]
    total_events: int
    bytes_analysed: int
    caveats: tuple[str, ...] = field(default_factory=tuple)
    # the sealed activity file (relative to the incident), None when it is not sealed
    activity_file: str | None = None
    provider_uses: tuple[ProviderUse, ...] = field(default_factory=tuple)
    # Why the reading stopped before the end (contain's budget), or None: read to the end.
    incomplete: str | None = None

    @property
    def exposed(self) -> tuple[Exposure, ...]:
        return tuple(e for e in self.exposures if e.status == "exposed")

    @property
    def reachable_only(self) -> int:
        return sum(e.status != "exposed" for e in self.exposures)

    def exposure_of(self, fingerprint: str) -> Exposure | None:
        return next((e for e in self.exposures if e.fingerprint == fingerprint), None)


def _finding(event: Any) -> Finding | None:
    if not isinstance(event, Mapping):
        return None
    return Finding(parse_ts(event.get("ts")), str(event.get("kind") or event.get("event") or ""),
                   str(event.get("summary") or ""), str(event.get("severity") or ""),
                   EvidencePlace.of(event.get("evidence")),
                   tuple(str(f) for f in event.get("flags") or ()))


def _as_event(sighting: Any) -> Any:
    """A sighting names its event kind ``event``; a finding calls it ``kind``."""
    if isinstance(sighting, Mapping):
        return {**sighting, "kind": sighting.get("event")}
    return sighting


def _sealed_sha256(files: Sequence[Any], name: str) -> str | None:
    for record in files:
        if getattr(record, "file", None) == name:
            return str(record.sha256)
    return None


def load(incident_dir: Path, sealed_files: Sequence[Any]) -> InvestigationFindings | None:
    """The sealed findings, or None when there are none (or they are not what was sealed)."""
    expected = _sealed_sha256(sealed_files, DOCUMENT)
    path = Path(incident_dir) / "evidence" / DOCUMENT
    if expected is None or not path.is_file() or path.stat().st_size > MAX_DOCUMENT_BYTES:
        return None
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != expected:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    window = doc.get("window") or {}
    first_exposure = window.get("first_exposure") or None
    exposures = []
    for cred in doc.get("credentials") or ():
        exposures.append(Exposure(
            provider=str(cred.get("provider") or ""), kind=str(cred.get("kind") or ""),
            fingerprint=str(cred.get("fingerprint") or ""), key_id=cred.get("key_id"),
            status=str(cred.get("status") or ""), sent=bool(cred.get("sent")),
            first=_finding(_as_event(cred.get("first_exposed"))),
            times_read=int(cred.get("times_read") or 0),
            times_sent=int(cred.get("times_sent") or 0),
            logged=_finding(cred.get("also_logged")),
            first_sent=_finding(_as_event(cred.get("first_sent"))),
        ))
    indicators = []
    for item in doc.get("indicators") or ():
        if item.get("severity") not in ("medium", "high"):
            continue
        first = _finding({**item, "ts": item.get("first_seen"), "kind": item.get("type")})
        assert first is not None
        indicators.append(Indicator(
            type=str(item.get("type")), value=str(item.get("value")),
            relation=str(item.get("relation")), severity=str(item.get("severity")),
            rule=str(item.get("rule")), count=int(item.get("count") or 1), first=first,
            known=bool(item.get("known")),
        ))
    notable = [f for f in (_finding(e) for e in doc.get("notable_events") or ()) if f]
    summary = doc.get("summary") or {}
    return InvestigationFindings(
        file=f"evidence/{DOCUMENT}", sha256=expected, generated_at=str(doc.get("generated_at")),
        exposures=tuple(exposures), indicators=tuple(indicators[:MAX_SHOWN_INDICATORS]),
        events=tuple(notable[:MAX_SHOWN_EVENTS]),
        events_not_shown=max(0, len(notable) - MAX_SHOWN_EVENTS)
        + int(doc.get("notable_not_listed") or 0),
        first_suspicious=_finding(window.get("first_suspicious")),
        first_exposure=_finding(first_exposure and {**first_exposure,
                                                    "kind": first_exposure.get("event")}),
        containment_started=parse_ts(window.get("containment_started")),
        contained=parse_ts(window.get("contained")),
        seconds_to_detect=window.get("seconds_to_detect"),
        seconds_to_contain=window.get("seconds_to_contain"),
        seconds_exposed=window.get("seconds_exposed"),
        suspect_destinations=tuple(str(s) for s in summary.get("suspect_destinations") or ()),
        total_events=int(summary.get("events") or 0),
        bytes_analysed=int((doc.get("analysed") or {}).get("bytes") or 0),
        caveats=tuple(str(c) for c in doc.get("caveats") or ()),
        activity_file=f"evidence/{ACTIVITY}" if _sealed_sha256(sealed_files, ACTIVITY) else None,
        provider_uses=_provider_uses(doc),
        incomplete=(str((doc.get("analysed") or {}).get("incomplete"))
                    if (doc.get("analysed") or {}).get("incomplete") else None),
    )


def activity(incident_dir: Path, findings: InvestigationFindings | None
             ) -> Iterator[dict[str, Any]]:
    """The sealed activity events, one at a time, in time order (nothing if not sealed)."""
    if findings is None or findings.activity_file is None:
        return
    path = Path(incident_dir) / findings.activity_file
    try:
        handle = path.open("rb")
    except OSError:
        return
    with handle:
        for raw in handle:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event
