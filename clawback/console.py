"""What the operator sees: live progress through rich, or one JSON document with ``--json``.

Everything printed here comes from outcomes the runner already scrubbed of secrets.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from clawback.runner import RunResult, TargetResult, outcome_fields, outcome_summary

_STYLE = {
    "ok": ("✔", "green"),
    "skipped": ("–", "dim"),
    "manual": ("✋", "yellow"),
    "failed": ("✘", "red"),
    "refused": ("⛔", "red"),
    "planned": ("→", "cyan"),
}


class RichReporter:
    """One line per step and per target, printed as they finish (stderr keeps stdout clean)."""

    def __init__(self, *, stream: Any = None, show_checkpoints: bool = True) -> None:
        from rich.console import Console

        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True)
        self.show_checkpoints = show_checkpoints
        self._lock = threading.Lock()

    def step_started(self, step_id: str, uses: str, description: str) -> None:
        with self._lock:
            suffix = f" — {description}" if description else ""
            self.console.print(f"[bold]▶ {step_id}[/bold] [dim]({uses})[/dim]{suffix}")

    def step_skipped(self, step_id: str, reason: str) -> None:
        with self._lock:
            self.console.print(f"[dim]– {step_id}: skipped ({reason})[/dim]")

    def target_finished(self, result: TargetResult) -> None:
        symbol, colour = _STYLE.get(result.outcome.status, ("?", "white"))
        summary = outcome_summary(result.outcome)
        with self._lock:
            self.console.print(
                f"  [{colour}]{symbol}[/{colour}] {result.action} {result.target}: "
                f"[{colour}]{result.outcome.name}[/{colour}]"
                + (f" [dim]{_escape(summary)}[/dim]" if summary else "")
            )

    def checkpoint(self, text: str) -> None:
        if not self.show_checkpoints:
            return
        with self._lock:
            self.console.print("[dim]checkpoint (keep a copy off this host):[/dim]")
            self.console.print(_escape(text.rstrip("\n")), style="dim")

    def note(self, message: str) -> None:
        with self._lock:
            self.console.print(f"[yellow]{_escape(message)}[/yellow]")


class JsonReporter:
    """Collects nothing live; the final document is printed by ``print_json_result``."""

    def step_started(self, step_id: str, uses: str, description: str) -> None:
        pass

    def step_skipped(self, step_id: str, reason: str) -> None:
        pass

    def target_finished(self, result: TargetResult) -> None:
        pass

    def checkpoint(self, text: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def result_document(result: RunResult) -> dict[str, Any]:
    return {
        "incident": result.incident_id,
        "incident_dir": str(result.incident_dir) if result.incident_dir else None,
        "dry_run": result.dry_run,
        "exit_code": result.exit_code,
        "results": [
            {
                "step": r.step,
                "action": r.action,
                "target": r.target,
                "outcome": r.outcome.name,
                "summary": outcome_summary(r.outcome),
                **outcome_fields(r.outcome),
            }
            for r in result.results
        ],
        "remaining": [
            {"step": r.step, "target": r.target, "outcome": r.outcome.name,
             "what_to_do": outcome_summary(r.outcome)}
            for r in result.remaining
        ],
        "manifest_sha256": result.manifest_sha256,
        "final_checkpoint": result.final_checkpoint,
    }


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def print_summary(result: RunResult, reporter: RichReporter) -> None:
    console = reporter.console
    counts: dict[str, int] = {}
    for r in result.results:
        counts[r.outcome.status] = counts.get(r.outcome.status, 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to do"
    if result.dry_run:
        console.print(f"[bold cyan]Dry run[/bold cyan]: {tally}. Nothing was changed.")
        return
    console.print(f"[bold]Incident {result.incident_id}[/bold]: {tally}")
    console.print(f"  directory: {result.incident_dir}")
    if result.remaining:
        console.print("[bold yellow]A human must still do this:[/bold yellow]")
        for r in result.remaining:
            console.print(
                f"  • {_escape(f'[{r.step}] {r.target}')}: {_escape(outcome_summary(r.outcome))}"
            )
        console.print(
            f"Then record it with: clawback contain --resume {result.incident_id}"
        )
    console.print(f"Verify with: clawback verify {result.incident_id} "
                  f"--checkpoint <your off-host copy of the checkpoint>")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
