"""The engine reaches the agent and the providers through the contract only: the agent keeper
found by entry point, and what a responder says about its stored replacements."""

from __future__ import annotations

import json
from pathlib import Path

from clawback.registry import load_agent, load_registry
from responders.interface import AgentValue, Credential, Location, SecretValue, SwitchBlocker


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
