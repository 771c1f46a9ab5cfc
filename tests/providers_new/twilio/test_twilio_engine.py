"""The Twilio responder inside the real engine (signed timeline, journal) and behind
``clawback drill --preflight``, against the contract-checked stand-in."""

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
from tests.contract_server import ContractServer
from tests.providers_new.twilio.twilio_standin import Key, TwilioAccount

PLAYBOOK = """
name: keys
steps:
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: true, verify: true, providers: [twilio]}
"""


def test_a_key_and_the_auth_token_through_the_engine(
    tmp_path: Path, account: TwilioAccount, admin: Key, twilio_contract: ContractServer,
    memory_keyring: Any,
) -> None:
    key = account.add_key()
    token = account.auth_token
    where = [Location("/home/agent/.openclaw/.env", "TWILIO_API_SECRET")]
    creds = [
        Credential.from_secret("twilio", "twilio:api_key_secret", key.secret, where,
                               key_id=key.sid, account=account.sid),
        Credential.from_secret("twilio", "twilio:auth_token", token, where, account=account.sid),
    ]
    playbook = tmp_path / "keys.yaml"
    playbook.write_text(PLAYBOOK)
    playbook.chmod(0o600)
    registry = load_registry()
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    incident_id = "2026-11-21T0203Z-7f3a"
    incident_dir = create_incident_dir(tmp_path / "incidents", incident_id)
    config = {"base_url": twilio_contract.url, "accounts_url": twilio_contract.url,
              "admin_key_id": admin.sid, "admin_secret": "env:TWILIO_ADMIN"}
    result = Runner(
        registry=registry,
        playbook=loaded,
        settings={},
        provider_config=lambda name: config if name == "twilio" else {},
        credentials=creds,
        secrets=KeyringSecretStore(environ={"TWILIO_ADMIN": admin.secret}),
        options=RunOptions(yes=True),
        configured_providers={"twilio"},
        timeline=Timeline.create(incident_dir, incident_id, load_signing_key(), header={}),
        journal=Journal.create(incident_dir, incident_id=incident_id,
                               playbook_sha256=loaded.sha256, playbook_path=str(playbook)),
        incident_id=incident_id,
        incident_dir=incident_dir,
    ).run()

    outcomes = {(r.action, r.target_info["kind"]): r.outcome.name for r in result.results}
    assert outcomes == {
        ("revoke", "twilio:api_key_secret"): "Revoked",
        ("verify_revoked", "twilio:api_key_secret"): "VerifiedDead",
        ("rotate", "twilio:api_key_secret"): "Rotated",
        ("revoke", "twilio:auth_token"): "Revoked",
        ("verify_revoked", "twilio:auth_token"): "VerifiedDead",
        ("rotate", "twilio:auth_token"): "Rotated",
    }, outcomes
    assert result.exit_code == 0
    assert key.sid not in account.keys and account.auth_token != token
    assert verify_incident(incident_dir).exit_code == 0
    written = "".join(p.read_text(errors="replace") for p in incident_dir.rglob("*") if p.is_file())
    written += json.dumps([r.outcome.facts for r in result.results], default=str)
    for value in (key.secret, token, account.auth_token, admin.secret,
                  *(k.secret for k in account.keys.values())):
        assert value not in written


def test_drill_preflight_lists_the_main_key_twilio_needs(
    tmp_path: Path, account: TwilioAccount, twilio_contract: ContractServer
) -> None:
    standard = account.add_key("standard")  # may read the account, may not manage keys
    home = build_sample_home(tmp_path / "sample", era="both")
    config = tmp_path / "clawback.toml"
    agent = "\n".join(f"{k} = {json.dumps(v)}" for k, v in home.agent_settings().items())
    config.write_text(
        f"[agent]\n{agent}\n\n[providers.twilio]\n"
        f"base_url = {json.dumps(twilio_contract.url)}\n"
        f"accounts_url = {json.dumps(twilio_contract.url)}\n"
        f'account_sid = "{account.sid}"\nadmin_key_id = "{standard.sid}"\n'
        'admin_secret = "env:TWILIO_PREFLIGHT_ADMIN"\n'
    )
    config.chmod(0o600)
    env = {**os.environ, "TWILIO_PREFLIGHT_ADMIN": standard.secret,
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    run = subprocess.run(
        [sys.executable, "-m", "clawback", "drill", "--preflight", "--json", "--config",
         str(config)], capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode == 3, run.stderr
    checks = {c["capability"]: c for c in json.loads(run.stdout)["checks"]
              if c["provider"] == "twilio"}
    assert checks["admin credential"]["ok"] is True
    assert checks["api keys"]["ok"] is False
    assert "Main API key" in checks["api keys"]["missing_permission"]
    assert all(r.method == "GET" for r in twilio_contract.requests)  # nothing changed
    assert standard.secret not in run.stdout + run.stderr
