"""WhatsApp Web sessions: logged out through ``openclaw channels logout`` when that binary is
installed (it also unlinks the device at WhatsApp), then the session files are deleted.

**Why not ``openclaw config set``.** OpenClaw's config writer first copies the current file to
``openclaw.json.bak`` (``rotateConfigBackups``), so a write through it would re-create old
secrets in a file discovery listed before the run began, behind the rotation's back. The new
value would also sit on a command line (``/proc/<pid>/cmdline``, readable by every local user),
and the CLI is code the compromised agent could have rewritten (RFC 3227 §4.3). The CLI is used
only for the WhatsApp logout, which nothing else can do (unlinking the device at WhatsApp); the
sha256 of the binary that ran is recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    Revoked,
)
from responders.openclaw.kinds import WHATSAPP_HELP_URL, places
from responders.openclaw.secret_edits import describe_os_error, read_whole
from responders.openclaw.settings import OpenClawSettings


def whatsapp_logout_argv(
    binary: str, state_dir: Path, account: str, config_path: Path | None = None
) -> list[str]:
    """The command that logs one WhatsApp account out, aimed at ``state_dir``'s install.

    ``env`` sets the install's paths because clawback runs commands with a fixed environment.
    """
    argv = ["env", f"OPENCLAW_STATE_DIR={state_dir}"]
    if config_path is not None:
        argv.append(f"OPENCLAW_CONFIG_PATH={config_path}")
    argv += [binary, "channels", "logout", "--channel", "whatsapp"]
    if account and account != "default":
        argv += ["--account", account]
    return argv


def whatsapp_state_dir(account_dir: Path) -> Path | None:
    """``<state>/credentials/whatsapp/<account>`` → ``<state>``."""
    parents = account_dir.parents
    if len(parents) >= 3 and parents[0].name == "whatsapp" and parents[1].name == "credentials":
        return parents[2]
    return None


def _whatsapp_number(files: AgentFiles, account_dir: Path) -> str | None:
    """The phone number the session belongs to (``me.id``), to say which phone to pick up."""
    try:
        me = json.loads(files.read(account_dir / "creds.json", 1 << 20).data).get("me") or {}
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    match = re.match(r"^(\d{6,15})[:@]", str(me.get("id", "")))
    return f"+{match.group(1)}" if match else None


def _session_files(files: AgentFiles, account_dir: Path) -> tuple[list[Path], list[Path]]:
    """The Baileys auth files of one account (creds.json*, pre-keys, sessions, ...), and what
    else is there (links, FIFOs, directories: left alone, reported). Raises OSError when the
    directory cannot be listed (a link in its place is refused, never followed)."""
    try:
        entries = files.scandir(account_dir)
    except FileNotFoundError:
        return [], []
    regular = [Path(e.path) for e in entries if e.is_file]
    others = [Path(e.path) for e in entries if not e.is_file]
    return regular, others


def _as_agent(files: AgentFiles, state_dir: Path) -> dict[str, Any]:
    """``run_command`` options that run a command as the agent's user, in its home."""
    if files.uid is None or files.uid == os.geteuid():
        return {}
    import pwd

    try:
        entry = pwd.getpwuid(files.uid)
        home, gid = entry.pw_dir, entry.pw_gid
    except KeyError:
        home, gid = str(state_dir.parent), files.uid
    return {"user": files.uid, "group": gid, "home": home}


@dataclass
class _Session:
    number: str | None
    unlinked: bool = False
    left_alone: list[Path] = field(default_factory=list)


class WhatsAppSessions:
    """One responder's WhatsApp logouts: the agent's tree, the incident's backups, the settings
    that say whether and how the ``openclaw`` CLI runs."""

    def __init__(self, files: AgentFiles, backups: BackupStore, settings: OpenClawSettings
                 ) -> None:
        self.files = files
        self._backups = backups
        self.settings = settings

    def plan(self, cred: Credential) -> Planned:
        commands_list: list[str] = []
        binary = self._cli_binary()
        for account_dir in self.account_dirs(cred):
            state_dir = whatsapp_state_dir(account_dir)
            if binary and state_dir is not None:
                commands_list.append(" ".join(
                    whatsapp_logout_argv(binary, state_dir, account_dir.name)
                ))
            try:
                session_files, _ = _session_files(self.files, account_dir)
            except OSError as exc:
                commands_list.append(f"cannot list {account_dir}: {describe_os_error(exc)}")
                continue
            commands_list += [f"back up and delete {p}" for p in session_files]
        commands_list += [
            f"leave {loc} alone (outside a WhatsApp auth dir): the operator deletes it"
            for loc in self._stray_copies(cred)
        ]
        return Planned(
            action="logout",
            detail=f"log WhatsApp account {cred.account or '?'} out and delete its session",
            commands=tuple(commands_list),
        )

    def account_dirs(self, cred: Credential) -> list[Path]:
        """The Baileys auth dirs (``<state>/credentials/whatsapp/<account>``) that held it."""
        return sorted({
            Path(loc.path).parent for loc in cred.locations
            if Path(loc.path).name.startswith("creds.json")
            and whatsapp_state_dir(Path(loc.path).parent) is not None
        })

    def _stray_copies(self, cred: Credential) -> list[Location]:
        """Places outside an auth dir: clawback deletes whole auth dirs only, never elsewhere."""
        dirs = set(self.account_dirs(cred))
        return [loc for loc in cred.locations if Path(loc.path).parent not in dirs]

    def _cli_binary(self) -> str | None:
        if not self.settings.use_openclaw_cli:
            return None
        from responders.host.commands import MissingBinary, resolve_binary

        try:
            return resolve_binary(self.settings.openclaw_binary)
        except MissingBinary:
            return None

    def logout(self, cred: Credential) -> Outcome:
        facts: dict[str, Any] = {"account": cred.account, "deleted": [], "backups": []}
        binary = self._cli_binary()
        sessions: list[_Session] = []
        for account_dir in self.account_dirs(cred):
            try:
                session = self._end_session(account_dir, binary, facts)
            except OSError as exc:
                return Failed(error=f"{account_dir}: {describe_os_error(exc)}", facts=facts)
            if session is not None:
                sessions.append(session)
        strays = [loc for loc in self._stray_copies(cred) if self.files.exists(loc.path)]
        strays += [Location(str(path)) for s in sessions for path in s.left_alone]
        if not sessions and not strays:
            return AlreadyRevoked(detail="the WhatsApp session files are gone already")
        account = cred.account or "default"
        deleted = len(facts["deleted"])
        copies = (
            f" Delete the copies outside the auth dir by hand: {places(strays)}." if strays
            else ""
        )
        if sessions and all(s.unlinked for s in sessions) and not strays:
            return Revoked(
                detail=f"WhatsApp account {account} logged out with `openclaw channels logout` "
                f"(the device is unlinked) and its {deleted} session file(s) deleted",
                facts=facts,
            )
        numbers = sorted({s.number for s in sessions if s.number})
        phone = f" ({', '.join(numbers)})" if numbers else ""
        return ManualRequired(
            instructions=f"clawback deleted the WhatsApp Web session of account {account} "
            f"({deleted} file(s), backed up in the incident), but a stolen copy keeps working "
            f"until the device is unlinked. On the phone{phone}: open WhatsApp → Settings → "
            "Linked devices, tap the OpenClaw session and choose Log out. Files that held it: "
            f"{places(cred.locations)}.{copies}",
            url=WHATSAPP_HELP_URL,
            facts=facts,
        )

    def _end_session(
        self, account_dir: Path, binary: str | None, facts: dict[str, Any]
    ) -> _Session | None:
        """Back up, log out (CLI) and delete one account's session; None if it had none."""
        from responders.host.commands import binary_sha256, run_command

        files, others = _session_files(self.files, account_dir)
        if not files and not others:
            return None
        session = _Session(number=_whatsapp_number(self.files, account_dir),
                           left_alone=others)
        # The CLI deletes the session itself: keep the files first.
        for path in files:
            data = read_whole(self.files, path).data
            facts["backups"].append(self._backups.keep(path, data).fact())
        state_dir = whatsapp_state_dir(account_dir)
        if binary and state_dir is not None:
            argv = whatsapp_logout_argv(binary, state_dir, account_dir.name)
            # The CLI is the agent's code reading the agent's state: it runs as the agent.
            result = run_command(argv, timeout=self.settings.cli_timeout_seconds,
                                 **_as_agent(self.files, state_dir))
            facts.setdefault("cli", []).append(
                {**result.record(), "openclaw_sha256": binary_sha256(binary)}
            )
            session.unlinked = result.ok
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                self.files.unlink(path)
            facts["deleted"].append(str(path))
        if not others:
            with contextlib.suppress(OSError):
                self.files.rmdir(account_dir)
        return session
