"""A whole drill against moto and the sample home: every key the agent holds is replaced, and
the agent's files hold the new key before the old one is retired."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clawback.drill import STAGE_ACTION, DrillRequest, run_drill
from clawback.timeline import read_entries
from clawback.verify import verify_incident
from responders.aws import AWSResponder
from responders.interface import fingerprint
from responders.openclaw import file_holds
from responders.openclaw.secret_edits import is_free_text
from tests.conftest import MemoryKeyring

from .conftest import AGENT_USER, AWS_STORE_NAME, DrillWorld


def stored_pair(keyring: MemoryKeyring) -> tuple[str, str]:
    pair = json.loads(keyring.store[("clawback", AWS_STORE_NAME)])
    return pair["AccessKeyId"], pair["SecretAccessKey"]


def stage_events(incident: Path, target: str) -> list[tuple[int, str]]:
    return [
        (e.seq, e.extra["stage"]) for e in read_entries(incident / "timeline.jsonl")
        if e.action == STAGE_ACTION and e.fields["target"]["target"] == target
    ]


def test_drill_switches_the_agent_to_the_new_key_before_retiring_the_old(
    drill_world: DrillWorld, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = drill_world
    old_id, old_secret = world.old_key
    # Instrument the responder (not the drill): what the agent's files hold at the moment the
    # old key is switched off.
    seen_at_deactivation: dict[str, Any] = {}
    deactivate = AWSResponder._deactivate

    def watching(self: AWSResponder, key: Any) -> None:
        seen_at_deactivation[key.key_id] = (world.agent_aws_pairs(), dict(world.keys()))
        deactivate(self, key)

    monkeypatch.setattr(AWSResponder, "_deactivate", watching)

    drilled = run_drill(DrillRequest(config=world.config, incidents_dir=world.incidents))
    result = drilled.result

    (live_id, status), = world.keys().items()
    assert live_id != old_id and status == "Active"
    new_id, new_secret = stored_pair(memory_keyring)
    assert new_id == live_id
    files_then, keys_then = seen_at_deactivation[old_id]
    assert set(files_then.values()) == {(new_id, new_secret)}, "agent not switched in time"
    assert keys_then == {old_id: "Active", new_id: "Active"}
    assert set(world.agent_aws_pairs().values()) == {(new_id, new_secret)}
    assert world.identity_of(new_id, new_secret) is not None
    assert world.identity_of(new_id, new_secret).endswith(f":user/{AGENT_USER}")  # type: ignore[union-attr]
    assert world.identity_of(old_id, old_secret) is None

    by_action = {(r.action, r.target): r.outcome for r in result.results}
    rotated = by_action[("rotate", f"aws:{old_id}")]
    assert rotated.name == "Rotated"
    assert rotated.facts["rotation_stage"] == "retired"
    assert rotated.facts["new_key_id"] == new_id
    assert by_action[("verify_revoked", f"aws:{old_id}")].name == "VerifiedDead"
    # Unconfigured providers of the sample home are left to a human: exit 3, as contain.
    assert result.exit_code == 3
    assert not [r for r in result.results if r.outcome.status == "failed"]

    incident = result.incident_dir
    assert incident is not None
    assert [s for _, s in stage_events(incident, f"aws:{old_id}")] == [
        "started", "creating", "created", "stored", "pending", "current", "handover",
        "previous", "retired",
    ]
    entries = read_entries(incident / "timeline.jsonl")
    pending = next(e for e in entries if e.action == STAGE_ACTION
                   and e.extra["stage"] == "pending"
                   and e.fields["target"]["target"] == f"aws:{old_id}")
    switched = pending.extra["switched"]
    assert sorted(Path(p).name for p in switched["updated"]) == [".env", "credentials"]
    for backup in switched["backups"]:
        kept = Path(backup["backup"])
        assert kept.parent == incident / "backups"
        assert kept.stat().st_mode & 0o777 == 0o600
        assert old_secret in kept.read_text()  # the file as it was, before the switch
    report = verify_incident(incident)
    assert report.intact, [v.as_dict() for v in report.verdicts]


def test_drill_rotates_the_gateway_token_everywhere_it_is_read(
    drill_world: DrillWorld, memory_keyring: MemoryKeyring
) -> None:
    world = drill_world
    drilled = run_drill(DrillRequest(config=world.config, incidents_dir=world.incidents))
    assert drilled.result.exit_code == 3

    for planted in world.home.planted_of("openclaw:gateway_token"):
        hex8 = planted.fingerprint.rsplit("sha256:", 1)[1]
        new = memory_keyring.store[("clawback", f"openclaw/gateway_token/{hex8}")]
        assert new != planted.value
        for location in planted.locations:
            # A transcript line that showed it (the sample home's attack story prints .env) is
            # history the gateway never reads a key from; the drill rewrites what it reads.
            if is_free_text(location):
                continue
            data = Path(location.path).read_bytes()
            assert file_holds(Path(location.path), data, new), location
            assert not file_holds(Path(location.path), data, planted.value), location
        outcome = next(r.outcome for r in drilled.result.results
                       if r.action == "rotate" and planted.fingerprint in r.target)
        assert outcome.name == "Rotated"
        assert outcome.new_fingerprint == fingerprint(new)  # type: ignore[attr-defined]


def test_drill_output_and_records_hold_no_secret(
    drill_world: DrillWorld, memory_keyring: MemoryKeyring
) -> None:
    world = drill_world
    drilled = run_drill(DrillRequest(config=world.config, incidents_dir=world.incidents))
    incident = drilled.result.incident_dir
    assert incident is not None
    # The keyring copies of old values (kept for --resume) go once every rotation settled.
    assert not [name for _, name in memory_keyring.store if name.startswith("drill/")]
    new_values = [v for (service, _), v in memory_keyring.store.items() if service == "clawback"]
    assert new_values
    secrets = world.planted_values() + new_values
    texts = [json.dumps(drilled.as_dict()), repr(drilled.result.results)]
    texts += [p.read_text() for p in incident.iterdir() if p.is_file()]
    for text in texts:
        for secret in secrets:
            # The stored AWS pair is JSON; its key id is public, its secret is not.
            if secret.startswith("{"):
                secret = json.loads(secret)["SecretAccessKey"]
            assert secret not in text, f"secret {secret[:5]}… leaked"
