"""Which entry is on disk when: intents synchronously, results and events by group commit.

The guarantee is the one bench/README.md states: an intent is on disk (fdatasync) before
``append`` returns, so an action never runs unrecorded; a result is written before ``append``
returns and synced with the next intent, checkpoint or close, or within a bounded batch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from clawback import timeline as timeline_module
from clawback.signing import Signer
from clawback.timeline import Timeline, read_entries
from clawback.verify import verify_incident

INCIDENT = "2026-11-21T0203Z-dura"
TARGET = {"provider": "aws", "key_id": "AKIAEXAMPLE"}


class SyncLog:
    """Records the size of the timeline file at every fdatasync: what that sync made durable."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.synced_sizes: list[int] = []
        real = os.fdatasync

        def recording(fd: int) -> None:
            real(fd)
            self.synced_sizes.append(os.fstat(fd).st_size)

        monkeypatch.setattr(timeline_module.os, "fdatasync", recording)

    @property
    def durable_size(self) -> int:
        return max(self.synced_sizes, default=0)


def test_an_intent_is_on_disk_before_append_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = SyncLog(monkeypatch)
    timeline = Timeline.create(tmp_path / "i", INCIDENT, Signer.generate("t"), header={})
    path = timeline.path
    for n in range(50):
        target = {**TARGET, "n": n}
        timeline.append(step="revoke", action="revoke", phase="intent", target=target)
        # Everything written so far, this intent included, was covered by a sync.
        assert syncs.durable_size == path.stat().st_size
        timeline.append(step="revoke", action="revoke", phase="result", target=target,
                        outcome="Revoked")
    timeline.close(manifest_sha256=None)
    assert syncs.durable_size == path.stat().st_size


def test_results_are_group_committed_not_synced_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No clock passes (a frozen monotonic clock), so only the batch size forces a sync.
    monkeypatch.setattr(timeline_module.time, "monotonic", lambda: 1000.0)
    syncs = SyncLog(monkeypatch)
    timeline = Timeline.create(tmp_path / "i", INCIDENT, Signer.generate("t"), header={})
    opened = len(syncs.synced_sizes)
    batch = timeline_module.GROUP_COMMIT_ENTRIES
    for n in range(batch - 1):
        timeline.append(step="discover", action="evidence.item", phase="event", detail=str(n))
    assert len(syncs.synced_sizes) == opened  # written, not yet synced
    size_before = timeline.path.stat().st_size
    assert size_before > syncs.durable_size  # and really in the file already
    timeline.append(step="discover", action="evidence.item", phase="event", detail="last")
    assert len(syncs.synced_sizes) == opened + 1  # the batch is full: one sync for all
    assert syncs.durable_size == timeline.path.stat().st_size
    timeline.append(step="discover", action="evidence.item", phase="event", detail="pending")
    timeline.checkpoint()  # a checkpoint makes everything before it durable
    assert syncs.durable_size == timeline.path.stat().st_size
    timeline.release()


def test_a_result_waits_at_most_the_group_commit_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [0.0]
    monkeypatch.setattr(timeline_module.time, "monotonic", lambda: clock[0])
    syncs = SyncLog(monkeypatch)
    timeline = Timeline.create(tmp_path / "i", INCIDENT, Signer.generate("t"), header={})
    timeline.append(step="s", action="a", phase="event", detail="one")
    assert syncs.durable_size < timeline.path.stat().st_size
    clock[0] += timeline_module.GROUP_COMMIT_SECONDS
    timeline.append(step="s", action="a", phase="event", detail="two")
    assert syncs.durable_size == timeline.path.stat().st_size
    timeline.release()


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from clawback.signing import Signer
    from clawback.timeline import Timeline
    timeline = Timeline.create(sys.argv[1], "2026-11-21T0203Z-dura", Signer.generate("t"),
                               header={})
    timeline.append(step="revoke", action="revoke", phase="intent",
                    target={"provider": "aws", "key_id": "AKIAEXAMPLE"})
    print("intent returned", flush=True)
    time.sleep(600)
""")


def test_sigkill_right_after_an_intent_returns_leaves_the_intent_on_disk(tmp_path: Path) -> None:
    incident = tmp_path / "killed"
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(incident)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "intent returned"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    entries = read_entries(incident / "timeline.jsonl")
    assert [(e.action, e.phase) for e in entries] == [("open", "event"), ("revoke", "intent")]
    report = verify_incident(incident)
    assert "CRASHED_ACTION" in report.codes() and "NOT_CLOSED" in report.codes()


def test_answered_intents_leave_nothing_behind(tmp_path: Path) -> None:
    timeline = Timeline.create(tmp_path / "i", INCIDENT, Signer.generate("t"), header={},
                               durable=False)
    for n in range(100):
        target: dict[str, Any] = {**TARGET, "n": n}
        timeline.append(step="revoke", action="revoke", phase="intent", target=target)
        timeline.append(step="revoke", action="revoke", phase="result", target=target,
                        outcome="Revoked")
    open_target = {**TARGET, "n": "open"}
    timeline.append(step="revoke", action="revoke", phase="intent", target=open_target)
    # Only the unanswered intent is still tracked, not an empty queue per answered target.
    assert list(timeline._open_intents.values()) == [timeline_module.deque([201])]
    timeline.release()
