"""OpenClaw itself: the gateway's own secrets, paired devices, WhatsApp sessions, and a lockdown.

What each kind of secret gets:

* gateway token and password (``gateway.auth.token`` / ``.password``, ``OPENCLAW_GATEWAY_TOKEN``
  / ``_PASSWORD`` in dotenv files, unit ``Environment=``, the LaunchAgent plist, ``gateway.cmd``),
  hooks token, cron webhook token, Gmail push token, exec-approvals socket token: **rotated**. A
  new value (``secrets.token_urlsafe(32)``) is stored through the SecretStore first, then written
  to every place discovery found the old one, ``.bak*`` copies included. A free-text place (a
  log line, ``config-audit.jsonl``, shell history) gets a marker instead of the new secret. But
  ``contain`` and ``drill`` read free text in a second round, after the first rotations, and
  that round skips a fingerprint already handled: a token found first in a config keeps its old
  value in logs, transcripts and histories, as evidence of what the agent saw (sealed after
  it), and that value no longer works once the gateway restarts on the new one. A place
  clawback cannot edit (SQLite, the process environment) makes the outcome a manual step that
  names it.
* device and node tokens (``devices/paired.json``, ``identity/device-auth.json``,
  ``nodes/paired.json``): **cleared**, and the device or node **unpaired** in the gateway's
  stores, as ``openclaw devices remove`` does (``devices revoke`` only marks a token revoked,
  and 2026.2.26 issues a paired device a new token at its next connect); it must pair again.
* WhatsApp Web sessions (``credentials/whatsapp/<account>/``): logged out through ``openclaw
  channels logout`` when that binary is installed (it also unlinks the device at WhatsApp), then
  the session files are deleted. Without the binary the files are deleted and unlinking the device
  on the phone is a manual step: a stolen copy of ``creds.json`` keeps working until then.
* ``gateway.remote.*`` (this host's credential for *another* gateway), the device identity key and
  the OAuth sidecar key: manual steps. The first is checked on a host clawback does not reach;
  replacing the other two here would only lock the owner out of what they protect.

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

**Edits.** Before clawback first changes a file it copies it to ``<incident>/backups/`` (0600 in
a 0700 dir); the outcome's facts list every backup with the original's path and sha256, so the
timeline anchors them. JSON and JSON5 files are edited through json-five's round-trip model:
only the string token changes, comments and layout stay. Binary plists go through plistlib;
everything else (XML plists, dotenv, units, ``gateway.cmd``) is edited as text, replacing the
exact old value only where it stands alone, never inside a longer token. Every rewritten file
must still parse and must no longer hold the old value, or nothing is written.

**The agent's files are hostile.** Every read, rewrite and delete goes through
``responders.agent_files``: no link is followed anywhere in the agent's home, state dirs or temp
dirs (a planted or swapped-in link is reported, never written through), a FIFO or device is
refused without blocking, a file is rewritten only if it is still the one that was read (a
temporary file in the same directory, ``fsync``, ``renameat``), and nothing outside the agent's
tree is changed. A file clawback could not read whole, or a config of the install it could not
check for the old value, makes the outcome a manual step or a failure that names it, never
"rotated". Rewritten files keep their owner and mode, except that a file a new secret is
written into ends at most 0600: OpenClaw 2026.2.26 writes its systemd unit 0644 with
``OPENCLAW_GATEWAY_TOKEN`` in clear, and the rewritten unit must not hand the new token to every
local user. The
``openclaw`` CLI runs as the agent's user, never as root: it is the agent's code, reading the
agent's state.

**Why not ``openclaw config set``.** OpenClaw's config writer first copies the current file to
``openclaw.json.bak`` (``rotateConfigBackups``), so a write through it would re-create old
secrets in a file discovery listed before the run began, behind the rotation's back. The new
value would also sit on a command line (``/proc/<pid>/cmdline``, readable by every local user),
and the CLI is code the compromised agent could have rewritten (RFC 3227 §4.3). The CLI is used
only for the WhatsApp logout, which nothing else can do (unlinking the device at WhatsApp); the
sha256 of the binary that ran is recorded.

Config, the ``[providers.openclaw]`` table of clawback.toml (every key optional)::

    store_name = "openclaw/{kind}/{old}"   # keyring name of a new secret; {old} = the 8 hex of
                                           # the old value's fingerprint
    use_openclaw_cli = true                # WhatsApp logout through `openclaw channels logout`
    openclaw_binary = "openclaw"           # looked up in the system path only, or absolute
    cli_timeout_seconds = 15

The action ``openclaw.lockdown`` follows the official "Contain" steps (research/openclaw.md
§4.3) in every config file (``$include``d ones too) of every state dir in ``[agent]
state_dirs`` (or, when none is configured, every state dir discovery finds in the agent's
home, as the keys step does): ``gateway.bind`` becomes ``"loopback"``, a Tailscale
``serve``/``funnel`` mode becomes ``"off"``, ``dmPolicy``/``groupPolicy`` ``"open"`` becomes
``"disabled"``, and ``"*"`` leaves every ``allowFrom``/``groupAllowFrom`` list (config and
``credentials/*-allowFrom.json``). It also makes re-pairing need the owner's approval: clearing
device tokens alone is undone on loopback, where 2026.2.26 approves any new device silently
(the local CLI came back with ``operator.admin`` where it had ``operator.read``); see
``LOOPBACK_PROXIES`` for the mechanism and the setting (``gateway.trustedProxies``), which is
added to ``openclaw.json`` only (Clawdbot-era configs are left as they are).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets as token_source
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from responders.agent_files import AgentFiles, FileRead
from responders.interface import (
    Action,
    AlreadyRevoked,
    Capability,
    Credential,
    Done,
    Failed,
    Location,
    ManualRequired,
    Outcome,
    Planned,
    PreflightCheck,
    Responder,
    ResponderContext,
    ResponderError,
    Revoked,
    Rotated,
    RotationLedger,
    SecretStore,
    SecretValue,
    Skipped,
)
from responders.openclaw.layout import (
    CONFIG_NAMES,
    ENVIRONMENT_LOCATION,
    STATE_DIR_NAMES,
    Json5Error,
    decode_json5,
)

KIND_GATEWAY_TOKEN = "openclaw:gateway_token"
KIND_GATEWAY_PASSWORD = "openclaw:gateway_password"
KIND_REMOTE_TOKEN = "openclaw:gateway_remote_token"
KIND_REMOTE_PASSWORD = "openclaw:gateway_remote_password"
KIND_HOOKS_TOKEN = "openclaw:hooks_token"
KIND_CRON_TOKEN = "openclaw:cron_webhook_token"
KIND_GMAIL_PUSH_TOKEN = "openclaw:gmail_push_token"
KIND_EXEC_APPROVALS_TOKEN = "openclaw:exec_approvals_token"
KIND_DEVICE_TOKEN = "openclaw:device_token"
KIND_NODE_TOKEN = "openclaw:node_token"
KIND_DEVICE_KEY = "openclaw:device_private_key"
KIND_SIDECAR_KEY = "openclaw:auth_profile_secret_key"
KIND_WHATSAPP = "whatsapp:session"

# Who must be given the new value once the gateway runs again.
ROTATED_KINDS: Mapping[str, str] = {
    KIND_GATEWAY_TOKEN: "the Control UI, the CLI and every remote client need the new token",
    KIND_GATEWAY_PASSWORD: "everyone who signs in to the gateway needs the new password",
    KIND_HOOKS_TOKEN: "every webhook sender (POST /hooks) needs the new token",
    KIND_CRON_TOKEN: "every cron webhook caller needs the new token",
    KIND_GMAIL_PUSH_TOKEN: "update the Gmail Pub/Sub push subscription URL with the new token",
    KIND_EXEC_APPROVALS_TOKEN: "the exec-approvals socket reads the new token at start-up",
}
CLEARED_KINDS = frozenset({KIND_DEVICE_TOKEN, KIND_NODE_TOKEN})

DOCS_URL = "https://docs.openclaw.ai/gateway/security"
WHATSAPP_HELP_URL = "https://faq.whatsapp.com/"
FREE_TEXT_MARKER = "[secret removed by clawback]"
# Shorter values could stand alone by chance somewhere they are not the secret.
MIN_REPLACEABLE_LENGTH = 8
MAX_EDITABLE_BYTES = 64 * 1024 * 1024
# json-five keeps a whole token model in memory; bigger "JSON" files are edited as text.
MAX_MODEL_BYTES = 4 * 1024 * 1024
_TOKEN_CHARS = "A-Za-z0-9_+/-"
_LINE_KEY = re.compile(r"^line \d+$")
_KEY_SEGMENT = re.compile(r'\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.\[\]"\s]+)')
# openclaw.json, channels.json5, creds.json.bak, openclaw.json.bak.1 — not JSONL transcripts.
_JSON_NAME = re.compile(r"\.json5?(?:\.bak(?:\.\d+)?)?$")

# Every file edit (rotation, clearing, lockdown) holds this: several credentials share one file.
_FILE_LOCK = threading.RLock()


def agent_files_for(settings: Mapping[str, Any]) -> AgentFiles:
    """The agent's tree as discovery sees it: ``[agent]`` user_home (default: the invoking
    user's home, as discovery's), state_dirs and tmp_dirs."""
    agent = dict(settings.get("agent") or {})
    if not agent.get("user_home"):
        agent["user_home"] = str(Path.home())
    return AgentFiles.for_agent(agent)

Segment = str | int
KeyPath = tuple[Segment, ...]


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenClawSettings:
    """The validated ``[providers.openclaw]`` table (see the module docstring)."""

    store_name: str = "openclaw/{kind}/{old}"
    use_openclaw_cli: bool = True
    openclaw_binary: str = "openclaw"
    cli_timeout_seconds: float = 15.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> OpenClawSettings:
    """Validate the config table; raise ResponderError saying what to fix."""
    from pydantic import TypeAdapter, ValidationError

    try:
        settings = TypeAdapter(OpenClawSettings).validate_python(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ResponderError(f"[providers.openclaw] is invalid: {problems}") from None
    try:
        settings.store_name.format(kind="gateway_token", old="0123abcd")
    except (KeyError, IndexError, ValueError):
        raise ResponderError(
            "[providers.openclaw] store_name may only use the fields {kind} and {old}"
        ) from None
    if settings.cli_timeout_seconds <= 0:
        raise ResponderError("[providers.openclaw] cli_timeout_seconds must be positive")
    return settings


# --------------------------------------------------------------------------------------------
# Key paths (the inverse of responders.openclaw.discovery.format_key_path)
# --------------------------------------------------------------------------------------------


def parse_key_path(key: str) -> KeyPath | None:
    """``profiles["a b"].key[0]`` → ``("profiles", "a b", "key", 0)``; None if malformed."""
    segments: list[Segment] = []
    position = 0
    while position < len(key):
        match = _KEY_SEGMENT.match(key, position)
        if match is None or match.end() == position:
            return None
        if match.group(1) is not None:
            segments.append(int(match.group(1)))
        elif match.group(2) is not None:
            segments.append(json.loads(match.group(2)))
        else:
            segments.append(match.group(3))
        position = match.end()
    return tuple(segments) if segments else None


def _value_at(data: Any, path: KeyPath) -> Any:
    for segment in path:
        if not isinstance(data, list | dict):
            return None
        try:
            data = data[segment]  # type: ignore[index]
        except (IndexError, KeyError, TypeError):
            return None
    return data


def _strings_in(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from _strings_in(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from _strings_in(value)


# --------------------------------------------------------------------------------------------
# JSON5 documents edited in place (json-five's round-trip model keeps comments and layout)
# --------------------------------------------------------------------------------------------


class Unparseable(Exception):
    """A file that should parse does not; the message never quotes the file's content."""


class Json5Document:
    """A JSON or JSON5 text whose string values and list items can change, comments kept."""

    def __init__(self, text: str) -> None:
        from json5.loader import ModelLoader, loads

        try:
            self._model = loads(text, loader=ModelLoader())
        except Exception:  # json-five raises its own errors, which quote the text
            raise Unparseable("not valid JSON5") from None

    def dump(self) -> str:
        from json5.dumper import ModelDumper, dumps

        return str(dumps(self._model, dumper=ModelDumper()))

    @staticmethod
    def _key_name(key: Any) -> str:
        name = getattr(key, "name", None)
        return str(name if name is not None else key.characters)

    def _strings(self, node: Any) -> Iterator[Any]:
        from json5 import model

        if isinstance(node, model.String):
            yield node
        elif isinstance(node, model.JSONObject | model.JSONArray):
            for value in node.values:
                yield from self._strings(value)

    def replace_strings(self, old: str, new: str) -> int:
        """Every string value equal to ``old`` becomes ``new``; how many there were."""
        count = 0
        for node in self._strings(self._model.value):
            if node.characters == old:
                # In place, so the whitespace and comments attached to the node stay.
                node.characters = new
                node.raw_value = json.dumps(new)
                count += 1
        return count

    def _node(self, path: KeyPath) -> Any:
        from json5 import model

        node = self._model.value
        for segment in path:
            if isinstance(node, model.JSONObject) and isinstance(segment, str):
                index = self._member(node, segment)
                if index is None:
                    return None
                node = node.values[index]
            elif isinstance(node, model.JSONArray) and isinstance(segment, int):
                if not 0 <= segment < len(node.values):
                    return None
                node = node.values[segment]
            else:
                return None
        return node

    def _member(self, node: Any, name: str) -> int | None:
        for index, key in enumerate(node.keys):
            if self._key_name(key) == name:
                return index
        return None

    def set_string(self, path: KeyPath, value: str) -> bool:
        from json5 import model

        node = self._node(path)
        if not isinstance(node, model.String):
            return False
        node.characters = value
        node.raw_value = json.dumps(value)
        return True

    def remove_member(self, path: KeyPath) -> bool:
        from json5 import model

        if not path or not isinstance(path[-1], str):
            return False
        parent = self._node(path[:-1])
        if not isinstance(parent, model.JSONObject):
            return False
        index = self._member(parent, path[-1])
        if index is None:
            return False
        del parent.keys[index]
        del parent.values[index]
        return True

    def ensure_items(self, path: KeyPath, values: Sequence[str]) -> bool:
        """The list at ``path`` holds every one of ``values`` (appended in order), creating
        the list and any missing object on the way; False if something else is in the way."""
        from json5 import model

        node = self._model.value
        for depth, segment in enumerate(path):
            if not isinstance(node, model.JSONObject) or not isinstance(segment, str):
                return False
            index = self._member(node, segment)
            if index is None:
                last = depth == len(path) - 1
                child: Any = model.JSONArray() if last else model.JSONObject()
                self._add_member(node, segment, child)
                node = child
            else:
                node = node.values[index]
        if not isinstance(node, model.JSONArray):
            return False
        present = {v.characters for v in node.values if isinstance(v, model.String)}
        for value in values:
            if value not in present:
                node.values.append(model.DoubleQuotedString(value, json.dumps(value)))
        return True

    @staticmethod
    def _add_member(node: Any, name: str, value: Any) -> None:
        """Append ``name: value``, quoted and indented like the members already there."""
        from json5 import model

        quoted = bool(node.keys) and not isinstance(node.keys[-1], model.Identifier)
        key = model.DoubleQuotedString(name, json.dumps(name)) if quoted else model.Identifier(
            name, name)
        if node.keys:
            key.wsc_before = list(node.keys[-1].wsc_before)
            last = node.values[-1]
            value.wsc_after, last.wsc_after = list(last.wsc_after), []
        value.wsc_before = [" "]
        node.keys.append(key)
        node.values.append(value)

    def remove_items(self, path: KeyPath, value: str) -> int:
        """Drop the string items equal to ``value`` from the list at ``path``."""
        from json5 import model

        node = self._node(path)
        if not isinstance(node, model.JSONArray):
            return 0
        kept = [
            v for v in node.values if not (isinstance(v, model.String) and v.characters == value)
        ]
        removed = len(node.values) - len(kept)
        node.values[:] = kept
        return removed


def _decode_json5(text: str) -> Any:
    try:
        return decode_json5(text)
    except Json5Error:
        raise Unparseable("not valid JSON5") from None


# --------------------------------------------------------------------------------------------
# Files: formats, backups, atomic rewrites
# --------------------------------------------------------------------------------------------


def _format_of(path: Path, data: bytes) -> str:
    if data.startswith(b"bplist"):
        return "plist-binary"
    name = path.name.lower()
    if ".plist" in name:
        return "plist-xml"
    if _JSON_NAME.search(name) and len(data) <= MAX_MODEL_BYTES:
        return "json"
    return "text"


def _text(data: bytes) -> str:
    # surrogateescape keeps bytes that are not UTF-8 exactly as they were.
    return data.decode("utf-8", errors="surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def replace_standalone(text: str, old: str, new: str) -> tuple[str, int]:
    """Replace ``old`` where it is not part of a longer token; (text, replacements)."""
    pattern = re.compile(rf"(?<![{_TOKEN_CHARS}]){re.escape(old)}(?![{_TOKEN_CHARS}])")
    return pattern.subn(lambda _match: new, text)


def _plist_replace(data: Any, old: str, new: str) -> Any:
    if isinstance(data, str):
        return data.replace(old, new)
    if isinstance(data, dict):
        return {key: _plist_replace(value, old, new) for key, value in data.items()}
    if isinstance(data, list):
        return [_plist_replace(value, old, new) for value in data]
    return data


def file_holds(path: Path, data: bytes, secret: str) -> bool:
    """Whether ``data`` (the content of ``path``) still holds ``secret`` in any form it parses to.

    JSON may escape a value (``\\/``, ``\\u0041``), so a JSON file is also searched decoded.
    """
    if _bytes(secret) in data:
        return True
    form = _format_of(path, data)
    if form == "json":
        try:
            return any(secret in s for s in _strings_in(_decode_json5(_text(data))))
        except Unparseable:
            return False
    if form == "plist-binary":
        import plistlib

        try:
            return any(secret in s for s in _strings_in(plistlib.loads(data)))
        except Exception:  # plistlib raises several unrelated types for bad input
            return False
    return False


def _check_parses(path: Path, data: bytes) -> None:
    form = _format_of(path, data)
    if form == "json":
        _decode_json5(_text(data))
    elif form.startswith("plist"):
        import plistlib

        try:
            plistlib.loads(data)
        except Exception:
            raise Unparseable("not a valid plist") from None


@dataclass(frozen=True)
class Backup:
    """A file as it was before clawback first changed it."""

    original: str
    backup: str
    sha256: str
    size: int

    def fact(self) -> dict[str, Any]:
        return {"file": self.original, "backup": self.backup, "sha256": self.sha256,
                "size": self.size}


class BackupStore:
    """``<incident>/backups/``: one copy per file, taken before the first change."""

    def __init__(self, incident_dir: Path | None) -> None:
        self.incident_dir = incident_dir
        self._kept: dict[str, Backup] = {}
        self._lock = threading.Lock()

    def keep(self, path: Path, data: bytes) -> Backup:
        # Lexical: no link is followed in the agent's files, so a name is one file.
        real = os.path.abspath(path)
        with self._lock:
            if real in self._kept:
                return self._kept[real]
            if self.incident_dir is None:
                raise ResponderError(
                    "no incident directory to keep backups in: OpenClaw files are only changed "
                    "inside an incident (clawback contain), never by a bare responder call"
                )
            from responders.kit.private_files import make_private_dir

            directory = make_private_dir(Path(self.incident_dir) / "backups")
            stem = f"{hashlib.sha256(real.encode()).hexdigest()[:8]}-{Path(real).name}"
            target = directory / stem
            suffix = 0
            while True:
                try:
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    break
                except FileExistsError:
                    # An earlier run of the same incident kept one: never overwrite it.
                    suffix += 1
                    target = directory / f"{stem}.{suffix}"
            with os.fdopen(fd, "wb") as sink:
                sink.write(data)
                sink.flush()
                os.fsync(sink.fileno())
            backup = Backup(
                original=str(path),
                backup=str(target),
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
            )
            self._kept[real] = backup
            return backup


def replace_file(path: Path, data: bytes, *, holds_secret: bool = False) -> None:
    """Atomically give ``path`` new content, keeping its owner and mode; a file that
    ``holds_secret`` loses any group and other bits (at most 0600).

    For root's own files outside the agent's tree only (supervisord's config): the agent's
    files are rewritten through ``AgentFiles.replace``, which follows no link. Even here a link
    or a hard-linked file in the file's place is refused."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        raise ResponderError(f"{path} is not a plain file (a link, or a file with more than "
                             "one name): edit it by hand")
    temporary = path.with_name(f".{path.name}.clawback-{os.getpid()}-{threading.get_ident()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
            if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                os.fchown(sink.fileno(), info.st_uid, info.st_gid)
            mode = stat.S_IMODE(info.st_mode)
            os.fchmod(sink.fileno(), mode & 0o600 if holds_secret else mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _read(files: AgentFiles, path: Path) -> FileRead:
    """The whole of one of the agent's files, or an error saying why not (never a part)."""
    read = files.read(path, MAX_EDITABLE_BYTES)
    if not read.complete:
        raise ResponderError(
            f"{path} is {read.size} bytes, more than the {MAX_EDITABLE_BYTES} clawback reads "
            "and rewrites: check it for the old value and remove it by hand"
        )
    return read


# --------------------------------------------------------------------------------------------
# Where a credential was found, and what can be done there
# --------------------------------------------------------------------------------------------


def _unreachable(location: Location) -> str | None:
    """Why clawback cannot edit this place, or None if it can."""
    if location.path == ENVIRONMENT_LOCATION:
        return "only in the agent's process environment: restart the agent without it"
    if location.key.startswith("auth_profile_store[") or ".sqlite" in Path(location.path).name:
        return "inside a SQLite store: replace it with OpenClaw's own commands or by hand"
    return None


def _files_of(cred: Credential) -> tuple[dict[Path, list[Location]], list[tuple[Location, str]]]:
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


def swap_secret(path: Path, data: bytes, keys: Sequence[str], old: str, new: str) -> bytes:
    """``data`` with the old secret replaced where discovery found it.

    A whole-file secret becomes the new value; a free-text place (``line N``) gets a marker
    rather than the new secret; a keyed place gets the new value in the file's own syntax.
    Raises Unparseable if the result would not parse, ResponderError if the old value remains.
    """
    text = _text(data)
    form = _format_of(path, data)
    if "" in keys:
        result = _bytes(new + ("\n" if text.endswith("\n") else ""))
    elif keys and all(_LINE_KEY.match(k) for k in keys):
        result = _bytes(replace_standalone(text, old, FREE_TEXT_MARKER)[0])
    elif form == "plist-binary":
        import plistlib

        try:
            loaded = plistlib.loads(data)
        except Exception:
            raise Unparseable("not a valid plist") from None
        result = plistlib.dumps(_plist_replace(loaded, old, new), fmt=plistlib.FMT_BINARY)
    elif form == "json":
        document = Json5Document(text)
        document.replace_strings(old, new)
        # What is left sits inside a longer string (a URL carrying the token, say).
        result = _bytes(replace_standalone(document.dump(), old, new)[0])
        _check_landed(path, result, keys, new)
    else:
        result = _bytes(replace_standalone(text, old, new)[0])
    _check_parses(path, result)
    if file_holds(path, result, old):
        raise ResponderError(
            f"the old value is still in {path} where it is part of a longer token: "
            f"remove it by hand"
        )
    return result


def _check_landed(path: Path, data: bytes, keys: Sequence[str], new: str) -> None:
    """Each key discovery named must now hold the new value (it may sit inside a longer string)."""
    decoded = _decode_json5(_text(data))
    for key in keys:
        key_path = parse_key_path(key)
        value = _value_at(decoded, key_path) if key_path else None
        if isinstance(value, str) and new not in value:
            raise ResponderError(f"{path}: {key} does not hold the new value after the edit")


def _token_entry(path: KeyPath, file: Path | None = None) -> KeyPath:
    """The member to delete for a device token.

    In the gateway's own pairing stores (``devices/paired.json``, ``nodes/paired.json``) it
    is the whole ``<deviceId>`` entry: that is ``openclaw devices remove``, which unpairs.
    Deleting only ``tokens.<role>`` (``openclaw devices revoke`` marks it revoked) leaves the
    device paired, and OpenClaw 2026.2.26 hands a paired device a fresh token at its next
    connect. On the client side (``identity/device-auth.json``) it is ``tokens.<role>``.
    """
    if file is not None and file.name == "paired.json" and file.parent.name in (
        "devices", "nodes"
    ) and len(path) >= 2:
        return path[:1]
    if len(path) >= 3 and path[-3] == "tokens" and path[-1] == "token":
        return path[:-1]
    return path


def clear_tokens(path: Path, data: bytes, keys: Sequence[str], old: str) -> bytes:
    """``data`` with the token members at ``keys`` deleted: the device is unpaired in the
    gateway's stores and must pair again (see ``_token_entry``)."""
    document = Json5Document(_text(data))
    for key in keys:
        key_path = parse_key_path(key)
        if key_path is not None:
            document.remove_member(_token_entry(key_path, path))
    result = _bytes(document.dump())
    _check_parses(path, result)
    if file_holds(path, result, old):
        raise ResponderError(f"the token is still in {path} outside the place discovery named")
    return result


# --------------------------------------------------------------------------------------------
# The openclaw CLI (WhatsApp logout only; see the module docstring)
# --------------------------------------------------------------------------------------------


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


def _whatsapp_state_dir(account_dir: Path) -> Path | None:
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


# --------------------------------------------------------------------------------------------
# openclaw.lockdown: the official "Contain" config steps
# --------------------------------------------------------------------------------------------

_KNOWN_VALUES = {
    "bind": {"auto", "loopback", "lan", "tailnet", "custom"},
    "mode": {"off", "serve", "funnel"},
    "dmPolicy": {"open", "pairing", "allowlist", "disabled"},
    "groupPolicy": {"open", "allowlist", "disabled"},
}
_ALLOW_LISTS = ("allowFrom", "groupAllowFrom")
ALLOW_ALL = "*"


# OpenClaw 2026.2.26 approves a new device silently when it connects "locally": directly from
# loopback, with a local Host header and no forwarding headers (shouldAllowSilentLocalPairing,
# for the reasons not-paired and scope-upgrade). No setting turns that off, but the locality
# test does: a loopback peer listed in gateway.trustedProxies is a proxy, not a client, and a
# proxied request without X-Forwarded-For has no client address, so it is not local. With
# every loopback address trusted that way, each device (the gateway's own tool client and the
# local CLI too) waits in devices/pending.json until `openclaw devices approve <requestId>`.
LOOPBACK_PROXIES = ("127.0.0.0/8", "::1/128")


class LockdownParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bind_loopback: bool = True
    tailscale_off: bool = True
    freeze_channels: bool = True
    devices_need_approval: bool = True


@dataclass(frozen=True)
class ConfigEdit:
    """One change to one file: set a string at ``key``, drop ``"*"`` from the list there
    (``new`` None), or make sure the list there holds the ``add`` items (created if missing)."""

    file: Path
    key: KeyPath
    new: str | None  # None: remove "*" items (unless ``add``)
    old: Any = None
    add: tuple[str, ...] = ()

    def describe(self) -> str:
        where = f"{self.file}: {_describe_path(self.key)}"
        if self.add:
            return (f"{where}: add {', '.join(json.dumps(v) for v in self.add)} (new devices, "
                    "the local CLI and the gateway's own tools too, then wait for `openclaw "
                    "devices approve`)")
        if self.new is None:
            return f'{where}: remove "{ALLOW_ALL}"'
        leaf = self.key[-1] if self.key else ""
        shown = (
            json.dumps(self.old)
            if isinstance(self.old, str) and self.old in _KNOWN_VALUES.get(str(leaf), set())
            else "(an unrecognised value)"
        )
        return f"{where}: {shown} → {json.dumps(self.new)}"


def _walk(data: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            if key != "$include":
                yield from _walk(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk(value, (*path, index))


def lockdown_edits(
    state_dir: Path, params: LockdownParams, files: AgentFiles
) -> tuple[list[ConfigEdit], list[str]]:
    """Every change the official containment steps ask for in one state dir (reads only), and
    the problems that keep clawback from knowing them all: a config it could not read whole
    or parse is not a safe config."""
    from responders.openclaw.discovery import load_config

    edits: list[ConfigEdit] = []
    problems: list[str] = []
    kind = files.kind(state_dir)
    if kind != "directory":
        problems.append(_not_usable(files, state_dir, kind, "state dir"))
        return edits, problems
    config, config_problem = _config_file(files, state_dir)
    if config_problem:
        problems.append(config_problem)
    if config is not None:
        loaded = load_config(config, files=files)
        problems += list(loaded.problems)
        for part in loaded.parts:
            for inner, value in _walk(part.data):
                full = (*part.mount, *inner)
                edit = _risky(full, value, params)
                if edit is not None:
                    edits.append(ConfigEdit(part.path, inner, *edit))
        # Only where OpenClaw itself reads the config: the schema is strict (an unknown key
        # invalidates the whole file), and the Clawdbot/Moltbot eras are not checked here.
        if params.devices_need_approval and config.name == "openclaw.json":
            edits += _approval_edits(config, loaded)
    if params.freeze_channels:
        credentials = state_dir / "credentials"
        try:
            stores = [Path(e.path) for e in files.scandir(credentials)
                      if e.name.endswith("-allowFrom.json")]
        except FileNotFoundError:
            stores = []
        except OSError as exc:
            problems.append(f"{credentials}: {_describe(exc)}")
            stores = []
        for store in stores:
            try:
                data = _decode_json5(_text(_read(files, store).data))
            except FileNotFoundError:
                continue
            except (OSError, Unparseable, ResponderError, RecursionError) as exc:
                why = _describe(exc) if isinstance(exc, OSError) else str(exc) or "unreadable"
                problems.append(f"{store}: {why}")
                continue
            for key in _ALLOW_LISTS:
                values = data.get(key) if isinstance(data, dict) else None
                if isinstance(values, list) and ALLOW_ALL in values:
                    edits.append(ConfigEdit(store, (key,), None))
    return edits, problems


def _not_usable(files: AgentFiles, path: Path, kind: str | None, what: str) -> str:
    if kind is None:
        return f"{what} {path} does not exist"
    if kind == "symbolic link":
        try:
            target = files.readlink(path)
        except OSError:
            target = "(unreadable)"
        return f"{what} {path} is a symbolic link to {target}: not followed"
    return f"{what} {path} is a {kind}, not what clawback can check"


def _approval_edits(config: Path, loaded: Any) -> list[ConfigEdit]:
    """``gateway.trustedProxies`` must list every loopback address (see LOOPBACK_PROXIES)."""
    key: KeyPath = ("gateway", "trustedProxies")
    gateway = loaded.merged.get("gateway")
    current = gateway.get("trustedProxies") if isinstance(gateway, dict) else None
    listed = current if isinstance(current, list) else []
    missing = tuple(v for v in LOOPBACK_PROXIES if v not in listed)
    if not missing:
        return []
    # Edit the file that sets the list, if one does; else the top config file.
    for part in reversed(loaded.parts):
        inner = key[len(part.mount):] if key[: len(part.mount)] == part.mount else None
        if inner and _value_at(part.data, inner) is not None:
            return [ConfigEdit(part.path, inner, None, current, add=missing)]
    return [ConfigEdit(config, key, None, current, add=missing)]


def _risky(full: KeyPath, value: Any, params: LockdownParams) -> tuple[str | None, Any] | None:
    """``(new, old)`` if the setting at ``full`` must change, else None."""
    if params.bind_loopback and full == ("gateway", "bind") and value != "loopback":
        return "loopback", value
    if (
        params.tailscale_off
        and full == ("gateway", "tailscale", "mode")
        and value in ("serve", "funnel")
    ):
        return "off", value
    if not params.freeze_channels or len(full) < 3 or full[0] != "channels":
        return None
    if full[-1] in ("dmPolicy", "groupPolicy") and value == "open":
        return "disabled", value
    if full[-1] in _ALLOW_LISTS and isinstance(value, list) and ALLOW_ALL in value:
        return None, value
    return None


def apply_edits(path: Path, data: bytes, edits: Sequence[ConfigEdit]) -> bytes:
    document = Json5Document(_text(data))
    for edit in edits:
        if edit.add:
            changed = document.ensure_items(edit.key, edit.add)
        elif edit.new is None:
            changed = document.remove_items(edit.key, ALLOW_ALL) > 0
        else:
            changed = document.set_string(edit.key, edit.new)
        if not changed:
            raise ResponderError(f"{edit.describe()}: the setting is not a plain string or list")
    result = _bytes(document.dump())
    _check_parses(path, result)
    return result


class LockdownAction(Action):
    """Close exposure and freeze access in the agent's config (official IR "Contain" 2 and 3).

    One target per state dir. ``plan`` lists the exact edits and reads only; ``execute`` backs
    each file up into the incident, edits it keeping comments, and proves nothing is left to
    change. The gateway applies the result when it starts again.
    """

    name: ClassVar[str] = "openclaw.lockdown"
    state_changing: ClassVar[bool] = True
    Params: ClassVar[type[LockdownParams]] = LockdownParams
    params: LockdownParams

    def targets(self) -> Sequence[str]:
        return [str(p) for p in _state_dirs(self.context.settings)]

    def plan(self, target: str) -> Planned:
        edits, problems = lockdown_edits(Path(target), self.params,
                                         agent_files_for(self.context.settings))
        detail = f"{len(edits)} edit(s) in {target}" if edits else (
            f"nothing to change in {target}" if not problems else f"no edit known in {target}")
        return Planned(
            action=self.name,
            detail=detail,
            commands=tuple(e.describe() for e in edits)
            + tuple(f"cannot check: {problem}" for problem in problems),
        )

    def execute(self, target: str) -> Outcome:
        state_dir = Path(target)
        files = agent_files_for(self.context.settings)
        edits, problems = lockdown_edits(state_dir, self.params, files)
        if not edits and not problems:
            return Skipped(
                reason=f"{target} is locked down already: loopback bind, no Tailscale "
                'serve/funnel, no open DM/group policy, no "*" allow-all entries'
            )
        backups = BackupStore(self.context.incident_dir)
        by_file: dict[Path, list[ConfigEdit]] = {}
        for edit in edits:
            by_file.setdefault(edit.file, []).append(edit)
        kept: list[dict[str, Any]] = []
        with _FILE_LOCK:
            for path, file_edits in by_file.items():
                try:
                    read = _read(files, path)
                    result = apply_edits(path, read.data, file_edits)
                    kept.append(backups.keep(path, read.data).fact())
                    files.replace(path, result, expect=read.stat, secret=True)
                except Unparseable as exc:
                    return Failed(error=f"{path}: the edited file would not parse ({exc}); "
                                  "left unchanged", facts={"backups": kept})
                except ResponderError as exc:
                    return Failed(error=str(exc), facts={"backups": kept})
                except OSError as exc:
                    return Failed(error=f"{path}: {_describe(exc)}", facts={"backups": kept})
        left, problems_after = lockdown_edits(state_dir, self.params, files)
        facts: dict[str, Any] = {"edits": [e.describe() for e in edits], "backups": kept}
        if left:
            return Failed(
                error="still to change after the edit: " + "; ".join(e.describe() for e in left),
                facts=facts,
            )
        approval = (
            "; once it runs, approve each device it asks for (`openclaw devices list`, then "
            "`openclaw devices approve <requestId>`), the gateway's own tool client first"
            if any(e.add for e in edits) else ""
        )
        if problems_after:
            facts["not_checked"] = problems_after
            return Failed(
                error=f"{len(edits)} edit(s) made, but clawback could not check everything in "
                f"{target}, so it is not known to be locked down: " + "; ".join(problems_after)
                + ". Check those files by hand (gateway.bind loopback, no open policies, no "
                '"*" in allow lists)',
                facts=facts,
            )
        return Done(
            detail=f"{len(edits)} edit(s) in {len(by_file)} file(s); the gateway applies them "
            f"when it starts again{approval}",
            facts=facts,
        )


# --------------------------------------------------------------------------------------------
# The responder
# --------------------------------------------------------------------------------------------


def _short_kind(kind: str) -> str:
    return kind.split(":", 1)[-1]


def _fingerprint_hex(cred: Credential) -> str:
    return cred.fingerprint.rsplit("sha256:", 1)[-1]


@dataclass
class _FileWork:
    """What happened to one file for one credential."""

    path: Path
    locations: list[Location]
    backup: Backup | None = None
    error: str | None = None
    done: bool = False


@dataclass
class _Work:
    files: list[_FileWork] = field(default_factory=list)
    unreachable: list[tuple[Location, str]] = field(default_factory=list)

    @property
    def failed(self) -> list[_FileWork]:
        return [f for f in self.files if f.error is not None]

    @property
    def changed(self) -> list[_FileWork]:
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


def _edit_files(
    work: _Work,
    transform: Callable[[Path, bytes, Sequence[str]], bytes],
    backups: BackupStore,
    files: AgentFiles,
) -> None:
    for item in work.files:
        if item.error is not None:
            continue
        try:
            read = _read(files, item.path)
            result = transform(item.path, read.data, [loc.key for loc in item.locations])
            item.backup = backups.keep(item.path, read.data)
            # A log line gets a marker, not a secret; anywhere else a secret is written.
            holds_secret = not all(is_free_text(loc) for loc in item.locations)
            # Only over the very file that was read: a swap since is refused, not overwritten.
            files.replace(item.path, result, expect=read.stat, secret=holds_secret)
            if _read(files, item.path).data != result:
                item.error = "the file changed under clawback while it was rewritten"
                continue
            item.done = True
        except Unparseable as exc:
            item.error = f"the edited file would not parse ({exc}); left unchanged"
        except ResponderError as exc:
            item.error = str(exc)
        except OSError as exc:
            item.error = _describe(exc)


# --------------------------------------------------------------------------------------------
# Writing a provider key's replacement where the agent reads it (used by `clawback drill`)
# --------------------------------------------------------------------------------------------


def is_free_text(location: Location) -> bool:
    """A place in a log, transcript or shell history (``line N``): nothing reads a key there."""
    return bool(_LINE_KEY.match(location.key))


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
    _, unreachable = _files_of(dataclasses.replace(cred, locations=places))
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
    places, _ = _files_of(dataclasses.replace(cred, locations=editable))
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

    with _FILE_LOCK:
        work, already = _Work(), []
        for path, locations in sorted(places.items()):
            try:
                data = _read(files, path).data
            except FileNotFoundError:
                continue  # gone since discovery: the agent cannot read the old key there either
            except OSError as exc:
                raise ResponderError(f"cannot read {path}: {_describe(exc)}") from None
            if old_text is not None and file_holds(path, data, old_text):
                work.files.append(_FileWork(path, locations))
            elif file_holds(path, data, new_text):
                already.append(str(path))
            else:
                raise ResponderError(
                    f"{path} holds neither the old value {cred.fingerprint} nor its "
                    f"replacement {new.fingerprint}: it changed since discovery"
                )
        _edit_files(work, lambda p, d, k: swap(p, d, k, True), backups, files)
        if work.failed:
            undo = _Work(files=[_FileWork(f.path, f.locations) for f in work.changed])
            _edit_files(undo, lambda p, d, k: swap(p, d, k, False), backups, files)
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


@dataclass
class _Session:
    number: str | None
    unlinked: bool = False
    left_alone: list[Path] = field(default_factory=list)


class OpenClawResponder(Responder):
    """Rotates the gateway's secrets, clears device tokens, logs WhatsApp out; see the module
    docstring. ``revoke`` and ``rotate`` are one act here."""

    name: ClassVar[str] = "openclaw"
    needs_config: ClassVar[bool] = False  # local files only; no provider API
    # Its rotation is the agent's own files (gateway token, device tokens).
    rewrites_agent_files: ClassVar[bool] = True
    providers: ClassVar[frozenset[str]] = frozenset({"openclaw", "whatsapp"})
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.REVOKE, Capability.ROTATE, Capability.PREFLIGHT, Capability.MANUAL}
    )
    actions: ClassVar[Mapping[str, type[Action]]] = {LockdownAction.name: LockdownAction}


    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        parse_settings(config)
    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._lock = threading.RLock()
        self._parsed: OpenClawSettings | None = None
        self._backups = BackupStore(context.incident_dir)
        # A retried rotation reuses its stored value, so no location ends up with another one.
        self._new_values: dict[str, tuple[SecretValue, str]] = {}
        self._finished: dict[str, Outcome] = {}
        self._files: AgentFiles | None = None

    @property
    def files(self) -> AgentFiles:
        """The agent's tree, the only way this responder reads or changes its files."""
        with self._lock:
            if self._files is None:
                self._files = agent_files_for(self.context.settings)
            return self._files

    @property
    def settings(self) -> OpenClawSettings:
        with self._lock:
            if self._parsed is None:
                self._parsed = parse_settings(self.context.config)
            return self._parsed

    # -- plan ---------------------------------------------------------------------------------

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Planned]]:
        return [(cred, self._plan_one(cred)) for cred in creds]

    def _plan_one(self, cred: Credential) -> Planned:
        files, unreachable = _files_of(cred)
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
                detail=f"rotate the {_short_kind(cred.kind)} {cred.fingerprint} in "
                f"{len(cred.locations)} place(s)",
                commands=commands,
            )
        if cred.kind in CLEARED_KINDS:
            commands = tuple(
                f"back up {path}, then delete "
                + ", ".join(_describe_path(_token_entry(parse_key_path(loc.key) or (),
                                                        Path(loc.path)))
                            for loc in locs)
                for path, locs in files.items()
            ) + skipped
            return Planned(
                action="clear",
                detail=f"clear the {_short_kind(cred.kind)} {cred.fingerprint} (device "
                f"{cred.account or 'unknown'} must pair again)",
                commands=commands,
            )
        if cred.kind == KIND_WHATSAPP:
            commands_list: list[str] = []
            binary = self._cli_binary()
            for account_dir in self._account_dirs(cred):
                state_dir = _whatsapp_state_dir(account_dir)
                if binary and state_dir is not None:
                    commands_list.append(" ".join(
                        whatsapp_logout_argv(binary, state_dir, account_dir.name)
                    ))
                try:
                    session_files, _ = _session_files(self.files, account_dir)
                except OSError as exc:
                    commands_list.append(f"cannot list {account_dir}: {_describe(exc)}")
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
        manual = self._manual_step(cred)
        return Planned(action="manual", detail=f"{manual.instructions} ({manual.url})")

    # -- revoke / rotate ----------------------------------------------------------------------

    def revoke(self, cred: Credential) -> Outcome:
        """For these secrets revoking means rotating: see the module docstring."""
        if cred.kind in ROTATED_KINDS:
            return self._once(cred, lambda: self._rotate_secret(cred, self._store()))
        if cred.kind in CLEARED_KINDS:
            return self._once(cred, lambda: self._clear_device_token(cred))
        if cred.kind == KIND_WHATSAPP:
            return self._once(cred, lambda: self._logout_whatsapp(cred))
        return self._manual_step(cred)

    def rotate(self, cred: Credential, store: SecretStore) -> Outcome:
        earlier = self._finished.get(cred.target_id)
        if isinstance(earlier, Rotated):
            return dataclasses.replace(earlier, detail=f"done by the revoke: {earlier.detail}")
        if isinstance(earlier, AlreadyRevoked):
            return Skipped(reason="an earlier run rotated it already")
        if cred.kind in ROTATED_KINDS:
            return self._once(cred, lambda: self._rotate_secret(cred, store))
        if cred.kind in CLEARED_KINDS:
            return Skipped(
                reason="a device gets a new token when it pairs again "
                "(`openclaw devices list`, then `openclaw devices approve <id>`)"
            )
        if cred.kind == KIND_WHATSAPP:
            return Skipped(
                reason="a new WhatsApp session is made by linking again "
                "(`openclaw channels login`, then scan the QR code)"
            )
        return self._manual_step(cred)

    def _once(self, cred: Credential, act: Callable[[], Outcome]) -> Outcome:
        with _FILE_LOCK:
            earlier = self._finished.get(cred.target_id)
            if earlier is not None:
                return earlier
            if self.context.dry_run:
                return self._plan_one(cred)
            try:
                outcome = act()
            except ResponderError as exc:
                outcome = Failed(error=str(exc))
            if outcome.succeeded:
                self._finished[cred.target_id] = outcome
            return outcome

    def _store(self) -> SecretStore:
        if self.context.secrets is None:
            raise ResponderError("no secret store is available to keep the new OpenClaw secrets")
        return self.context.secrets

    def _store_name(self, cred: Credential) -> str:
        return self.settings.store_name.format(
            kind=_short_kind(cred.kind), old=_fingerprint_hex(cred)
        )

    def _present(self, cred: Credential, *, whole_install: bool = False) -> tuple[_Work, str]:
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
        files, unreachable = _files_of(cred)
        found = set(files)
        if whole_install:
            for path in self._install_files(cred):
                files.setdefault(path, [Location(str(path))])
        work = _Work(unreachable=unreachable)
        for path, locations in sorted(files.items()):
            try:
                data = _read(self.files, path).data
            except FileNotFoundError:
                continue
            except OSError as exc:
                problem = _describe(exc)
            except ResponderError as exc:
                problem = str(exc)
            else:
                if file_holds(path, data, old):
                    work.files.append(_FileWork(path, locations))
                continue
            if path in found:
                work.files.append(_FileWork(path, locations, error=problem))
            else:
                work.unreachable.append(
                    (Location(str(path)), f"could not be checked for the old value: {problem}")
                )
        return work, old

    def _install_files(self, cred: Credential) -> list[Path]:
        """The configs, their ``.bak*`` copies and ``.env`` of each state dir involved."""
        state_dirs = {Path(os.path.abspath(p)) for p in _state_dirs(self.context.settings)}
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

    def _edit(self, work: _Work, transform: Callable[[Path, bytes, Sequence[str]], bytes]) -> None:
        _edit_files(work, transform, self._backups, self.files)

    def _rotate_secret(self, cred: Credential, store: SecretStore) -> Outcome:
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
                instructions=f"The {_short_kind(cred.kind)} {cred.fingerprint} is too short to "
                f"replace safely by text. Set a long random value by hand in: "
                f"{_places(cred.locations)}",
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
                instructions=f"The {_short_kind(cred.kind)} {cred.fingerprint} was replaced in "
                f"{len(work.changed)} file(s) by the value stored at {reference}, but clawback "
                "cannot edit: "
                + "; ".join(f"{loc} ({why})" for loc, why in work.unreachable),
                url=DOCS_URL,
                facts=facts,
            )
        return Rotated(
            detail=f"{_short_kind(cred.kind)} replaced in {len(work.changed)} file(s); the "
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
            detail=f"{_short_kind(cred.kind)} was replaced everywhere by the interrupted run "
            f"(stored at {reference})",
            facts={"resumed": True, "new_fingerprint": new.fingerprint,
                   "new_reference": reference},
            new_fingerprint=new.fingerprint,
            new_reference=reference,
        )

    def _clear_device_token(self, cred: Credential) -> Outcome:
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
            detail=f"{_short_kind(cred.kind)} of device {device} cleared from "
            f"{len(work.changed)} file(s) and the device unpaired: it must pair again, which "
            "after the lockdown the owner approves (`openclaw devices list`, `openclaw devices "
            "approve <requestId>`)",
            facts=facts,
        )

    # -- WhatsApp -----------------------------------------------------------------------------

    def _account_dirs(self, cred: Credential) -> list[Path]:
        """The Baileys auth dirs (``<state>/credentials/whatsapp/<account>``) that held it."""
        return sorted({
            Path(loc.path).parent for loc in cred.locations
            if Path(loc.path).name.startswith("creds.json")
            and _whatsapp_state_dir(Path(loc.path).parent) is not None
        })

    def _stray_copies(self, cred: Credential) -> list[Location]:
        """Places outside an auth dir: clawback deletes whole auth dirs only, never elsewhere."""
        dirs = set(self._account_dirs(cred))
        return [loc for loc in cred.locations if Path(loc.path).parent not in dirs]

    def _cli_binary(self) -> str | None:
        if not self.settings.use_openclaw_cli:
            return None
        from responders.host.commands import MissingBinary, resolve_binary

        try:
            return resolve_binary(self.settings.openclaw_binary)
        except MissingBinary:
            return None

    def _logout_whatsapp(self, cred: Credential) -> Outcome:
        facts: dict[str, Any] = {"account": cred.account, "deleted": [], "backups": []}
        binary = self._cli_binary()
        sessions: list[_Session] = []
        for account_dir in self._account_dirs(cred):
            try:
                session = self._end_session(account_dir, binary, facts)
            except OSError as exc:
                return Failed(error=f"{account_dir}: {_describe(exc)}", facts=facts)
            if session is not None:
                sessions.append(session)
        strays = [loc for loc in self._stray_copies(cred) if self.files.exists(loc.path)]
        strays += [Location(str(path)) for s in sessions for path in s.left_alone]
        if not sessions and not strays:
            return AlreadyRevoked(detail="the WhatsApp session files are gone already")
        account = cred.account or "default"
        deleted = len(facts["deleted"])
        copies = (
            f" Delete the copies outside the auth dir by hand: {_places(strays)}." if strays
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
            f"{_places(cred.locations)}.{copies}",
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
            facts["backups"].append(self._backups.keep(path, _read(self.files, path).data).fact())
        state_dir = _whatsapp_state_dir(account_dir)
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

    # -- manual steps -------------------------------------------------------------------------

    def _manual_step(self, cred: Credential) -> ManualRequired:
        where = _places(cred.locations)
        if cred.kind in (KIND_REMOTE_TOKEN, KIND_REMOTE_PASSWORD):
            what = "token" if cred.kind == KIND_REMOTE_TOKEN else "password"
            return ManualRequired(
                instructions=f"This host signs in to another OpenClaw gateway (gateway.remote.url)"
                f" with the {what} {cred.fingerprint}. On that gateway's host rotate "
                f"gateway.auth.{what} (run clawback there, or `openclaw doctor "
                f"--generate-gateway-token`), restart it, then put the new {what} into "
                f"gateway.remote.{what} here. Found in: {where}",
                url=DOCS_URL,
            )
        if cred.kind == KIND_DEVICE_KEY:
            return ManualRequired(
                instructions=f"The agent could read this host's device identity key "
                f"({cred.fingerprint}). Move identity/device.json out of the state dir so "
                "OpenClaw makes a new identity at its next start, pair again, and on every "
                "gateway this host was paired with run `openclaw devices revoke --device <id> "
                f"--role operator`. Found in: {where}",
                url=DOCS_URL,
            )
        if cred.kind == KIND_SIDECAR_KEY:
            return ManualRequired(
                instructions=f"This key ({cred.fingerprint}) decrypts the OAuth tokens in "
                "credentials/auth-profiles/. Revoke those OAuth sessions at their providers "
                "(each is its own step), then delete the key file and "
                "credentials/auth-profiles/*.json and sign in again with `openclaw onboard`. "
                f"Found in: {where}",
                url=DOCS_URL,
            )
        return ManualRequired(
            instructions=f"clawback does not know how to replace the OpenClaw secret "
            f"{cred.kind} {cred.fingerprint}. Replace it with a new random value and restart the "
            f"gateway. Found in: {where}",
            url=DOCS_URL,
        )

    # -- preflight ----------------------------------------------------------------------------

    def preflight(self) -> list[PreflightCheck]:
        """Prove clawback can rewrite each state dir's config (read-only checks)."""
        checks: list[PreflightCheck] = []
        for state_dir in _state_dirs(self.context.settings):
            config, problem = _config_file(self.files, state_dir)
            if config is None:
                checks.append(PreflightCheck(
                    provider="openclaw", capability="rotate", ok=False,
                    detail=problem or f"no OpenClaw config in {state_dir}",
                ))
                continue
            writable = os.access(config, os.W_OK) and os.access(state_dir, os.W_OK)
            checks.append(PreflightCheck(
                provider="openclaw", capability="rotate", ok=writable,
                detail=f"{config} {'can' if writable else 'cannot'} be rewritten in place",
                missing_permission="" if writable else f"write access to {state_dir}",
            ))
        return checks


def _interrupted_value(store: SecretStore, name: str) -> SecretValue | None:
    """The value a crashed run of this same rotation stored under ``name`` (clawback drill's
    ledger): reusing it leaves every file with one value, whichever ones that run reached."""
    if not isinstance(store, RotationLedger):
        return None
    earlier = store.interrupted()
    if earlier is None or earlier.store_name != name:
        return None
    return earlier.pending


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


def _places(locations: Sequence[Location]) -> str:
    return ", ".join(str(loc) for loc in locations) or "(no file recorded)"


def _describe_path(path: KeyPath) -> str:
    from responders.openclaw.discovery import format_key_path

    return format_key_path(path) if path else "(unknown key)"


def _describe(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or 'I/O error'}"


def _state_dirs(settings: Mapping[str, Any]) -> list[Path]:
    """``[agent] state_dirs``, else the ones discovery finds in the agent's home (as contain's
    keys step does): a lockdown must not silently do nothing because none were configured."""
    agent = settings.get("agent") or {}
    configured = [Path(p) for p in agent.get("state_dirs") or []]
    if configured:
        return configured
    from responders.openclaw.discovery import find_state_dirs

    return find_state_dirs(Path(agent.get("user_home") or Path.home()))


def _config_file(files: AgentFiles, state_dir: Path) -> tuple[Path | None, str | None]:
    """The state dir's config, or why there is none clawback can use."""
    for name in CONFIG_NAMES:
        path = state_dir / name
        kind = files.kind(path)
        if kind == "regular file":
            return path, None
        if kind is not None:
            return None, _not_usable(files, path, kind, "config")
    return None, None

