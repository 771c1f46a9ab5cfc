"""The one-scan text search finds and names exactly what the scan of named groups did.

The previous scanner is kept here as the reference: one regex whose alternatives were named
groups, the match named by ``lastgroup``. The new one scans without capturing groups and names
a match by the first pattern that fullmatches it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_discovery import discover_sample

from clawback_demo.home import SampleHome
from responders.kit import secret_patterns as sp
from responders.openclaw import scan_text

_OLD_REGEX = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:"
    + "|".join(f"(?P<p{i}>{p.regex.pattern})" for i, p in enumerate(sp._TEXT_PATTERNS))
    + r")(?![A-Za-z0-9_\-])"
)


def old_find_in_text(text: str) -> Iterator[sp.TextMatch]:
    for match in _OLD_REGEX.finditer(text):
        group = match.lastgroup
        if group is None:
            continue
        pattern = sp._TEXT_PATTERNS[int(group[1:])]
        value = match.group(0)
        if sp.is_documentation_example(value):  # a rule of its own, beside the scan
            continue
        key_id = (
            value if pattern.identifier else (pattern.key_id(value) if pattern.key_id else None)
        )
        yield sp.TextMatch(
            match.start(), match.end(), value,
            sp.Recognition(pattern.provider, pattern.kind, pattern.confidence, key_id),
        )


# Whole tokens of every text pattern, pieces of them, and what sits around tokens in logs and
# transcripts: word characters that glue onto a token, separators that don't.
tokens = st.one_of(*(st.from_regex(p.regex, fullmatch=True) for p in sp._TEXT_PATTERNS))
pieces = st.one_of(
    tokens,
    tokens.map(lambda t: t[: len(t) // 2]),
    tokens.map(lambda t: t[len(t) // 3 :]),
    st.sampled_from(["", " ", "\n", '"', "=", "-", "_", ":", ".", "x", "9", "é", "\\n", "/"]),
    st.text(alphabet="abcAB019_-:. \n", max_size=8),
)
corpora = st.lists(pieces, max_size=12).map("".join)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpora)
def test_same_matches_and_names_as_the_named_group_scan(text: str) -> None:
    assert list(sp.find_in_text(text)) == list(old_find_in_text(text))


_OLD_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*[\"']?([^\s\"'\\;&|`]+)"
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="exportAB_9 =\t\n\"';&|x", max_size=60))
def test_possessive_assignment_scan_finds_the_same_assignments(text: str) -> None:
    def spans(regex: re.Pattern[str]) -> list[tuple[int, ...]]:
        return [m.span(1) + m.span(2) for m in regex.finditer(text)]

    assert spans(scan_text._ASSIGNMENT_RE) == spans(_OLD_ASSIGNMENT)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300), max_size=20),
       st.text(alphabet="ab\n", max_size=300))
def test_line_counter_agrees_with_an_index_of_line_starts(offsets: list[int], text: str) -> None:
    starts = [0, *(m.end() for m in re.finditer("\n", text))]
    count = scan_text._LineCounter(text)
    for offset in sorted(o for o in offsets if o <= len(text)):
        assert count(offset) == bisect.bisect_right(starts, offset)
    if offsets:  # an earlier offset after later ones restarts the count, still right
        assert count(0) == 1


def test_identical_inventory_on_the_sample_home(
    fresh_home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home: SampleHome = fresh_home()
    # Transcripts and logs full of tokens, so the text scan has work to do.
    sessions = home.state_dir / "agents" / "main" / "sessions"
    noise = "".join(
        f'{{"line":{i},"text":"GITHUB_TOKEN=ghp_{i:036d} sk-ant-api03-{"q" * 30}{i}"}}\n'
        for i in range(200)
    )
    (sessions / "extra.jsonl").write_text(noise)
    new = discover_sample(home)
    monkeypatch.setattr(sp, "find_in_text", old_find_in_text)
    old = discover_sample(home)
    assert new.as_dict() == old.as_dict()
    assert len(new.credentials) > 10
