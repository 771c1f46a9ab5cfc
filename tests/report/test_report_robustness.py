"""Whatever a validly signed timeline holds (its text comes from a host an attacker had), the
report renders in every format and never turns that text into markup."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_html import parse

from clawback.report import write_reports
from clawback.signing import Signer
from clawback.timeline import Timeline

SIGNER = Signer.generate("clawback/fuzz")
_text = st.text(
    st.characters(blacklist_categories=("Cs",)), max_size=40
)  # surrogates can't be UTF-8 encoded, so the timeline refuses them up front
_scalar = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _text
_json = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
# Keys the report looks for, so the examples reach the code that reads them.
_known_keys = st.sampled_from(
    ["target", "provider", "kind", "fingerprint", "key_id", "locations", "status",
     "instructions", "url", "error", "reason", "facts", "new_fingerprint", "rollback"]
)  # fmt: skip
_object = st.dictionaries(_known_keys | _text, _json, max_size=5)
_entry = st.fixed_dictionaries(
    {
        "step": _text,
        "action": st.sampled_from(
            ["revoke", "verify_revoked", "rotate", "host.stop_service", "host.cut_network",
             "host.restore_network", "evidence.item", "step.skip", "x"]
        ) | _text,
        "phase": st.sampled_from(["intent", "result", "event"]),
        "target": st.none() | _object,
        "outcome": st.none() | st.sampled_from(["Revoked", "Failed", "ManualRequired"]) | _text,
        "detail": _text,
        "extra": _object,
    }
)  # fmt: skip


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(entries=st.lists(_entry, max_size=6), header=_object, close=st.booleans())
def test_any_signed_timeline_renders_safely(
    entries: list[dict[str, Any]], header: dict[str, Any], close: bool
) -> None:
    header = {k: v for k, v in header.items() if k not in ("host", "clock", "tool", "signing_key")}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "incident"
        timeline = Timeline.create(directory, "fuzz", SIGNER, header=header, durable=False)
        for entry in entries:
            timeline.append(**entry)
        if close:
            timeline.close(manifest_sha256=None)
        else:
            timeline.release()
        md, html, ts = (p.read_text(encoding="utf-8") for p in write_reports(directory))
    tags = parse(html).tags
    assert not [tag for tag, _ in tags if tag in ("script", "iframe", "img", "link", "object")]
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    hrefs = [attrs.get("href") or "" for tag, attrs in tags if tag == "a"]
    assert all(h.startswith(("#", "http://", "https://")) for h in hrefs), hrefs
    assert md.startswith("# Incident report")
    timeline_rows = [line for line in md.splitlines() if line.startswith("| ") and " | " in line]
    assert timeline_rows
    assert ts.isascii()
    rows = [json.loads(line) for line in ts.splitlines()]
    assert len(rows) == len(entries) + 1 + close
