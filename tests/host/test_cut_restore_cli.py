"""`clawback contain --cut-network` then `clawback restore-network`, as an operator runs them,
inside network namespaces this test creates (never the host's own)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from clawback.timeline import read_entries
from clawback.verify import verify_incident
from tests.host.conftest import REPO_ROOT, Namespaces

ISOLATE_ONLY = """
name: isolate
steps:
  - id: isolate
    uses: host.cut_network
    when: "{{ cut_network }}"
    approve: true
"""


def _clawback(netns: Namespaces, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_CONNECTION", "SSH_CLIENT")}
    env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    result = netns.run(netns.host, [sys.executable, "-m", "clawback", *args], env=env,
                       cwd=REPO_ROOT, timeout=120)
    return result.returncode, result.stdout, result.stderr


def test_cut_then_restore_is_recorded_and_verifies(netns: Namespaces, tmp_path: Path) -> None:
    netns.serve(netns.host, [8080, 22])
    config = tmp_path / "clawback.toml"
    config.write_text(
        "[agent]\n"
        f"user_home = {json.dumps(str(tmp_path / 'home'))}\n"
        "[network]\n"
        "ssh_port = 22\n"
        f"admin_sources = [{json.dumps(netns.admin_addr + '/32')}]\n"
        "rollback_minutes = 30\n"
    )
    playbook = tmp_path / "isolate.yaml"
    playbook.write_text(ISOLATE_ONLY)
    for path in (config, playbook):
        os.chmod(path, 0o600)
    incidents = tmp_path / "incidents"

    assert netns.can_connect(netns.peer, netns.host_addr, 8080, src=netns.other_addr)
    code, out, err = _clawback(
        netns, "contain", "--cut-network", "--yes", "--json", "--config", str(config),
        "--playbook", str(playbook), "--incidents-dir", str(incidents),
    )
    assert code == 0, err
    incident = Path(json.loads(out)["incident_dir"])
    assert "clawback_isolate" in netns.ruleset()
    assert not netns.can_connect(netns.peer, netns.host_addr, 8080, src=netns.other_addr)
    assert netns.can_connect(netns.peer, netns.host_addr, 22, src=netns.admin_addr)

    code, out, err = _clawback(netns, "restore-network", incident.name, "--json",
                               "--incidents-dir", str(incidents))
    assert code == 0, err
    assert json.loads(out)["outcome"] == "Done"
    assert "clawback_isolate" not in netns.ruleset()
    assert netns.can_connect(netns.peer, netns.host_addr, 8080, src=netns.other_addr)

    entries = read_entries(incident / "timeline.jsonl")
    actions = [(e.action, e.phase) for e in entries]
    assert ("network.restore", "intent") in actions and ("network.restore", "result") in actions
    assert [e.action for e in entries].count("close") == 2
    checkpoint = tmp_path / "anchor.txt"
    checkpoint.write_text((incident / "checkpoint.txt").read_text())
    assert verify_incident(incident, checkpoint=checkpoint).exit_code == 0


def test_the_checkpoint_is_printed_before_the_cut_and_at_the_end_only(
    netns: Namespaces, tmp_path: Path,
) -> None:
    """Live progress (no --json): the checkpoint appears twice, while it can still be copied
    off the host before the network goes, and once at the end; never after every step."""
    netns.serve(netns.host, [8080, 22])
    config = tmp_path / "clawback.toml"
    config.write_text(
        "[agent]\n"
        f"user_home = {json.dumps(str(tmp_path / 'home'))}\n"
        "[network]\n"
        "ssh_port = 22\n"
        f"admin_sources = [{json.dumps(netns.admin_addr + '/32')}]\n"
        "rollback_minutes = 30\n"
    )
    playbook = tmp_path / "isolate.yaml"
    playbook.write_text("name: snapshot-then-cut\nsteps:\n  - id: evidence\n"
                        "    uses: host.snapshot\n    with: {system_artifacts: false}\n"
                        + ISOLATE_ONLY.split("steps:\n", 1)[1])
    for path in (config, playbook):
        os.chmod(path, 0o600)
    incidents = tmp_path / "incidents"
    code, _, err = _clawback(
        netns, "contain", "--cut-network", "--yes", "--config", str(config),
        "--playbook", str(playbook), "--incidents-dir", str(incidents),
    )
    assert code == 0, err
    (incident,) = incidents.iterdir()
    assert err.count("Copy this checkpoint off the host now, before the network goes:") == 1
    assert err.count("Checkpoint (copy it off this host now") == 1
    assert err.count(f"clawback/{incident.name}\n") == 2  # each checkpoint's first line
    assert err.index("before the network goes") < err.index("✔ isolate")
    code, _, err = _clawback(netns, "restore-network", incident.name, "--incidents-dir",
                             str(incidents))
    assert code == 0, err
