"""The xAI responder inside the real engine and CLI: a Grok key goes through a
``keys.revoke_all`` step with verify and rotate into a signed timeline, and ``clawback drill
--preflight`` names the permission a weak management key lacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from clawback.incident import create_incident_dir
from clawback.journal import Journal
from clawback.playbook import load_playbook
from clawback.registry import load_registry
from clawback.runner import WHEN_VARIABLES, Runner, RunOptions, known_actions
from clawback.secret_store import KeyringSecretStore
from clawback.signing import load_signing_key
from clawback.timeline import Timeline
from clawback.verify import verify_incident
from clawback_demo.home import build_sample_home
from responders.interface import Credential, Location
from tests.providers_new.xai.conftest import MANAGEMENT
from tests.providers_new.xai.xai_standin import TEAM, XAITeam

PLAYBOOK = """
name: keys
steps:
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: true, verify: true, providers: [xai]}
"""


def _runner(team: XAITeam, creds: list[Credential], root: Path, *, dry_run: bool) -> Runner:
    registry = load_registry()
    playbook = root / "keys.yaml"
    playbook.write_text(PLAYBOOK)
    playbook.chmod(0o600)
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    recording: dict[str, Any] = {}
    if not dry_run:
        incident_id = "2026-12-06T2000Z-9a01"
        incident_dir = create_incident_dir(root / "incidents", incident_id)
        recording = dict(
            timeline=Timeline.create(incident_dir, incident_id, load_signing_key(), header={}),
            journal=Journal.create(incident_dir, incident_id=incident_id,
                                   playbook_sha256=loaded.sha256, playbook_path=str(playbook)),
            incident_id=incident_id, incident_dir=incident_dir,
        )
    config = {"base_url": team.url, "api_url": team.url, "management_key": "env:XAI_M",
              "poll_seconds": 0, "activation_wait_seconds": 10}
    return Runner(
        registry=registry, playbook=loaded, settings={},
        provider_config=lambda name: config if name == "xai" else {},
        credentials=creds, secrets=KeyringSecretStore(environ={"XAI_M": MANAGEMENT}),
        options=RunOptions(dry_run=dry_run, yes=True), configured_providers={"xai"},
        **recording,
    )


def test_a_grok_key_through_the_engine(tmp_path: Path, team: XAITeam, memory_keyring: Any) -> None:
    key = team.add()
    untouched = team.add()
    creds = [Credential.from_secret("xai", "xai:api_key", key.value,
                                    [Location(str(tmp_path / ".openclaw/.env"), "XAI_API_KEY")])]

    planned = _runner(team, creds, tmp_path, dry_run=True).run()
    assert [r.outcome.name for r in planned.results] == ["Planned"] and team.requests == []

    result = _runner(team, creds, tmp_path, dry_run=False).run()

    outcomes = {r.action: r.outcome.name for r in result.results}
    assert outcomes == {"revoke": "Revoked", "verify_revoked": "VerifiedDead",
                        "rotate": "Rotated"}, result.results
    assert key.key_id not in team.keys and untouched.key_id in team.keys
    assert result.exit_code == 0
    incident_dir = result.incident_dir
    assert incident_dir is not None and verify_incident(incident_dir).exit_code == 0
    written = "".join(p.read_text(errors="replace") for p in incident_dir.rglob("*")
                      if p.is_file())
    for value in [key.value, MANAGEMENT, *(k.value for k in team.keys.values())]:
        assert value not in written


def test_drill_preflight_names_the_missing_permission(tmp_path: Path, team: XAITeam) -> None:
    home = build_sample_home(tmp_path / "sample", era="both")
    team.forbid.add("GET /auth/teams")
    config = tmp_path / "clawback.toml"
    lines = ["[agent]", *(f"{k} = {json.dumps(v)}" for k, v in home.agent_settings().items()),
             "[providers.xai]", f"base_url = {json.dumps(team.url)}",
             f"api_url = {json.dumps(team.url)}", 'management_key = "env:XAI_M"',
             f"team_id = {json.dumps(TEAM)}"]
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)
    env = {**os.environ, "XAI_M": MANAGEMENT,
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state")}
    run = subprocess.run(
        [sys.executable, "-m", "clawback", "drill", "--preflight", "--json", "--config",
         str(config)], capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode == 3, run.stderr
    checks = {c["capability"]: c for c in json.loads(run.stdout)["checks"]
              if c["provider"] == "xai"}
    assert checks["management key"]["ok"] is True
    assert checks["list keys"]["missing_permission"] == "Management Keys Read + Write"
    assert {r.method for r in team.requests} == {"GET"}
    assert MANAGEMENT not in run.stdout + run.stderr
