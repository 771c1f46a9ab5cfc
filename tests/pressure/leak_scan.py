"""Search captured output for secrets in every form they could take on the way out.

A secret can leave in more than its own spelling: a response body echoed as base64, a URL with
the token encoded in its query, a JSON document escaping a PEM's newlines, a hex dump. Each
secret is turned into ``Needle``s, one per form, and every byte captured is searched for each.

Base64 is searched at every alignment: a secret inside a larger base64 blob (a whole file, a
request body) does not encode to ``b64(secret)``, but the characters that depend only on the
secret's own bytes are the same wherever it sits modulo 3, so the three "cores" catch it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

from responders.kit.secret_patterns import find_in_text, is_identifier

_MIN_NEEDLE = 12  # shorter forms would match innocent text


@dataclass(frozen=True)
class Secret:
    """A value that must never be written, and what to call it in a failure message."""

    label: str  # e.g. "planted aws:access_key …2QE/" (never the value)
    value: str


@dataclass(frozen=True)
class Needle:
    secret: Secret
    form: str
    data: bytes


@dataclass(frozen=True)
class Blob:
    """Bytes something wrote, and where they came from."""

    origin: str  # "stdout of `clawback contain --json`" or a file path
    data: bytes


@dataclass(frozen=True)
class Hit:
    needle: Needle
    origin: str
    offset: int

    def describe(self) -> str:
        return (f"{self.needle.secret.label} found as {self.needle.form} in {self.origin} "
                f"at byte {self.offset}")


def _base64_cores(raw: bytes, alphabet: str) -> dict[str, bytes]:
    """The part of the base64 text that only ``raw``'s own bytes decide, per alignment."""
    cores: dict[str, bytes] = {}
    for shift in range(3):
        padded = b"\0" * shift + raw
        encoded = (base64.urlsafe_b64encode(padded) if alphabet == "urlsafe"
                   else base64.b64encode(padded))
        start = -(-8 * shift // 6)  # first character with no bit from the padding bytes
        end = 8 * len(padded) // 6  # characters made only of the secret's bits
        cores[f"base64-{alphabet} (aligned at byte {shift})"] = encoded[start:end]
    return cores


def needles_for(secret: Secret) -> list[Needle]:
    value = secret.value
    raw = value.encode()
    forms: dict[str, bytes] = {"raw": raw}
    for alphabet in ("std", "urlsafe"):
        encoded = base64.b64encode(raw) if alphabet == "std" else base64.urlsafe_b64encode(raw)
        forms[f"base64-{alphabet}"] = encoded
        forms[f"base64-{alphabet} unpadded"] = encoded.rstrip(b"=")
        forms.update(_base64_cores(raw, alphabet))
    forms["url-encoded"] = quote(value, safe="").encode()
    forms["url-encoded (path)"] = quote(value).encode()
    forms["form-encoded"] = quote_plus(value).encode()
    forms["hex"] = raw.hex().encode()
    forms["HEX"] = raw.hex().upper().encode()
    forms["json-escaped"] = json.dumps(value)[1:-1].encode()
    forms["json-escaped (utf-8)"] = json.dumps(value, ensure_ascii=False)[1:-1].encode()
    forms["json-escaped (slashes)"] = json.dumps(value)[1:-1].replace("/", "\\/").encode()
    # A multi-line secret (a PEM key) leaks just as much one body line at a time.
    lines = [line.strip() for line in value.splitlines()]
    for number, line in enumerate(lines, start=1):
        if len(lines) > 1 and len(line) >= 20 and not line.startswith("-----"):
            forms[f"line {number} of it"] = line.encode()
    needles: list[Needle] = []
    seen: set[bytes] = set()
    for form, data in forms.items():
        if len(data) < _MIN_NEEDLE or data in seen:
            continue
        seen.add(data)
        needles.append(Needle(secret, form, data))
    return needles


def scan(blobs: Iterable[Blob], secrets: Iterable[Secret]) -> list[Hit]:
    needles = [n for s in secrets for n in needles_for(s)]
    hits = []
    for blob in blobs:
        for needle in needles:
            offset = blob.data.find(needle.data)
            if offset >= 0:
                hits.append(Hit(needle, blob.origin, offset))
    return hits


def secret_shapes(blobs: Iterable[Blob]) -> list[str]:
    """Distinctively shaped secrets (``ghp_…``, ``sk-ant-…``, ``xoxb-…``) in any blob, whoever
    they belong to: a second net for values the test does not know. Key ids are not secrets."""
    found = []
    for blob in blobs:
        text = blob.data.decode("utf-8", errors="replace")
        for match in find_in_text(text):
            if not is_identifier(match.recognition):
                found.append(f"a {match.recognition.kind} in {blob.origin} at character "
                             f"{match.start}")
    return found


def file_blobs(root: Path, *, skip: Iterable[Path] = (), label_root: Path | None = None
               ) -> list[Blob]:
    """Every regular file under ``root`` except those under a ``skip`` path."""
    skipped = [Path(p) for p in skip]
    blobs = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        if any(path == s or s in path.parents for s in skipped):
            continue
        shown = path.relative_to(label_root) if label_root else path
        blobs.append(Blob(str(shown), path.read_bytes()))
    return blobs
