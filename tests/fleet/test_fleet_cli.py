"""``clawback contain --hosts`` as an operator runs it: the console script, keys from a real
ssh-agent, one host through sudo; then verify and report on the fleet incident. Plus a dry run
that changes nothing, and a host whose key changed."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clawback.contain import ContainRequest, prepare
from clawback.fleet import load_private_key, run_fleet
from responders.remote.session import HostKeyRefused, HostUnreachable, RemoteHost, SshTarget
from tests.conftest import require_binary

from .conftest import Fleet, add_host, generate_key, start_sshd


def clawback(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clawback", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_console_script_contains_hosts_with_keys_from_the_ssh_agent(
    fleet: Fleet, ssh_agent: dict[str, str],
) -> None:
    require_binary("sudo", "sudo")
    one = add_host(fleet, "one", aws_keys=[fleet.shared_aws_key])
    two = add_host(fleet, "two", sudo=True)
    config = fleet.write_config(identity="agent")
    env = {**os.environ, **ssh_agent,
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    incidents = fleet.root / "incidents"

    run = clawback("contain", "--hosts", "@agents", "--config", str(config), "--yes", "--json",
                   "--incidents-dir", str(incidents), "--playbook", str(fleet.quick_playbook()),
                   env=env)

    # The sample homes also hold an AWS session key with its token: clawback asks STS with it,
    # and the session AWS has no record of (InvalidClientTokenId) is dead, nothing left to do.
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["remaining"] == [] and document["unproven"] == []
    by_step = {(r["step"], r["target"]): r for r in document["results"]}
    sessions = [r for r in document["results"]
                if r["action"] == "revoke" and r["target"].startswith("aws:ASIA")]
    assert sessions and {r["outcome"] for r in sessions} == {"AlreadyRevoked"}
    for name in ("one", "two"):
        assert by_step[("connect", name)]["outcome"] == "Done"
        assert by_step[("stop", f"{name}/supervisord:openclaw-gateway")]["outcome"] == "Done"
        assert by_step[("evidence", name)]["outcome"] == "Collected"
    assert by_step[("connect", "two")]["facts"]["sudo"] is True
    assert not [r for r in document["results"] if r["outcome"] == "Failed"]
    assert one.gateway_down() and two.gateway_down()
    leaked = [v for v in fleet.planted_values() if v in run.stdout + run.stderr]
    assert not leaked

    incident = document["incident_dir"]
    anchor = fleet.root / "kept-off-host.txt"
    anchor.write_text(document["final_checkpoint"])
    verified = clawback("verify", incident, "--checkpoint", str(anchor), "--json", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["intact"] is True
    reported = clawback("report", incident, "--format", "md", env=env)
    assert reported.returncode == 0, reported.stderr
    report = (Path(incident) / "report.md").read_text()
    assert "one/supervisord:openclaw-gateway" in report and "clawback-agent@two" in report


def test_dry_run_plans_every_host_and_changes_nothing(fleet: Fleet, fleet_keyring: Any) -> None:
    host = add_host(fleet, "quiet")
    config = fleet.write_config()
    uploads_before = set(glob.glob("/tmp/clawback-agent.*"))
    prepared = prepare(ContainRequest(config=config, dry_run=True,
                                      incidents_dir=fleet.root / "incidents"))

    result = run_fleet(prepared, hosts="quiet")

    assert result.incident_dir is None and not (fleet.root / "incidents").exists()
    planned = {(r.step, r.target): r.outcome for r in result.results}
    assert planned[("volatile", "quiet")].name == "Planned"
    stop = planned[("stop", "quiet/supervisord:openclaw-gateway")]
    assert stop.name == "Planned" and "supervisor.stopProcessGroup" in " ".join(stop.commands)
    assert planned[("evidence", "quiet")].facts["files"]
    assert host.gateway_state() == "RUNNING"
    assert set(glob.glob("/tmp/clawback-agent.*")) == uploads_before
    assert fleet.shared_aws_key[0] in fleet.moto.key_statuses("openclaw-agent")


def test_a_changed_host_key_is_refused_with_advice(tmp_path: Path, fleet: Fleet) -> None:
    server = start_sshd(tmp_path / "sshd", fleet.client)
    try:
        impostor = generate_key(tmp_path / "other_host_key", "someone-else")
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{server.port} {' '.join(impostor.split()[:2])}\n")
        remote = RemoteHost("moved", SshTarget.parse(f"root@127.0.0.1:{server.port}"),
                            known_hosts=known,
                            private_key=load_private_key(fleet.client.private_text, "test"))
        with pytest.raises(HostUnreachable) as caught:
            remote.open()
        message = str(caught.value)
        assert "presented host key ssh-ed25519 SHA256:" in message
        assert f"ssh-keygen -R [127.0.0.1]:{server.port}" in message
        assert not isinstance(caught.value, HostKeyRefused) or "not in" not in message
        # Nothing was uploaded: the session never got past the key exchange.
        assert "Accepted publickey" not in server.log.read_text()
    finally:
        server.stop()
