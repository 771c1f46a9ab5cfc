"""The OpenAI and Anthropic responders through the real engine: ``clawback.contain.prepare`` and
``run`` on the sample home, discovery included, with ``[providers.openai]`` and
``[providers.anthropic]`` pointing at the loopback stand-ins (contract-checked, as elsewhere in
this directory). The timeline, journal and keyring are the real ones."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from clawback.contain import ContainRequest, prepare, run
from clawback.verify import verify_incident
from clawback_demo.home import SampleHome, build_sample_home
from tests.providers_ai.conftest import ANTHROPIC_ADMIN_ENV, OPENAI_ADMIN_ENV
from tests.providers_ai.served_orgs import AnthropicOrg, OpenAIOrg

PLAYBOOK = """
name: ai-keys
steps:
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: true, verify: true, providers: [openai, anthropic]}
"""


@pytest.fixture
def second_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@dataclass
class Setup:
    home: SampleHome
    config: Path
    playbook: Path
    incidents: Path
    openai: OpenAIOrg
    anthropic: AnthropicOrg
    project: str

    def request(self, *, dry_run: bool = False) -> ContainRequest:
        return ContainRequest(
            playbook=self.playbook,
            config=self.config,
            dry_run=dry_run,
            yes=True,
            incidents_dir=self.incidents,
        )


@pytest.fixture
def setup(
    tmp_path: Path,
    memory_keyring: Any,
    monkeypatch: pytest.MonkeyPatch,
    openai_org: OpenAIOrg,
    second_server: HTTPServer,
) -> Iterator[Setup]:
    home = build_sample_home(tmp_path / "sample", era="both")
    anthropic = AnthropicOrg().serve(second_server)

    # The organizations hold the keys planted in the home: the agent's user key and a service
    # account's key in one project, an exposed admin key, and two Anthropic keys.
    project = openai_org.add_project("openclaw")
    user_key, account_key = [p.value for p in home.planted if p.kind == "openai:project_key"]
    openai_org.add_user_key(project, user_key)
    openai_org.add_service_account(project, account_key)
    openai_org.add_user_key(project)  # a bystander that must survive
    (exposed_admin,) = [p.value for p in home.planted if p.kind == "openai:admin_key"]
    openai_org.add_admin_key(exposed_admin)
    monkeypatch.setenv(OPENAI_ADMIN_ENV, openai_org.add_admin_key().value)
    for planted in home.planted:
        if planted.kind == "anthropic:api_key":
            anthropic.add_key(planted.value)
    monkeypatch.setenv(ANTHROPIC_ADMIN_ENV, anthropic.add_admin_key())

    config = tmp_path / "clawback.toml"
    agent = [f"{k} = {json.dumps(v)}" for k, v in home.agent_settings().items()]
    config.write_text(
        "\n".join(
            [
                "[agent]",
                *agent,
                "[providers.openai]",
                f'base_url = "{openai_org.url}"',
                f'admin_key = "env:{OPENAI_ADMIN_ENV}"',
                f'projects = ["{project}"]',
                "[providers.anthropic]",
                f'base_url = "{anthropic.url}"',
                f'admin_key = "env:{ANTHROPIC_ADMIN_ENV}"',
                "",
            ]
        )
    )
    os.chmod(config, 0o600)
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(PLAYBOOK)
    os.chmod(playbook, 0o600)
    yield Setup(home, config, playbook, tmp_path / "incidents", openai_org, anthropic, project)
    assert anthropic.violations == [], anthropic.violations


def by_kind(results: list[Any], action: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in results:
        if r.action == action:
            out.setdefault(r.target_info["kind"], []).append(r.outcome.name)
    return {k: sorted(v) for k, v in out.items()}


def test_contain_kills_every_ai_key_the_apis_can_reach(setup: Setup, memory_keyring: Any) -> None:
    result = run(prepare(setup.request()))

    assert by_kind(result.results, "revoke") == {
        "openai:project_key": ["Revoked", "Revoked"],
        "openai:admin_key": ["Revoked"],
        "openai:oauth_access": ["ManualRequired"],
        "openai:oauth_refresh": ["ManualRequired"],
        "anthropic:api_key": ["Disabled", "Disabled"],
        "anthropic:admin_key": ["ManualRequired"],
        "anthropic:oauth_token": ["ManualRequired"],
        "anthropic:oauth_refresh": ["ManualRequired"],
    }
    assert by_kind(result.results, "verify_revoked") == {
        "openai:project_key": ["VerifiedDead", "VerifiedDead"],
        "openai:admin_key": ["VerifiedDead"],
        "anthropic:api_key": ["VerifiedDead", "VerifiedDead"],
    }
    # A service account and an admin key are replaced; a user's key and Anthropic keys need
    # a person, who gets the link and the instructions.
    assert by_kind(result.results, "rotate") == {
        "openai:project_key": ["ManualRequired", "Rotated"],
        "openai:admin_key": ["Rotated"],
        "anthropic:api_key": ["ManualRequired", "ManualRequired"],
    }
    assert result.exit_code == 3

    openai, anthropic = setup.openai, setup.anthropic
    planted_values = {p.value for p in setup.home.planted}
    assert len(openai.keys) == 2  # the bystander and the replacement service account's key
    assert not planted_values & {k.value for k in openai.keys.values()}
    assert {k.status for k in anthropic.keys.values()} == {"inactive"}
    stored = list(memory_keyring.store.values())
    assert {k.value for k in openai.keys.values()} & set(stored)

    assert result.incident_dir is not None
    assert verify_incident(result.incident_dir).exit_code == 0
    written = "".join(p.read_text() for p in result.incident_dir.rglob("*") if p.is_file())
    for secret in [*planted_values, *stored, os.environ[OPENAI_ADMIN_ENV]]:
        assert secret not in written


def test_a_dry_run_plans_every_key_and_sends_nothing(setup: Setup) -> None:
    result = run(prepare(setup.request(dry_run=True)))

    planned = [r.outcome for r in result.results]
    assert planned and all(o.name == "Planned" for o in planned)
    actions = {r.target_info["kind"]: r.outcome.action for r in result.results}
    assert actions["openai:project_key"] == actions["anthropic:api_key"] == "revoke"
    assert actions["anthropic:admin_key"] == "manual"
    assert setup.openai.contract.requests == []  # type: ignore[union-attr]
    assert setup.anthropic.requests == []
    assert result.exit_code == 0
