"""Matrix through the real engine (signed timeline, no secret written) and ``clawback drill
--preflight`` (what Matrix needs, listed; no token sent), against the contract-checked
homeserver."""

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
from tests.engine.conftest import write_config
from tests.providers_new.matrix.matrix_standin import Homeserver

BOT = "@openclaw:example.org"
PASSWORD = "a bot password long enough 7"


def test_a_matrix_token_through_the_engine(
    tmp_path: Path, homeserver: Homeserver, memory_keyring: Any
) -> None:
    homeserver.passwords[BOT] = PASSWORD
    session = homeserver.add(BOT)
    registry = load_registry()
    playbook = tmp_path / "keys.yaml"
    playbook.write_text("name: keys\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n"
                        "    with: {rotate: true, verify: true, providers: [matrix]}\n")
    playbook.chmod(0o600)
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    incident_id = "2026-12-06T1400Z-3c4d"
    incident_dir = create_incident_dir(tmp_path / "incidents", incident_id)
    config = {"homeserver": homeserver.url, "user": BOT, "password": "env:MATRIX_PW"}
    result = Runner(
        registry=registry, playbook=loaded, settings={},
        provider_config=lambda name: config if name == "matrix" else {},
        credentials=[Credential.from_secret(
            "matrix", "matrix:access_token", session.token,
            [Location(str(tmp_path / "credentials.json"), "accessToken")])],
        secrets=KeyringSecretStore(environ={"MATRIX_PW": PASSWORD}),
        options=RunOptions(yes=True), configured_providers={"matrix"},
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
    for value in [session.token, *homeserver.sessions, PASSWORD]:
        assert value not in written


def test_drill_preflight_lists_what_matrix_needs(tmp_path: Path, homeserver: Homeserver) -> None:
    home = build_sample_home(tmp_path / "sample", era="both")
    planted = homeserver.add().token
    with (home.state_dir / ".env").open("a") as env:
        env.write(f"MATRIX_ACCESS_TOKEN={planted}\n")
    config = write_config(tmp_path / "clawback.toml", home,
                          extra=f'[providers.matrix]\nhomeserver = "{homeserver.url}"\n')
    run = subprocess.run(
        [sys.executable, "-m", "clawback", "drill", "--preflight", "--json", "--config",
         str(config)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"},
    )
    assert run.returncode in (0, 3), run.stderr
    report = json.loads(run.stdout)
    (check,) = [c for c in report["checks"] if c["provider"] == "matrix"]
    assert check["ok"] and "logs itself out" in check["detail"]
    assert "user and password (not set" in check["detail"]
    assert "api" in {c["mode"] for c in report["coverage"] if c["provider"] == "matrix"}
    assert [r.path for r in homeserver.contract.requests] == ["/_matrix/client/versions"]
    assert planted not in run.stdout + run.stderr and planted in homeserver.sessions
