"""contain investigates at its very end, off the panic path; whatever happens there never
changes what contain did or its exit code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from investigate_incidents import contain_sample

from clawback.evidence import check_evidence
from clawback.verify import verify_incident


@pytest.fixture
def keyring_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    yield
    keyring.set_keyring(previous)


def test_contain_seals_an_investigation_and_the_checkpoint_covers_it(
    tmp_path: Path, keyring_file: None
) -> None:
    incident = contain_sample(tmp_path, investigate=True)
    sealed = incident.directory / "evidence" / "investigation.json"
    assert sealed.is_file()
    lines = (incident.directory / "timeline.jsonl").read_text().splitlines()
    # The checkpoint contain hands back is the one after the investigation's entries.
    assert incident.checkpoint.splitlines()[1] == str(len(lines))
    anchor = tmp_path / "kept.txt"
    anchor.write_text(incident.checkpoint)
    report = verify_incident(incident.directory, checkpoint=anchor,
                             evidence_checker=check_evidence)
    assert report.intact and report.anchored, report.verdicts


def test_a_failing_investigation_changes_nothing_contain_did(
    tmp_path: Path, keyring_file: None
) -> None:
    from investigate_incidents import SCRIPTED

    from clawback.contain import ContainRequest, prepare, run

    baseline = contain_sample(tmp_path / "off", investigate=False)
    # A rules file that does not parse: the investigation fails at its start.
    rules = Path(os.environ["XDG_CONFIG_HOME"]) / "clawback" / "investigate.yaml"
    rules.parent.mkdir(parents=True, exist_ok=True)
    rules.write_text("version: 1\ninjection: [\n")
    os.chmod(rules, 0o600)
    on = tmp_path / "on"
    on.mkdir()
    failing = contain_sample(on, home=baseline.home, investigate=True)
    assert not (failing.directory / "evidence" / "investigation.json").exists()
    assert verify_incident(failing.directory, evidence_checker=check_evidence).intact

    def again(root: Path):  # type: ignore[no-untyped-def]
        return run(prepare(ContainRequest(
            playbook=root / "investigate-fixture.yaml", config=root / "clawback.toml",
            incidents_dir=root / "again", extra_responders=SCRIPTED)))

    result, off = again(on), again(tmp_path / "off")
    assert result.investigation is not None and result.investigation["ran"] is False
    assert "containment is unaffected" in result.investigation["error"]
    assert any("containment is unaffected" in w for w in result.warnings)
    assert off.investigation == {"ran": False, "reason": "[investigate] after_contain = false"}
    assert result.exit_code == off.exit_code
    assert sorted((r.step, r.action, r.target, r.outcome.name) for r in result.results) == sorted(
        (r.step, r.action, r.target, r.outcome.name) for r in off.results)


def test_contains_investigation_stops_at_its_budget_and_says_what_it_left(
    tmp_path: Path, keyring_file: None
) -> None:
    import json

    from investigate_incidents import SCRIPTED

    from clawback.contain import ContainRequest, prepare, run

    # An agent can grow its logs to gigabytes; contain's own reading of them is bounded by
    # [investigate] after_contain_seconds. With no time at all, nothing is read, and the
    # sealed findings and contain's result say so instead of "nothing exposed".
    root = tmp_path / "budget"
    root.mkdir()
    contain_sample(root, investigate=False)
    config = root / "clawback.toml"
    text = config.read_text().replace("after_contain = false", "after_contain_seconds = 0")
    config.write_text(text)
    result = run(prepare(ContainRequest(
        playbook=root / "investigate-fixture.yaml", config=config,
        incidents_dir=root / "zero", extra_responders=SCRIPTED)))
    assert result.investigation is not None and result.investigation["ran"] is True
    assert "its time budget" in result.investigation["incomplete"]
    assert result.investigation["summary"]["complete"] is False
    assert result.incident_dir is not None
    doc = json.loads((result.incident_dir / "evidence" / "investigation.json").read_text())
    assert doc["analysed"]["members_by_parser"] == {}
    assert doc["caveats"][0] == doc["analysed"]["incomplete"]
    assert f"clawback investigate {result.incident_id}" in doc["caveats"][0]
    from clawback.investigate.after import investigation_lines

    shown = [text for text, _ in investigation_lines(result.investigation)]
    assert any(line.startswith("  not complete: stopped after 0 s") for line in shown)
    assert shown[0].startswith("Investigation (PARTIAL, evidence only): 0 of ")
    from clawback.report.model import build_report

    # The report's first screen says it too: "0 exposed" from a cut-short reading is a floor.
    summary = build_report(result.incident_dir).investigation_summary
    assert "PARTIAL, stopped after 0 s" in summary, summary

    # The same incident read without a budget is complete: the budget was the only reason.
    from clawback.investigate import investigate_incident

    whole = investigate_incident(result.incident_dir)
    assert whole.document["analysed"]["incomplete"] is None
    assert whole.document["summary"]["complete"] is True
    assert whole.document["analysed"]["members_by_parser"]
