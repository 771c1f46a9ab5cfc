"""What the report says about a real contain run, and about a host incident written entry by
entry: every outcome, per provider, what a human must still do, impact, escaping."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from report_html import parse, text_of, visible_text
from report_incidents import (
    HOSTILE_DETAIL,
    HOSTILE_URL,
    OPENAI_CONSOLE,
    SLACK_STILL_WORKS,
    STRIPE_ERROR,
    ContainIncident,
    outcomes_in,
    write_host_incident,
)

from clawback.errors import BadInput
from clawback.evidence import check_evidence
from clawback.report import build_report, write_reports
from clawback.signing import Signer
from clawback.verify import verify_incident

EXPECTED_OUTCOMES = {
    "Collected", "Revoked", "AlreadyRevoked", "Disabled", "VerifiedDead", "Rotated",
    "ManualRequired", "Failed", "Skipped", "Refused",
}  # fmt: skip


def _md_row(markdown: str, seq: int) -> str:
    rows = [line for line in markdown.splitlines() if line.startswith(f"| {seq} | ")]
    assert rows, f"no timeline row for entry {seq}"
    return rows[0]


def test_every_timeline_outcome_appears_in_markdown_and_html(
    contain_incident: ContainIncident,
) -> None:
    md_path, html_path = write_reports(
        contain_incident.directory, formats=("md", "html"),
        checkpoint=contain_incident.checkpoint_off_host,
    )
    markdown = md_path.read_text()
    html = html_path.read_text()
    outcomes = outcomes_in(contain_incident.directory / "timeline.jsonl")
    # The fixture exists to cover every outcome type; if the engine stops producing one, the
    # test must notice rather than pass on less.
    assert {name for _, name in outcomes} >= EXPECTED_OUTCOMES
    parsed = parse(html)
    entries = len((contain_incident.directory / "timeline.jsonl").read_text().splitlines())
    assert len([i for i in parsed.by_id if i.startswith("seq-")]) == entries
    for seq, outcome in outcomes:
        assert f"**{outcome}**" in _md_row(markdown, seq)
        assert outcome in " ".join(parsed.by_id[f"seq-{seq}"]), (seq, outcome)


def test_response_actions_per_provider(contain_incident: ContainIncident) -> None:
    report = build_report(contain_incident.directory)
    providers = {p.provider: p for p in report.providers}
    assert set(providers) == {"openai", "stripe", "slack", "telegram"}
    openai = providers["openai"]
    project_keys = [c for c in openai.credentials if c.kind == "openai:project_key"]
    assert project_keys and all(c.dead and c.verified_dead and c.rotated for c in project_keys)
    assert all(c.new_fingerprint.startswith("…") for c in project_keys)
    admin = next(c for c in openai.credentials if c.kind == "openai:admin_key")
    assert admin.revoke is not None and admin.revoke.outcome == "AlreadyRevoked"
    assert admin.state == "dead, verified"
    stripe = {c.kind: c for c in providers["stripe"].credentials}
    assert stripe["stripe:secret_key"].state == "revoke failed"
    assert stripe["stripe:restricted_key"].state == "disabled, verified"
    assert stripe["stripe:webhook_secret"].state == "needs a human"
    slack = {c.kind: c for c in providers["slack"].credentials}
    assert slack["slack:user_token"].state == "still works at the provider"
    assert slack["slack:signing_secret"].state == "skipped"
    # telegram has no responder at all: the engine itself turns it into a manual step
    assert all(c.state == "needs a human" for c in providers["telegram"].credentials)
    counts = {p: providers[p].count("credentials") for p in providers}
    planted = {
        p: len({s.fingerprint for s in contain_incident.home.planted_for(p)})
        for p in providers
    }
    assert counts == planted

    markdown = write_reports(contain_incident.directory, formats=["md"])[0].read_text()
    section = markdown.split("## 5. Response actions", 1)[1].split("## 6.", 1)[0]
    assert "### openai: " in section and "### telegram: " in section
    rotated_line = next(line for line in section.splitlines() if "**Rotated**" in line)
    assert project_keys[0].new_fingerprint in rotated_line or any(
        c.new_fingerprint in rotated_line for c in project_keys
    )


def test_what_a_human_must_still_do(contain_incident: ContainIncident) -> None:
    report = build_report(contain_incident.directory)
    todo = report.human_actions
    texts = [h.instructions for h in todo]
    assert any(STRIPE_ERROR in t for t in texts)
    assert any(SLACK_STILL_WORKS in t and "still accepts" in t for t in texts)
    assert any(h.reason == "refused" and "second-look" in h.instructions for h in todo)
    assert any(h.url == OPENAI_CONSOLE for h in todo)
    telegram = [h for h in todo if h.provider == "telegram"]
    assert len(telegram) == len(
        {s.fingerprint for s in contain_incident.home.planted_for("telegram")}
    )
    # nothing that finished shows up as work left; a key whose revoke was skipped did not
    # finish: it was never revoked, so it may still work
    skipped_revokes = {r.seq for r in report.results
                       if r.status == "skipped" and r.is_key_action and r.action == "revoke"}
    done = {r.seq for r in report.results if r.status in ("ok", "skipped")} - skipped_revokes
    assert not done & {h.seq for h in todo}
    assert skipped_revokes and skipped_revokes <= {h.seq for h in todo}
    signing = next(h for h in todo if h.kind == "slack:signing_secret")
    assert signing.rank == "not_revoked" and "was not revoked" in signing.instructions

    html = write_reports(contain_incident.directory, formats=["html"])[0].read_text()
    todo_text = text_of(html, "todo")
    for action in todo:
        assert " ".join(action.instructions.split())[:60] in todo_text


def test_report_files_are_private_and_formats_are_checked(
    contain_incident: ContainIncident,
) -> None:
    written = write_reports(contain_incident.directory)
    assert [p.name for p in written] == ["report.md", "report.html", "timesketch.jsonl"]
    for path in written:
        assert path.parent == contain_incident.directory
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # the reports sit beside the evidence without disturbing what verify checks
    after = verify_incident(
        contain_incident.directory, checkpoint=contain_incident.checkpoint_off_host,
        evidence_checker=check_evidence,
    )
    assert after.intact and after.anchored
    with pytest.raises(BadInput, match="unknown report format pdf"):
        write_reports(contain_incident.directory, formats=["md", "pdf"])
    with pytest.raises(BadInput, match="no such incident"):
        write_reports(contain_incident.directory.parent / "nope")


def test_markdown_starts_with_integrity_then_the_sections_in_order(
    contain_incident: ContainIncident,
) -> None:
    markdown = write_reports(contain_incident.directory, formats=["md"])[0].read_text()
    headings = re.findall(r"^## (\d+)\. ", markdown, flags=re.M)
    assert headings == [str(n) for n in range(1, 14)]
    first_section = markdown.index("## 1. Executive summary")
    assert markdown.index("UNANCHORED") < first_section
    key = json.loads(
        (contain_incident.directory / "timeline.jsonl").read_text().splitlines()[0]
    )["key"]
    assert key in markdown[:first_section]
    checkpoint = (contain_incident.directory / "checkpoint.txt").read_text().strip()
    quoted = "\n".join(f"> {line}".rstrip() for line in checkpoint.splitlines())
    assert quoted in markdown[:first_section]
    for prompt in ("## 3. Detection", "## 10. Lessons learned", "## 11. Action items"):
        section = markdown.split(prompt, 1)[1].split("\n## ", 1)[0]
        assert "✍" in section


def test_host_incident_impact_crash_and_hostile_text(tmp_path: Path, signer: Signer) -> None:
    directory = tmp_path / "incidents" / "host"
    write_host_incident(directory, signer)
    report = build_report(directory)

    (stop,) = report.impact.services_stopped
    assert stop.target == "systemd-user:openclaw-gateway.service"
    (window,) = report.impact.isolation
    assert window.started is not None and window.ended is not None and window.ended > window.started
    crashed = [r for r in report.rows if r.status == "crashed"]
    assert [r.action for r in crashed] == ["revoke"]
    assert any(h.reason == "crashed" and h.seq == crashed[0].seq for h in report.human_actions)
    assert "CRASHED_ACTION" in {v.code for v in report.integrity.warnings}
    assert report.integrity.state == "unanchored"  # a crash is reported, not tampering

    md_path, html_path = write_reports(directory, formats=["md", "html"])
    markdown, html = md_path.read_text(), html_path.read_text()
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    row = _md_row(markdown, next(r.seq for r in report.rows if r.detail == HOSTILE_DETAIL))
    # the planted pipe and newline did not split the row: still 8 cells
    assert len(re.split(r"(?<!\\)\|", row)) == 8 + 2
    assert "&lt;script&gt;" in row and "\\|" in row
    assert "\n# not a heading" not in markdown
    assert "isolated for" in markdown
    assert "no result (crashed)" in markdown
    text = visible_text(html)
    assert "started, no result" in text
    assert "<path " in html  # the crashed action's diamond on the chart
    # a javascript: URL from the log is shown, never linked
    assert HOSTILE_URL in text
    hrefs = [attrs.get("href") or "" for tag, attrs in parse(html).tags if tag == "a"]
    assert not [h for h in hrefs if not h.startswith("#")]
    assert f"<{HOSTILE_URL}>" not in markdown
    # the crashed revoke is in its provider's table as never finished
    (github,) = [p for p in report.providers if p.provider == "github"]
    assert github.credentials[0].state == "never finished: check by hand"
    assert github.count("failed") == 1


def test_empty_timeline_still_gets_a_report_that_says_not_intact(tmp_path: Path) -> None:
    directory = tmp_path / "incidents" / "empty"
    directory.mkdir(parents=True)
    (directory / "timeline.jsonl").write_bytes(b"")
    md_path, html_path, ts_path = write_reports(directory)
    assert "🔴 NOT INTACT" in md_path.read_text()
    assert "EMPTY_TIMELINE" in text_of(html_path.read_text(), "integrity")
    assert ts_path.read_text() == ""


def test_interrupted_run_is_not_closed(tmp_path: Path, signer: Signer) -> None:
    directory = tmp_path / "incidents" / "host"
    write_host_incident(directory, signer, close=False)
    report = build_report(directory)
    assert report.facts.status.startswith("not closed")
    assert report.integrity.state == "not_intact"
    assert "NOT_CLOSED" in {v.code for v in report.integrity.failures}
    assert any(
        h.reason == "unfinished" and "--resume" in h.instructions for h in report.human_actions
    )
    assert report.impact.isolation[0].ended is not None
