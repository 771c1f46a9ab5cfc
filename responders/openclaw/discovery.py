"""What secrets the agent can reach: discovery over an OpenClaw install, as Credential records.

``discover()`` follows steps 1–7 of the discovery algorithm in research/openclaw.md §6.2: it finds
the state dirs (``~/.openclaw``, profiles ``~/.openclaw-*``, legacy ``.clawdbot``/``.moldbot``/
``.moltbot``, ``OPENCLAW_STATE_DIR``), reads every config (JSON5, ``$include``, ``${ENV}``,
SecretRefs) and its ``.bak`` copies, the dotenv files, ``secrets.json``, per-agent auth stores
(JSON and SQLite), the credentials dir, device/node pairing stores, service definitions (systemd,
launchd, ``gateway.cmd``), shell history, logs and transcripts, ``~/.aws/credentials`` and the
gateway lock files. Every value becomes one ``Credential`` per distinct secret, with every place
it was found as a ``Location``:

* ``Location.path`` is an absolute path as found (not resolved through symlinks), or
  ``(environment)`` for a value that only exists in the ``env`` mapping handed to ``discover``;
* ``Location.key`` says where inside the file: a dotted key path for JSON/JSON5/plist/INI files
  (``gateway.auth.token``, ``profiles["openai-codex:me@example.com"].access`` — see
  ``format_key_path``), the variable name for dotenv files, unit ``Environment=`` and
  ``gateway.cmd``, ``auth_profile_store[<store_key>].<path>`` inside SQLite, ``line N`` for free
  text, and ``""`` when the whole file is the secret. A key inside an ``$include``d file is the
  path inside that file.

Discovery is strictly read-only: files are opened ``O_RDONLY|O_NONBLOCK`` (plus ``O_NOATIME``
where permitted, so not even access times move), anything but a regular file is skipped (a FIFO
planted in a log dir cannot hang it), and SQLite databases are read from a private temporary copy
of the database and its WAL, because even a ``mode=ro`` open creates ``-shm``/``-wal`` files
next to the original. No secret value is ever written to a note, an exception or ``as_dict()``.

This module holds the entry points (``discover``, ``discover_agent``, ``discover_deferred``,
``find_state_dirs``) and names the package's discovery API in one place. The work is done by one
module per role: ``inventory`` (the result types), ``config_load`` (JSON5 and ``$include``),
``hinters`` (what a place in a file implies), ``scan_base`` (a pass's budget, reads and
judgement of values), the scanners ``scan_config``, ``scan_env`` (dotenv, INI, compose),
``scan_services`` (units, plists, ``gateway.cmd``) and ``scan_text`` (free text, the search of
logs for known values, SQLite, ``exec`` scripts), ``scan_resolve`` (references, id pairing,
credentials) and ``scan_driver``, the pass over an install that uses them all.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from responders.interface import Location
from responders.openclaw.agent_paths import agent_tree
from responders.openclaw.config_load import (
    MAX_CONFIG_BYTES,
    MAX_INCLUDE_DEPTH,
    ConfigPart,
    LoadedConfig,
    UnreadableConfig,
    config_file,
    format_key_path,
    load_config,
    workspace_dirs,
)
from responders.openclaw.inventory import (
    GatewayFacts,
    GatewayLock,
    Inventory,
    SecretReference,
    Service,
)
from responders.openclaw.layout import ENVIRONMENT_LOCATION
from responders.openclaw.scan_driver import MAX_NOTES, Discovery, scan_install
from responders.openclaw.scan_services import SYSTEM_SERVICE_DIRS
from responders.openclaw.scan_text import MAX_TEXT_BYTES

__all__ = [
    "ENVIRONMENT_LOCATION",
    "MAX_CONFIG_BYTES",
    "MAX_INCLUDE_DEPTH",
    "MAX_TEXT_BYTES",
    "SYSTEM_SERVICE_DIRS",
    "ConfigPart",
    "GatewayFacts",
    "GatewayLock",
    "Inventory",
    "LoadedConfig",
    "Location",
    "SecretReference",
    "Service",
    "UnreadableConfig",
    "config_file",
    "discover",
    "discover_agent",
    "discover_deferred",
    "find_state_dirs",
    "format_key_path",
    "load_config",
    "workspace_dirs",
]


def discover_agent(
    agent: Mapping[str, Any],
    user_home: Path | None = None,
    *,
    free_text: bool = True,
    budget_seconds: float | None = None,
) -> Inventory:
    """Discovery as ``contain`` runs it, from clawback.toml's ``[agent]`` table: its home (or
    ``user_home``), its state dirs (else found), its temp dirs (lock files and the gateway's
    rolling logs; default ``/tmp``) and its uid (default: the home's owner)."""
    home = Path(user_home or agent.get("user_home") or Path.home())
    state_dirs = [Path(p) for p in agent.get("state_dirs") or []] or None
    tmp_dirs = [Path(p) for p in agent.get("tmp_dirs") or ["/tmp"]]
    uid = agent.get("uid")
    return discover(user_home=home, state_dirs=state_dirs, tmp_dirs=tmp_dirs,
                    uid=uid if isinstance(uid, int) else None, free_text=free_text,
                    budget_seconds=budget_seconds)


def find_state_dirs(
    user_home: Path,
    env: Mapping[str, str] | None = None,
    system_service_dirs: Sequence[Path] = SYSTEM_SERVICE_DIRS,
) -> list[Path]:
    """The state dirs ``discover`` would scan when none are configured (step 1 of the
    algorithm: ``OPENCLAW_STATE_DIR`` in ``env`` or a service definition, ``~/.openclaw``,
    profiles, legacy dirs); reads directory entries and service definitions only."""
    home = Path(user_home).absolute()
    with agent_tree(home, [], None) as files:
        scan = Discovery(home, env or {}, files)
        scan.scan_services(system_service_dirs)
        return scan.candidate_state_dirs()


def discover(
    *,
    user_home: Path,
    state_dirs: Sequence[Path] | None = None,
    tmp_dirs: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    system_service_dirs: Sequence[Path] = SYSTEM_SERVICE_DIRS,
    uid: int | None = None,
    free_text: bool = True,
    budget_seconds: float | None = None,
) -> Inventory:
    """Every secret the agent whose home is ``user_home`` can reach, read-only.

    ``state_dirs`` None means: find them (``OPENCLAW_STATE_DIR`` in ``env`` or in a service
    definition, ``~/.openclaw``, ``~/.openclaw-<profile>``, legacy dirs). ``env`` is the agent's
    environment if known; None means empty, because the caller's own environment is not the
    agent's. ``tmp_dirs`` are the roots holding ``openclaw/`` logs and ``openclaw-<uid>/`` locks
    (``/tmp``, ``$TMPDIR``). ``uid`` is the agent's user (default: the owner of ``user_home``):
    a file it could not read is not counted as reachable by it.

    The home, the configured state dirs and the temp dirs are the agent's tree: no link there is
    followed (each one found is a note), nothing there can block discovery (see
    ``responders.agent_files``). A state dir found through the agent's own settings
    (``OPENCLAW_STATE_DIR``) is read, never trusted as part of that tree.

    ``free_text=False`` leaves out the slow part (logs, transcripts, shell histories, database
    cells): ``contain`` revokes what the rest finds first, then looks there. With
    ``budget_seconds`` discovery stops reading when the time is spent, and says in its notes
    what it did not read: an agent that planted gigabytes of logs cannot hold it up.
    """
    user_home = Path(user_home).absolute()
    configured = [Path(p).absolute() for p in state_dirs or ()]
    files = agent_tree(user_home, [*configured, *(Path(t) for t in tmp_dirs)], uid)
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    scan = Discovery(user_home, env or {}, files, free_text=free_text, deadline=deadline)
    try:
        inventory = scan_install(scan, state_dirs, configured, tmp_dirs, system_service_dirs)
    finally:
        files.close()
    if scan.out_of_time:
        shown = ", ".join(str(p) for p in scan.out_of_time[:5])
        more = f" and {len(scan.out_of_time) - 5} more" if len(scan.out_of_time) > 5 else ""
        inventory = dataclasses.replace(inventory, notes=(
            f"discovery stopped after its {budget_seconds:g} s budget: {len(scan.out_of_time)} "
            f"file(s) not (fully) read: {shown}{more}. Run `clawback discover` for the rest",
            *inventory.notes,
        ))
    return inventory


def discover_deferred(
    paths: Sequence[Path],
    *,
    user_home: Path,
    state_dirs: Sequence[Path] | None = None,
    tmp_dirs: Sequence[Path] = (),
    uid: int | None = None,
    budget_seconds: float | None = None,
    known: Collection[str] = (),
) -> Inventory:
    """The free text a ``discover(free_text=False)`` left out (its ``deferred``), read now:
    the secrets there whose fingerprint is not in ``known``.

    Only those files are read, not the configs again: after the first revocations the
    configs hold clawback's own new values, which are nobody's leaked secrets.
    """
    user_home = Path(user_home).absolute()
    configured = [Path(p).absolute() for p in state_dirs or ()]
    files = agent_tree(user_home, [*configured, *(Path(t) for t in tmp_dirs)], uid)
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    scan = Discovery(user_home, {}, files, free_text=True, deadline=deadline)
    try:
        for path in paths:
            if ".sqlite" in Path(path).name:
                scan.scan_sqlite(Path(path))
            else:
                scan.scan_text(Path(path))
    finally:
        files.close()
    notes = list(dict.fromkeys(scan.notes))[:MAX_NOTES]
    if scan.out_of_time:
        notes.insert(0, f"discovery stopped after its {budget_seconds:g} s budget: "
                        f"{len(scan.out_of_time)} log, transcript or history file(s) not (fully) "
                        "read. Run `clawback discover` for the rest")
    credentials = tuple(c for c in scan.credentials() if c.fingerprint not in set(known))
    return Inventory(credentials=credentials, state_dirs=(), notes=tuple(notes))
