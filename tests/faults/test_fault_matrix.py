"""The fault matrix: every provider × every way a provider fails, one real contain per cell.

In each cell one provider errs (500), throttles (429, Retry-After: 1), hangs past the client's
timeout, refuses connections, rejects the admin credential (401) or answers 200 with a body
that breaks off, while every other provider works. Contain must finish (exit 3, no traceback),
contain everything the working providers can kill (revoked, proven dead, replaced where an API
can), report the faulty provider's keys as Failed with advice naming the provider (retryable for
the faults that pass, after the wait a 429 asks for), claim nothing about them it did not see
(no key called dead or replaced that the provider still takes), and leave a timeline
``clawback verify`` calls intact against the final checkpoint. One reading is not a failure: a
401 to a call made with the key itself is the provider saying that key is dead, the evidence
verify_revoked asks for, so a key reported AlreadyRevoked then VerifiedDead on it passes.

Six providers run the key step alone (``MATRIX_PLAYBOOK``: retries bounded); the AWS row runs
the packaged contain playbook end to end, gateway under supervisord and all.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import (
    FAULT_NAMES,
    KILLED_BY_API,
    PROVIDERS,
    REPLACED_BY_API,
    RETRY_AFTER_S,
    RETRYABLE_FAULTS,
    Cell,
    CellRun,
    FaultMatrix,
)

# How each provider is named in what clawback tells the operator.
DISPLAY_NAMES = {"github": "GitHub", "openai": "OpenAI", "anthropic": "Anthropic",
                 "slack": "Slack", "cloudflare": "Cloudflare", "stripe": "Stripe", "aws": "AWS"}
PACKAGED_ROW = "aws"
PACKAGED_STEPS = {"volatile", "stop", "revoke", "evidence", "agent-secrets", "lockdown"}
# AlreadyRevoked too: on a loaded machine a working provider's answer can come after the client
# gave up, and the retry then finds the key gone. Death is proven apart from the word: by
# verify_revoked and by the stand-in no longer taking the key.
DEAD = {"Revoked", "Disabled", "AlreadyRevoked"}


def _cells() -> list[Any]:
    return [
        pytest.param(cell, id=cell.id)
        for provider in PROVIDERS
        for fault in FAULT_NAMES
        for cell in [Cell(provider, fault, packaged=provider == PACKAGED_ROW)]
    ]


def provider_of(target: str) -> str:
    return target.split(":", 1)[0]


def _finished(run: CellRun) -> None:
    assert "Traceback" not in run.contain.stderr, run.diagnosis()
    assert run.contain.returncode == 3, run.diagnosis()
    assert run.document.get("exit_code") == 3, run.diagnosis()
    assert run.verify is not None, f"{run.cell.id}: no incident or final checkpoint to verify"
    assert run.verify.returncode == 0, run.verify.stdout + run.verify.stderr
    assert "INTACT" in run.verify.stdout, run.verify.stdout


def _nothing_else_went_wrong(run: CellRun) -> None:
    others = [f"{r['step']} {r['action']} {r['target']}: {r['outcome']} {r['summary']}"
              for r in run.results
              if r["outcome"] in ("Failed", "Refused")
              and provider_of(r["target"]) != run.cell.provider]
    assert others == [], run.cell.id
    assert {p: v for p, v in run.violations.items() if v} == {}, run.cell.id
    assert run.leaked == [], f"{run.cell.id}: planted secrets printed or written"
    assert run.left_behind == [], run.cell.id


def _working_providers_contained(run: CellRun) -> None:
    for provider in PROVIDERS:
        if provider == run.cell.provider:
            continue
        targets = run.api_targets(provider)
        assert set(targets.values()) == KILLED_BY_API[provider], (run.cell.id, provider)
        for target, kind in targets.items():
            revoked = {r["outcome"] for r in run.outcomes(target, "revoke")}
            assert revoked and revoked <= DEAD, (run.cell.id, kind, revoked)
            verified = [r["outcome"] for r in run.outcomes(target, "verify_revoked")]
            assert verified == ["VerifiedDead"], (run.cell.id, kind, verified)
            if kind in REPLACED_BY_API:
                rotated = [r["outcome"] for r in run.outcomes(target, "rotate")]
                assert rotated == ["Rotated"], (run.cell.id, kind, rotated)
            assert target not in run.still_accepted, (run.cell.id, kind)
    if run.cell.provider != "aws":
        # The agent's key is gone from IAM; the one key left is its replacement.
        assert run.old_aws_key_id not in run.aws_keys_after, run.cell.id
        assert list(run.aws_keys_after.values()) == ["Active"], run.cell.id


def _faulty_provider_reported(run: CellRun) -> None:
    provider, fault = run.cell.provider, run.cell.fault
    targets = run.api_targets(provider)
    assert set(targets.values()) == KILLED_BY_API[provider], run.cell.id
    remaining = {r["target"] for r in run.document.get("remaining", [])}
    for target, kind in targets.items():
        revoked = run.outcomes(target, "revoke")
        assert revoked, (run.cell.id, kind, "no revoke outcome")
        if fault == "401" and _rejected_by_the_provider(run, target):
            continue
        for outcome in revoked:
            assert outcome["outcome"] == "Failed", (run.cell.id, kind, outcome["summary"])
            # Advice the operator can act on names the provider that failed.
            assert DISPLAY_NAMES[provider].lower() in outcome["summary"].lower(), (
                run.cell.id, kind, outcome["summary"])
            if fault in RETRYABLE_FAULTS:
                assert outcome.get("retryable") is True, (run.cell.id, kind, outcome["summary"])
            if fault == "429":
                assert outcome.get("retry_after") == str(RETRY_AFTER_S), (run.cell.id, outcome)
            if fault == "401":
                # A rejected credential stays rejected: trying again cannot help.
                assert not outcome.get("retryable"), (run.cell.id, kind, outcome["summary"])
        # Nothing is claimed that the provider was never heard to confirm.
        claims = {r["outcome"] for r in run.outcomes(target, "verify_revoked")
                  + run.outcomes(target, "rotate")}
        assert not claims & {"VerifiedDead", "Rotated"}, (run.cell.id, kind, claims)
        assert target in remaining, (run.cell.id, kind)
        if provider != "aws":
            assert target in run.still_accepted, (run.cell.id, kind)
    if provider == "aws":
        # Every call failed, so IAM still holds the old key, and only it.
        assert run.aws_keys_after == {run.old_aws_key_id: "Active"}, run.cell.id


def _rejected_by_the_provider(run: CellRun, target: str) -> bool:
    """A 401 to a call made with the key itself is how a provider says the key is dead: the
    same evidence verify_revoked asks for. When that is what clawback read, the key must be
    reported already dead and proven so, never left half-way."""
    revoked = [r["outcome"] for r in run.outcomes(target, "revoke")]
    if revoked == ["Unproven"]:
        # A 401 without the provider's documented invalid-key code (the fault's answer): no
        # proof of death, and the run says so and leaves it to a human; never "dead".
        assert not run.outcomes(target, "verify_revoked"), (run.cell.id, target)
        assert target in {r["target"] for r in run.document.get("unproven", [])}, run.cell.id
        return True
    if revoked != ["AlreadyRevoked"]:
        return False
    verified = [r["outcome"] for r in run.outcomes(target, "verify_revoked")]
    assert verified == ["VerifiedDead"], (run.cell.id, target, verified)
    return True


def _retried_as_asked(run: CellRun) -> None:
    """The runner came back to the faulty provider, after the wait it asked for."""
    fault, seen = run.cell.fault, sorted(run.faulted_at)
    if fault == "refused":
        assert seen == [], run.cell.id  # it answered nothing: clawback never reached it
        return
    assert seen, f"{run.cell.id}: the faulty provider was never asked"
    if fault == "429":
        assert seen[-1] - seen[0] >= RETRY_AFTER_S * 0.95, (run.cell.id, len(seen))
    elif fault == "500":
        assert len(seen) >= 2 and seen[-1] - seen[0] >= 0.2, (run.cell.id, len(seen))


def _packaged_playbook_ran_to_the_end(run: CellRun) -> None:
    if not run.cell.packaged:
        return
    steps = {r["step"] for r in run.results}
    assert steps >= PACKAGED_STEPS, (run.cell.id, PACKAGED_STEPS - steps)
    by_step = {s: [r["outcome"] for r in run.results if r["step"] == s] for s in steps}
    # The stop, then its respawn re-check (its own result): both proven.
    assert by_step["stop"] == ["Done", "Done"], run.cell.id
    assert [r["action"] for r in run.results if r["step"] == "stop"][-1].endswith(".recheck")
    assert set(by_step["volatile"]) == {"Collected"} == set(by_step["evidence"]), run.cell.id
    assert "Rotated" in by_step["agent-secrets"], run.cell.id
    assert run.gateway_state in ("STOPPED", "EXITED", "REMOVED"), run.gateway_state
    assert run.gateway_listening is False, run.cell.id


@pytest.mark.parametrize("cell", _cells())
def test_one_faulty_provider_leaves_the_rest_contained(
    cell: Cell, fault_matrix: FaultMatrix
) -> None:
    run = fault_matrix.result(cell)
    _finished(run)
    _nothing_else_went_wrong(run)
    _working_providers_contained(run)
    _faulty_provider_reported(run)
    _retried_as_asked(run)
    _packaged_playbook_ran_to_the_end(run)
