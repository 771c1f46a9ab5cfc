"""`clawback status` over an incidents directory: closed, interrupted and running incidents,
their live keys and open steps, and the exit code that says whether a human must act."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from report_incidents import ContainIncident, write_host_incident

from clawback import cli
from clawback.display import Display
from clawback.incident import IncidentLock
from clawback.signing import Signer
from clawback.status import collect_status, incident_status
from clawback.status_view import print_status


def test_status_lists_every_incident_newest_first(
    contain_incident: ContainIncident, tmp_path: Path, signer: Signer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = contain_incident.directory.parent
    interrupted = root / "2000-01-01T0000Z-dead"
    write_host_incident(interrupted, signer, close=False)
    statuses = collect_status(root)
    assert [s.directory for s in statuses] == [contain_incident.directory, interrupted]
    closed, died = statuses
    assert closed.run == "closed" and died.run == "interrupted"
    assert closed.keys["accepted"] == 1 and len(closed.live) == sum(
        closed.keys[k] for k in ("accepted", "not_revoked", "unproven"))
    assert closed.open_steps[0].startswith("The provider still accepts this key")
    assert closed.shipped is None
    assert died.agent == "stopped"

    assert cli.status(incidents_dir=str(root), json=True) == 3
    document = json.loads(capsys.readouterr().out)
    assert [i["incident"] for i in document["incidents"]] == [s.incident_id for s in statuses]
    # no secret: fingerprints only
    for secret in contain_incident.secrets:
        assert secret not in json.dumps(document)

    stream = io.StringIO()
    print_status(Display(color="never").console(stream), statuses, root=str(root))
    text = stream.getvalue()
    assert "INTERRUPTED" in text and f"--resume {died.incident_id}" in text
    assert "NOT shipped off this host" in text


def test_a_run_under_way_is_running_not_interrupted(tmp_path: Path, signer: Signer) -> None:
    directory = tmp_path / "incidents" / "2026-11-21T0203Z-7f3a"
    write_host_incident(directory, signer, close=False)
    with IncidentLock(directory):
        during = incident_status(directory)
    assert during.run == "running"
    assert not any("never finished" in s for s in during.open_steps)
    assert incident_status(directory).run == "interrupted"


def test_nothing_to_show_is_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.status(incidents_dir=str(tmp_path / "none")) == 0
    assert "No incident under" in capsys.readouterr().out


def test_status_of_one_incident(contain_incident: ContainIncident, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "elsewhere"
    shutil.copytree(contain_incident.directory, other)
    assert cli.status(str(other), json=True) == 3
    (only,) = json.loads(capsys.readouterr().out)["incidents"]
    assert only["directory"] == str(other)


def test_status_names_unproven_keys_and_their_check(
    tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str],
) -> None:
    """A key revoked but not proven dead is live for status: named, counted, and its check is
    an open step, before the replacement still to create."""
    from clawback.timeline import Timeline

    directory = tmp_path / "incidents" / "2026-11-21T0203Z-0c0c"
    timeline = Timeline.create(directory, "2026-11-21T0203Z-0c0c", signer,
                               header={"operator": "alice@web-01"})
    key = {"target": "slack:…wxyz sha256:abcdef12", "provider": "slack",
           "kind": "slack:bot_token", "fingerprint": "…wxyz sha256:abcdef12",
           "locations": ["/home/agent/.openclaw/openclaw.json:channels.slack.botToken"]}
    for action, outcome, extra in (
        ("revoke", "Revoked", {"status": "ok"}),
        ("verify_revoked", "Unproven", {"status": "unproven", "reason": "401 without the code",
                                        "check": "the app's IP allow-list"}),
        ("rotate", "ManualRequired", {"status": "manual", "instructions": "make a new one"}),
    ):
        timeline.append(step="revoke", action=action, phase="intent", target=key)
        timeline.append(step="revoke", action=action, phase="result", target=key,
                        outcome=outcome, extra=extra)
    timeline.close(manifest_sha256=None)

    assert cli.status(str(directory), json=True) == 3
    (only,) = json.loads(capsys.readouterr().out)["incidents"]
    assert only["keys"]["unproven"] == 1 and only["keys"]["dead"] == 0
    (live,) = only["live_or_unproven"]
    assert live == "slack bot_token …wxyz sha256:abcdef12: revoked, NOT proven dead"
    assert only["open_steps"][0] == ("Check that this key is dead: slack:bot_token "
                                     "…wxyz sha256:abcdef12")
    assert only["open_steps"][-1].startswith("Create a replacement key")

    assert cli.status(str(directory)) == 3
    shown = capsys.readouterr().out
    assert "1 still live or unproven" in shown
    assert "slack bot_token …wxyz sha256:abcdef12: revoked, NOT proven dead" in shown
