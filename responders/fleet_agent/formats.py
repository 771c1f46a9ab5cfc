"""Standard-library readers for JSON5 and dotenv files, for hosts that have neither library.

The remote agent runs OpenClaw discovery on a fleet host with nothing but Python. Discovery
there reads OpenClaw's JSON5 configs and ``.env`` files through ``pyjson5`` and
``python-dotenv``; when the host has them, they are used. When it does not, ``install()``
registers these readers under those two module names, so discovery runs unchanged.

What they cover (tests/fleet compares them with the real libraries):

* JSON5: the whole grammar of json5.org: ``//`` and ``/* */`` comments, unquoted (identifier)
  keys, single-quoted strings, escaped line breaks, trailing commas, hexadecimal numbers, a
  leading or trailing decimal point, explicit ``+``, ``Infinity`` and ``NaN``. An error raises
  ``Json5Exception`` whose message ends in ``near <offset>`` and never quotes the text (the text
  holds secrets).
* dotenv: ``KEY=value`` lines with optional ``export``, single quotes (literal), double quotes
  (``\\n``, ``\\t``, ``\\"``, ``\\\\`` escapes, may span lines), ``#`` comments on their own line
  or after whitespace behind an unquoted value, and a bare ``KEY`` (value ``None``). Variable
  expansion is not done: discovery asks for ``interpolate=False``.
"""

from __future__ import annotations

import math
import re
import sys
import types
from typing import IO, Any

# Identifier characters JSON5 allows in unquoted keys (ECMAScript IdentifierName, simplified to
# what configs use: letters, digits, $, _ and any non-ASCII letter).
_IDENT_START = re.compile(r"[A-Za-z_$\u0080-\uffff]")
_IDENT_PART = re.compile(r"[A-Za-z0-9_$\u0080-\uffff]")
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9A-Fa-f]+|Infinity|NaN|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
)
_ESCAPES = {
    "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "0": "\0",
    "'": "'", '"': '"', "\\": "\\", "/": "/",
}  # fmt: skip
_LINE_BREAKS = ("\r\n", "\n", "\r", "\u2028", "\u2029")


class Json5Exception(ValueError):
    """Not valid JSON5. The message names the offset only, like pyjson5's ``near N``."""

    def __init__(self, what: str, offset: int) -> None:
        super().__init__(f"{what} near {offset}")
        self.offset = offset


class _Json5Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> Json5Exception:
        return Json5Exception(what, self.pos)

    def skip(self) -> None:
        """Skip whitespace and comments."""
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c.isspace() or c == "\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                ends = [i for i in (text.find(b, self.pos) for b in _LINE_BREAKS) if i >= 0]
                self.pos = min(ends) if ends else len(text)
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail("unterminated comment")
                self.pos = end + 2
            else:
                return

    def document(self) -> Any:
        self.skip()
        value = self.value()
        self.skip()
        if self.pos != len(self.text):
            raise self.fail("unexpected text after the value")
        return value

    def value(self) -> Any:
        if self.pos >= len(self.text):
            raise self.fail("unexpected end of text")
        c = self.text[self.pos]
        if c == "{":
            return self.members()
        if c == "[":
            return self.elements()
        if c in "\"'":
            return self.string()
        for word, result in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos) and not self._ident_continues(len(word)):
                self.pos += len(word)
                return result
        return self.number()

    def _ident_continues(self, length: int) -> bool:
        end = self.pos + length
        return end < len(self.text) and bool(_IDENT_PART.match(self.text[end]))

    def members(self) -> dict[str, Any]:
        self.pos += 1
        out: dict[str, Any] = {}
        while True:
            self.skip()
            if self.pos < len(self.text) and self.text[self.pos] == "}":
                self.pos += 1
                return out
            key = self.key()
            self.skip()
            if self.pos >= len(self.text) or self.text[self.pos] != ":":
                raise self.fail("expected ':'")
            self.pos += 1
            self.skip()
            out[key] = self.value()
            self.skip()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
            elif self.pos < len(self.text) and self.text[self.pos] == "}":
                continue
            else:
                raise self.fail("expected ',' or '}'")

    def key(self) -> str:
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            return self.string()
        start = self.pos
        if start >= len(self.text) or not _IDENT_START.match(self.text[start]):
            raise self.fail("expected a key")
        self.pos += 1
        while self.pos < len(self.text) and _IDENT_PART.match(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]

    def elements(self) -> list[Any]:
        self.pos += 1
        out: list[Any] = []
        while True:
            self.skip()
            if self.pos < len(self.text) and self.text[self.pos] == "]":
                self.pos += 1
                return out
            out.append(self.value())
            self.skip()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
            elif self.pos < len(self.text) and self.text[self.pos] == "]":
                continue
            else:
                raise self.fail("expected ',' or ']'")

    def string(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        parts: list[str] = []
        text = self.text
        while True:
            if self.pos >= len(text):
                raise self.fail("unterminated string")
            c = text[self.pos]
            if c == quote:
                self.pos += 1
                return "".join(parts)
            if c in "\n\r":
                raise self.fail("line break in a string")
            if c != "\\":
                parts.append(c)
                self.pos += 1
                continue
            self.pos += 1
            if self.pos >= len(text):
                raise self.fail("unterminated string")
            e = text[self.pos]
            broken = next((b for b in _LINE_BREAKS if text.startswith(b, self.pos)), None)
            if broken is not None:  # an escaped line break continues the string
                self.pos += len(broken)
            elif e == "x":
                parts.append(self._hex_escape(2))
            elif e == "u":
                unit = self._hex_escape(4)
                # A UTF-16 surrogate pair written as two escapes is one character, as in JSON.
                if "\ud800" <= unit <= "\udbff" and text.startswith("\\u", self.pos):
                    saved = self.pos
                    self.pos += 1
                    low = self._hex_escape(4)
                    if "\udc00" <= low <= "\udfff":
                        unit = chr(0x10000 + ((ord(unit) - 0xD800) << 10) + ord(low) - 0xDC00)
                    else:
                        self.pos = saved
                parts.append(unit)
            else:
                parts.append(_ESCAPES.get(e, e))
                self.pos += 1

    def _hex_escape(self, digits: int) -> str:
        start = self.pos + 1
        chunk = self.text[start : start + digits]
        if len(chunk) != digits or not all(ch in "0123456789abcdefABCDEF" for ch in chunk):
            raise self.fail("bad escape")
        self.pos = start + digits
        return chr(int(chunk, 16))

    def number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if match is None or self._ident_continues(match.end() - self.pos):
            raise self.fail("unexpected character")
        self.pos = match.end()
        token = match.group(0)
        sign = -1 if token.startswith("-") else 1
        body = token.lstrip("+-")
        if body == "Infinity":
            return sign * math.inf
        if body == "NaN":
            return math.nan
        if body[:2] in ("0x", "0X"):
            return sign * int(body, 16)
        if any(ch in body for ch in ".eE"):
            return sign * float(body)
        return sign * int(body)


def decode_json5(text: str) -> Any:
    """Parse a JSON5 document; raise :class:`Json5Exception` (offset only) when it is not one."""
    return _Json5Parser(text).document()


# --------------------------------------------------------------------------------------------
# dotenv
# --------------------------------------------------------------------------------------------

_DOTENV_KEY = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}


def dotenv_values(
    dotenv_path: str | None = None,
    stream: IO[str] | None = None,
    *,
    interpolate: bool = False,
    encoding: str = "utf-8",
    **_ignored: Any,
) -> dict[str, str | None]:
    """``KEY -> value`` of a dotenv file, in python-dotenv's reading (without interpolation)."""
    if stream is None:
        if dotenv_path is None:
            return {}
        with open(dotenv_path, encoding=encoding) as fh:
            text = fh.read()
    else:
        text = stream.read()
    values: dict[str, str | None] = {}
    pos = 0
    while pos < len(text):
        line_end = text.find("\n", pos)
        line_end = len(text) if line_end < 0 else line_end
        line = text[pos:line_end]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            pos = line_end + 1
            continue
        key_match = _DOTENV_KEY.match(text, pos)
        if key_match is None or key_match.end() > line_end:
            pos = line_end + 1  # not an assignment: python-dotenv skips it too
            continue
        key = key_match.group(1)
        after = key_match.end()
        if after >= line_end or text[after] != "=":
            if text[after:line_end].strip().startswith("#") or after >= line_end:
                values[key] = None
            pos = line_end + 1
            continue
        value, pos = _dotenv_value(text, after + 1)
        values[key] = value
    return values


def _dotenv_value(text: str, pos: int) -> tuple[str, int]:
    """The value starting at ``pos`` and where the next line begins."""
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    if pos < len(text) and text[pos] in "'\"":
        quote = text[pos]
        pos += 1
        parts: list[str] = []
        while pos < len(text) and text[pos] != quote:
            if quote == '"' and text[pos] == "\\" and pos + 1 < len(text):
                escaped = text[pos + 1]
                parts.append(_DOUBLE_ESCAPES.get(escaped, "\\" + escaped))
                pos += 2
                continue
            if quote == "'" and text[pos] == "\\" and text[pos + 1 : pos + 2] == "'":
                parts.append("'")
                pos += 2
                continue
            parts.append(text[pos])
            pos += 1
        line_end = text.find("\n", pos)
        return "".join(parts), (len(text) if line_end < 0 else line_end) + 1
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end < 0 else line_end
    raw = text[pos:line_end]
    comment = re.search(r"[ \t]+#", raw)
    if comment is not None:
        raw = raw[: comment.start()]
    return raw.strip(), line_end + 1


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------


def install() -> list[str]:
    """Stand in for ``pyjson5`` and ``dotenv`` where they are not installed; return which."""
    stood_in = []
    try:
        import pyjson5  # noqa: F401
    except ImportError:
        module = types.ModuleType("pyjson5", "stdlib stand-in (responders.fleet_agent.formats)")
        module.decode = decode_json5  # type: ignore[attr-defined]
        module.Json5Exception = Json5Exception  # type: ignore[attr-defined]
        sys.modules["pyjson5"] = module
        stood_in.append("pyjson5")
    try:
        import dotenv  # noqa: F401
    except ImportError:
        module = types.ModuleType("dotenv", "stdlib stand-in (responders.fleet_agent.formats)")
        module.dotenv_values = dotenv_values  # type: ignore[attr-defined]
        sys.modules["dotenv"] = module
        stood_in.append("python-dotenv")
    return stood_in

