"""One whole incident through clawback.contain: evidence first, then the OpenClaw secrets rotated
and the config locked down, every step in a timeline that verifies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from clawback.contain import ContainRequest, prepare, run
from clawback.errors import EXIT_PARTIAL
from clawback.secret_store import KEYRING_SERVICE
from clawback.verify import verify_incident
from clawback_demo.home import build_sample_home
from tests.conftest import MemoryKeyring

PLAYBOOK = """
name: openclaw
steps:
  - id: evidence
    uses: host.snapshot
    with: {system_artifacts: false}
  - id: revoke
    uses: keys.revoke_all
    with: {providers: [openclaw], rotate: true}
  - id: lockdown
    uses: openclaw.lockdown
"""


def private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def test_contain_rotates_the_gateway_secrets_and_the_incident_verifies(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    home = build_sample_home(tmp_path / "sample", era="file", seed=11)
    config_text = home.config_path.read_text()
    home.config_path.write_text(config_text.replace('bind: "loopback"', 'bind: "lan"'))
    settings = home.agent_settings()
    config = private(tmp_path / "clawback.toml", "[agent]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in settings.items()
    ) + "\n[providers.openclaw]\nuse_openclaw_cli = false\n")
    playbook = private(tmp_path / "playbook.yaml", PLAYBOOK)
    incidents = tmp_path / "incidents"

    result = run(prepare(ContainRequest(
        playbook=playbook, config=config, incidents_dir=incidents, yes=True,
    )))

    assert result.incident_dir is not None
    by_action: dict[str, list[Any]] = {}
    for r in result.results:
        by_action.setdefault(f"{r.step}/{r.action}/{r.outcome.name}", []).append(r)
    gateway_token = [p for p in home.planted_of("openclaw:gateway_token")]
    rotated = by_action["revoke/revoke/Rotated"]
    assert len(rotated) == 6  # 2 gateway tokens, password, hooks, cron, exec-approvals
    again = {r.target: r.outcome.new_fingerprint for r in by_action["revoke/rotate/Rotated"]}
    assert again == {r.target: r.outcome.new_fingerprint for r in rotated}
    assert len(by_action["revoke/revoke/Revoked"]) == 2  # the two paired devices' tokens
    manual = by_action["revoke/revoke/ManualRequired"]
    assert {r.target_info["kind"] for r in manual} == {
        "openclaw:device_private_key", "openclaw:auth_profile_secret_key",
    }
    assert result.exit_code == EXIT_PARTIAL
    lockdown = {r.target: r.outcome.name for r in result.results if r.step == "lockdown"}
    # Every OpenClaw-era config gets the loopback device approval; the Clawdbot one is left.
    assert lockdown == {str(d): "Skipped" if d.name == ".clawdbot" else "Done"
                        for d in home.state_dirs}
    assert 'bind: "loopback"' in home.config_path.read_text()

    incident = result.incident_dir
    report = verify_incident(incident)
    assert report.intact, [v.as_dict() for v in report.verdicts]

    timeline = (incident / "timeline.jsonl").read_text()
    entries = [json.loads(line) for line in timeline.splitlines()]
    backups = [
        b for e in entries if e.get("outcome") == "Rotated"
        for b in e.get("extra", e).get("facts", {}).get("backups", [])
    ]
    assert backups, "the timeline records every backup"
    manifest = json.loads((incident / "evidence" / "manifest.json").read_text())
    evidence = {item["source"]: item["sha256"] for item in manifest["items"]}
    config_backup = next(b for b in backups if b["file"] == str(home.config_path))
    # The backup is the very file the evidence snapshot sealed before anything changed.
    assert evidence[str(home.config_path)] == config_backup["sha256"]
    assert Path(config_backup["backup"]).parent == incident / "backups"

    new_values = [v for (service, name), v in memory_keyring.store.items()
                  if service == KEYRING_SERVICE and name.startswith("openclaw/")]
    assert len(new_values) == 6
    records = [timeline, (incident / "checkpoint.txt").read_text(),
               (incident / "evidence" / "manifest.json").read_text()]
    records += [p.read_text() for p in incident.glob("*.json")]
    for text in records:
        for secret in [*(p.value for p in home.planted), *new_values]:
            assert secret not in text
    for planted in gateway_token:
        # A transcript or log line that once showed the token (the sample home's attack story
        # has the agent print .env) is history, sealed as evidence; the files the gateway reads
        # must no longer hold it.
        read_by_gateway = [loc for loc in planted.locations if not loc.key.startswith("line ")]
        assert read_by_gateway, planted.locations
        for location in read_by_gateway:
            assert planted.value not in Path(location.path).read_text()
