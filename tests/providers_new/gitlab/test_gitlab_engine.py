"""GitLab inside the real engine and the real command line: a planted token goes through
``keys.revoke_all`` with verify and rotate into a signed timeline, a dry run sends nothing, and
``clawback drill --preflight`` lists what GitLab needs, all against contract-checked stand-ins."""

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
from tests.providers_new.gitlab.gitlab_standin import GitLabInstance

PLAYBOOK = """
name: keys
steps:
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: true, verify: true, providers: [gitlab]}
"""
DEPLOY_TOKEN = "gldt-" + "Qm7r" * 5


def _runner(root: Path, gitlab: GitLabInstance, creds: list[Credential], *,
            dry_run: bool) -> Runner:
    registry = load_registry()
    playbook = root / "keys.yaml"
    playbook.write_text(PLAYBOOK)
    playbook.chmod(0o600)
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    recording: dict[str, Any] = {}
    if not dry_run:
        incident_id = "2026-12-06T1200Z-9a1c"
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
        settings={},
        provider_config=lambda name: {"base_url": gitlab.api_url} if name == "gitlab" else {},
        credentials=creds,
        secrets=KeyringSecretStore(environ={}),
        options=RunOptions(dry_run=dry_run, yes=True),
        configured_providers={"gitlab"},
        **recording,
    )


def test_a_gitlab_token_through_the_engine(
    tmp_path: Path, gitlab: GitLabInstance, memory_keyring: Any
) -> None:
    token = gitlab.add(name="agent", scopes=("api",))
    where = [Location(str(tmp_path / ".openclaw" / ".env"), "GITLAB_TOKEN")]
    creds = [Credential.from_secret("gitlab", "gitlab:pat", token.value, where),
             Credential.from_secret("gitlab", "gitlab:token", DEPLOY_TOKEN, where)]

    planned = _runner(tmp_path, gitlab, creds, dry_run=True).run()
    assert {r.outcome.name for r in planned.results} == {"Planned", "ManualRequired"}
    assert gitlab.contract.requests == []  # a dry run sends nothing

    result = _runner(tmp_path, gitlab, creds, dry_run=False).run()

    outcomes = {(r.action, r.target_info["kind"]): r.outcome.name for r in result.results}
    assert outcomes[("revoke", "gitlab:pat")] == "Revoked"
    assert outcomes[("verify_revoked", "gitlab:pat")] == "VerifiedDead"
    # A revoked token makes no replacement of itself: the recipe is a human's step.
    assert outcomes[("rotate", "gitlab:pat")] == "ManualRequired"
    assert outcomes[("revoke", "gitlab:token")] == "ManualRequired"
    assert token.state == "revoked" and result.exit_code == 3
    incident_dir = result.incident_dir
    assert incident_dir is not None and verify_incident(incident_dir).exit_code == 0
    written = "".join(p.read_text(errors="replace") for p in incident_dir.rglob("*") if p.is_file())
    written += json.dumps([r.outcome.facts for r in result.results], default=str)
    assert token.value not in written and DEPLOY_TOKEN not in written
    assert creds[0].fingerprint in written


def test_drill_preflight_lists_what_gitlab_needs_and_sends_no_token(
    tmp_path: Path, gitlab: GitLabInstance
) -> None:
    home = build_sample_home(tmp_path / "sample", era="both")
    planted = gitlab.add().value
    with (home.state_dir / ".env").open("a") as env:
        env.write(f"GITLAB_TOKEN={planted}\n")
    config = write_config(tmp_path / "clawback.toml", home,
                          extra=f'[providers.gitlab]\nbase_url = "{gitlab.api_url}"\n')
    run = subprocess.run(
        [sys.executable, "-m", "clawback", "drill", "--preflight", "--json", "--config",
         str(config)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"},
    )
    assert run.returncode in (0, 3), run.stderr
    report = json.loads(run.stdout)
    (check,) = [c for c in report["checks"] if c["provider"] == "gitlab"]
    assert check["ok"] is True
    assert "any scope" in check["detail"] and "api or self_rotate" in check["detail"]
    coverage = [c for c in report["coverage"] if c["provider"] == "gitlab"]
    assert [c["mode"] for c in coverage] == ["api"]
    # The only request: the unauthenticated probe; the agent's token never left the host.
    assert [(r.method, "PRIVATE-TOKEN" in r.headers) for r in gitlab.contract.requests] == [
        ("GET", False)]
    assert planted not in run.stdout + run.stderr
