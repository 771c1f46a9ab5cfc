"""The investigation itself: verified evidence in, findings out.

One pass over the sealed archives: each member goes to the parser its rules name, each event to
the exposure search (by fingerprint), the indicator scanner and the scrubber, then to the event
store. What needs the whole picture (the window, what was installed during it) is settled at
the end. The live host is never read.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from clawback.investigate.clock import host_zone, parse_iso
from clawback.investigate.exposure import FingerprintMatcher
from clawback.investigate.indicators import Scanner
from clawback.investigate.records import (
    COMMAND,
    INBOUND,
    LOGGED,
    OUTBOUND,
    WRITTEN,
    CredentialExposure,
    Event,
    MemberRef,
    Sighting,
)
from clawback.investigate.rules import Rules, severity_rank
from clawback.investigate.scrub import Scrubber
from clawback.investigate.sealed import Verified, choose_items, read_members, route_key
from clawback.investigate.sources import ParseContext, parser
from clawback.investigate.store import EventStore
from clawback.shown import printable
from responders.interface import EvidenceItem

MAX_ATTR_CHARS = 2000
SUSPICIOUS = severity_rank("medium")
# Facts that can only be judged once the window is known: dated by creation (cron job) or by
# the file's modification time.
_PERSISTENCE_KINDS = frozenset({"cron.job", "cron.system_job", "ssh.authorized_key",
                                "skill.file", "plugin.file", "hook.file"})
_MAX_CANDIDATES = 10_000
# A budget is checked between members and every so many events inside one: a single log the
# agent grew to gigabytes must not hold contain past it either.
_EVENTS_BETWEEN_CLOCK_READS = 1024
_DECODED = frozenset({"tool.exec", "message.sent", "agent.send", "tool.web_fetch",
                      "tool.browser", "tool.nodes", "tool.write"})
# Attributes whose values the parsers compute themselves (booleans, sizes, ports, the rules'
# own ids, the parser's own words): nothing the agent wrote, so nothing to scrub. Every string
# the agent chose (a tool's name, a call's id, an action, a log level) is scrubbed like a command.
_PARSER_ATTRS = frozenset({"rule", "by", "dated_by", "encoded_output", "persistence_path",
                           "enabled", "bytes", "port", "pid", "remote_port", "changed_paths",
                           "error"})
# Ids the model provider or the agent made up, unique per call: scrubbed, not remembered
# (remembering a million unique ids would only push out the commands that do repeat).
_UNIQUE_ATTRS = frozenset({"call", "id"})
_HOW = {INBOUND: "read", WRITTEN: "read", OUTBOUND: "sent", COMMAND: "sent", LOGGED: "logged"}


@dataclass
class Findings:
    """Everything an investigation produced, before it is written down."""

    verified: Verified
    rules: Rules
    store: EventStore
    exposures: list[CredentialExposure]
    scanner: Scanner
    context: ParseContext
    members: dict[str, int] = field(default_factory=dict)  # parser -> members analysed
    not_analysed: int = 0
    duplicates: int = 0
    bytes_analysed: int = 0
    persistence: list[dict[str, Any]] = field(default_factory=list)
    first_suspicious: dict[str, Any] | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    # Why the reading stopped before the end (contain's time budget), or None: read to the end.
    incomplete: str | None = None


class _OutOfTime(Exception):
    """The investigation's time budget ran out: what was read so far is kept."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source


def _clip(text: str) -> str:
    from clawback.investigate.sources.transcript import preview

    return text if len(text) <= MAX_ATTR_CHARS else preview(text, MAX_ATTR_CHARS)


class _Run:
    def __init__(self, verified: Verified, rules: Rules, store: EventStore,
                 progress: Callable[[str], None] | None, deadline: float | None = None) -> None:
        self.rules = rules
        self.deadline = deadline
        self.progress = progress
        creds = verified.credentials.values()
        self.matcher = FingerprintMatcher((c["fingerprint"] for c in creds),
                                          min_length=rules.min_secret_length)
        self.scrubber = Scrubber(self.matcher)
        self.exposures = {
            c["fingerprint"]: CredentialExposure(
                c["fingerprint"], c["provider"], c["kind"],
                str(c["key_id"]) if c.get("key_id") else None, tuple(c["locations"]),
                account=str(c["account"]) if c.get("account") else None,
                last_used=c.get("last_used"))
            for c in creds
        }
        self.scanner = Scanner(rules)
        self.store = store
        self.context = ParseContext(rules, host_zone(verified.host.get(
            "local_utc_offset_seconds")), datetime.now(UTC))
        self.members: dict[str, int] = {}
        self.candidates: list[tuple[int, Event]] = []
        self.bytes = 0

    def consume(self, ref: MemberRef, item: EvidenceItem, stream: IO[bytes]) -> None:
        name = self.rules.parser_for(route_key(item))
        if name is None:
            return
        if self.progress is not None:
            self.progress(f"{name}: {ref.source}")
        self._check_time(ref.source)
        self.members[name] = self.members.get(name, 0) + 1
        agent_context = name == "openclaw-transcript" or self.rules.counts_as_read(ref.source)
        for count, event in enumerate(parser(name)(ref, stream, self.context)):
            if count % _EVENTS_BETWEEN_CLOCK_READS == _EVENTS_BETWEEN_CLOCK_READS - 1:
                self._check_time(ref.source)
            self.event(event, agent_context)
        self.bytes += item.size

    def _check_time(self, source: str) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise _OutOfTime(source)

    def event(self, event: Event, agent_context: bool) -> None:
        # A kind can carry the agent's words (``tool.<name>``, ``message.<action>``).
        event.kind = self.scrubber.text(event.kind)
        event.session = self.scrubber.text(event.session)
        # Encoded values are looked for where a command ran or a message left (`base64 .env`,
        # a key in a URL): not in every fetched page, which would double the cost of a GB.
        decode = event.kind in _DECODED or bool(event.attrs.get("encoded_output"))
        for role, text in event.texts:
            if not text or not self.matcher:
                continue
            for match in self.matcher.find(text, decode=decode or role != INBOUND):
                how = _HOW.get(role, "logged") if agent_context else "logged"
                self._sighting(match.fingerprint, how, event)
        self.scanner.scan(event)
        event.texts = []
        if event.kind == "log.line" and not event.flags:
            return
        event.summary = self.scrubber.text(event.summary)
        event.attrs = {k: v if k in _PARSER_ATTRS else self._scrubbed(v, k in _UNIQUE_ATTRS)
                       for k, v in event.attrs.items()}
        rowid = self.store.add(event, severity_rank(event.severity))
        if event.kind in _PERSISTENCE_KINDS and len(self.candidates) < _MAX_CANDIDATES:
            self.candidates.append((rowid, event))

    def _scrubbed(self, value: Any, unique: bool = False) -> Any:
        if isinstance(value, str) and len(value) < self.rules.min_secret_length:
            return value  # shorter than any value looked for or shaped like a key
        if isinstance(value, str):
            return _clip(self.scrubber.text(value, remember=not unique))
        if isinstance(value, list):
            return [self._scrubbed(v, unique) for v in value]
        return value

    def _sighting(self, fp: str, how: str, event: Event) -> None:
        exposure = self.exposures.get(fp)
        if exposure is None:
            return
        seen = Sighting(event.ts, how, event.kind, self.scrubber.text(event.summary), event.ref)
        attribute = {"read": "first_read", "sent": "first_sent", "logged": "first_logged"}[how]
        counter = {"read": "reads", "sent": "sends", "logged": "logged"}[how]
        setattr(exposure, counter, getattr(exposure, counter) + 1)
        current: Sighting | None = getattr(exposure, attribute)
        earlier = seen.ts is not None and (current is None or current.ts is None
                                           or seen.ts < current.ts)
        if current is None or earlier:
            setattr(exposure, attribute, seen)
        if how == "sent":
            event.flag(f"credential-sent:{fp}", "high")
        elif how == "read":
            event.flag("credential-read", "medium")


def investigate(
    verified: Verified,
    rules: Rules,
    *,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    budget_seconds: float | None = None,
) -> Findings:
    """Analyse the verified incident's evidence. The caller closes ``findings.store``.

    With ``budget_seconds`` the reading stops once that much time has passed (contain's own
    investigation: evidence the agent grew to gigabytes must not keep the panic command
    running); the findings then say what was not read, in ``incomplete``."""
    chosen, left = choose_items(verified.manifest)
    wanted = {name: item for name, item in chosen.items()
              if rules.parser_for(route_key(item)) is not None}
    spool = Path(tempfile.mkstemp(prefix=".investigate-", suffix=".sqlite",
                                  dir=workdir or verified.incident_dir)[1])
    spool.unlink()
    store = EventStore(spool)
    started = datetime.now(UTC)
    try:
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        run = _Run(verified, rules, store, progress, deadline)
        incomplete = None
        try:
            analysed = read_members(verified.incident_dir, verified.manifest, wanted,
                                    run.consume)
        except _OutOfTime as stop:
            analysed = run.bytes
            incomplete = (
                f"stopped after {budget_seconds:g} s, its time budget, while reading "
                f"{printable(stop.source)}: that member and the ones after it were not "
                f"analysed (or only in part). `clawback investigate "
                f"{verified.incident_id}` reads them all."
            )
        findings = Findings(
            verified=verified, rules=rules, store=store,
            exposures=sorted(run.exposures.values(), key=_exposure_order),
            scanner=run.scanner, context=run.context, members=run.members,
            not_analysed=len(chosen) - len(wanted), duplicates=len(left),
            bytes_analysed=analysed, started=started, incomplete=incomplete,
        )
        _settle_window(findings, run.candidates)
    except BaseException:
        store.close()
        raise
    findings.finished = datetime.now(UTC)
    return findings


def _exposure_order(exposure: CredentialExposure) -> tuple[int, str, str]:
    rank = 0 if exposure.first_sent else 1 if exposure.exposed else 2
    first = exposure.first
    when = first.ts.isoformat() if first and first.ts else "~"
    return rank, when, exposure.fingerprint


def _settle_window(findings: Findings, candidates: list[tuple[int, Event]]) -> None:
    """Judge what was installed during the window, then find the first suspicious event."""
    first = findings.store.first_at_least(SUSPICIOUS)
    starts = [parse_iso(first["ts"])] if first else []
    starts += [e.first.ts for e in findings.exposures if e.first and e.first.ts]
    start = min((s for s in starts if s is not None), default=None)
    end = parse_iso(findings.verified.opened)
    for rowid, event in candidates:
        if event.ts is None or start is None or end is None or not start <= event.ts <= end:
            continue
        event.flag("installed-during-window", "medium")
        findings.store.update(rowid, event.as_dict(), severity_rank(event.severity))
        what = _installed(event)
        findings.scanner.table.add(event, "persistence", what, "installed during the window",
                                   event.severity, "installed-during-window")
        findings.persistence.append(event.as_dict())
    findings.first_suspicious = findings.store.first_at_least(SUSPICIOUS)


def _installed(event: Event) -> str:
    """What a persistence finding names: the job, the key, the file."""
    attrs = event.attrs
    if event.kind == "cron.job":
        return f"cron job {attrs.get('job') or attrs.get('id') or '?'}"
    if event.kind == "ssh.authorized_key":
        return f"{attrs.get('file')}: {attrs.get('key_type')} key {attrs.get('comment') or ''}"
    if event.kind == "cron.system_job":
        return f"{attrs.get('file')}: {attrs.get('line')}"
    return str(attrs.get("path") or event.summary)
