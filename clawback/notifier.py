"""``[notify]``: tell the operator what contain does while it does it, and ship each checkpoint
off this host.

A message at the start, one after each step with the latest checkpoint (the copy that anchors
``verify``, now somewhere the attacker can't reach), and one at the end with where things
stand. Nothing here may hold containment up: messages are queued in memory; a background
thread, started only once the first action has been issued, resolves the URL references and
hands the messages to ``clawback.notify_worker``, a process of its own that imports Apprise and
sends them, each bounded by ``timeout_seconds``. At the end clawback waits at most
``flush_seconds`` for the last messages, then leaves the worker to finish on its own.

Messages are made from what the engine already shows: step names, counts, fingerprints, the
checkpoint. No secret is in any of them, and no URL is ever printed or written (a URL carries
its own token): destinations are named by scheme and host only.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clawback.runner import Reporter, RunResult, TargetResult
from clawback.shown import printable


class Notifier:
    def __init__(self, *, references: Sequence[str], store: Any, incident_dir: Path,
                 timeout: float, flush: float) -> None:
        self._references = list(references)
        self._store = store
        self._incident_dir = Path(incident_dir)
        self._timeout = timeout
        self._flush = flush
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._worker: subprocess.Popen[bytes] | None = None
        self.problems: list[str] = []

    def post(self, title: str, body: str, *, checkpoint: str | None = None,
             final: bool = False) -> None:
        """Queue a message: never blocks, never fails."""
        self._messages.put({"title": title, "body": body, "checkpoint": checkpoint,
                            "final": final})

    def start(self) -> None:
        """Start sending (idempotent): call it once the first action has been issued."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="clawback-notify",
                                                daemon=True)
                self._thread.start()

    def close(self) -> list[str]:
        """No more messages; wait at most ``flush`` seconds for them to go out. Returns what
        went wrong (no secret in it)."""
        self._messages.put(None)
        self.start()
        deadline = time.monotonic() + self._flush
        assert self._thread is not None
        self._thread.join(self._flush)
        worker = self._worker
        if worker is not None:
            try:
                worker.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                self.problems.append(
                    f"notifications still being sent after {self._flush:g} s; they go on in "
                    "the background (see notify.log in the incident directory)")
        return list(self.problems)

    # -- the background thread ----------------------------------------------------------------

    def _urls(self) -> list[str]:
        urls = []
        for reference in self._references:
            try:
                urls.append(self._store.resolve(reference).reveal())
            except Exception as exc:  # a missing keyring entry or variable: say which
                self.problems.append(f"[notify] {reference} cannot be used: "
                                     f"{type(exc).__name__}: {_first_line(str(exc))}")
        return urls

    def _run(self) -> None:
        urls = self._urls()
        if not urls:
            self.problems.append("no [notify] URL could be used: nothing was sent")
            while self._messages.get() is not None:
                pass
            return
        from responders.kit.private_files import open_private

        log = open_private(self._incident_dir / "notify.log", "ab", encoding=None)
        try:
            # Its own session: a Ctrl-C on contain does not cut the last message short.
            self._worker = subprocess.Popen(
                [sys.executable, "-m", "clawback.notify_worker"], stdin=subprocess.PIPE,
                stdout=log, stderr=subprocess.STDOUT, close_fds=True, start_new_session=True,
            )
        except OSError as exc:
            self.problems.append(f"the notification process could not start: {exc.strerror}")
            return
        finally:
            log.close()
        stdin = self._worker.stdin
        assert stdin is not None
        try:
            stdin.write((json.dumps({"urls": urls, "timeout": self._timeout,
                                     "incident_dir": str(self._incident_dir)}) + "\n").encode())
            stdin.flush()
            del urls
            while (message := self._messages.get()) is not None:
                stdin.write((json.dumps(message) + "\n").encode())
                stdin.flush()
        except (BrokenPipeError, OSError):
            self.problems.append("the notification process died; see notify.log")
        finally:
            with contextlib.suppress(OSError):
                stdin.close()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# --------------------------------------------------------------------------------------------
# What the messages say
# --------------------------------------------------------------------------------------------

_CHECKPOINT_NOTE = "Checkpoint (keep this copy: `clawback verify --checkpoint` anchors to it):"


class NotifyingReporter:
    """A Reporter that also tells the notifier: sending starts at the first action, a message
    goes out with each checkpoint."""

    def __init__(self, inner: Reporter, notifier: Notifier, incident_id: str) -> None:
        self.inner = inner
        self.notifier = notifier
        self.incident_id = incident_id
        self._step = ""
        self._counts: Counter[str] = Counter()

    def step_started(self, step_id: str, uses: str, description: str) -> None:
        self._step, self._counts = step_id, Counter()
        self.inner.step_started(step_id, uses, description)

    def step_skipped(self, step_id: str, reason: str) -> None:
        self.inner.step_skipped(step_id, reason)

    def target_finished(self, result: TargetResult) -> None:
        self._counts[result.outcome.status] += 1
        self.inner.target_finished(result)

    def checkpoint(self, text: str, *, urgent: bool = False) -> None:
        self.inner.checkpoint(text, urgent=urgent)
        if urgent:
            title = f"clawback {self.incident_id}: about to cut the network"
            body = "The network cut comes next; this is the last checkpoint before it."
        else:
            done = ", ".join(f"{n} {status}" for status, n in sorted(self._counts.items()))
            step = printable(self._step or "?")
            title = f"clawback {self.incident_id}: step {step} done"
            body = f"Step {step}: {done or 'nothing to do'}."
        self.notifier.post(title, f"{body}\n\n{_CHECKPOINT_NOTE}\n{text}", checkpoint=text)

    def note(self, message: str) -> None:
        self.inner.note(message)

    def warn(self, message: str) -> None:
        self.inner.warn(message)

    def action_issued(self) -> None:
        self.inner.action_issued()
        self.notifier.start()

    def __getattr__(self, name: str) -> Any:
        # The console's own reporter has more than the protocol (finish, prompting, ...).
        return getattr(self.inner, name)


def start_message(incident_id: str, operator: str, playbook: str) -> tuple[str, str]:
    host = socket.gethostname()
    host, operator, playbook = printable(host), printable(operator), printable(playbook)
    return (f"clawback: containing {host} ({incident_id})",
            f"clawback contain started on {host} by {operator}, playbook {playbook}. A "
            "message follows each step, with the checkpoint to keep, and one at the end.")


def end_message(result: RunResult) -> tuple[str, str]:
    """Where things stand, as the report's first screen says it."""
    lines: list[str] = []
    try:
        from clawback.report import build_report

        assert result.incident_dir is not None
        standing = build_report(result.incident_dir).standing
        agent = {"stopped": "stopped", "not_stopped": "NOT stopped",
                 "no_stop_step": "not stopped by this run"}[standing.agent.state]
        # The details come from the timeline, which quotes the agent's tree and providers:
        # a phone or a chat shows them to a person too.
        lines.append(f"Agent: {agent} ({printable(standing.agent.detail)}).")
        lines.append(f"Keys: {standing.count_text()}.")
        for cred, why in standing.live[:5]:
            lines.append(f"  still live: {printable(cred.provider)} "
                         f"{printable(cred.kind.split(':', 1)[-1])} "
                         f"{printable(cred.fingerprint)} ({printable(why)})")
        lines.append(f"Left for a human: {len(standing.todo)} step(s).")
        live = standing.live_count or not standing.agent.stopped
    except Exception as exc:  # the end message must go out even if the report can't be built
        lines.append(f"(where things stand could not be read: {type(exc).__name__})")
        live = True
    lines.append(f"Exit code {result.exit_code}. Report: clawback report {result.incident_id}")
    state = "needs you" if result.exit_code or live else "contained"
    body = "\n".join(lines)
    if result.final_checkpoint:
        body += f"\n\nFinal {_CHECKPOINT_NOTE[0].lower()}{_CHECKPOINT_NOTE[1:]}\n" \
                f"{result.final_checkpoint}"
    return f"clawback {result.incident_id}: {state}", body
