"""timesketch.jsonl: one importable row per signed entry, with the fields Timesketch needs."""

from __future__ import annotations

import json
from datetime import datetime

from report_incidents import ContainIncident

from clawback.report import write_reports
from clawback.report.timesketch import RESERVED_FIELDS

IR_FIELDS = {
    "ir_seq", "ir_action", "ir_step", "ir_phase", "ir_outcome", "ir_status", "ir_target",
    "ir_entry_hash", "ir_incident", "ir_operator", "ir_evidence_refs", "ir_log_integrity",
}  # fmt: skip


def test_one_row_per_entry_with_timesketch_fields(contain_incident: ContainIncident) -> None:
    (path,) = write_reports(contain_incident.directory, formats=["timesketch"])
    assert path.name == "timesketch.jsonl"  # Timesketch refuses other extensions
    entries = [
        json.loads(line)
        for line in (contain_incident.directory / "timeline.jsonl").read_text().splitlines()
    ]
    every_row = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    # contain investigates its sealed evidence at its end: those events are merged in as
    # rows of their own data type (tests/investigate checks them); one row per entry besides.
    rows = [r for r in every_row if r["data_type"] == "clawback:timeline:entry"]
    assert all(r["data_type"].startswith("clawback:investigate:") for r in every_row
               if r not in rows)
    assert len(rows) == len(entries)
    descs = set()
    for row, entry in zip(rows, entries, strict=True):
        assert {"message", "datetime", "timestamp", "timestamp_desc"} <= row.keys()
        assert row.keys() >= IR_FIELDS
        assert not row.keys() & RESERVED_FIELDS
        assert not any(key.startswith("_") for key in row)
        assert isinstance(row["message"], str) and row["message"]
        assert row["datetime"].endswith("+00:00")
        moment = datetime.fromisoformat(row["datetime"])
        assert moment == datetime.fromisoformat(entry["ts"])
        assert isinstance(row["timestamp"], int)
        assert row["timestamp"] == round(moment.timestamp() * 1_000_000)
        assert row["ir_seq"] == entry["seq"]
        assert row["ir_entry_hash"] == entry["hash"]
        assert row["ir_action"] == entry["action"] and row["ir_step"] == entry["step"]
        assert row["ir_outcome"] == (entry["outcome"] or "")
        assert row["ir_log_integrity"] == "UNANCHORED"
        assert isinstance(row["tag"], list) and entry["step"] in row["tag"]
        collected = entry["outcome"] == "Collected"
        expected = {
            "intent": "IR Action Intent",
            "result": "Evidence Collected" if collected else "IR Action Result",
        }.get(entry["phase"])
        if entry["action"] == "evidence.item":
            expected = "Evidence Collected"
        elif entry["action"] == "open":
            expected = "IR Session Start"
        elif entry["action"] == "close":
            expected = "IR Session End"
        if expected is not None:
            assert row["timestamp_desc"] == expected, entry["seq"]
        if entry["outcome"]:
            assert entry["outcome"] in row["message"]
        descs.add(row["timestamp_desc"])
    assert {"IR Action Result", "Evidence Collected", "IR Session Start", "IR Session End"} <= descs
    assert [r["ir_seq"] for r in rows] == sorted(r["ir_seq"] for r in rows)


def test_rows_carry_the_anchored_verdict(contain_incident: ContainIncident) -> None:
    (path,) = write_reports(
        contain_incident.directory, formats=["timesketch"],
        checkpoint=contain_incident.checkpoint_off_host,
    )
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert {r["ir_log_integrity"] for r in rows} == {"INTACT"}
    assert not any("log-not-intact" in r["tag"] for r in rows)
