"""The engine reaches fleet hosts through the contract: the remote responder's ``RemoteHosts``,
found by entry point (tests/fleet drives it against sshd on loopback)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clawback.registry import load_remote
from responders.fleet_agent import agent_zip


def test_the_remote_hosts_are_found_by_entry_point() -> None:
    hosts = load_remote()
    assert load_remote() is hosts  # one per process
    assert hosts.target_label("root@[2001:db8::7]:2222") == "root@[2001:db8::7]:2222"
    assert hosts.target_label("pi@192.0.2.10") == "pi@192.0.2.10:22"
    with pytest.raises(ValueError, match="is not an SSH target"):
        hosts.target_label("root@")
    assert hosts.state_dir("inc-1").endswith("/inc-1")
    assert hosts.agent_sha256() == hashlib.sha256(agent_zip()).hexdigest()


def test_a_session_is_not_opened_until_asked(tmp_path: Path) -> None:
    session = load_remote().connect("web-1", "root@127.0.0.1:1", known_hosts=tmp_path / "kh")
    assert session.name == "web-1"
    session.close()  # closing what never opened is harmless


def test_an_action_with_no_ssh_variant_becomes_a_manual_step_and_keys_stay_on_their_host(
) -> None:
    hosts = load_remote()
    assert hosts.over_ssh("host.snapshot").name == "host.snapshot"
    assert hosts.over_ssh("no.such_action").state_changing is False
    stand_in = hosts.on_host_responder(frozenset({"openai"}), ["openclaw"])
    assert stand_in.providers == frozenset({"openai"}) and stand_in.needs_config is False


def test_what_hosts_discovered_merges_into_one_credential_per_secret() -> None:
    hosts = load_remote()
    value = "sk-proj-" + "a" * 40  # a test value, not a real key

    def answer(path: str) -> dict[str, object]:
        return {"credentials": [{"provider": "openai", "kind": "api_key", "value": value,
                                 "locations": [[path, "OPENAI_API_KEY"]]}]}

    web = hosts.host_credentials("web-1", answer("/home/a/.env"))
    pi = hosts.host_credentials("pi", answer("/home/b/.env"))
    assert [str(loc) for loc in web[0].locations] == ["web-1:/home/a/.env:OPENAI_API_KEY"]
    merged, _notes = hosts.merge([web, pi])
    assert len(merged) == 1
    assert {str(loc).split(":")[0] for loc in merged[0].locations} == {"web-1", "pi"}
    assert value not in repr(merged[0])
