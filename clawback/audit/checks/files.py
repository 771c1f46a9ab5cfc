"""File modes of the install: what OpenClaw's own ``--fix`` would tighten, and more.

Wanted: state dir, ``credentials/``, agent and session dirs 0700; config (and its ``$include``s
and ``.bak`` copies), credential stores, session files and every file holding a secret 0600.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from clawback.audit.context import AuditContext, is_dir, list_dir, lstat, mode_text, walk_files
from clawback.audit.model import Hit, Severity, check

SYNC_FOLDER_MARKERS = ("Dropbox", "Mobile Documents", "iCloud Drive", "Google Drive", "OneDrive")


def looseness(path: Path) -> tuple[Severity, str] | None:
    """How far ``path``'s mode is from owner-only, or None when it is owner-only."""
    info = lstat(path)
    if info is None:
        return None
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return None
    if mode & 0o002:
        return Severity.CRITICAL, f"{path} mode {mode_text(info)} (world-writable)"
    if mode & 0o020:
        return Severity.CRITICAL, f"{path} mode {mode_text(info)} (group-writable)"
    if mode & 0o004 or (stat.S_ISDIR(info.st_mode) and mode & 0o001):
        return Severity.HIGH, f"{path} mode {mode_text(info)} (readable by everyone)"
    if mode & 0o040 or (stat.S_ISDIR(info.st_mode) and mode & 0o010):
        return Severity.MEDIUM, f"{path} mode {mode_text(info)} (readable by its group)"
    return None


def hits_for(paths: Iterable[Path], *, cap: Severity | None = None) -> Iterator[Hit]:
    """One hit for all loose ``paths``, at the worst severity found (at most ``cap``)."""
    problems = [p for p in (looseness(path) for path in dict.fromkeys(paths)) if p is not None]
    if not problems:
        return
    worst = max((severity for severity, _ in problems), key=lambda s: s.rank)
    if cap is not None and worst.rank > cap.rank:
        worst = cap
    yield Hit(evidence=tuple(text for _, text in problems), severity=worst)


def config_files(ctx: AuditContext) -> list[Path]:
    from clawback.registry import load_agent

    config_names = load_agent().config_names
    files: list[Path] = []
    for config in ctx.all_configs:
        files.extend(config.files)
    for state in ctx.state_dir_paths:
        for entry in list_dir(state):
            if any(entry.name.startswith(f"{name}.bak") for name in config_names):
                files.append(entry)
    return files


def agent_dirs(state: Path) -> list[Path]:
    return [d for d in list_dir(state / "agents") if is_dir(d)]


@check(
    "fs.state_dir_perms",
    Severity.HIGH,
    "OpenClaw state dir is open to other users",
    fix="chmod 700 the state dir (openclaw security audit --fix does this).",
    area="files",
    openclaw_ids=("fs.state_dir.*",),
)
def state_dir_perms(ctx: AuditContext) -> Iterator[Hit]:
    yield from hits_for(ctx.state_dir_paths)


@check(
    "fs.config_perms",
    Severity.HIGH,
    "OpenClaw config (or an include or backup of it) is open to other users",
    fix="chmod 600 openclaw.json, its $include files and every openclaw.json.bak* copy.",
    area="files",
    openclaw_ids=("fs.config.*", "fs.config_include.*"),
)
def config_perms(ctx: AuditContext) -> Iterator[Hit]:
    yield from hits_for(config_files(ctx))


@check(
    "fs.credentials_perms",
    Severity.HIGH,
    "Channel credentials dir is open to other users",
    fix="chmod 700 <state>/credentials and its subdirs, chmod 600 every file in it.",
    area="files",
    openclaw_ids=("fs.credentials_dir.*",),
)
def credentials_perms(ctx: AuditContext) -> Iterator[Hit]:
    paths: list[Path] = []
    for state in ctx.state_dir_paths:
        credentials = state / "credentials"
        if is_dir(credentials):
            paths.append(credentials)
            paths.extend(walk_files(credentials, max_files=2000, max_depth=4))
            paths.extend(d for d in list_dir(credentials) if is_dir(d))
    yield from hits_for(paths)


@check(
    "fs.auth_profiles_perms",
    Severity.HIGH,
    "Model-provider key stores are open to other users",
    fix="chmod 700 agents/<id> and agents/<id>/agent, chmod 600 auth-profiles.json, "
    "auth.json, models.json and the *.sqlite files (with -wal/-shm).",
    area="files",
    openclaw_ids=("fs.auth_profiles.*",),
)
def auth_profiles_perms(ctx: AuditContext) -> Iterator[Hit]:
    paths: list[Path] = []
    for state in ctx.state_dir_paths:
        for agent in agent_dirs(state):
            store_dir = agent / "agent"
            paths += [agent, store_dir] if is_dir(store_dir) else [agent]
            paths += [p for p in list_dir(store_dir) if not is_dir(p)]
        shared = state / "state"
        if is_dir(shared):
            paths += [shared, *(p for p in list_dir(shared) if "sqlite" in p.name)]
    yield from hits_for(paths)


@check(
    "fs.sessions_perms",
    Severity.MEDIUM,
    "Session transcripts are readable by other users",
    fix="chmod 700 agents/<id>/sessions and chmod 600 sessions.json and every *.jsonl in it.",
    area="files",
    openclaw_ids=("fs.sessions_store.*",),
)
def sessions_perms(ctx: AuditContext) -> Iterator[Hit]:
    paths: list[Path] = []
    for state in ctx.state_dir_paths:
        for agent in agent_dirs(state):
            sessions = agent / "sessions"
            if is_dir(sessions):
                paths += [sessions, *list_dir(sessions)]
    yield from hits_for(paths, cap=Severity.HIGH)


def dotenv_files(ctx: AuditContext) -> list[Path]:
    files = [state / ".env" for state in ctx.state_dir_paths]
    for config in ctx.configs:
        files += [w / ".env" for w in ctx.workspaces(config)]
    files.append(ctx.user_home / ".config" / "openclaw" / "gateway.env")
    from clawback.audit.checks.isolation import compose_files

    files += [compose.parent / ".env" for compose in compose_files(ctx)]
    return [f for f in dict.fromkeys(files) if lstat(f) is not None]


@check(
    "fs.dotenv_readable",
    Severity.HIGH,
    "A .env file with agent secrets is readable by other users",
    fix="chmod 600 the .env file (and keep it out of version control).",
    area="files",
)
def dotenv_readable(ctx: AuditContext) -> Iterator[Hit]:
    yield from hits_for(dotenv_files(ctx))


@check(
    "fs.secret_file_readable",
    Severity.HIGH,
    "A file holding a discovered secret is readable by other users",
    fix="chmod 600 the file; for service units, move the secret to an EnvironmentFile with "
    "mode 600 (or a SecretRef) instead of Environment= lines.",
    area="files",
)
def secret_file_readable(ctx: AuditContext) -> Iterator[Hit]:
    covered = set(map(str, config_files(ctx))) | set(map(str, dotenv_files(ctx)))
    state_roots = [str(s) + "/" for s in ctx.state_dir_paths]
    paths = []
    for cred in ctx.credentials:
        for loc in cred.locations:
            if loc.path in covered or any(
                loc.path.startswith(root + sub)
                for root in state_roots
                for sub in ("credentials/", "agents/")
            ):
                continue
            paths.append(Path(loc.path))
    yield from hits_for(paths)


@check(
    "fs.synced_dir",
    Severity.MEDIUM,
    "OpenClaw state lives in a cloud-synced folder",
    fix="Move the state dir out of Dropbox/iCloud/Google Drive/OneDrive "
    "(OPENCLAW_STATE_DIR) so credentials are not copied to the sync provider.",
    area="files",
    openclaw_ids=("fs.synced_dir",),
)
def synced_dir(ctx: AuditContext) -> Iterator[Hit]:
    for state in ctx.state_dir_paths:
        resolved = str(state.resolve())
        marker = next((m for m in SYNC_FOLDER_MARKERS if m in resolved), None)
        if marker:
            yield Hit(evidence=(f"{state} resolves to {resolved} ({marker})",))
