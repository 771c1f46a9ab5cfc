"""Writing a provider key's replacement where the agent reads it (``clawback drill``, through
the keeper): all files or none, each backed up first."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responders.agent_files import AgentFiles
from responders.backups import Backup, BackupStore
from responders.interface import Credential, Location, ResponderError, SecretValue
from responders.openclaw.layout import ENVIRONMENT_LOCATION
from responders.openclaw.places import FileWork, Work, edit_files, files_of
from responders.openclaw.secret_edits import (
    FILE_LOCK,
    describe_os_error,
    file_holds,
    is_free_text,
    read_whole,
    swap_secret,
)
from responders.openclaw.settings import agent_files_for


@dataclass(frozen=True)
class Replacement:
    """What ``write_replacement`` did; paths and backups only, never a value."""

    updated: tuple[str, ...]
    already: tuple[str, ...]  # held the new value before this call (an interrupted run's work)
    backups: tuple[Backup, ...]

    def facts(self) -> dict[str, Any]:
        return {
            "updated": list(self.updated),
            "already_new": list(self.already),
            "backups": [b.fact() for b in self.backups],
        }


def switch_blockers(cred: Credential) -> list[tuple[Location, str]]:
    """Places the agent reads ``cred`` from that clawback cannot rewrite (a SQLite store).

    A rotation must not start when there are any: the provider would kill the old key and the
    agent, still reading it there, would be left with a dead one.
    """
    places = tuple(loc for loc in cred.locations if not is_free_text(loc))
    _, unreachable = files_of(dataclasses.replace(cred, locations=places))
    # The process environment is rebuilt from the files at the next start; a store is not.
    return [(loc, why) for loc, why in unreachable if loc.path != ENVIRONMENT_LOCATION]


def write_replacement(
    cred: Credential,
    new: SecretValue,
    backups: BackupStore,
    *,
    old: SecretValue | None = None,
    companions: Sequence[tuple[str, str]] = (),
    files: AgentFiles | None = None,
) -> Replacement:
    """Write ``new`` in place of ``old`` (default: the credential's own value) in every file
    of ``cred.locations`` the agent reads, with a backup of each file before its first change.

    ``companions`` are more (old, new) pairs to swap in the same files, in the same write: an
    AWS access key id next to its secret. Free-text places are left alone. A file that already
    holds ``new`` instead of ``old`` counts as done, so a resumed run can call this again. All
    or nothing: if one file cannot be written, the files changed by this call get ``old`` back
    and ResponderError says what failed. Raises ResponderError too when the agent also reads
    the key from a place clawback cannot edit (a SQLite store): the old key must then stay.
    ``files`` is the agent's tree (default: the invoking user's home and ``/tmp``).
    """
    files = files if files is not None else agent_files_for({})
    old = old if old is not None else cred.secret
    editable = tuple(loc for loc in cred.locations if not is_free_text(loc))
    places, _ = files_of(dataclasses.replace(cred, locations=editable))
    blocking = switch_blockers(cred)
    if blocking:
        raise ResponderError(
            f"the agent also reads {cred.fingerprint} from "
            + "; ".join(f"{loc} ({why})" for loc, why in blocking)
        )
    old_text, new_text = (old.reveal() if old is not None else None), new.reveal()
    pairs = [(o, n) for o, n in companions if o and n and o != n]

    def swap(path: Path, data: bytes, keys: Sequence[str], forward: bool) -> bytes:
        assert old_text is not None
        for o, n in pairs:
            o, n = (o, n) if forward else (n, o)
            if file_holds(path, data, o):
                data = swap_secret(path, data, (), o, n)
        a, b = (old_text, new_text) if forward else (new_text, old_text)
        return swap_secret(path, data, keys, a, b)

    with FILE_LOCK:
        work, already = Work(), []
        for path, locations in sorted(places.items()):
            try:
                data = read_whole(files, path).data
            except FileNotFoundError:
                continue  # gone since discovery: the agent cannot read the old key there either
            except OSError as exc:
                raise ResponderError(f"cannot read {path}: {describe_os_error(exc)}") from None
            if old_text is not None and file_holds(path, data, old_text):
                work.files.append(FileWork(path, locations))
            elif file_holds(path, data, new_text):
                already.append(str(path))
            else:
                raise ResponderError(
                    f"{path} holds neither the old value {cred.fingerprint} nor its "
                    f"replacement {new.fingerprint}: it changed since discovery"
                )
        edit_files(work, lambda p, d, k: swap(p, d, k, True), backups, files)
        if work.failed:
            undo = Work(files=[FileWork(f.path, f.locations) for f in work.changed])
            edit_files(undo, lambda p, d, k: swap(p, d, k, False), backups, files)
            raise ResponderError(
                "the replacement could not be written to "
                + "; ".join(f"{f.path} ({f.error})" for f in work.failed)
                + (f"; {len(undo.changed)} file(s) already written got the old value back"
                   if undo.files else "")
                + ("" if len(undo.changed) == len(undo.files) else
                   ". NOT restored: " + "; ".join(f"{f.path} ({f.error})" for f in undo.failed))
            )
    return Replacement(
        updated=tuple(str(f.path) for f in work.changed),
        already=tuple(already),
        backups=tuple(f.backup for f in work.files if f.backup is not None),
    )
