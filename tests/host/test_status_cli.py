"""`clawback status` on a real network cut with its auto-rollback armed, inside network
namespaces this test creates: the time left, the timer process, the table, then the same after
`restore-network --confirm` and after the cut is undone."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawback.timeline import read_entries
from tests.host.conftest import REPO_ROOT, Namespaces

ISOLATE_ONLY = """
name: isolate
steps:
  - id: isolate
    uses: host.cut_network
    when: "{{ cut_network }}"
    approve: true
"""


def _clawback(netns: Namespaces, *args: str, ns: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_CONNECTION", "SSH_CLIENT")}
    env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    env["COLUMNS"] = "80"
    result = netns.run(ns or netns.host, [sys.executable, "-m", "clawback", *args], env=env,
                       cwd=REPO_ROOT, timeout=120)
    return result.returncode, result.stdout, result.stderr


def _status(netns: Namespaces, incidents: Path) -> dict[str, Any]:
    code, out, err = _clawback(netns, "status", "--json", "--incidents-dir", str(incidents))
    assert code in (0, 3), err
    document: dict[str, Any] = json.loads(out)
    assert document["exit_code"] == code
    (incident,) = document["incidents"]
    return dict(incident)


def test_status_shows_an_armed_rollback_and_its_time_left(
    netns: Namespaces, tmp_path: Path,
) -> None:
    config = tmp_path / "clawback.toml"
    config.write_text(
        "[agent]\n"
        f"user_home = {json.dumps(str(tmp_path / 'home'))}\n"
        "[network]\n"
        f"admin_sources = [{json.dumps(netns.admin_addr + '/32')}]\n"
        "rollback_minutes = 30\n"
    )
    playbook = tmp_path / "isolate.yaml"
    playbook.write_text(ISOLATE_ONLY)
    for path in (config, playbook):
        os.chmod(path, 0o600)
    incidents = tmp_path / "incidents"
    code, out, err = _clawback(
        netns, "contain", "--cut-network", "--yes", "--json", "--config", str(config),
        "--playbook", str(playbook), "--incidents-dir", str(incidents),
    )
    assert code == 0, err
    incident = Path(json.loads(out)["incident_dir"])
    try:
        cut = next(e for e in read_entries(incident / "timeline.jsonl")
                   if e.action == "host.cut_network" and e.phase == "result")
        signed_deadline = cut.extra["facts"]["rollback"]["deadline_utc"]

        status = _status(netns, incidents)
        (network,) = status["network"]
        assert network["state"] == "cut" and network["rollback"] == "armed"
        assert network["rollback_deadline"] == signed_deadline
        deadline = datetime.fromisoformat(signed_deadline.replace("Z", "+00:00"))
        # what is left is the deadline minus the time status ran (never more than the 30 min)
        assert 0 < network["seconds_left"] <= 30 * 60
        assert abs((deadline - datetime.now(UTC)).total_seconds()
                   - network["seconds_left"]) < 120
        assert network["timer_running"] is True and network["in_place"] is True
        assert status["run"] == "closed" and status["integrity"] == "unanchored"

        code, out, _ = _clawback(netns, "status", "--incidents-dir", str(incidents))
        assert code == 3  # the network is still cut: a human must decide
        text = " ".join(out.split())
        assert re.search(r"network: CUT \(inet clawback_isolate\); auto-rollback at "
                         r"\d\d:\d\d:\d\d UTC, in \d+ min \d+ s \(timer running\)", text), out
        assert f"restore-network {incident.name} --confirm" in text
        assert all(len(line) <= 80 for line in out.splitlines())

        # from outside the namespace the timer and the table can't be judged: never guessed
        outside = _clawback(netns, "status", "--json", "--incidents-dir", str(incidents),
                            ns=netns.peer)
        (seen,) = json.loads(outside[1])["incidents"][0]["network"]
        assert seen["timer_running"] is None and seen["in_place"] is None

        code, _, err = _clawback(netns, "restore-network", incident.name, "--confirm",
                                 "--incidents-dir", str(incidents))
        assert code == 0, err
        (kept,) = _status(netns, incidents)["network"]
        assert kept["rollback"] == "kept" and kept["seconds_left"] is None
        assert kept["timer_running"] is False and kept["in_place"] is True
    finally:
        _clawback(netns, "restore-network", incident.name, "--incidents-dir", str(incidents))
    (undone,) = _status(netns, incidents)["network"]
    assert undone["state"] == "restored" and undone["restored_by"] == "restore-network"
