"""The runner on its own: ordering, fan-out, retries, approvals, dry-run and resume.

The responders here are recording test plugins (tests/engine/conftest.py) registered the same
way a third-party plugin would be; the timeline, journal and keyring are the real ones.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from clawback.incident import create_incident_dir
from clawback.journal import Journal
from clawback.playbook import load_playbook
from clawback.registry import load_registry
from clawback.runner import (
    WHEN_VARIABLES,
    Runner,
    RunOptions,
    known_actions,
)
from clawback.secret_store import KeyringSecretStore
from clawback.signing import load_signing_key
from clawback.timeline import Timeline, read_entries
from clawback.verify import verify_incident
from responders.interface import Credential, Done, Failed, Location, Revoked

from .conftest import CALLS, EXTRA_RESPONDERS, SCRIPT, RecordAction, Workspace

KEYS_PLAYBOOK = """
name: keys
steps:
  - id: first
    uses: test.record
    with: {targets: [a, b]}
  - id: revoke
    uses: keys.revoke_all
    with: {rotate: true, verify: true}
  - id: last
    uses: test.record
    with: {targets: [z]}
"""


def recorded_credential(n: int) -> Credential:
    return Credential.from_secret(
        "recorded", "recorded:key", f"rec-secret-value-{n:04d}-abcdefgh",
        [Location(f"/agent/.env{n}", "KEY")], key_id=f"key{n}",
    )


def make_runner(
    ws: Workspace, text: str, creds: list[Credential], *, dry_run: bool = False,
    record: bool = True, incident: tuple[Path, str] | None = None, resume: bool = False,
    configured: set[str] | None = None, **options: Any,
) -> Runner:
    registry = load_registry(EXTRA_RESPONDERS)
    loaded = load_playbook(
        ws.playbook(text), actions=known_actions(registry), variables=WHEN_VARIABLES
    )
    kwargs: dict[str, Any] = {}
    if record and not dry_run:
        signer = load_signing_key()
        if incident is None:
            incident_id = "2026-11-21T0203Z-7f3a"
            incident_dir = create_incident_dir(ws.incidents, incident_id)
        else:
            incident_dir, incident_id = incident
        if resume:
            journal = Journal.open(incident_dir, playbook_sha256=loaded.sha256)
            timeline = Timeline.resume(incident_dir, signer)
        else:
            journal = Journal.create(incident_dir, incident_id=incident_id,
                                     playbook_sha256=loaded.sha256, playbook_path="p")
            timeline = Timeline.create(incident_dir, incident_id, signer, header={})
        kwargs = dict(timeline=timeline, journal=journal, incident_id=incident_id,
                      incident_dir=incident_dir)
    return Runner(
        registry=registry,
        playbook=loaded,
        settings={"agent": ws.home.agent_settings()},
        provider_config=lambda name: {},
        credentials=creds,
        secrets=KeyringSecretStore(),
        options=RunOptions(dry_run=dry_run, **options),
        configured_providers=configured,
        **kwargs,
    )


def test_steps_run_in_order_and_keys_fan_out(workspace: Workspace, memory_keyring: Any) -> None:
    creds = [recorded_credential(i) for i in range(5)]
    result = make_runner(workspace, KEYS_PLAYBOOK, creds).run()

    assert result.exit_code == 0, [r.outcome for r in result.results]
    order = [k for k, _ in CALLS.calls if k in ("execute", "revoke")]
    assert order[:2] == ["execute", "execute"] and order[-1] == "execute"
    assert sorted(CALLS.of("revoke")) == sorted(c.target_id for c in creds)
    assert sorted(CALLS.of("verify")) == sorted(c.target_id for c in creds)
    assert len(CALLS.of("rotate")) == 5
    # the replacement went to the keyring before anything else could lose it
    assert ("clawback", "recorded/key0") in memory_keyring.store

    entries = read_entries(result.incident_dir / "timeline.jsonl")  # type: ignore[operator]
    intents = [e for e in entries if e.phase == "intent"]
    results = [e for e in entries if e.phase == "result" and e.action in ("revoke", "rotate")]
    assert len(intents) == 2 + 5 + 5 + 1  # record a, b; revoke ×5; rotate ×5; record z
    assert all(r.fields.get("intent_seq") is not None for r in results)
    report = verify_incident(result.incident_dir)  # type: ignore[arg-type]
    assert report.exit_code == 0, report.verdicts


def test_revoke_phase_is_concurrent(workspace: Workspace) -> None:
    """Twenty keys are revoked at the same time, not one after another: each revoke waits at a
    barrier that only opens once all twenty are in flight (a loop would break it)."""
    in_flight = threading.Barrier(20, timeout=30)

    def revoke_together(self: Any, cred: Credential) -> Any:
        in_flight.wait()
        CALLS.add("revoke", cred.target_id)
        return Revoked()

    from .conftest import RecordingResponder

    creds = [recorded_credential(i) for i in range(20)]
    original = RecordingResponder.revoke
    RecordingResponder.revoke = revoke_together  # type: ignore[method-assign]
    try:
        result = make_runner(
            workspace, "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n", creds
        ).run()
    finally:
        RecordingResponder.revoke = original  # type: ignore[method-assign]
    assert not in_flight.broken, "the revokes did not all run at once"
    assert result.exit_code == 0, [r.outcome for r in result.results]
    assert len(CALLS.of("revoke")) == 20


def test_dry_run_calls_only_plan(workspace: Workspace, memory_keyring: Any) -> None:
    creds = [recorded_credential(i) for i in range(3)]
    before = set(memory_keyring.store)
    result = make_runner(workspace, KEYS_PLAYBOOK, creds, dry_run=True).run()

    assert CALLS.side_effects == [], CALLS.side_effects
    assert sorted(CALLS.of("plan")) == sorted(c.target_id for c in creds)
    assert CALLS.of("action.plan") == ["a", "b", "z"]
    assert {r.outcome.status for r in result.results} == {"planned"}
    assert set(memory_keyring.store) == before
    assert workspace.incident_dirs() == []


def test_actions_get_the_installed_agent_without_loading_it(
    workspace: Workspace, memory_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Host code asks the agent (its workspaces) through ``ResponderContext.agent_keeper``:
    the runner hands every action the agent of the entry-point group ``clawback.agents``,
    as a loader, so no action before the stop loads the agent's discovery."""
    from clawback.registry import load_agent

    seen: list[Any] = []
    monkeypatch.setattr(RecordAction, "execute",
                        lambda self, target: seen.append(self.context.agent_keeper) or Done())
    playbook = "name: one\nsteps:\n  - id: first\n    uses: test.record\n"
    result = make_runner(workspace, playbook, []).run()

    assert result.exit_code == 0, [r.outcome for r in result.results]
    assert seen and all(loader is load_agent for loader in seen)
    home = workspace.home
    assert home.state_dir / "workspace" in load_agent().workspace_dirs(home.state_dir,
                                                                        home.user_home)


def test_one_failure_never_stops_the_others(workspace: Workspace) -> None:
    creds = [recorded_credential(i) for i in range(4)]
    SCRIPT[creds[1].target_id] = [Failed(error="permission denied: add iam:X", retryable=False)]
    text = KEYS_PLAYBOOK.replace("{targets: [a, b]}", "{targets: [a, b], fail: [a]}")
    result = make_runner(workspace, text, creds).run()

    assert result.exit_code == 3
    remaining = {(r.step, r.target) for r in result.remaining}
    assert remaining == {("first", "a"), ("revoke", creds[1].target_id)}
    assert CALLS.of("execute") == ["a", "b", "z"] or sorted(CALLS.of("execute")) == ["a", "b", "z"]
    revoked = [r for r in result.results if r.action == "revoke" and r.outcome.succeeded]
    assert len(revoked) == 3


def test_retryable_failures_are_retried_honouring_retry_after(workspace: Workspace) -> None:
    cred = recorded_credential(1)
    SCRIPT[cred.target_id] = [
        Failed(error="HTTP 429", retryable=True, retry_after=0.6),
        Failed(error="HTTP 500", retryable=True),
    ]
    started = time.monotonic()
    result = make_runner(
        workspace, "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n", [cred]
    ).run()
    elapsed = time.monotonic() - started
    assert result.exit_code == 0
    assert CALLS.of("revoke") == [cred.target_id] * 3
    assert elapsed >= 0.6, "Retry-After was not honoured"


def test_retries_are_bounded_then_reported_retryable(workspace: Workspace) -> None:
    cred = recorded_credential(2)
    SCRIPT[cred.target_id] = [Failed(error="HTTP 503", retryable=True) for _ in range(10)]
    text = "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n    retries: 2\n"
    result = make_runner(workspace, text, [cred]).run()
    assert result.exit_code == 3
    assert len(CALLS.of("revoke")) == 3
    (failed,) = result.remaining
    assert isinstance(failed.outcome, Failed) and failed.outcome.retryable


def test_retries_wait_as_scheduled_and_stop_when_waiting_is_pointless(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from clawback import runner

    slept: list[float] = []
    monkeypatch.setattr(runner.time, "sleep", slept.append)
    calls: list[int] = []

    def failing() -> bool:
        calls.append(len(calls))
        return True  # worth another try

    runner.retry(failing, lambda done: 0.25 * 2**done, 3)
    assert len(calls) == 4 and slept == [0.25, 0.5, 1.0]
    calls.clear(), slept.clear()
    runner.retry(failing, lambda done: None if done == 1 else 0.1, 5)
    assert len(calls) == 2 and slept == [0.1]
    calls.clear(), slept.clear()
    runner.retry(lambda: calls.append(0) or False, lambda done: 1.0, 5)
    assert calls == [0] and slept == []


def test_a_long_retry_after_is_reported_not_waited_for(workspace: Workspace) -> None:
    cred = recorded_credential(3)
    SCRIPT[cred.target_id] = [Failed(error="rate limited", retryable=True, retry_after=3600)]
    started = time.monotonic()
    result = make_runner(
        workspace, "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n", [cred]
    ).run()
    assert time.monotonic() - started < 5
    assert result.exit_code == 3 and len(CALLS.of("revoke")) == 1


def test_already_revoked_counts_as_success(workspace: Workspace) -> None:
    cred = Credential.from_secret("already", "already:key", "already-dead-secret-1234",
                                  key_id="dead1")
    result = make_runner(
        workspace, "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n", [cred]
    ).run()
    assert result.exit_code == 0
    assert result.results[0].outcome.name == "AlreadyRevoked"


def test_a_credential_no_responder_handles_becomes_a_manual_step(workspace: Workspace) -> None:
    cred = Credential.from_secret("nobody", "nobody:token", "nobody-knows-this-secret-99",
                                  [Location("/x/.env", "TOKEN")])
    result = make_runner(
        workspace, "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n", [cred]
    ).run()
    assert result.exit_code == 3
    (manual,) = result.remaining
    assert manual.outcome.status == "manual"
    assert "/x/.env:TOKEN" in manual.outcome.instructions  # type: ignore[attr-defined]


APPROVE_PLAYBOOK = """
name: approve
steps:
  - id: risky
    uses: test.record
    approve: true
  - id: after
    uses: test.record
    with: {targets: [later]}
"""


def test_approval_without_terminal_or_yes_is_refused_and_the_run_goes_on(
    workspace: Workspace,
) -> None:
    result = make_runner(workspace, APPROVE_PLAYBOOK, [], yes=False, interactive=False).run()
    assert result.exit_code == 3
    (refused,) = result.remaining
    assert refused.step == "risky" and refused.outcome.status == "refused"
    assert CALLS.of("execute") == ["later"]


@pytest.mark.parametrize(("answer", "executed"), [(True, ["one", "later"]), (False, ["later"])])
def test_approval_on_a_terminal_asks(workspace: Workspace, answer: bool,
                                     executed: list[str]) -> None:
    asked: list[str] = []

    def approver(question: str) -> bool:
        asked.append(question)
        return answer

    make_runner(workspace, APPROVE_PLAYBOOK, [], yes=False, interactive=True,
                approver=approver).run()
    assert len(asked) == 1 and "risky" in asked[0]
    assert CALLS.of("execute") == executed


def test_when_false_skips_the_step(workspace: Workspace) -> None:
    text = APPROVE_PLAYBOOK.replace("approve: true", 'when: "{{ cut_network }}"')
    result = make_runner(workspace, text, [], cut_network=False).run()
    assert CALLS.of("execute") == ["later"]
    assert result.exit_code == 0


def test_resume_skips_what_is_done_and_keeps_one_timeline(workspace: Workspace) -> None:
    creds = [recorded_credential(i) for i in range(3)]
    SCRIPT[creds[0].target_id] = [Failed(error="denied", retryable=False)]
    first = make_runner(workspace, KEYS_PLAYBOOK, creds).run()
    assert first.exit_code == 3
    # the first run closed the incident; reopen the journal as a crash would have left it
    CALLS.calls.clear()
    incident_dir = first.incident_dir
    assert incident_dir is not None
    import json

    state = json.loads((incident_dir / "state.json").read_text())
    state["closed"] = False
    (incident_dir / "state.json").write_text(json.dumps(state))
    second = make_runner(
        workspace, KEYS_PLAYBOOK, creds, incident=(incident_dir, first.incident_id), resume=True
    ).run()
    assert CALLS.of("execute") == [], "completed steps ran again"
    assert CALLS.of("revoke") == [creds[0].target_id]
    assert second.exit_code == 0
    entries = read_entries(incident_dir / "timeline.jsonl")
    assert [e.action for e in entries].count("resume") == 1


def test_secrets_a_responder_leaks_are_scrubbed(workspace: Workspace) -> None:
    cred = recorded_credential(7)
    value = cred.secret.reveal()  # type: ignore[union-attr]
    SCRIPT[cred.target_id] = [Failed(error=f"provider echoed the token {value} back")]
    result = make_runner(
        workspace, "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n", [cred]
    ).run()
    text = (result.incident_dir / "timeline.jsonl").read_text()  # type: ignore[operator]
    assert value not in text
    assert cred.fingerprint in text
    assert value not in repr(result.results)


def test_manual_steps_stay_open_until_confirmed_on_resume(workspace: Workspace) -> None:
    cred = Credential.from_secret("nobody", "nobody:token", "nobody-knows-this-secret-42",
                                  [Location("/x/.env", "TOKEN")])
    text = "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n"
    first = make_runner(workspace, text, [cred]).run()
    assert first.exit_code == 3
    incident = (first.incident_dir, first.incident_id)

    unconfirmed = make_runner(workspace, text, [cred], incident=incident, resume=True).run()
    assert unconfirmed.exit_code == 3, "a resume without confirmation must not close the item"

    confirmed = make_runner(workspace, text, [cred], incident=incident, resume=True,
                            confirm_manual=True).run()
    assert confirmed.exit_code == 0
    entries = read_entries(first.incident_dir / "timeline.jsonl")  # type: ignore[operator]
    confirms = [e for e in entries if e.action == "manual.confirm"]
    assert len(confirms) == 1
    assert confirms[0].fields["outcome"] == "ConfirmedByOperator"
    assert "@" in confirms[0].extra["operator"]
    assert verify_incident(first.incident_dir).exit_code == 0  # type: ignore[arg-type]


def test_an_unconfigured_provider_gets_no_request_only_advice(workspace: Workspace) -> None:
    creds = [recorded_credential(1)]
    result = make_runner(
        workspace, "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n", creds,
        configured=set(),
    ).run()
    assert CALLS.calls == []
    (manual,) = result.remaining
    assert "[providers.recorder]" in manual.outcome.instructions  # type: ignore[attr-defined]


def test_rotate_all_times_each_rotation_and_proves_the_old_key_dead(
    workspace: Workspace, memory_keyring: Any
) -> None:
    creds = [recorded_credential(i) for i in range(3)]
    text = "name: d\nsteps:\n  - id: rotate\n    uses: keys.rotate_all\n"
    result = make_runner(workspace, text, creds).run()
    assert result.exit_code == 0
    assert sorted(CALLS.of("rotate")) == sorted(c.target_id for c in creds)
    assert CALLS.of("revoke") == []
    assert sorted(CALLS.of("verify")) == sorted(c.target_id for c in creds)
    rotated = [r for r in result.results if r.action == "rotate"]
    assert all(isinstance(r.outcome.facts["duration_ms"], int) for r in rotated)
    assert len(memory_keyring.store) >= 3


def test_a_confirmed_manual_revoke_is_checked_when_the_responder_can(
    workspace: Workspace,
) -> None:
    """The operator says 'done' but the provider still accepts the key: not recorded as done."""
    from responders.interface import ManualRequired

    cred = recorded_credential(9)
    SCRIPT[cred.target_id] = [ManualRequired(instructions="revoke it by hand")]
    text = "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n    with: {verify: false}\n"
    first = make_runner(workspace, text, [cred]).run()
    assert first.exit_code == 3
    incident = (first.incident_dir, first.incident_id)

    from .conftest import RecordingResponder

    original = RecordingResponder.verify_revoked
    RecordingResponder.verify_revoked = (  # type: ignore[method-assign]
        lambda self, c: Failed(error="the provider still accepts it")
    )
    try:
        SCRIPT[cred.target_id] = [ManualRequired(instructions="revoke it by hand")]
        still_alive = make_runner(workspace, text, [cred], incident=incident, resume=True,
                                  confirm_manual=True).run()
    finally:
        RecordingResponder.verify_revoked = original  # type: ignore[method-assign]
    assert still_alive.exit_code == 3
    entries = read_entries(first.incident_dir / "timeline.jsonl")  # type: ignore[operator]
    assert not [e for e in entries if e.action == "manual.confirm"]

    dead = make_runner(workspace, text, [cred], incident=incident, resume=True,
                       confirm_manual=True).run()
    assert dead.exit_code == 0
    entries = read_entries(first.incident_dir / "timeline.jsonl")  # type: ignore[operator]
    assert len([e for e in entries if e.action == "manual.confirm"]) == 1


def test_a_pasted_replacement_is_stored_and_never_recorded(
    workspace: Workspace, memory_keyring: Any
) -> None:
    from responders.interface import ManualRequired

    cred = recorded_credential(11)
    SCRIPT[f"rotate {cred.target_id}"] = [ManualRequired(instructions="make one in the console")]
    text = "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n    with: {rotate: true}\n"
    first = make_runner(workspace, text, [cred]).run()
    assert first.exit_code == 3
    pasted = "pasted-replacement-secret-0123456789"
    resumed = make_runner(
        workspace, text, [cred], incident=(first.incident_dir, first.incident_id), resume=True,
        interactive=True, approver=lambda q: False, secret_prompt=lambda q: pasted,
    ).run()
    assert resumed.exit_code == 0
    assert CALLS.of("accept") == [cred.target_id]
    assert memory_keyring.store[("clawback", "recorded/key11")] == pasted
    timeline_text = (first.incident_dir / "timeline.jsonl").read_text()  # type: ignore[operator]
    assert pasted not in timeline_text


def test_only_a_responder_declaring_it_is_handed_a_pasted_replacement(
    workspace: Workspace, memory_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine asks through the contract (``Capability.ACCEPT_REPLACEMENT``), not by a
    method's name: a responder that does not declare it is never asked for a pasted key, and
    the manual step stays open."""
    from responders.interface import ManualRequired

    from .conftest import RecordingResponder

    monkeypatch.setattr(RecordingResponder, "capabilities", frozenset(
        c for c in RecordingResponder.capabilities if c != "accept_replacement"))
    cred = recorded_credential(12)
    SCRIPT[f"rotate {cred.target_id}"] = [ManualRequired(instructions="make one in the console")]
    text = "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n    with: {rotate: true}\n"
    first = make_runner(workspace, text, [cred]).run()
    assert first.exit_code == 3
    asked: list[str] = []
    pasted = "pasted-replacement-secret-0123456789"
    resumed = make_runner(
        workspace, text, [cred], incident=(first.incident_dir, first.incident_id), resume=True,
        interactive=True, approver=lambda q: False,
        secret_prompt=lambda q: asked.append(q) or pasted,
    ).run()
    assert asked == [] and CALLS.of("accept") == []
    assert pasted not in memory_keyring.store.values()
    entries = read_entries(resumed.incident_dir / "timeline.jsonl")  # type: ignore[operator]
    assert not [e for e in entries if e.action == "manual.confirm"]


def test_secrets_found_late_in_free_text_get_a_second_round(
    workspace: Workspace, memory_keyring: Any
) -> None:
    """The first revocations never wait for logs to be scanned: what the scan finds after them
    (and only what is new) is revoked in a second round of the same step."""
    first = [recorded_credential(i) for i in range(3)]
    late = [first[0], recorded_credential(7)]
    seen_when_late_ran: list[list[str]] = []

    def late_source() -> list[Credential]:
        seen_when_late_ran.append(list(CALLS.of("revoke")))
        return late

    runner = make_runner(workspace, KEYS_PLAYBOOK, first)
    # What contain wires to the two passes of discovery.
    runner._credentials_source = lambda: first
    runner._late_source = late_source
    result = runner.run()

    assert result.exit_code == 0, [r.outcome for r in result.results]
    assert seen_when_late_ran == [sorted(seen_when_late_ran[0])] and \
        sorted(seen_when_late_ran[0]) == sorted(c.target_id for c in first)
    assert sorted(CALLS.of("revoke")) == sorted(c.target_id for c in [*first, late[1]])
    entries = read_entries(result.incident_dir / "timeline.jsonl")  # type: ignore[operator]
    assert [e.action for e in entries if e.fields["step"] == "discover"] == [
        "discover", "discover.free_text"]


def test_a_forged_resume_journal_does_not_mark_anything_done(workspace: Workspace) -> None:
    """state.json is not signed: a manual step, a failed revocation or a whole step is done on
    --resume only when the signed timeline says so."""
    import json

    failing, manual = recorded_credential(1), Credential.from_secret(
        "nobody", "nobody:token", "nobody-knows-this-secret-43", [Location("/x/.env", "T")])
    SCRIPT[failing.target_id] = [Failed(error="denied", retryable=False)]
    text = "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n"
    first = make_runner(workspace, text, [failing, manual]).run()
    assert first.exit_code == 3
    incident_dir = first.incident_dir
    assert incident_dir is not None
    journal = incident_dir / "state.json"
    state = json.loads(journal.read_text())
    state["steps"]["revoke"] = {"status": "ok", "targets": {
        f"revoke {failing.target_id}": "Revoked",
        f"revoke {manual.target_id}": "ConfirmedByOperator",
    }}
    journal.write_text(json.dumps(state))
    CALLS.calls.clear()

    resumed = make_runner(workspace, text, [failing, manual],
                          incident=(incident_dir, first.incident_id), resume=True).run()

    assert CALLS.of("revoke") == [failing.target_id], "the forged 'done' was believed"
    assert resumed.exit_code == 3
    assert [r.target for r in resumed.remaining] == [manual.target_id]
    entries = read_entries(incident_dir / "timeline.jsonl")
    mismatches = [e for e in entries if e.action == "journal.mismatch"]
    assert mismatches and "not in the signed timeline" in mismatches[0].fields["detail"]
    assert verify_incident(incident_dir).exit_code == 0


def test_an_unproven_key_is_never_counted_dead_and_is_asked_again_on_resume(
    workspace: Workspace, capsys: Any
) -> None:
    """A provider's ambiguous answer after a revoke (a 401 that may be a missing scope) leaves
    the key Unproven: apart from the dead in the result, the JSON, the console and the report,
    exit 3; a resume asks the provider again and closes it once the answer is clear."""
    from clawback.console import RichReporter, print_summary, result_document
    from clawback.report.markdown import render_markdown
    from clawback.report.model import build_report
    from responders.interface import Unproven

    creds = [recorded_credential(1), recorded_credential(2)]
    doubtful = creds[0].target_id
    SCRIPT[f"verify {doubtful}"] = [Unproven(
        reason="the provider answered 401 without its invalid-key code",
        check="that the key is gone from the provider's key list", url="https://example.test",
    )]
    text = "name: k\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n    with: {verify: true}\n"
    first = make_runner(workspace, text, creds).run()

    assert first.exit_code == 3
    assert [r.target for r in first.unproven] == [doubtful]
    assert [r.target for r in first.remaining] == [doubtful]
    document = result_document(first)
    assert [u["target"] for u in document["unproven"]] == [doubtful]
    assert document["unproven"][0]["check"] == "that the key is gone from the provider's key list"
    verdicts = {(r["target"], r["action"]): r["status"] for r in document["results"]}
    assert verdicts[(doubtful, "verify_revoked")] == "unproven"
    assert verdicts[(creds[1].target_id, "verify_revoked")] == "ok"

    import io

    stream = io.StringIO()
    print_summary(first, RichReporter(stream=stream))
    shown = stream.getvalue()
    assert "1 unproven" in shown and "not proven dead" in shown
    assert "check: that the key is gone" in shown

    report = build_report(first.incident_dir)  # type: ignore[arg-type]
    (provider,) = report.providers
    assert (provider.count("dead"), provider.count("verified"),
            provider.count("unproven")) == (2, 1, 1)
    assert [c.key_id for c in report.unproven] == [creds[0].key_id]
    markdown = render_markdown(report)
    assert "Revoked, not proven dead (1)" in markdown
    assert "Check: that the key is gone from the provider's key list" in markdown
    assert "NOT proven dead" in report.executive_summary
    from clawback.report.html import render_html
    from clawback.report.timesketch import render_timesketch

    html = render_html(report)
    assert 'id="unproven"' in html and "revoked, not proven dead" in html
    sketch = [__import__("json").loads(line) for line in render_timesketch(report).splitlines()]
    flagged = [r for r in sketch if "not-proven-dead" in r["tag"]]
    assert [r["ir_check"] for r in flagged] == [
        "that the key is gone from the provider's key list"
    ]

    # Asked again on resume: the provider now answers clearly, so nothing is left.
    incident = (first.incident_dir, first.incident_id)
    again = make_runner(workspace, text, creds, incident=incident, resume=True).run()
    assert again.exit_code == 0
    assert CALLS.of("verify").count(doubtful) == 2


def test_the_journal_never_marks_done_what_the_timeline_could_still_lose(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut right after any write of state.json keeps only what fdatasync covered in
    the timeline: each target the journal calls done must have its result there, or
    ``--resume`` would skip an action no signed entry proves. (Results are group-committed,
    so before the journal forced the pending commit, the result of the target it had just
    marked was still waiting for its sync.)"""
    import json
    import os

    from clawback import journal as journal_module
    from clawback import timeline as timeline_module

    synced: list[tuple[int, int]] = []  # (inode, size) at each fdatasync
    real_fdatasync = os.fdatasync

    def recording_fdatasync(fd: int) -> None:
        real_fdatasync(fd)
        st = os.fstat(fd)
        synced.append((st.st_ino, st.st_size))

    monkeypatch.setattr(timeline_module.os, "fdatasync", recording_fdatasync)
    crashes: list[tuple[list[tuple[int, int]], dict[str, Any]]] = []
    real_write_private = journal_module.write_private

    def crash_point(path: Path, data: str | bytes, **kwargs: Any) -> Path:
        written = real_write_private(path, data, **kwargs)
        crashes.append((list(synced), json.loads(data)))  # SIGKILL + power cut here
        return written

    monkeypatch.setattr(journal_module, "write_private", crash_point)
    creds = [recorded_credential(i) for i in range(5)]
    result = make_runner(workspace, KEYS_PLAYBOOK, creds).run()
    assert result.exit_code == 0, [r.outcome for r in result.results]

    timeline_path = result.incident_dir / "timeline.jsonl"  # type: ignore[operator]
    whole = timeline_path.read_bytes()
    inode = timeline_path.stat().st_ino
    checked = 0
    for syncs_then, journal_then in crashes:
        durable = max((size for ino, size in syncs_then if ino == inode), default=0)
        survivors = [json.loads(line) for line in whole[:durable].splitlines()]
        proven = {
            (e["step"], f'{e["action"]} {e["target"]["target"]}')
            for e in survivors if e["phase"] == "result"
        }
        for step_id, step in journal_then["steps"].items():
            for key in step.get("targets", {}):
                assert (step_id, key) in proven, f"journal ahead of the timeline: {key}"
                checked += 1
    assert checked >= 2 + 5 + 5 + 1  # every target was marked at some crash point


@pytest.mark.parametrize("raised", ["responder-error", "other"])
def test_a_rotation_that_cannot_start_is_that_keys_result_not_lost(
    workspace: Workspace, memory_keyring: Any, raised: str
) -> None:
    """The per-key store (contain's rotation ledger) can fail before the responder is asked: a
    refusal is a manual step, anything else a failure, and either is recorded against its key.
    Raised into the fan-out, it once left one key with an unanswered intent and no result."""
    from responders.interface import ResponderError

    creds = [recorded_credential(i) for i in range(3)]
    unlucky = creds[1].target_id

    def store_for(cred: Credential) -> Any:
        if cred.target_id == unlucky:
            if raised == "responder-error":
                raise ResponderError("the agent also reads it from a place clawback cannot switch")
            raise ValueError("the ledger could not be read")
        return KeyringSecretStore()

    runner = make_runner(workspace, KEYS_PLAYBOOK, creds)
    runner.store_for = store_for
    result = runner.run()
    rotated = {r.target: r.outcome.name for r in result.results if r.action == "rotate"}
    assert set(rotated) == {c.target_id for c in creds}
    assert rotated[unlucky] == ("ManualRequired" if raised == "responder-error" else "Failed")
    assert len(CALLS.of("rotate")) == 2
    entries = read_entries(result.incident_dir / "timeline.jsonl")  # type: ignore[operator]
    answered = {e.fields["intent_seq"] for e in entries if e.phase == "result"}
    assert all(e.seq in answered for e in entries if e.phase == "intent")
    assert verify_incident(result.incident_dir).exit_code == 0  # type: ignore[arg-type]
