"""The incident timeline: an append-only, hash-chained, Ed25519-signed JSONL log.

Each line of ``timeline.jsonl`` is one entry in RFC 8785 canonical JSON. ``hash`` is the hex
SHA-256 of the canonical entry without ``hash`` and ``sig``; ``sig`` is base64 Ed25519 over
``b"clawback-timeline/v1\\n" + raw hash``. The entry's ``key`` field (hex SHA-256 of the signing
public key) is inside the hashed body, so every signature is bound to its entry *and* to the key
that made it: moving a signature to another key, or re-signing with another key, is visible
(the CVE-2023-31439 lesson). ``prev`` chains each entry to the one before; entry 0 has 64 zeros.

Intent/result pairing: ``append(phase="result")`` records ``intent_seq``, the seq of the oldest
still-open intent with the same (step, action, target), or the one the caller names. Verify
reports an intent that no result points to as a crashed action.

Checkpoints (``checkpoint.txt``, history in ``checkpoints.txt``) commit to the RFC 6962 root
over the raw 32-byte entry hashes; see ``clawback.checkpoint``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import hashlib
import json
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import rfc8785

from clawback import __version__
from clawback.checkpoint import origin_for, sign_checkpoint
from clawback.errors import BadInput
from clawback.merkle import root_hash
from clawback.signing import PublicKey, Signer
from clawback.stored_text import storable
from responders.kit.private_files import make_private_dir, open_private, write_private

FORMAT_VERSION = 1
TIMELINE_FILE = "timeline.jsonl"
CHECKPOINT_FILE = "checkpoint.txt"
CHECKPOINT_HISTORY_FILE = "checkpoints.txt"
PUBLIC_KEY_FILE = "signing-key.pub"
SIGNATURE_DOMAIN = b"clawback-timeline/v1\n"
GENESIS_PREV = "0" * 64
TIMELINE_STEP = "timeline"

Phase = Literal["intent", "result", "event"]
PHASES: frozenset[str] = frozenset({"intent", "result", "event"})

BODY_KEYS: frozenset[str] = frozenset(
    {
        "v", "incident", "seq", "ts", "actor", "step", "action", "target", "phase", "outcome",
        "detail", "dry_run", "evidence_refs", "extra", "intent_seq", "key", "prev",
    }
)  # fmt: skip
ENTRY_KEYS: frozenset[str] = BODY_KEYS | {"hash", "sig"}

# An entry is encoded member by member ('"name":' + rfc8785 of the value), joined in RFC 8785
# key order, so one pass yields both the hashed body and the stored line (the body plus "hash"
# and "sig" at their sorted places), and members that never change within a timeline (actor,
# incident, key, v) are encoded once. The keys are ASCII, so plain sorting is RFC 8785's UTF-16
# order; tests/timeline checks the result byte for byte against rfc8785.dumps of the whole entry.
_BODY_ORDER: tuple[str, ...] = tuple(sorted(BODY_KEYS))
_HASH_AT = bisect.bisect(_BODY_ORDER, "hash")
_SIG_AT = bisect.bisect(_BODY_ORDER, "sig")
_MEMBER_NAME: dict[str, bytes] = {k: rfc8785.dumps(k) + b":" for k in ENTRY_KEYS}

# RFC 8785 / I-JSON: integers beyond this lose precision in other JSON implementations.
_MAX_SAFE_INT = 2**53 - 1
_HEX64 = re.compile(r"[0-9a-f]{64}")

# Entry-0 extra keys the timeline fills in itself; a caller's header may not shadow them.
_RESERVED_OPEN_KEYS = frozenset({"host", "clock", "tool", "signing_key"})
_RESERVED_CLOSE_KEYS = frozenset({"entry_count", "evidence_manifest_sha256"})


# --------------------------------------------------------------------------------------------
# Entries and their canonical form
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One timeline entry as written (or read): ``fields`` holds every field, hash and sig too."""

    seq: int
    hash: str
    fields: Mapping[str, Any]

    @property
    def action(self) -> str:
        return str(self.fields["action"])

    @property
    def phase(self) -> str:
        return str(self.fields["phase"])

    @property
    def extra(self) -> Mapping[str, Any]:
        return self.fields["extra"]


def _json_safe(value: Any, where: str) -> Any:
    """A plain-JSON copy of ``value``; refuses floats, which have no stable canonical form here.

    Durations and sizes go in as integers (ns, ms, bytes). Strings canonical JSON cannot hold
    (a file name that is not UTF-8) are stored losslessly escaped (``clawback.stored_text``).
    """
    if isinstance(value, str):
        return storable(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise ValueError(f"{where}: integer {value} is beyond ±2**53-1 (I-JSON)")
        return value
    if isinstance(value, float):
        raise TypeError(
            f"{where}: floats are forbidden in timeline entries "
            "(store durations and sizes as integers, e.g. duration_ns)"
        )
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: object keys must be strings, not {type(key).__name__}")
            out[storable(key)] = _json_safe(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_json_safe(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} cannot go into a timeline entry")


_plain_json = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
).encode
# An integer of 16 digits or more may lie beyond I-JSON's ±2**53-1, where RFC 8785 refuses
# what the standard library would print.
_LONG_NUMBER = re.compile(rb"[0-9]{16}")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of ``value``: no float in it, and no integer beyond ±2**53-1.

    The pure-Python ``rfc8785`` encoder was ~45% of verify's CPU. For such values the standard
    library's C encoder, keys sorted and no spaces, writes the same bytes whenever its output is
    ASCII: both escape exactly ``"``, ``\\`` and the control characters (the same short forms,
    ``\\u00xx`` in lower case otherwise), print integers, true, false and null alike, and ASCII
    keys sort the same by code point as by UTF-16 unit. So do all characters below U+D800 (the
    fingerprints' "…", accented names): each is one UTF-16 unit equal to its code point, and
    neither encoder escapes it. Anything else (surrogates, lone or not, and the characters
    after them, where UTF-16 order differs from code-point order) goes to ``rfc8785``, which
    decides. tests/timeline checks the two agree on arbitrary content.
    """
    text = _plain_json(value)
    if text.isascii():
        return text.encode("ascii")
    if max(text) < "\ud800":
        return text.encode("utf-8")
    return rfc8785.dumps(value)


def _member(name: str, value: Any) -> bytes:
    return _MEMBER_NAME[name] + canonical_json(value)


def _exact_member(name: str, value: Any) -> bytes:
    return _MEMBER_NAME[name] + rfc8785.dumps(value)


# Fields whose values repeat all through a timeline (a handful of actions, steps, outcomes,
# one incident and key): memoizing their encodings cuts the cost of re-encoding a long log.
_REPETITIVE = frozenset({"action", "step", "phase", "outcome", "incident", "key", "detail"})


@functools.lru_cache(maxsize=1024)
def _repetitive_member(name: str, value: str) -> bytes:
    return _member(name, value)


@functools.lru_cache(maxsize=64)
def _actor_member(items: tuple[tuple[str, str], ...]) -> bytes:
    return _member("actor", dict(items))


def _encode_members(
    fields: Mapping[str, Any],
    encoded: Mapping[str, bytes] = MappingProxyType({}),
    *,
    exact: bool = False,
) -> list[bytes]:
    """Every body member in canonical order; ``encoded`` supplies members already encoded.

    ``exact`` encodes everything with ``rfc8785`` itself, for values read from a file that may
    hold integers beyond what ``canonical_json`` takes."""
    if exact:
        return [encoded.get(name) or _exact_member(name, fields[name]) for name in _BODY_ORDER]
    out = []
    for name in _BODY_ORDER:
        member = encoded.get(name)
        if member is None:
            value = fields[name]
            if name in _REPETITIVE and type(value) is str:
                member = _repetitive_member(name, value)
            elif (
                name == "actor"
                and type(value) is dict
                and all(type(v) is str for v in value.values())
            ):
                member = _actor_member(tuple(sorted(value.items())))
            else:
                member = _member(name, value)
        out.append(member)
    return out


def _body_bytes(members: list[bytes]) -> bytes:
    return b"{" + b",".join(members) + b"}"


def _line_bytes(members: list[bytes], entry_hash: str, sig: str) -> bytes:
    return (
        b"{"
        + b",".join(
            [
                *members[:_HASH_AT],
                _member("hash", entry_hash),
                *members[_HASH_AT:_SIG_AT],
                _member("sig", sig),
                *members[_SIG_AT:],
            ]
        )
        + b"}"
    )


def canonical_body(fields: Mapping[str, Any]) -> bytes:
    """The bytes ``hash`` covers: the canonical entry without ``hash`` and ``sig``."""
    return _body_bytes(_encode_members(fields))


def signed_message(entry_hash_hex: str) -> bytes:
    """What ``sig`` signs: a domain prefix, so an entry signature can't pass for anything else."""
    return SIGNATURE_DOMAIN + bytes.fromhex(entry_hash_hex)


class EntryFormatError(ValueError):
    """A timeline line that is not a well-formed v1 entry.

    ``code`` is the verify verdict it maps to: MALFORMED_ENTRY, DUPLICATE_KEY_JSON or
    NON_CANONICAL_JSON. ``seq`` is set when the line parsed far enough to have one.
    """

    def __init__(self, code: str, message: str, seq: int | None = None) -> None:
        self.code = code
        self.seq = seq
        super().__init__(message)


@dataclass(frozen=True)
class ReadEntry:
    """An entry as found on disk, and the hash its body really has."""

    entry: Entry
    recomputed_hash: str

    @property
    def hash_matches(self) -> bool:
        return self.entry.hash == self.recomputed_hash


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise EntryFormatError("DUPLICATE_KEY_JSON", f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def _reject_float(text: str) -> Any:
    raise EntryFormatError("MALFORMED_ENTRY", f"float {text} in an entry (only integers allowed)")


def _reject_constant(text: str) -> Any:
    raise EntryFormatError("MALFORMED_ENTRY", f"{text} is not JSON")


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "v": (int,),
    "incident": (str,),
    "seq": (int,),
    "ts": (str,),
    "actor": (dict,),
    "step": (str,),
    "action": (str,),
    "target": (dict, type(None)),
    "phase": (str,),
    "outcome": (str, type(None)),
    "detail": (str,),
    "dry_run": (bool,),
    "evidence_refs": (list,),
    "extra": (dict,),
    "intent_seq": (int, type(None)),
    "key": (str,),
    "prev": (str,),
    "hash": (str,),
    "sig": (str,),
}


def _is_canonical_signature(text: str) -> bool:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 64 and base64.b64encode(raw).decode() == text


def _check_schema(fields: Any) -> None:
    if not isinstance(fields, dict):
        raise EntryFormatError("MALFORMED_ENTRY", "a line is not a JSON object")
    raw_seq = fields.get("seq")
    seq = raw_seq if isinstance(raw_seq, int) and not isinstance(raw_seq, bool) else None
    keys = set(fields)
    if keys != ENTRY_KEYS:
        missing = sorted(ENTRY_KEYS - keys)
        unknown = sorted(keys - ENTRY_KEYS)
        raise EntryFormatError(
            "MALFORMED_ENTRY", f"fields missing {missing}, unknown {unknown}", seq
        )
    for name, types in _FIELD_TYPES.items():
        value = fields[name]
        # bool is an int in Python; only dry_run may be one.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise EntryFormatError(
                "MALFORMED_ENTRY", f"field {name!r} has type {type(value).__name__}", seq
            )
    if fields["v"] != FORMAT_VERSION:
        raise EntryFormatError("MALFORMED_ENTRY", f"unknown format version {fields['v']}", seq)
    if seq is None or seq < 0:
        raise EntryFormatError("MALFORMED_ENTRY", "seq is not a non-negative integer")
    if fields["phase"] not in PHASES:
        raise EntryFormatError("MALFORMED_ENTRY", f"unknown phase {fields['phase']!r}", seq)
    for name in ("hash", "prev", "key"):
        if not _HEX64.fullmatch(fields[name]):
            raise EntryFormatError("MALFORMED_ENTRY", f"{name} is not 64 lowercase hex", seq)
    if not _is_canonical_signature(fields["sig"]):
        # Base64 decoders ignore stray padding bits, so several strings decode to one
        # signature; only the canonical one is accepted, keeping every byte of a line significant.
        raise EntryFormatError("MALFORMED_ENTRY", "sig is not canonical base64 of 64 bytes", seq)
    if not all(isinstance(ref, str) for ref in fields["evidence_refs"]):
        raise EntryFormatError("MALFORMED_ENTRY", "evidence_refs holds a non-string", seq)


def parse_entry_line(raw: bytes) -> ReadEntry:
    """Parse one line (without its newline) strictly, or raise EntryFormatError.

    Strict means: valid UTF-8, no duplicate keys, no floats, exactly the v1 fields with their
    types, and bytes identical to the RFC 8785 encoding (so no two byte strings mean one entry).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EntryFormatError("MALFORMED_ENTRY", "line is not valid UTF-8") from None
    try:
        fields = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_float=_reject_float,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        raise EntryFormatError(
            "MALFORMED_ENTRY", f"not JSON ({exc.msg} at column {exc.colno})"
        ) from None
    _check_schema(fields)
    seq = fields["seq"]
    try:
        members = _encode_members(fields, exact=_LONG_NUMBER.search(raw) is not None)
        canonical_line = _line_bytes(members, fields["hash"], fields["sig"])
    except rfc8785.CanonicalizationError as exc:
        raise EntryFormatError(
            "NON_CANONICAL_JSON", f"has no RFC 8785 form ({type(exc).__name__})", seq
        ) from None
    if canonical_line != raw:
        raise EntryFormatError("NON_CANONICAL_JSON", "bytes are not RFC 8785 canonical JSON", seq)
    recomputed = hashlib.sha256(_body_bytes(members)).hexdigest()
    entry = Entry(seq=seq, hash=fields["hash"], fields=MappingProxyType(fields))
    return ReadEntry(entry, recomputed)


def split_lines(data: bytes) -> tuple[list[bytes], bool]:
    """The lines of a timeline file, and whether the last one was cut off (no newline)."""
    if not data:
        return [], False
    torn = not data.endswith(b"\n")
    lines = data.split(b"\n")
    if not torn:
        lines.pop()
    return lines, torn


def read_entries(path: Path) -> list[Entry]:
    """Every entry of a timeline file, read strictly; BadInput (with line) at the first bad line.

    This checks the format only. Whether hashes, signatures and the chain hold is ``verify``'s
    job: run ``clawback.verify.verify_incident`` before trusting the content.
    """
    return [read.entry for read in _read_strict(Path(path))]


def _read_strict(path: Path) -> list[ReadEntry]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the timeline: {exc.strerror}", path=path) from None
    lines, torn = split_lines(data)
    if torn:
        raise BadInput(
            "the last line is incomplete (a write was cut off, or the file was truncated)",
            path=path,
            line=len(lines),
        )
    out = []
    for lineno, raw in enumerate(lines, start=1):
        try:
            out.append(parse_entry_line(raw))
        except EntryFormatError as exc:
            raise BadInput(f"{exc.code}: {exc}", path=path, line=lineno) from None
    return out


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _utc_timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _actor() -> dict[str, str]:
    try:
        import pwd

        user = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        user = f"uid{os.geteuid()}"
    return {"user": f"{user}@{socket.gethostname()}", "tool": f"clawback/{__version__}"}


def _host_facts() -> dict[str, Any]:
    uname = os.uname()
    facts: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "system": uname.sysname,
        "kernel": uname.release,
        "machine": uname.machine,
        "pid": os.getpid(),
    }
    try:
        facts["machine_id"] = Path("/etc/machine-id").read_text().strip() or None
    except OSError:
        facts["machine_id"] = None
    return facts


def _clock_facts(now: datetime) -> dict[str, Any]:
    local = now.astimezone()
    offset = local.strftime("%z")
    return {
        "utc": _utc_timestamp(now),
        "local": local.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{offset[:3]}:{offset[3:]}",
        "utc_offset": f"{offset[:3]}:{offset[3:]}",
        "timezone": local.tzname() or "",
        "monotonic_ns": time.monotonic_ns(),
    }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Results and events not yet on disk: synced with the next intent, checkpoint or close, or once
# this many are pending, or this long after the last sync, whichever comes first.
GROUP_COMMIT_ENTRIES = 64
GROUP_COMMIT_SECONDS = 0.05


class Timeline:
    """An open incident timeline. Safe to append to from many threads.

    Durability by entry kind (``bench/README.md`` says the same):

    - an **intent**, and the ``open``, ``resume`` and ``close`` entries, are on disk
      (fdatasync) before ``append`` returns, so a state-changing action never runs before the
      record that it is about to;
    - a **result** or **event** is written to the file before ``append`` returns (it survives a
      crash of clawback itself) and reaches the disk with the next intent, checkpoint or close,
      or once ``GROUP_COMMIT_ENTRIES`` are pending or ``GROUP_COMMIT_SECONDS`` have passed: a
      power cut in that window can lose it, and verify then shows the intent without a result
      (CRASHED_ACTION: check by hand), never a result without its intent.

    Concurrent appenders share one sync when they can (group commit), so a parallel fan-out
    does not pay one disk flush per key.
    """

    def __init__(
        self,
        *,
        incident_dir: Path,
        incident_id: str,
        signer: Signer,
        file: Any,
        next_seq: int,
        prev: str,
        leaves: list[bytes],
        durable: bool,
    ) -> None:
        self.incident_dir = incident_dir
        self.incident_id = incident_id
        self.signer = signer
        self.path = incident_dir / TIMELINE_FILE
        self.last_checkpoint: str | None = None
        self._file = file
        self._fd: int = file.fileno()
        self._next_seq = next_seq
        self._prev = prev
        self._leaves = leaves
        self._durable = durable
        self._actor = _actor()
        self._key_fingerprint = signer.fingerprint
        self._constant_members = {
            "actor": _member("actor", self._actor),
            "incident": _member("incident", incident_id),
            "key": _member("key", self._key_fingerprint),
            "v": _member("v", FORMAT_VERSION),
        }
        self._open_intents: dict[tuple[str, str, bytes], deque[int]] = {}
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._written_seq = next_seq - 1
        self._synced_seq = next_seq - 1
        self._last_sync = time.monotonic()
        self._closed = False
        self._broken = False
        self.history: tuple[Entry, ...] = ()  # the entries before this process (resume)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        incident_dir: Path,
        incident_id: str,
        signer: Signer,
        *,
        header: Mapping[str, Any],
        durable: bool = True,
    ) -> Timeline:
        """Start a new timeline in ``incident_dir`` (created 0700) with its ``open`` entry.

        ``header`` goes into entry 0's ``extra`` beside host, clock, tool and signing_key; the
        runner passes e.g. ``{"playbook": {"name": ..., "path": ..., "sha256": ...}}``.
        ``durable=False`` skips fdatasync (benchmarks only).
        """
        clash = _RESERVED_OPEN_KEYS & set(header)
        if clash:
            raise ValueError(f"header may not set {sorted(clash)}: the timeline records those")
        safe_header = _json_safe(header, "header")
        incident_dir = make_private_dir(Path(incident_dir))
        path = incident_dir / TIMELINE_FILE
        file = open_private(path, "ab", encoding=None)
        if os.fstat(file.fileno()).st_size:
            file.close()
            raise BadInput(
                "a timeline already exists here; resume it (contain --resume) instead",
                path=path,
            )
        write_private(incident_dir / PUBLIC_KEY_FILE, signer.public_key_pem(), fsync=durable)
        if durable:
            _fsync_dir(incident_dir)
        timeline = cls(
            incident_dir=incident_dir,
            incident_id=incident_id,
            signer=signer,
            file=file,
            next_seq=0,
            prev=GENESIS_PREV,
            leaves=[],
            durable=durable,
        )
        now = datetime.now(UTC)
        extra = {
            **safe_header,
            "host": _host_facts(),
            "clock": _clock_facts(now),
            "tool": {"name": "clawback", "version": __version__},
            "signing_key": {
                "algorithm": "ed25519",
                "name": signer.key_name,
                "public_key": signer.public_key.base64(),
                "fingerprint": signer.fingerprint,
                "note_key_id": signer.key_id.hex(),
            },
        }
        timeline._append(
            step=TIMELINE_STEP,
            action="open",
            phase="event",
            detail=f"incident {incident_id} opened",
            extra=extra,
            now=now,
        )
        return timeline

    @classmethod
    def resume(cls, incident_dir: Path, signer: Signer, *, durable: bool = True) -> Timeline:
        """Reopen an interrupted timeline and append a ``resume`` entry.

        Refuses (BadInput) when the file is not a sound chain up to its last entry, when that
        entry is not signed by ``signer``, or when the incident is already closed.
        """
        incident_dir = Path(incident_dir)
        path = incident_dir / TIMELINE_FILE
        if not path.is_file():
            raise BadInput("no timeline to resume here", path=path)
        read = _read_strict(path)
        if not read:
            raise BadInput("the timeline is empty; start a new incident", path=path)
        prev = GENESIS_PREV
        for lineno, item in enumerate(read, start=1):
            entry = item.entry
            if entry.seq != lineno - 1 or entry.fields["prev"] != prev or not item.hash_matches:
                raise BadInput(
                    f"the hash chain breaks at seq {entry.seq}; run `clawback verify` and start "
                    "a new incident rather than extending a damaged timeline",
                    path=path,
                    line=lineno,
                )
            prev = entry.hash
        first, last = read[0].entry, read[-1].entry
        recorded = first.extra.get("signing_key", {}).get("fingerprint")
        if first.action != "open" or recorded != signer.fingerprint:
            raise BadInput(
                f"this incident was signed by key {str(recorded)[:16]}…, not the keyring's key "
                f"{signer.fingerprint[:16]}…; resume it on the host that started it",
                path=path,
            )
        if last.fields["key"] != signer.fingerprint or not signer.public_key.verify(
            base64.b64decode(last.fields["sig"]), signed_message(last.hash)
        ):
            raise BadInput(
                f"the last entry (seq {last.seq}) is not validly signed; run `clawback verify`",
                path=path,
                line=len(read),
            )
        # A closed incident may be reopened (manual steps confirmed, failures retried): the
        # resume entry says so and a new close ends the new segment.
        reopened = last.action == "close"
        history = tuple(item.entry for item in read)
        unfinished = unmatched_intents(history)
        file = open_private(path, "ab", encoding=None)
        timeline = cls(
            incident_dir=incident_dir,
            incident_id=str(first.fields["incident"]),
            signer=signer,
            file=file,
            next_seq=last.seq + 1,
            prev=last.hash,
            leaves=[bytes.fromhex(item.entry.hash) for item in read],
            durable=durable,
        )
        # The signed record the resume journal is checked against (clawback.journal).
        timeline.history = history
        timeline._append(
            step=TIMELINE_STEP,
            action="resume",
            phase="event",
            detail=(
                f"reopened after close at seq {last.seq}"
                if reopened
                else f"resumed after seq {last.seq}; {len(unfinished)} action(s) never finished"
            ),
            extra={
                "resumed_after_seq": last.seq,
                "unfinished_intents": unfinished,
                "reopened": reopened,
            },
        )
        return timeline

    # -- writing -----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Entries written so far."""
        return self._next_seq

    def append(
        self,
        *,
        step: str,
        action: str,
        phase: Phase,
        target: Mapping[str, Any] | None = None,
        outcome: str | None = None,
        detail: str = "",
        dry_run: bool = False,
        evidence_refs: Sequence[str] = (),
        extra: Mapping[str, Any] | None = None,
        intent_seq: int | None = None,
    ) -> Entry:
        """Sign and durably append one entry.

        Write ``phase="intent"`` before a state-changing action and ``phase="result"`` after.
        A result gets ``intent_seq`` = the oldest open intent with the same (step, action,
        target) unless ``intent_seq`` is given. ``target`` holds fingerprints only, never a
        secret; floats anywhere are refused (TypeError).
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {sorted(PHASES)}, not {phase!r}")
        return self._append(
            step=step,
            action=action,
            phase=phase,
            target=target,
            outcome=outcome,
            detail=detail,
            dry_run=dry_run,
            evidence_refs=evidence_refs,
            extra=extra,
            intent_seq=intent_seq,
        )

    def _append(
        self,
        *,
        step: str,
        action: str,
        phase: str,
        target: Mapping[str, Any] | None = None,
        outcome: str | None = None,
        detail: str = "",
        dry_run: bool = False,
        evidence_refs: Sequence[str] = (),
        extra: Mapping[str, Any] | None = None,
        intent_seq: int | None = None,
        now: datetime | None = None,
        closing: bool = False,
    ) -> Entry:
        if isinstance(evidence_refs, str):
            raise TypeError("evidence_refs is a sequence of ids, not one string")
        refs = list(evidence_refs)
        if not all(isinstance(x, str) for x in (step, action, detail, *refs)) or not (
            outcome is None or isinstance(outcome, str)
        ):
            raise TypeError("step, action, detail, outcome and evidence_refs are strings")
        safe_target = _json_safe(target, "target")
        safe_extra = _json_safe(extra or {}, "extra")
        step, action, detail = storable(step), storable(action), storable(detail)
        outcome = None if outcome is None else storable(outcome)
        refs = [storable(ref) for ref in refs]
        target_member = _member("target", safe_target)
        # An intent and its result match on (step, action, target); the canonical bytes make
        # equal targets equal keys whatever their dict order.
        target_key = (step, action, target_member) if phase != "event" else None
        with self._lock:
            if self._closed:
                raise RuntimeError("the timeline is closed; nothing more can be appended")
            if self._broken:
                raise RuntimeError("an earlier write to the timeline failed; it is read-only now")
            seq = self._next_seq
            if closing:
                safe_extra["entry_count"] = seq + 1
                detail = f"incident {self.incident_id} closed with {seq + 1} entries"
            if phase == "result" and target_key is not None:
                waiting = self._open_intents.get(target_key)
                if waiting and intent_seq is None:
                    intent_seq = waiting.popleft()
                elif waiting and intent_seq is not None and intent_seq in waiting:
                    waiting.remove(intent_seq)
                if waiting is not None and not waiting:
                    # Answered: keeping an empty queue per target grew with every key.
                    del self._open_intents[target_key]
            fields: dict[str, Any] = {
                "action": action,
                "actor": self._actor,
                "detail": detail,
                "dry_run": bool(dry_run),
                "evidence_refs": refs,
                "extra": safe_extra,
                "incident": self.incident_id,
                "intent_seq": intent_seq,
                "key": self._key_fingerprint,
                "outcome": outcome,
                "phase": phase,
                "prev": self._prev,
                "seq": seq,
                "step": step,
                "target": safe_target,
                "ts": _utc_timestamp(now or datetime.now(UTC)),
                "v": FORMAT_VERSION,
            }
            members = _encode_members(fields, {**self._constant_members, "target": target_member})
            digest = hashlib.sha256(_body_bytes(members)).digest()
            entry_hash = digest.hex()
            sig = base64.b64encode(self.signer.sign(SIGNATURE_DOMAIN + digest)).decode()
            line = _line_bytes(members, entry_hash, sig) + b"\n"
            self._write_all(line)
            if phase == "intent" and target_key is not None:
                self._open_intents.setdefault(target_key, deque()).append(seq)
            self._next_seq = seq + 1
            self._prev = entry_hash
            self._leaves.append(digest)
            self._written_seq = seq
            if closing:
                self._closed = True
        if phase == "intent" or step == TIMELINE_STEP or self._sync_due():
            self._sync_through(seq)
        fields["hash"] = entry_hash
        fields["sig"] = sig
        return Entry(seq=seq, hash=entry_hash, fields=MappingProxyType(fields))

    def _write_all(self, line: bytes) -> None:
        view = memoryview(line)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            # A partial line may be on disk now; appending after it would corrupt the chain.
            self._broken = True
            raise

    def _sync_due(self) -> bool:
        """Whether the results and events written since the last sync should go to disk now."""
        pending = self._written_seq - self._synced_seq
        return pending >= GROUP_COMMIT_ENTRIES or (
            pending > 0 and time.monotonic() - self._last_sync >= GROUP_COMMIT_SECONDS
        )

    def _sync_through(self, seq: int) -> None:
        """Return once entry ``seq`` is on disk, sharing one fdatasync among waiting threads."""
        if not self._durable:
            return
        with self._sync_lock:
            if self._synced_seq >= seq or self._file.closed:
                return  # a closed file was synced by release()
            covered = self._written_seq  # every entry written so far rides on this sync
            os.fdatasync(self._fd)
            self._synced_seq = covered
            self._last_sync = time.monotonic()

    def sync(self) -> None:
        """Return once every entry written so far is on disk (results and events included).

        What records progress elsewhere (the resume journal) calls this first, so it never
        claims more than the timeline can prove after a power cut.
        """
        with self._lock:
            written = self._written_seq
        self._sync_through(written)

    def written_entries(self) -> list[Entry]:
        """Every entry written so far, read back from the file while no append is half done.

        Another thread's line goes out in one ``os.write`` under the append lock, but a reader
        without that lock can meet it half on disk: read strictly, that is a torn last line."""
        with self._lock:
            return read_entries(self.path)

    def checkpoint(self) -> str:
        """Sign a checkpoint over every entry so far; store it and return its text to print."""
        # Serialized, so checkpoint.txt always ends up holding the largest tree, and appends
        # go on while the root is computed and signed.
        with self._checkpoint_lock:
            with self._lock:
                size = self._next_seq
                leaves = list(self._leaves)
            self._sync_through(size - 1)
            root = root_hash(leaves)
            note = sign_checkpoint(origin_for(self.incident_id), size, root, self.signer)
            self._store_checkpoint(note)
        return note

    def _store_checkpoint(self, note: str) -> None:
        with self._lock:
            write_private(self.incident_dir / CHECKPOINT_FILE, note, fsync=self._durable)
            with open_private(self.incident_dir / CHECKPOINT_HISTORY_FILE, "a") as history:
                history.write(note + "\n")
                if self._durable:
                    history.flush()
                    os.fsync(history.fileno())
            self.last_checkpoint = note

    def close(
        self, *, manifest_sha256: str | None, extra: Mapping[str, Any] | None = None
    ) -> Entry:
        """Append the ``close`` entry (entry count, evidence manifest hash), then checkpoint.

        The final checkpoint's text is in ``last_checkpoint`` for the caller to print.
        """
        clash = _RESERVED_CLOSE_KEYS & set(extra or {})
        if clash:
            raise ValueError(f"extra may not set {sorted(clash)}: close records those")
        entry = self._append(
            step=TIMELINE_STEP,
            action="close",
            phase="event",
            extra={**(extra or {}), "evidence_manifest_sha256": manifest_sha256},
            closing=True,
        )
        self.checkpoint()
        self.release()
        return entry

    def release(self) -> None:
        """Sync and close the file without a ``close`` entry (the process is about to stop)."""
        with self._lock, self._sync_lock:
            if not self._file.closed:
                if self._durable:
                    os.fdatasync(self._fd)
                    self._synced_seq = self._written_seq
                self._file.close()

    def __enter__(self) -> Timeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def unmatched_intents(entries: Sequence[Entry]) -> list[int]:
    """Seqs of intent entries that no result's ``intent_seq`` points to."""
    answered = {e.fields["intent_seq"] for e in entries if e.phase == "result"}
    return [e.seq for e in entries if e.phase == "intent" and e.seq not in answered]


def public_key_of(entry0: Entry) -> PublicKey | None:
    """The signing key entry 0 records, if it is well-formed."""
    recorded = entry0.extra.get("signing_key")
    if not isinstance(recorded, Mapping):
        return None
    try:
        return PublicKey.from_base64(str(recorded.get("public_key", "")))
    except (binascii.Error, ValueError):
        return None
