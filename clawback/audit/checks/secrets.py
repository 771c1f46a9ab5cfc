"""Where discovered secrets sit in plain text, from the agent keeper's survey (``ctx.survey``).

OpenClaw's own stores (``auth-profiles.json``, ``credentials/``, ``<state>/.env``,
``secrets.json``) are where secrets are meant to be, so they are judged by their modes (see
``files``), not listed here. These checks list the places secrets should *not* be: the config
itself, its backups, service definitions, shell history, logs, legacy state dirs, and files
tracked by git.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from clawback.audit.context import LEGACY_STATE_NAMES, AuditContext, is_dir, lstat, read_text
from clawback.audit.model import Hit, Severity, check
from responders.interface import Credential, Location, fingerprint
from responders.kit import secret_patterns as sp

HISTORY_FILES = (
    ".bash_history", ".zsh_history", ".zhistory", ".sh_history", ".python_history",
    ".node_repl_history", ".local/share/fish/fish_history", ".psql_history", ".mysql_history",
)  # fmt: skip
MAX_GIT_FILES = 3000
MAX_GIT_FILE_BYTES = 512 * 1024


def describe(cred: Credential, loc: Location) -> str:
    return f"{loc}: {cred.kind} {cred.fingerprint}"


def _hit_for(pairs: list[tuple[Credential, Location]]) -> Iterator[Hit]:
    if pairs:
        yield Hit(
            evidence=tuple(describe(c, loc) for c, loc in pairs),
            locations=tuple(dict.fromkeys(loc for _, loc in pairs)),
        )


def _under(roots: list[Path]) -> Callable[[Path], bool]:
    prefixes = [str(r).rstrip("/") + "/" for r in roots]
    return lambda p: any(str(p).startswith(prefix) for prefix in prefixes)


@check(
    "secrets.plaintext_in_config",
    Severity.HIGH,
    "Secrets are written in plain text in the OpenClaw config",
    fix='Replace each value with "${ENV_NAME}" or a SecretRef ({ source: "env"|"file"|"exec" }) '
    "and rotate it: the plain copy has been readable to anything that read the config.",
    area="secrets",
    openclaw_ids=(
        "config.secrets.*",
        "config.plaintext_secrets",
    ),
)
def plaintext_in_config(ctx: AuditContext) -> Iterator[Hit]:
    files = {str(f) for config in ctx.all_configs for f in config.files}
    yield from _hit_for(ctx.credentials_at(lambda p: str(p) in files))


@check(
    "secrets.in_config_backups",
    Severity.HIGH,
    "Old secrets survive in openclaw.json.bak* copies",
    fix="Rotate every secret listed, then delete the .bak copies (OpenClaw keeps up to five "
    "and never cleans them when a key is rotated).",
    area="secrets",
)
def in_config_backups(ctx: AuditContext) -> Iterator[Hit]:
    # A value still read somewhere (config, dotenv, unit, auth store) is the current secret:
    # after a rotation the .bak copies hold the *new* value, which is not an old one surviving.
    def in_use(cred: Credential) -> bool:
        return any(not is_backup(Path(loc.path)) and not loc.key.startswith("line ")
                   for loc in cred.locations)

    pairs = ctx.credentials_at(is_backup)
    yield from _hit_for([(c, loc) for c, loc in pairs if not in_use(c)])
    current = [(c, loc) for c, loc in pairs if in_use(c)]
    for hit in _hit_for(current):
        yield dataclasses.replace(
            hit,
            severity=Severity.LOW,
            title="openclaw.json.bak* copies hold the secrets in use",
            fix="Delete the .bak copies once the config is as you want it (OpenClaw writes a "
            "new one at each config change); the current secrets then live in one place.",
        )


def is_backup(path: Path) -> bool:
    from clawback.registry import load_agent

    return any(path.name.startswith(f"{name}.bak") for name in load_agent().config_names)


def service_definition_paths(ctx: AuditContext) -> list[Path]:
    paths = [Path(s.path) for s in ctx.survey.services]
    units = ctx.user_home / ".config" / "systemd" / "user"
    if is_dir(units):
        paths += [p for p in units.iterdir() if ".service" in p.name]
    return paths


@check(
    "secrets.in_service_definitions",
    Severity.HIGH,
    "Secrets are written into service definitions",
    fix="Move Environment=…TOKEN lines into an EnvironmentFile (mode 600) or the state dir's "
    ".env, delete the .bak unit copies, and rotate the secrets they held.",
    area="secrets",
)
def in_service_definitions(ctx: AuditContext) -> Iterator[Hit]:
    services = {str(p) for p in service_definition_paths(ctx)}
    yield from _hit_for(ctx.credentials_at(lambda p: str(p) in services or p.name == "gateway.cmd"))


@check(
    "secrets.in_shell_history",
    Severity.MEDIUM,
    "Secrets appear in shell history",
    fix="Rotate the listed secrets and remove the lines from the history file; set "
    "HISTCONTROL=ignorespace and prefix commands that carry secrets with a space.",
    area="secrets",
)
def in_shell_history(ctx: AuditContext) -> Iterator[Hit]:
    histories = {str(ctx.user_home / name) for name in HISTORY_FILES}
    yield from _hit_for(ctx.credentials_at(lambda p: str(p) in histories))


@check(
    "secrets.in_logs",
    Severity.MEDIUM,
    "Secrets appear in logs or session transcripts",
    fix="Rotate the listed secrets; keep logging.redactSensitive on and check which tool "
    "printed them. Keep the files as evidence until the rotation is done.",
    area="secrets",
)
def in_logs(ctx: AuditContext) -> Iterator[Hit]:
    roots = [tmp / "openclaw" for tmp in ctx.tmp_dirs]
    roots += [d for tmp in ctx.tmp_dirs for d in tmp.glob("openclaw-*") if is_dir(d)]
    for state in ctx.state_dir_paths:
        roots += [state / "logs", state / "cron" / "runs"]
        roots += [agent / "sessions" for agent in (state / "agents").glob("*")]
    inside = _under(roots)
    yield from _hit_for(ctx.credentials_at(lambda p: inside(p) or p.suffix == ".log"))


@check(
    "secrets.legacy_state_dir",
    Severity.MEDIUM,
    "A legacy Clawdbot/Moltbot state dir still holds secrets",
    fix="Rotate the secrets it holds, then archive and delete the old state dir.",
    area="secrets",
)
def legacy_state_dir(ctx: AuditContext) -> Iterator[Hit]:
    legacy = [ctx.user_home / name for name in LEGACY_STATE_NAMES]
    yield from _hit_for(ctx.credentials_at(_under(legacy)))


# --------------------------------------------------------------------------------------------
# git work trees the agent can reach
# --------------------------------------------------------------------------------------------


def work_tree_roots(ctx: AuditContext) -> list[Path]:
    """Git work trees holding the agent's workspaces, state dirs or home, and repos in home."""
    candidates: list[Path] = []
    for config in ctx.configs:
        candidates += ctx.workspaces(config)
    candidates += ctx.state_dir_paths
    roots: list[Path] = []
    home = ctx.user_home
    for candidate in candidates:
        probe = candidate
        while True:
            if lstat(probe / ".git") is not None:
                roots.append(probe)
                break
            if probe == home or probe.parent == probe or not probe.is_relative_to(home):
                break
            probe = probe.parent
    for child in [home, *sorted(p for p in _children(home) if is_dir(p))]:
        if lstat(child / ".git") is not None:
            roots.append(child)
    return list(dict.fromkeys(roots))


def _children(path: Path) -> list[Path]:
    try:
        return list(path.iterdir())
    except OSError:
        return []


def tracked_files(ctx: AuditContext, root: Path) -> list[Path] | None:
    git = ctx.commands.which("git")
    if git is None:
        return None
    result = ctx.commands.run(
        [git, "-c", "safe.directory=*", "--no-optional-locks", "-C", str(root), "ls-files", "-z"]
    )
    if not result.ok:
        return None
    return [root / name for name in result.stdout.split("\0") if name]


_LINE_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)\s*=\s*[\"']?([^\s\"'#]+)")


def secrets_in_text(text: str) -> Iterator[tuple[int, str, str]]:
    """(line, kind, fingerprint) of secret-shaped values and secret-named assignments."""
    for number, line in enumerate(text.splitlines(), start=1):
        seen = False
        for match in sp.find_in_text(line):
            if sp.is_identifier(match.recognition):
                continue
            seen = True
            yield number, match.recognition.kind, fingerprint(match.value)
        assignment = _LINE_ASSIGNMENT.match(line)
        if not seen and assignment:
            name, value = assignment.groups()
            recognition = sp.recognize_env_name(name)
            if (recognition or sp.looks_like_secret_name(name)) and sp.plausible_secret_value(
                value
            ):
                kind = recognition.kind if recognition else "unknown:secret"
                yield number, kind, fingerprint(value)


@check(
    "secrets.in_git_worktree",
    Severity.CRITICAL,
    "Secrets are committed in a git work tree the agent can reach",
    fix="Rotate every listed secret (git history keeps it even after the file changes), "
    "remove the file from the index (git rm --cached), add it to .gitignore, and purge the "
    "history (git filter-repo) before the repository is pushed anywhere.",
    area="secrets",
)
def in_git_worktree(ctx: AuditContext) -> Iterator[Hit]:
    for root in work_tree_roots(ctx):
        tracked = tracked_files(ctx, root)
        if tracked is None:
            ctx.notes.append(f"git work tree {root}: could not list tracked files (git missing?)")
            continue
        tracked_set = {str(p) for p in tracked}
        pairs = ctx.credentials_at(lambda p, s=tracked_set: str(p) in s)
        evidence = [f"{describe(c, loc)} (tracked in {root})" for c, loc in pairs]
        already = {loc.path for _, loc in pairs}
        for path in tracked[:MAX_GIT_FILES]:
            if str(path) in already:
                continue
            text = read_text(path, MAX_GIT_FILE_BYTES)
            if text is None:
                continue
            for line, kind, print_ in secrets_in_text(text):
                evidence.append(f"{path}:line {line}: {kind} {print_} (tracked in {root})")
        if evidence:
            yield Hit(evidence=tuple(dict.fromkeys(evidence)))
