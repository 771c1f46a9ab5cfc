"""``state.json``: which steps and targets are done, so ``--resume ID`` skips them.

Written atomically after every change; the timeline stays the record of truth, the journal is
only the bookmark. A bookmark must never be ahead of the record: results are group-committed
to the timeline (``Timeline`` says when), so a journal that follows a timeline makes the
timeline durable before each of its own writes. Otherwise a power cut between the two could
leave a target marked done here whose result the timeline lost, and ``--resume`` would skip
an action no signed entry says happened.

Nothing signs the journal itself, so on a resume ``reconcile`` keeps only what the signed
timeline backs: a target is done only if a result entry says it succeeded (or a manual step was
confirmed there), a step only if its ``step.end`` entry says so, a collection only if its
archive's hash is in the timeline. Anything else a forged or stale journal claims is redone.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from clawback.errors import BadInput
from clawback.stored_text import original
from clawback.trusted_files import read_trusted_file
from responders.interface import Collected, EvidenceItem
from responders.kit.private_files import write_private

# Timeline entries written beside the journal: a step's final status, a confirmed manual step.
STEP_END = "step.end"
MANUAL_CONFIRM = "manual.confirm"


JOURNAL_NAME = "state.json"


class Journal:
    def __init__(self, path: Path, data: dict[str, Any], *, resumed: bool) -> None:
        self.path = path
        self._data = data
        self._lock = threading.Lock()  # guards _data and _changes
        # Group commit: a change returns once a write that includes it is on disk; one write
        # covers every change made while the one before it was syncing (revoking threads
        # finish together, and each write costs an fsync and a full encode of the journal).
        self._write_lock = threading.Lock()
        self._changes = 0
        self._written = 0
        self.resumed = resumed
        self._record_durable: Callable[[], None] | None = None

    def follow(self, record_durable: Callable[[], None]) -> None:
        """Call ``record_durable`` (``Timeline.sync``) before every write of the journal."""
        self._record_durable = record_durable

    @classmethod
    def create(cls, incident_dir: Path, *, incident_id: str, playbook_sha256: str,
               playbook_path: str) -> Journal:
        data = {
            "incident": incident_id,
            "playbook_sha256": playbook_sha256,
            "playbook_path": playbook_path,
            "steps": {},
            "collections": [],
            "closed": False,
        }
        journal = cls(incident_dir / JOURNAL_NAME, data, resumed=False)
        journal._save(journal._changed())
        return journal

    @classmethod
    def open(cls, incident_dir: Path, *, playbook_sha256: str) -> Journal:
        path = incident_dir / JOURNAL_NAME
        if not path.exists():
            raise BadInput(f"{path} is missing: this incident cannot be resumed")
        # A regular file of clawback's own, not writable by others, read without blocking.
        raw = read_trusted_file(path, what="resume journal", limit=256 * 1024 * 1024)
        try:
            data = json.loads(raw)
        except UnicodeDecodeError:
            raise BadInput("the resume journal is not UTF-8 text", path=path) from None
        except json.JSONDecodeError as exc:
            raise BadInput(f"the resume journal is not valid JSON: {exc.msg}", path=path,
                           line=exc.lineno, column=exc.colno) from None
        if data.get("playbook_sha256") != playbook_sha256:
            raise BadInput(
                "this incident was started with a different playbook "
                f"({data.get('playbook_path')}); resume it with the same file",
                path=path,
            )
        return cls(path, data, resumed=True)

    def reconcile(self, entries: Sequence[Any]) -> list[str]:
        """Keep only what the signed timeline ``entries`` back (see the module docstring);
        return what was dropped, in words."""
        targets: set[tuple[str, str]] = set()
        steps: dict[str, str] = {}
        archives: set[tuple[str, str]] = set()
        refs: set[tuple[str, str]] = set()
        for entry in entries:
            fields = entry.fields
            step, action = original(str(fields["step"])), original(str(fields["action"]))
            target_field, extra_field = fields.get("target"), fields.get("extra")
            target = target_field if isinstance(target_field, dict) else {}
            extra = extra_field if isinstance(extra_field, dict) else {}
            if fields["phase"] == "result" and extra.get("status") in ("ok", "skipped"):
                targets.add((step, f"{action} {original(str(target.get('target')))}"))
                facts_field = extra.get("facts")
                facts = facts_field if isinstance(facts_field, dict) else {}
                if isinstance(facts.get("archive_sha256"), str):
                    archives.add((step, facts["archive_sha256"]))
            if action == MANUAL_CONFIRM:
                targets.add((step, f"{original(str(target.get('action')))} "
                                   f"{original(str(target.get('target')))}"))
            if action == STEP_END:
                steps[step] = original(str(fields["detail"]))
            elif action == "step.skip":
                steps[step] = "skipped"
            refs.update((step, original(str(ref))) for ref in fields.get("evidence_refs") or ())
        dropped: list[str] = []
        with self._lock:
            for step_id, step in self._data["steps"].items():
                status = step.get("status")
                if status in ("ok", "skipped") and steps.get(step_id) != status:
                    step["status"] = "unconfirmed"
                    dropped.append(f"step {step_id} is {status}")
                for key in list(step.get("targets", {})):
                    if (step_id, key) not in targets:
                        del step["targets"][key]
                        dropped.append(f"[{step_id}] {key} is done")
            kept = []
            for collection in self._data.get("collections", []):
                if (collection["step"], collection.get("archive_sha256")) in archives:
                    kept.append(collection)
                else:
                    dropped.append(f"evidence {collection.get('archive')} was sealed")
            self._data["collections"] = kept
            files = []
            for record in self._data.get("evidence_files", []):
                if (record["step"], str(record["path"])) in refs:
                    files.append(record)
                else:
                    dropped.append(f"evidence file {record['path']} was sealed")
            self._data["evidence_files"] = files
            change = self._changed() if dropped else 0
        if change:
            self._save(change)
        return dropped

    @property
    def closed(self) -> bool:
        return bool(self._data.get("closed"))

    def step_done(self, step_id: str) -> bool:
        step = self._data["steps"].get(step_id)
        return bool(step and step.get("status") in ("ok", "skipped"))

    def step_status(self, step_id: str) -> str:
        return str(self._data["steps"].get(step_id, {}).get("status", ""))

    def target_done(self, step_id: str, target: str) -> bool:
        step = self._data["steps"].get(step_id, {})
        return target in step.get("targets", {})

    def mark_target(self, step_id: str, target: str, outcome: str) -> None:
        with self._lock:
            step = self._data["steps"].setdefault(step_id, {"status": "running", "targets": {}})
            step.setdefault("targets", {})[target] = outcome
            change = self._changed()
        self._save(change)

    def mark_manual(self, step_id: str, target: str, instructions: str) -> None:
        """A step only a human can do; ``--resume`` asks whether it was done."""
        with self._lock:
            pending = self._data.setdefault("manual", {})
            pending.setdefault(step_id, {})[target] = instructions
            change = self._changed()
        self._save(change)

    def pending_manual(self) -> list[tuple[str, str, str]]:
        """(step, target, instructions) of manual steps not confirmed yet."""
        out = []
        for step_id, targets in sorted(self._data.get("manual", {}).items()):
            for target, instructions in sorted(targets.items()):
                if not self.target_done(step_id, target):
                    out.append((step_id, target, instructions))
        return out

    def mark_step(self, step_id: str, status: str) -> None:
        with self._lock:
            step = self._data["steps"].setdefault(step_id, {"targets": {}})
            step["status"] = status
            change = self._changed()
        self._save(change)

    def add_collection(self, step_id: str, collected: Collected) -> None:
        with self._lock:
            self._data["collections"].append({
                "step": step_id,
                "archive": collected.archive,
                "archive_sha256": collected.archive_sha256,
                "items": [dataclasses.asdict(i) for i in collected.items],
                "skipped": [list(s) for s in collected.skipped],
            })
            change = self._changed()
        self._save(change)

    def add_evidence_file(self, step_id: str, path: str, source: str) -> None:
        with self._lock:
            self._data.setdefault("evidence_files", []).append(
                {"step": step_id, "path": path, "source": source}
            )
            change = self._changed()
        self._save(change)

    def evidence_files(self) -> list[tuple[str, str, str]]:
        return [(f["step"], f["path"], f["source"]) for f in self._data.get("evidence_files", [])]

    def collections(self) -> list[tuple[str, Collected]]:
        out = []
        for c in self._data.get("collections", []):
            items = tuple(
                EvidenceItem(**{**i, "argv": tuple(i.get("argv", ()))}) for i in c["items"]
            )
            out.append((c["step"], Collected(
                archive=c["archive"], archive_sha256=c["archive_sha256"], items=items,
                skipped=tuple(tuple(s) for s in c["skipped"]),
            )))
        return out

    def mark_closed(self) -> None:
        with self._lock:
            self._data["closed"] = True
            change = self._changed()
        self._save(change)

    def _changed(self) -> int:
        """Count a change of ``_data`` (the caller holds ``_lock``); ``_save`` takes the count."""
        self._changes += 1
        return self._changes

    def _save(self, change: int) -> None:
        """Return once a write of the journal that includes change number ``change`` is on
        disk: this thread's own, or one that another thread made after the change."""
        with self._write_lock:
            if self._written >= change:
                return  # another thread's write, made after this change, covered it
            with self._lock:
                covered = self._changes
                # Compact, so json's C encoder writes it: with ``indent`` the pure-Python one
                # re-encoded the whole journal at every target (13 ms a write of the demo's
                # 71 KB journal, 2.4 ms now).
                text = json.dumps(self._data, sort_keys=True, separators=(",", ":"))
            # After the copy: every result the copy's marks stand for was appended to the
            # timeline before its mark, so this sync makes all of them durable first.
            if self._record_durable is not None:
                self._record_durable()
            write_private(self.path, text)
            self._written = covered
