"""Matching a key against the masked form a provider lists it under (OpenAI's Admin API,
Anthropic's hints, OpenRouter's labels): one definition for every provider that needs it."""

from __future__ import annotations

import re

# How providers mask a key: "sk-abc...wxyz", "sk-admin...def", "sk-…wxyz", "sk-****wxyz".
_MASK = re.compile(r"\.{2,}|…|\*+")
_MIN_VISIBLE_TAIL = 2


def matches_redacted(redacted: str, value: str) -> bool:
    """Whether ``value`` is a key a provider shows as ``redacted`` (prefix, mask, last chars).

    Every visible piece must sit where the mask says: the head at the start, the tail at the
    end, anything between in order. A form without a visible tail proves nothing and never
    matches.
    """
    pieces = _MASK.split(redacted)
    if len(pieces) == 1:
        return redacted == value
    head, middle, tail = pieces[0], pieces[1:-1], pieces[-1]
    if len(tail) < _MIN_VISIBLE_TAIL or len(head) + len(tail) > len(value):
        return False
    if not (value.startswith(head) and value.endswith(tail)):
        return False
    inner, position = value[len(head) : len(value) - len(tail)], 0
    for piece in middle:
        found = inner.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return True
