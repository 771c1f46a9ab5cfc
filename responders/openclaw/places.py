"""Where a credential was found, what can be done there, and what was done to each file."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from responders.agent_files import AgentFiles
from responders.backups import Backup, BackupStore
from responders.interface import Credential, Location, ResponderError
from responders.openclaw.json5_edit import Unparseable
from responders.openclaw.layout import ENVIRONMENT_LOCATION
from responders.openclaw.secret_edits import describe_os_error, is_free_text, read_whole


def _unreachable(location: Location) -> str | None:
    """Why clawback cannot edit this place, or None if it can."""
    if location.path == ENVIRONMENT_LOCATION:
        return "only in the agent's process environment: restart the agent without it"
    if location.key.startswith("auth_profile_store[") or ".sqlite" in Path(location.path).name:
        return "inside a SQLite store: replace it with OpenClaw's own commands or by hand"
    return None


def files_of(cred: Credential) -> tuple[dict[Path, list[Location]], list[tuple[Location, str]]]:
    """The credential's editable files (by real path) and the places it cannot edit."""
    files: dict[Path, list[Location]] = {}
    unreachable: list[tuple[Location, str]] = []
    for location in cred.locations:
        reason = _unreachable(location)
        if reason is not None:
            unreachable.append((location, reason))
            continue
        # Lexical: no link is followed, so the name found is the file edited.
        files.setdefault(Path(os.path.abspath(location.path)), []).append(location)
    return files, unreachable


@dataclass
class FileWork:
    """What happened to one file for one credential."""

    path: Path
    locations: list[Location]
    backup: Backup | None = None
    error: str | None = None
    done: bool = False


@dataclass
class Work:
    files: list[FileWork] = field(default_factory=list)
    unreachable: list[tuple[Location, str]] = field(default_factory=list)

    @property
    def failed(self) -> list[FileWork]:
        return [f for f in self.files if f.error is not None]

    @property
    def changed(self) -> list[FileWork]:
        return [f for f in self.files if f.done]

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "updated": [str(loc) for f in self.changed for loc in f.locations],
            "backups": [f.backup.fact() for f in self.files if f.backup is not None],
        }
        if self.failed:
            facts["not_updated"] = {str(f.path): f.error for f in self.failed}
        if self.unreachable:
            facts["unreachable"] = {str(loc): why for loc, why in self.unreachable}
        return facts


def edit_files(
    work: Work,
    transform: Callable[[Path, bytes, Sequence[str]], bytes],
    backups: BackupStore,
    files: AgentFiles,
) -> None:
    for item in work.files:
        if item.error is not None:
            continue
        try:
            read = read_whole(files, item.path)
            result = transform(item.path, read.data, [loc.key for loc in item.locations])
            item.backup = backups.keep(item.path, read.data)
            # A log line gets a marker, not a secret; anywhere else a secret is written.
            holds_secret = not all(is_free_text(loc) for loc in item.locations)
            # Only over the very file that was read: a swap since is refused, not overwritten.
            files.replace(item.path, result, expect=read.stat, secret=holds_secret)
            if read_whole(files, item.path).data != result:
                item.error = "the file changed under clawback while it was rewritten"
                continue
            item.done = True
        except Unparseable as exc:
            item.error = f"the edited file would not parse ({exc}); left unchanged"
        except ResponderError as exc:
            item.error = str(exc)
        except OSError as exc:
            item.error = describe_os_error(exc)
