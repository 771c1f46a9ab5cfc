"""``investigate`` on the sample home's attack story recovers what happened, from the sealed
evidence alone: the secrets read and sent, the attacker's domain, the first malicious event,
the SSH login, the cron job, and the window; then seals its findings so verify checks them."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta

from investigate_incidents import SampleIncident

from clawback.evidence import check_evidence, load_manifest
from clawback.investigate import investigate_incident
from clawback.verify import verify_incident


def _ts(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_story_is_recovered_from_the_evidence_alone(sample_incident: SampleIncident) -> None:
    story = sample_incident.home.story
    assert story is not None
    # Evidence only: the sample home is gone before the investigation starts.
    shutil.rmtree(sample_incident.home.root)
    doc = investigate_incident(sample_incident.directory).document

    by_fp = {c["fingerprint"]: c for c in doc["credentials"]}
    assert set(story.sent) <= {fp for fp, c in by_fp.items() if c["sent"]}
    for fp in story.read:
        if fp in by_fp:  # every credential the timeline names is judged
            assert by_fp[fp]["status"] == "exposed", by_fp[fp]
    sent = by_fp[story.sent[0]]
    assert sent["first_sent"]["event"] == "tool.exec"
    assert sent["first_sent"]["evidence"]["source"].endswith(".jsonl")
    assert sent["first_sent"]["evidence"]["line"] == 9
    assert any(c["status"] == "reachable only" for c in doc["credentials"])
    # exposed first, sent before read
    statuses = [(c["sent"], c["status"]) for c in doc["credentials"]]
    assert statuses == sorted(statuses, key=lambda s: (not s[0], s[1] != "exposed"))

    assert story.attacker_domain in doc["summary"]["suspect_destinations"]
    first = doc["window"]["first_suspicious"]
    assert first["kind"] == "tool.result"
    assert abs(_ts(first["ts"]) - story.first_malicious) < timedelta(seconds=1)
    assert "ignore-previous-instructions" in first["flags"]
    assert first["evidence"]["line"] == 4 and first["evidence"]["offset"] > 0

    indicators = {(i["type"], i["value"], i["relation"]) for i in doc["indicators"]}
    assert ("ip", story.attacker_login_ip, "logged in from") in indicators
    assert ("domain", story.attacker_domain, "told to contact") in indicators
    assert ("domain", story.attacker_domain, "contacted") in indicators
    assert any(i["type"] == "persistence" and story.cron_job in i["value"]
               for i in doc["indicators"])
    assert any(i["type"] == "persistence" and i["value"] == "authorized-key-added"
               for i in doc["indicators"])
    assert any(i["type"] == "persistence" and "backup@203.0.113.66" in i["value"]
               and i["relation"] == "installed during the window" for i in doc["indicators"])
    assert {"base64-of-secrets", "download-and-run"} & {i["value"] for i in doc["indicators"]}

    window = doc["window"]
    assert window["seconds_to_detect"] >= 2 * 3600 - 120
    assert window["seconds_to_contain"] is not None and window["seconds_to_contain"] >= 0
    assert _ts(window["containment_started"]) > story.started


def test_every_fact_names_its_member_and_offset(sample_incident: SampleIncident) -> None:
    doc = investigate_incident(sample_incident.directory).document
    manifest = load_manifest(sample_incident.directory)
    members = {i.stored_path: i for i in manifest.items}
    facts = [i["evidence"] for i in doc["indicators"]] + [
        c["first_exposed"]["evidence"] for c in doc["credentials"] if c["first_exposed"]]
    assert facts
    for ref in facts:
        item = members[ref["member"]]
        assert item.archive == ref["archive"] and item.evidence_id == ref["evidence_id"]
        assert 0 <= ref["offset"] < item.size


def test_findings_are_sealed_and_verified(sample_incident: SampleIncident) -> None:
    result = investigate_incident(sample_incident.directory)
    sealed = result.sealed
    assert sealed is not None
    manifest = load_manifest(sample_incident.directory)
    files = {f.file: f for f in manifest.files}
    assert files["investigation.json"].sha256 == sealed.document_sha256
    assert files["investigation-activity.jsonl"].sha256 == sealed.activity_sha256
    assert manifest.custody[-1].action == "derived"
    report = verify_incident(sample_incident.directory, evidence_checker=check_evidence)
    assert report.intact, report.verdicts
    # The signed timeline says what was found, by fingerprint.
    entries = [json.loads(line) for line in
               (sample_incident.directory / "timeline.jsonl").read_text().splitlines()]
    exposures = [e for e in entries if e["action"] == "investigation.exposure"]
    assert {e["target"]["fingerprint"] for e in exposures} == {
        c["fingerprint"] for c in result.document["credentials"]}
    assert entries[-1]["action"] == "close"
    # Editing the sealed findings afterwards is tampering, which verify reports.
    path = sample_incident.directory / "evidence" / "investigation.json"
    path.write_text(path.read_text().replace('"exposed"', '"reachable only"'))
    report = verify_incident(sample_incident.directory, evidence_checker=check_evidence)
    assert "EVIDENCE_MISMATCH" in report.codes()


def test_no_secret_value_is_written(sample_incident: SampleIncident) -> None:
    result = investigate_incident(sample_incident.directory)
    assert result.sealed is not None
    written = [result.sealed.document.read_text(), result.sealed.activity.read_text(),
               (sample_incident.directory / "timeline.jsonl").read_text()]
    for planted in sample_incident.home.planted:
        for text in written:
            assert planted.value not in text, planted.kind
