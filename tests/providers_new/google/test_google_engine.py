"""The Google responder inside the real engine and CLI: a Gemini key goes through a
``keys.revoke_all`` step with verify and rotate into a signed timeline, and ``clawback drill
--preflight`` names the role a weak service account lacks."""

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
from responders.google import ROLE
from responders.interface import Credential, Location
from tests.providers_new.google.google_standin import PROJECT, GoogleCloud

PLAYBOOK = """
name: keys
steps:
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: true, verify: true, providers: [google]}
"""


def _runner(cloud: GoogleCloud, sa_json: str, creds: list[Credential], root: Path, *,
            dry_run: bool) -> Runner:
    registry = load_registry()
    playbook = root / "keys.yaml"
    playbook.write_text(PLAYBOOK)
    playbook.chmod(0o600)
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    recording: dict[str, Any] = {}
    if not dry_run:
        incident_id = "2026-12-06T1900Z-a1za"
        incident_dir = create_incident_dir(root / "incidents", incident_id)
        recording = dict(
            timeline=Timeline.create(incident_dir, incident_id, load_signing_key(), header={}),
            journal=Journal.create(incident_dir, incident_id=incident_id,
                                   playbook_sha256=loaded.sha256, playbook_path=str(playbook)),
            incident_id=incident_id, incident_dir=incident_dir,
        )
    config = {"base_url": cloud.contract.url, "check_url": cloud.front_url,
              "service_account": "env:GOOGLE_SA", "poll_seconds": 0,
              "operation_timeout_seconds": 10, "activation_wait_seconds": 10}
    return Runner(
        registry=registry, playbook=loaded, settings={},
        provider_config=lambda name: config if name == "google" else {},
        credentials=creds, secrets=KeyringSecretStore(environ={"GOOGLE_SA": sa_json}),
        options=RunOptions(dry_run=dry_run, yes=True), configured_providers={"google"},
        **recording,
    )


def test_a_gemini_key_through_the_engine(
    tmp_path: Path, cloud: GoogleCloud, sa_json: str, memory_keyring: Any
) -> None:
    key = cloud.add()
    untouched = cloud.add()
    creds = [Credential.from_secret("google", "google:api_key", key.value,
                                    [Location(str(tmp_path / ".openclaw/.env"), "GEMINI_API_KEY")])]

    planned = _runner(cloud, sa_json, creds, tmp_path, dry_run=True).run()
    assert [r.outcome.name for r in planned.results] == ["Planned"]
    assert cloud.contract.requests == []

    result = _runner(cloud, sa_json, creds, tmp_path, dry_run=False).run()

    outcomes = {r.action: r.outcome.name for r in result.results}
    assert outcomes == {"revoke": "Revoked", "verify_revoked": "VerifiedDead",
                        "rotate": "Rotated"}, result.results
    assert key.delete_time and not untouched.delete_time and result.exit_code == 0
    incident_dir = result.incident_dir
    assert incident_dir is not None and verify_incident(incident_dir).exit_code == 0
    written = "".join(p.read_text(errors="replace") for p in incident_dir.rglob("*")
                      if p.is_file())
    assert "restorable" in written  # the 30-day undelete window is on the record
    for value in [k.value for k in cloud.keys.values()] + list(cloud.tokens):
        assert value not in written


def test_drill_preflight_names_the_missing_role(
    tmp_path: Path, cloud: GoogleCloud, sa_json: str
) -> None:
    home = build_sample_home(tmp_path / "sample", era="both")
    cloud.forbid.add("list")
    config = tmp_path / "clawback.toml"
    lines = ["[agent]", *(f"{k} = {json.dumps(v)}" for k, v in home.agent_settings().items()),
             "[providers.google]", f"base_url = {json.dumps(cloud.contract.url)}",
             f"check_url = {json.dumps(cloud.front_url)}", 'service_account = "env:GOOGLE_SA"']
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)
    env = {**os.environ, "GOOGLE_SA": sa_json,
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state")}
    run = subprocess.run(
        [sys.executable, "-m", "clawback", "drill", "--preflight", "--json", "--config",
         str(config)], capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode == 3, run.stderr
    checks = {c["capability"]: c for c in json.loads(run.stdout)["checks"]
              if c["provider"] == "google"}
    assert checks["admin credential"]["ok"] is True
    assert checks[f"keys of {PROJECT}"]["ok"] is False
    assert checks[f"keys of {PROJECT}"]["missing_permission"] == f"{ROLE} (apikeys.keys.list)"
    assert not any(r.method != "GET" for r in cloud.contract.requests)
    assert json.loads(sa_json)["private_key"].splitlines()[1] not in run.stdout + run.stderr
