"""A drill SIGKILLed at each rotation stage, then ``--resume``d: one live new key, the old one
dead, no key created twice or lost, the agent's files on the new key, and a timeline that
verifies (the crash shows as a CRASHED_ACTION warning)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from clawback.drill import STAGE_ACTION
from clawback.timeline import read_entries
from clawback.verify import verify_incident
from responders.openclaw import file_holds
from responders.openclaw.secret_edits import is_free_text

from .conftest import AWS_STORE_NAME, DrillWorld, file_keyring

# Every stage the drill records for an AWS key, in order, and the OpenClaw gateway token's
# stage between storing its new value and writing it to the agent's files.
CRASH_POINTS = [
    "aws:started", "aws:created", "aws:stored", "aws:pending", "aws:current", "aws:previous",
    "aws:retired", "openclaw:stored",
]


def stages_of(incident: Path, target: str) -> list[str]:
    return [e.extra["stage"] for e in read_entries(incident / "timeline.jsonl")
            if e.action == STAGE_ACTION and e.fields["target"]["target"] == target]


def aws_stages(incident: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in read_entries(incident / "timeline.jsonl"):
        target = e.fields["target"]["target"] if e.action == STAGE_ACTION else ""
        if target.startswith("aws:"):
            out.setdefault(target, []).append(e.extra["stage"])
    return out


def stored_key_ids(incident: Path, target: str) -> set[str]:
    return {e.extra["new_key_id"] for e in read_entries(incident / "timeline.jsonl")
            if e.action == STAGE_ACTION and e.fields["target"]["target"] == target
            and e.extra["stage"] == "stored"}


def assert_no_secret(world: DrillWorld, *texts: str) -> None:
    for text in texts:
        for secret in world.planted_values():
            assert secret not in text, f"secret {secret[:5]}… leaked"


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_a_drill_killed_at_any_stage_resumes_to_one_live_new_key(
    drill_world: DrillWorld, crash_at: str
) -> None:
    world = drill_world
    old_id, old_secret = world.old_key
    target = f"aws:{old_id}"

    crashed = world.drill(crash_at=crash_at)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    (incident,) = world.incident_dirs()
    provider, stage = crash_at.split(":")
    if provider == "aws":
        # It died right there: on the agent's key, or on the configured IAM user, whose
        # rotation (a no-op) starts at the same moment in the concurrent fan-out.
        last = [stages[-1] for stages in aws_stages(incident).values() if stages]
        assert stage in last, last

    resumed = world.drill(resume=incident.name)
    assert resumed.returncode == 3, resumed.stderr  # 3: the sample home's manual steps
    assert_no_secret(world, crashed.stdout, crashed.stderr, resumed.stdout, resumed.stderr)
    document = json.loads(resumed.stdout)
    assert not [r for r in document["results"] if r["outcome"] == "Failed"], document["results"]

    # Exactly one live key, not the old one; the agent reads it, the keyring holds it.
    (live_id, status), = world.keys().items()
    assert live_id != old_id and status == "Active"
    pair = json.loads(file_keyring().get_password("clawback", AWS_STORE_NAME))
    assert pair["AccessKeyId"] == live_id
    assert set(world.agent_aws_pairs().values()) == {(live_id, pair["SecretAccessKey"])}
    assert world.identity_of(live_id, pair["SecretAccessKey"]) is not None
    assert world.identity_of(old_id, old_secret) is None

    # No key stored twice: once a key was stored, the resume finished with that same key.
    assert stored_key_ids(incident, target) == {live_id}
    rotate = [r for r in document["results"] if r["action"] == "rotate" and r["target"] == target]
    if rotate:  # absent only if the first run had already recorded the rotation
        assert rotate[0]["outcome"] == "Rotated"
        assert rotate[0]["facts"]["new_key_id"] == live_id
    if crash_at == "aws:created":
        # The key made before the crash was never stored: nothing could use it, so it went.
        assert len(rotate[0]["facts"]["orphans_deleted"]) == 1
    verified = [r for r in document["results"]
                if r["action"] == "verify_revoked" and r["target"] == target]
    assert [r["outcome"] for r in verified] in (["VerifiedDead"], [])

    # The gateway token: one new value, in every place the agent reads it.
    for planted in world.home.planted_of("openclaw:gateway_token"):
        hex8 = planted.fingerprint.rsplit("sha256:", 1)[1]
        new = file_keyring().get_password("clawback", f"openclaw/gateway_token/{hex8}")
        assert new and new != planted.value
        for location in planted.locations:
            # A transcript line that showed it (the sample home's attack story prints .env) is
            # history the gateway never reads a key from; the drill rewrites what it reads.
            if is_free_text(location):
                continue
            data = Path(location.path).read_bytes()
            assert file_holds(Path(location.path), data, new), location
            assert not file_holds(Path(location.path), data, planted.value), location

    if crash_at == "openclaw:stored":
        # The value stored before the crash is the one the resume wrote: had the first run
        # reached some files, they and the rest would now agree.
        crashed_target, first_value = next(
            (e.fields["target"]["target"], e.extra["new_fingerprint"])
            for e in read_entries(incident / "timeline.jsonl")
            if e.action == STAGE_ACTION and e.extra["stage"] == "stored"
            and e.fields["target"]["provider"] == "openclaw"
        )
        finished = next(r for r in document["results"]
                        if r["action"] == "rotate" and r["target"] == crashed_target)
        assert finished["new_fingerprint"] == first_value

    report = verify_incident(incident)
    assert report.intact, [v.as_dict() for v in report.verdicts]
    assert "CRASHED_ACTION" in {v.code for v in report.verdicts}
