"""Checkpoints: a C2SP tlog-checkpoint body inside a C2SP signed note.

A checkpoint is a few lines an operator can paste into a ticket or chat, off the host::

    clawback/2026-11-21T0203Z-7f3a
    42
    <base64 RFC 6962 root over the first 42 entry hashes>

    — clawback/myhost <base64(4-byte key ID || 64-byte Ed25519 signature)>

The signature covers the body (the text up to and including its last newline). Verifiers ignore
signatures from keys they do not know, as signed-note requires. ``checkpoints.txt`` holds every
checkpoint of an incident, one note after another with a blank line between them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from clawback.signing import PublicKey, Signer

ORIGIN_PREFIX = "clawback/"
SIGNATURE_DASH = "\u2014"  # em dash, as signed-note specifies
_SIG_LINE_START = f"{SIGNATURE_DASH} "
_MAX_SIGNATURES = 100  # signed-note: verifiers may reject notes with more
_ED25519_SIG_LEN = 64
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")

SignatureStatus = Literal["valid", "invalid", "absent"]


class CheckpointFormatError(ValueError):
    """Text that is not a well-formed checkpoint note; ``line`` is 1-based."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


def origin_for(incident_id: str) -> str:
    return f"{ORIGIN_PREFIX}{incident_id}"


@dataclass(frozen=True)
class NoteSignature:
    key_name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{_SIG_LINE_START}{self.key_name} {blob}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    body: str
    signatures: tuple[NoteSignature, ...]
    first_line: int = 1

    def signature_by(self, key: PublicKey) -> SignatureStatus:
        """Whether ``key`` signed this note: 'absent' when no signature line claims to be its."""
        claimed = [s for s in self.signatures if s.key_id == key.note_key_id(s.key_name)]
        if not claimed:
            return "absent"
        # signed-note: a failing signature from a known key rejects the whole note.
        for sig in claimed:
            if len(sig.signature) != _ED25519_SIG_LEN or not key.verify(
                sig.signature, self.body.encode()
            ):
                return "invalid"
        return "valid"

    def text(self) -> str:
        return self.body + "\n" + "".join(s.line() for s in self.signatures)


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    if not origin or "\n" in origin:
        raise ValueError("a checkpoint origin is one non-empty line")
    if size < 0:
        raise ValueError("a tree size is not negative")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_note(body: str, signer: Signer) -> NoteSignature:
    return NoteSignature(signer.key_name, signer.key_id, signer.sign(body.encode()))


def sign_checkpoint(origin: str, size: int, root: bytes, signer: Signer) -> str:
    """The signed-note text of a checkpoint, ready to print and to store."""
    body = checkpoint_body(origin, size, root)
    return body + "\n" + sign_note(body, signer).line()


def _parse_signature_line(line: str, lineno: int) -> NoteSignature:
    rest = line[len(_SIG_LINE_START) :]
    name, sep, blob = rest.partition(" ")
    if not sep or not name or not blob or " " in blob or "+" in name:
        raise CheckpointFormatError(f"malformed signature line {line!r}", lineno)
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointFormatError("signature is not valid base64", lineno) from None
    if len(raw) < 5:
        raise CheckpointFormatError("signature is too short to hold a key ID", lineno)
    return NoteSignature(name, raw[:4], raw[4:])


def _parse_body(lines: list[str], first_line: int) -> tuple[str, int, bytes]:
    if len(lines) < 3:
        raise CheckpointFormatError(
            "a checkpoint body has an origin, a tree size and a root hash", first_line
        )
    origin, size_text, root_text = lines[:3]
    if not origin:
        raise CheckpointFormatError("empty origin line", first_line)
    if not _DECIMAL.fullmatch(size_text):
        raise CheckpointFormatError(f"tree size {size_text!r} is not a decimal", first_line + 1)
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        root = b""
    if len(root) != 32:
        raise CheckpointFormatError("root hash is not base64 of 32 bytes", first_line + 2)
    return origin, int(size_text), root


def parse_checkpoints(text: str) -> list[Checkpoint]:
    """Every checkpoint note in ``text`` (one, or a ``checkpoints.txt`` history).

    CRLF line ends are read as LF, because a checkpoint pasted through a Windows editor should
    still verify; the signature check decides whether the body is the signed one.
    """
    text = text.replace("\r\n", "\n")
    match = _FORBIDDEN_CONTROL.search(text)
    if match:
        lineno = text.count("\n", 0, match.start()) + 1
        raise CheckpointFormatError("control character in a signed note", lineno)
    lines = text.split("\n")
    checkpoints: list[Checkpoint] = []
    i = 0
    while i < len(lines):
        if lines[i] == "":
            i += 1
            continue
        first = i
        while i < len(lines) and lines[i] != "":
            if lines[i].startswith(_SIG_LINE_START):
                raise CheckpointFormatError("signature line inside the note body", i + 1)
            i += 1
        body_lines = lines[first:i]
        if i >= len(lines) - 1:
            raise CheckpointFormatError("note has no signature block", first + 1)
        i += 1  # the blank line between body and signatures
        signatures: list[NoteSignature] = []
        while i < len(lines) and lines[i].startswith(_SIG_LINE_START):
            signatures.append(_parse_signature_line(lines[i], i + 1))
            i += 1
        if not signatures:
            raise CheckpointFormatError("note has no signature lines", first + 1)
        if len(signatures) > _MAX_SIGNATURES:
            raise CheckpointFormatError("note has too many signatures", first + 1)
        origin, size, root = _parse_body(body_lines, first + 1)
        body = "\n".join(body_lines) + "\n"
        checkpoints.append(Checkpoint(origin, size, root, body, tuple(signatures), first + 1))
    if not checkpoints:
        raise CheckpointFormatError("no checkpoint found")
    if not text.endswith("\n"):
        raise CheckpointFormatError("a signed note ends with a newline", len(lines))
    return checkpoints


def parse_checkpoint(text: str) -> Checkpoint:
    """Exactly one checkpoint note."""
    found = parse_checkpoints(text)
    if len(found) != 1:
        raise CheckpointFormatError(f"expected one checkpoint, found {len(found)}")
    return found[0]
