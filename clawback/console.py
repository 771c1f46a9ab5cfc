"""What the operator sees: live progress through rich, or one JSON document with ``--json``.

Written for a tired person at 80 columns: one short line per step and per key (provider,
fingerprint, an outcome word, a few words), the long advice only once, in the to-do list at the
end, and the checkpoint printed once at the end (and before a network cut, while it can still be
copied off the host). A step still running after a second shows a spinner on a terminal, and
its line says how long it took. Lines are wrapped at spaces, never inside a path or URL, and
every text that came from outside passes through ``clawback.shown.printable``. ``-v`` prints
each action with its whole detail as it ends; ``-q`` only the outcome and the to-do list.

Everything printed here comes from outcomes the runner already scrubbed of secrets.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from clawback.display import Display
from clawback.runner import (
    KEYS_REVOKE_ALL,
    KEYS_ROTATE_ALL,
    RECHECK,
    RunResult,
    TargetResult,
    outcome_fields,
    outcome_summary,
)
from clawback.shown import printable
from responders.interface import Failed, ManualRequired, Unproven

_T = TypeVar("_T")

# Progress is printed from this long after start at the latest, even before any action.
RENDER_DEADLINE_S = 0.5
# A step that took longer says so on its line; a spinner runs while it lasts (terminal only).
SLOW_STEP_S = 1.0

KEY_ACTIONS = ("revoke", "verify_revoked", "rotate")
_KEY_STEPS = (KEYS_REVOKE_ALL, KEYS_ROTATE_ALL)

_STYLE = {
    "ok": ("✔", "green"),
    "skipped": ("–", "dim"),
    "manual": ("✋", "yellow"),
    "failed": ("✘", "red"),
    "refused": ("⛔", "red"),
    "unproven": ("?", "magenta"),
    "planned": ("→", "cyan"),
}
_SEVERITY = ("skipped", "ok", "planned", "unproven", "manual", "refused", "failed")

# Outcome types (responders.interface) as a person says them: no class name is ever shown.
# ``Unproven`` (revoked, not proven dead) is counted apart from dead wherever it appears.
_WORDS = {
    "Done": "done",
    "Revoked": "revoked",
    "Disabled": "disabled",
    "Rotated": "replaced",
    "AlreadyRevoked": "already revoked",
    "VerifiedDead": "dead",
    "Unproven": "unproven",
    "ManualRequired": "by hand",
    "Failed": "failed",
    "Skipped": "skipped",
    "Refused": "refused",
    "Planned": "planned",
    "Collected": "sealed",
}


def outcome_word(outcome: Any) -> str:
    return _WORDS.get(type(outcome).__name__, str(outcome.status))


def _worst(statuses: Iterable[str]) -> str:
    ranked = [s for s in statuses if s in _SEVERITY]
    return max(ranked, key=_SEVERITY.index) if ranked else "ok"


def _first_clause(text: str) -> str:
    """The start of a detail: up to the first sentence or clause break."""
    text = " ".join(text.split())
    for mark in (" — ", "; ", ". "):
        head = text.split(mark, 1)[0]
        if head:
            text = head
    return text.rstrip(".")


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.0f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} bytes"


def short_detail(outcome: Any) -> str:
    """A few words about an outcome: what a line has room for. The whole text is in the to-do
    list, the timeline and the report."""
    name = type(outcome).__name__
    if name == "Collected":
        size = sum(item.size for item in outcome.items)
        text = f"{len(outcome.items)} items sealed ({_size(size)})"
        return text + (f", {len(outcome.skipped)} skipped" if outcome.skipped else "")
    if name == "ManualRequired":
        if outcome.detail and not outcome.detail.startswith("manual:"):
            return _PATH.sub(lambda m: _short_target(m.group(0)),
                             _first_clause(outcome.detail))
        if not outcome.url:
            return "see the to-do list"
        from urllib.parse import urlsplit

        return f"at {urlsplit(outcome.url).netloc or outcome.url}"
    for text in (outcome.detail, getattr(outcome, "error", ""), getattr(outcome, "reason", ""),
                 getattr(outcome, "instructions", "")):
        if text:
            return _PATH.sub(lambda m: _short_target(m.group(0)), _first_clause(text))
    return ""


_PATH = re.compile(r"(?<![\w.:])/[^\s:;,()]+")


def _short_target(target: str) -> str:
    """A path keeps its last two parts: enough to tell the targets of one step apart."""
    if target.startswith("/") and len(target) > 32:
        return "…/" + "/".join(Path(target).parts[-2:])
    return target


def fit(text: str, room: int) -> str:
    """``text`` cut to ``room`` columns between words, never inside one (a path, a URL, an
    id stays whole or goes)."""
    if len(text) <= room:
        return text
    kept = ""
    for word in text.split(" "):
        candidate = f"{kept} {word}" if kept else word
        if len(candidate) + 2 > room:
            break
        kept = candidate
    # A word or two says nothing: better the outcome word alone.
    return f"{kept} …" if len(kept) >= 12 else ""


def _cells(text: str) -> int:
    from rich.cells import cell_len

    return int(cell_len(text))


def _elapsed(seconds: float) -> str:
    return f" ({seconds:.1f} s)" if seconds >= SLOW_STEP_S else ""


class KeyLine:
    """What happened to one key in one step, as one line and one count."""

    def __init__(self, target: str, results: Sequence[TargetResult]) -> None:
        self.target = target
        self.results = list(results)
        info = next((r.target_info for r in results if r.target_info), {})
        self.provider = str(info.get("provider") or target.split(":", 1)[0])
        self.kind = str(info.get("kind") or "").split(":", 1)[-1]
        self.fingerprint = str(info.get("fingerprint") or target.split(":", 1)[-1])
        self.status, self.word, self.detail, self.category, self.replaced = self._judge()

    def _last(self, action: str) -> TargetResult | None:
        return next((r for r in reversed(self.results) if r.action == action), None)

    def _judge(self) -> tuple[str, str, str, str, bool]:
        revoke = self._last("revoke")
        verify = self._last("verify_revoked")
        rotate = self._last("rotate")
        primary = revoke or rotate or verify or self.results[-1]
        outcome = primary.outcome
        status = outcome.status
        word = outcome_word(outcome)
        detail = short_detail(outcome)
        if status == "planned":
            word = f"would {primary.action.replace('_', ' ')}"
            category = "planned"
        elif status != "ok":
            category = {"manual": "by hand", "skipped": "skipped"}.get(status, "failed")
            if status == "unproven":
                category = "unproven"
        elif verify is not None and verify.outcome.status == "ok":
            word, category = "dead", "dead"
        elif verify is not None:
            status = verify.outcome.status
            word = {"unproven": "unproven",
                    "manual": "check by hand"}.get(status, "NOT proven dead")
            category = {"unproven": "unproven", "manual": "by hand"}.get(status, "failed")
            detail = short_detail(verify.outcome)
        elif primary is rotate or type(outcome).__name__ == "Rotated":
            category = "replaced"  # a secret revoked by replacing it where it is kept
        else:
            category = "revoked"  # revoked, with no proof asked for or possible
        replaced = False
        if (rotate is not None and primary is not rotate
                and type(outcome).__name__ != "Rotated"):
            r = rotate.outcome
            if r.status == "ok":
                word, replaced = f"{word} · new key", True
            elif r.status == "manual":
                word = f"{word} · replace by hand"
                status = _worst((status, "manual"))
            elif r.status in ("failed", "refused"):
                word = f"{word} · replacement failed"
                status = "failed"
                detail = short_detail(r)
            elif r.status == "planned":
                word = f"{word}, replace"
        if primary is rotate and status == "ok":
            replaced = True
        return status, word, detail, category, replaced

    def text(self, width: int = 80) -> Any:
        from rich.text import Text

        symbol, colour = _STYLE.get(self.status, ("?", "white"))
        head = f"{printable(self.provider)[:11]:<11} {printable(self.fingerprint)[:21]:<21} "
        used = _cells(f"  {symbol} {head}{self.word}  ")
        detail = fit(printable(self.detail), width - used)
        return Text.assemble(
            ("  " + symbol + " ", colour),
            (head[:12], "bold"), head[12:],
            (self.word, colour),
            (f"  {detail}" if detail else "", "dim"),
        )


class _Step:
    def __init__(self, step_id: str, uses: str) -> None:
        self.id = step_id
        self.uses = uses
        self.started = time.monotonic()
        self.results: list[TargetResult] = []
        self.keys = uses in _KEY_STEPS

    def label(self) -> str:
        done = len({r.target for r in self.results})
        what = "keys" if self.keys else "targets"
        return f"{self.id}: {done} {what} done" if done else self.id


class _Ticker:
    """The spinner line under the output while a step runs (a terminal only)."""

    def __init__(self, reporter: RichReporter) -> None:
        from rich.spinner import Spinner

        self._reporter = reporter
        self._spinner = Spinner("dots", style="cyan")

    def __rich__(self) -> Any:
        from rich.text import Text

        step = self._reporter._step
        if step is None:
            return Text("")
        seconds = time.monotonic() - step.started
        self._spinner.update(text=Text(f"{step.label()}  {seconds:.1f} s", style="dim"))
        return self._spinner


class RichReporter:
    """Progress on stderr (stdout stays clean), one line per step and per key.

    With ``defer_until_action`` (the panic button), rich is not imported until the run's first
    state-changing action has its result, or ``RENDER_DEADLINE_S`` has passed: the import
    costs ~35 ms that the stop must not wait for. (Waiting only for the action's intent and a
    10-ms head start lost the race on a loaded machine: the stop still had processes to find
    before its signal went out.) Lines reported before then are kept in order and printed by a
    background thread; anything that needs the console itself (prompts, the summary) gets it
    at once.
    """

    def __init__(self, *, stream: Any = None, show_checkpoints: bool = True,
                 defer_until_action: bool = False, display: Display | None = None) -> None:
        self.show_checkpoints = show_checkpoints
        self.display = display or Display()
        self._stream = stream or sys.stderr
        self._lock = threading.RLock()
        self._console: Any = None
        self._live: Any = None
        self._pending: list[Callable[[Any], None]] = []
        self._acting = threading.Event()  # a state-changing action's intent is on disk
        self._acted = threading.Event()  # ... and that action has its result
        self._step: _Step | None = None
        self.latest_checkpoint: str | None = None
        self.warnings: list[str] = []
        if defer_until_action:
            threading.Thread(target=self._render_when_acting, name="clawback-console",
                             daemon=True).start()
        else:
            _ = self.console

    # -- the console --------------------------------------------------------------------------

    @property
    def console(self) -> Any:
        """The rich Console, created (and the lines kept so far printed) on first use."""
        with self._lock:
            if self._console is None:
                self._console = self.display.console(self._stream)
                pending, self._pending = self._pending, []
                for line in pending:
                    line(self._console)
                if self._step is not None:
                    self._start_ticker()
            return self._console

    def _render_when_acting(self) -> None:
        self._acted.wait(RENDER_DEADLINE_S)
        _ = self.console

    def _emit(self, line: Callable[[Any], None]) -> None:
        with self._lock:
            if self._console is None:
                self._pending.append(line)
            else:
                line(self._console)

    def _start_ticker(self) -> None:
        if self._live is not None or not self.display.animates(self._stream):
            return
        from rich.live import Live

        self._live = Live(_Ticker(self), console=self._console, transient=True,
                          refresh_per_second=8, redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def _stop_ticker(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    def prompting(self, ask: Callable[[str], _T] | None) -> Callable[[str], _T] | None:
        """``ask`` that first prints every line kept so far, so a question never comes
        before the progress it is about."""
        if ask is None:
            return None

        def settled_then_ask(question: str) -> _T:
            with self._lock:
                _ = self.console
                self._stop_ticker()
            try:
                return ask(question)
            finally:
                with self._lock:
                    if self._step is not None:
                        self._start_ticker()

        return settled_then_ask

    def finish(self) -> None:
        """End the last step's lines and the spinner (before the summary)."""
        with self._lock:
            self._close_step()
            if self._console is not None:
                self._stop_ticker()

    # -- the Reporter protocol ----------------------------------------------------------------

    def action_issued(self) -> None:
        self._acting.set()

    def step_started(self, step_id: str, uses: str, description: str) -> None:
        with self._lock:
            self._close_step()
            self._step = _Step(step_id, uses)
            if self.display.verbose:
                suffix = f" — {description}" if description else ""
                self._emit(lambda c: _line(c, f"▶ {step_id}{suffix}", "bold"))
            if self._console is not None:
                self._start_ticker()

    def step_skipped(self, step_id: str, reason: str) -> None:
        with self._lock:
            self._close_step()
            if not self.display.quiet:
                self._emit(lambda c: _line(c, f"– {step_id:<13} skipped: {printable(reason)}",
                                           "dim"))

    def target_finished(self, result: TargetResult) -> None:
        if self._acting.is_set():
            self._acted.set()
        with self._lock:
            if self.display.verbose:
                self._emit(lambda c: _verbose_line(c, result))
            if self._step is not None and self._step.id == result.step:
                self._step.results.append(result)
            elif not self.display.verbose and not self.display.quiet:
                # A result outside the running step: a step's re-check, proven later beside
                # the next steps, or a manual step confirmed on --resume.
                label = result.step + (" re-check" if result.action.endswith(RECHECK) else "")
                self._emit(lambda c: _target_lines(c, label, [result], 0.0))

    def checkpoint(self, text: str, *, urgent: bool = False) -> None:
        with self._lock:
            self.latest_checkpoint = text
            if urgent and self.show_checkpoints:

                def show(console: Any) -> None:
                    _line(console, "Copy this checkpoint off the host now, before the network "
                                   "goes:", "bold yellow")
                    _checkpoint_lines(console, text)

                self._emit(show)

    def note(self, message: str) -> None:
        if not self.display.quiet:
            self._emit(lambda c: wrapped(c, printable(message), "yellow"))

    def warn(self, message: str) -> None:
        """Loud, and shown even with ``-q``; repeated in the summary."""
        with self._lock:
            self.warnings.append(message)
            self._emit(lambda c: wrapped(c, f"WARNING: {printable(message)}", "bold red"))

    # -- step lines ---------------------------------------------------------------------------

    def _close_step(self) -> None:
        step, self._step = self._step, None
        if step is None:
            return
        if self._console is not None:
            self._stop_ticker()
        if self.display.verbose or self.display.quiet:
            return
        seconds = time.monotonic() - step.started
        if step.keys:
            self._emit(lambda c: _keys_lines(c, step, seconds))
        else:
            self._emit(lambda c: _target_lines(c, step.id, step.results, seconds))


def _line(console: Any, text: str, style: str = "") -> None:
    from rich.text import Text

    console.print(Text(text, style=style), no_wrap=True, overflow="ellipsis")


def wrapped(console: Any, text: str, style: str = "", *, indent: str = "",
             first: str | None = None) -> None:
    """Wrapped at spaces only: a path or URL longer than a line stays whole on its own."""
    from rich.text import Text

    width = max(console.width, 40)
    lines = textwrap.wrap(text, width=width, initial_indent=indent if first is None else first,
                          subsequent_indent=indent, break_long_words=False,
                          break_on_hyphens=False) or [""]
    for line in lines:
        console.print(Text(line, style=style), no_wrap=True, overflow="ignore", crop=False)


def _checkpoint_lines(console: Any, text: str) -> None:
    from rich.text import Text

    for line in text.rstrip("\n").splitlines():
        console.print(Text(printable(line), style="dim"), no_wrap=True, overflow="ignore",
                      crop=False)


def _target_lines(console: Any, step_id: str, results: Sequence[TargetResult],
                  seconds: float) -> None:
    from rich.text import Text

    status = _worst(r.outcome.status for r in results)
    symbol, colour = _STYLE.get(status, ("?", "white"))
    if len(results) == 1:
        detail = short_detail(results[0].outcome) or outcome_word(results[0].outcome)
        took = _elapsed(seconds)
        detail = fit(printable(detail), console.width - _cells(f"{symbol} {step_id:<13} {took}"))
        console.print(Text.assemble((f"{symbol} ", colour), (f"{step_id:<13} ", "bold"),
                                    detail, (took, "dim")),
                      no_wrap=True, overflow="ellipsis")
        return
    count = f"{len(results)} targets" if results else "nothing to do"
    console.print(Text.assemble((f"{symbol} ", colour), (f"{step_id:<13} ", "bold"), count,
                                (_elapsed(seconds), "dim")), no_wrap=True, overflow="ellipsis")
    for r in results:
        sym, col = _STYLE.get(r.outcome.status, ("?", "white"))
        target = printable(_short_target(r.target))
        # The detail often starts with the target itself: said once is enough.
        detail = short_detail(r.outcome).replace(_short_target(r.target), "").strip(" :")
        detail = fit(printable(detail or outcome_word(r.outcome)),
                     console.width - _cells(f"  {sym} {target}: "))
        console.print(Text.assemble((f"  {sym} ", col), target, ": ", (detail, "dim")),
                      no_wrap=True, overflow="ellipsis")


def _is_key(result: TargetResult) -> bool:
    """A result about one key (it describes the credential), not about a step as a whole."""
    return result.action in KEY_ACTIONS and bool(result.target_info.get("provider"))


def key_lines(results: Iterable[TargetResult]) -> list[KeyLine]:
    """One KeyLine per key target, in the order a person scans them: by provider."""
    by_target: dict[str, list[TargetResult]] = {}
    for r in results:
        if _is_key(r):
            by_target.setdefault(r.target, []).append(r)
    lines = [KeyLine(target, rs) for target, rs in by_target.items()]
    return sorted(lines, key=lambda k: (k.provider, k.kind, k.fingerprint))


def _tally(lines: Sequence[KeyLine]) -> str:
    counts: dict[str, int] = {}
    for k in lines:
        counts[k.category] = counts.get(k.category, 0) + 1
    order = ("dead", "replaced", "revoked", "unproven", "planned", "by hand", "failed", "skipped")
    names = {"revoked": "revoked, not proven dead", "unproven": "unproven",
             "planned": "by API"}
    parts = [f"{counts[c]} {names.get(c, c)}" for c in order if counts.get(c)]
    made = sum(1 for k in lines if k.replaced and k.category != "replaced")
    if made:
        parts.append(f"{made} new keys")
    return " · ".join(parts)


def _keys_lines(console: Any, step: _Step, seconds: float) -> None:
    from rich.text import Text

    keys = key_lines(step.results)
    others = [r for r in step.results if not _is_key(r)]
    status = _worst([k.status for k in keys] + [r.outcome.status for r in others])
    symbol, colour = _STYLE.get(status, ("?", "white"))
    summary = f"{len(keys)} keys: {_tally(keys)}" if keys else "no key"
    console.print(Text.assemble((f"{symbol} ", colour), (f"{step.id:<13} ", "bold"), summary,
                                (_elapsed(seconds), "dim")), no_wrap=True, overflow="ellipsis")
    for key in keys:
        console.print(key.text(console.width), no_wrap=True, overflow="ellipsis")
    for r in others:
        sym, col = _STYLE.get(r.outcome.status, ("?", "white"))
        detail = fit(printable(short_detail(r.outcome) or r.target),
                     console.width - _cells(f"  {sym} "))
        console.print(Text.assemble((f"  {sym} ", col), detail),
                      no_wrap=True, overflow="ellipsis")


def _verbose_line(console: Any, result: TargetResult) -> None:
    symbol, colour = _STYLE.get(result.outcome.status, ("?", "white"))
    info = result.target_info
    who = printable(f"{result.action} {result.target}")
    fingerprint = str(info.get("fingerprint") or "")
    if fingerprint and fingerprint not in result.target:
        who += f" ({printable(fingerprint)})"
    text = f"{symbol} {who}: {outcome_word(result.outcome)}"
    summary = outcome_summary(result.outcome)
    if summary:
        text += f" — {printable(summary)}"
    wrapped(console, text, colour if result.outcome.status != "ok" else "", indent="    ",
             first="  ")


# --------------------------------------------------------------------------------------------
# After the run
# --------------------------------------------------------------------------------------------


def _urgency(result: TargetResult) -> int:
    """What failed first (a key that may live, a step not done), then steps only a human can
    do (an agent not found, a checkpoint to copy), then keys to kill by hand, then
    replacements."""
    status = result.outcome.status
    if status in ("failed", "refused"):
        return 0 if _is_key(result) else 1
    if not _is_key(result):
        return 2
    return 3 if result.action != "rotate" else 4


def todo_text(result: TargetResult) -> str:
    """The whole advice for one to-do item, without the repetition of ``outcome_summary``."""
    outcome = result.outcome
    if isinstance(outcome, ManualRequired):
        text = outcome.instructions or outcome.detail
        if outcome.url and outcome.url not in text:
            text += f" ({outcome.url})"
        return text
    if isinstance(outcome, Unproven):
        text = f"not proven dead: {outcome.reason or outcome.detail}"
        if outcome.check:
            text += f"; check: {outcome.check}"
        if outcome.url and outcome.url not in text:
            text += f" ({outcome.url})"
        return text
    if isinstance(outcome, Failed):
        text = " — ".join(p for p in (outcome.detail, outcome.error) if p)
        if _is_key(result):
            text += (". The key may still work: revoke it by hand, or resume the incident "
                     "once the cause is fixed.")
        return text
    return outcome_summary(outcome)


def _home_relative(text: str, agent_home: str | None) -> str:
    if not agent_home or agent_home == "/":
        return text
    return text.replace(agent_home.rstrip("/") + "/", "~/")


def print_todo(console: Any, remaining: Sequence[TargetResult], *,
               agent_home: str | None = None, title: str) -> None:
    items = sorted(remaining, key=_urgency)
    wrapped(console, title, "bold yellow")
    if agent_home and any(agent_home.rstrip("/") + "/" in todo_text(r) for r in items):
        wrapped(console, f"(~/ is the agent's home, {agent_home.rstrip('/')})", "dim",
                 indent="    ")
    for number, r in enumerate(items, 1):
        info = r.target_info
        what = r.target
        if info.get("provider"):
            kind = str(info.get("kind", "")).split(":", 1)[-1]
            what = f"{info['provider']} {kind} {info.get('fingerprint', '')}".strip()
        verb = {"rotate": "replace", "revoke": "revoke"}.get(r.action, "")
        head = f"{number:>2}. " + (f"{verb} " if verb and r.outcome.status == "manual" else "")
        colour = "red" if r.outcome.status in ("failed", "refused") else "bold"
        wrapped(console, head + printable(what) + f" [{r.step}]", colour)
        wrapped(console, printable(_home_relative(todo_text(r), agent_home)), indent="    ")


def print_summary(result: RunResult, reporter: RichReporter, *,
                  agent_home: str | None = None) -> None:
    reporter.finish()
    console = reporter.console
    keys = key_lines(result.results)
    steps = [r for r in result.results if not _is_key(r)]
    tally = f"{len(keys)} keys: {_tally(keys)}" if keys else "no key"
    problems = sum(1 for r in steps if r.outcome.status in ("failed", "refused", "manual"))
    if problems:
        tally += f"; {problems} other step(s) need you"
    if result.dry_run:
        wrapped(console, f"Dry run: {tally}. Nothing was changed.", "bold cyan")
        if result.remaining:
            print_todo(console, result.remaining, agent_home=agent_home,
                       title="The real run would leave you this to do:")
        verdict = ("would exit 3: a human would have to act" if result.exit_code
                   else "would exit 0: nothing left for a human")
        wrapped(console, f"The real run {verdict}.", "bold")
        return
    console.print()
    wrapped(console, f"Incident {result.incident_id}: {tally}", "bold")
    wrapped(console, f"directory: {printable(str(result.incident_dir))}", indent="  ",
            first="  ")
    if result.unproven:
        # Never among the dead: the provider's answer did not prove it (each says what to
        # check, in the to-do list below).
        wrapped(console, f"{len(result.unproven)} key(s) revoked but not proven dead: check "
                         "each one as the to-do list says.", "bold magenta")
    if result.remaining:
        print_todo(console, result.remaining, agent_home=agent_home,
                   title=f"To do by hand ({len(result.remaining)}), most urgent first:")
        wrapped(console, f"Then record it: clawback contain --resume {result.incident_id}")
    else:
        wrapped(console, "Nothing is left for a human.", "green")
    for warning in reporter.warnings:
        wrapped(console, f"WARNING: {printable(warning)}", "bold red")
    if result.investigation is not None:
        from clawback.investigate.after import investigation_lines

        for text, style in investigation_lines(result.investigation):
            wrapped(console, printable(text), style)
    if result.signing_public_key:
        wrapped(console, "The public key that signed this incident (keep a copy off this "
                          "host):", "bold")
        _checkpoint_lines(console, result.signing_public_key)
    if result.final_checkpoint and reporter.show_checkpoints:
        wrapped(console, "Checkpoint (copy it off this host now; verify anchors to it):",
                 "bold")
        _checkpoint_lines(console, result.final_checkpoint)
    wrapped(console, f"Verify with: clawback verify {result.incident_id} --checkpoint "
                      "<your copy of the checkpoint>")


class JsonReporter:
    """Collects nothing live; the final document is printed by ``print_json``."""

    def step_started(self, step_id: str, uses: str, description: str) -> None:
        pass

    def step_skipped(self, step_id: str, reason: str) -> None:
        pass

    def target_finished(self, result: TargetResult) -> None:
        pass

    def checkpoint(self, text: str, *, urgent: bool = False) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
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
        "warnings": list(result.warnings),
        "signing_public_key": result.signing_public_key,
        "manifest_sha256": result.manifest_sha256,
        "final_checkpoint": result.final_checkpoint,
        "investigation": result.investigation,
    }


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------
# The other commands' human output
# --------------------------------------------------------------------------------------------


def print_note(console: Any, message: str) -> None:
    wrapped(console, f"note: {printable(message)}", "yellow")


def print_outcome_and_checkpoint(console: Any, outcome: Any, checkpoint: str) -> None:
    """``restore-network``: what happened, in words, then the checkpoint to keep."""
    status = outcome.status
    symbol, colour = _STYLE.get(status, ("?", "white"))
    wrapped(console, f"{symbol} {outcome_word(outcome)}: {printable(outcome_summary(outcome))}",
             colour, indent="  ")
    wrapped(console, "Checkpoint (copy it off this host):", "bold")
    _checkpoint_lines(console, checkpoint)


def print_host_change(console: Any, host: str, outcome: Any) -> None:
    symbol, colour = _STYLE.get(outcome.status, ("?", "white"))
    wrapped(console, f"{symbol} {printable(host)}: {outcome_word(outcome)} — "
                      f"{printable(outcome_summary(outcome))}", colour, indent="    ")


def print_fleet_change_end(console: Any, failed: Sequence[str], hosts: int,
                           checkpoint: str) -> None:
    if failed:
        wrapped(console, f"{len(failed)} of {hosts} host(s) not done: "
                          f"{printable(', '.join(failed))} (advice above)", "red")
    wrapped(console, "Checkpoint (copy it off this host):", "bold")
    _checkpoint_lines(console, checkpoint)


def print_inventory(console: Any, inventory: Any, agent_home: str, *, quiet: bool) -> None:
    """``discover``: one line per secret, then where it was found, one place per line."""
    from rich.text import Text

    creds = list(inventory.credentials)
    providers = len({c.provider for c in creds})
    wrapped(console, f"{len(creds)} secret(s) of {providers} provider(s) the agent can reach "
                      f"under {printable(agent_home)} (fingerprints only, never a value):",
             "bold")
    if quiet:
        return
    for cred in sorted(creds, key=lambda c: (c.provider, c.kind, c.fingerprint)):
        key_id = f"  id {cred.key_id}" if cred.key_id else ""
        console.print(Text.assemble(
            (f"  {printable(cred.provider)[:11]:<11} ", "bold"),
            f"{printable(cred.kind.split(':', 1)[-1])[:20]:<20} ",
            printable(cred.fingerprint), (printable(key_id), "dim"),
        ), no_wrap=True, overflow="ellipsis")
        for location in cred.locations:
            wrapped(console, printable(_home_relative(str(location), agent_home)), "dim",
                     indent="      ")
    for note in getattr(inventory, "notes", ()):
        print_note(console, note)


_MODES = {
    "api": ("✔", "green", "by API"),
    "manual": ("✋", "yellow", "by hand: no API"),
    "unconfigured": ("✘", "red", "by hand until [providers.{}] is configured"),
    "unusable": ("✘", "red", "by hand: [providers.{}] admin credential unusable"),
    "none": ("✘", "red", "by hand: no responder"),
}


def print_preflight(console: Any, report: Any) -> None:
    """``drill --preflight``: each check, each key, what would be left, and the exit code
    contain would give."""
    from rich.text import Text

    wrapped(console, "Can contain do its job here?", "bold")
    for c in report.checks:
        symbol, colour = ("✔", "green") if c.ok else ("✘", "red")
        detail = f"missing {c.missing_permission}. " if c.missing_permission else ""
        detail += c.detail or ""
        head = f"  {symbol} {printable(c.provider)[:11]:<11} {printable(c.capability)}  "
        detail = fit(printable(detail), console.width - _cells(head))
        console.print(Text.assemble(
            (f"  {symbol} ", colour), (f"{printable(c.provider)[:11]:<11} ", "bold"),
            printable(c.capability), (f"  {detail}" if detail else "", "dim"),
        ), no_wrap=True, overflow="ellipsis")
    if report.coverage:
        wrapped(console, "How contain would handle each key the agent can reach:", "bold")
    for k in sorted(report.coverage, key=lambda k: (k.provider, k.kind, k.fingerprint)):
        symbol, colour, text = _MODES.get(k.mode, ("?", "white", k.mode))
        console.print(Text.assemble(
            (f"  {symbol} ", colour), (f"{printable(k.provider)[:11]:<11} ", "bold"),
            f"{printable(k.fingerprint)[:21]:<21} ", (text.format(k.handled_by), colour),
        ), no_wrap=True, overflow="ellipsis")
    needed = [r for r in getattr(report, "permissions", ())
              if r.configured or r.keys_found]
    if needed:
        wrapped(console, "What each admin credential must be allowed to do:", "bold")
    for r in needed:
        wrapped(console, f"{printable(r.provider)}: {printable('; '.join(r.permissions))}",
                indent="      ", first="  ")
    left = [r for r in report.left_to_you if r.action not in KEY_ACTIONS]
    for r in left:
        wrapped(console, f"✋ [{r.step}] {printable(short_detail(r.outcome))}", "yellow")
    for c in report.failed_checks:
        if c.detail:
            wrapped(console, f"{printable(c.provider)}: {printable(c.detail)}", "dim",
                     indent="    ", first="  ")
    if report.exit_code == 0:
        wrapped(console, "contain would do everything itself here (exit 0).", "bold green")
    elif report.ok:
        wrapped(console, f"contain would work, and leave {len(report.left_to_you)} item(s) to "
                          "you (exit 3): no API can do those.", "bold yellow")
    else:
        wrapped(console, "contain would NOT do everything it could (exit 3): fix the ✘ "
                          "lines.", "bold red")


def print_drill(drilled: Any, console: Any) -> None:
    from rich.text import Text

    result = drilled.result
    keys = key_lines(result.results)
    tally = f"{len(keys)} keys: {_tally(keys)}" if keys else "nothing to do"
    if result.dry_run:
        wrapped(console, f"Dry run: {tally}. Nothing was sent or changed.", "bold cyan")
    else:
        wrapped(console, f"Drill {result.incident_id}: {tally}", "bold")
        wrapped(console, f"directory: {printable(str(result.incident_dir))}", indent="  ",
                first="  ")
    if drilled.timings is not None and drilled.timings.providers:
        wrapped(console, "Rotation time per provider (keys rotated/all, slowest key, total):",
                 "bold")
        for t in drilled.timings.providers.values():
            console.print(Text(f"  {printable(t.provider)[:11]:<11} {t.rotated}/{t.keys}  "
                               f"{t.slowest_ms} ms  {t.total_ms} ms"), no_wrap=True)
    if drilled.previous is None:
        wrapped(console, "No earlier drill to compare with.")
    elif drilled.comparison:
        wrapped(console, f"Compared with the drill {drilled.previous.incident} "
                          f"({drilled.previous.started}):", "bold")
        for c in drilled.comparison:
            now = "" if c.now_ms is None else f"{c.now_ms} ms"
            then = "" if c.before_ms is None else f"{c.before_ms} ms"
            console.print(Text(f"  {printable(c.provider)[:11]:<11} now {now:>9}  then "
                               f"{then:>9}  {printable(c.verdict)}"), no_wrap=True)
    else:
        wrapped(console, f"The previous drill was {drilled.previous.incident} "
                          f"({drilled.previous.started}).")
    if result.dry_run:
        return
    if result.remaining:
        print_todo(console, result.remaining, title="A human must still do this:")
        wrapped(console, f"Then finish the drill with: clawback drill --resume "
                          f"{result.incident_id}")
    wrapped(console, f"Verify with: clawback verify {result.incident_id}")


def print_init(console: Any, path: Path, plan: Any, *, found_default: bool) -> None:
    """``init``: what was written, and what to store before contain can use it."""
    wrapped(console, f"Wrote {printable(str(path))} (0600): {len(plan.providers)} provider(s) "
                     f"found under {printable(str(plan.home))}.", "bold")
    if not found_default:
        wrapped(console, f"contain does not look there by itself: pass --config "
                         f"{printable(str(path))}", "yellow", indent="  ")
    if plan.references:
        wrapped(console, "Store each admin credential it names (the comments say what each "
                         "must be allowed to do):", "bold")
        for _, ref in plan.references:
            if ref.startswith("keyring:"):
                service, _, user = ref.removeprefix("keyring:").partition("/")
                wrapped(console, f"keyring set {printable(service)} {printable(user)}",
                        indent="    ", first="  ")
            else:
                wrapped(console, f"export {printable(ref.removeprefix('env:'))}=...",
                        indent="    ", first="  ")
