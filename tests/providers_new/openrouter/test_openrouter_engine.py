"""The OpenRouter responder inside the real engine and CLI: the sample home's key goes through a
``keys.revoke_all`` step with verify and rotate into a signed timeline, and ``clawback drill
--preflight`` names the management key a weak configuration lacks."""

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
from clawback_demo.home import SampleHome, build_sample_home
from responders.interface import Credential
from tests.contract_server import ContractServer
from tests.providers_new.openrouter.conftest import MANAGEMENT
from tests.providers_new.openrouter.openrouter_standin import Key, OpenRouterAccount

PLAYBOOK = """
name: keys
steps:
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: true, verify: true, providers: [openrouter]}
"""


def _runner(home: SampleHome, url: str, root: Path, *, dry_run: bool) -> Runner:
    registry = load_registry()
    playbook = root / "keys.yaml"
    playbook.write_text(PLAYBOOK)
    playbook.chmod(0o600)
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    creds = [Credential.from_secret(p.provider, p.kind, p.value, p.locations)
             for p in home.planted_for("openrouter")]
    recording: dict[str, Any] = {}
    if not dry_run:
        incident_id = "2026-12-06T1800Z-0e6a"
        incident_dir = create_incident_dir(root / "incidents", incident_id)
        recording = dict(
            timeline=Timeline.create(incident_dir, incident_id, load_signing_key(), header={}),
            journal=Journal.create(incident_dir, incident_id=incident_id,
                                   playbook_sha256=loaded.sha256, playbook_path=str(playbook)),
            incident_id=incident_id,
            incident_dir=incident_dir,
        )
    return Runner(
        registry=registry,
        playbook=loaded,
        settings={"agent": home.agent_settings()},
        provider_config=lambda name: {"base_url": url, "management_key": "env:OR_MANAGEMENT"}
        if name == "openrouter" else {},
        credentials=creds,
        secrets=KeyringSecretStore(environ={"OR_MANAGEMENT": MANAGEMENT}),
        options=RunOptions(dry_run=dry_run, yes=True),
        configured_providers={"openrouter"},
        **recording,
    )


def test_the_sample_homes_key_through_the_engine(
    tmp_path: Path, account: OpenRouterAccount, openrouter_contract: ContractServer,
    memory_keyring: Any,
) -> None:
    home = build_sample_home(tmp_path / "sample", era="both")
    (planted,) = home.planted_for("openrouter")
    old = Key(planted.value, name="openclaw", limit=10.0)
    account.keys[old.key_hash] = old
    account.add()  # another key of the account: untouched

    planned = _runner(home, openrouter_contract.url, tmp_path, dry_run=True).run()
    assert [r.outcome.name for r in planned.results] == ["Planned"]
    assert openrouter_contract.requests == []  # a dry run sends nothing

    result = _runner(home, openrouter_contract.url, tmp_path, dry_run=False).run()

    outcomes = {r.action: r.outcome.name for r in result.results}
    assert outcomes == {"revoke": "Revoked", "verify_revoked": "VerifiedDead",
                        "rotate": "Rotated"}, result.results
    assert old.key_hash not in account.keys and len(account.keys) == 2
    assert result.exit_code == 0
    incident_dir = result.incident_dir
    assert incident_dir is not None and verify_incident(incident_dir).exit_code == 0
    written = "".join(p.read_text(errors="replace") for p in incident_dir.rglob("*")
                      if p.is_file())
    written += json.dumps([r.outcome.facts for r in result.results], default=str)
    for key in [planted.value, MANAGEMENT, *(k.value for k in account.keys.values())]:
        assert key not in written


def test_drill_preflight_names_the_missing_management_key(
    tmp_path: Path, account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    home = build_sample_home(tmp_path / "sample", era="both")
    ordinary = account.add()  # an API key where a management key belongs
    config = tmp_path / "clawback.toml"
    lines = ["[agent]", *(f"{k} = {json.dumps(v)}" for k, v in home.agent_settings().items()),
             "[providers.openrouter]", f"base_url = {json.dumps(openrouter_contract.url)}",
             'management_key = "env:OR_MANAGEMENT"']
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)
    env = {**os.environ, "OR_MANAGEMENT": ordinary.value,
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state")}
    run = subprocess.run(
        [sys.executable, "-m", "clawback", "drill", "--preflight", "--json", "--config",
         str(config)], capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode == 3, run.stderr
    report = json.loads(run.stdout)
    checks = {c["capability"]: c for c in report["checks"] if c["provider"] == "openrouter"}
    assert checks["management key"]["ok"] is False
    assert checks["management key"]["missing_permission"] == "management key"
    coverage = [c for c in report["coverage"] if c["provider"] == "openrouter"]
    assert coverage and all(c["mode"] == "api" for c in coverage)
    assert not any(r.method != "GET" for r in openrouter_contract.requests)
    assert ordinary.value not in run.stdout + run.stderr
