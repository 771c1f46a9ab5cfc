"""``clawback drill``: the quarterly rotation of every key, with zero downtime, that can resume.

The drill runs ``playbooks/drill.yaml`` as an incident of its own (``clawback.contain.prepare`` /
``run`` with ``switch_agent``). Its ``keys.rotate_all`` step asks each responder for
``rotate(cred, store)`` — create → store → test → finish — and ``DrillSession`` hands it an
``AgentSwitchingStore`` built for that one credential. ``store(name, value)`` keeps the new secret
in the keyring, then writes it wherever the agent reads the old one (OpenClaw config, dotenv,
unit files, ``~/.aws/credentials``: the agent keeper's ``write_replacement``, backups in the
incident) and only then returns. So by the time the responder retires the old key, the agent's
files already hold the new one. An AWS rotation stores the id with the secret, and both are
written. The OpenClaw responder writes the gateway's own files itself; its store only keeps the
record.

The rotation ledger itself (crash safety, handover, ``--resume``) is ``clawback.rotation``.

The incident lock keeps two runs off one incident. ``<incidents>/drill-lock`` keeps two drills
from rotating the same keys at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawback.contain import Prepared
from clawback.rotation import STAGE_ACTION, RotationHistory, TakingTurns
from clawback.runner import Approver, Reporter, RunResult
from responders.interface import (
    Credential,
    ResponderError,
)

DRILL_PLAYBOOK = "drill"
LOCK_DIR_NAME = "drill-lock"
# Differences smaller than this are noise between two runs, not a faster or slower provider.
SAME_WITHIN_MS = 50
SAME_WITHIN_RATIO = 0.10


@dataclass
class DrillPrepared(Prepared):
    """``Prepared`` whose credentials, when resuming, are the ones the drill started with."""

    resume_dir: Path | None = None

    def credentials(self) -> list[Credential]:
        found = super().credentials()
        if self.resume_dir is None:
            return found
        return RotationHistory.read(self.resume_dir).reconcile(found, self.store)


# --------------------------------------------------------------------------------------------
# Timing, and the comparison with the previous drill
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderTiming:
    provider: str
    keys: int
    rotated: int
    total_ms: int
    slowest_ms: int  # keys rotate concurrently: the provider took about this long


@dataclass(frozen=True)
class DrillTimings:
    incident: str
    started: str  # entry 0's timestamp
    providers: dict[str, ProviderTiming]


@dataclass(frozen=True)
class Comparison:
    provider: str
    now_ms: int | None
    before_ms: int | None
    verdict: str  # "faster" | "slower" | "about the same" | "new" | "not rotated this time"


def rotation_timings(entries: Iterable[Any]) -> dict[str, ProviderTiming]:
    """Per provider, from the rotate results' ``duration_ms`` (the latest result per key)."""
    latest: dict[str, tuple[str, int, bool]] = {}
    for entry in entries:
        f = entry.fields
        if f.get("action") != "rotate" or f.get("phase") != "result":
            continue
        extra = f.get("extra") or {}
        duration = (extra.get("facts") or {}).get("duration_ms")
        target = f.get("target") or {}
        if not isinstance(duration, int) or "provider" not in target:
            continue
        status = extra.get("status")
        if status not in ("ok", "failed"):
            continue  # skipped or manual: nothing was rotated, so nothing was timed
        latest[str(target.get("target"))] = (str(target["provider"]), duration, status == "ok")
    by_provider: dict[str, list[tuple[int, bool]]] = {}
    for provider, duration, ok in latest.values():
        by_provider.setdefault(provider, []).append((duration, ok))
    return {
        provider: ProviderTiming(
            provider=provider, keys=len(items), rotated=sum(ok for _, ok in items),
            total_ms=sum(d for d, _ in items), slowest_ms=max(d for d, _ in items),
        )
        for provider, items in sorted(by_provider.items())
    }


def incident_timings(incident_dir: Path) -> DrillTimings | None:
    from clawback.errors import BadInput
    from clawback.timeline import TIMELINE_FILE, read_entries

    try:
        entries = read_entries(Path(incident_dir) / TIMELINE_FILE)
    except BadInput:
        return None  # torn or damaged: not a basis for comparison
    if not entries:
        return None
    return DrillTimings(
        incident=Path(incident_dir).name, started=str(entries[0].fields["ts"]),
        providers=rotation_timings(entries),
    )


def _opening(incident_dir: Path) -> Mapping[str, Any] | None:
    """Entry 0's fields, read without reading the whole timeline."""
    from clawback.timeline import TIMELINE_FILE, EntryFormatError, parse_entry_line

    try:
        with (incident_dir / TIMELINE_FILE).open("rb") as source:
            first = source.readline().rstrip(b"\n")
        return parse_entry_line(first).entry.fields
    except (OSError, EntryFormatError):
        return None


def is_drill_incident(opening: Mapping[str, Any], playbook_path: Path, playbook_sha: str) -> bool:
    """Whether entry 0 records this drill playbook: the same file, or the same content."""
    recorded = (opening.get("extra") or {}).get("playbook") or {}
    if recorded.get("sha256") == playbook_sha:
        return True
    path = str(recorded.get("path") or "")
    return bool(path) and (path == str(playbook_path) or Path(path).name == playbook_path.name)


def previous_drill(root: Path, *, before: str | None, exclude: Path | None,
                   playbook_path: Path, playbook_sha: str) -> DrillTimings | None:
    """The newest drill incident under ``root`` opened before ``before`` (entry 0's ts) that
    has rotation timings."""
    if not root.is_dir():
        return None
    candidates: list[tuple[str, Path]] = []
    for child in root.iterdir():
        if child == exclude or not child.is_dir():
            continue
        opening = _opening(child)
        if opening is None or not is_drill_incident(opening, playbook_path, playbook_sha):
            continue
        ts = str(opening.get("ts", ""))
        if before is None or ts < before:
            candidates.append((ts, child))
    for _, child in sorted(candidates, reverse=True):
        timings = incident_timings(child)
        if timings is not None and timings.providers:
            return timings
    return None


def compare(now: Mapping[str, ProviderTiming], before: Mapping[str, ProviderTiming]
            ) -> list[Comparison]:
    out = []
    for provider in sorted(set(now) | set(before)):
        a, b = now.get(provider), before.get(provider)
        if a is None:
            out.append(Comparison(provider, None, b.slowest_ms if b else None,
                                  "not rotated this time"))
            continue
        if b is None:
            out.append(Comparison(provider, a.slowest_ms, None, "new"))
            continue
        delta = a.slowest_ms - b.slowest_ms
        if abs(delta) <= max(SAME_WITHIN_MS, SAME_WITHIN_RATIO * b.slowest_ms):
            verdict = "about the same"
        else:
            verdict = "faster" if delta < 0 else "slower"
        out.append(Comparison(provider, a.slowest_ms, b.slowest_ms, verdict))
    return out


# --------------------------------------------------------------------------------------------
# Running a drill
# --------------------------------------------------------------------------------------------


@dataclass
class DrillRequest:
    config: Path | None = None
    playbook: Path | None = None
    dry_run: bool = False
    resume: str | None = None
    confirm_manual: bool = False
    yes: bool = False
    incidents_dir: Path | None = None
    interactive: bool = False
    approver: Approver | None = None
    home: Path | None = None


@dataclass
class DrillReport:
    result: RunResult
    timings: DrillTimings | None
    previous: DrillTimings | None
    comparison: list[Comparison]

    def as_dict(self) -> dict[str, Any]:
        def timing(t: DrillTimings | None) -> dict[str, Any] | None:
            if t is None:
                return None
            return {"incident": t.incident, "started": t.started,
                    "providers": [dataclasses.asdict(p) for p in t.providers.values()]}

        return {
            "timings": timing(self.timings),
            "previous": timing(self.previous),
            "comparison": [dataclasses.asdict(c) for c in self.comparison],
        }


def run_drill(request: DrillRequest, reporter: Reporter | None = None) -> DrillReport:
    """Rotate every key (or, with ``dry_run``, only say how), then time it against the last
    drill. A dry run sends no request and writes nothing: no incident, lock or keyring entry."""
    from clawback.contain import ContainRequest, prepare, run
    from clawback.incident import IncidentLock, incidents_root, resolve_incident
    from responders.kit.private_files import make_private_dir

    prepared = prepare(ContainRequest(
        playbook=request.playbook, config=request.config, dry_run=request.dry_run,
        yes=request.yes, resume=request.resume, confirm_manual=request.confirm_manual,
        incidents_dir=request.incidents_dir, interactive=request.interactive,
        approver=request.approver, playbook_name=DRILL_PLAYBOOK, switch_agent=True,
        home=request.home, degrade=False,  # a drill is no emergency: it refuses instead
    ))
    root = incidents_root(request.incidents_dir)
    resume_dir = resolve_incident(request.resume, root) if request.resume else None
    fields = {f.name: getattr(prepared, f.name) for f in dataclasses.fields(Prepared)}
    fields["store"] = TakingTurns(prepared.store)
    drill = DrillPrepared(**fields, resume_dir=resume_dir)
    if request.dry_run:
        result = run(drill, reporter)
    else:
        with IncidentLock(make_private_dir(root / LOCK_DIR_NAME)):
            result = run(drill, reporter)
        _forget_previous_values(drill, result)
    timings = incident_timings(result.incident_dir) if result.incident_dir else None
    previous = previous_drill(
        root, before=timings.started if timings else None, exclude=result.incident_dir,
        playbook_path=Path(prepared.loaded.path), playbook_sha=prepared.loaded.sha256,
    )
    comparison = compare(timings.providers, previous.providers) if timings and previous else []
    return DrillReport(result=result, timings=timings, previous=previous, comparison=comparison)


def _forget_previous_values(prepared: Prepared, result: RunResult) -> None:
    """Delete the keyring copies of old values once their rotation has settled: rotated (the
    key is dead), skipped or handed to a human. A rotation that failed, or that a crash cut
    short, keeps its copy for ``--resume``."""
    if result.incident_dir is None:
        return
    from clawback.secret_store import parse_reference
    from clawback.timeline import TIMELINE_FILE, read_entries

    latest: dict[str, str] = {}
    copies: dict[str, str] = {}
    for entry in read_entries(result.incident_dir / TIMELINE_FILE):
        f = entry.fields
        target = str((f.get("target") or {}).get("target", ""))
        extra = f.get("extra") or {}
        if f.get("action") == "rotate" and f.get("phase") == "result":
            latest[target] = str(extra.get("status", ""))
        elif f.get("action") == STAGE_ACTION and extra.get("previous_reference"):
            copies[target] = str(extra["previous_reference"])
    for target, reference in copies.items():
        if latest.get(target, "failed") == "failed":
            continue
        # Already gone (an earlier resume) or the keyring refuses: harmless either way.
        with contextlib.suppress(ResponderError):
            prepared.store.delete(parse_reference(reference)[2])
