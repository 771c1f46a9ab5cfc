"""What the post-incident report says, derived only from what the incident can prove.

Three sources, nothing else: the signed timeline, the evidence manifest, and the verdicts of
``clawback verify`` over both. The timeline is parsed line by line with the timeline's own
strict parser rather than ``read_entries``, because a tampered log is exactly when a report is
still needed: a damaged line is listed as unreadable instead of stopping the report, and the
integrity block says the log is not intact before anything else.

Every renderer (Markdown, HTML, Timesketch) works from the ``IncidentReport`` built here, so
they can't disagree about what happened.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from clawback.evidence import (
    ArchiveRecord,
    CustodyEvent,
    check_evidence,
    load_manifest,
    manifest_path,
)
from clawback.timeline import (
    CHECKPOINT_FILE,
    Entry,
)
from clawback.verdict import Verdict
from clawback.verify import VerifyReport, verify_incident
from responders.interface import EvidenceItem

if TYPE_CHECKING:
    from clawback.report.investigation import InvestigationFindings
    from clawback.report.standing import Standing

IntegrityState = Literal["intact", "unanchored", "not_intact"]

# The status an outcome type stands for, for timelines written before results carried
# ``extra.status`` or by a third-party runner; the runner's own ``status`` always wins.
_STATUS_OF_OUTCOME: dict[str, str] = {
    "Done": "ok",
    "Revoked": "ok",
    "Disabled": "ok",
    "Rotated": "ok",
    "AlreadyRevoked": "ok",
    "VerifiedDead": "ok",
    "Unproven": "unproven",
    "Collected": "ok",
    "ManualRequired": "manual",
    "Failed": "failed",
    "Refused": "refused",
    "Skipped": "skipped",
    "Planned": "planned",
}
# Ordered worst first: the colour a group of outcomes takes is its worst member's.
STATUS_ORDER: tuple[str, ...] = (
    "failed", "refused", "unproven", "manual", "crashed", "ok", "planned", "skipped", "intent",
    "event",
)  # fmt: skip
# "unproven": revoked, but the provider's answer does not prove the key dead; never "ok".
NEEDS_HUMAN = frozenset({"failed", "refused", "manual", "unproven"})
_DEAD_OUTCOMES = frozenset({"Revoked", "AlreadyRevoked", "Disabled"})
_KEY_ACTIONS = ("revoke", "verify_revoked", "rotate")
_EVIDENCE_CODES = ("EVIDENCE_", "MANIFEST_", "ARCHIVE_")
# The outcome fields (a result's ``extra``) some part of the report shows; a row keeps only
# these, so 100,000 entries fit in bounded memory. Everything else stays in the signed
# timeline, which the report names and verify checks.
# "check": what to look at for a key revoked but not proven dead (Unproven).
_SHOWN_EXTRA = ("new_fingerprint", "url", "instructions", "reason", "error", "check")
_NOTHING: Mapping[str, Any] = MappingProxyType({})
# Repeated short strings (steps, actions, outcomes, details) are stored once.
_INTERN_BELOW = 120


# --------------------------------------------------------------------------------------------
# Formatting shared by every renderer
# --------------------------------------------------------------------------------------------


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


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


# --------------------------------------------------------------------------------------------
# The report's parts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One timeline entry as the report shows it; fingerprints only, as the entry holds.

    Only what a renderer shows is kept (a report on 100,000 entries holds them all): the
    outcome fields in ``_SHOWN_EXTRA``, the target's label, host, key id and locations, and
    digests where the report only compares (``target_key``, ``target_id``)."""

    seq: int
    ts: datetime | None
    step: str
    action: str
    phase: str
    outcome: str | None
    status: str  # ok | manual | failed | refused | skipped | planned | intent | event | crashed
    # what was acted on when it is no credential: a service, an evidence source ("" for a
    # credential, whose ``target`` is made from its kind and fingerprint when shown)
    label: str
    fingerprint: str
    provider: str | None
    kind: str | None
    detail: str
    evidence_refs: tuple[str, ...]
    intent_seq: int | None
    dry_run: bool
    # the entry's ``hash``: 32 bytes when it is lowercase hex (``entry_hash`` spells it)
    entry_digest: bytes | str
    actor: str
    # digest of the canonical (step, action, target): pairs intents, results and retries
    target_key: bytes
    # the thing acted on, the same across a credential's revoke/verify/rotate (a digest)
    target_id: bytes
    host: str | None = None  # the fleet member this entry is about (None: this machine)
    key_id: str | None = None  # a key action's target: the provider's id and where it was
    locations: tuple[str, ...] = ()
    # the outcome's fields the report shows
    extra: Mapping[str, Any] = field(default_factory=lambda: _NOTHING)
    # verify failures that name this entry (ENTRY_MODIFIED, BAD_SIGNATURE, ...)
    flags: tuple[str, ...] = ()

    @property
    def time(self) -> str:
        return clock_text(self.ts)

    @property
    def target(self) -> str:
        """What was acted on: "kind fingerprint", a service, an evidence source."""
        if self.fingerprint:
            return f"{self.kind} {self.fingerprint}" if self.kind else self.fingerprint
        return self.label

    @property
    def entry_hash(self) -> str:
        digest = self.entry_digest
        return digest.hex() if isinstance(digest, bytes) else digest

    @property
    def is_key_action(self) -> bool:
        return self.provider is not None and self.action in _KEY_ACTIONS

    @property
    def shown_detail(self) -> str:
        """The detail, or what the outcome carries when the detail is empty."""
        if self.detail:
            return self.detail
        replacement = self.extra.get("new_fingerprint")
        return f"replacement {replacement}" if replacement else ""

    @property
    def message(self) -> str:
        """One sentence a person can read on its own (the Timesketch ``message``)."""
        target = f" {self.target}" if self.target else ""
        if self.phase == "intent":
            text = f"{self.step}: about to {self.action}{target}"
        elif self.phase == "result":
            text = f"{self.step}: {self.action}{target} → {self.outcome or 'no outcome'}"
            if self.shown_detail:
                text += f" ({self.shown_detail})"
        else:
            text = f"{self.step}: {self.action}{target}"
            if self.detail:
                text += f" — {self.detail}"
        if self.dry_run:
            text += " [dry run]"
        return text


@dataclass(frozen=True)
class UnreadableLine:
    line: int
    reason: str


@dataclass(frozen=True)
class StepSummary:
    """A playbook step as the timeline shows it: when it ran and how its targets ended."""

    step: str
    first: datetime | None
    last: datetime | None
    statuses: Mapping[str, int]
    actions: tuple[str, ...]
    entries: int

    @property
    def worst(self) -> str:
        for status in STATUS_ORDER:
            if self.statuses.get(status):
                return status
        return "event"

    @property
    def seconds(self) -> float | None:
        if self.first is None or self.last is None:
            return None
        return (self.last - self.first).total_seconds()

    def summary(self) -> str:
        parts = [
            f"{self.statuses[s]} {s}" for s in STATUS_ORDER
            if self.statuses.get(s) and s not in ("intent", "event")
        ]  # fmt: skip
        return " · ".join(parts) or _plural(self.entries, "event")


@dataclass(frozen=True)
class CredentialActions:
    """Everything the keys step did to one credential, latest outcome per action."""

    target_id: bytes
    provider: str
    kind: str
    fingerprint: str
    key_id: str | None
    locations: tuple[str, ...]
    revoke: TimelineRow | None
    verify: TimelineRow | None
    rotate: TimelineRow | None

    @property
    def dead(self) -> bool:
        return self.revoke is not None and self.revoke.outcome in _DEAD_OUTCOMES

    @property
    def verified_dead(self) -> bool:
        return self.verify is not None and self.verify.outcome == "VerifiedDead"

    @property
    def unproven(self) -> TimelineRow | None:
        """The result that left this key revoked but not proven dead, if one did."""
        for row in (self.verify, self.revoke):
            if row is not None and row.status == "unproven":
                return row
        return None

    @property
    def check(self) -> str:
        """What to look at to settle an unproven key (empty when it is not unproven)."""
        row = self.unproven
        return str(row.extra.get("check") or "") if row is not None else ""

    @property
    def rotated(self) -> bool:
        return self.rotate is not None and self.rotate.outcome == "Rotated"

    @property
    def new_fingerprint(self) -> str:
        if self.rotate is None:
            return ""
        return str(self.rotate.extra.get("new_fingerprint", ""))

    @property
    def rows(self) -> tuple[TimelineRow | None, ...]:
        return (self.revoke, self.verify, self.rotate)

    @property
    def state(self) -> str:
        """The credential's standing in a few words, worst news first."""
        if self.verify is not None and self.verify.status == "failed":
            return "still works at the provider"
        if self.unproven is not None:
            return "revoked, not proven dead"
        if self.dead:
            how = "disabled" if self.revoke and self.revoke.outcome == "Disabled" else "dead"
            return f"{how}, verified" if self.verified_dead else f"{how}, not verified"
        if self.revoke is None:
            return "not attempted"
        return {
            "crashed": "never finished: check by hand",
            "manual": "needs a human",
            "failed": "revoke failed",
            "refused": "refused",
            "skipped": "skipped",
            "planned": "planned only",
        }.get(self.revoke.status, self.revoke.outcome or "unknown")

    @property
    def state_status(self) -> str:
        if self.verify is not None and self.verify.status == "failed":
            return "failed"
        if self.unproven is not None:
            return "unproven"
        if self.dead:
            return "ok"
        return self.revoke.status if self.revoke is not None else "crashed"


@dataclass(frozen=True)
class ProviderActions:
    provider: str
    credentials: tuple[CredentialActions, ...]

    def count(self, what: str) -> int:
        creds = self.credentials
        return {
            "credentials": len(creds),
            "dead": sum(c.dead for c in creds),
            "verified": sum(c.verified_dead for c in creds),
            "unproven": sum(c.unproven is not None for c in creds),
            "rotated": sum(c.rotated for c in creds),
            "manual": sum(
                any(r is not None and r.status == "manual" for r in c.rows) for c in creds
            ),
            "failed": sum(
                any(r is not None and r.status in ("failed", "refused", "crashed") for r in c.rows)
                for c in creds
            ),
        }[what]

    @property
    def worst(self) -> str:
        statuses = {r.status for c in self.credentials for r in c.rows if r is not None}
        return next((s for s in STATUS_ORDER if s in statuses), "event")


@dataclass(frozen=True)
class HumanAction:
    """Something clawback could not finish; ``instructions`` say what to do."""

    # manual | failed | refused | unproven | crashed | skipped | integrity | unfinished |
    # isolated
    reason: str
    instructions: str
    target: str = ""
    provider: str = ""
    url: str = ""
    seq: int | None = None
    # How urgent it is (clawback.report.standing.URGENCY): "agent", "accepted", "not_revoked",
    # "unproven", "replacement", "step", or the reason itself for integrity/isolated/unfinished
    rank: str = "step"
    step: str = ""
    action: str = ""
    kind: str = ""
    key_id: str = ""
    locations: tuple[str, ...] = ()  # where the key was found: the places to scrub

    @property
    def link(self) -> str:
        """``url`` if it is a plain web address; anything else (``javascript:``...) is no link."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return self.url if parts.scheme in ("http", "https") and parts.netloc else ""


@dataclass(frozen=True)
class ServiceStop:
    target: str
    at: datetime | None
    detail: str
    seq: int


@dataclass(frozen=True)
class IsolationWindow:
    started: datetime | None
    ended: datetime | None
    detail: str
    seq: int
    rollback_deadline: str = ""


@dataclass(frozen=True)
class Impact:
    services_stopped: tuple[ServiceStop, ...]
    service_stop_failures: tuple[TimelineRow, ...]
    isolation: tuple[IsolationWindow, ...]
    contained_at: datetime | None  # the last stop, revoke or cut that succeeded
    stop_attempted: bool = False

    def seconds_to_contain(self, opened: datetime | None) -> float | None:
        if opened is None or self.contained_at is None:
            return None
        return (self.contained_at - opened).total_seconds()


@dataclass(frozen=True)
class Integrity:
    state: IntegrityState
    failures: tuple[Verdict, ...]
    warnings: tuple[Verdict, ...]
    passes: tuple[Verdict, ...]
    entry_count: int
    anchored_sizes: tuple[int, ...]
    key_fingerprint: str | None  # the key verify trusted: pinned, else the one entry 0 names
    recorded_key_fingerprint: str | None
    key_name: str | None
    pinned: bool
    final_checkpoint: str | None
    external_checkpoint: str | None
    timeline_sha256: str
    last_entry_hash: str | None
    verify_command: str

    @property
    def headline(self) -> str:
        if self.state == "not_intact":
            return "NOT INTACT: the timeline or its evidence has been tampered with or damaged"
        if self.state == "unanchored":
            return "UNANCHORED: no tampering found, but nothing kept off this host vouches for it"
        return "INTACT: verified against the checkpoint kept off the host"

    @property
    def explanation(self) -> str:
        if self.state == "not_intact":
            return (
                f"clawback verify found {_plural(len(self.failures), 'problem')}. Nothing below "
                "can be relied on until they are explained: entries may have been edited, "
                "removed or forged after the incident. Keep this copy, and compare it with the "
                "checkpoint printed during the run."
            )
        if self.state == "unanchored":
            return (
                f"All {self.entry_count} entries hash, chain and verify with the signing key, "
                "but no external checkpoint was given, so a cut-off tail, or a rewrite by "
                "someone holding the signing key, can't be ruled out. Re-run with the "
                "checkpoint you copied off the host during the run."
            )
        sizes = ", ".join(str(s) for s in self.anchored_sizes)
        return (
            f"All {self.entry_count} entries hash, chain and verify with the signing key, and "
            f"match the external checkpoint (tree size {sizes})."
        )


@dataclass(frozen=True)
class EvidenceSummary:
    found: bool
    problem: str
    recorded_sha256: str | None  # what the close entry committed to
    actual_sha256: str | None
    archives: tuple[ArchiveRecord, ...]
    items: tuple[EvidenceItem, ...]
    skipped: tuple[Mapping[str, str], ...]
    custody: tuple[CustodyEvent, ...]
    examiner: str
    host: Mapping[str, Any]
    acquisition_started: str
    acquisition_finished: str
    verdicts: tuple[Verdict, ...]

    @property
    def total_bytes(self) -> int:
        return sum(i.size for i in self.items)

    @property
    def truncated(self) -> int:
        return sum(i.truncated for i in self.items)

    def kinds(self) -> list[tuple[str, int, int]]:
        """(kind, item count, bytes) for each kind of item, most common first."""
        counts: Counter[str] = Counter()
        sizes: Counter[str] = Counter()
        for item in self.items:
            counts[item.kind] += 1
            sizes[item.kind] += item.size
        return [(kind, n, sizes[kind]) for kind, n in counts.most_common()]


@dataclass(frozen=True)
class IncidentFacts:
    incident_id: str
    opened: datetime | None
    closed: datetime | None
    status: str  # closed | reopened and closed | not closed
    hostname: str
    host: Mapping[str, Any]
    operator: str
    actors: tuple[str, ...]
    tool: str
    playbook_path: str
    playbook_sha256: str
    config_path: str
    config_sha256: str
    credentials_found: int | None
    clock: Mapping[str, Any]
    resumes: int
    dry_run: bool

    @property
    def seconds(self) -> float | None:
        if self.opened is None or self.closed is None:
            return None
        return (self.closed - self.opened).total_seconds()


@dataclass(frozen=True)
class IncidentReport:
    incident_dir: Path
    generated_at: datetime
    facts: IncidentFacts
    integrity: Integrity
    rows: tuple[TimelineRow, ...]
    unreadable: tuple[UnreadableLine, ...]
    steps: tuple[StepSummary, ...]
    providers: tuple[ProviderActions, ...]
    host_actions: tuple[TimelineRow, ...]
    impact: Impact
    human_actions: tuple[HumanAction, ...]
    evidence: EvidenceSummary
    # What ``clawback investigate`` sealed into the incident, if it ran (None otherwise).
    investigation: InvestigationFindings | None = None

    @property
    def incident_id(self) -> str:
        return self.facts.incident_id

    @property
    def host_groups(self) -> list[tuple[str, tuple[TimelineRow, ...]]]:
        """Host actions per host: one section per fleet member, or one for a single host."""
        if not any(r.host for r in self.host_actions):
            return [("Host", self.host_actions)]
        groups: dict[str, list[TimelineRow]] = {}
        for row in self.host_actions:
            groups.setdefault(f"Host {row.host}" if row.host else "This machine", []).append(row)
        return [(title, tuple(rows)) for title, rows in groups.items()]

    @property
    def results(self) -> tuple[TimelineRow, ...]:
        return tuple(r for r in self.rows if r.phase == "result")

    def count(self, what: str) -> int:
        return sum(p.count(what) for p in self.providers)

    @functools.cached_property
    def standing(self) -> Standing:
        """Where things stand: the first screen (agent, keys, to-do, integrity)."""
        from clawback.report.standing import build_standing

        return build_standing(self)

    @property
    def unproven(self) -> tuple[CredentialActions, ...]:
        """Keys revoked but not proven dead, shown apart from the dead with what to check."""
        return tuple(c for p in self.providers for c in p.credentials if c.unproven is not None)

    @property
    def investigation_summary(self) -> str:
        """What the sealed investigation found, in one sentence ("" without one)."""
        return _investigation_sentence(self.investigation) if self.investigation else ""

    @property
    def executive_summary(self) -> str:
        """The facts a summary must contain, in sentences; the narrative is the humans' part."""
        f = self.facts
        when = f"on {f.opened:%Y-%m-%d} from {clock_text(f.opened)} UTC" if f.opened else ""
        span = f" for {duration_text(f.seconds)}" if f.seconds is not None else ""
        sentences = [
            f"clawback ran the playbook {Path(f.playbook_path).name or '(unknown)'} against "
            f"{f.hostname or 'an unknown host'} {when}{span}, operated by "
            f"{f.operator or 'an unknown operator'}."
        ]
        stops = len(self.impact.services_stopped)
        creds = self.count("credentials")
        standing = self.standing
        sentences.append(
            f"It stopped {_plural(stops, 'agent service')}"
            + (
                f" ({len(self.impact.service_stop_failures)} stop failed)"
                if self.impact.service_stop_failures
                else ""
            )
            + f" and acted on {_plural(creds, 'credential')} across "
            f"{_plural(len(self.providers), 'provider')}: {standing.counts['dead']} proven dead"
            + (f", {standing.counts['unchecked']} revoked but not re-checked"
               if standing.counts["unchecked"] else "")
            + (f", {standing.live_count} still live or unproven ({standing.live_breakdown()})"
               if standing.live_count else "")
            + f"; {self.count('rotated')} replaced by a new key."
        )
        if self.impact.isolation:
            window = self.impact.isolation[-1]
            sentences.append(
                "The network was cut at "
                f"{clock_text(window.started)} UTC"
                + (
                    f" and restored at {clock_text(window.ended)} UTC."
                    if window.ended
                    else " and was still cut when the timeline closed."
                )
            )
        if self.evidence.found:
            sentences.append(
                f"Evidence: {_plural(len(self.evidence.items), 'item')} "
                f"({size_text(self.evidence.total_bytes)}) sealed in "
                f"{_plural(len(self.evidence.archives), 'archive')}."
            )
        if self.investigation is not None:
            sentences.append(self.investigation_summary)
        todo = len(self.human_actions)
        sentences.append(
            f"{_plural(todo, 'item')} still {'needs' if todo == 1 else 'need'} a human."
            if todo
            else "Nothing is left for a human to finish."
        )
        return " ".join(sentences)


# --------------------------------------------------------------------------------------------
# Building it
# --------------------------------------------------------------------------------------------


def build_report(
    incident_dir: Path, *, checkpoint: Path | None = None, pubkey: Path | None = None
) -> IncidentReport:
    """Verify the incident and derive the report from its timeline and manifest.

    Raises BadInput (exit 2) when ``incident_dir`` is not an incident or a given checkpoint or
    public key can't be read; a tampered incident still gets a report, which says so first.
    """
    incident_dir = Path(incident_dir)
    rows_seen: list[TimelineRow] = []
    kept: list[Entry] = []  # the few entries the facts need: first, open, each close, last
    unreadable: list[UnreadableLine] = []
    last: list[Entry] = []

    shared: dict[bytes, bytes] = {}

    def take(entry: Entry) -> None:
        # Each line is parsed once, by verify; the report keeps its row, not the entry.
        rows_seen.append(_row(entry, (), shared))
        if not kept or entry.action in ("open", "close"):
            kept.append(entry)
        last[:] = [entry]

    verdict = verify_incident(
        incident_dir,
        checkpoint=checkpoint,
        pubkey=pubkey,
        evidence_checker=check_evidence,
        on_entry=take,
        on_unreadable=lambda line, why: unreadable.append(UnreadableLine(line, why)),
    )
    entries = kept + [e for e in last if not kept or e is not kept[-1]]
    flags = _flags_by_seq(verdict.verdicts)
    rows = tuple(replace(r, flags=flags[r.seq]) if r.seq in flags else r for r in rows_seen)
    rows_seen.clear()
    shared.clear()
    rows = _mark_crashed(rows)
    facts = _facts(incident_dir, entries, rows)
    evidence = _evidence(incident_dir, entries, verdict.verdicts)
    providers = _providers(rows)
    impact = _impact(rows)
    integrity = _integrity(incident_dir, verdict, entries, facts.incident_id, checkpoint, pubkey)
    return IncidentReport(
        incident_dir=incident_dir,
        generated_at=datetime.now(UTC),
        facts=facts,
        integrity=integrity,
        rows=rows,
        unreadable=tuple(unreadable),
        steps=_steps(rows),
        providers=providers,
        host_actions=tuple(r for r in rows if r.phase == "result" and not r.is_key_action),
        impact=impact,
        human_actions=_human_actions(rows, integrity, facts, impact),
        evidence=evidence,
        investigation=_investigation(incident_dir) if evidence.found else None,
    )


def _investigation_sentence(inv: InvestigationFindings) -> str:
    """What the sealed investigation found, in one sentence for the first screen."""
    first = inv.first_suspicious
    parts = [
        f"first malicious event {first.ts:%Y-%m-%d %H:%M:%S} UTC ({first.kind}: "
        f"{first.summary[:120]})" if first and first.ts else "no suspicious event (which is "
        "not the same as all clear)",
    ]
    sent = [e for e in inv.exposed if e.sent]
    parts.append(f"{len(inv.exposed)} of {_plural(len(inv.exposures), 'credential')} exposed"
                 + (f", {len(sent)} sent out ("
                    + ", ".join(f"{e.provider} {e.fingerprint}" for e in sent[:5]) + ")"
                    if sent else ""))
    if inv.suspect_destinations:
        parts.append("sent to " + ", ".join(inv.suspect_destinations[:5]))
    if inv.seconds_to_contain is not None:
        parts.append(f"contained {duration_text(inv.seconds_to_contain)} after the first "
                     "suspicious event")
    return "The investigation of the sealed evidence found: " + "; ".join(parts) + "."


def _investigation(incident_dir: Path) -> InvestigationFindings | None:
    from clawback.report.investigation import load

    try:
        manifest = load_manifest(incident_dir)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return load(incident_dir, manifest.files)


def _flags_by_seq(verdicts: Iterable[Verdict]) -> dict[int, tuple[str, ...]]:
    flags: dict[int, list[str]] = {}
    for v in verdicts:
        if v.severity == "failure" and v.seq is not None:
            flags.setdefault(v.seq, []).append(v.code)
    return {seq: tuple(dict.fromkeys(codes)) for seq, codes in flags.items()}


def _mapping(value: Any) -> dict[str, Any]:
    """A copy of ``value`` if it is a JSON object, else empty: entries are read, not trusted."""
    return dict(value) if isinstance(value, Mapping) else {}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(x) for x in value) if isinstance(value, list) else ()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(value: Any) -> bytes:
    """What the report compares but never shows: 16 bytes instead of the canonical text."""
    return hashlib.blake2b(_canonical(value).encode(), digest_size=16).digest()


def _hash_bytes(text: str) -> bytes | str:
    """The entry's hash as bytes when they spell it back exactly, else the text as read."""
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        return text
    return digest if digest.hex() == text else text


def _short(text: str) -> str:
    return sys.intern(text) if len(text) < _INTERN_BELOW else text


def _shown_extra(action: str, extra: Mapping[str, Any]) -> Mapping[str, Any]:
    shown = {k: extra[k] for k in _SHOWN_EXTRA if k in extra}
    if action.endswith("cut_network"):
        rollback = _mapping(_mapping(extra.get("facts")).get("rollback"))
        if rollback:
            kept = {k: rollback[k] for k in ("armed", "deadline_utc") if k in rollback}
            shown["facts"] = {"rollback": kept}
    return shown or _NOTHING


def _target_label(target: Any) -> tuple[str, str]:
    """(what was acted on, its fingerprint) from an entry's ``target``."""
    if not isinstance(target, Mapping):
        return "", ""
    fp = str(target.get("fingerprint") or "")
    kind = str(target.get("kind") or "")
    if fp:
        return (f"{kind} {fp}" if kind else fp), fp
    for name in ("target", "service", "source"):
        if target.get(name):
            return str(target[name]), ""
    return _canonical(target), ""


def _target_id(target: Any) -> bytes:
    if isinstance(target, Mapping) and isinstance(target.get("target"), str):
        return _digest(target["target"])
    return _digest(target)


def _row(
    entry: Entry, flags: tuple[str, ...], shared: dict[bytes, bytes] | None = None
) -> TimelineRow:
    """``shared`` holds each digest once across rows: an intent and its result, and every
    action on one credential, name the same target."""
    f = entry.fields
    once = shared.setdefault if shared is not None else (lambda d, _: d)
    target = f.get("target")
    label, fp = _target_label(target)
    extra = _mapping(f.get("extra"))
    outcome = f.get("outcome")
    phase = str(f.get("phase"))
    action = str(f.get("action"))
    if phase == "result":
        status = str(extra.get("status") or _STATUS_OF_OUTCOME.get(str(outcome), "unknown"))
    elif phase == "intent":
        status = "intent"
    elif action == "step.skip":
        status = "skipped"
    else:
        status = "event"
    actor = _mapping(f.get("actor"))
    about = target if isinstance(target, Mapping) else _NOTHING
    provider, kind, host = about.get("provider"), about.get("kind"), about.get("host")
    key_action = bool(provider) and action in _KEY_ACTIONS
    return TimelineRow(
        seq=entry.seq,
        ts=parse_ts(f.get("ts")),
        step=_short(str(f.get("step"))),
        action=_short(action),
        phase=_short(phase),
        outcome=_short(str(outcome)) if outcome is not None else None,
        status=_short(status),
        label="" if fp else _short(label),
        fingerprint=_short(fp),
        provider=_short(str(provider)) if provider else None,
        kind=_short(str(kind)) if kind else None,
        detail=_short(str(f.get("detail") or "")),
        evidence_refs=tuple(f.get("evidence_refs") or ()),
        intent_seq=f.get("intent_seq"),
        dry_run=bool(f.get("dry_run")),
        entry_digest=_hash_bytes(entry.hash),
        actor=_short(str(actor.get("user") or "")),
        target_key=once(key := _digest([f.get("step"), action, target]), key),
        target_id=once(same := _target_id(target), same),
        host=_short(str(host)) if host else None,
        key_id=(_short(str(about.get("key_id") or "")) or None) if key_action else None,
        locations=_strings(about.get("locations")) if key_action else (),
        extra=_shown_extra(action, extra),
        flags=flags,
    )


def _mark_crashed(rows: tuple[TimelineRow, ...]) -> tuple[TimelineRow, ...]:
    """An intent no result answers is a crashed action: shown as such, never as pending."""
    answered = {r.intent_seq for r in rows if r.phase == "result"}
    return tuple(
        replace(r, status="crashed") if r.phase == "intent" and r.seq not in answered else r
        for r in rows
    )


def _facts(
    incident_dir: Path, entries: Sequence[Entry], rows: Sequence[TimelineRow]
) -> IncidentFacts:
    opening = next((e for e in entries if e.action == "open"), None)
    extra: Mapping[str, Any] = opening.extra if opening is not None else {}
    host = _mapping(extra.get("host"))
    playbook = _mapping(extra.get("playbook"))
    config = _mapping(extra.get("config"))
    tool = _mapping(extra.get("tool"))
    last = rows[-1] if rows else None
    resumes = sum(r.action == "resume" for r in rows)
    if last is not None and last.action == "close":
        status = "reopened and closed again" if resumes else "closed"
        closed = last.ts
    else:
        status = "not closed (interrupted, or its end is missing)"
        closed = None
    incident_id = (
        str(opening.fields["incident"]) if opening is not None
        else str(entries[0].fields["incident"]) if entries
        else incident_dir.name
    )  # fmt: skip
    found = extra.get("credentials_found")
    return IncidentFacts(
        incident_id=incident_id,
        opened=parse_ts(opening.fields["ts"]) if opening is not None else None,
        closed=closed,
        status=status,
        hostname=str(host.get("hostname") or ""),
        host=dict(host),
        operator=str(extra.get("operator") or (rows[0].actor if rows else "")),
        actors=tuple(dict.fromkeys(r.actor for r in rows if r.actor)),
        tool=f"{tool.get('name', 'clawback')} {tool.get('version', '')}".strip(),
        playbook_path=str(playbook.get("path") or playbook.get("name") or ""),
        playbook_sha256=str(playbook.get("sha256") or ""),
        config_path=str(config.get("path") or ""),
        config_sha256=str(config.get("sha256") or ""),
        credentials_found=found if isinstance(found, int) else None,
        clock=_mapping(extra.get("clock")),
        resumes=resumes,
        dry_run=any(r.dry_run for r in rows),
    )


def _integrity(
    incident_dir: Path,
    verdict: VerifyReport,
    entries: Sequence[Entry],
    incident_id: str,
    checkpoint: Path | None,
    pubkey: Path | None,
) -> Integrity:
    failures = tuple(v for v in verdict.verdicts if v.severity == "failure")
    if failures:
        state: IntegrityState = "not_intact"
    elif verdict.anchored:
        state = "intact"
    else:
        state = "unanchored"
    opening = next((e for e in entries if e.action == "open"), None)
    signing = _mapping(opening.extra.get("signing_key") if opening is not None else None)
    command = f"clawback verify {incident_id} --checkpoint " + (
        str(checkpoint) if checkpoint is not None else "<your off-host copy of the checkpoint>"
    )
    if pubkey is not None:
        command += f" --pubkey {pubkey}"
    return Integrity(
        state=state,
        failures=failures,
        warnings=tuple(v for v in verdict.verdicts if v.severity == "warning"),
        passes=tuple(v for v in verdict.verdicts if v.severity == "ok"),
        entry_count=verdict.entry_count,
        anchored_sizes=tuple(verdict.checkpoint_sizes),
        key_fingerprint=verdict.key_fingerprint,
        recorded_key_fingerprint=str(signing.get("fingerprint") or "") or None,
        key_name=str(signing.get("name") or "") or None,
        pinned=pubkey is not None,
        final_checkpoint=_read_text(incident_dir / CHECKPOINT_FILE),
        external_checkpoint=_read_text(checkpoint) if checkpoint is not None else None,
        timeline_sha256=verdict.timeline_sha256 or "",
        last_entry_hash=entries[-1].hash if entries else None,
        verify_command=command,
    )


def _read_text(path: Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8").strip("\n")
    except (OSError, UnicodeDecodeError):
        return None


def _steps(rows: Sequence[TimelineRow]) -> tuple[StepSummary, ...]:
    grouped: dict[str, list[TimelineRow]] = {}
    for row in rows:
        grouped.setdefault(row.step, []).append(row)
    out = []
    for step, members in grouped.items():
        times = [r.ts for r in members if r.ts is not None]
        out.append(
            StepSummary(
                step=step,
                first=min(times) if times else None,
                last=max(times) if times else None,
                statuses=dict(Counter(r.status for r in members)),
                actions=tuple(dict.fromkeys(r.action for r in members)),
                entries=len(members),
            )
        )
    return tuple(out)


def _latest_results(rows: Iterable[TimelineRow]) -> dict[str, TimelineRow]:
    """The last result per (step, action, target): a retry or resume supersedes earlier ones."""
    latest: dict[str, TimelineRow] = {}
    for row in rows:
        if row.phase == "result":
            latest[row.target_key] = row
    return latest


def _providers(rows: Sequence[TimelineRow]) -> tuple[ProviderActions, ...]:
    by_cred: dict[str, dict[str, TimelineRow]] = {}
    described: dict[str, TimelineRow] = {}
    # A crashed action has only its intent; it stands for the action until a result exists.
    key_rows = [r for r in rows if r.is_key_action and r.phase in ("result", "intent")]
    crashed = {r.target_key: r for r in key_rows if r.status == "crashed"}
    latest = {**crashed, **_latest_results(key_rows)}
    for row in latest.values():
        by_cred.setdefault(row.target_id, {})[row.action] = row
        described.setdefault(row.target_id, row)
    providers: dict[str, list[CredentialActions]] = {}
    for cred_id, actions in by_cred.items():
        first = described[cred_id]
        providers.setdefault(first.provider or "unknown", []).append(
            CredentialActions(
                target_id=cred_id,
                provider=first.provider or "unknown",
                kind=first.kind or "",
                fingerprint=first.fingerprint,
                key_id=first.key_id,
                locations=first.locations,
                revoke=actions.get("revoke"),
                verify=actions.get("verify_revoked"),
                rotate=actions.get("rotate"),
            )
        )
    return tuple(
        ProviderActions(name, tuple(sorted(creds, key=lambda c: (c.kind, c.fingerprint))))
        for name, creds in sorted(providers.items())
    )


def _impact(rows: Sequence[TimelineRow]) -> Impact:
    stops: list[ServiceStop] = []
    stop_failures: list[TimelineRow] = []
    windows: list[IsolationWindow] = []
    contained: datetime | None = None
    for row in rows:
        if row.phase != "result":
            continue
        if row.action.endswith("stop_service"):
            if row.status == "ok":
                stops.append(ServiceStop(row.target, row.ts, row.detail, row.seq))
            elif row.status in NEEDS_HUMAN:
                stop_failures.append(row)
        elif row.action.endswith("cut_network") and row.status == "ok":
            rollback = _mapping(_mapping(row.extra.get("facts")).get("rollback"))
            deadline = str(rollback.get("deadline_utc") or "") if rollback.get("armed") else ""
            windows.append(IsolationWindow(row.ts, None, row.detail, row.seq, deadline))
        elif (
            (row.action == "network.restore" or row.action.endswith("restore_network"))
            and row.status == "ok"
            and windows
        ):
            last = windows[-1]
            if last.ended is None:
                windows[-1] = IsolationWindow(
                    last.started, row.ts, last.detail, last.seq, last.rollback_deadline
                )
        if (
            row.status == "ok"
            and (row.action.endswith(("stop_service", "cut_network")) or row.action == "revoke")
            and row.ts is not None
        ):
            contained = row.ts if contained is None else max(contained, row.ts)
    attempted = any(r.action.endswith("stop_service") for r in rows)
    return Impact(tuple(stops), tuple(stop_failures), tuple(windows), contained, attempted)


def _human_actions(
    rows: Sequence[TimelineRow], integrity: Integrity, facts: IncidentFacts, impact: Impact
) -> tuple[HumanAction, ...]:
    todo: list[HumanAction] = []
    if integrity.state == "not_intact":
        todo.append(
            HumanAction(
                "integrity",
                "Find out why verify fails before acting on this report: compare the timeline "
                "with your off-host checkpoint and any copy of the incident directory.",
                rank="integrity",
            )
        )
    if facts.status.startswith("not closed"):
        todo.append(
            HumanAction(
                "unfinished",
                "The run never closed its timeline. Finish it with "
                f"`clawback contain --resume {facts.incident_id}`.",
                rank="unfinished",
            )
        )
    for row in rows:
        if row.status == "crashed":
            todo.append(
                _human_action(
                    row, "crashed",
                    f"Step {row.step} started to {row.action} {row.target} and never recorded "
                    "a result: check by hand whether it happened.",
                )
            )
    for row in _latest_results(rows).values():
        if row.status in NEEDS_HUMAN:
            todo.append(_human_action(row, row.status, _instructions(row, facts.incident_id)))
        elif row.status == "skipped" and row.is_key_action and row.action == "revoke":
            # Not revoked is not dead, whatever the reason: the key may still work.
            reason = row.extra.get("reason") or row.detail or "skipped"
            todo.append(_human_action(
                row, "skipped",
                f"{row.target} was not revoked ({reason}). Check whether it still works "
                "and revoke it by hand if it does.",
            ))
    for window in impact.isolation:
        if window.ended is None:
            until = (
                f" (the auto-rollback restores it at {window.rollback_deadline} unless confirmed)"
                if window.rollback_deadline
                else ""
            )
            todo.append(
                HumanAction(
                    "isolated",
                    f"The network is still cut{until}. Restore it with "
                    f"`clawback restore-network {facts.incident_id}` once the host is clean, "
                    f"or keep it with `clawback restore-network {facts.incident_id} --confirm`.",
                    seq=window.seq,
                    rank="isolated",
                )
            )
    return tuple(todo)


def _rank(row: TimelineRow, status: str) -> str:
    """How urgent the human's part of ``row`` is (clawback.report.standing.URGENCY)."""
    if "stop_service" in row.action:
        return "agent"
    if not row.is_key_action:
        return "step"
    if row.action == "rotate":
        return "replacement"
    if row.action == "verify_revoked":
        return {"failed": "accepted", "crashed": "unproven"}.get(status, "unproven")
    return "unproven" if status == "unproven" else "not_revoked"


def _human_action(row: TimelineRow, reason: str, instructions: str) -> HumanAction:
    return HumanAction(
        reason,
        instructions,
        target=row.target,
        provider=row.provider or "",
        url=str(row.extra.get("url") or ""),
        seq=row.seq,
        rank=_rank(row, row.status),
        step=row.step,
        action=row.action,
        kind=row.kind or "",
        key_id=row.key_id or "",
        locations=row.locations,
    )


def _instructions(row: TimelineRow, incident_id: str) -> str:
    if row.status == "unproven":
        said = row.extra.get("reason") or row.detail or "the provider's answer proves nothing"
        check = row.extra.get("check") or "check in the provider's console that it is gone"
        return (
            f"{row.target} was revoked but is not proven dead: {said}. Check: {check}. Then "
            f"`clawback contain --resume {incident_id}` asks the provider again."
        )
    if row.status == "manual":
        return str(row.extra.get("instructions") or row.detail or "Finish this by hand.")
    if row.status == "refused":
        reason = row.extra.get("reason") or row.detail
        return (
            f"Step {row.step} was not run: {reason}. Run it with approval "
            f"(`clawback contain --resume {incident_id}` on a terminal), or do it by hand."
        )
    error = row.extra.get("error") or row.detail or "no error recorded"
    if row.action == "verify_revoked":
        return (
            f"The provider still accepts {row.target} ({error}). Revoke it in the provider's "
            "console and check again."
        )
    return (
        f"{row.action} failed for {row.target or row.step}: {error}. Retry with "
        f"`clawback contain --resume {incident_id}`, or do it by hand."
    )


def _evidence(
    incident_dir: Path, entries: Sequence[Entry], verdicts: Sequence[Verdict]
) -> EvidenceSummary:
    closing = [e for e in entries if e.action == "close"]
    recorded = closing[-1].extra.get("evidence_manifest_sha256") if closing else None
    related = tuple(v for v in verdicts if v.code.startswith(_EVIDENCE_CODES))
    path = manifest_path(incident_dir)
    empty = EvidenceSummary(
        found=False, problem="", recorded_sha256=recorded if isinstance(recorded, str) else None,
        actual_sha256=None, archives=(), items=(), skipped=(), custody=(), examiner="",
        host={}, acquisition_started="", acquisition_finished="", verdicts=related,
    )  # fmt: skip
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        problem = "" if recorded is None else "the manifest the close entry names is missing"
        return replace(empty, problem=problem)
    except OSError as exc:
        return replace(empty, problem=f"the manifest can't be read: {exc.strerror}")
    try:
        manifest = load_manifest(incident_dir)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return replace(
            empty,
            actual_sha256=hashlib.sha256(raw).hexdigest(),
            problem=f"the manifest can't be read: {type(exc).__name__}: {exc}",
        )
    return EvidenceSummary(
        found=True,
        problem="",
        recorded_sha256=empty.recorded_sha256,
        actual_sha256=hashlib.sha256(raw).hexdigest(),
        archives=tuple(manifest.archives),
        items=tuple(manifest.items),
        skipped=tuple(manifest.skipped),
        custody=tuple(manifest.custody),
        examiner=manifest.examiner,
        host=dict(manifest.host),
        acquisition_started=manifest.acquisition_started,
        acquisition_finished=manifest.acquisition_finished,
        verdicts=related,
    )
