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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawback.evidence import check_evidence, load_manifest, manifest_path
from clawback.report.formatting import (
    clock_text,
    duration_text,
    parse_ts,
    plural,
    size_text,
)
from clawback.report.investigation import InvestigationFindings
from clawback.report.investigation import load as load_findings
from clawback.report.parts import (
    KEY_ACTIONS,
    NEEDS_HUMAN,
    NOTHING,
    CredentialActions,
    EvidenceSummary,
    HumanAction,
    Impact,
    IncidentFacts,
    Integrity,
    IntegrityState,
    IsolationWindow,
    ProviderActions,
    ServiceStop,
    StepSummary,
    TimelineRow,
    UnreadableLine,
)
from clawback.report.standing import Standing, build_standing
from clawback.timeline import CHECKPOINT_FILE, Entry
from clawback.verdict import Verdict
from clawback.verify import VerifyReport, verify_incident

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
_EVIDENCE_CODES = ("EVIDENCE_", "MANIFEST_", "ARCHIVE_")
# The outcome fields (a result's ``extra``) some part of the report shows; a row keeps only
# these, so 100,000 entries fit in bounded memory. Everything else stays in the signed
# timeline, which the report names and verify checks.
# "check": what to look at for a key revoked but not proven dead (Unproven).
_SHOWN_EXTRA = ("new_fingerprint", "url", "instructions", "reason", "error", "check")
# Repeated short strings (steps, actions, outcomes, details) are stored once.
_INTERN_BELOW = 120


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
        return build_standing(self.providers, self.human_actions, self.rows, self.impact,
                              self.integrity)

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
            f"It stopped {plural(stops, 'agent service')}"
            + (
                f" ({len(self.impact.service_stop_failures)} stop failed)"
                if self.impact.service_stop_failures
                else ""
            )
            + f" and acted on {plural(creds, 'credential')} across "
            f"{plural(len(self.providers), 'provider')}: {standing.counts['dead']} proven dead"
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
                f"Evidence: {plural(len(self.evidence.items), 'item')} "
                f"({size_text(self.evidence.total_bytes)}) sealed in "
                f"{plural(len(self.evidence.archives), 'archive')}."
            )
        if self.investigation is not None:
            sentences.append(self.investigation_summary)
        todo = len(self.human_actions)
        sentences.append(
            f"{plural(todo, 'item')} still {'needs' if todo == 1 else 'need'} a human."
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
    parts.append(f"{len(inv.exposed)} of {plural(len(inv.exposures), 'credential')} exposed"
                 + (f", {len(sent)} sent out ("
                    + ", ".join(f"{e.provider} {e.fingerprint}" for e in sent[:5]) + ")"
                    if sent else ""))
    if inv.suspect_destinations:
        parts.append("sent to " + ", ".join(inv.suspect_destinations[:5]))
    if inv.seconds_to_contain is not None:
        parts.append(f"contained {duration_text(inv.seconds_to_contain)} after the first "
                     "suspicious event")
    if inv.incomplete:
        # A reading its budget cut short: what it found is a floor, not the whole.
        parts.append(f"PARTIAL, {inv.incomplete}")
    return "The investigation of the sealed evidence found: " + "; ".join(parts) + "."


def _investigation(incident_dir: Path) -> InvestigationFindings | None:
    try:
        manifest = load_manifest(incident_dir)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return load_findings(incident_dir, manifest.files)


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
    return shown or NOTHING


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
    about = target if isinstance(target, Mapping) else NOTHING
    provider, kind, host = about.get("provider"), about.get("kind"), about.get("host")
    key_action = bool(provider) and action in KEY_ACTIONS
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


def _latest_results(rows: Iterable[TimelineRow]) -> dict[bytes, TimelineRow]:
    """The last result per (step, action, target): a retry or resume supersedes earlier ones."""
    latest: dict[bytes, TimelineRow] = {}
    for row in rows:
        if row.phase == "result":
            latest[row.target_key] = row
    return latest


def _providers(rows: Sequence[TimelineRow]) -> tuple[ProviderActions, ...]:
    by_cred: dict[bytes, dict[str, TimelineRow]] = {}  # target_id -> action -> latest row
    described: dict[bytes, TimelineRow] = {}
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
