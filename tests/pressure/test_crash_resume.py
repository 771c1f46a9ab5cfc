"""SIGKILL ``clawback contain`` at step boundaries and inside actions, then ``--resume`` it.

Each kill point is reached by watching the files the real run writes (its timeline entries and
its checkpoint history), with no hook in the product: when the point is reached the process is
killed with SIGKILL, and ``clawback contain --resume ID`` finishes the incident. What must hold
afterwards, whatever instant the kill landed on:

* the resumed run ends with exit 3 (the sample home always leaves manual steps) and verify
  passes against the final checkpoint, and against a checkpoint taken before the crash (the
  resumed log extends the crashed one instead of rewriting it);
* every action that was under way when the process died is an intent without a result:
  verify's CRASHED_ACTION warnings, and the resume entry, name exactly those intents;
* the agent's old AWS key is dead (gone from IAM, and a call signed with it is rejected);
  every key IAM still has for the agent's user is stored in the keyring, and at most one
  replacement was ever created;
* the gateway is stopped for good (out of supervisord, nothing on its port).

The scenarios are independent sandboxes; they run side by side (each spends most of its time
in the stop step's 3 s re-check) and every test below asserts on one of them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .sandbox_host import (
    Killed,
    MotoAccount,
    Overshot,
    Progress,
    Sandbox,
    build_sandbox,
    close_all,
    read_entries,
    scratch_root,
)

AGENT_KEY_KIND = "aws:access_key"


def _intent_of(step: str, action: str, kind: str | None = None) -> Callable[[Progress], bool]:
    def reached(progress: Progress) -> bool:
        return any(
            e["phase"] == "intent" and e["step"] == step and e["action"] == action
            and (kind is None or (e["target"] or {}).get("kind") == kind)
            for e in progress.entries
        )
    return reached


def _checkpoints(count: int) -> Callable[[Progress], bool]:
    """Step N of the playbook is finished and journaled: its checkpoint is written."""
    return lambda progress: progress.checkpoints >= count


def _event(step: str, action: str) -> Callable[[Progress], bool]:
    return lambda progress: any(
        e["step"] == step and e["action"] == action for e in progress.entries
    )


def _gate(progress: Progress) -> bool:
    return progress.gate_reached


@dataclass(frozen=True)
class KillPoint:
    name: str
    reached: Callable[[Progress], bool]
    # (step, action) of the intent the process must die inside, for points that aim at one.
    inside: tuple[str, str] | None = None
    gate: str | None = None  # IamGate mode between clawback and moto


KILL_POINTS = (
    # The timeline is open and the volatile snapshot (processes, sockets, log tails) is being
    # taken: nothing has been changed yet.
    KillPoint("during-volatile-snapshot", lambda p: p.count >= 1),
    # The stop request is on its way to supervisord (it answers in ~3 s with the proof).
    KillPoint("inside-stop", _intent_of("stop", "host.stop_service"),
              inside=("stop", "host.stop_service")),
    # The revoke fan-out has announced the agent's AWS key: the IAM calls are under way.
    KillPoint("inside-revoke-fan-out", _intent_of("revoke", "revoke", AGENT_KEY_KIND),
              inside=("revoke", "revoke")),
    # The old AWS key is revoked and proved dead; the run dies while asking IAM for the
    # replacement, before IAM made it (an IamGate holds CreateAccessKey).
    KillPoint("rotation-before-new-key", _gate, inside=("revoke", "rotate"), gate="hold"),
    # IAM made the replacement, but the run dies before the answer reaches it (the gate holds
    # the answer): the new key exists and nobody has stored it.
    KillPoint("rotation-answer-lost", _gate, inside=("revoke", "rotate"), gate="answer-lost"),
    # Step boundary: every key is revoked (and the AWS key replaced); the full evidence
    # snapshot is starting.
    KillPoint("boundary-revoke|evidence", _checkpoints(3)),
    # Every step is done; the remaining list, the manifest and the close entry are not.
    KillPoint("before-close", _event("isolate", "step.skip")),
)


@dataclass
class Scenario:
    point: KillPoint
    box: Sandbox
    killed: Killed
    keys_at_kill: dict[str, str]  # the agent's IAM keys right after the kill
    stored_at_kill: set[str]  # the AWS key ids the keyring held right after the kill
    journal_at_kill: dict[str, Any]  # state.json as the killed run left it
    pre_crash_checkpoint: Path | None
    resume: subprocess.CompletedProcess[str]
    final_checkpoint: Path | None
    verify_final: subprocess.CompletedProcess[str]
    verify_pre_crash: Any  # clawback.verify.VerifyReport against pre_crash_checkpoint


# A kill point a few milliseconds before the end (before-close) can be overshot when the
# machine is loaded: the scenario is then played again on a fresh sandbox, at most this often.
ATTEMPTS = 4


def _play(point: KillPoint, box: Sandbox, fresh_box: Callable[[], Sandbox]) -> Scenario:
    from clawback.evidence import check_evidence
    from clawback.verify import verify_incident

    for attempt in range(1, ATTEMPTS + 1):
        try:
            killed = box.contain_until(point.reached)
            break
        except Overshot:
            if attempt == ATTEMPTS:
                raise
            box = fresh_box()
    keys_at_kill = box.aws_keys()
    stored_at_kill = box.stored_aws_key_ids()
    journal_at_kill = json.loads((killed.incident / "state.json").read_text())
    pre_crash = None
    if (killed.incident / "checkpoint.txt").exists():
        pre_crash = shutil.copy(killed.incident / "checkpoint.txt", box.root / "pre-crash.txt")
    resume = box.contain("--resume", killed.incident.name, "--json")
    final_checkpoint = None
    document = _json(resume.stdout)
    if document.get("final_checkpoint"):
        final_checkpoint = box.root / "final-checkpoint.txt"
        final_checkpoint.write_text(document["final_checkpoint"])
    verify_final = box.verify(
        killed.incident, "--json",
        *(["--checkpoint", str(final_checkpoint)] if final_checkpoint else []),
    )
    verify_pre_crash = None
    if pre_crash is not None:
        # In-process (the CLI is exercised against the final checkpoint above): fewer start-ups.
        verify_pre_crash = verify_incident(killed.incident, checkpoint=Path(pre_crash),
                                           evidence_checker=check_evidence)
    return Scenario(point, box, killed, keys_at_kill, stored_at_kill, journal_at_kill,
                    Path(pre_crash) if pre_crash else None, resume, final_checkpoint,
                    verify_final, verify_pre_crash)


def _json(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


@pytest.fixture(scope="module")
def scenarios(moto_account: MotoAccount) -> Iterator[dict[str, Scenario | BaseException]]:
    boxes: list[Sandbox] = []
    building = threading.Lock()
    with contextlib.ExitStack() as cleanup:
        root = cleanup.enter_context(scratch_root("crash"))
        cleanup.callback(close_all, boxes)

        def new_box(point: KillPoint) -> Sandbox:
            # One at a time: boto3's default session is not thread-safe.
            with building:
                box = build_sandbox(root / f"k{len(boxes)}", moto_account, gate=point.gate)
                boxes.append(box)
                return box

        for point in KILL_POINTS:
            new_box(point)
        # Every run is watched by a thread of this process, which moto's threads share: a short
        # GIL switch interval keeps a watcher's reaction (and so each kill) prompt under load.
        cleanup.callback(sys.setswitchinterval, sys.getswitchinterval())
        sys.setswitchinterval(0.0005)
        with ThreadPoolExecutor(max_workers=len(boxes)) as pool:
            futures = {
                point.name: pool.submit(_play, point, box, functools.partial(new_box, point))
                for point, box in zip(KILL_POINTS, list(boxes), strict=True)
            }
            results: dict[str, Scenario | BaseException] = {}
            for name, future in futures.items():
                try:
                    results[name] = future.result()
                except BaseException as exc:  # reported by that scenario's test
                    results[name] = exc
        yield results


def _scenario(scenarios: dict[str, Scenario | BaseException], name: str) -> Scenario:
    outcome = scenarios[name]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _verdicts(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return list(_json(run.stdout).get("verdicts", []))


def _open_intents(entries: list[dict[str, Any]]) -> set[int]:
    answered = {e["intent_seq"] for e in entries if e["phase"] == "result"}
    return {e["seq"] for e in entries if e["phase"] == "intent" and e["seq"] not in answered}


@pytest.mark.parametrize("name", [p.name for p in KILL_POINTS])
def test_resume_completes_after_sigkill(scenarios: dict[str, Scenario | BaseException],
                                        name: str) -> None:
    s = _scenario(scenarios, name)
    assert s.killed.returncode == -9, "the run was not killed by SIGKILL"
    assert s.resume.returncode == 3, s.resume.stderr
    document = _json(s.resume.stdout)
    assert document["incident"] == s.killed.incident.name
    assert document["remaining"], "exit 3 must come with the list of what a human must do"
    assert "Traceback" not in s.resume.stderr

    entries = read_entries(s.killed.incident / "timeline.jsonl")
    # The investigation contain runs at its end reopens the closed timeline to seal its
    # findings ("reopened after close"); the crashed run itself is resumed exactly once.
    reopened = [e for e in entries if e["action"] == "resume"
                and e["detail"].startswith("reopened after close")]
    assert all(entries[e["seq"] + 1]["step"] == "investigate" for e in reopened), reopened
    resumes = [e for e in entries if e["action"] == "resume" and e not in reopened]
    assert len(resumes) == 1, "exactly one resume entry"
    before_crash = entries[: resumes[0]["seq"]]
    assert len(before_crash) >= s.killed.entries_at_kill
    assert not any(e["action"] == "close" for e in before_crash), "the kill came after close"
    assert entries[-1]["action"] == "close"

    # Every action under way at the kill is an intent without a result, named by the resume
    # entry and by verify; nothing the resumed run did is left open.
    crashed = _open_intents(before_crash)
    assert set(resumes[0]["extra"]["unfinished_intents"]) == crashed
    assert _open_intents(entries) == crashed
    warned = {v["seq"] for v in _verdicts(s.verify_final) if v["code"] == "CRASHED_ACTION"}
    assert warned == crashed
    if s.point.inside is not None:
        step, action = s.point.inside
        assert any(
            e["seq"] in crashed and (e["step"], e["action"]) == (step, action)
            for e in before_crash
        ), f"the kill did not land inside {step}/{action}"

    # Nothing the crashed run finished is done again: no step it journaled as done, and no
    # target whose result it recorded as done, gets a new intent.
    after = entries[resumes[0]["seq"]:]
    steps = s.journal_at_kill["steps"]
    finished_steps = {n for n, step in steps.items() if step.get("status") in ("ok", "skipped")}
    assert not finished_steps & {e["step"] for e in after if e["phase"] == "intent"}
    done_before = {
        (e["step"], e["action"], json.dumps(e["target"], sort_keys=True))
        for e in before_crash
        if e["phase"] == "result" and e["extra"].get("status") in ("ok", "skipped")
    }
    again = {
        (e["step"], e["action"], json.dumps(e["target"], sort_keys=True))
        for e in after if e["phase"] == "intent"
    }
    assert not done_before & again, f"done twice: {done_before & again}"


@pytest.mark.parametrize("name", [p.name for p in KILL_POINTS])
def test_resumed_incident_verifies_against_checkpoints(
    scenarios: dict[str, Scenario | BaseException], name: str
) -> None:
    s = _scenario(scenarios, name)
    assert s.final_checkpoint is not None, s.resume.stdout
    assert s.verify_final.returncode == 0, s.verify_final.stdout + s.verify_final.stderr
    codes = {v["code"] for v in _verdicts(s.verify_final)}
    assert {"INTACT", "EVIDENCE_OK"} <= codes, codes
    failures = [v for v in _verdicts(s.verify_final) if v["severity"] == "failure"]
    assert failures == []
    if s.verify_pre_crash is not None:
        # Anchored to what the operator copied before the crash: the resumed log extends it.
        report = s.verify_pre_crash
        assert report.exit_code == 0, [v.as_dict() for v in report.verdicts]
        assert "INTACT" in report.codes()


@pytest.mark.parametrize("name", [p.name for p in KILL_POINTS])
def test_old_key_is_dead(scenarios: dict[str, Scenario | BaseException], name: str) -> None:
    s = _scenario(scenarios, name)
    live = s.box.aws_keys()
    assert s.box.old_key_id not in live, f"the compromised key is still in IAM: {live}"
    assert _rejected_by_sts(s.box), "a call signed with the old key was accepted"


@pytest.mark.parametrize("name", [p.name for p in KILL_POINTS])
def test_no_key_lost_or_made_twice(scenarios: dict[str, Scenario | BaseException],
                                   name: str) -> None:
    s = _scenario(scenarios, name)
    live = s.box.aws_keys()
    unstored = set(live) - s.box.stored_aws_key_ids()
    assert not unstored, f"keys IAM holds for the agent but nobody stored: {unstored}"

    entries = read_entries(s.killed.incident / "timeline.jsonl")
    created = {
        (e["extra"].get("facts") or {}).get("new_key_id")
        for e in entries
        if e["step"] == "revoke" and e["action"] == "rotate" and e["phase"] == "result"
    } - {None}
    assert len(created) <= 1, f"more than one replacement key was created: {created}"
    assert set(live) <= created, "IAM holds a key no rotation recorded"


def test_the_gate_pins_where_the_rotation_died(
    scenarios: dict[str, Scenario | BaseException],
) -> None:
    """The two rotation crashes are where they claim to be, whatever the machine's load."""
    before = _scenario(scenarios, "rotation-before-new-key")
    assert before.keys_at_kill == {}
    lost = _scenario(scenarios, "rotation-answer-lost")
    assert len(lost.keys_at_kill) == 1 and lost.box.old_key_id not in lost.keys_at_kill
    assert lost.stored_at_kill == set()


def test_interrupted_rotation_is_finished_or_handed_to_a_human(
    scenarios: dict[str, Scenario | BaseException],
) -> None:
    s = _scenario(scenarios, "rotation-before-new-key")
    # The kill came before the replacement existed: the resumed run must create it...
    live = s.box.aws_keys()
    replaced = len(live) == 1 and set(live) <= s.box.stored_aws_key_ids()
    # ... or say that a human must.
    remaining = _json(s.resume.stdout)["remaining"]
    handed_over = any(s.box.old_key_id in item["target"] for item in remaining)
    assert replaced or handed_over, (
        f"after --resume IAM holds {live or 'no key'} for the agent, and the remaining list "
        "does not mention the key whose replacement was never made"
    )


@pytest.mark.parametrize("name", [p.name for p in KILL_POINTS])
def test_gateway_stays_stopped(scenarios: dict[str, Scenario | BaseException],
                               name: str) -> None:
    s = _scenario(scenarios, name)
    assert s.box.gateway_state() in ("STOPPED", "EXITED", "REMOVED")
    assert not s.box.gateway_port_open()


def _rejected_by_sts(box: Sandbox) -> bool:
    """Sign sts:GetCallerIdentity with the agent's old key: moto (IAM auth on) must refuse."""
    import boto3
    from botocore.exceptions import ClientError

    old_secret = next(p.value for p in box.home.planted_of(AGENT_KEY_KIND)
                      if p.key_id == box.old_key_id)
    sts = boto3.session.Session().client(
        "sts", endpoint_url=box.account.moto.url, region_name="us-east-1",
        aws_access_key_id=box.old_key_id, aws_secret_access_key=old_secret,
    )
    try:
        sts.get_caller_identity()
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("InvalidClientTokenId", "AccessDenied",
                                                  "SignatureDoesNotMatch")
    return False
