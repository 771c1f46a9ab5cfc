"""Making evidence text safe to write down: no secret value leaves an investigation.

Commands, URLs and message previews are what a person needs to read, and they are where an
attacker's agent put the secrets it stole. Before any of that text becomes part of
``investigation.json`` it is scrubbed three ways:

1. the incident's own credentials, found by fingerprint (``FingerprintMatcher``), plain or
   encoded, become ``<secret …abcd sha256:0123abcd>``;
2. any other value with a distinctive provider shape (``ghp_``, ``sk-ant-``, ``xoxb-``...) is
   replaced by its own fingerprint: a key discovery missed is still a key;
3. ``NAME=value``, ``NAME: value`` and ``Bearer value`` where the name says credential
   (``*_TOKEN``, ``password``, ``api_key``...) and the value is plausible get the same.
"""

from __future__ import annotations

import re

from clawback.investigate.exposure import FingerprintMatcher, redact
from responders.interface import fingerprint
from responders.kit.secret_patterns import (
    find_in_text,
    is_identifier,
    looks_like_secret_name,
    plausible_secret_value,
)

_ASSIGNED = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_.-]{1,80})(?P<sep>\s*[=:]\s*|\"\s*:\s*\")"
    r"(?P<quote>[\"']?)(?P<value>[^\s\"'&;|,)}]{8,})"
)
_BEARER = re.compile(r"(?i)(?P<lead>\b(?:bearer|token|basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{12,})")


# Agents run the same commands and fetch the same pages again and again: scrubbed texts are
# remembered (bounded), which halves the scrubbing of a large transcript set.
_CACHE_ENTRIES = 50_000
_CACHE_TEXT_CHARS = 4096


class Scrubber:
    def __init__(self, matcher: FingerprintMatcher) -> None:
        self.matcher = matcher
        self._seen: dict[str, str] = {}

    def text(self, text: str, *, remember: bool = True) -> str:
        if not text:
            return text
        cached = self._seen.get(text)
        if cached is not None:
            return cached
        scrubbed = self._scrub(text)
        if remember and len(text) <= _CACHE_TEXT_CHARS:
            if len(self._seen) >= _CACHE_ENTRIES:
                self._seen.clear()
            self._seen[text] = scrubbed
        return scrubbed

    def _scrub(self, text: str) -> str:
        found = self.matcher.find(text)
        text = redact(text, found)
        shapes = [m for m in find_in_text(text) if not is_identifier(m.recognition)]
        for m in reversed(shapes):
            text = f"{text[:m.start]}<secret {fingerprint(m.value)}>{text[m.end:]}"
        text = _ASSIGNED.sub(_assigned, text)
        return _BEARER.sub(_bearer, text)


def _assigned(match: re.Match[str]) -> str:
    value = match.group("value")
    if value.startswith("<secret") or not looks_like_secret_name(match.group("name")):
        return match.group(0)
    if not plausible_secret_value(value, min_length=8):
        return match.group(0)
    return (f"{match.group('name')}{match.group('sep')}{match.group('quote')}"
            f"<secret {fingerprint(value)}>")


def _bearer(match: re.Match[str]) -> str:
    value = match.group("value")
    if not plausible_secret_value(value, min_length=12):
        return match.group(0)
    return f"{match.group('lead')}<secret {fingerprint(value)}>"
