"""Issue 6, "Done when": ``clawback drill`` against the demo backends rotates every API-capable
key, and the gateway stand-in keeps working with the new keys, without a restart and without a
moment where a key it uses is refused.

The gateway answers ``/keys-ok`` by reading the agent's files again and making one harmless call
per key to that provider's stand-in, so "ok" after the drill means the new key is in the files
and the provider takes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from clawback.verify import verify_incident
from clawback_demo.demo import AGENT_IAM_USER
from clawback_demo.gateway import OK, REJECTED
from clawback_demo.providers.fleet import STRIPE_RECEIVER
from responders.interface import fingerprint

from .conftest import DrilledSandbox

# What the drill does with each planted kind. "Rotated": an API creates the replacement (or
# re-issues the value) and clawback switches the agent to it. "ManualRequired": no API creates
# one, so a human gets the steps. "Skipped": nothing to replace on its own (a session, a token
# the app mints hourly, a sign-in a person repeats). A key the agent also reads from a SQLite
# store is a manual step whatever its kind (expected_rotation).
EXPECTED_ROTATION = {
    "aws:access_key": "Rotated",
    "aws:session": "Skipped",
    "aws:session_token": "Skipped",
    "openai:admin_key": "Rotated",
    "openai:oauth_access": "Skipped",
    "openai:oauth_refresh": "Skipped",
    "cloudflare:api_token": "Rotated",
    "stripe:webhook_secret": "Rotated",  # a new endpoint with a new signing secret
    "stripe:secret_key": "ManualRequired",  # keys are rolled in the Dashboard only
    "stripe:restricted_key": "ManualRequired",
    "github:oauth": "Rotated",  # reset through the OAuth app
    "github:pat": "ManualRequired",
    "github:fine_grained_pat": "ManualRequired",
    "github:installation": "Skipped",
    "github:copilot_token": "Skipped",
    "anthropic:api_key": "ManualRequired",  # the Admin API cannot create keys
    "anthropic:admin_key": "Skipped",
    "anthropic:oauth_token": "Skipped",
    "anthropic:oauth_refresh": "Skipped",
    "slack:bot_token": "ManualRequired",  # classic tokens: reinstall the app
    "slack:user_token": "ManualRequired",
    "slack:app_token": "ManualRequired",
    "slack:signing_secret": "ManualRequired",
    "openclaw:gateway_token": "Rotated",
    "openclaw:gateway_password": "Rotated",
    "openclaw:hooks_token": "Rotated",
    "openclaw:cron_webhook_token": "Rotated",
    "openclaw:exec_approvals_token": "Rotated",
    "openclaw:device_token": "Skipped",  # a device gets a new token when it pairs again
    "openclaw:device_private_key": "ManualRequired",
    "openclaw:auth_profile_secret_key": "ManualRequired",
    "telegram:bot_token": "ManualRequired",
    "discord:bot_token": "ManualRequired",
    "huggingface:token": "ManualRequired",
    "openrouter:api_key": "ManualRequired",
    "brave:api_key": "ManualRequired",
    "elevenlabs:api_key": "ManualRequired",
    "unknown:secret": "ManualRequired",
}
# OpenAI project keys: a service account's is replaced by a new service account; a person's
# cannot be created by API. The fleet seeds the one in secrets.json as the service account's.
SERVICE_ACCOUNT_KEY_FILE = "secrets.json"
# Kinds whose provider re-issues the value in place: the old value dies the moment the new one
# is made, before the agent's files can hold it, so a gateway call in between is refused.
REISSUED_IN_PLACE = {
    "cloudflare:api_token": "PUT /user/tokens/{id}/value invalidates the old value at once",
    "github:oauth": "PATCH /applications/{client_id}/token invalidates the old token at once",
    "github:user_to_server": "PATCH /applications/{client_id}/token, as github:oauth",
}
# The playbook leaves WhatsApp sessions out: a new one means linking the phone again.
NOT_ROTATED = {"whatsapp:session"}
SERVED = {"aws", "openai", "anthropic", "github", "slack", "cloudflare", "stripe"}


def expected_rotation(planted: Any) -> str:
    if also_in_sqlite(planted):
        # Refused before the provider is asked: the drill could not switch that store.
        return "ManualRequired"
    if planted.kind == "openai:project_key":
        in_secrets_file = any(Path(loc.path).name == SERVICE_ACCOUNT_KEY_FILE
                              for loc in planted.locations)
        return "Rotated" if in_secrets_file else "ManualRequired"
    return EXPECTED_ROTATION[planted.kind]


def also_in_sqlite(planted: Any) -> bool:
    """The agent also reads this key from a SQLite store, which the drill cannot rewrite."""
    return any(".sqlite" in Path(loc.path).name for loc in planted.locations)


def planted_by_fingerprint(drilled: DrilledSandbox) -> dict[str, Any]:
    return {p.fingerprint: p for p in drilled.box.home.planted}


def uses(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The gateway's key uses by where it reads them."""
    return {u["use"]: u for u in detail["uses"]}


def read_from_sqlite_too(drilled: DrilledSandbox, use: dict[str, Any]) -> bool:
    planted = planted_by_fingerprint(drilled).get(use["fingerprint"])
    return planted is not None and also_in_sqlite(planted)


def rotated_uses(drilled: DrilledSandbox) -> list[tuple[dict[str, Any], Any]]:
    """Gateway uses (before the drill) whose key the drill rotated, with the Rotated outcome."""
    out = []
    for use in drilled.before["uses"]:
        outcome = drilled.outcome_for("rotate", use["fingerprint"])
        if outcome is not None and type(outcome).__name__ == "Rotated":
            out.append((use, outcome))
    return out


# --------------------------------------------------------------------------------------------


def test_before_the_drill_the_gateway_uses_the_agents_keys_and_every_one_works(
    drilled: DrilledSandbox,
) -> None:
    planted = planted_by_fingerprint(drilled)
    before = uses(drilled.before)
    assert drilled.before["problems"] == []
    assert drilled.before_providers == dict.fromkeys(sorted(SERVED), OK)
    for use in before.values():
        assert use["status"] == OK, use
        assert planted[use["fingerprint"]].provider == use["provider"], use
    aws_key = next(p for p in drilled.box.home.planted if p.kind == "aws:access_key")
    assert before["~/.aws/credentials [default]"]["fingerprint"] == aws_key.fingerprint
    # What the gateway reads, as OpenClaw resolves it: a SecretRef into secrets.json, ${VAR}
    # from .env, $include'd channels, skills' env, auth profiles and the workspace's .env.
    assert {
        "openclaw.json messages.tts.openai.apiKey",
        "openclaw.json models.providers.openai.apiKey",
        "openclaw.json models.providers.anthropic.apiKey",
        "openclaw.json channels.slack.botToken",
        "openclaw.json skills.entries.gh-issues.env.GH_TOKEN",
        "openclaw.json skills.entries.stripe-billing.env.STRIPE_SECRET_KEY",
        "agents/work auth profile github-copilot:github",
        "workspace .env CLOUDFLARE_API_TOKEN",
    } <= set(before)


def test_every_api_capable_key_is_rotated_and_the_rest_are_listed_for_a_human(
    drilled: DrilledSandbox,
) -> None:
    result = drilled.report.result
    assert result.exit_code == 3  # the manual steps
    seen: dict[str, str] = {}
    for planted in drilled.box.home.planted:
        outcome = drilled.outcome_for("rotate", planted.fingerprint)
        if planted.kind in NOT_ROTATED:
            continue
        assert outcome is not None, f"{planted.kind} {planted.fingerprint} was not rotated"
        seen[f"{planted.kind} {planted.fingerprint}"] = type(outcome).__name__
        assert type(outcome).__name__ == expected_rotation(planted), (planted.kind, outcome)
    assert set(EXPECTED_ROTATION) <= {key.split(" ")[0] for key in seen}
    # Every manual step is in what the drill leaves to a human, with something to do.
    remaining = {r.target_info.get("fingerprint") for r in result.remaining}
    for planted in drilled.box.home.planted:
        if seen.get(f"{planted.kind} {planted.fingerprint}") == "ManualRequired":
            assert planted.fingerprint in remaining
            manual = drilled.outcome_for("rotate", planted.fingerprint)
            assert manual.instructions, planted.kind
    # The drill timed each provider it rotated.
    assert drilled.report.timings is not None
    assert {"aws", "openai", "cloudflare", "stripe", "github", "openclaw"} <= set(
        drilled.report.timings.providers
    )


def test_the_old_keys_are_dead_at_their_stand_ins(drilled: DrilledSandbox) -> None:
    box = drilled.box
    checked = set()
    for planted in box.home.planted:
        outcome = drilled.outcome_for("rotate", planted.fingerprint)
        if outcome is None or type(outcome).__name__ != "Rotated":
            continue
        if planted.provider in box.fleet.accounts:
            assert not box.fleet.accepts(planted.provider, planted.value), planted.kind
            dead = drilled.outcome_for("verify_revoked", planted.fingerprint)
            assert type(dead).__name__ == "VerifiedDead", (planted.kind, dead)
            checked.add(planted.provider)
        elif planted.provider == "aws":
            assert type(drilled.outcome_for("verify_revoked", planted.fingerprint)).__name__ \
                == "VerifiedDead"
            assert planted.key_id not in box.moto.key_statuses(AGENT_IAM_USER)
            assert sts_identity(box.moto.url, planted.key_id, planted.value) is None
            checked.add("aws")
        elif planted.provider == "openclaw":
            # The gateway's own secrets: dead once no file the gateway reads holds them.
            # A session transcript or log line that once showed the token (the demo's attack
            # story has the agent print .env) is history the gateway never authenticates with:
            # it stays as evidence.
            read_by_gateway = [loc for loc in planted.locations
                               if not loc.key.startswith("line ")]
            assert read_by_gateway, planted.locations
            for location in read_by_gateway:
                assert planted.value not in Path(location.path).read_text(), location
            checked.add("openclaw")
    assert checked == {"aws", "openai", "cloudflare", "stripe", "github", "openclaw"}
    # The agent's IAM user has exactly one key left: the new one.
    (live,) = box.moto.key_statuses(AGENT_IAM_USER).items()
    assert live[1] == "Active"


def test_the_gateway_works_with_the_new_keys_without_a_restart(drilled: DrilledSandbox) -> None:
    assert drilled.gateway_pid_after == drilled.gateway_pid_before
    after = uses(drilled.after)
    assert drilled.after["problems"] == []
    rotated = rotated_uses(drilled)
    # The keys it uses that an API could replace: AWS, OpenAI's service account, Cloudflare.
    assert {use["provider"] for use, _ in rotated} == {"aws", "openai", "cloudflare"}
    for use, outcome in rotated:
        now = after[use["use"]]
        assert now["fingerprint"] == outcome.new_fingerprint != use["fingerprint"], use["use"]
        assert now["status"] == OK, now
    rotated_names = {use["use"] for use, _ in rotated}
    for use in drilled.before["uses"]:
        if use["use"] in rotated_names:
            continue
        assert after[use["use"]] == use, "a key the drill did not rotate changed or broke"


def test_no_key_the_gateway_uses_was_refused_while_the_drill_ran(
    drilled: DrilledSandbox,
) -> None:
    polls = drilled.polls
    assert not [p for p in polls if p.error], "the gateway did not answer during the drill"
    during = [p for p in polls if p.overlaps(drilled.drill_started, drilled.drill_finished)]
    assert len(during) >= 5, f"only {len(during)} answers while the drill ran"
    assert polls[0].started < drilled.drill_started and polls[-1].finished > drilled.drill_finished
    planted = planted_by_fingerprint(drilled)
    windows = drilled.rotation_windows()
    in_place_refusals = 0
    for poll in polls:
        detail = poll.detail
        assert detail["problems"] == []
        for use in detail["uses"]:
            if use["status"] == OK:
                continue
            assert use["status"] == REJECTED, use
            key = planted.get(use["fingerprint"])
            window = windows.get(use["fingerprint"])
            # Only a value its provider re-issues in place may be refused, and only between the
            # start of its rotation and the moment the agent's files held the new value.
            assert key is not None and key.kind in REISSUED_IN_PLACE, use
            assert window is not None and window.pending is not None, use
            assert poll.overlaps(window.started, window.pending), (use, window)
            in_place_refusals += 1
    # Visible with -rP: how often the in-place re-issue was caught refusing.
    print(f"{len(polls)} answers, {len(during)} during the drill "
          f"({drilled.drill_seconds:.2f} s); refused in place: {in_place_refusals}")


def test_a_key_the_agent_also_reads_from_sqlite_is_left_alone_and_keeps_working(
    drilled: DrilledSandbox,
) -> None:
    """The drill cannot rewrite a SQLite store, so it must not ask the provider for anything:
    GitHub's reset would kill the Copilot token the agent still reads from there."""
    in_sqlite = [u for u in drilled.before["uses"] if read_from_sqlite_too(drilled, u)]
    assert {u["provider"] for u in in_sqlite} == {"github", "anthropic"}
    (copilot,) = [u for u in in_sqlite if u["provider"] == "github"]
    key = planted_by_fingerprint(drilled)[copilot["fingerprint"]]
    outcome = drilled.outcome_for("rotate", key.fingerprint)
    assert type(outcome).__name__ == "ManualRequired"
    assert ".sqlite" in outcome.instructions
    assert drilled.box.fleet.accepts("github", key.value)
    assert uses(drilled.after)[copilot["use"]] == copilot
    assert drilled.after_providers == dict.fromkeys(sorted(SERVED), OK)


def test_one_live_rotation_per_key_the_receiver_has_one_endpoint(
    drilled: DrilledSandbox,
) -> None:
    """The receiver's endpoint is named twice (the configured [providers.stripe] endpoint and
    the signing secret in openclaw.json): it is still replaced once, and the agent and the
    keyring hold the one new secret."""
    stripe = drilled.box.fleet.accounts["stripe"]
    receivers = [e for e in stripe.endpoints.values() if e["url"] == STRIPE_RECEIVER]
    assert len(receivers) == 1, [e["id"] for e in receivers]
    (secret,) = [stripe.endpoint_secrets[e["id"]] for e in receivers]
    assert secret in drilled.new_secrets()
    assert secret in drilled.box.home.config_path.read_text()


def test_the_drill_incident_verifies_against_its_final_checkpoint(
    drilled: DrilledSandbox, tmp_path: Path
) -> None:
    checkpoint = drilled.report.result.final_checkpoint
    assert checkpoint
    anchor = tmp_path / "checkpoint.txt"
    anchor.write_text(checkpoint)
    verified = verify_incident(drilled.incident, checkpoint=anchor)
    assert verified.intact, [v.as_dict() for v in verified.verdicts]


# Last on purpose: the module fixture's teardown (every process gone, every port closed, moto left
# clean) reports against the last test, and against a strict xfail it would pass unseen.
def test_no_secret_in_the_gateways_answers_logs_or_the_drill_records(
    drilled: DrilledSandbox,
) -> None:
    secrets = drilled.planted_values() + drilled.new_secrets()
    assert len(drilled.new_secrets()) >= 5
    texts: dict[str, str] = {
        "before": json.dumps(drilled.before),
        "after": json.dumps(drilled.after),
        "report": json.dumps(drilled.report.as_dict()),
        "results": repr(drilled.report.result.results),
        "notes": "\n".join(drilled.notes),
    }
    texts.update({f"poll {i}": p.text for i, p in enumerate(drilled.polls)})
    supervisor_dir = drilled.box.gateway.workdir
    texts.update({str(p): p.read_text(errors="replace") for p in files_in(supervisor_dir)})
    # The backups hold the agent's files as they were (its own secrets, 0600): everything else
    # in the incident is evidence and must hold fingerprints only.
    backups = drilled.incident / "backups"
    for path in files_in(drilled.incident):
        if backups in path.parents:
            assert path.stat().st_mode & 0o777 == 0o600
        else:
            texts[str(path)] = path.read_text(errors="replace")
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{fingerprint(secret)} leaked into {name}"


def files_in(root: Path) -> Iterable[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file())


def sts_identity(url: str, key_id: str | None, secret: str) -> str | None:
    """The ARN a call signed with this key gets, or None when AWS rejects it."""
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id=key_id, aws_secret_access_key=secret)
    try:
        return str(sts.get_caller_identity()["Arn"])
    except ClientError:
        return None
