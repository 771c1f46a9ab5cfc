"""Replacing or deleting one secret inside one of the agent's files, in the file's own syntax.

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
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from responders.agent_files import MAX_EDITABLE_BYTES, AgentFiles, FileRead
from responders.interface import Location, ResponderError
from responders.openclaw.json5_edit import (
    Json5Document,
    KeyPath,
    Unparseable,
    parse_json5,
    parse_key_path,
    strings_in,
    value_at,
)

FREE_TEXT_MARKER = "[secret removed by clawback]"
# json-five keeps a whole token model in memory; bigger "JSON" files are edited as text.
MAX_MODEL_BYTES = 4 * 1024 * 1024
_TOKEN_CHARS = "A-Za-z0-9_+/-"
_LINE_KEY = re.compile(r"^line \d+$")
# openclaw.json, channels.json5, creds.json.bak, openclaw.json.bak.1 — not JSONL transcripts.
_JSON_NAME = re.compile(r"\.json5?(?:\.bak(?:\.\d+)?)?$")

# Every file edit (rotation, clearing, lockdown) holds this: several credentials share one file.
FILE_LOCK = threading.RLock()


def format_of(path: Path, data: bytes) -> str:
    if data.startswith(b"bplist"):
        return "plist-binary"
    name = path.name.lower()
    if ".plist" in name:
        return "plist-xml"
    if _JSON_NAME.search(name) and len(data) <= MAX_MODEL_BYTES:
        return "json"
    return "text"


def as_text(data: bytes) -> str:
    # surrogateescape keeps bytes that are not UTF-8 exactly as they were.
    return data.decode("utf-8", errors="surrogateescape")


def as_bytes(text: str) -> bytes:
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
    if as_bytes(secret) in data:
        return True
    form = format_of(path, data)
    if form == "json":
        try:
            return any(secret in s for s in strings_in(parse_json5(as_text(data))))
        except Unparseable:
            return False
    if form == "plist-binary":
        import plistlib

        try:
            return any(secret in s for s in strings_in(plistlib.loads(data)))
        except Exception:  # plistlib raises several unrelated types for bad input
            return False
    return False


def check_parses(path: Path, data: bytes) -> None:
    form = format_of(path, data)
    if form == "json":
        parse_json5(as_text(data))
    elif form.startswith("plist"):
        import plistlib

        try:
            plistlib.loads(data)
        except Exception:
            raise Unparseable("not a valid plist") from None


def read_whole(files: AgentFiles, path: Path) -> FileRead:
    """The whole of one of the agent's files, or an error saying why not (never a part)."""
    read = files.read(path, MAX_EDITABLE_BYTES)
    if not read.complete:
        raise ResponderError(
            f"{path} is {read.size} bytes, more than the {MAX_EDITABLE_BYTES} clawback reads "
            "and rewrites: check it for the old value and remove it by hand"
        )
    return read


def swap_secret(path: Path, data: bytes, keys: Sequence[str], old: str, new: str) -> bytes:
    """``data`` with the old secret replaced where discovery found it.

    A whole-file secret becomes the new value; a free-text place (``line N``) gets a marker
    rather than the new secret; a keyed place gets the new value in the file's own syntax.
    Raises Unparseable if the result would not parse, ResponderError if the old value remains.
    """
    text = as_text(data)
    form = format_of(path, data)
    if "" in keys:
        result = as_bytes(new + ("\n" if text.endswith("\n") else ""))
    elif keys and all(_LINE_KEY.match(k) for k in keys):
        result = as_bytes(replace_standalone(text, old, FREE_TEXT_MARKER)[0])
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
        result = as_bytes(replace_standalone(document.dump(), old, new)[0])
        _check_landed(path, result, keys, new)
    else:
        result = as_bytes(replace_standalone(text, old, new)[0])
    check_parses(path, result)
    if file_holds(path, result, old):
        raise ResponderError(
            f"the old value is still in {path} where it is part of a longer token: "
            f"remove it by hand"
        )
    return result


def _check_landed(path: Path, data: bytes, keys: Sequence[str], new: str) -> None:
    """Each key discovery named must now hold the new value (it may sit inside a longer string)."""
    decoded = parse_json5(as_text(data))
    for key in keys:
        key_path = parse_key_path(key)
        value = value_at(decoded, key_path) if key_path else None
        if isinstance(value, str) and new not in value:
            raise ResponderError(f"{path}: {key} does not hold the new value after the edit")


def token_entry(path: KeyPath, file: Path | None = None) -> KeyPath:
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
    gateway's stores and must pair again (see ``token_entry``)."""
    document = Json5Document(as_text(data))
    for key in keys:
        key_path = parse_key_path(key)
        if key_path is not None:
            document.remove_member(token_entry(key_path, path))
    result = as_bytes(document.dump())
    check_parses(path, result)
    if file_holds(path, result, old):
        raise ResponderError(f"the token is still in {path} outside the place discovery named")
    return result


def is_free_text(location: Location) -> bool:
    """A place in a log, transcript or shell history (``line N``): nothing reads a key there."""
    return bool(_LINE_KEY.match(location.key))


def describe_os_error(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or 'I/O error'}"
