"""How text clawback did not write is shown to a person.

File names, config keys, service names and provider answers can come from a compromised agent.
Printed raw, an ESC or OSC sequence drives the operator's terminal, a newline forges an output
line and a bidi override reorders what is read. Everything shown passes through ``printable``;
the timeline keeps the original text, this is only for eyes.
"""

from __future__ import annotations

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
