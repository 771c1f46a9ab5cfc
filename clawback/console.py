"""What the operator sees: live progress through rich, or one JSON document with ``--json``.

Everything printed here comes from outcomes the runner already scrubbed of secrets.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from clawback.runner import RunResult, TargetResult, outcome_fields, outcome_summary

_T = TypeVar("_T")

# Progress is printed from this long after start at the latest, even before any action.
RENDER_DEADLINE_S = 0.5
ACTION_HEAD_START_S = 0.01

_STYLE = {
    "ok": ("✔", "green"),
    "skipped": ("–", "dim"),
    "manual": ("✋", "yellow"),
    "failed": ("✘", "red"),
    "refused": ("⛔", "red"),
    "unproven": ("?", "magenta"),
    "planned": ("→", "cyan"),
}


class RichReporter:
    """One line per step and per target, printed as they finish (stderr keeps stdout clean).

    With ``defer_until_action`` (the panic button), rich is not imported until the run has
    issued its first state-changing action, or ``RENDER_DEADLINE_S`` has passed: the import
    costs ~35 ms that the stop must not wait for. Lines reported before then are kept in order
    and printed by a background thread while the stop waits out its respawn check; anything
    that needs the console itself (prompts, the summary) gets it at once.
    """

    def __init__(self, *, stream: Any = None, show_checkpoints: bool = True,
                 defer_until_action: bool = False) -> None:
        self.show_checkpoints = show_checkpoints
        self._stream = stream or sys.stderr
        self._lock = threading.RLock()
        self._console: Any = None
        self._pending: list[Callable[[Any], None]] = []
        self._acting = threading.Event()
        if defer_until_action:
            threading.Thread(target=self._render_when_acting, name="clawback-console",
                             daemon=True).start()
        else:
            _ = self.console

    @property
    def console(self) -> Any:
        """The rich Console, created (and the lines kept so far printed) on first use."""
        with self._lock:
            if self._console is None:
                from rich.console import Console

                self._console = Console(file=self._stream, highlight=False, soft_wrap=True)
                pending, self._pending = self._pending, []
                for line in pending:
                    line(self._console)
            return self._console

    def _render_when_acting(self) -> None:
        if self._acting.wait(RENDER_DEADLINE_S):
            # A head start for the action just issued (a stop's signal goes out within a few
            # ms); the import then runs while the stop waits for its respawn check.
            time.sleep(ACTION_HEAD_START_S)
        _ = self.console

    def _emit(self, line: Callable[[Any], None]) -> None:
        with self._lock:
            if self._console is None:
                self._pending.append(line)
            else:
                line(self._console)

    def prompting(self, ask: Callable[[str], _T] | None) -> Callable[[str], _T] | None:
        """``ask`` that first prints every line kept so far, so a question never comes
        before the progress it is about."""
        if ask is None:
            return None

        def settled_then_ask(question: str) -> _T:
            _ = self.console
            return ask(question)

        return settled_then_ask

    def action_issued(self) -> None:
        self._acting.set()

    def step_started(self, step_id: str, uses: str, description: str) -> None:
        suffix = f" — {description}" if description else ""
        self._emit(lambda c: c.print(f"[bold]▶ {step_id}[/bold] [dim]({uses})[/dim]{suffix}"))

    def step_skipped(self, step_id: str, reason: str) -> None:
        self._emit(lambda c: c.print(f"[dim]– {step_id}: skipped ({reason})[/dim]"))

    def target_finished(self, result: TargetResult) -> None:
        symbol, colour = _STYLE.get(result.outcome.status, ("?", "white"))
        summary = outcome_summary(result.outcome)
        self._emit(lambda c: c.print(
            f"  [{colour}]{symbol}[/{colour}] {result.action} {result.target}: "
            f"[{colour}]{result.outcome.name}[/{colour}]"
            + (f" [dim]{_escape(summary)}[/dim]" if summary else "")
        ))

    def checkpoint(self, text: str) -> None:
        if not self.show_checkpoints:
            return

        def show(console: Any) -> None:
            console.print("[dim]checkpoint (keep a copy off this host):[/dim]")
            console.print(_escape(text.rstrip("\n")), style="dim")

        self._emit(show)

    def note(self, message: str) -> None:
        self._emit(lambda c: c.print(f"[yellow]{_escape(message)}[/yellow]"))


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

    def action_issued(self) -> None:
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
        # Revoked but not proven dead: never among the dead, each with what to check.
        "unproven": [
            {"step": r.step, "target": r.target, "reason": getattr(r.outcome, "reason", ""),
             "check": getattr(r.outcome, "check", ""), "url": getattr(r.outcome, "url", "")}
            for r in result.unproven
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
    if result.unproven:
        console.print(f"[bold magenta]{len(result.unproven)} key(s) revoked but not proven "
                      "dead[/bold magenta]: not counted as dead; each says what to check")
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
