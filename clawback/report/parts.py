"""The parts an incident report is made of: timeline rows, credentials and what was done to
them, steps, impact, integrity, evidence, the incident's facts, and what is left for a human.

Types only, with what each says about itself; ``model`` builds them from the timeline, and
``standing`` and the renderers read them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from clawback.evidence import ArchiveRecord, CustodyEvent
from clawback.report.formatting import clock_text, plural
from clawback.verdict import Verdict
from responders.interface import EvidenceItem

IntegrityState = Literal["intact", "unanchored", "not_intact"]

# Ordered worst first: the colour a group of outcomes takes is its worst member's.
STATUS_ORDER: tuple[str, ...] = (
    "failed", "refused", "unproven", "manual", "crashed", "ok", "planned", "skipped", "intent",
    "event",
)  # fmt: skip
# "unproven": revoked, but the provider's answer does not prove the key dead; never "ok".
NEEDS_HUMAN = frozenset({"failed", "refused", "manual", "unproven"})
_DEAD_OUTCOMES = frozenset({"Revoked", "AlreadyRevoked", "Disabled"})
KEY_ACTIONS = ("revoke", "verify_revoked", "rotate")
# A row's outcome fields when it keeps none: one shared empty mapping, never copied.
NOTHING: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One timeline entry as the report shows it; fingerprints only, as the entry holds.

    Only what a renderer shows is kept (a report on 100,000 entries holds them all): the
    outcome fields the model keeps (``model._SHOWN_EXTRA``), the target's label, host, key id
    and locations, and digests where the report only compares (``target_key``,
    ``target_id``)."""

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
    extra: Mapping[str, Any] = field(default_factory=lambda: NOTHING)
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
        return self.provider is not None and self.action in KEY_ACTIONS

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
        return " · ".join(parts) or plural(self.entries, "event")


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
                f"clawback verify found {plural(len(self.failures), 'problem')}. Nothing below "
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
