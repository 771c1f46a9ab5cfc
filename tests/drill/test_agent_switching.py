"""The drill's store on its own: the agent is switched when a new key is stored and switched
back when the responder withdraws it; writes to the agent's files are all or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clawback.contain import ContainRequest, prepare
from clawback.rotation import STAGE_ACTION, DrillSession
from clawback.signing import load_signing_key
from clawback.timeline import Timeline, read_entries
from responders.interface import Credential, Location, ResponderError, SecretValue
from responders.openclaw import BackupStore, write_replacement
from tests.conftest import MemoryKeyring

from .conftest import DrillWorld

NEW_ID = "AKIANEWKEYFORTHEDRILL"
NEW_SECRET = "n3wSecretValueForTheDrill/0123456789abcd"


def test_the_store_switches_the_agent_and_switches_it_back_when_the_key_is_withdrawn(
    drill_world: DrillWorld, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    world = drill_world
    prepared = prepare(ContainRequest(config=world.config, playbook_name="drill",
                                      switch_agent=True))
    incident = tmp_path / "incident"
    timeline = Timeline.create(incident, incident.name, load_signing_key(), header={})
    aws = next(c for c in prepared.credentials() if c.key_id == world.old_key[0])
    before = {loc.path: Path(loc.path).read_bytes() for loc in aws.locations}
    store = DrillSession(prepared, incident, timeline)(aws)

    pair = SecretValue(json.dumps({"AccessKeyId": NEW_ID, "SecretAccessKey": NEW_SECRET}))
    reference = store.store("aws/openclaw-agent", pair)
    assert reference == "keyring:clawback/aws/openclaw-agent"
    assert set(world.agent_aws_pairs().values()) == {(NEW_ID, NEW_SECRET)}

    store.delete("aws/openclaw-agent")
    assert set(world.agent_aws_pairs().values()) == {world.old_key}
    assert {p: Path(p).read_bytes() for p in before} == before  # byte for byte
    assert ("clawback", "aws/openclaw-agent") not in memory_keyring.store
    stages = [e.extra["stage"] for e in read_entries(incident / "timeline.jsonl")
              if e.action == STAGE_ACTION]
    assert stages == ["started", "created", "stored", "pending", "reverted"]


def test_a_failed_write_leaves_every_file_as_it_was(tmp_path: Path) -> None:
    old, new = "oldSecretValue0123456789", "newSecretValue9876543210"
    good = tmp_path / "agent.env"
    good.write_text(f"API_KEY={old}\nOTHER=1\n")
    # The old value inside a longer token cannot be replaced safely: that file fails.
    bad = tmp_path / "other.env"
    bad.write_text(f"API_KEY={old}-suffix\n")
    original = {p: p.read_bytes() for p in (good, bad)}
    cred = Credential.from_secret(
        "openai", "openai:project_key", old,
        [Location(str(good), "API_KEY"), Location(str(bad), "API_KEY")],
    )
    with pytest.raises(ResponderError, match="1 file\\(s\\) already written got the old"):
        write_replacement(cred, SecretValue(new), BackupStore(tmp_path / "incident"))
    assert {p: p.read_bytes() for p in original} == original


def test_a_place_the_agent_reads_but_clawback_cannot_edit_keeps_the_old_key(
    tmp_path: Path
) -> None:
    env = tmp_path / "agent.env"
    env.write_text("API_KEY=oldSecretValue0123456789\n")
    cred = Credential.from_secret(
        "openai", "openai:project_key", "oldSecretValue0123456789",
        [Location(str(env), "API_KEY"),
         Location(str(tmp_path / "openclaw.sqlite"), "auth_profile_store[openai].key")],
    )
    with pytest.raises(ResponderError, match="SQLite"):
        write_replacement(cred, SecretValue("newSecretValue9876543210"),
                          BackupStore(tmp_path / "incident"))
    assert env.read_text() == "API_KEY=oldSecretValue0123456789\n"


# -- the handover: the old key goes only once the agent is proven on the new one ---------------


def test_the_old_keys_last_use_after_the_switch_keeps_it(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from clawback.rotation import Handover

    switched = datetime.now(UTC)
    handover = Handover({"grace_seconds": 0}, gateway_port=None)
    unused = handover.prove(switched, lambda: switched - timedelta(hours=1))
    never = handover.prove(switched, lambda: None)
    used = handover.prove(switched, lambda: switched + timedelta(seconds=1))
    assert unused.proven and never.proven
    assert not used.proven and "still uses it" in used.how
    blind = handover.prove(switched, None)
    assert not blind.proven and "reload_command" in blind.how


def test_a_reload_is_proven_by_the_agents_health_check(tmp_path: Path, httpserver: Any) -> None:
    import sys
    from datetime import UTC, datetime

    from clawback.rotation import Handover

    marker = tmp_path / "reloaded"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    httpserver.expect_request("/health").respond_with_data("ok")
    healthy = Handover({"reload_command": command, "grace_seconds": 2,
                        "health_url": httpserver.url_for("/health")}, gateway_port=None)
    proof = healthy.prove(datetime.now(UTC), None)
    assert proof.proven and marker.exists() and "reloaded" in proof.how
    # One reload covers every switch made before it.
    marker.unlink()
    assert healthy.prove(datetime(2020, 1, 1, tzinfo=UTC), None).proven and not marker.exists()

    failing = Handover({"reload_command": [sys.executable, "-c", "raise SystemExit(3)"],
                        "grace_seconds": 1, "health_url": httpserver.url_for("/health")}, None)
    assert "exited 3" in failing.prove(datetime.now(UTC), None).how
    silent = Handover({"reload_command": command, "grace_seconds": 0.3,
                       "health_url": "http://127.0.0.1:9/health"}, None)
    late = silent.prove(datetime.now(UTC), None)
    assert not late.proven and "health check" in late.how
