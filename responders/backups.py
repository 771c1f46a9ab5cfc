"""``<incident>/backups/``: every file clawback changes, as it was before the first change.

Shared by every responder that edits a file in place (the agent's config and secrets, the
supervisord config that keeps a stopped gateway off): the outcome's facts list each backup with
the original's path and sha256, so the timeline anchors what was there before.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responders.interface import ResponderError


def backup_name(original: str) -> str:
    """``<8 hex of the path's sha256>-<file name>``: two files of one name never collide."""
    return f"{hashlib.sha256(original.encode()).hexdigest()[:8]}-{Path(original).name}"


def write_new_copy(directory: Path, stem: str, data: bytes) -> Path:
    """``data`` in a new file ``directory/stem`` (or ``stem.N``), 0600 and synced; an earlier
    run's copy of the same incident is never overwritten."""
    target, suffix = directory / stem, 0
    while True:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            suffix += 1
            target = directory / f"{stem}.{suffix}"
    with os.fdopen(fd, "wb") as sink:
        sink.write(data)
        sink.flush()
        os.fsync(sink.fileno())
    return target


@dataclass(frozen=True)
class Backup:
    """A file as it was before clawback first changed it."""

    original: str
    backup: str
    sha256: str
    size: int

    def fact(self) -> dict[str, Any]:
        return {"file": self.original, "backup": self.backup, "sha256": self.sha256,
                "size": self.size}


class BackupStore:
    """``<incident>/backups/``: one copy per file (0600 in a 0700 dir), taken before the first
    change; an earlier run's copy of the same incident is never overwritten."""

    def __init__(self, incident_dir: Path | None) -> None:
        self.incident_dir = incident_dir
        self._kept: dict[str, Backup] = {}
        self._lock = threading.Lock()

    def keep(self, path: Path, data: bytes) -> Backup:
        # Lexical: no link is followed in the agent's files, so a name is one file.
        real = os.path.abspath(path)
        with self._lock:
            if real in self._kept:
                return self._kept[real]
            if self.incident_dir is None:
                raise ResponderError(
                    "no incident directory to keep backups in: the agent's files are only "
                    "changed inside an incident (clawback contain), never by a bare responder call"
                )
            from responders.kit.private_files import make_private_dir

            directory = make_private_dir(Path(self.incident_dir) / "backups")
            target = write_new_copy(directory, backup_name(real), data)
            backup = Backup(
                original=str(path),
                backup=str(target),
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
            )
            self._kept[real] = backup
            return backup
