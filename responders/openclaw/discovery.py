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
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import stat
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from responders.agent_files import AgentFiles, UnsafeFile, owner_of
from responders.interface import Credential, Location, ResponderError, fingerprint
from responders.kit import secret_patterns as sp
from responders.kit.secret_patterns import Confidence, Recognition
from responders.openclaw.layout import (
    CONFIG_NAMES,
    DEFAULT_GATEWAY_PORT,
    DEV_GATEWAY_PORT,
    ENVIRONMENT_LOCATION,
    PRODUCT_WORDS,
    STATE_DIR_NAMES,
)
from responders.openclaw.layout import Json5Error as _ParseError
from responders.openclaw.layout import decode_json5 as _decode_json5

MAX_INCLUDE_DEPTH = 10
MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_TEXT_BYTES = 16 * 1024 * 1024
MAX_SQLITE_BYTES = 256 * 1024 * 1024
MAX_SQLITE_ROWS = 20_000
# Free text is scanned in pieces of about this size, so a time budget is checked often.
TEXT_CHUNK_CHARS = 256 * 1024
# Shorter known values could stand alone in a log by chance without being the secret.
MIN_KNOWN_VALUE_LENGTH = 8
# Compose files and exec SecretRef scripts are small; more than this is not one of them.
MAX_SCRIPT_BYTES = 1024 * 1024
# Directories under the home searched for compose files (the home, its subdirectories and
# theirs, hidden ones left out): a home with thousands of projects must not hold discovery up.
MAX_COMPOSE_DIRS = 400
# The names ``docker compose`` looks for, and the override/extra files beside them.
_COMPOSE_RE = re.compile(r"^(?:docker-)?compose(?:\.[\w-]+)?\.ya?ml$")
_COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")

SYSTEM_SERVICE_DIRS = (
    Path("/etc/systemd/system"),
    Path("/usr/lib/systemd/system"),
    Path("/lib/systemd/system"),
    Path("/Library/LaunchAgents"),
    Path("/Library/LaunchDaemons"),
)
_GATEWAY_UNIT_RE = re.compile(r"^(?:openclaw|clawdbot|moltbot)-gateway[\w.@-]*\.service$")
_LAUNCHD_LABEL_RE = re.compile(
    r"^(?:ai\.openclaw|com\.openclaw|bot\.molt|com\.clawdbot|com\.steipete\.clawdbot)\."
)
_ENV_REF_RE = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)\}")
_WHOLE_ENV_REF_RE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
# The name is possessive (*+): a shorter name is followed by a name character, never by "=",
# so giving characters back can't make a match, and not trying saves a quarter of the scan.
_ASSIGNMENT_RE = re.compile(
    r"(?<![A-Za-z0-9_])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*+)\s*=\s*[\"']?([^\s\"'\\;&|`]+)"
)
_CMD_SET_RE = re.compile(r'^\s*set\s+"?([A-Za-z_][A-Za-z0-9_]*)=(.*?)"?\s*$', re.IGNORECASE)
_SIMPLE_SEGMENT_RE = re.compile(r"[^.\[\]\"\s]+")
_TOKEN_CHARS = "A-Za-z0-9_+/-"  # as responders.openclaw replaces a value: standing alone
_UNKNOWN = Recognition(sp.UNKNOWN, "unknown:secret", Confidence.NONE)

Segment = str | int
KeyPath = tuple[Segment, ...]
# Maps a key path inside a file to what that place implies: (recognition, account).
Hinter = Callable[[KeyPath], tuple[Recognition | None, str | None]]


def format_key_path(segments: Sequence[Segment]) -> str:
    """``("profiles", "a:b", "key")`` → ``profiles.a:b.key``; odd segments are bracket-quoted."""
    out = ""
    for segment in segments:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif _SIMPLE_SEGMENT_RE.fullmatch(segment):
            out += f".{segment}" if out else segment
        else:
            out += f"[{json.dumps(segment)}]"
    return out


# --------------------------------------------------------------------------------------------
# Public results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """A service definition that runs (or ran) the gateway. Variable names only, no values."""

    kind: str  # systemd-user | systemd | launchd | schtasks
    name: str  # unit file name, launchd label or scheduled-task name
    path: str
    state_dir: str | None = None
    environment: tuple[str, ...] = ()
    version: str | None = None

    def as_setting(self) -> dict[str, Any]:
        """The ``[[agent.services]]`` entry the stop action understands."""
        setting: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.kind.startswith("systemd"):
            setting["unit"] = self.name
        elif self.kind == "launchd":
            setting["label"] = self.name
        return setting


@dataclass(frozen=True)
class GatewayFacts:
    """How one state dir's gateway is exposed. No secret values, only modes and numbers."""

    state_dir: str
    config_path: str | None
    mode: str | None
    bind: str | None
    port: int
    port_source: str  # service-env | env | config | profile-default | default
    auth_mode: str | None
    tailscale_mode: str | None
    version: str | None
    agent_ids: tuple[str, ...]


@dataclass(frozen=True)
class GatewayLock:
    path: str
    pid: int | None
    config_path: str | None
    created_at: str | None
    alive: bool


@dataclass(frozen=True)
class SecretReference:
    """A config value that points at a secret instead of holding it."""

    path: str
    key: str
    source: str  # env-substitution | env | file | exec
    target: str  # variable name, or "<provider>:<id>" for SecretRefs
    resolved: str | None = None  # fingerprint of the value it resolves to, if found


@dataclass(frozen=True)
class Inventory:
    credentials: tuple[Credential, ...]
    state_dirs: tuple[Path, ...]
    config_paths: tuple[Path, ...] = ()
    services: tuple[Service, ...] = ()
    gateways: tuple[GatewayFacts, ...] = ()
    gateway_locks: tuple[GatewayLock, ...] = ()
    references: tuple[SecretReference, ...] = ()
    notes: tuple[str, ...] = ()
    # Free text ``discover(free_text=False)`` left for ``discover_deferred``.
    deferred: tuple[Path, ...] = ()

    @property
    def found_install(self) -> bool:
        """Whether an OpenClaw install was found at all: a state dir, a config or a service.
        Nothing found is not all clear: most often clawback looked in the wrong home."""
        return bool(self.config_paths or self.services
                    or any(_real_dir(Path(p)) for p in self.state_dirs))

    @property
    def gateway(self) -> GatewayFacts | None:
        """The primary gateway (the first state dir's)."""
        return self.gateways[0] if self.gateways else None

    def by_provider(self) -> dict[str, tuple[Credential, ...]]:
        grouped: dict[str, list[Credential]] = defaultdict(list)
        for cred in self.credentials:
            grouped[cred.provider].append(cred)
        return {provider: tuple(creds) for provider, creds in sorted(grouped.items())}

    def find(self, fingerprint_: str) -> Credential | None:
        return next((c for c in self.credentials if c.fingerprint == fingerprint_), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe view for ``clawback discover --json``: fingerprints, never values."""
        return {
            "summary": dict(sorted(Counter(c.provider for c in self.credentials).items())),
            "credentials": [c.describe() for c in self.credentials],
            "state_dirs": [str(p) for p in self.state_dirs],
            "config_paths": [str(p) for p in self.config_paths],
            "services": [
                {
                    "kind": s.kind,
                    "name": s.name,
                    "path": s.path,
                    "state_dir": s.state_dir,
                    "environment": list(s.environment),
                    "version": s.version,
                }
                for s in self.services
            ],
            "gateways": [
                {
                    "state_dir": g.state_dir,
                    "config_path": g.config_path,
                    "mode": g.mode,
                    "bind": g.bind,
                    "port": g.port,
                    "port_source": g.port_source,
                    "auth_mode": g.auth_mode,
                    "tailscale_mode": g.tailscale_mode,
                    "version": g.version,
                    "agent_ids": list(g.agent_ids),
                }
                for g in self.gateways
            ],
            "gateway_locks": [
                {
                    "path": lock.path,
                    "pid": lock.pid,
                    "config_path": lock.config_path,
                    "created_at": lock.created_at,
                    "alive": lock.alive,
                }
                for lock in self.gateway_locks
            ],
            "references": [
                {
                    "path": r.path,
                    "key": r.key,
                    "source": r.source,
                    "target": r.target,
                    "resolved": r.resolved,
                }
                for r in self.references
            ],
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------
# Read-only file access (responders.agent_files: no link followed, nothing blocks)
# --------------------------------------------------------------------------------------------


def _agent_files(user_home: Path, roots: Sequence[Path], uid: int | None) -> AgentFiles:
    """The agent's tree: its home, its state dirs and the temp dirs (see agent_files)."""
    return AgentFiles([user_home, *roots], uid=uid if uid is not None else owner_of(user_home))


def _read_bytes(
    files: AgentFiles, path: Path, limit: int, *, tail: bool = False
) -> tuple[bytes, int] | None:
    """``(data, full_size)`` of a regular file, at most ``limit`` bytes; None if unreadable.

    ``tail`` keeps the end of an oversized file (the newest log lines).
    """
    try:
        read = files.read(path, limit, tail=tail)
    except OSError:
        return None
    return read.data, read.size


def _refusal(files: AgentFiles, path: Path) -> str | None:
    """Why discovery leaves ``path`` alone (a link, a FIFO, ...), or None if it is readable
    or simply missing."""
    try:
        fd, _ = files.open_regular(path)
    except FileNotFoundError:
        return None
    except UnsafeFile as exc:
        return exc.strerror
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    return None


def _copy_regular(files: AgentFiles, source: Path, target: Path, limit: int) -> int | None:
    """Stream a regular file into a new private ``target``; its size, or None if not copied."""
    try:
        fd, info = files.open_regular(source)
    except OSError:
        return None
    try:
        if info.st_size > limit:
            return None
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        copied = 0
        with os.fdopen(out, "wb") as sink:
            while copied <= limit and (chunk := os.read(fd, 1 << 20)):
                sink.write(chunk)
                copied += len(chunk)
        return copied if copied <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


class _LineCounter:
    """The 1-based line of an offset in ``text``, for offsets asked in increasing order (an
    earlier one restarts the count)."""

    __slots__ = ("_line", "_offset", "_text")

    def __init__(self, text: str) -> None:
        self._text, self._offset, self._line = text, 0, 1

    def __call__(self, offset: int) -> int:
        if offset < self._offset:
            self._offset, self._line = 0, 1
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line


def _real_dir(path: Path) -> bool:
    """A directory itself, not a link to one (a state dir that is a link was not read)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _expand_user(value: str, user_home: Path) -> Path:
    """``~`` means the agent user's home, not the home of whoever runs clawback."""
    if value == "~":
        return user_home
    if value.startswith("~/"):
        return user_home / value[2:]
    return Path(value)


# --------------------------------------------------------------------------------------------
# JSON5 config with $include
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigPart:
    """One file of a config: its parsed content and where that content lands in the whole."""

    path: Path
    data: Any
    mount: KeyPath


@dataclass(frozen=True)
class LoadedConfig:
    path: Path
    merged: Mapping[str, Any]
    parts: tuple[ConfigPart, ...]
    problems: tuple[str, ...]


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(merged[key], value) if key in merged else value
        return merged
    return override


class _Unreadable(Exception):
    """A config file that could not be read whole: ``reason`` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _ConfigLoader:
    def __init__(self, path: Path, max_depth: int, files: AgentFiles) -> None:
        self.root_path = path
        # Lexical: links are never followed, so the names are the files.
        self.root_dir = Path(os.path.abspath(path.parent))
        self.max_depth = max_depth
        self.files = files
        self.parts: list[ConfigPart] = []
        self.problems: list[tuple[str, Path]] = []

    def parse_file(self, path: Path) -> Any:
        try:
            read = self.files.read(path, MAX_CONFIG_BYTES)
        except FileNotFoundError:
            raise _Unreadable("does not exist") from None
        except OSError as exc:
            raise _Unreadable(exc.strerror or type(exc).__name__) from None
        if not read.complete:
            # Half a config parses as garbage or, worse, as a different config.
            raise _Unreadable(
                f"{read.size} bytes, more than the {MAX_CONFIG_BYTES} clawback reads; not read"
            )
        text = read.data.decode("utf-8", errors="replace")
        try:
            return _decode_json5(text)
        except RecursionError:
            raise _Unreadable("nested too deeply to parse; not read") from None

    def load(self) -> Any:
        try:
            data = self.parse_file(self.root_path)
        except _ParseError as err:
            self.problems.append(
                (
                    f"{self.root_path}:{err.line}:{err.column}: not valid JSON5; skipped",
                    self.root_path,
                )
            )
            return {}
        except _Unreadable as exc:
            self.problems.append(
                (f"{self.root_path}: cannot be read ({exc.reason})", self.root_path)
            )
            return {}
        self.parts.append(ConfigPart(self.root_path, data, ()))
        return self.resolve(data, self.root_path, (), (Path(os.path.abspath(self.root_path)),))

    def resolve(self, node: Any, file: Path, mount: KeyPath, chain: tuple[Path, ...]) -> Any:
        if isinstance(node, list):
            return [self.resolve(v, file, (*mount, i), chain) for i, v in enumerate(node)]
        if not isinstance(node, dict):
            return node
        merged: Any = {}
        include = node.get("$include")
        if include is not None:
            targets = [include] if isinstance(include, str) else include
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                self.problems.append((f"{file}: $include must be a path or a list of paths", file))
                targets = []
            for target in targets:
                merged = _deep_merge(merged, self.include(target, file, mount, chain))
        siblings = {
            k: self.resolve(v, file, (*mount, k), chain) for k, v in node.items() if k != "$include"
        }
        return _deep_merge(merged, siblings)

    def include(self, target: str, file: Path, mount: KeyPath, chain: tuple[Path, ...]) -> Any:
        candidate = Path(target) if os.path.isabs(target) else file.parent / target
        real = Path(os.path.abspath(candidate))
        if not real.is_relative_to(self.root_dir):
            self.problems.append(
                (
                    f"{file}: $include {target!r} resolves outside the config directory "
                    f"{self.root_dir}; refused, not read",
                    file,
                )
            )
            return {}
        if real in chain:
            self.problems.append((f"{file}: $include {target!r} is circular; not followed", file))
            return {}
        if len(chain) > self.max_depth:
            self.problems.append(
                (
                    f"{file}: $include {target!r} nests deeper than {self.max_depth} levels; "
                    "not followed",
                    file,
                )
            )
            return {}
        try:
            data = self.parse_file(candidate)
        except _ParseError as err:
            self.problems.append((f"{candidate}:{err.line}:{err.column}: not valid JSON5", file))
            return {}
        except _Unreadable as exc:
            self.problems.append(
                (f"{file}: $include {target!r} cannot be read ({exc.reason})", file)
            )
            return {}
        if not isinstance(data, dict):
            self.problems.append((f"{candidate}: an $include file must hold an object", file))
            return {}
        self.parts.append(ConfigPart(candidate, data, mount))
        return self.resolve(data, candidate, mount, (*chain, real))



class UnreadableConfig(ResponderError):
    """The agent's config (or one of its includes) cannot be used as it is; ``path`` names the
    file, ``message`` says why (the engine shows it as bad input: nothing was done)."""

    def __init__(self, message: str, *, path: str | Path) -> None:
        self.message = message
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


def load_config(
    path: Path,
    *,
    strict: bool = False,
    max_depth: int = MAX_INCLUDE_DEPTH,
    files: AgentFiles | None = None,
) -> LoadedConfig:
    """Parse an OpenClaw JSON5 config and follow its ``$include``s (confined to its directory).

    With ``strict`` the first problem raises ``UnreadableConfig``; otherwise problems (parse errors,
    refused or circular includes, a file not read whole) are returned and the rest of the
    config is still used, so a planted bad include cannot blind discovery. ``${VAR}`` strings
    are left as they are. ``files`` is the agent's tree (default: the config's directory); no
    link is followed in it.
    """
    path = Path(path)
    files = files if files is not None else AgentFiles([os.path.abspath(path.parent)])
    loader = _ConfigLoader(path, max_depth, files)
    merged = loader.load()
    if strict and loader.problems:
        message, where = loader.problems[0]
        raise UnreadableConfig(message.split(": ", 1)[-1], path=where)
    return LoadedConfig(
        path=Path(path),
        merged=merged if isinstance(merged, dict) else {},
        parts=tuple(loader.parts),
        problems=tuple(message for message, _ in loader.problems),
    )


# --------------------------------------------------------------------------------------------
# Hinters: what a place inside a particular file implies
# --------------------------------------------------------------------------------------------


def _config_hinter(mount: KeyPath) -> Hinter:
    def hint(path: KeyPath) -> tuple[Recognition | None, str | None]:
        return sp.recognize_config_path((*mount, *path)), None

    return hint


def _no_hint(path: KeyPath) -> tuple[Recognition | None, str | None]:
    return None, None


_AUTH_FIELDS = {
    "key": "api_key",
    "apiKey": "api_key",
    "token": "token",
    "access": "oauth_access",
    "refresh": "oauth_refresh",
}


def _profile_recognition(provider_id: str, field_name: Segment) -> Recognition | None:
    suffix = _AUTH_FIELDS.get(str(field_name))
    if suffix is None:
        return None
    provider = sp.normalise_provider(provider_id)
    return Recognition(provider, f"{provider}:{suffix}", Confidence.LOCATION)


def _auth_store_hinter(store: Any) -> Hinter:
    """``auth-profiles.json`` / SQLite ``store_json``: ``profiles.<provider>:<name>.<field>``."""
    profiles = store.get("profiles") if isinstance(store, dict) else None

    def hint(path: KeyPath) -> tuple[Recognition | None, str | None]:
        if len(path) != 3 or path[0] != "profiles" or not isinstance(profiles, dict):
            return None, None
        profile_id = str(path[1])
        profile = profiles.get(profile_id)
        provider_id = profile_id.split(":", 1)[0]
        if isinstance(profile, dict) and isinstance(profile.get("provider"), str):
            provider_id = profile["provider"]
        return _profile_recognition(provider_id, path[2]), None

    return hint


def _flat_auth_hinter(path: KeyPath) -> tuple[Recognition | None, str | None]:
    """Legacy ``auth.json`` and ``credentials/oauth.json``: ``<provider>.<field>``."""
    if len(path) == 2:
        return _profile_recognition(str(path[0]), path[1]), None
    return None, None


def _fixed_hinter(
    provider: str, kind: str, leaves: frozenset[str], account: Callable[[KeyPath], str | None]
) -> Hinter:
    recognition = Recognition(provider, kind, Confidence.LOCATION)

    def hint(path: KeyPath) -> tuple[Recognition | None, str | None]:
        if path and path[-1] in leaves:
            return recognition, account(path)
        return None, None

    return hint


def _top_key(path: KeyPath) -> str | None:
    return str(path[0]) if path else None


def _constant(value: str | None) -> Callable[[KeyPath], str | None]:
    return lambda _path: value


# --------------------------------------------------------------------------------------------
# The discovery pass
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sighting:
    value: str = field(repr=False)
    location: Location
    recognition: Recognition
    group: tuple[str, ...]
    account: str | None = None
    name: str = ""  # the variable or key it was found under, for pairing ids with secrets


# The parts of a name that say which half of an AWS credential it holds; what is left (the
# stem) says which credential: PROD_AWS_ACCESS_KEY_ID pairs with PROD_AWS_SECRET_ACCESS_KEY,
# accessKeyId with secretAccessKey, never with the BACKUP_AWS_… pair next to them.
_AWS_NAME_PARTS = tuple(
    re.compile(rf"(?:^|_){part}(?:_|$)")
    for part in (
        "SECRET_ACCESS_KEY", "ACCESS_KEY_ID", "SESSION_TOKEN", "SECURITY_TOKEN", "SECRET_KEY",
        "ACCESS_KEY", "KEY_ID", "SECRET", "TOKEN", "KEY", "ID",
    )
)
_AWS_SECRET_KINDS = frozenset({"aws:access_key", "aws:session"})


def _id_provider(identifier: str) -> str | None:
    recognition = sp.recognize_value(identifier)
    return recognition.provider if recognition is not None else None


def _pair_stem(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).upper()
    words = re.sub(r"[^A-Z0-9]+", "_", words)
    for part in _AWS_NAME_PARTS:  # the longest part the name holds as whole words
        if part.search(words):
            words = part.sub("_", words, count=1)
            break
    return re.sub(r"_+", "_", words).strip("_")


@dataclass
class _PendingReference:
    path: str
    key: str
    source: str
    target: str
    hint: Recognition | None


@dataclass
class _EnvSource:
    path: str
    values: Mapping[str, str]
    keys: Mapping[str, str] = field(default_factory=dict)  # name -> Location.key, if not the name

    def key_of(self, name: str) -> str:
        return self.keys.get(name, name)


class _Discovery:
    def __init__(
        self,
        user_home: Path,
        env: Mapping[str, str],
        files: AgentFiles,
        *,
        free_text: bool = True,
        deadline: float | None = None,
    ) -> None:
        self.user_home = user_home
        self.env = dict(env)
        self.files = files
        # Logs, transcripts, histories and database cells: the slow part, which the panic
        # button does after its first revocations (see ``discover``).
        self.free_text = free_text
        self.deadline = deadline
        self.deferred: list[Path] = []  # free text left for later (free_text=False)
        self.out_of_time: list[Path] = []  # not (fully) read: the budget was spent
        self.sightings: list[_Sighting] = []
        # Key ids by place (AWS key ids, Twilio SIDs): (name found under, id); paired with
        # secrets by name.
        self.aws_ids: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
        self.references: list[_PendingReference] = []
        self.env_sources: list[_EnvSource] = []
        self.file_secret_sources: dict[str, Any] = {}  # secrets.providers.<name> from configs
        self.notes: list[str] = []
        self.scanned: set[tuple[str, str]] = set()
        self.services: list[Service] = []
        self.service_envs: list[tuple[Service, dict[str, str]]] = []
        self.gateways: list[GatewayFacts] = []
        self.locks: list[GatewayLock] = []
        self.config_paths: list[Path] = []
        self.loaded_configs: dict[str, LoadedConfig] = {}
        self.service_working_dirs: list[Path] = []
        self.workspaces: list[Path] = []
        # exec SecretRef providers: (config that defines it, its name, its spec).
        self.exec_providers: list[tuple[Path, str, Mapping[str, Any]]] = []
        # Logs and audit trails: searched again for every value found anywhere (see
        # locate_known_values), because a token with no pattern is only found where its
        # place says what it is, and a log line does not.
        self.log_files: list[Path] = []

    # ---- bookkeeping -----------------------------------------------------------------------

    def first_visit(self, path: Path, what: str = "") -> bool:
        # Lexical: no link is followed, so two names are two files.
        key = (os.path.abspath(path), what)
        if key in self.scanned:
            return False
        self.scanned.add(key)
        if self.spent():
            self.out_of_time.append(path)
            return False
        return True

    def spent(self) -> bool:
        """Whether the time budget is gone: nothing more is read."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def defers(self, path: Path) -> bool:
        """Free text waits when only structured sources are wanted now."""
        if not self.free_text:
            self.deferred.append(path)
            return True
        return False

    def read_bytes(
        self, path: Path, limit: int = MAX_CONFIG_BYTES, *, tail: bool = False
    ) -> bytes | None:
        """A regular file's bytes (at most ``limit``); a refusal or a partial read is noted."""
        try:
            read = self.files.read(path, limit, tail=tail)
        except UnsafeFile as exc:
            self.notes.append(f"{path}: {exc.strerror}; not read")
            return None
        except OSError:
            return None
        if not read.complete:
            self.notes.append(
                f"{path}: {read.size} bytes, only the {'last' if tail else 'first'} {limit} "
                "scanned"
            )
        return read.data

    def read_text(
        self, path: Path, limit: int = MAX_CONFIG_BYTES, *, tail: bool = False
    ) -> str | None:
        data = self.read_bytes(path, limit, tail=tail)
        return None if data is None else data.decode("utf-8", errors="replace")

    def is_dir(self, path: Path) -> bool:
        return self.files.is_dir(path)

    def is_file(self, path: Path) -> bool:
        """A regular file (a link is not; discovery reports it when it tries to read it)."""
        kind = self.files.kind(path)
        if kind not in (None, "regular file"):
            self.note_refused(path, kind)
        return kind == "regular file"

    def note_refused(self, path: Path, kind: str) -> None:
        if kind == "symbolic link":
            try:
                target = self.files.readlink(path)
            except OSError:
                target = "(unreadable)"
            self.notes.append(f"{path}: a symbolic link to {target}; not followed")
        else:
            self.notes.append(f"{path}: a {kind}; not read")

    def list_dir(self, path: Path) -> list[Path]:
        """The entries of a directory, sorted; a link in its place is noted, not followed."""
        try:
            return [Path(entry.path) for entry in self.files.scandir(path)]
        except UnsafeFile as exc:
            self.notes.append(f"{path}: {exc.strerror}; not listed")
            return []
        except OSError:
            return []

    def consider(
        self,
        value: str,
        location: Location,
        *,
        name: str,
        group: tuple[str, ...],
        hints: Sequence[Recognition | None] = (),
        account: str | None = None,
        force: bool = False,
        substitutes_env: bool = False,
    ) -> None:
        """Decide whether ``value`` found at ``location`` under ``name`` is a secret; record it.

        ``substitutes_env``: the value comes from an OpenClaw config, where ``${VAR}`` is
        replaced at load time, so it is a reference rather than a value.
        """
        candidate = value.strip()
        if not candidate:
            return
        if substitutes_env and _ENV_REF_RE.search(candidate):
            self.record_env_references(candidate, location, hints)
            return
        recognition = sp.recognize(candidate, *hints)
        if recognition is not None and sp.is_identifier(recognition):
            if (name, candidate) not in self.aws_ids[group]:
                self.aws_ids[group].append((name, candidate))
            return
        recognition = _judge(
            candidate, recognition, secret_name=sp.looks_like_secret_name(name), force=force
        )
        if recognition is None:
            return
        self.sightings.append(
            _Sighting(candidate, location, recognition, group, account, name=name)
        )

    def record_env_references(
        self, value: str, location: Location, hints: Sequence[Recognition | None]
    ) -> None:
        whole = _WHOLE_ENV_REF_RE.fullmatch(value)
        for name in _ENV_REF_RE.findall(value):
            self.references.append(
                _PendingReference(
                    location.path,
                    location.key,
                    "env-substitution",
                    name,
                    # Only a value that is exactly ${VAR} takes the place's meaning.
                    next((h for h in hints if h is not None), None) if whole else None,
                )
            )

    # ---- structured sources ------------------------------------------------------------------

    def scan_json_data(
        self,
        path: Path,
        data: Any,
        hinter: Hinter,
        *,
        key_prefix: str = "",
        group_prefix: tuple[str, ...] = (),
        file_refs: list[tuple[str, KeyPath]] | None = None,
        text_in_strings: bool = False,
    ) -> None:
        """Walk parsed JSON; ``file_refs`` (configs only) collects ``tokenFile``-style paths;
        with ``text_in_strings`` every string is also searched for tokens inside it."""
        is_config = file_refs is not None

        def where(segments: KeyPath) -> str:
            inner = format_key_path(segments)
            return f"{key_prefix}.{inner}" if key_prefix and inner else key_prefix or inner

        def walk(node: Any, segments: KeyPath) -> None:
            if isinstance(node, dict):
                if _is_secret_ref(node):
                    self.record_secret_ref(
                        node, Location(str(path), where(segments)), hinter(segments)[0]
                    )
                    return
                for key, child in node.items():
                    if key == "$include":
                        continue
                    walk(child, (*segments, str(key)))
            elif isinstance(node, list):
                for index, child in enumerate(node):
                    walk(child, (*segments, index))
            elif isinstance(node, str) and segments:
                name = next((s for s in reversed(segments) if isinstance(s, str)), "")
                if file_refs is not None and _names_secret_file(name):
                    file_refs.append((node, segments))
                    return
                hint, account = hinter(segments)
                self.consider(
                    node,
                    Location(str(path), where(segments)),
                    name=name,
                    group=(str(path), *group_prefix, where(segments[:-1])),
                    hints=(hint,),
                    account=account,
                    substitutes_env=is_config,
                )
                if text_in_strings:
                    self.scan_string(node, Location(str(path), where(segments)),
                                     (str(path), *group_prefix, where(segments[:-1])))

        walk(data, ())

    def scan_string(self, text: str, location: Location, group: tuple[str, ...]) -> None:
        """Distinctive tokens inside one string value (a message, a command line)."""
        whole = text.strip()
        for match in sp.find_in_text(text):
            if match.value != whole:  # the whole string was judged as a value already
                self.consider(match.value, location, name="", group=group,
                              hints=(match.recognition,))

    def record_secret_ref(
        self, ref: Mapping[str, Any], location: Location, hint: Recognition | None
    ) -> None:
        source = str(ref.get("source"))
        target = str(ref.get("id", ""))
        if source != "env":
            target = f"{ref.get('provider', 'default')}:{target}"
        self.references.append(_PendingReference(location.path, location.key, source, target, hint))

    def scan_json_file(
        self,
        path: Path,
        hinter: Hinter = _no_hint,
        *,
        hinter_for: Callable[[Any], Hinter] | None = None,
        text_in_strings: bool = False,
    ) -> None:
        """A JSON store; ``hinter_for`` builds the hinter from the parsed content instead.
        ``text_in_strings``: its strings are free text, searched for tokens inside them."""
        if not self.first_visit(path, "json"):
            return
        text = self.read_text(path)
        if text is None:
            return
        try:
            data = _decode_json5(text)
        except _ParseError as err:
            self.notes.append(f"{path}:{err.line}:{err.column}: not valid JSON; skipped")
            return
        self.scan_json_data(path, data, hinter_for(data) if hinter_for else hinter,
                            text_in_strings=text_in_strings)

    def scan_config(self, path: Path) -> LoadedConfig:
        real = os.path.abspath(path)
        if real in self.loaded_configs:
            return self.loaded_configs[real]
        loaded = load_config(path, files=self.files)
        self.loaded_configs[real] = loaded
        self.notes.extend(loaded.problems)
        for part in loaded.parts:
            if not self.first_visit(part.path, f"config-part:{format_key_path(part.mount)}"):
                continue
            file_refs: list[tuple[str, KeyPath]] = []
            self.scan_json_data(
                part.path, part.data, _config_hinter(part.mount), file_refs=file_refs
            )
            for target, segments in file_refs:
                self.scan_referenced_file(target, (*part.mount, *segments))
        env_block = loaded.merged.get("env")
        if isinstance(env_block, dict):
            values = {k: v for k, v in env_block.items() if isinstance(v, str)}
            keys = {k: format_key_path(("env", k)) for k in values}
            nested = env_block.get("vars")
            if isinstance(nested, dict):
                for name, value in nested.items():
                    if isinstance(value, str) and name not in values:
                        values[name] = value
                        keys[name] = format_key_path(("env", "vars", name))
            # The block may come from an $include; the top file is the best place to name.
            self.env_sources.append(_EnvSource(str(path), values, keys))
        secrets_block = loaded.merged.get("secrets")
        if isinstance(secrets_block, dict) and isinstance(secrets_block.get("providers"), dict):
            for name, spec in secrets_block["providers"].items():
                self.file_secret_sources.setdefault(str(name), spec)
                if isinstance(spec, dict) and spec.get("source") == "exec":
                    self.exec_providers.append((path, str(name), spec))
        return loaded

    def scan_referenced_file(self, target: str, config_path: KeyPath) -> None:
        """``channels.telegram.tokenFile`` and friends: the file named holds the secret."""
        leaf = str(config_path[-1])
        if not leaf.endswith("File") or not target.strip():
            return
        path = _expand_user(target.strip(), self.user_home)
        if not path.is_absolute() or not self.first_visit(path, "referenced"):
            return
        text = self.read_text(path, 1024 * 1024)
        if text is None:
            self.notes.append(f"{format_key_path(config_path)} names {path}, which cannot be read")
            return
        meaning_path = (*config_path[:-1], "botToken" if leaf == "tokenFile" else leaf[:-4])
        hint = sp.recognize_config_path(meaning_path)
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                data = _decode_json5(stripped)
            except _ParseError:
                data = None
            if isinstance(data, dict):
                self.scan_json_data(path, data, lambda _p: (hint, None))
                return
        self.consider(
            stripped,
            Location(str(path), ""),
            name=leaf[:-4],
            group=(str(path),),
            hints=(hint,),
            force=True,
        )

    def scan_dotenv(self, path: Path) -> None:
        if not self.first_visit(path, "dotenv"):
            return
        text = self.read_text(path, 1024 * 1024)
        if text is None:
            return
        from dotenv import dotenv_values

        values = {
            k: v
            for k, v in dotenv_values(stream=io.StringIO(text), interpolate=False).items()
            if v is not None
        }
        self.scan_env_mapping(path, values)
        self.env_sources.append(_EnvSource(str(path), values))

    def scan_env_mapping(
        self, path: Path, values: Mapping[str, str], *, key_prefix: str = ""
    ) -> None:
        for name, value in values.items():
            self.consider(
                value,
                Location(str(path), f"{key_prefix}{name}"),
                name=name,
                group=(str(path), key_prefix),
                hints=(sp.recognize_env_name(name),),
            )

    def scan_whole_file_secret(self, path: Path, recognition: Recognition) -> None:
        if not self.first_visit(path, "whole"):
            return
        text = self.read_text(path, 64 * 1024)
        if text is not None and text.strip():
            self.consider(
                text.strip(),
                Location(str(path), ""),
                name="secret",
                group=(str(path),),
                hints=(recognition,),
                force=True,
            )

    def scan_aws_credentials(self, path: Path) -> None:
        if not self.first_visit(path, "ini"):
            return
        text = self.read_text(path, 1024 * 1024)
        if text is None:
            return
        import configparser

        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read_string(text)
        except configparser.Error:
            self.notes.append(f"{path}: not a valid INI file; skipped")
            return
        for section in parser.sections():
            for option, value in parser.items(section):
                if option not in {
                    "aws_access_key_id",
                    "aws_secret_access_key",
                    "aws_session_token",
                }:
                    continue
                self.consider(
                    value,
                    Location(str(path), format_key_path((section, option))),
                    name=option,
                    group=(str(path), section),
                    hints=(sp.recognize_env_name(option.upper()),),
                )

    def scan_log(self, path: Path) -> None:
        """A log or audit file: scanned as free text, and searched for known values later."""
        if path not in self.log_files:
            self.log_files.append(path)
        self.scan_text(path)

    def locate_known_values(self) -> None:
        """Every value found anywhere, looked for in every log and audit file, where it is
        then listed as one more place (``line N``). OpenClaw's ``logs/config-audit.jsonl``
        keeps the argv of each ``openclaw config set``, so a hex gateway or hooks token set
        that way sits there in clear with nothing around it that says "token"."""
        values = {s.value for s in self.sightings if len(s.value) >= MIN_KNOWN_VALUE_LENGTH}
        if not values or not self.log_files:
            return
        best: dict[str, _Sighting] = {}
        for sighting in self.sightings:
            held = best.get(sighting.value)
            if held is None or sighting.recognition.confidence > held.recognition.confidence:
                best[sighting.value] = sighting
        known = {(s.value, s.location.path, s.location.key) for s in self.sightings}
        for path in self.log_files:
            if self.spent():
                self.out_of_time.append(path)
                continue
            text = self.read_text(path, MAX_TEXT_BYTES, tail=True)
            if not text:
                continue
            # A plain substring test first (fast); the regex only over the values present.
            present = sorted((v for v in values if v in text), key=len, reverse=True)
            if not present:
                continue
            alternatives = "|".join(re.escape(v) for v in present)
            # Standing alone, as the rotation replaces it: never a piece of a longer token.
            pattern = re.compile(rf"(?<![{_TOKEN_CHARS}])(?:{alternatives})(?![{_TOKEN_CHARS}])")
            line_of = _LineCounter(text)
            for match in pattern.finditer(text):
                value = match.group(0)
                line = line_of(match.start())
                location = Location(str(path), f"line {line}")
                if (value, location.path, location.key) in known:
                    continue
                known.add((value, location.path, location.key))
                origin = best[value]
                self.sightings.append(_Sighting(value, location, origin.recognition,
                                                (str(path), str(line)), origin.account))

    def scan_text(self, path: Path) -> None:
        """Free text (logs, transcripts, shell history): distinctive tokens and KEY=value lines.

        Scanned piece by piece against the time budget; a piece left unscanned is noted.
        """
        if self.defers(path) or not self.first_visit(path, "text"):
            return
        text = self.read_text(path, MAX_TEXT_BYTES, tail=True)
        if not text:
            return
        # The holes of a sparse file read as NUL bytes: no secret there, and regexes crawl
        # over them. No NUL is a newline, so line numbers stay right.
        text = text.replace("\0", "")
        # Line numbers are counted between matches, which come in order, rather than from an
        # index of every line: a 16 MB log has hundreds of thousands of lines and few matches.
        token_line, assignment_line = _LineCounter(text), _LineCounter(text)
        for start, chunk in _pieces(text, TEXT_CHUNK_CHARS):
            if self.spent():
                self.out_of_time.append(path)
                self.notes.append(f"{path}: only the first {start} characters scanned before "
                                  "the time budget ran out")
                return
            for match in sp.find_in_text(chunk):
                line = token_line(start + match.start)
                self.consider(
                    match.value,
                    Location(str(path), f"line {line}"),
                    name="",
                    group=(str(path), str(line)),
                    hints=(match.recognition,),
                )
            for assignment in _ASSIGNMENT_RE.finditer(chunk):
                name, value = assignment.group(1), assignment.group(2)
                hint = sp.recognize_env_name(name.upper())
                if hint is None and not sp.looks_like_secret_name(name):
                    continue
                if not sp.plausible_secret_value(value) and sp.recognize_value(value) is None:
                    continue
                line = assignment_line(start + assignment.start(2))
                self.consider(
                    value,
                    Location(str(path), f"line {line}"),
                    name=name,
                    group=(str(path), str(line)),
                    hints=(hint,),
                    force=hint is not None,
                )

    def scan_sqlite(self, path: Path) -> None:
        if not self.first_visit(path, "sqlite"):
            return
        import sqlite3
        import tempfile

        with tempfile.TemporaryDirectory(prefix="clawback-discover-") as scratch:
            copy = Path(scratch) / "db.sqlite"
            for suffix in ("", "-wal", "-journal"):
                source = Path(f"{path}{suffix}")
                if suffix and not self.files.exists(source):
                    continue
                if _copy_regular(self.files, source, Path(f"{copy}{suffix}"),
                                 MAX_SQLITE_BYTES) is None:
                    if not suffix:
                        self.notes.append(
                            f"{source}: not a readable regular file under {MAX_SQLITE_BYTES} "
                            "bytes; not scanned"
                        )
                        return
                    self.notes.append(f"{source}: could not be copied; recent rows may be missed")
            try:
                conn = sqlite3.connect(copy)
            except sqlite3.Error:
                self.notes.append(f"{path}: not a readable SQLite database")
                return
            try:
                self.scan_sqlite_tables(path, conn)
            except sqlite3.Error:
                self.notes.append(f"{path}: not a readable SQLite database")
            finally:
                conn.close()

    def scan_sqlite_tables(self, path: Path, conn: Any) -> None:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not str(row[0]).startswith("sqlite_")
        ]
        for table in tables:
            quoted = '"' + str(table).replace('"', '""') + '"'
            if table == "auth_profile_store":
                for store_key, store_json in conn.execute(
                    f"SELECT store_key, store_json FROM {quoted} LIMIT {MAX_SQLITE_ROWS}"
                ):
                    try:
                        store = _decode_json5(str(store_json))
                    except _ParseError:
                        self.notes.append(f"{path}: auth_profile_store[{store_key}] is not JSON")
                        continue
                    self.scan_json_data(
                        path,
                        store,
                        _auth_store_hinter(store),
                        key_prefix=f"auth_profile_store[{store_key}]",
                        group_prefix=(str(store_key),),
                    )
                continue
            if self.defers(path):
                break  # every cell of every other table is free text: later
            if self.spent():
                self.out_of_time.append(path)
                break
            cursor = conn.execute(f"SELECT * FROM {quoted} LIMIT {MAX_SQLITE_ROWS}")
            columns = [d[0] for d in cursor.description or ()]
            for index, row in enumerate(cursor):
                for column, cell in zip(columns, row, strict=False):
                    if not isinstance(cell, str):
                        continue
                    for match in sp.find_in_text(cell):
                        key = f"{table}[row {index}].{column}"
                        self.consider(
                            match.value,
                            Location(str(path), key),
                            name="",
                            group=(str(path), key),
                            hints=(match.recognition,),
                        )

    # ---- services ------------------------------------------------------------------------------

    def scan_services(self, system_dirs: Sequence[Path]) -> None:
        user_units = self.user_home / ".config" / "systemd" / "user"
        for path in self.list_dir(user_units):
            self.scan_unit_file(path, scope="systemd-user")
        agents_dir = self.user_home / "Library" / "LaunchAgents"
        for path in self.list_dir(agents_dir):
            self.scan_plist(path)
        for directory in system_dirs:
            for path in self.list_dir(directory):
                if path.suffix == ".plist":
                    self.scan_plist(path)
                elif ".service" in path.name:
                    self.scan_unit_file(path, scope="systemd")

    def scan_unit_file(self, path: Path, *, scope: str) -> None:
        if ".service" not in path.name:
            return
        # ``openclaw-gateway.service.bak`` keeps the previous unit, old token included.
        base_name = path.name.split(".service", 1)[0] + ".service"
        named = _GATEWAY_UNIT_RE.match(base_name) is not None
        text = self.read_text(path, 1024 * 1024)
        if text is None or not (named or any(w in text.lower() for w in PRODUCT_WORDS)):
            return
        if not self.first_visit(path, "unit"):
            return
        unit = _parse_unit(text, self.user_home)
        self.scan_env_mapping(path, unit.environment)
        for env_file in unit.environment_files:
            if self.is_file(env_file):
                self.scan_dotenv(env_file)
        is_backup = not path.name.endswith(".service")
        if is_backup:
            return
        environment = dict(unit.environment)
        for env_file in unit.environment_files:
            environment.update(
                next((s.values for s in self.env_sources if s.path == str(env_file)), {})
            )
        service = Service(
            kind=scope,
            name=path.name,
            path=str(path),
            state_dir=_service_state_dir(environment, self.user_home),
            environment=tuple(sorted(unit.environment)),
            version=environment.get("OPENCLAW_SERVICE_VERSION") or _version_in(unit.description),
        )
        self.services.append(service)
        self.service_envs.append((service, environment))
        self.env_sources.append(_EnvSource(str(path), dict(unit.environment)))
        if unit.working_directory is not None:
            self.service_working_dirs.append(unit.working_directory)

    def scan_plist(self, path: Path) -> None:
        if path.suffix != ".plist":
            return
        data = self.read_bytes(path, 1024 * 1024)
        if data is None:
            return
        import plistlib

        try:
            plist = plistlib.loads(data)
        except Exception:  # plistlib raises several unrelated types for bad input
            return
        if not isinstance(plist, dict):
            return
        label = str(plist.get("Label", path.stem))
        ours = _LAUNCHD_LABEL_RE.match(label) is not None or any(
            w in data.decode("utf-8", errors="replace").lower() for w in PRODUCT_WORDS
        )
        if not ours or not self.first_visit(path, "plist"):
            return
        env = plist.get("EnvironmentVariables")
        environment = {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}
        self.scan_env_mapping(path, environment, key_prefix="EnvironmentVariables.")
        plist_keys = {name: f"EnvironmentVariables.{name}" for name in environment}
        service = Service(
            kind="launchd",
            name=label,
            path=str(path),
            state_dir=_service_state_dir(environment, self.user_home),
            environment=tuple(sorted(environment)),
            version=environment.get("OPENCLAW_SERVICE_VERSION"),
        )
        self.services.append(service)
        self.service_envs.append((service, environment))
        self.env_sources.append(_EnvSource(str(path), environment, plist_keys))
        working = plist.get("WorkingDirectory")
        if isinstance(working, str):
            self.service_working_dirs.append(Path(working))

    def scan_gateway_cmd(self, path: Path, state_dir: Path) -> None:
        if not self.first_visit(path, "cmd"):
            return
        text = self.read_text(path, 1024 * 1024)
        if text is None:
            return
        environment: dict[str, str] = {}
        for line in text.splitlines():
            match = _CMD_SET_RE.match(line)
            if match:
                environment[match.group(1)] = match.group(2)
        self.scan_env_mapping(path, environment)
        profile = environment.get("OPENCLAW_PROFILE")
        service = Service(
            kind="schtasks",
            name=f"OpenClaw Gateway ({profile})" if profile else "OpenClaw Gateway",
            path=str(path),
            state_dir=str(state_dir),
            environment=tuple(sorted(environment)),
            version=environment.get("OPENCLAW_SERVICE_VERSION"),
        )
        self.services.append(service)
        self.service_envs.append((service, environment))
        self.env_sources.append(_EnvSource(str(path), environment))

    # ---- state dirs ----------------------------------------------------------------------------

    def candidate_state_dirs(self) -> list[Path]:
        found: list[Path] = []

        def add(path: Path) -> None:
            kind = self.files.kind(path)
            if kind == "symbolic link":
                # ~/.openclaw pointing elsewhere: the agent could point it at anything.
                self.note_refused(path, kind)
            elif kind == "directory" and all(
                os.path.abspath(path) != os.path.abspath(p) for p in found
            ):
                found.append(path)

        for name in ("OPENCLAW_STATE_DIR", "CLAWDBOT_STATE_DIR"):
            if self.env.get(name):
                add(_expand_user(self.env[name], self.user_home))
        for _service, environment in self.service_envs:
            for name in ("OPENCLAW_STATE_DIR", "CLAWDBOT_STATE_DIR"):
                if environment.get(name):
                    add(_expand_user(environment[name], self.user_home))
        home = (
            _expand_user(self.env["OPENCLAW_HOME"], self.user_home)
            if self.env.get("OPENCLAW_HOME")
            else self.user_home
        )
        add(home / ".openclaw")
        for path in self.list_dir(home):
            if not path.name.startswith(".openclaw-"):
                continue
            if self.files.kind(path) == "symbolic link":
                self.note_refused(path, "symbolic link")
            elif _looks_like_state_dir(self.files, path):
                add(path)
        for name in STATE_DIR_NAMES[1:]:
            add(home / name)
        return found

    def is_env_state_dir(self, state: Path) -> bool:
        """Whether ``env`` (the agent's environment) describes this state dir's gateway."""
        explicit = self.env.get("OPENCLAW_STATE_DIR") or self.env.get("CLAWDBOT_STATE_DIR")
        if explicit:
            return os.path.abspath(_expand_user(explicit, self.user_home)) == os.path.abspath(
                state
            )
        return state.name == ".openclaw"

    def config_overrides(self) -> list[Path]:
        """``OPENCLAW_CONFIG_PATH`` from the environment and from every service definition."""
        found = []
        for environment in [self.env, *(env for _svc, env in self.service_envs)]:
            value = environment.get("OPENCLAW_CONFIG_PATH") or environment.get(
                "CLAWDBOT_CONFIG_PATH"
            )
            if value:
                found.append(_expand_user(value, self.user_home))
        return found

    def scan_state_dir(self, state: Path) -> None:
        configs = [
            path
            for path in self.config_overrides()
            if os.path.abspath(path.parent) == os.path.abspath(state) and self.is_file(path)
        ]
        configs.extend(state / name for name in CONFIG_NAMES if self.is_file(state / name))
        primary: LoadedConfig | None = None
        for config in configs:
            loaded = self.scan_config(config)
            if config not in self.config_paths:
                self.config_paths.append(config)
            primary = primary or loaded
        for path in self.list_dir(state):
            if any(path.name.startswith(f"{name}.bak") for name in CONFIG_NAMES):
                self.scan_config(path)
        merged: Mapping[str, Any] = primary.merged if primary else {}

        self.scan_dotenv(state / ".env")
        self.scan_json_file(state / "secrets.json", lambda p: (sp.recognize_config_path(p), None))

        agent_ids = _agent_ids(self.files, state, merged)
        agent_dirs = [state / "agents" / agent / "agent" for agent in agent_ids]
        for name in ("OPENCLAW_AGENT_DIR", "PI_CODING_AGENT_DIR"):
            if self.env.get(name):
                agent_dirs.append(_expand_user(self.env[name], self.user_home))
        for agent_dir in agent_dirs:
            self.scan_json_file(agent_dir / "auth-profiles.json", hinter_for=_auth_store_hinter)
            self.scan_json_file(agent_dir / "auth.json", _flat_auth_hinter)
            self.scan_json_file(agent_dir / "models.json", _config_hinter(()))
            if self.is_file(agent_dir / "openclaw-agent.sqlite"):
                self.scan_sqlite(agent_dir / "openclaw-agent.sqlite")
        for agent in agent_ids:
            for transcript in self.list_dir(state / "agents" / agent / "sessions"):
                if ".jsonl" in transcript.name:
                    self.scan_text(transcript)
        if self.is_file(state / "state" / "openclaw.sqlite"):
            self.scan_sqlite(state / "state" / "openclaw.sqlite")
        for db in self.list_dir(state / "memory"):
            if db.suffix == ".sqlite":
                self.scan_sqlite(db)

        self.scan_credentials_dir(
            _expand_user(self.env["OPENCLAW_OAUTH_DIR"], self.user_home)
            if self.env.get("OPENCLAW_OAUTH_DIR")
            else state / "credentials"
        )
        self.scan_pairing_stores(state)
        # A job's message is free text the agent acts on: a webhook URL or a key pasted there
        # is in the middle of a sentence.
        self.scan_json_file(state / "cron" / "jobs.json", text_in_strings=True)
        for run_log in self.list_dir(state / "cron" / "runs"):
            self.scan_log(run_log)
        for log in self.list_dir(state / "logs"):
            if self.is_file(log):
                self.scan_log(log)
        if self.is_file(state / "gateway.cmd"):
            self.scan_gateway_cmd(state / "gateway.cmd", state)
        for workspace in _workspaces(state, merged, self.user_home):
            self.scan_dotenv(workspace / ".env")
            self.workspaces.append(workspace)

        self.gateways.append(
            self.gateway_facts(state, configs[0] if configs else None, merged, agent_ids)
        )

    def scan_credentials_dir(self, credentials: Path) -> None:
        self.scan_json_file(credentials / "oauth.json", _flat_auth_hinter)
        self.scan_json_file(
            credentials / "github-copilot.token.json",
            _fixed_hinter("github", "github:copilot_token", frozenset({"token"}), _constant(None)),
        )
        for account_dir in self.list_dir(credentials / "whatsapp"):
            hinter = _fixed_hinter(
                "whatsapp",
                "whatsapp:session",
                frozenset({"advSecretKey"}),
                _constant(account_dir.name),
            )
            for name in ("creds.json", "creds.json.bak"):
                self.scan_json_file(account_dir / name, hinter)
        self.scan_json_file(
            credentials / "matrix" / "credentials.json",
            _fixed_hinter(
                "matrix",
                "matrix:access_token",
                frozenset({"accessToken", "password"}),
                _constant(None),
            ),
        )
        for path in self.list_dir(credentials / "auth-profiles"):
            self.scan_json_file(path)
        for path in self.list_dir(credentials):
            if path.suffix == ".json" and not path.name.endswith(
                ("-allowFrom.json", "-pairing.json")
            ):
                self.scan_json_file(path)

    def scan_pairing_stores(self, state: Path) -> None:
        self.scan_json_file(
            state / "identity" / "device.json",
            _fixed_hinter(
                "openclaw",
                "openclaw:device_private_key",
                frozenset({"privateKeyPem"}),
                _constant(None),
            ),
        )
        device_auth = state / "identity" / "device-auth.json"
        device_id = _json_field(self.files, device_auth, "deviceId")
        self.scan_json_file(
            device_auth,
            _fixed_hinter(
                "openclaw", "openclaw:device_token", frozenset({"token"}), _constant(device_id)
            ),
        )
        self.scan_json_file(
            state / "devices" / "paired.json",
            _fixed_hinter("openclaw", "openclaw:device_token", frozenset({"token"}), _top_key),
        )
        self.scan_json_file(
            state / "nodes" / "paired.json",
            _fixed_hinter("openclaw", "openclaw:node_token", frozenset({"token"}), _top_key),
        )
        self.scan_json_file(
            state / "exec-approvals.json",
            _fixed_hinter(
                "openclaw", "openclaw:exec_approvals_token", frozenset({"token"}), _constant(None)
            ),
        )

    def gateway_facts(
        self, state: Path, config: Path | None, merged: Mapping[str, Any], agent_ids: Sequence[str]
    ) -> GatewayFacts:
        gateway = _table(merged, "gateway")
        auth = _table(gateway, "auth")
        tailscale = _table(gateway, "tailscale")
        meta = _table(merged, "meta")
        port, port_source = DEFAULT_GATEWAY_PORT, "default"
        if state.name == ".openclaw-dev":
            port, port_source = DEV_GATEWAY_PORT, "profile-default"
        if isinstance(gateway.get("port"), int):
            port, port_source = gateway["port"], "config"
        env_port = self.env.get("OPENCLAW_GATEWAY_PORT") or self.env.get("CLAWDBOT_GATEWAY_PORT")
        if env_port and env_port.isdigit() and self.is_env_state_dir(state):
            port, port_source = int(env_port), "env"
        for service, environment in self.service_envs:
            service_port = environment.get("OPENCLAW_GATEWAY_PORT", "")
            if service.state_dir == str(state) and service_port.isdigit():
                port, port_source = int(service_port), "service-env"
                break
        auth_mode = auth.get("mode") if isinstance(auth.get("mode"), str) else None
        if auth_mode is None:
            auth_mode = (
                "token" if auth.get("token") else "password" if auth.get("password") else None
            )

        def text(value: Any) -> str | None:
            return value if isinstance(value, str) else None

        return GatewayFacts(
            state_dir=str(state),
            config_path=str(config) if config else None,
            mode=text(gateway.get("mode")),
            bind=text(gateway.get("bind")),
            port=port,
            port_source=port_source,
            auth_mode=auth_mode,
            tailscale_mode=text(tailscale.get("mode")),
            version=text(meta.get("lastTouchedVersion")),
            agent_ids=tuple(agent_ids),
        )

    # ---- user-level files and tmp ----------------------------------------------------------------

    def scan_user_files(self) -> None:
        home = self.user_home
        self.scan_aws_credentials(home / ".aws" / "credentials")
        self.scan_aws_credentials(home / ".aws" / "config")
        for history in (".bash_history", ".zsh_history", ".history", ".sh_history"):
            self.scan_text(home / history)
        config_home = home / ".config" / "openclaw"
        self.scan_dotenv(config_home / "gateway.env")
        key = Recognition("openclaw", "openclaw:auth_profile_secret_key", Confidence.LOCATION)
        for candidate in (
            config_home / "auth-profile-secret-key",
            home / ".openclaw-auth-profile-secrets" / "auth-profile-secret-key",
            home / "Library" / "Application Support" / "OpenClaw" / "auth-profile-secret-key",
        ):
            if self.is_file(candidate):
                self.scan_whole_file_secret(candidate, key)
        for working_dir in self.service_working_dirs:
            self.scan_dotenv(_expand_user(str(working_dir), home) / ".env")

    # ---- docker compose ----------------------------------------------------------------------

    def scan_compose_files(self, state_dirs: Sequence[Path]) -> None:
        """Compose files where one may run the gateway: the state dirs, workspaces and service
        working directories; the home, its subdirectories (``~/openclaw`` of the Docker
        install) and theirs (``~/apps/openclaw``), hidden ones left out."""
        places = [*state_dirs, *self.workspaces,
                  *(_expand_user(str(d), self.user_home) for d in self.service_working_dirs)]
        level, listed = [self.user_home], 0
        for depth in range(3):
            below: list[Path] = []
            for directory in level:
                if depth < 2:
                    if listed >= MAX_COMPOSE_DIRS:
                        self.notes.append(
                            f"{self.user_home}: more than {MAX_COMPOSE_DIRS} directories; "
                            "compose files were looked for in the first ones only")
                        level = []
                        break
                    listed += 1
                    places.append(directory)
                    try:
                        entries = self.files.scandir(directory)
                    except OSError:
                        continue
                    below += [Path(e.path) for e in entries if e.is_dir
                              and not e.name.startswith(".") and e.name != "node_modules"]
                elif any(self.files.kind(directory / name) is not None
                         for name in _COMPOSE_NAMES):
                    places.append(directory)  # only then listed, for the override files
            level = below
        for directory in dict.fromkeys(places):
            if self.spent():
                self.out_of_time.append(directory)
                return
            try:
                entries = self.files.scandir(directory)
            except OSError:
                continue
            composes = [Path(e.path) for e in entries if _COMPOSE_RE.match(e.name)]
            for compose in composes:
                if self.is_file(compose):
                    self.scan_compose(compose)
            if composes:
                # ``docker compose`` reads the .env beside the file for ${VAR} substitution.
                self.scan_dotenv(directory / ".env")

    def scan_compose(self, path: Path) -> None:
        """A compose file: each service's ``environment`` (a list of ``NAME=value`` or a map),
        ``build.args`` and the ``env_file`` files it names."""
        if not self.first_visit(path, "compose"):
            return
        try:
            import yaml
        except ImportError:  # a fleet host's bare Python: said, not skipped in silence
            self.notes.append(f"{path}: a compose file, not read (PyYAML is not installed on "
                              "this host); look at its environment: entries by hand")
            return
        text = self.read_text(path, MAX_SCRIPT_BYTES)
        if text is None:
            return

        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.MarkedYAMLError as exc:
            # The message may quote the file: only the position is kept.
            mark = exc.problem_mark or exc.context_mark
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            self.notes.append(f"{path}{where}: not valid YAML; skipped")
            return
        except (yaml.YAMLError, RecursionError, ValueError):
            self.notes.append(f"{path}: not valid YAML; skipped")
            return
        services = data.get("services") if isinstance(data, dict) else None
        if not isinstance(services, dict):
            return
        for service_name, service in services.items():
            if not isinstance(service, dict):
                continue
            build = service.get("build")
            for mount, block in (("environment", service.get("environment")),
                                 ("build.args",
                                  build.get("args") if isinstance(build, dict) else None)):
                values = _compose_mapping(block)
                if not values:
                    continue
                keys = {name: format_key_path(("services", str(service_name),
                                               *mount.split("."), name)) for name in values}
                prefix = format_key_path(("services", str(service_name), *mount.split(".")))
                for name, value in values.items():
                    self.consider(value, Location(str(path), keys[name]), name=name,
                                  group=(str(path), prefix),
                                  hints=(sp.recognize_env_name(name),))
                self.env_sources.append(_EnvSource(str(path), values, keys))
            for env_file in _compose_env_files(service.get("env_file")):
                target = _expand_user(env_file, self.user_home)
                target = target if target.is_absolute() else path.parent / target
                if self.is_file(target):
                    self.scan_dotenv(target)

    # ---- exec SecretRef providers ----------------------------------------------------------

    def scan_exec_scripts(self) -> None:
        """The program an ``exec`` secrets provider runs, and the script files among its
        arguments (``/bin/sh ~/.openclaw/bin/get-key.sh``), read as text: a key hard-coded
        there is as exposed as one in the config. Only inside the agent's tree; a program
        elsewhere (``/usr/local/bin/op``) is named in a note, not read."""
        for config, name, spec in self.exec_providers:
            command = spec.get("command")
            args = spec.get("args")
            candidates = [command] if isinstance(command, str) else []
            if isinstance(args, list):
                candidates += [a for a in args if isinstance(a, str)
                               and a.startswith(("/", "~/")) and "\n" not in a]
            scripts = [_expand_user(c.strip(), self.user_home) for c in dict.fromkeys(candidates)]
            scripts = [p for p in scripts if p.is_absolute()]
            inside = [p for p in scripts if self.files.inside(p)]
            for script in inside:
                if self.is_file(script):
                    self.scan_script(script)
            if not inside and scripts:
                # An interpreter outside with its script inside (/bin/sh ~/get-key.sh) was read
                # where it matters; a program outside only is for a person to look at.
                self.notes.append(
                    f"{config}: secrets provider {name!r} runs {scripts[0]}, outside the "
                    "agent's tree: not read. Check it for hard-coded secrets by hand")

    def scan_script(self, path: Path) -> None:
        """A short script read as text (not deferred: it is no log): distinctive tokens
        anywhere, ``NAME=value`` assignments under secret names; in a binary, tokens only."""
        if not self.first_visit(path, "script"):
            return
        data = self.read_bytes(path, MAX_SCRIPT_BYTES)
        if not data:
            return
        binary = b"\0" in data
        text = data.replace(b"\0", b" ").decode("utf-8", errors="replace")
        line_of = _LineCounter(text)
        for match in sp.find_in_text(text):
            line = line_of(match.start)
            self.consider(match.value, Location(str(path), f"line {line}"), name="",
                          group=(str(path), str(line)), hints=(match.recognition,))
        if binary:
            return
        line_of = _LineCounter(text)
        for assignment in _ASSIGNMENT_RE.finditer(text):
            name, value = assignment.group(1), assignment.group(2)
            hint = sp.recognize_env_name(name.upper())
            if hint is None and not sp.looks_like_secret_name(name):
                continue
            line = line_of(assignment.start(2))
            self.consider(value, Location(str(path), f"line {line}"), name=name,
                          group=(str(path), str(line)), hints=(hint,))

    def scan_tmp_dirs(self, tmp_dirs: Sequence[Path]) -> None:
        for tmp in tmp_dirs:
            for path in self.list_dir(tmp):
                name = path.name
                if name in PRODUCT_WORDS:
                    for log in self.list_dir(path):
                        if log.suffix == ".log":
                            self.scan_log(log)
                elif any(name.startswith(f"{w}-") for w in PRODUCT_WORDS) and self.is_dir(path):
                    for entry in self.list_dir(path):
                        if entry.name.startswith("gateway.") and entry.suffix == ".lock":
                            self.read_lock(entry)
                        elif entry.suffix == ".log":
                            self.scan_log(entry)

    def read_lock(self, path: Path) -> None:
        text = self.read_text(path, 64 * 1024)
        if text is None:
            return
        try:
            data = json.loads(text)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        pid = data.get("pid") if isinstance(data.get("pid"), int) and data["pid"] > 0 else None
        self.locks.append(
            GatewayLock(
                path=str(path),
                pid=pid,
                config_path=data.get("configPath")
                if isinstance(data.get("configPath"), str)
                else None,
                created_at=data.get("createdAt")
                if isinstance(data.get("createdAt"), str)
                else None,
                alive=pid is not None and _pid_alive(pid),
            )
        )

    # ---- references, pairing, merging ------------------------------------------------------------

    def resolve_references(self) -> list[SecretReference]:
        # OpenClaw never overrides: the process environment first, then the service's, then the
        # dotenv files, then the config's env block (research/openclaw.md §1.4).
        ordered: list[_EnvSource] = [_EnvSource(ENVIRONMENT_LOCATION, self.env)]
        ordered += [
            s for s in self.env_sources if s.path in {svc.path for svc, _ in self.service_envs}
        ]
        ordered += [s for s in self.env_sources if s not in ordered]
        resolved: list[SecretReference] = []
        for ref in self.references:
            fp: str | None = None
            if ref.source in {"env-substitution", "env"}:
                source = next((s for s in ordered if ref.target in s.values), None)
                if source is not None:
                    value = source.values[ref.target]
                    fp = fingerprint(value)
                    self.consider(
                        value,
                        Location(source.path, source.key_of(ref.target)),
                        name=ref.target,
                        group=(source.path, ""),
                        hints=(sp.recognize_env_name(ref.target), ref.hint),
                        force=True,
                    )
                else:
                    self.notes.append(
                        f"{ref.path}: {ref.key} refers to ${{{ref.target}}}, which is not set "
                        "in any environment or dotenv file clawback could read"
                    )
            elif ref.source == "file":
                fp = self.resolve_file_reference(ref)
            else:
                self.notes.append(
                    f"{ref.path}: {ref.key} is stored externally ({ref.source} SecretRef "
                    f"{ref.target}); clawback cannot see or rotate it from here"
                )
            resolved.append(SecretReference(ref.path, ref.key, ref.source, ref.target, fp))
        return resolved

    def resolve_file_reference(self, ref: _PendingReference) -> str | None:
        provider, _, pointer = ref.target.partition(":")
        spec = self.file_secret_sources.get(provider)
        if not isinstance(spec, dict) or spec.get("source") != "file" or not spec.get("path"):
            self.notes.append(
                f"{ref.path}: {ref.key} uses secrets provider {provider!r}, "
                "which no config defines as a file provider"
            )
            return None
        path = _expand_user(str(spec["path"]), self.user_home)
        text = self.read_text(path, MAX_CONFIG_BYTES)
        if text is None:
            return None
        if spec.get("mode") == "singleValue":
            value, key = text.strip(), ""
        else:
            try:
                node: Any = _decode_json5(text)
            except _ParseError:
                return None
            segments = [s.replace("~1", "/").replace("~0", "~") for s in pointer.split("/")[1:]]
            for segment in segments:
                node = node.get(segment) if isinstance(node, dict) else None
            if not isinstance(node, str):
                return None
            value, key = node, format_key_path(segments)
        self.consider(
            value,
            Location(str(path), key),
            name=key.rsplit(".", 1)[-1] or "secret",
            group=(str(path),),
            hints=(ref.hint,),
            force=True,
        )
        return fingerprint(value)

    def credentials(self) -> tuple[Credential, ...]:
        pairs, tokens = self.pair_aws()
        twilio = self.pair_twilio()
        by_value: dict[str, list[_Sighting]] = defaultdict(list)
        for sighting in self.sightings:
            by_value[sighting.value].append(sighting)
        credentials: list[Credential] = []
        for value, sightings in by_value.items():
            recognition, key_id = self.best_recognition(sightings, pairs)
            kinds = {
                s.recognition.kind
                for s in sightings
                if s.recognition.confidence >= Confidence.LOCATION
            }
            if len(kinds) > 1:
                self.notes.append(
                    f"the same secret {fingerprint(value)} is used as {', '.join(sorted(kinds))}"
                )
            accounts = {s.account for s in sightings if s.account}
            beside = next((twilio[id(s)] for s in sightings if id(s) in twilio), None)
            if beside is not None and recognition.provider == "twilio":
                key_id = beside[0] or key_id
                accounts = accounts or ({beside[1]} if beside[1] else set())
            companions = next((tokens[id(s)] for s in sightings if id(s) in tokens), {})
            credentials.append(
                Credential.from_secret(
                    recognition.provider,
                    recognition.kind,
                    value,
                    (s.location for s in sightings),
                    key_id=key_id,
                    account=accounts.pop() if len(accounts) == 1 else None,
                    companions=companions,
                )
            )
        credentials.sort(key=lambda c: (c.provider, c.kind, c.key_id or "", c.fingerprint))
        return tuple(credentials)

    def pair_aws(self) -> tuple[dict[int, str], dict[int, dict[str, str]]]:
        """Which AWS key id (and session token) goes with which secret sighting.

        Within one place (a file, an INI section, a JSON object), an id and a secret pair when
        their names have the same stem; a place with one id and one secret pairs them whatever
        their names. Anything else stays unpaired, with a note: a secret with the wrong id
        would have the wrong key revoked and the live one never looked at.
        """
        ids: dict[int, str] = {}
        tokens: dict[int, dict[str, str]] = {}
        by_group: dict[tuple[str, ...], list[_Sighting]] = defaultdict(list)
        for sighting in self.sightings:
            by_group[sighting.group].append(sighting)
        for group, members in by_group.items():
            secrets = [s for s in members if s.recognition.kind in _AWS_SECRET_KINDS]
            session_tokens = [s for s in members if s.recognition.kind == "aws:session_token"]
            found = [(n, i) for n, i in self.aws_ids.get(group, []) if _id_provider(i) == "aws"]
            if not secrets:
                continue
            for secret in secrets:
                stem = _pair_stem(secret.name)
                same = [key_id for name, key_id in found if _pair_stem(name) == stem]
                if len(same) == 1:
                    ids[id(secret)] = same[0]
                same_tokens = [t for t in session_tokens if _pair_stem(t.name) == stem]
                if len(same_tokens) == 1:
                    tokens[id(secret)] = {"session_token": same_tokens[0].value}
            unpaired = [s for s in secrets if id(s) not in ids]
            if len(found) == 1 and len(secrets) == 1 and unpaired:
                ids[id(unpaired[0])] = found[0][1]
            elif unpaired and found:
                for secret in unpaired:
                    self.notes.append(
                        f"{secret.location}: an AWS secret whose key id cannot be told apart "
                        f"from {len(found)} key ids beside it (names that do not pair up); "
                        "find its key id in IAM by hand"
                    )
            if len(secrets) == 1 and len(session_tokens) == 1 and id(secrets[0]) not in tokens:
                tokens[id(secrets[0])] = {"session_token": session_tokens[0].value}
        return ids, tokens

    def pair_twilio(self) -> dict[int, tuple[str | None, str | None]]:
        """(API key SID, account SID) of each Twilio secret sighting, where its place says.

        An API key's secret pairs with the ``SK…`` SID whose name has the same stem
        (TWILIO_API_KEY with TWILIO_API_SECRET), or with the only SID beside it; every Twilio
        secret in a place with exactly one ``AC…`` account SID belongs to that account.
        """
        paired: dict[int, tuple[str | None, str | None]] = {}
        for sighting in self.sightings:
            if sighting.recognition.provider != "twilio":
                continue
            ids = self.aws_ids.get(sighting.group, [])
            keys = [(n, i) for n, i in ids if i.startswith("SK") and _id_provider(i) == "twilio"]
            accounts = {i for _, i in ids if i.startswith("AC") and _id_provider(i) == "twilio"}
            key_sid = None
            if sighting.recognition.kind == "twilio:api_key_secret":
                stem = _pair_stem(sighting.name)
                same = [i for n, i in keys if _pair_stem(n) == stem]
                key_sid = same[0] if len(same) == 1 else (keys[0][1] if len(keys) == 1 else None)
            account = accounts.pop() if len(accounts) == 1 else None
            if key_sid or account:
                paired[id(sighting)] = (key_sid, account)
        return paired

    def best_recognition(
        self, sightings: Sequence[_Sighting], pairs: Mapping[int, str] | None = None
    ) -> tuple[Recognition, str | None]:
        counts = Counter(s.recognition.kind for s in sightings)
        best = max(
            sightings,
            key=lambda s: (
                s.recognition.confidence,
                s.recognition.provider != sp.UNKNOWN,
                counts[s.recognition.kind],
                s.recognition.kind,
            ),
        ).recognition
        key_id = best.key_id or next(
            (s.recognition.key_id for s in sightings if s.recognition.key_id), None
        )
        if best.provider == "aws" and best.kind == "aws:access_key":
            pairs = self.pair_aws()[0] if pairs is None else pairs
            paired = next((pairs[id(s)] for s in sightings if id(s) in pairs), None)
            if paired is not None:
                key_id = paired
                if paired.startswith("ASIA"):
                    best = Recognition("aws", "aws:session", best.confidence)
        return best, key_id


# --------------------------------------------------------------------------------------------
# Small parsers and helpers
# --------------------------------------------------------------------------------------------


@dataclass
class _Unit:
    description: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    environment_files: list[Path] = field(default_factory=list)
    working_directory: Path | None = None


def _parse_unit(text: str, user_home: Path) -> _Unit:
    """The parts of a systemd unit that matter here; specifiers %h and %% are expanded."""
    import shlex

    unit = _Unit()
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        logical.append(pending + raw)
        pending = ""
    for line in logical:
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";", "[")) or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        key, value = key.strip(), value.strip().replace("%h", str(user_home)).replace("%%", "%")
        if key == "Environment":
            try:
                words = shlex.split(value)
            except ValueError:
                words = value.split()
            for word in words:
                name, sep, val = word.partition("=")
                if sep:
                    unit.environment[name] = val
        elif key == "EnvironmentFile":
            unit.environment_files.append(Path(value.lstrip("-")))
        elif key == "WorkingDirectory":
            unit.working_directory = Path(value.lstrip("-"))
        elif key == "Description":
            unit.description = value
    return unit


def _table(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``parent[key]`` when the config made it a table; an empty one when it is missing or the
    agent wrote something else there (a string, a list)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _compose_mapping(block: Any) -> dict[str, str]:
    """A compose ``environment``/``args`` block as name -> value: a map, or a list of
    ``NAME=value`` items (a bare ``NAME`` passes the host's value through: no value here)."""
    items: list[tuple[Any, Any]] = []
    if isinstance(block, dict):
        items = list(block.items())
    elif isinstance(block, list):
        items = [(name, value) for name, _, value in
                 (item.partition("=") for item in block if isinstance(item, str) and "=" in item)]
    return {
        str(name).strip(): str(value)
        for name, value in items
        if isinstance(name, str) and isinstance(value, str | int | float)
        and not isinstance(value, bool) and name.strip()
    }


def _compose_env_files(value: Any) -> list[str]:
    """``env_file``: a path, a list of paths, or of ``{path: …, required: …}``."""
    entries = value if isinstance(value, list) else [value]
    paths = [e.get("path") if isinstance(e, dict) else e for e in entries]
    return [p for p in paths if isinstance(p, str) and p.strip()]


def _pieces(text: str, size: int) -> Iterator[tuple[int, str]]:
    """``text`` in pieces of about ``size`` characters, cut after a newline where there is
    one (a token never spans lines); (offset, piece)."""
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind("\n", start, end)
            end = cut + 1 if cut > start else end
        yield start, text[start:end]
        start = end


def _version_in(description: str) -> str | None:
    match = re.search(r"\bv(\d{4}\.\d+\.\d+(?:-[\w.]+)?)", description)
    return match.group(1) if match else None


def _service_state_dir(environment: Mapping[str, str], user_home: Path) -> str:
    explicit = environment.get("OPENCLAW_STATE_DIR") or environment.get("CLAWDBOT_STATE_DIR")
    if explicit:
        return str(_expand_user(explicit, user_home))
    profile = environment.get("OPENCLAW_PROFILE")
    return str(user_home / (f".openclaw-{profile}" if profile else ".openclaw"))


def _looks_like_state_dir(files: AgentFiles, path: Path) -> bool:
    return files.is_dir(path) and any(
        files.exists(path / name) for name in (*CONFIG_NAMES, "agents", "credentials")
    )


def _agent_ids(files: AgentFiles, state: Path, merged: Mapping[str, Any]) -> list[str]:
    ids = ["main"]
    agents = merged.get("agents")
    listed = agents.get("list") if isinstance(agents, dict) else None
    if isinstance(listed, list):
        ids += [a["id"] for a in listed if isinstance(a, dict) and isinstance(a.get("id"), str)]
    with contextlib.suppress(OSError):
        ids += [e.name for e in files.scandir(state / "agents") if e.is_dir]
    return list(dict.fromkeys(i for i in ids if i and "/" not in i and i not in {".", ".."}))


def _workspaces(state: Path, merged: Mapping[str, Any], user_home: Path) -> list[Path]:
    found = [state / "workspace"]
    agents = merged.get("agents")
    if isinstance(agents, dict):
        defaults = agents.get("defaults")
        if isinstance(defaults, dict) and isinstance(defaults.get("workspace"), str):
            found.append(_expand_user(defaults["workspace"], user_home))
        listed = agents.get("list")
        if isinstance(listed, list):
            found += [
                _expand_user(a["workspace"], user_home)
                for a in listed
                if isinstance(a, dict) and isinstance(a.get("workspace"), str)
            ]
    return list(dict.fromkeys(p for p in found if p.is_absolute()))


def config_file(state: Path, files: AgentFiles | None = None) -> Path | None:
    """The config OpenClaw reads in this state dir (first of its names that is a regular
    file; a link there is not followed). ``files``: the agent's tree (default: ``state``)."""
    files = files if files is not None else AgentFiles([state])
    return next((state / name for name in CONFIG_NAMES if files.is_file(state / name)), None)


def workspace_dirs(state: Path, user_home: Path, files: AgentFiles | None = None) -> list[Path]:
    """The agent workspaces this state dir's config names (``agents.defaults.workspace``,
    ``agents.list[].workspace``), and ``<state>/workspace``, the default."""
    files = files if files is not None else AgentFiles([user_home, state])
    config = config_file(state, files)
    merged = load_config(config, files=files).merged if config is not None else {}
    return _workspaces(state, merged, user_home)


def _judge(
    value: str, recognition: Recognition | None, *, secret_name: bool, force: bool
) -> Recognition | None:
    """What a value is, given what its shape and place say; None if it is not a secret."""
    pem = sp.is_private_key_pem(value)
    if recognition is None or recognition.confidence == Confidence.SHAPE:
        if recognition is not None and (secret_name or force):
            judged: Recognition | None = recognition
        elif force or (secret_name and (pem or sp.plausible_secret_value(value))):
            judged = _UNKNOWN
        else:
            return None
    elif recognition.confidence == Confidence.LOCATION and not force and not pem:
        # A known place can still hold a placeholder, a path, a URL or an unexpanded $VAR.
        usable = (len(value) >= 4 and " " not in value and "://" not in value
                  and value[0] != "$" and not sp.is_documentation_example(value)
                  and not sp.is_placeholder_word(value))
        judged = recognition if usable else None
        if judged is not None and not sp.fits_kind(judged.kind, value):
            # Not the documented shape of what the place holds: a placeholder, or a secret
            # clawback cannot name.
            plausible = secret_name and sp.plausible_secret_value(value)
            judged = _UNKNOWN if plausible else None
    else:
        judged = recognition
    if judged is not None and pem and not judged.kind.endswith("private_key"):
        judged = Recognition(judged.provider, f"{judged.provider}:private_key", judged.confidence)
    return judged


def _names_secret_file(name: str) -> bool:
    """``tokenFile``, ``passwordFile``, ``serviceAccountFile``: the value is a path to a secret."""
    return name.endswith("File") and (
        sp.looks_like_secret_name(name[:-4]) or name == "serviceAccountFile"
    )


def _is_secret_ref(node: Mapping[str, Any]) -> bool:
    return node.get("source") in {"env", "file", "exec"} and isinstance(node.get("id"), str)


def _json_field(files: AgentFiles, path: Path, name: str) -> str | None:
    read = _read_bytes(files, path, 1024 * 1024)
    if read is None:
        return None
    try:
        data = json.loads(read[0])
    except ValueError:
        return None
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _iter_state_dirs(explicit: Sequence[Path]) -> Iterator[Path]:
    seen: set[str] = set()
    for path in explicit:
        real = os.path.abspath(path)
        if real not in seen:
            seen.add(real)
            yield Path(path)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


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
    with _agent_files(home, [], None) as files:
        scan = _Discovery(home, env or {}, files)
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
    files = _agent_files(user_home, [*configured, *(Path(t) for t in tmp_dirs)], uid)
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    scan = _Discovery(user_home, env or {}, files, free_text=free_text, deadline=deadline)
    try:
        inventory = _discover(scan, state_dirs, configured, tmp_dirs, system_service_dirs)
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


# One note per refused place is plenty to act on; a home full of planted links must not bury
# the rest.
MAX_NOTES = 200


def _discover(
    scan: _Discovery,
    state_dirs: Sequence[Path] | None,
    configured: Sequence[Path],
    tmp_dirs: Sequence[Path],
    system_service_dirs: Sequence[Path],
) -> Inventory:
    files = scan.files
    scan.scan_services(system_service_dirs)
    if state_dirs is None:
        chosen = scan.candidate_state_dirs()
    else:
        chosen = list(_iter_state_dirs(configured))
        listed = {os.path.abspath(p) for p in chosen}
        for service in scan.services:
            if (
                service.state_dir
                and os.path.abspath(service.state_dir) not in listed
                and scan.is_dir(Path(service.state_dir))
            ):
                scan.notes.append(
                    f"service {service.name} uses state dir {service.state_dir}, which is not "
                    "in the configured state_dirs; it was not scanned"
                )
    for state in chosen:
        kind = files.kind(state)
        if kind == "directory":
            scan.scan_state_dir(state)
        elif kind is None:
            scan.notes.append(f"state dir {state} does not exist")
        else:
            scan.note_refused(state, kind)
    for config in scan.config_overrides():
        # OPENCLAW_CONFIG_PATH may point outside every state dir.
        if scan.is_file(config) and config not in scan.config_paths:
            scan.scan_config(config)
            scan.config_paths.append(config)
    scan.scan_user_files()
    scan.scan_compose_files(chosen)
    scan.scan_exec_scripts()
    scan.scan_tmp_dirs([Path(p) for p in tmp_dirs])
    references = scan.resolve_references()
    scan.locate_known_values()
    credentials = scan.credentials()
    notes = list(dict.fromkeys(scan.notes))
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES], f"... and {len(notes) - MAX_NOTES} more such notes"]
    return Inventory(
        credentials=credentials,
        state_dirs=tuple(chosen),
        config_paths=tuple(scan.config_paths),
        services=tuple(scan.services),
        gateways=tuple(scan.gateways),
        gateway_locks=tuple(scan.locks),
        references=tuple(references),
        notes=tuple(notes),
        deferred=tuple(dict.fromkeys(scan.deferred)),
    )


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
    files = _agent_files(user_home, [*configured, *(Path(t) for t in tmp_dirs)], uid)
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    scan = _Discovery(user_home, {}, files, free_text=True, deadline=deadline)
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
