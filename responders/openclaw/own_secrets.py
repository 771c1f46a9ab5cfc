"""The gateway's own secrets: rotated in every file that holds them (token, password, hooks,
cron, Gmail push, exec approvals), or cleared with the device unpaired (device and node tokens).

**Which token the gateway checks.** 2026.2.26 authenticates clients with ``gateway.auth.token``
from the config, ahead of ``OPENCLAW_GATEWAY_TOKEN``; its own in-process tools connect with the
variable. When the two differ the gateway runs but its tools fail, so a token found in both is
one credential and both places get the same new value (tests/real_gateway proves it: the
tools answer again after the restart). ``openclaw config set`` records its argv, the value
included, in ``logs/config-audit.jsonl``: discovery finds a known token there too, and that
place gets a marker.


**Why revoke is a rotation.** The gateway checks these secrets against its own config; there is
no server to tell. The old value stops working when the gateway starts with the new one (the
contain playbook stops the gateway before its keys step, so it comes back reading only new
values). ``revoke`` therefore rotates, and ``rotate`` (which the engine calls after a successful
revoke when the step says ``rotate: true``) returns what ``revoke`` did instead of rotating twice.
"""

from __future__ import annotations

import os
import secrets as token_source
from collections.abc import Callable, Sequence
from pathlib import Path

from responders.agent_files import AgentFiles
from responders.backups import BackupStore
from responders.interface import (
    AlreadyRevoked,
    Credential,
    Failed,
    Location,
    ManualRequired,
    Outcome,
    Planned,
    ResponderError,
    Revoked,
    Rotated,
    RotationLedger,
    SecretStore,
    SecretValue,
)
from responders.openclaw.json5_edit import describe_path, parse_key_path
from responders.openclaw.kinds import CLEARED_KINDS, DOCS_URL, ROTATED_KINDS, places, short_kind
from responders.openclaw.layout import CONFIG_NAMES, STATE_DIR_NAMES
from responders.openclaw.places import FileWork, Work, edit_files, files_of
from responders.openclaw.secret_edits import (
    clear_tokens,
    describe_os_error,
    file_holds,
    read_whole,
    swap_secret,
    token_entry,
)

# Shorter values could stand alone by chance somewhere they are not the secret.
MIN_REPLACEABLE_LENGTH = 8


class OwnSecrets:
    """Rotates and clears the gateway's own secrets for one responder: the agent's tree, the
    incident's backups, the keyring name of a new value, the state dirs the run is about.
    A retried rotation reuses its stored value, so no location ends up with another one."""

    def __init__(self, files: AgentFiles, backups: BackupStore,
                 store_name: Callable[[Credential], str],
                 state_dirs: Callable[[], Sequence[Path]]) -> None:
        self.files = files
        self._backups = backups
        self._store_name = store_name
        self._state_dirs = state_dirs
        self._new_values: dict[str, tuple[SecretValue, str]] = {}

    def plan(self, cred: Credential) -> Planned:
        """What ``rotate`` (a rotated kind) or ``clear_device_token`` would do; changes nothing."""
        files, unreachable = files_of(cred)
        skipped = tuple(f"cannot edit {loc}: {why}" for loc, why in unreachable)
        if cred.kind in ROTATED_KINDS:
            name = self._store_name(cred)
            commands = (
                f"store a new random value under the keyring name {name}",
                *(f"back up {path}, then write the new value at "
                  f"{', '.join(loc.key or '(whole file)' for loc in locs)}"
                  for path, locs in files.items()),
                *skipped,
            )
            return Planned(
                action="rotate",
                detail=f"rotate the {short_kind(cred.kind)} {cred.fingerprint} in "
                f"{len(cred.locations)} place(s)",
                commands=commands,
            )
        if cred.kind in CLEARED_KINDS:
            commands = tuple(
                f"back up {path}, then delete "
                + ", ".join(describe_path(token_entry(parse_key_path(loc.key) or (),
                                                      Path(loc.path)))
                            for loc in locs)
                for path, locs in files.items()
            ) + skipped
            return Planned(
                action="clear",
                detail=f"clear the {short_kind(cred.kind)} {cred.fingerprint} (device "
                f"{cred.account or 'unknown'} must pair again)",
                commands=commands,
            )
        raise ResponderError(f"{cred.kind} is neither rotated nor cleared by clawback")

    def _present(self, cred: Credential, *, whole_install: bool = False) -> tuple[Work, str]:
        """The files that still hold the credential's value, and that value.

        With ``whole_install`` the configs (``.bak*`` copies included) and ``.env`` of every
        state dir involved are checked too: discovery may have found the value elsewhere and
        missed it there (a config too big to read, a link), and a rotation is complete only
        when it is known to be gone from all of them.
        """
        if cred.secret is None:
            raise ResponderError(
                f"the value of {cred.fingerprint} is unknown, so clawback cannot find it in files"
            )
        old = cred.secret.reveal()
        files, unreachable = files_of(cred)
        found = set(files)
        if whole_install:
            for path in self._install_files(cred):
                files.setdefault(path, [Location(str(path))])
        work = Work(unreachable=unreachable)
        for path, locations in sorted(files.items()):
            try:
                data = read_whole(self.files, path).data
            except FileNotFoundError:
                continue
            except OSError as exc:
                problem = describe_os_error(exc)
            except ResponderError as exc:
                problem = str(exc)
            else:
                if file_holds(path, data, old):
                    work.files.append(FileWork(path, locations))
                continue
            if path in found:
                work.files.append(FileWork(path, locations, error=problem))
            else:
                work.unreachable.append(
                    (Location(str(path)), f"could not be checked for the old value: {problem}")
                )
        return work, old

    def _install_files(self, cred: Credential) -> list[Path]:
        """The configs, their ``.bak*`` copies and ``.env`` of each state dir involved."""
        state_dirs = {Path(os.path.abspath(p)) for p in self._state_dirs()}
        for location in cred.locations:
            for parent in Path(os.path.abspath(location.path)).parents:
                if parent.name in STATE_DIR_NAMES or parent.name.startswith(".openclaw-"):
                    state_dirs.add(parent)
                    break
        found: list[Path] = []
        for state_dir in sorted(state_dirs):
            try:
                entries = self.files.scandir(state_dir)
            except FileNotFoundError:
                continue
            except OSError:
                found.append(state_dir / CONFIG_NAMES[0])  # its refusal is the report
                continue
            for entry in entries:
                base = entry.name.split(".bak", 1)[0]
                if base in CONFIG_NAMES or entry.name == ".env":
                    found.append(Path(entry.path))
        return found

    def _edit(self, work: Work, transform: Callable[[Path, bytes, Sequence[str]], bytes]) -> None:
        edit_files(work, transform, self._backups, self.files)

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        work, old = self._present(cred, whole_install=True)
        if not work.files and not work.unreachable:
            finished = self._finished_by_interrupted_run(cred, store)
            if finished is not None:
                return finished
            return AlreadyRevoked(
                detail=f"the old value is in none of the {len(cred.locations)} place(s) "
                "discovery listed: it was rotated already"
            )
        if len(old) < MIN_REPLACEABLE_LENGTH:
            return ManualRequired(
                instructions=f"The {short_kind(cred.kind)} {cred.fingerprint} is too short to "
                f"replace safely by text. Set a long random value by hand in: "
                f"{places(cred.locations)}",
                url=DOCS_URL,
            )
        try:
            new, reference = self._new_value(cred, store)
        except ResponderError as exc:
            return Failed(error=f"the new value could not be stored, so nothing was changed: {exc}")
        self._edit(work, lambda path, data, keys: swap_secret(path, data, keys, old, new.reveal()))
        facts = {**work.facts(), "new_fingerprint": new.fingerprint, "new_reference": reference}
        if work.failed:
            return Failed(
                error=f"the new value is stored at {reference} but could not be written to "
                + "; ".join(f"{f.path} ({f.error})" for f in work.failed),
                facts=facts,
            )
        if work.unreachable:
            return ManualRequired(
                instructions=f"The {short_kind(cred.kind)} {cred.fingerprint} was replaced in "
                f"{len(work.changed)} file(s) by the value stored at {reference}, but clawback "
                "cannot edit: "
                + "; ".join(f"{loc} ({why})" for loc, why in work.unreachable),
                url=DOCS_URL,
                facts=facts,
            )
        return Rotated(
            detail=f"{short_kind(cred.kind)} replaced in {len(work.changed)} file(s); the "
            f"gateway accepts only the new one once it starts again: "
            f"{ROTATED_KINDS[cred.kind]} (stored at {reference})",
            facts=facts,
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    def _new_value(self, cred: Credential, store: SecretStore) -> tuple[SecretValue, str]:
        """The replacement, stored before any file hears of it."""
        if cred.target_id in self._new_values:
            return self._new_values[cred.target_id]
        new = _interrupted_value(store, self._store_name(cred))
        new = new or SecretValue(token_source.token_urlsafe(32))
        reference = store.store(self._store_name(cred), new)
        self._new_values[cred.target_id] = (new, reference)
        return new, reference

    def _finished_by_interrupted_run(self, cred: Credential, store: SecretStore
                                     ) -> Rotated | None:
        """A crashed drill stored a new value and wrote it everywhere before it could record
        that: say so with the new value's fingerprint instead of "rotated already"."""
        name = self._store_name(cred)
        new = _interrupted_value(store, name)
        if new is None:
            return None
        reference = store.store(name, new)
        return Rotated(
            detail=f"{short_kind(cred.kind)} was replaced everywhere by the interrupted run "
            f"(stored at {reference})",
            facts={"resumed": True, "new_fingerprint": new.fingerprint,
                   "new_reference": reference},
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    def clear_device_token(self, cred: Credential) -> Outcome:
        work, old = self._present(cred)
        if not work.files and not work.unreachable:
            return AlreadyRevoked(detail="the token is in none of the places discovery listed")
        self._edit(work, lambda path, data, keys: clear_tokens(path, data, keys, old))
        facts = work.facts()
        if work.failed or work.unreachable:
            problems = [f"{f.path} ({f.error})" for f in work.failed]
            problems += [f"{loc} ({why})" for loc, why in work.unreachable]
            return Failed(error="could not clear the token in " + "; ".join(problems),
                          facts=facts)
        device = cred.account or "unknown"
        return Revoked(
            detail=f"{short_kind(cred.kind)} of device {device} cleared from "
            f"{len(work.changed)} file(s) and the device unpaired: it must pair again, which "
            "after the lockdown the owner approves (`openclaw devices list`, `openclaw devices "
            "approve <requestId>`)",
            facts=facts,
        )


def _interrupted_value(store: SecretStore, name: str) -> SecretValue | None:
    """The value a crashed run of this same rotation stored under ``name`` (clawback drill's
    ledger): reusing it leaves every file with one value, whichever ones that run reached."""
    if not isinstance(store, RotationLedger):
        return None
    earlier = store.interrupted()
    if earlier is None or earlier.store_name != name:
        return None
    return earlier.pending
