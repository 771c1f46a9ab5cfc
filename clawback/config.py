"""``clawback.toml``: which agent to protect and where the admin credentials live.

The file holds references to credentials (``keyring:SERVICE/USER`` or ``env:NAME``), never the
credentials themselves: a literal secret, or anything shaped like a known provider key, is
refused with advice and shown only as a fingerprint. Every error names ``file:line:column``;
tomllib keeps no positions, so a small scanner (:class:`_TomlLocator`) finds them again.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import hashlib
import ipaddress
import os
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from clawback.config_file import CONFIG_FILE_NAME as CONFIG_FILE_NAME
from clawback.config_file import find_config as find_config
from clawback.errors import BadInput
from clawback.trusted_files import read_trusted_file
from responders.interface import fingerprint

REFERENCE_ADVICE = (
    "store the secret in keyring (`keyring set SERVICE USER`) and write "
    "keyring:SERVICE/USER, or export it and write env:NAME"
)

Loc = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def _expand_user(value: object) -> object:
    # `~` is the invoking user's home (or `~name` that user's), as in a shell.
    if isinstance(value, str):
        return Path(os.path.expanduser(value))
    if isinstance(value, Path):
        return value
    raise ValueError("expected a path (a string)")


ExpandedPath = Annotated[Path, BeforeValidator(_expand_user)]
Port = Annotated[int, Field(ge=1, le=65535)]
ServiceKind = Literal[
    "systemd", "systemd-user", "launchd", "docker", "compose", "supervisord", "pidfile", "process"
]


class _Section(BaseModel):
    # strict: TOML values are typed already; lax mode would turn uid = "1000" into 1000 silently.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Service(_Section):
    """How the agent runs, so it can be stopped through its supervisor."""

    kind: ServiceKind
    name: Annotated[str, Field(min_length=1)]
    socket: str | None = None
    supervisor_config: ExpandedPath | None = None
    pidfile: ExpandedPath | None = None
    compose_file: ExpandedPath | None = None
    unit: str | None = None
    label: str | None = None
    container: str | None = None

    @model_validator(mode="after")
    def _pidfile_kind_needs_a_pidfile(self) -> Service:
        if self.kind == "pidfile" and self.pidfile is None:
            raise ValueError('kind = "pidfile" needs pidfile = "/path/to/agent.pid"')
        return self


class Agent(_Section):
    state_dirs: list[ExpandedPath] = Field(default_factory=list)  # empty: discovered
    user_home: ExpandedPath = Field(default_factory=Path.home)
    tmp_dirs: list[ExpandedPath] = Field(default_factory=lambda: [Path("/tmp")])
    uid: Annotated[int, Field(ge=0)] | None = None
    gateway_port: Port = 18789
    services: list[Service] = Field(default_factory=list)


class Evidence(_Section):
    max_file_bytes: Annotated[int, Field(gt=0)] = 512 * 1024**2
    max_total_bytes: Annotated[int, Field(gt=0)] = 4 * 1024**3
    # Where host-wide files (/var/log/auth.log, crontabs) are read: "/" on a live host, a
    # sandbox's own root in the demo, a mounted image when snapshotting one.
    system_root: Annotated[str, Field(min_length=1)] = "/"


def _ip_network(source: str) -> str:
    try:
        return str(ipaddress.ip_network(source, strict=False))
    except ValueError:
        raise ValueError("not an IP address or network: expected e.g. 203.0.113.7/32") from None


class Network(_Section):
    ssh_port: Port = 22
    admin_sources: list[Annotated[str, AfterValidator(_ip_network)]] = Field(default_factory=list)
    rollback_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 5


# -- fleet: [[hosts]] and [fleet] (clawback contain --hosts) -----------------------------------

_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_SSH_TARGET = re.compile(
    r"(?:[A-Za-z_][A-Za-z0-9._-]*@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)"
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5]?[0-9]{1,4}))?"
)


def _loopback_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or parts.hostname not in (
        "127.0.0.1", "localhost", "::1"
    ):
        raise ValueError("must be an http(s) URL on this machine (127.0.0.1, localhost or ::1)")
    return value


def _host_name(value: str) -> str:
    if not _HOST_NAME.fullmatch(value):
        raise ValueError(
            "a host name is a letter or digit, then up to 62 letters, digits, '.', '_' or '-' "
            "(it names the host's evidence files)"
        )
    return value


def _ssh_target(value: str) -> str:
    if not _SSH_TARGET.fullmatch(value):
        raise ValueError(
            "expected user@address:port, e.g. root@192.0.2.10:22 (IPv6: root@[2001:db8::7]:22)"
        )
    return value


def _identity(value: str) -> str:
    if value == "agent":
        return value
    problem = reference_problem(value)
    if problem is not None:
        raise ValueError(
            f'identity is "agent" (the keys in your SSH agent) or a reference to a private key '
            f"kept in keyring, e.g. keyring:clawback/fleet-ssh-key: {problem}"
        )
    return value


class RemoteService(Service):
    """``[[hosts.agent.services]]``: paths are on that host, so ``~`` is left to it."""

    supervisor_config: str | None = None  # type: ignore[assignment]
    pidfile: str | None = None  # type: ignore[assignment]
    compose_file: str | None = None  # type: ignore[assignment]


class HostAgent(_Section):
    """``[hosts.agent]``: where the agent lives on that host. An unset key is found there
    (``user_home`` is the SSH user's home); the top-level ``[agent]`` describes this machine."""

    state_dirs: list[str] | None = None
    user_home: str | None = None
    tmp_dirs: list[str] | None = None
    uid: Annotated[int, Field(ge=0)] | None = None
    gateway_port: Port | None = None
    services: list[RemoteService] | None = None


class Host(_Section):
    """One ``[[hosts]]`` entry: an agent host ``clawback contain --hosts`` reaches over SSH."""

    name: Annotated[str, AfterValidator(_host_name)]
    ssh: Annotated[str, AfterValidator(_ssh_target)]
    identity: Annotated[str, AfterValidator(_identity)] = "agent"
    sudo: bool = False
    groups: list[Annotated[str, AfterValidator(_host_name)]] = Field(default_factory=list)
    python: Annotated[str, Field(min_length=1)] = "python3"
    agent: HostAgent = Field(default_factory=HostAgent)


class Fleet(_Section):
    known_hosts: ExpandedPath = Field(
        default_factory=lambda: Path(os.path.expanduser("~/.ssh/known_hosts"))
    )
    max_parallel: Annotated[int, Field(ge=1, le=64)] = 8
    connect_timeout_seconds: Annotated[int, Field(ge=1, le=300)] = 10


def _unique_host_names(hosts: list[Host]) -> list[Host]:
    seen: dict[str, int] = {}
    for index, host in enumerate(hosts):
        if host.name in seen:
            raise ValueError(
                f"host name {host.name!r} is used by [[hosts]] #{seen[host.name] + 1} and "
                f"#{index + 1}; names must be unique"
            )
        seen[host.name] = index
    return hosts


class Audit(_Section):
    # What the owner set as spending caps per provider (e.g. openai = "USD 50/month"): the
    # audit only records that a cap exists, it cannot read the provider's billing settings.
    spend_limits: dict[str, str] = Field(default_factory=dict)


class Investigate(_Section):
    """``[investigate]``: the investigation ``contain`` runs once its evidence is sealed.

    ``after_contain = false`` leaves it to ``clawback investigate INCIDENT``; ``rules`` are
    extra rules files (YAML, as ``clawback/investigate/rules.yaml``) for both;
    ``ask_providers = false`` keeps contain's investigation from asking the providers how the
    keys were used (``clawback investigate --ask-providers`` asks on demand).
    ``after_contain_seconds`` bounds contain's reading of the evidence (an agent can grow its
    logs to gigabytes); what it leaves unread is said, and ``clawback investigate`` reads all.
    """

    after_contain: bool = True
    after_contain_seconds: float = Field(default=120.0, ge=0)
    rules: list[ExpandedPath] = Field(default_factory=list)
    # After contain: ask each configured provider that can say (AWS: IAM last use, CloudTrail)
    # how the incident's keys were used.
    ask_providers: bool = True


class Drill(_Section):
    """``[drill]``: how a rotation proves the agent uses its new key before the old one goes.

    After the new key is in the agent's files, ``reload_command`` (an argv, run without a shell)
    restarts or reloads the agent so it reads them; the agent is then proven on the new key when
    ``health_url`` (loopback) answers 2xx, or, without one, when the gateway port accepts again,
    within ``grace_seconds``. Without a reload command, the provider's last-used time of the old
    key must not move for ``grace_seconds`` after the switch. Nothing proven: the old key stays.
    """

    reload_command: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    health_url: Annotated[str, AfterValidator(_loopback_url)] | None = None
    grace_seconds: Annotated[float, Field(ge=0, le=3600)] = 60.0


def _notify_reference(value: str) -> str:
    problem = reference_problem(value)
    if problem is not None:
        # A notification URL carries its own secret (a topic, a webhook token): a reference,
        # like every other credential. The value itself is never repeated.
        raise ValueError(f"{problem} (a notification URL holds its own secret: store it in "
                         "keyring, or export it, and write the reference)")
    return value


class Notify(_Section):
    """``[notify]``: where clawback says what it does while it contains, through Apprise.

    ``urls`` are references (``keyring:SERVICE/USER`` or ``env:NAME``) to Apprise URLs
    (``ntfy://``, ``json://``, ``slack://``, ``mailto://``, ...). A message goes out at the
    start, after each step with the latest checkpoint (shipped off this host), and at the end
    with the summary. Sending never holds containment up: each message gets
    ``timeout_seconds``, and at the end clawback waits at most ``flush_seconds`` for the last
    ones before it exits (they go on being sent in the background).
    """

    urls: list[Annotated[str, AfterValidator(_notify_reference)]] = Field(default_factory=list)
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    flush_seconds: Annotated[float, Field(ge=0, le=600)] = 15.0


class Config(_Section):
    agent: Agent = Field(default_factory=Agent)
    evidence: Evidence = Field(default_factory=Evidence)
    network: Network = Field(default_factory=Network)
    # One free-form table per responder; the responder validates its own keys later.
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    hosts: Annotated[list[Host], AfterValidator(_unique_host_names)] = Field(
        default_factory=list
    )
    fleet: Fleet = Field(default_factory=Fleet)
    audit: Audit = Field(default_factory=Audit)
    drill: Drill = Field(default_factory=Drill)
    investigate: Investigate = Field(default_factory=Investigate)
    notify: Notify = Field(default_factory=Notify)

    _source: Path | None = PrivateAttr(default=None)
    _sha256: str | None = PrivateAttr(default=None)
    _locator: _TomlLocator | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The file this config was read from; None for the built-in defaults."""
        return self._source

    @property
    def sha256(self) -> str | None:
        return self._sha256

    def settings(self) -> dict[str, Any]:
        """The plain dict handed to responders as ``context.settings``."""
        return self.model_dump(mode="json", include={"agent", "evidence", "network", "drill"})

    def provider(self, name: str) -> dict[str, Any]:
        """A copy of ``[providers.NAME]``; empty when the file has no such table."""
        return copy.deepcopy(self.providers.get(name, {}))

    def location_of(self, *loc: str | int) -> tuple[int, int] | None:
        """1-based (line, column) of a table, key or array item in the file, if it is there."""
        if self._locator is None:
            return None
        return self._locator.find(loc)

    def line_of(self, *loc: str | int) -> int | None:
        where = self.location_of(*loc)
        return where[0] if where is not None else None


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_config(path: Path | None, *, known_providers: Collection[str]) -> Config:
    """Read and validate ``path`` (None: the defaults); raise :class:`BadInput` on any problem."""
    if path is None:
        return Config()
    path = Path(path)
    return config_from_bytes(path, read_trusted_file(path, what="config"),
                             known_providers=known_providers)


def config_from_bytes(path: Path, raw: bytes, *, known_providers: Collection[str]) -> Config:
    """Validate ``raw``, the bytes read from ``path`` (after its owner and mode were checked)."""
    import tomllib

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput("the config is not UTF-8 text", path=path, line=line) from None

    # Before parsing: a key pasted into a broken file is still a key in a file.
    _refuse_secret_shapes(path, text)
    try:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _toml_error(path, text, exc) from None

        locator = _TomlLocator(text)
        _check_providers(path, document, locator, known_providers)
        try:
            config = Config.model_validate(document)
        except ValidationError as exc:
            raise _validation_error(path, exc, locator) from None
    except RecursionError:
        # Parsers recurse per level: a config nested thousands deep is bad input, not a bug.
        raise BadInput(
            "the config is nested too deeply to read (arrays or inline tables inside one "
            "another thousands of levels deep); a clawback.toml needs a few levels",
            path=path,
        ) from None
    config._source = path
    config._sha256 = hashlib.sha256(raw).hexdigest()
    config._locator = locator
    return config


_TOML_POSITION = re.compile(r"\s*\(at line (?P<line>\d+), column (?P<column>\d+)\)$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)$")


def _toml_error(path: Path, text: str, exc: Exception) -> BadInput:
    message = str(exc)
    position = _TOML_POSITION.search(message)
    line: int | None
    column: int | None
    if position is not None:
        line, column = int(position["line"]), int(position["column"])
        message = message[: position.start()]
    elif _TOML_AT_END.search(message) is not None:
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        message = _TOML_AT_END.sub("", message)
    else:
        line = column = None
    if message.startswith("Cannot overwrite a value"):
        message += ": this key or table is defined twice"
    return BadInput(f"invalid TOML: {message}", path=path, line=line, column=column)


def _validation_error(path: Path, exc: ValidationError, locator: _TomlLocator) -> BadInput:
    errors = exc.errors()
    located = []
    for error in errors:
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            where = locator.find(loc, prefer_key=True)
            message = _unknown_key_message(loc)
        elif kind == "missing":
            where = locator.find(loc[:-1])
            message = f"missing required key {loc[-1]!r} in {_section_name(loc[:-1])}"
        else:
            where = locator.find(loc)
            msg = str(error["msg"]).removeprefix("Value error, ")
            expected = msg.replace("Input should be", "expected", 1)
            got = f", got {_toml_kind(error['input'])}" if kind.endswith("_type") else ""
            message = f"{_dotted(loc) or 'the file'}: {expected}{got}"
        located.append(((where or (1, 1)), message))
    located.sort(key=lambda item: item[0])
    (line, column), message = located[0]
    if len(located) > 1:
        message += "".join(f"\n  also {path}:{ln}:{col}: {m}" for (ln, col), m in located[1:])
    return BadInput(message, path=path, line=line, column=column)


def _toml_kind(value: object) -> str:
    """What the operator wrote, by kind only: a value is never echoed (it could be a secret)."""
    kinds: list[tuple[type, str]] = [
        (bool, "a boolean"), (int, "an integer"), (float, "a decimal number"), (str, "a string"),
        (list, "an array"), (dict, "a table"),
    ]  # fmt: skip
    for python_type, name in kinds:
        if isinstance(value, python_type):
            return name
    return "a date or time"


_SECTION_MODELS: dict[Loc, type[BaseModel]] = {
    (): Config,
    ("agent",): Agent,
    ("evidence",): Evidence,
    ("network",): Network,
    ("fleet",): Fleet,
    ("drill",): Drill,
}


def _fleet_model(parent: Loc) -> type[BaseModel] | None:
    """The model of a table inside ``[[hosts]]`` (indexes vary, so not in _SECTION_MODELS)."""
    if parent[:1] != ("hosts",) or len(parent) < 2:
        return None
    models: dict[int, type[BaseModel]] = {2: Host, 3: HostAgent, 5: RemoteService}
    return models.get(len(parent))


def _unknown_key_message(loc: Loc) -> str:
    parent, name = loc[:-1], str(loc[-1])
    model = _SECTION_MODELS.get(parent)
    if model is None and parent[:2] == ("agent", "services"):
        model = Service
    if model is None:
        model = _fleet_model(parent)
    what = "table or key" if not parent else "key"
    message = f"unknown {what} {name!r} in {_section_name(parent)}"
    if model is not None:
        allowed = sorted(model.model_fields)
        close = difflib.get_close_matches(name, allowed, n=1)
        message += f"; allowed: {', '.join(allowed)}"
        message += f". Did you mean {close[0]!r}?" if close else ""
    return message


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _section_name(loc: Loc) -> str:
    if not loc:
        return "the top level"
    if loc[:2] == ("agent", "services") and len(loc) >= 3:
        return f"[[agent.services]] #{int(loc[2]) + 1}"
    if loc[:1] == ("hosts",) and len(loc) >= 2 and isinstance(loc[1], int):
        return f"[[hosts]] #{loc[1] + 1}" + (f" {_dotted(loc[2:])}" if len(loc) > 2 else "")
    return f"[{_dotted(loc)}]"


# --------------------------------------------------------------------------------------------
# Providers and credential references
# --------------------------------------------------------------------------------------------


_CREDENTIAL_WORDS = frozenset(
    {"token", "secret", "password", "passwd", "passphrase", "credential", "credentials", "key",
     "apikey", "admin", "auth", "pat", "private"}
)  # fmt: skip
# A last word that makes the key a name, an address or an identifier, not a secret.
_NOT_SECRET_SUFFIXES = frozenset(
    {"id", "ids", "url", "urls", "endpoint", "file", "path", "dir", "name", "names", "profile",
     "user", "username", "region", "account", "org", "type", "kind", "method", "arn", "role",
     # settings about a credential, not the credential: new_key_ready_seconds, token_ttl...
     "seconds", "secs", "ms", "minutes", "hours", "days", "timeout", "ttl", "count", "limit",
     "size", "bytes", "enabled", "version", "retries", "attempts"}
)  # fmt: skip
_KEYRING_REFERENCE = re.compile(r"keyring:[^/\s]+/\S+")
_ENV_REFERENCE = re.compile(r"env:[A-Za-z_][A-Za-z0-9_]*")
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,15}):")


def looks_like_credential_key(name: str) -> bool:
    """True when a config key's name says its value is a credential (e.g. admin_token)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    words = [w for w in re.split(r"[^a-z0-9]+", spaced) if w]
    if not words or words[-1] in _NOT_SECRET_SUFFIXES:
        return False
    return any(word in _CREDENTIAL_WORDS for word in words)


def reference_problem(value: object) -> str | None:
    """Why ``value`` is not a credential reference; None when it is one. Never echoes a secret."""
    if isinstance(value, str):
        if value.startswith("keyring:"):
            if _KEYRING_REFERENCE.fullmatch(value):
                return None
            return "a keyring reference must look like keyring:SERVICE/USER"
        if value.startswith("env:"):
            if _ENV_REFERENCE.fullmatch(value):
                return None
            return "an env reference must look like env:NAME (letters, digits and _)"
        scheme = _SCHEME.match(value)
        if scheme is not None and scheme["scheme"].lower() in _KNOWN_FOREIGN_SCHEMES:
            return (
                f"unsupported reference scheme {scheme['scheme']!r}: clawback reads credentials "
                f"only from keyring:SERVICE/USER or env:NAME"
            )
        if value == "":
            return "empty credential: expected keyring:SERVICE/USER or env:NAME"
    if isinstance(value, bool):
        return None  # a switch, not a secret
    if isinstance(value, str | int | float):
        return (
            f"a literal credential ({fingerprint(str(value))}) is written in the config and is "
            f"refused: {REFERENCE_ADVICE}"
        )
    return None


# Schemes someone might reach for instead of keyring/env. Naming one is safe to echo; anything
# else before a colon could be part of a secret, so it is treated as a literal.
_KNOWN_FOREIGN_SCHEMES = frozenset(
    {"vault", "file", "op", "pass", "aws", "awssm", "gcp", "gcpsm", "azure", "sops", "bw",
     "bitwarden", "lastpass", "doppler", "infisical", "secret", "secrets", "ssm", "kms", "http",
     "https", "cmd", "exec", "keychain", "literal", "plain", "base64"}
)  # fmt: skip


def _check_providers(
    path: Path, document: Mapping[str, Any], locator: _TomlLocator, known: Collection[str]
) -> None:
    providers = document.get("providers")
    if not isinstance(providers, dict):
        return  # absent, or a type error pydantic reports with its location
    known_sorted = sorted(known)
    for name, table in providers.items():
        if name not in known:
            line, column = locator.find(("providers", name), prefer_key=True) or (None, None)
            close = difflib.get_close_matches(name, known_sorted, n=1)
            raise BadInput(
                f"unknown provider {name!r} in [providers.{name}]"
                + (f". Did you mean {close[0]!r}?" if close else "")
                + f" Known providers: {', '.join(known_sorted) or '(none installed)'}",
                path=path,
                line=line,
                column=column,
            )
        if isinstance(table, dict):
            for loc, value in _credential_values(("providers", name), table):
                problem = reference_problem(value)
                if problem is not None:
                    line, column = locator.find(loc) or (None, None)
                    raise BadInput(
                        f"[providers.{name}] {_dotted(loc[2:])}: {problem}",
                        path=path,
                        line=line,
                        column=column,
                    )


def _credential_values(prefix: Loc, table: Mapping[str, Any]) -> Iterator[tuple[Loc, object]]:
    """(location, value) of every string under a key whose name says it is a credential.

    """
    for key, value in table.items():
        loc = (*prefix, key)
        if isinstance(value, dict):
            yield from _credential_values(loc, value)
        elif looks_like_credential_key(key):
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, dict):
                        yield from _credential_values((*loc, index), item)
                    else:
                        yield (*loc, index), item
            else:
                yield loc, value


# --------------------------------------------------------------------------------------------
# Secret-shaped literals anywhere in the file
# --------------------------------------------------------------------------------------------


# find_in_text covers provider keys; a pasted private key is refused too.
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


def _secret_shapes_in(text: str) -> list[tuple[int, str]]:
    """(offset, description safe to print) of each secret-shaped token."""
    from responders.kit.secret_patterns import find_in_text

    found = [
        (m.start, f"a {m.recognition.kind} credential ({fingerprint(m.value)})")
        for m in find_in_text(text)
    ]
    found += [(m.start(), "a private key block") for m in _PRIVATE_KEY.finditer(text)]
    return found


def _refuse_secret_shapes(path: Path, text: str) -> None:
    found = _secret_shapes_in(text)
    if not found:
        return
    offset, description = min(found)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    raise BadInput(
        f"this looks like {description}, written in the config: "
        f"clawback.toml holds only references to credentials. Remove it; {REFERENCE_ADVICE}. "
        "Treat the key as exposed if this file was ever shared or backed up.",
        path=path,
        line=line,
        column=column,
    )


# --------------------------------------------------------------------------------------------
# Positions in TOML text
# --------------------------------------------------------------------------------------------


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# Numbers, booleans and dates; a date-time may hold one space ("1979-05-27 07:32:00").
_BARE_VALUE = re.compile(r"[^,\]}\s#]+(?: [0-9:.+Z-]+)?")


@dataclass
class _TomlLocator:
    """Positions of the tables, keys, values and array items of a TOML text tomllib accepted.

    Keys are document paths as pydantic reports them: ("agent", "services", 0, "kind").
    """

    text: str
    key_at: dict[Loc, int] = field(default_factory=dict)  # offset of a key or table name
    value_at: dict[Loc, int] = field(default_factory=dict)  # offset of a value or table header
    _array_tables: dict[Loc, int] = field(default_factory=dict)  # last index of [[x]] per x
    _line_starts: list[int] = field(default_factory=list)
    _pos: int = 0  # the scanner's cursor

    def __post_init__(self) -> None:
        self._line_starts = [0] + [i + 1 for i, c in enumerate(self.text) if c == "\n"]
        # On a construct this scanner does not know it keeps what it found: errors past that
        # point fall back on the nearest known ancestor (or line 1), never a crash.
        with contextlib.suppress(ValueError, IndexError):
            self._scan()

    def find(self, loc: Sequence[str | int], *, prefer_key: bool = False) -> tuple[int, int] | None:
        """1-based (line, column) of ``loc``, or of its nearest ancestor that is in the text."""
        loc = tuple(loc)
        while loc:
            first, second = (self.key_at, self.value_at)
            if not prefer_key:
                first, second = second, first
            offset = first.get(loc, second.get(loc))
            if offset is not None:
                return self._line_column(offset)
            loc = loc[:-1]
            prefer_key = False
        return None

    def _line_column(self, offset: int) -> tuple[int, int]:
        import bisect

        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    # -- scanning -----------------------------------------------------------------------------

    def _peek(self, n: int = 1) -> str:
        return self.text[self._pos : self._pos + n]

    def _skip_blank(self, *, newlines: bool) -> None:
        while self._pos < len(self.text):
            c = self.text[self._pos]
            if c in " \t" or (newlines and c in "\r\n"):
                self._pos += 1
            elif c == "#":
                end = self.text.find("\n", self._pos)
                self._pos = len(self.text) if end < 0 else end
            else:
                return

    def _scan(self) -> None:
        table: Loc = ()
        while True:
            self._skip_blank(newlines=True)
            if self._pos >= len(self.text):
                return
            if self._peek() == "[":
                table = self._header()
            else:
                self._key_value(table)

    def _header(self) -> Loc:
        start = self._pos
        is_array = self._peek(2) == "[["
        self._pos += 2 if is_array else 1
        self._skip_blank(newlines=False)
        parts, offsets = self._key()
        self._skip_blank(newlines=False)
        self._pos += 2 if is_array else 1
        resolved: Loc = ()
        for i, (part, offset) in enumerate(zip(parts, offsets, strict=True)):
            resolved = (*resolved, part)
            last = i == len(parts) - 1
            if last and is_array:
                index = self._array_tables.get(resolved, -1) + 1
                self._array_tables[resolved] = index
                self.key_at.setdefault(resolved, offset)
                self.value_at.setdefault(resolved, start)
                resolved = (*resolved, index)
                self.key_at[resolved] = offset
                self.value_at[resolved] = start
            else:
                if resolved in self._array_tables:
                    resolved = (*resolved, self._array_tables[resolved])
                self.key_at.setdefault(resolved, offset)
                self.value_at.setdefault(resolved, start)
        return resolved

    def _key(self) -> tuple[list[str], list[int]]:
        parts, offsets = [], []
        while True:
            self._skip_blank(newlines=False)
            offsets.append(self._pos)
            c = self._peek()
            if c in "\"'":
                parts.append(self._string_value())
            else:
                match = _BARE_KEY.match(self.text, self._pos)
                if match is None:  # not valid TOML, which tomllib has ruled out
                    raise ValueError(f"unexpected {c!r} at offset {self._pos}")
                parts.append(match[0])
                self._pos = match.end()
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return parts, offsets
            self._pos += 1

    def _key_value(self, table: Loc) -> None:
        parts, offsets = self._key()
        loc = table
        for part, offset in zip(parts, offsets, strict=True):
            loc = (*loc, part)
            self.key_at.setdefault(loc, offset)
        self._skip_blank(newlines=False)
        self._pos += 1  # '='
        self._skip_blank(newlines=False)
        self._value(loc)

    def _value(self, loc: Loc) -> None:
        self.value_at[loc] = self._pos
        c = self._peek()
        if not c:
            raise ValueError("a value is missing at the end of the text")
        if c == "[":
            self._pos += 1
            index = 0
            while True:
                self._skip_blank(newlines=True)
                if self._pos >= len(self.text):
                    raise ValueError("unterminated array")
                if self._peek() == "]":
                    self._pos += 1
                    return
                self._value((*loc, index))
                index += 1
                self._skip_blank(newlines=True)
                if self._peek() == ",":
                    self._pos += 1
        elif c == "{":
            self._pos += 1
            while True:
                self._skip_blank(newlines=False)
                if self._pos >= len(self.text):
                    raise ValueError("unterminated inline table")
                if self._peek() == "}":
                    self._pos += 1
                    return
                self._key_value(loc)
                self._skip_blank(newlines=False)
                if self._peek() == ",":
                    self._pos += 1
        elif c in "\"'":
            self._string_value()
        else:
            match = _BARE_VALUE.match(self.text, self._pos)
            self._pos = match.end() if match else self._pos + 1

    def _string_value(self) -> str:
        """Skip a string starting at the cursor; return its text (escapes left as written)."""
        quote = self._peek()
        if self._peek(3) == quote * 3:
            end = self.text.find(quote * 3, self._pos + 3)
            while quote == '"' and end > 0 and _escaped(self.text, end):
                end = self.text.find(quote * 3, end + 1)
            if end < 0:
                raise ValueError("unterminated multi-line string")
            # A closing delimiter may be followed by up to two more quotes that belong to it.
            while self.text[end + 3 : end + 4] == quote:
                end += 1
            body = self.text[self._pos + 3 : end]
            self._pos = end + 3
            return body
        end = self._pos + 1
        while True:
            end = self.text.find(quote, end)
            if end < 0:
                raise ValueError("unterminated string")
            if quote == "'" or not _escaped(self.text, end):
                break
            end += 1
        body = self.text[self._pos + 1 : end]
        self._pos = end + 1
        return body


def _escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
