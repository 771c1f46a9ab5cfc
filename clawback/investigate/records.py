"""What an investigation finds, as plain records: events, exposures, indicators, the window.

Every record points back to the evidence it came from (``EvidenceRef``: archive, member, the
path it was collected from, the evidence id, and the byte offset of the line inside the member),
so each fact can be checked by hand against the sealed archive. Nothing here holds a secret
value: texts are redacted to fingerprints before they become a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class MemberRef:
    """One evidence member: which archive, its name there, and where it was collected from."""

    archive: str
    member: str
    source: str
    evidence_id: str
    collected_at: str = ""
    mtime: float | None = None

    def at(self, offset: int, line: int | None = None) -> EvidenceRef:
        return EvidenceRef(self, offset, line)


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """A place inside a member: the byte offset of the line (and its 1-based number)."""

    member: MemberRef
    offset: int
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        m = self.member
        out: dict[str, Any] = {
            "archive": m.archive, "member": m.member, "source": m.source,
            "evidence_id": m.evidence_id, "offset": self.offset,
        }  # fmt: skip
        if self.line is not None:
            out["line"] = self.line
        return out

    @property
    def short(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"offset {self.offset}"
        return f"{self.member.evidence_id} {self.member.source} ({where})"


# Roles of the text an event carries, for the scanners (never stored):
INBOUND = "inbound"  # came into the agent's context from outside: messages, tool results
OUTBOUND = "outbound"  # left through a tool: commands, URLs, files written, messages sent
COMMAND = "command"  # a command line the agent (or a scheduled job) had run: outbound too
WRITTEN = "written"  # content the agent wrote into a file: it had the value in its context
LOGGED = "logged"  # a log line: a value there was written down, not read by the agent


@dataclass(slots=True)
class Event:
    """One thing that happened, as some evidence member records it.

    ``texts`` are (role, text) pairs handed to the scanners and dropped afterwards; ``attrs``
    are the short, redacted facts a person reads (command, path, url, channel, to, ...).
    """

    ts: datetime | None
    source: str  # the parser: openclaw-transcript, auth-log, ...
    kind: str  # tool.exec, message.sent, auth.login, gateway.auth_failure, ...
    summary: str
    ref: EvidenceRef
    session: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    texts: list[tuple[str, str]] = field(default_factory=list)
    severity: str = "info"
    flags: list[str] = field(default_factory=list)

    def flag(self, rule_id: str, severity: str) -> None:
        from clawback.investigate.rules import severity_rank

        if rule_id not in self.flags:
            self.flags.append(rule_id)
        if severity_rank(severity) > severity_rank(self.severity):
            self.severity = severity

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ts": iso(self.ts),
            "source": self.source,
            "kind": self.kind,
            "summary": self.summary,
            "severity": self.severity,
            "evidence": self.ref.as_dict(),
        }
        if self.session:
            out["session"] = self.session
        if self.attrs:
            out["attrs"] = self.attrs
        if self.flags:
            out["flags"] = list(self.flags)
        return out


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one: evidence fields are untrusted."""
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Sighting:
    """Where a credential's value was seen: when, how, in which event."""

    ts: datetime | None
    how: str  # read | sent | logged
    event_kind: str
    summary: str
    ref: EvidenceRef

    def as_dict(self) -> dict[str, Any]:
        return {
            "ts": iso(self.ts), "how": self.how, "event": self.event_kind,
            "summary": self.summary, "evidence": self.ref.as_dict(),
        }  # fmt: skip


@dataclass
class CredentialExposure:
    """One credential of the incident and whether its value reached what the agent read/sent."""

    fingerprint: str
    provider: str
    kind: str
    key_id: str | None
    locations: tuple[str, ...]
    account: str | None = None  # where the provider keeps the key (a key step's facts)
    # The provider's last use of the key as a key step read it (``{at, source, recorded_by}``).
    last_used: Mapping[str, str] | None = None
    first_read: Sighting | None = None
    first_sent: Sighting | None = None
    first_logged: Sighting | None = None
    reads: int = 0
    sends: int = 0
    logged: int = 0

    @property
    def exposed(self) -> bool:
        return self.first_read is not None or self.first_sent is not None

    @property
    def first(self) -> Sighting | None:
        seen = [s for s in (self.first_read, self.first_sent) if s is not None]
        return min(seen, key=_sighting_order) if seen else None

    @property
    def status(self) -> str:
        if self.first_sent is not None:
            return "exposed"
        return "exposed" if self.first_read is not None else "reachable only"

    def as_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "fingerprint": self.fingerprint,
            "provider": self.provider,
            "kind": self.kind,
            "key_id": self.key_id,
            **({"account": self.account} if self.account else {}),
            **({"provider_last_used": dict(self.last_used)} if self.last_used else {}),
            "locations": list(self.locations),
            "status": self.status,
            "sent": self.first_sent is not None,
            "first_exposed": first.as_dict() if first else None,
            "first_read": self.first_read.as_dict() if self.first_read else None,
            "first_sent": self.first_sent.as_dict() if self.first_sent else None,
            "times_read": self.reads,
            "times_sent": self.sends,
            "also_logged": self.first_logged.as_dict() if self.first_logged else None,
            "times_logged": self.logged,
        }


def _sighting_order(s: Sighting) -> tuple[int, datetime]:
    return (0, s.ts) if s.ts is not None else (1, datetime.max.replace(tzinfo=UTC))


@dataclass
class Indicator:
    """A domain, IP, URL or behaviour, with the first event that showed it."""

    type: str  # domain | ip | url | injection | exfiltration | persistence | listener | login
    value: str
    relation: str  # contacted | told to contact | seen | ...
    severity: str
    rule: str
    first_ts: datetime | None
    ref: EvidenceRef
    summary: str
    known: bool = False
    count: int = 1
    why: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {
            "type": self.type, "value": self.value, "relation": self.relation,
            "severity": self.severity, "rule": self.rule, "first_seen": iso(self.first_ts),
            "count": self.count, "summary": self.summary, "evidence": self.ref.as_dict(),
        }  # fmt: skip
        if self.known:
            out["known"] = True
        if self.why:
            out["why"] = self.why
        return out
