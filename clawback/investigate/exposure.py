"""Finding a credential's value in evidence text knowing only its fingerprint.

The timeline holds no secret values, only fingerprints: the last four characters and the first
8 hex digits of the value's SHA-256. The evidence holds the raw text. So the text is searched
(one Aho-Corasick pass, pyahocorasick) for every credential's last four characters; at each hit
the candidate values that end there are hashed: the run of token characters up to the hit, and
each suffix of it that starts after a ``=``, ``:`` or ``/`` (``KEY=value``, ``user:token``,
``.../token``). A candidate whose hash prefix matches is the credential. Text that looks like
base64 (``cat .env | base64``, whose lines wrap) is decoded and searched too, and so is
percent-encoded text.

A 32-bit hash prefix plus four characters can collide by chance: about one in 4·10⁹ candidates
per credential, and candidates are only tried where the last four characters already match.
Values shorter than the rules' ``min_secret_length`` are not looked for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

# Characters a token value is made of (base64, base64url, hex, JWT dots, AWS secret keys).
_TOKEN_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.~:"
)
_CUTS = frozenset("=:/")
MAX_SECRET_LENGTH = 1024
# One run of base64 characters, starting where a run starts (the lookbehind keeps the engine
# from retrying at every position inside a long run); wrapped output (``base64`` breaks its
# lines at 76) is several runs separated by a line break, joined afterwards.
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{20,}={0,2}")
MAX_BASE64_RUN = 1024 * 1024
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


@dataclass(frozen=True)
class Match:
    fingerprint: str
    start: int  # in the searched text (for a decoded form: the span of the encoded run)
    end: int
    encoded: str = ""  # "", "base64" or "percent"


def parse_fingerprint(fp: str) -> tuple[str, str] | None:
    """(last four characters, 8-hex sha256 prefix) of ``…abcd sha256:0123abcd``."""
    tail, sep, digest = fp.rpartition(" sha256:")
    if not sep or len(digest) != 8:
        return None
    return tail.removeprefix("…"), digest


class FingerprintMatcher:
    def __init__(self, fingerprints: Iterable[str], *, min_length: int = 8) -> None:
        import ahocorasick

        self.min_length = min_length
        by_tail: dict[str, list[tuple[str, str]]] = {}
        for fp in fingerprints:
            parsed = parse_fingerprint(fp)
            if parsed is None or len(parsed[0]) < 4:
                continue  # a value shorter than four characters is never looked for
            tail, digest = parsed
            by_tail.setdefault(tail, []).append((digest, fp))
        self._by_tail = by_tail
        self._automaton: Any = None
        if by_tail:
            automaton = ahocorasick.Automaton()
            for tail in by_tail:
                automaton.add_word(tail, tail)
            automaton.make_automaton()
            self._automaton = automaton

    def __bool__(self) -> bool:
        return self._automaton is not None

    def find(self, text: str, *, decode: bool = True) -> list[Match]:
        """Every credential value in ``text``, plain and (with ``decode``) base64- or
        percent-encoded, each span once."""
        if self._automaton is None or not text:
            return []
        found = list(self._plain(text))
        if decode and len(text) >= 16:
            found += self._encoded(text)
        return found

    def _plain(self, text: str) -> Iterator[Match]:
        last_end = -1
        for end_index, tail in self._automaton.iter(text):
            end = end_index + 1
            if end <= last_end:
                continue
            hit = self._at(text, end, self._by_tail[tail])
            if hit is not None:
                fp, start = hit
                last_end = end
                yield Match(fp, start, end)

    def _at(self, text: str, end: int, wanted: list[tuple[str, str]]) -> tuple[str, int] | None:
        floor = max(0, end - MAX_SECRET_LENGTH)
        start = end
        while start > floor and text[start - 1] in _TOKEN_CHARS:
            start -= 1
        candidates = [start] + [i + 1 for i in range(start, end) if text[i] in _CUTS]
        for begin in candidates:
            if end - begin < self.min_length:
                continue
            digest = hashlib.sha256(text[begin:end].encode()).hexdigest()[:8]
            for prefix, fp in wanted:
                if digest == prefix:
                    return fp, begin
        return None

    def _base64_runs(self, text: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, base64 text) of each run, wrapped lines joined."""
        start = end = -1
        parts: list[str] = []
        for run in _BASE64_RUN.finditer(text):
            if parts and text[end:run.start()].strip(" \t\r\n") == "" and (
                    run.start() - end) <= 2 and sum(map(len, parts)) < MAX_BASE64_RUN:
                parts.append(run.group(0))
                end = run.end()
                continue
            if parts:
                yield start, end, "".join(parts)
            start, end, parts = run.start(), run.end(), [run.group(0)]
        if parts:
            yield start, end, "".join(parts)

    def _encoded(self, text: str) -> list[Match]:
        found: list[Match] = []
        for start, end, compact in self._base64_runs(text):
            if len(compact) < 12:
                continue
            try:
                raw = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
            except (binascii.Error, ValueError):
                continue
            decoded = raw.decode("utf-8", "replace")
            found += [Match(m.fingerprint, start, end, "base64") for m in self._plain(decoded)]
        if "%" in text and _PERCENT.search(text):
            decoded = unquote(text)
            if decoded != text:
                plain = {m.fingerprint for m in self._plain(text)}
                found += [Match(m.fingerprint, 0, len(text), "percent")
                          for m in self._plain(decoded) if m.fingerprint not in plain]
        return found


def redact(text: str, matches: Iterable[Match], labels: Mapping[str, str] | None = None) -> str:
    """``text`` with every matched span replaced by ``<secret FINGERPRINT>``."""
    spans = sorted({(m.start, m.end, m.fingerprint) for m in matches})
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for start, end, fp in spans:
        if start < position:
            continue
        out.append(text[position:start])
        out.append(f"<secret {labels.get(fp, fp) if labels else fp}>")
        position = end
    out.append(text[position:])
    return "".join(out)
