"""How text clawback did not write is shown to a person.

File names, config keys, service names and provider answers can come from a compromised agent.
Printed raw, an ESC or OSC sequence drives the operator's terminal, a newline forges an output
line and a bidi override reorders what is read. Everything shown passes through ``printable``;
the timeline keeps the original text, this is only for eyes.
"""

from __future__ import annotations

import re

# Every character Python does not call printable is escaped: C0 controls (newline and tab
# included: one field is one line), DEL, C1 controls, format characters such as the bidi
# overrides, line and paragraph separators, unassigned code points and the lone surrogates that
# ``os.fsdecode`` makes of bytes that are not UTF-8. The backslash is escaped too, so that a name
# which spells "\x1b" stays distinct from one holding an ESC.


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == " " or char.isprintable():
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character that could act on a terminal written as an escape."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(map(_escape, text))


def for_markup(text: str) -> str:
    """``printable`` text that is also safe inside rich console markup (``[red]`` and kin)."""
    from rich.markup import escape  # rich is imported only by what already prints through it

    return escape(printable(text))


# A long token of mixed letters and digits is a secret until proven otherwise: gateway tokens
# (token_urlsafe), API keys without a known prefix. Paths and hex digests are left alone.
_TOKEN = re.compile(r"[A-Za-z0-9_+/=.-]{32,}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _looks_random(token: str) -> bool:
    if token.startswith(("/", ".", "~")) or "/" in token.strip("/").replace("+", ""):
        return False  # a path (base64's "/" comes with "+" or "=" around it)
    if _HEX.fullmatch(token):
        return False  # a digest: clawback prints sha256s on purpose
    classes = sum((any(c.islower() for c in token), any(c.isupper() for c in token),
                   any(c.isdigit() for c in token)))
    return classes == 3 and len(set(token)) >= 12


def without_secrets(text: str) -> str:
    """``text`` with every value that looks like a secret shown as its fingerprint only: the
    provider shapes discovery knows (``sk-…``, ``ghp_…``, ``xoxb-…``, …) and long random
    tokens. For error messages, which quote what the operator wrote."""
    from responders.interface import fingerprint
    from responders.kit.secret_patterns import find_in_text, is_identifier

    spans = [(m.start, m.end) for m in find_in_text(text) if not is_identifier(m.recognition)]
    for match in _TOKEN.finditer(text):
        overlaps = any(start < match.end() and match.start() < end for start, end in spans)
        if not overlaps and _looks_random(match.group()):
            spans.append((match.start(), match.end()))
    out, position = [], 0
    for start, end in sorted(spans):
        if start < position:
            continue
        out += [text[position:start], f"[secret {fingerprint(text[start:end])}]"]
        position = end
    out.append(text[position:])
    return "".join(out)


def for_error(message: str) -> str:
    """An error message as printed: every line escaped, every secret a fingerprint. The line
    breaks are clawback's own (one problem per line); any inside quoted text are escaped
    by the code that quoted it."""
    return "\n".join(printable(line) for line in without_secrets(message).split("\n"))
