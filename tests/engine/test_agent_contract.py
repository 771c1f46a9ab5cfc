"""The engine reaches the agent and the providers through the contract only: the agent keeper
found by entry point, what a responder says about its stored replacements, and which
responders take a replacement the operator pastes."""

from __future__ import annotations

import json
from pathlib import Path

from clawback.registry import load_agent, load_registry
from clawback.secret_store import KeyringSecretStore
from responders.interface import (
    AgentValue,
    Capability,
    Credential,
    Location,
    Responder,
    ResponderContext,
    SecretValue,
    Skipped,
    SwitchBlocker,
)


def test_the_installed_agent_is_found_by_entry_point_and_discovers(tmp_path: Path) -> None:
    keeper = load_agent()
    home = tmp_path / "home"
    home.mkdir()
    inventory = keeper.discover({}, user_home=home, free_text=False)
    assert inventory.found_install is False
    assert list(inventory.credentials) == []
    assert load_agent() is keeper  # one keeper per process


def test_responders_say_whether_they_rewrite_the_agent_files() -> None:
    registry = load_registry()
    rewriting = {name for name, cls in registry.responders.items() if cls.rewrites_agent_files}
    assert rewriting == {"openclaw"}


def test_a_stored_aws_pair_gives_the_agent_the_id_beside_the_secret() -> None:
    registry = load_registry()
    aws = registry.responder_for_provider("aws")
    github = registry.responder_for_provider("github")
    assert aws is not None and github is not None
    pair = SecretValue(json.dumps({"AccessKeyId": "AKIAEXAMPLE000000001",
                                   "SecretAccessKey": "s" * 40}))
    assert aws.agent_value(pair) == AgentValue(SecretValue("s" * 40), "AKIAEXAMPLE000000001")
    plain = SecretValue("not a pair")
    assert aws.agent_value(plain) == AgentValue(plain)
    assert github.agent_value(plain) == AgentValue(plain)


def test_responders_declare_the_pasted_replacements_they_take() -> None:
    """The engine hands an operator's pasted key only to a responder that declares
    ``Capability.ACCEPT_REPLACEMENT``; one that takes them (overrides ``accept_replacement``)
    must declare it, and the contract's default takes nothing."""
    registry = load_registry()
    overrides = {name for name, cls in registry.responders.items()
                 if cls.accept_replacement is not Responder.accept_replacement}
    declared = {name for name, cls in registry.responders.items()
                if Capability.ACCEPT_REPLACEMENT in cls.capabilities}
    assert overrides == declared == {"anthropic"}
    github = registry.responders["github"]
    cred = Credential.from_secret("github", "github:pat", "ghp_" + "a" * 36,
                                  [Location("/agent/.env", "GITHUB_TOKEN")])
    store = KeyringSecretStore()
    refused = github(ResponderContext()).accept_replacement(cred, SecretValue("x" * 40), store)
    assert isinstance(refused, Skipped) and "nothing to paste" in refused.reason


def test_switch_blockers_are_typed_outcomes() -> None:
    store = Location("/home/agent/.openclaw/agents/main/agent/auth.sqlite", "auth_profile_store[0]")
    log = Location("/home/agent/.openclaw/logs/gateway.log", "line 3")
    cred = Credential(provider="openai", kind="openai:api_key", fingerprint="…abcd sha256:00",
                      locations=(store, log))
    (blocker,) = load_agent().switch_blockers(cred)
    assert isinstance(blocker, SwitchBlocker)
    assert blocker.location == store and "SQLite" in blocker.reason
    # A log is free text nothing reads a key from: it never blocks a rotation.
    only_log = Credential(provider="openai", kind="openai:api_key",
                          fingerprint="…abcd sha256:00", locations=(log,))
    assert load_agent().switch_blockers(only_log) == []
