"""``clawback status``: every incident on this machine and where it stands, read-only.

For each incident: whether a run is still under way, closed or died; whether the agent is
stopped; which keys are still live or unproven (by name); the open steps, most urgent first;
the network cut and its auto-rollback with the time left (and whether the timer process is
really alive); and whether a checkpoint was shipped off this host.

The facts come from the incident's signed timeline, through the same standing the report's
first screen shows (``clawback.report.standing``); what can change after the timeline closed
(the cut's auto-rollback, a shipped checkpoint) from the records the cut and the notifier
keep beside it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from clawback.report.formatting import parse_ts
from clawback.report.model import IncidentReport

if TYPE_CHECKING:
    from responders.interface import CutState

RunState = Literal["running", "closed", "interrupted"]
TOP_STEPS = 5


@dataclass(frozen=True)
class NetworkCutStatus:
    host: str  # "" for this machine
    state: Literal["cut", "restored", "not applied"]
    table: str
    rollback: Literal["armed", "kept", "none"]  # kept: confirmed, the timer is disarmed
    deadline: datetime | None
    seconds_left: float | None
    timer_running: bool | None  # None: can't be seen from here (another host, netns)
    in_place: bool | None  # the table is there (None: can't be checked from here)
    restored_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host or None, "state": self.state, "table": self.table,
            "rollback": self.rollback,
            "rollback_deadline": _iso(self.deadline),
            "seconds_left": None if self.seconds_left is None else round(self.seconds_left),
            "timer_running": self.timer_running, "in_place": self.in_place,
            "restored_by": self.restored_by or None,
        }


@dataclass(frozen=True)
class ShippedStatus:
    """The latest checkpoint a notification carried off this host, as its record says."""

    at: datetime | None
    tree_size: int
    destinations: tuple[str, ...]  # redacted: scheme and host only
    final: bool  # the checkpoint of the timeline's close

    def as_dict(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "tree_size": self.tree_size,
                "destinations": list(self.destinations), "final": self.final}


@dataclass(frozen=True)
class IncidentStatus:
    incident_id: str
    directory: Path
    run: RunState
    opened: datetime | None
    closed: datetime | None
    dry_run: bool
    integrity: str
    agent: str  # stopped | not_stopped | no_stop_step
    agent_detail: str
    keys: dict[str, int]
    live: tuple[str, ...]  # still live or unproven: "provider kind fingerprint: why"
    open_steps: tuple[str, ...]  # most urgent first
    network: tuple[NetworkCutStatus, ...]
    shipped: ShippedStatus | None
    tree_size: int

    @property
    def needs_a_human(self) -> bool:
        return bool(self.open_steps or self.live or self.run == "interrupted"
                    or any(c.state == "cut" for c in self.network))

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident_id, "directory": str(self.directory), "run": self.run,
            "opened": _iso(self.opened), "closed": _iso(self.closed), "dry_run": self.dry_run,
            "integrity": self.integrity, "agent": self.agent, "agent_detail": self.agent_detail,
            "keys": dict(self.keys), "live_or_unproven": list(self.live),
            "open_steps": list(self.open_steps),
            "network": [c.as_dict() for c in self.network],
            "checkpoint_shipped": self.shipped.as_dict() if self.shipped else None,
            "tree_size": self.tree_size,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def list_incidents(root: Path) -> list[Path]:
    """Incident directories under ``root``, newest first (ids sort by time)."""
    try:
        found = [p for p in root.iterdir()
                 if p.is_dir() and not p.is_symlink() and (p / "timeline.jsonl").is_file()]
    except FileNotFoundError:
        return []
    return sorted(found, key=lambda p: p.name, reverse=True)


def run_in_progress(incident_dir: Path) -> bool:
    """Whether a clawback run holds the incident's lock now (asked without taking it for
    long, and without creating the lock file)."""
    try:
        fd = os.open(incident_dir / "lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def incident_status(incident_dir: Path, *, now: datetime | None = None) -> IncidentStatus:
    from clawback.report import build_report
    from clawback.shipping import latest_shipment

    now = now or datetime.now(UTC)
    running = run_in_progress(incident_dir)
    report = build_report(incident_dir)
    standing = report.standing
    facts = report.facts
    run: RunState = ("running" if running
                     else "closed" if not facts.status.startswith("not closed")
                     else "interrupted")
    todo = standing.todo
    if running:  # a run under way has not closed its timeline: that is no failure yet
        todo = tuple(h for h in todo if h.reason not in ("unfinished", "integrity", "crashed"))
    from clawback.report.standing import RANK_WORDS

    steps = tuple(
        f"{RANK_WORDS.get(h.rank, h.reason).capitalize()}"
        + (f": {h.target}" if h.target else "") for h in todo)
    live = tuple(f"{c.provider} {c.kind.split(':', 1)[-1]} {c.fingerprint}: {why}"
                 for c, why in standing.live)
    shipped = latest_shipment(incident_dir)
    return IncidentStatus(
        incident_id=report.incident_id, directory=incident_dir, run=run,
        opened=facts.opened, closed=facts.closed, dry_run=facts.dry_run,
        integrity=report.integrity.state, agent=standing.agent.state,
        agent_detail=standing.agent.detail, live=live,
        keys={str(k): n for k, n in standing.counts.items()},
        open_steps=steps, network=_network(incident_dir, report, now),
        shipped=ShippedStatus(shipped.at, shipped.tree_size, shipped.destinations,
                              shipped.final) if shipped else None,
        tree_size=report.integrity.entry_count,
    )


def collect_status(root: Path, *, only: Sequence[Path] = (),
                   now: datetime | None = None) -> list[IncidentStatus]:
    return [incident_status(d, now=now) for d in (only or list_incidents(root))]


def _network(incident_dir: Path, report: IncidentReport, now: datetime
             ) -> tuple[NetworkCutStatus, ...]:
    from clawback.registry import load_host

    out: list[NetworkCutStatus] = []
    local = load_host().cut_state(incident_dir)
    if local is not None:
        out.append(_from_record("", local, now))
    # A fleet incident's hosts: their timers run there; the signed timeline says when they
    # fire, and the restore entries whether they were undone.
    undone: dict[str, str] = {}
    for row in report.rows:
        if row.phase == "result" and row.host and row.status == "ok" and row.action in (
            "network.restore", "network.confirm_cut"):
            undone[row.host] = row.action
    for row in report.rows:
        if not (row.phase == "result" and row.host and row.action.endswith("cut_network")
                and row.status == "ok"):
            continue
        rollback = row.extra.get("facts", {}).get("rollback", {}) if isinstance(
            row.extra.get("facts"), dict) else {}
        deadline = parse_ts(rollback.get("deadline_utc")) if rollback.get("armed") else None
        after = undone.get(row.host)
        state: Literal["cut", "restored"] = (
            "restored" if after == "network.restore" else "cut"
        )
        armed = deadline is not None and after is None and deadline > now
        out.append(NetworkCutStatus(
            host=row.host, state=state, table="inet clawback_isolate",
            rollback="armed" if armed else ("kept" if after == "network.confirm_cut"
                                            else "none"),
            deadline=deadline if armed else None,
            seconds_left=(deadline - now).total_seconds() if armed and deadline else None,
            timer_running=None, in_place=None,
        ))
    return tuple(out)


def _from_record(host: str, record: CutState, now: datetime) -> NetworkCutStatus:
    if record.restored_at:
        state: Literal["cut", "restored", "not applied"] = "restored"
    elif record.status == "applied":
        state = "cut"
    else:
        state = "not applied"
    deadline = None
    if record.rollback_deadline is not None:
        deadline = datetime.fromtimestamp(record.rollback_deadline, UTC)
    rollback: Literal["armed", "kept", "none"] = (
        "armed" if record.rollback_armed else "kept" if record.confirmed_at else "none")
    return NetworkCutStatus(
        host=host, state=state, table=record.table, rollback=rollback,
        deadline=deadline,
        seconds_left=(deadline - now).total_seconds() if deadline is not None else None,
        timer_running=record.timer_running, in_place=record.in_place,
        restored_by=record.restored_by or "",
    )
