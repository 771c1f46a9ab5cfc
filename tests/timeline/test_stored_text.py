"""Text canonical JSON cannot hold (non-UTF-8 file names) is stored losslessly, one-to-one."""

from __future__ import annotations

import os

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from clawback.stored_text import original, original_value, storable, storable_value


def test_a_name_that_is_not_utf8_is_stored_and_restored() -> None:
    name = os.fsdecode(b"/tmp/openclaw/openclaw-\xff\xfe.log")
    stored = storable(name)
    assert stored.isascii() and stored.isprintable()
    assert rfc8785.dumps(stored)  # canonical JSON holds it
    assert original(stored) == name
    assert os.fsencode(original(stored)) == b"/tmp/openclaw/openclaw-\xff\xfe.log"


def test_ordinary_text_is_stored_unchanged() -> None:
    for text in ("/home/agent/.openclaw/openclaw.json", "café ✔ — 日本", "", "'", 'say "hi"'):
        assert storable(text) == text
        assert original(text) == text


def test_text_that_looks_escaped_is_escaped_too_so_nothing_collides() -> None:
    name = os.fsdecode(b"a\xff")
    lookalike = storable(name)  # the literal text of the escaped form
    assert storable(lookalike) != lookalike
    assert original(storable(lookalike)) == lookalike
    assert original(storable(name)) == name


@given(st.text())
def test_every_string_round_trips_through_canonical_json(text: str) -> None:
    stored = storable(text)
    assert original(stored) == text
    assert rfc8785.dumps(stored)


@given(st.text(), st.text())
def test_different_strings_are_stored_differently(a: str, b: str) -> None:
    if a != b:
        assert storable(a) != storable(b)


def test_nested_values_keys_included() -> None:
    key = os.fsdecode(b"k\xee")
    value = {key: [os.fsdecode(b"v\xff"), 1, None, {"plain": "text"}]}
    assert original_value(storable_value(value)) == value
    assert rfc8785.dumps(storable_value(value))
