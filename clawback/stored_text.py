"""Text from outside, stored losslessly in canonical JSON (the timeline, the evidence manifest).

RFC 8785 canonical JSON holds Unicode scalar values only. A file name that is not valid UTF-8
reaches Python as lone surrogates (``os.fsdecode`` keeps each undecodable byte as U+DC80–U+DCFF),
and a JSON file can spell lone surrogates too; canonical JSON cannot hold either, and dropping or
replacing them would lose exactly the bytes an investigator needs.

``storable`` writes such a string as its Python literal in ASCII (``ascii()``: quotes included,
``\\udcff`` for each such code point), which canonical JSON holds and any reader can decode.
Every string that already *looks* like such a literal (starts and ends with the same quote) is
written as a literal too, so the mapping stays one-to-one: ``original(storable(s)) == s`` for
every string ``s``. All other text, which is nearly all of it, is stored unchanged.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

_QUOTES = ("'", '"')


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def _looks_escaped(text: str) -> bool:
    return len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]


def storable(text: str) -> str:
    """``text`` in a form canonical JSON can hold, from which ``original`` restores it."""
    if text.isascii() and not _looks_escaped(text):
        return text
    if _looks_escaped(text) or _has_surrogate(text):
        return ascii(text)
    return text


def original(text: str) -> str:
    """The string ``storable`` was given."""
    if not _looks_escaped(text):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text  # not written by storable: a stored text is what it says
    return value if isinstance(value, str) else text


def storable_value(value: Any) -> Any:
    """``storable`` applied to every string (keys too) in a JSON-like value."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, Mapping):
        return {storable(str(k)): storable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_value(v) for v in value]
    return value


def original_value(value: Any) -> Any:
    """``original`` applied to every string (keys too) in a JSON-like value."""
    if isinstance(value, str):
        return original(value)
    if isinstance(value, Mapping):
        return {original(str(k)): original_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [original_value(v) for v in value]
    return value
