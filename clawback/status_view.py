"""``clawback status`` as a person reads it at 80 columns: one block per incident, worst news
first within it (agent, live keys, open steps, network cut and its rollback, shipped or not).

Every text from the timeline or a record passes through ``clawback.shown.printable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clawback.console import wrapped
from clawback.report.formatting import duration_text
from clawback.shown import printable
from clawback.status import TOP_STEPS, IncidentStatus, NetworkCutStatus

_INTEGRITY = {"intact": "INTACT", "unanchored": "UNANCHORED", "not_intact": "NOT INTACT"}


def print_status(console: Any, statuses: Sequence[IncidentStatus], *, root: str,
                 quiet: bool = False) -> None:
    if not statuses:
        wrapped(console, f"No incident under {printable(root)} (--incidents-dir names "
                         "another place).")
        return
    for status in statuses:
        if quiet and not status.needs_a_human:
            continue
        _print_one(console, status)


def _print_one(console: Any, s: IncidentStatus) -> None:
    word = _INTEGRITY.get(s.integrity, s.integrity)
    run = {"running": "a run is under way", "closed": "closed",
           "interrupted": "INTERRUPTED: the run died"}[s.run]
    opened = s.opened.strftime("%Y-%m-%d %H:%M UTC") if s.opened else "?"
    dry = " (dry run)" if s.dry_run else ""
    console.print()
    wrapped(console, f"{printable(s.incident_id)}  {run}{dry} · opened {opened} · log {word}",
            "bold" if s.needs_a_human else "")
    if s.run == "interrupted":
        wrapped(console, f"resume it: clawback contain --resume {printable(s.incident_id)}",
                "red", indent="    ", first="  ")
    agent = {"stopped": ("agent: stopped", "green"),
             "not_stopped": ("agent: NOT stopped", "bold red"),
             "no_stop_step": ("agent: not stopped by this run", "red")}[s.agent]
    wrapped(console, f"{agent[0]} ({printable(s.agent_detail)})", agent[1], indent="    ",
            first="  ")
    total = sum(s.keys.values())
    live = len(s.live)
    wrapped(console, f"keys: {total}, {s.keys.get('dead', 0)} proven dead, {live} still live "
                     "or unproven", "red" if live else "green", indent="    ", first="  ")
    for name in s.live:
        wrapped(console, printable(name), "red", indent="      ", first="    ")
    if s.open_steps:
        wrapped(console, f"{len(s.open_steps)} step(s) open, most urgent first:", "yellow",
                indent="    ", first="  ")
        for number, step in enumerate(s.open_steps[:TOP_STEPS], 1):
            wrapped(console, f"{number}. {printable(step)}", indent="       ",
                    first="    ")
        if len(s.open_steps) > TOP_STEPS:
            wrapped(console, f"… {len(s.open_steps) - TOP_STEPS} more: clawback report "
                             f"{printable(s.incident_id)}", indent="    ")
    for cut in s.network:
        _print_cut(console, cut, s.incident_id)
    if s.shipped is not None:
        at = s.shipped.at.strftime("%H:%M:%S UTC") if s.shipped.at else "?"
        which = "final checkpoint" if s.shipped.final else "checkpoint"
        to = ", ".join(printable(d) for d in s.shipped.destinations)
        wrapped(console, f"checkpoint: {which} (size {s.shipped.tree_size} of "
                         f"{s.tree_size}) shipped off-host at {at} to {to}", "green",
                indent="    ", first="  ")
    elif s.run != "running":
        wrapped(console, "checkpoint: NOT shipped off this host: copy checkpoint.txt "
                         "somewhere the attacker can't reach", "yellow", indent="    ",
                first="  ")


def _print_cut(console: Any, cut: NetworkCutStatus, incident_id: str) -> None:
    where = f"{printable(cut.host)}: " if cut.host else ""
    if cut.state == "restored":
        by = f" by {printable(cut.restored_by)}" if cut.restored_by else ""
        wrapped(console, f"network: {where}cut undone{by}", "dim", indent="    ",
                first="  ")
        return
    if cut.state == "not applied":
        wrapped(console, f"network: {where}a cut was started but not applied", "yellow",
                indent="    ", first="  ")
        return
    text = f"network: {where}CUT ({printable(cut.table)})"
    if cut.in_place is False:
        text += ", but the table is gone"
    if cut.rollback == "armed" and cut.deadline is not None:
        left = cut.seconds_left or 0.0
        when = cut.deadline.strftime("%H:%M:%S UTC")
        text += (f"; auto-rollback at {when}, in {duration_text(max(left, 0.0))}" if left > 0
                 else f"; auto-rollback was due at {when}")
        if cut.timer_running is False:
            text += ", BUT its timer is not running: the cut stays until you undo it"
        elif cut.timer_running:
            text += " (timer running)"
        text += (f". Keep it: clawback restore-network {printable(incident_id)} --confirm")
    elif cut.rollback == "kept":
        text += f"; kept (rollback disarmed). Undo: clawback restore-network " \
                f"{printable(incident_id)}"
    else:
        text += f"; no auto-rollback. Undo: clawback restore-network {printable(incident_id)}"
    wrapped(console, text, "bold yellow", indent="    ", first="  ")
