"""The report fills Impact, Detection and the timeline from the sealed investigation, each
fact with its evidence member, and Timesketch gets one super-timeline."""

from __future__ import annotations

import json

from investigate_incidents import SampleIncident

from clawback.investigate import investigate_incident
from clawback.report import build_report, write_report_files


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end)]


def test_impact_detection_and_timeline_come_from_the_investigation(
    sample_incident: SampleIncident
) -> None:
    story = sample_incident.home.story
    assert story is not None
    investigate_incident(sample_incident.directory)
    report = build_report(sample_incident.directory)
    assert report.integrity.state != "not_intact"
    findings = report.investigation
    assert findings is not None and findings.activity_file
    md, html, _ts = (p.read_text() for p in write_report_files(report))

    # The first screen (the executive summary) says what was found: the first malicious event,
    # the keys sent out, where to, and the time to contain.
    summary = report.executive_summary
    assert "The investigation of the sealed evidence found: first malicious event" in summary
    for fingerprint in story.sent:
        assert fingerprint in summary
    assert story.attacker_domain in summary and "contained " in summary
    assert summary in md.replace("\\|", "|")
    first_screen = md[:md.index("## Checklist")]
    assert "**What the agent did**" in first_screen
    assert report.investigation_summary in first_screen.replace("\\|", "|")
    html_first = html[:html.index('<section id="todo">')]
    # (on a phone that line gives way to the checklist; the executive summary says it)
    assert 'id="investigation-line"' in html_first and story.attacker_domain in html_first

    impact = _section(md, "## 2. Impact", "## 3. Detection")
    for fingerprint in story.sent:
        assert fingerprint in impact
    assert "**sent out**" in impact and "reachable only" in impact
    # the evidence link names the archive the member is in
    assert "](evidence/" in impact and ".jsonl (line 9;" in impact

    detection = _section(md, "## 3. Detection", "## 4. Timeline")
    assert "First suspicious event" in detection and "ignore-previous-instructions" in detection
    assert story.attacker_domain in detection and story.attacker_login_ip in detection
    assert "Time to detect" in detection and "check the collected logs" not in detection

    timeline = _section(md, "## 4. Timeline", "## 5. Response actions")
    assert "From the sealed evidence" not in timeline  # the section's own words follow
    assert "investigation-activity.jsonl" in timeline and "tool.exec" in timeline

    for section in ("Secrets exposed (from the sealed evidence)", "First suspicious event",
                    "Agent activity (from the sealed evidence)"):
        assert section in html
    assert 'href="evidence/' in html

    for planted in sample_incident.home.planted:
        for text in (md, html):
            assert planted.value not in text


def test_timesketch_merges_activity_with_the_signed_timeline(
    sample_incident: SampleIncident
) -> None:
    investigate_incident(sample_incident.directory)
    report = build_report(sample_incident.directory)
    (path,) = write_report_files(report, ["timesketch"])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert all({"message", "datetime", "timestamp_desc"} <= row.keys() for row in rows)
    kinds = {row["data_type"] for row in rows}
    assert "clawback:timeline:entry" in kinds
    assert "clawback:investigate:openclaw-transcript" in kinds
    assert "clawback:investigate:auth-log" in kinds
    descs = {row["data_type"]: row["timestamp_desc"] for row in rows}
    assert descs["clawback:investigate:openclaw-transcript"] == "Agent Transcript Entry"
    assert descs["clawback:investigate:auth-log"] == "Auth Log Entry"
    stamps = [row["timestamp"] for row in rows]
    assert stamps == sorted(stamps)
    login = next(r for r in rows if r.get("ir_kind") == "auth.login"
                 and "198.51.100.77" in r["message"])
    assert login["ir_evidence_source"].endswith("/var/log/auth.log")
    assert isinstance(login["ir_evidence_offset"], int) and login["ir_evidence_line"] >= 1


def test_without_an_investigation_the_report_says_how_to_get_one(
    sample_incident: SampleIncident
) -> None:
    report = build_report(sample_incident.directory)
    assert report.investigation is None
    md, _html, _ts = (p.read_text() for p in write_report_files(report))
    assert f"clawback investigate {report.incident_id}" in md
