"""SendGrid keys found on disk by fingerprint (not the documentation's placeholders), and
``clawback drill --preflight`` naming the scope the admin key lacks, against the contract-checked
stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clawback_demo.home import build_sample_home
from responders.interface import fingerprint
from responders.kit import secret_patterns as sp
from responders.openclaw.discovery import discover
from tests.engine.conftest import write_config
from tests.providers_new.sendgrid.sendgrid_standin import SendGrid, key_value

EXAMPLES = (
    "SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "SG.XXXXXXXXXXXXXXXXXXXXXX.XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "SG.xxxxxxxx.yyyyyyyy",  # the create answer's example in SendGrid's own description
    "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",  # SendGrid's docs
)


@pytest.mark.parametrize("example", EXAMPLES)
def test_documentation_placeholders_are_not_keys(example: str) -> None:
    assert sp.recognize_value(example) is None
    assert list(sp.find_in_text(f"SENDGRID_API_KEY={example}")) == []
    assert not sp.plausible_secret_value(example)


def test_a_planted_key_is_found_by_fingerprint_with_its_id(tmp_path: Path) -> None:
    state = tmp_path / "home" / ".openclaw"
    state.mkdir(parents=True)
    key_id, planted = key_value()
    (state / "openclaw.json").write_text(json.dumps({"skills": {"entries": {"mailer": {
        "env": {"MAIL_KEY": planted}}}}}))
    (state / ".env").write_text("".join(f"SENDGRID_API_KEY_{i}={e}\n"
                                        for i, e in enumerate(EXAMPLES)))
    inventory = discover(user_home=tmp_path / "home", state_dirs=[state], system_service_dirs=())
    (found,) = inventory.credentials
    assert (found.fingerprint, found.provider, found.key_id) == (
        fingerprint(planted), "sendgrid", key_id)


def test_drill_preflight_names_the_scope_the_admin_key_lacks(
    tmp_path: Path, sendgrid: SendGrid
) -> None:
    sendgrid.admin.scopes = ("api_keys.read", "api_keys.create")
    home = build_sample_home(tmp_path / "sample", era="both")
    planted = sendgrid.add().value
    with (home.state_dir / ".env").open("a") as env:
        env.write(f"SENDGRID_API_KEY={planted}\n")
    config = write_config(tmp_path / "clawback.toml", home, extra=(
        f'[providers.sendgrid]\nbase_url = "{sendgrid.contract.url}"\n'
        'api_key = "env:SG_ADMIN"\n'))
    run = subprocess.run(
        [sys.executable, "-m", "clawback", "drill", "--preflight", "--json", "--config",
         str(config)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "SG_ADMIN": sendgrid.admin.value,
             "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"},
    )
    assert run.returncode == 3, run.stderr
    report = json.loads(run.stdout)
    checks = {c["capability"]: c for c in report["checks"] if c["provider"] == "sendgrid"}
    assert checks["api_keys.delete"]["ok"] is False
    assert checks["api_keys.delete"]["missing_permission"] == "api_keys.delete"
    assert checks["api_keys.read"]["ok"] and checks["api_keys.create"]["ok"]
    assert [c["mode"] for c in report["coverage"] if c["provider"] == "sendgrid"] == ["api"]
    assert planted in sendgrid.keys  # nothing changed
    assert [r.path for r in sendgrid.contract.requests] == ["/v3/scopes"]
    assert planted not in run.stdout + run.stderr
    assert sendgrid.admin.value not in run.stdout + run.stderr


def test_a_sendgrid_key_through_the_engine(
    tmp_path: Path, sendgrid: SendGrid, memory_keyring: Any
) -> None:
    from clawback.incident import create_incident_dir
    from clawback.journal import Journal
    from clawback.playbook import load_playbook
    from clawback.registry import load_registry
    from clawback.runner import WHEN_VARIABLES, Runner, RunOptions, known_actions
    from clawback.secret_store import KeyringSecretStore
    from clawback.signing import load_signing_key
    from clawback.timeline import Timeline
    from clawback.verify import verify_incident
    from responders.interface import Credential, Location

    key = sendgrid.add(scopes=("mail.send",))
    registry = load_registry()
    playbook = tmp_path / "keys.yaml"
    playbook.write_text("name: keys\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n"
                        "    with: {rotate: true, verify: true, providers: [sendgrid]}\n")
    playbook.chmod(0o600)
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    incident_id = "2026-12-06T1300Z-5e2b"
    incident_dir = create_incident_dir(tmp_path / "incidents", incident_id)
    result = Runner(
        registry=registry, playbook=loaded, settings={},
        provider_config=lambda name: {"base_url": sendgrid.contract.url,
                                      "api_key": "env:SG_ADMIN"} if name == "sendgrid" else {},
        credentials=[Credential.from_secret("sendgrid", "sendgrid:api_key", key.value,
                                            [Location(str(tmp_path / ".env"), "SENDGRID")])],
        secrets=KeyringSecretStore(environ={"SG_ADMIN": sendgrid.admin.value}),
        options=RunOptions(yes=True), configured_providers={"sendgrid"},
        timeline=Timeline.create(incident_dir, incident_id, load_signing_key(), header={}),
        journal=Journal.create(incident_dir, incident_id=incident_id,
                               playbook_sha256=loaded.sha256, playbook_path=str(playbook)),
        incident_id=incident_id, incident_dir=incident_dir,
    ).run()

    outcomes = {r.action: r.outcome.name for r in result.results}
    assert outcomes == {"revoke": "Revoked", "verify_revoked": "VerifiedDead",
                        "rotate": "Rotated"}, result.results
    assert result.exit_code == 0 and verify_incident(incident_dir).exit_code == 0
    written = "".join(p.read_text(errors="replace") for p in incident_dir.rglob("*") if p.is_file())
    written += json.dumps([r.outcome.facts for r in result.results], default=str)
    for value in [key.value, *sendgrid.keys]:
        assert value not in written
