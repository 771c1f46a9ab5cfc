"""Whole fleet runs over real SSH: three hosts contained in one incident; a host that is down
and one whose host key is unknown are reported while the others complete."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from clawback.contain import ContainRequest, prepare
from clawback.evidence import check_evidence, load_manifest
from clawback.fleet import run_fleet
from clawback.runner import RunResult
from clawback.verify import verify_incident
from responders.interface import ResponderContext, ResponderError
from responders.remote.service import RemoteStopServiceAction

from .conftest import AGENT_IAM_USER, Fleet, add_host


class Recorder:
    """A reporter that keeps every line it is given (to search it for secrets)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step_started(self, step_id: str, uses: str, description: str) -> None:
        self.lines.append(f"start {step_id} {uses} {description}")

    def step_skipped(self, step_id: str, reason: str) -> None:
        self.lines.append(f"skip {step_id} {reason}")

    def target_finished(self, result: Any) -> None:
        self.lines.append(f"{result.step} {result.action} {result.target} {result.outcome!r}")

    def checkpoint(self, text: str, *, urgent: bool = False) -> None:
        self.lines.append(text)

    def note(self, message: str) -> None:
        self.lines.append(message)

    def warn(self, message: str) -> None:
        self.lines.append(message)

    def action_issued(self) -> None:
        pass


def contain(fleet: Fleet, config: Path, hosts: str, reporter: Any = None,
            **request: Any) -> RunResult:
    prepared = prepare(ContainRequest(config=config, yes=True,
                                      incidents_dir=fleet.root / "incidents", **request))
    return run_fleet(prepared, reporter, hosts=hosts)


def entries(incident_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (incident_dir / "timeline.jsonl").read_text().splitlines()]


def outcomes(result: RunResult, step: str) -> dict[str, str]:
    return {r.target: r.outcome.name for r in result.results if r.step == step}


def test_three_hosts_contained_in_one_incident(fleet: Fleet, fleet_keyring: Any) -> None:
    shared = fleet.shared_aws_key
    add_host(fleet, "alpha", aws_keys=[shared])
    add_host(fleet, "beta", aws_keys=[shared])
    add_host(fleet, "gamma")
    config = fleet.write_config()
    reporter = Recorder()

    result = contain(fleet, config, "@agents", reporter)

    # Sandbox providers without a stand-in leave manual steps: exit 3, but nothing failed.
    assert result.exit_code == 3
    assert not [r for r in result.results if r.outcome.status == "failed"], [
        (r.step, r.target, r.outcome) for r in result.results if r.outcome.status == "failed"
    ]
    names = ("alpha", "beta", "gamma")
    assert outcomes(result, "connect") == dict.fromkeys(names, "Done")
    assert outcomes(result, "volatile") == dict.fromkeys(names, "Collected")
    assert outcomes(result, "evidence") == dict.fromkeys(names, "Collected")
    assert outcomes(result, "stop") == {
        f"{n}/supervisord:openclaw-gateway": "Done" for n in names
    }
    for host in fleet.hosts:
        assert host.gateway_down(), f"{host.name}: {host.gateway_state()}"

    # Stopped for good on every host: autostart=false in its supervisord's config, the file as
    # it was kept in the incident under the host's name.
    assert result.incident_dir is not None
    for host in fleet.hosts:
        config_text = host.supervisor.config_path.read_text()
        assert "autostart=false" in config_text and result.incident_id in config_text
        [backup] = (result.incident_dir / "backups" / host.name).iterdir()
        assert "autostart=false" not in backup.read_text()
        assert backup.stat().st_mode & 0o777 == 0o600

    # The key planted on alpha and beta is one credential, revoked once, and dead in IAM.
    assert result.incident_dir is not None
    timeline = entries(result.incident_dir)
    key_id = shared[0]
    revokes = [e for e in timeline if e["action"] == "revoke" and e["phase"] == "intent"
               and e["target"].get("key_id") == key_id]
    assert len(revokes) == 1
    places = revokes[0]["target"]["locations"]
    assert any(p.startswith("alpha:") for p in places)
    assert any(p.startswith("beta:") for p in places)
    assert not any(p.startswith("gamma:") for p in places)
    assert key_id not in fleet.moto.key_statuses(AGENT_IAM_USER)

    # Every entry a host's Runner or the fleet wrote about a host names it; the one central
    # discover entry counts the merged secrets.
    host_steps = {"connect", "volatile", "stop", "evidence", "lockdown"}
    for entry in timeline:
        if entry["step"] in host_steps:
            assert (entry["target"] or {}).get("host") in names, entry
    discovered = [e for e in timeline if e["action"] == "discover"]
    assert sorted((e["target"] or {}).get("host", "") for e in discovered) == ["", *names]

    # Evidence: pulled back with matching hashes, custody collected → transferred → received.
    manifest = load_manifest(result.incident_dir)
    assert sorted(a.file for a in manifest.archives) == sorted(
        f"{result.incident_id}-{n}-{label}.tar.gz" for n in names for label in ("volatile",
                                                                               "full")
    )
    evidence_dir = result.incident_dir / "evidence"
    for record in manifest.archives:
        on_disk = hashlib.sha256((evidence_dir / record.file).read_bytes()).hexdigest()
        assert on_disk == record.sha256
        events = [e for e in manifest.custody if record.file in e.evidence_ids]
        assert [e.action for e in events] == ["collected", "transferred", "received", "sealed"]
        received = events[2]
        assert received.hash_verified and received.sha256 == events[1].sha256 == record.sha256
    assert all(":" in item.source for item in manifest.items)
    assert [v.code for v in check_evidence(result.incident_dir, result.manifest_sha256)
            if v.severity == "failure"] == []

    # One signed timeline, anchored by the final checkpoint: verify says intact.
    anchor = fleet.root / "checkpoint.txt"
    anchor.write_text(result.final_checkpoint or "")
    report = verify_incident(result.incident_dir, checkpoint=anchor,
                             evidence_checker=check_evidence)
    assert report.intact, [v.as_dict() for v in report.verdicts if v.severity != "ok"]

    # No planted secret anywhere the run wrote or said.
    written = "\n".join(
        p.read_text(errors="replace") for p in result.incident_dir.rglob("*")
        if p.is_file() and not p.name.endswith(".tar.gz")
    ) + "\n".join(reporter.lines)
    leaked = [v for v in fleet.planted_values() if v in written]
    assert not leaked, f"{len(leaked)} planted secrets leaked"


def test_down_host_and_unknown_host_key_do_not_stop_the_others(
    fleet: Fleet, fleet_keyring: Any
) -> None:
    good = add_host(fleet, "good")
    down = add_host(fleet, "down")
    stranger = add_host(fleet, "stranger")
    fleet.write_known_hosts([good, down])  # stranger's key was never collected
    config = fleet.write_config()
    down.sshd.stop()

    result = contain(fleet, config, "good,down,stranger", playbook=fleet.quick_playbook())

    assert result.exit_code == 3
    connect = {r.target: r for r in result.results if r.step == "connect"}
    assert connect["good"].outcome.name == "Done"
    assert connect["down"].outcome.name == "Failed"
    assert "cannot reach down" in connect["down"].outcome.error
    assert "still running unchecked" in connect["down"].outcome.error
    refused = connect["stranger"].outcome
    assert refused.name == "Failed"
    assert "not in" in refused.error and "ssh-keyscan" in refused.error
    assert "SHA256:" in refused.error
    remaining = {r.target for r in result.remaining}
    assert {"down", "stranger"} <= remaining

    assert good.gateway_down()
    # Nothing ran where the host key did not match: its gateway still runs.
    assert stranger.gateway_state() == "RUNNING"
    assert outcomes(result, "evidence") == {"good": "Collected"}


def test_config_backups_need_the_host_name_they_are_filed_under(tmp_path: Path) -> None:
    """A stop whose context names no fleet host refuses to file a backup (it used to fail with
    a TypeError from ``Path / None``), and writes nothing."""
    incident = tmp_path / "incident"
    incident.mkdir()
    data = b"[program:gateway]\nautorestart=true\n"
    action = RemoteStopServiceAction(ResponderContext(incident_dir=incident))
    backup = {"data": base64.b64encode(data).decode(), "original": "/etc/supervisor/gw.conf",
              "sha256": hashlib.sha256(data).hexdigest()}
    with pytest.raises(ResponderError, match="no fleet host name"):
        action._keep_backups([backup])
    assert list(incident.iterdir()) == []
