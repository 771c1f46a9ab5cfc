"""state.json's group commit: threads that mark targets together share one write, and none
returns before a write that includes its own mark is on disk."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from clawback import journal as journal_module
from clawback.journal import Journal

THREADS = 12


def test_marks_made_during_a_write_share_the_next_one_and_each_is_on_disk_on_return(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.create(tmp_path, incident_id="i", playbook_sha256="0" * 64,
                             playbook_path="p.yaml")
    syncs: list[int] = []
    journal.follow(lambda: syncs.append(1))
    real_write = journal_module.write_private
    writes: list[dict[str, Any]] = []
    first_write_started = threading.Event()
    all_marked = threading.Event()

    def write(path: Path, data: str, **kwargs: Any) -> Path:
        writes.append(json.loads(data))
        if len(writes) == 1:
            first_write_started.set()
            # Hold the first write until every other thread has made its change and waits.
            assert all_marked.wait(timeout=60)
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(journal_module, "write_private", write)
    on_disk_at_return: dict[str, bool] = {}

    def mark(n: int) -> None:
        journal.mark_target("revoke", f"t{n}", "Revoked")
        saved = json.loads((tmp_path / journal_module.JOURNAL_NAME).read_text())
        on_disk_at_return[f"t{n}"] = f"t{n}" in saved["steps"]["revoke"]["targets"]

    first = threading.Thread(target=mark, args=(0,))
    first.start()
    assert first_write_started.wait(timeout=60)
    others = [threading.Thread(target=mark, args=(n,)) for n in range(1, THREADS)]
    for thread in others:
        thread.start()
    # Each of the others has counted its change once the count reaches THREADS + 1 (create
    # made the first one); they now wait for the write lock.
    waited = threading.Event()
    for _ in range(12_000):  # at most a minute: the others only have to take a lock
        if journal._changes == THREADS + 1:
            break
        waited.wait(0.005)
    all_marked.set()
    for thread in [first, *others]:
        thread.join(timeout=60)

    assert on_disk_at_return == {f"t{n}": True for n in range(THREADS)}
    # The held write carried t0 only; one more write carried the other eleven marks.
    assert len(writes) == 2
    assert set(writes[1]["steps"]["revoke"]["targets"]) == {f"t{n}" for n in range(THREADS)}
    assert len(syncs) == len(writes)  # the timeline is made durable before every write


def test_a_failed_write_leaves_the_change_to_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.create(tmp_path, incident_id="i", playbook_sha256="0" * 64,
                             playbook_path="p.yaml")
    real_write = journal_module.write_private
    failing = [True]

    def write(path: Path, data: str, **kwargs: Any) -> Path:
        if failing.pop() if failing else False:
            raise OSError(28, "No space left on device")
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(journal_module, "write_private", write)
    with pytest.raises(OSError):
        journal.mark_target("revoke", "a", "Revoked")
    journal.mark_target("revoke", "b", "Revoked")

    saved = json.loads((tmp_path / journal_module.JOURNAL_NAME).read_text())
    assert set(saved["steps"]["revoke"]["targets"]) == {"a", "b"}
