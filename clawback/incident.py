"""Incident ids, the incidents directory, and the lock that keeps two runs off one incident."""

from __future__ import annotations

import fcntl
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from clawback.errors import BadInput, Refused
from responders.kit.private_files import make_private_dir, open_private

_ID = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{4}Z-[0-9a-f]{4}$")


def new_incident_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y-%m-%dT%H%MZ}-{secrets.token_hex(2)}"


def state_dir() -> Path:
    """clawback's state directory, ``$XDG_STATE_HOME/clawback``: the incidents, and the
    records that spare the panic button a second look (``clawback.checked_inputs``, ...)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "clawback"


def incidents_root(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit).expanduser()
    return state_dir() / "incidents"


def resolve_incident(reference: str, root: Path) -> Path:
    """Accept an incident id (looked up under ``root``) or a path to its directory."""
    candidate = Path(reference).expanduser()
    if candidate.is_dir() and (candidate / "timeline.jsonl").exists():
        return candidate
    if _ID.match(reference) and (root / reference).is_dir():
        return root / reference
    raise BadInput(
        f"no incident {reference!r} under {root} (give the incident id printed by contain, or "
        f"the path to its directory; --incidents-dir changes where incidents are looked for)"
    )


def create_incident_dir(root: Path, incident_id: str) -> Path:
    make_private_dir(root)
    path = root / incident_id
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)
    return path


class IncidentLock:
    """An exclusive, non-blocking lock on ``<incident>/lock``; released when the process dies."""

    def __init__(self, incident_dir: Path) -> None:
        self.path = incident_dir / "lock"
        self._fh: IO[Any] | None = None

    def __enter__(self) -> IncidentLock:
        self._fh = open_private(self.path, "a")
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            self._fh = None
            raise Refused(
                f"another clawback run holds the lock on {self.path.parent.name}: wait for it "
                f"to finish (or make sure it has died) before resuming"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
