"""The facts every check reads, gathered once per audit and strictly read-only.

Files are opened ``O_RDONLY|O_NONBLOCK`` (plus ``O_NOATIME`` where the kernel allows it), only
regular files are read, and sizes are capped, so a FIFO or a huge log cannot stall an audit.
Commands go through :class:`ReadOnlyCommands`, which refuses anything but the few read-only
invocations the checks need.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from responders.interface import AgentConfig, AgentSurvey, Credential, Location, fingerprint
from responders.kit import secret_patterns as sp

T = TypeVar("T")
LEGACY_STATE_NAMES = (".clawdbot", ".moldbot", ".moltbot")
MAX_READ_BYTES = 2 * 1024 * 1024
COMMAND_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class HostSystem:
    """The machine around the install. ``root`` holds ``etc/`` and ``sys/`` (``/`` on a real
    host, a directory tree in tests); ``live`` allows looking at processes, sockets and the
    firewall of the network namespace the audit runs in."""

    root: Path = Path("/")
    live: bool = True

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")


# --------------------------------------------------------------------------------------------
# Read-only file access
# --------------------------------------------------------------------------------------------


def lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def read_bytes(path: Path, limit: int = MAX_READ_BYTES) -> bytes | None:
    """The first ``limit`` bytes of a regular file; None if missing, unreadable or special."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NOATIME", 0))
    except PermissionError:
        # O_NOATIME is reserved to the file's owner; read without it rather than not at all.
        try:
            fd = os.open(path, flags)
        except OSError:
            return None
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        remaining = limit
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_text(path: Path, limit: int = MAX_READ_BYTES) -> str | None:
    data = read_bytes(path, limit)
    if data is None or b"\0" in data[:4096]:
        return None
    return data.decode("utf-8", errors="replace")


def list_dir(path: Path) -> list[Path]:
    try:
        return sorted(path.iterdir())
    except OSError:
        return []


def is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def walk_files(root: Path, *, max_files: int = 5000, max_depth: int = 8) -> Iterator[Path]:
    """Regular files under ``root`` without following symlinked directories."""
    count = 0
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        directory, depth = stack.pop()
        for entry in list_dir(directory):
            info = lstat(entry)
            if info is None:
                continue
            if stat.S_ISDIR(info.st_mode):
                if depth < max_depth and entry.name not in {".git", "node_modules"}:
                    stack.append((entry, depth + 1))
            elif stat.S_ISREG(info.st_mode):
                count += 1
                if count > max_files:
                    return
                yield entry


def mode_text(info: os.stat_result) -> str:
    return f"{stat.S_IMODE(info.st_mode):04o}"


# --------------------------------------------------------------------------------------------
# Config values
# --------------------------------------------------------------------------------------------


def dig(node: Any, dotted: str) -> Any:
    """``dig(cfg, "gateway.auth.mode")``: None when any step is missing or not a table."""
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


@dataclass(frozen=True)
class InstallConfig:
    """One state dir's config as the agent's keeper read it: the merged whole (``$include``s
    followed) and its files, with where each key is written."""

    loaded: AgentConfig

    @property
    def state_dir(self) -> Path:
        return self.loaded.state_dir

    @property
    def path(self) -> Path:
        return self.loaded.path

    @property
    def merged(self) -> Mapping[str, Any]:
        return self.loaded.merged

    @property
    def legacy(self) -> bool:
        return self.state_dir.name in LEGACY_STATE_NAMES

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(part.path for part in self.loaded.files)

    def where(self, dotted: str) -> str:
        """``file:key`` for a key, naming the ``$include``d file that holds it when known."""
        segments = dotted.split(".")
        for part in reversed(self.loaded.files):
            mount = [str(s) for s in part.mount]
            if (
                segments[: len(mount)] == mount
                and dig(part.data, ".".join(segments[len(mount) :])) is not None
            ):
                inner = ".".join(segments[len(mount) :])
                return f"{part.path}:{inner}"
        return f"{self.path}:{dotted}"

    def location(self, dotted: str) -> Location:
        path, _, key = self.where(dotted).rpartition(":")
        return Location(path, key)


# --------------------------------------------------------------------------------------------
# Read-only commands
# --------------------------------------------------------------------------------------------


class RefusedCommand(Exception):
    """A check asked for a command that is not on the read-only list (a bug, never run)."""


def _is_read_only(argv: Sequence[str]) -> bool:
    if not argv:
        return False
    tool = os.path.basename(argv[0])
    args = list(argv[1:])
    if tool == "nft":
        return args in (["-j", "list", "ruleset"], ["list", "ruleset"])
    if tool in {"iptables", "ip6tables"}:
        return args == ["-S", "INPUT"]
    if tool == "ufw":
        return args == ["status", "verbose"]
    if tool == "git":
        # git -c safe.directory=* --no-optional-locks -C DIR ls-files -z
        return (
            len(args) == 7
            and args[:3] == ["-c", "safe.directory=*", "--no-optional-locks"]
            and args[3] == "-C"
            and args[5:] == ["ls-files", "-z"]
        )
    return False


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None  # None: not found, timed out or refused to start
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class ReadOnlyCommands:
    """Runs the few read-only commands checks use; anything else raises ``RefusedCommand``."""

    def __init__(self, timeout: float = COMMAND_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout

    @staticmethod
    def which(name: str) -> str | None:
        import shutil

        return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> CommandResult:
        if not _is_read_only(argv):
            raise RefusedCommand(" ".join(argv[:3]))
        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        base_env["GIT_OPTIONAL_LOCKS"] = "0"
        base_env["GIT_CONFIG_NOSYSTEM"] = "1"
        base_env["GIT_CONFIG_GLOBAL"] = os.devnull
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                timeout=self.timeout,
                env={**base_env, **(env or {})},
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return CommandResult(tuple(argv), None, "", "")
        return CommandResult(
            tuple(argv),
            done.returncode,
            done.stdout.decode("utf-8", errors="replace"),
            done.stderr.decode("utf-8", errors="replace"),
        )


# --------------------------------------------------------------------------------------------
# The context
# --------------------------------------------------------------------------------------------


_DEFAULT_TMP_DIRS = (Path("/tmp"),)


@dataclass
class AuditContext:
    user_home: Path
    state_dirs: Sequence[Path] | None
    settings: Mapping[str, Any]
    env: Mapping[str, str]
    host: HostSystem = field(default_factory=HostSystem)
    commands: ReadOnlyCommands = field(default_factory=ReadOnlyCommands)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # What `openclaw --version` printed, when the binary was run (see openclaw_cli).
    openclaw_version: str | None = None
    openclaw_version_source: str = "openclaw --version"
    # The responder registry (None: the installed entry points, loaded on first use).
    registry: Any = None
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def memo(self, key: str, factory: Callable[[], T]) -> T:
        """Compute a fact shared by several checks once per audit."""
        if key not in self._memo:
            self._memo[key] = factory()
        return self._memo[key]

    # ---- settings ----------------------------------------------------------------------------

    @property
    def agent_settings(self) -> Mapping[str, Any]:
        agent = self.settings.get("agent")
        return agent if isinstance(agent, Mapping) else {}

    @property
    def audit_settings(self) -> Mapping[str, Any]:
        audit = self.settings.get("audit")
        return audit if isinstance(audit, Mapping) else {}

    @property
    def provider_settings(self) -> Mapping[str, Any]:
        providers = self.settings.get("providers")
        return providers if isinstance(providers, Mapping) else {}

    @functools.cached_property
    def tmp_dirs(self) -> list[Path]:
        configured = self.agent_settings.get("tmp_dirs")
        dirs = [Path(p) for p in configured] if configured else list(_DEFAULT_TMP_DIRS)
        if self.env.get("TMPDIR"):
            dirs.append(Path(self.env["TMPDIR"]))
        return list(dict.fromkeys(dirs))

    # ---- discovery ---------------------------------------------------------------------------

    @functools.cached_property
    def survey(self) -> AgentSurvey:
        """The install as the agent's keeper (entry point ``clawback.agents``) reads it."""
        from clawback.registry import load_agent

        try:
            return load_agent().survey(
                user_home=self.user_home,
                state_dirs=self.state_dirs,
                tmp_dirs=self.tmp_dirs,
                env=self.env,
                system_root=self.host.root,
            )
        except Exception as exc:  # the host checks still run; the report says what is missing
            self.problems.append(
                f"discovery failed ({type(exc).__name__}): secrets, configs and state dirs "
                "were not examined"
            )
            return AgentSurvey(credentials=(), state_dirs=tuple(self.state_dirs or ()))

    @functools.cached_property
    def all_configs(self) -> list[InstallConfig]:
        """Every config discovery found, legacy leftovers included (for secrets and modes)."""
        return [InstallConfig(config) for config in self.survey.configs]

    @property
    def configs(self) -> list[InstallConfig]:
        """The configs of installs that run (or would run): a Clawdbot/Moltbot-era leftover
        next to a current state dir is judged for the secrets it holds, not its settings."""
        current = [c for c in self.all_configs if not c.legacy]
        return current or self.all_configs

    @functools.cached_property
    def state_dir_paths(self) -> list[Path]:
        return [p for p in self.survey.state_dirs if is_dir(p)]

    def workspaces(self, config: InstallConfig) -> list[Path]:
        found = [config.state_dir / "workspace"]
        for raw in [dig(config.merged, "agents.defaults.workspace")] + [
            a.get("workspace")
            for a in as_list(dig(config.merged, "agents.list"))
            if isinstance(a, Mapping)
        ]:
            if isinstance(raw, str) and raw:
                found.append(self.expand(raw))
        return list(dict.fromkeys(p for p in found if p.is_absolute()))

    def expand(self, value: str) -> Path:
        """``~`` is the agent user's home, not the auditor's."""
        if value == "~":
            return self.user_home
        if value.startswith("~/"):
            return self.user_home / value[2:]
        return Path(value)

    @functools.cached_property
    def credentials(self) -> tuple[Credential, ...]:
        return self.survey.credentials

    def credentials_at(self, predicate: Any) -> list[tuple[Credential, Location]]:
        """(credential, location) for every place whose path satisfies ``predicate(path)``."""
        out = []
        for cred in self.credentials:
            for loc in cred.locations:
                if predicate(Path(loc.path)):
                    out.append((cred, loc))
        return out

    # ---- dotenv values (for checks that judge a secret's strength, never printed) ------------

    @functools.cached_property
    def dotenv_values(self) -> dict[str, str]:
        """Variables the gateway would see from its dotenv files; the process env wins."""
        from dotenv import dotenv_values

        values: dict[str, str] = {}
        sources = [p / ".env" for p in self.state_dir_paths]
        sources.append(self.user_home / ".config" / "openclaw" / "gateway.env")
        for source in reversed(sources):
            text = read_text(source)
            if text is None:
                continue
            import io

            for key, value in dotenv_values(stream=io.StringIO(text)).items():
                if value is not None:
                    values[key] = value
        values.update({k: v for k, v in self.env.items() if v})
        return values

    def resolve_secret(self, value: Any) -> str | None:
        """The value a config secret resolves to: a literal, ``${VAR}`` or an env SecretRef."""
        if isinstance(value, str):
            match = re.fullmatch(r"\$\{([A-Z_][A-Z0-9_]*)\}", value.strip())
            return self.dotenv_values.get(match.group(1)) if match else value
        if isinstance(value, Mapping) and value.get("source") == "env":
            name = value.get("id")
            return self.dotenv_values.get(name) if isinstance(name, str) else None
        return None

    # ---- scrubbing ---------------------------------------------------------------------------

    @functools.cached_property
    def _redactor(self) -> Any:
        from responders.kit.redaction import Redactor

        return Redactor(c.secret for c in self.credentials if c.secret is not None)

    def scrub(self, text: str) -> str:
        """Text safe to print: every known or secret-shaped value becomes its fingerprint."""
        text = self._redactor.text(text)
        pieces = []
        last = 0
        for match in sp.find_in_text(text):
            if sp.is_identifier(match.recognition):
                continue
            pieces.append(text[last : match.start])
            pieces.append(f"<secret {fingerprint(match.value)}>")
            last = match.end
        pieces.append(text[last:])
        return "".join(pieces)
