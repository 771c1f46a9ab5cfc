"""The Anthropic responder against a loopback organization.

Anthropic publishes no OpenAPI description, so the stand-in checks every request (and its own
answers) against JSON schemas written by hand from the public Admin API documentation
(clawback_demo/providers/anthropic.py, after ../shared/research/providers.md §5): documented
paths, query parameters, the ``{name?, status?}`` update body, and the ``x-api-key`` and
``anthropic-version: 2023-06-01`` headers. Nothing here is an official description.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from clawback_demo.providers.anthropic import new_key
from responders.anthropic import (
    KIND_ADMIN_KEY,
    KIND_API_KEY,
    KIND_OAUTH_TOKEN,
    AnthropicResponder,
)
from responders.interface import (
    AlreadyRevoked,
    Disabled,
    Failed,
    ManualRequired,
    Outcome,
    Planned,
    Revoked,
    Rotated,
    SecretValue,
    Skipped,
    VerifiedDead,
)
from tests.providers_ai.conftest import (
    RefusingKeyring,
    anthropic_responder,
    found_at,
    refused_url,
)
from tests.providers_ai.served_orgs import AnthropicOrg


def key(value: str, kind: str = KIND_API_KEY) -> Any:
    return found_at("anthropic", kind, value)


def with_admin(org: AnthropicOrg, **config: Any) -> tuple[AnthropicResponder, Any]:
    return anthropic_responder(org.url, org.add_admin_key(), **config)


# -- revoke -------------------------------------------------------------------------------------


def test_a_key_is_found_by_its_hint_and_set_inactive(anthropic_org: AnthropicOrg) -> None:
    target = anthropic_org.add_key()
    bystander = anthropic_org.add_key()
    responder, _ = with_admin(anthropic_org)

    ((_, outcome),) = responder.revoke_all([key(target.value)])

    assert isinstance(outcome, Disabled), outcome
    assert outcome.facts["key_id"] == target.key_id and outcome.facts["status"] == "inactive"
    assert (target.status, bystander.status) == ("inactive", "active")
    ((_, _, _, body),) = anthropic_org.sent("POST", r".*/api_keys/.*")
    assert body == {"status": "inactive"}


def test_archive_on_request_is_final(anthropic_org: AnthropicOrg) -> None:
    active, inactive = anthropic_org.add_key(), anthropic_org.add_key(status="inactive")
    responder, _ = with_admin(anthropic_org, archive=True)

    outcomes = [o for _, o in responder.revoke_all([key(active.value), key(inactive.value)])]

    assert all(isinstance(o, Revoked) for o in outcomes), outcomes
    assert (active.status, inactive.status) == ("archived", "archived")


def test_a_key_already_switched_off_is_already_revoked(anthropic_org: AnthropicOrg) -> None:
    dead = [anthropic_org.add_key(status=s) for s in ("inactive", "archived", "expired")]
    responder, _ = with_admin(anthropic_org)

    outcomes = [o for _, o in responder.revoke_all([key(k.value) for k in dead])]

    assert all(isinstance(o, AlreadyRevoked) for o in outcomes), outcomes
    assert anthropic_org.sent("POST", ".*") == []


def test_a_key_that_vanished_is_already_revoked(anthropic_org: AnthropicOrg) -> None:
    raced = anthropic_org.add_key()
    responder, _ = with_admin(anthropic_org)
    anthropic_org.fail("POST", rf".*/api_keys/{raced.key_id}", 404)
    unknown = key(new_key())

    outcomes = [o for _, o in responder.revoke_all([key(raced.value), unknown])]

    assert all(isinstance(o, AlreadyRevoked) for o in outcomes), outcomes
    assert outcomes[1].facts["checked_with"] == "GET /v1/models"


def test_a_live_key_of_another_organization_is_a_guided_step(anthropic_org: AnthropicOrg) -> None:
    elsewhere = new_key()
    anthropic_org.outside_keys.add(elsewhere)
    responder, _ = with_admin(anthropic_org)

    ((_, outcome),) = responder.revoke_all([key(elsewhere)])

    assert isinstance(outcome, ManualRequired) and "another organization" in outcome.instructions
    assert outcome.url == "https://console.anthropic.com/settings/keys"


def test_workspaces_narrow_the_search_and_pages_are_followed(
    anthropic_org: AnthropicOrg,
) -> None:
    for _ in range(120):
        anthropic_org.add_key(workspace_id="wrkspc_agent")
    anthropic_org.add_key(workspace_id="wrkspc_other")
    target = list(anthropic_org.keys.values())[119]
    responder, _ = with_admin(anthropic_org, workspaces=["wrkspc_agent"])

    ((_, outcome),) = responder.revoke_all([key(target.value)])

    assert isinstance(outcome, Disabled)
    listings = anthropic_org.sent("GET", r"/v1/organizations/api_keys")
    assert [q.get("workspace_id") for _, _, q, _ in listings] == ["wrkspc_agent"] * 2
    assert "after_id" in listings[1][2]


def test_hints_that_fit_two_keys_are_not_guessed(anthropic_org: AnthropicOrg) -> None:
    value = new_key()
    anthropic_org.add_key(value)
    anthropic_org.add_key(value[:16] + "Q" * 40 + value[-4:])
    responder, _ = with_admin(anthropic_org)

    ((_, outcome),) = responder.revoke_all([key(value)])

    assert isinstance(outcome, ManualRequired) and len(outcome.facts["candidates"]) == 2
    assert anthropic_org.sent("POST", ".*") == []


# -- errors -------------------------------------------------------------------------------------


def test_permission_denied_says_what_is_missing(anthropic_org: AnthropicOrg) -> None:
    target = anthropic_org.add_key()
    reader = anthropic_org.add_admin_key(may_write=False)
    responder, _ = anthropic_responder(anthropic_org.url, reader)

    ((_, outcome),) = responder.revoke_all([key(target.value)])

    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "forbidden (403)" in outcome.error and "Admin API key" in outcome.error
    assert target.status == "active"


def test_a_rejected_admin_key_is_named(anthropic_org: AnthropicOrg) -> None:
    target = anthropic_org.add_key()
    responder, _ = anthropic_responder(anthropic_org.url, new_key("admin01"))
    ((_, outcome),) = responder.revoke_all([key(target.value)])
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "rejected the admin key (401)" in outcome.error


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [(429, {"retry-after": "12"}, 12.0), (500, {}, None), (529, {}, None)],
)
def test_rate_limits_and_overload_are_retryable(
    anthropic_org: AnthropicOrg, status: int, headers: dict[str, str], wait: float | None
) -> None:
    target = anthropic_org.add_key()
    responder, _ = with_admin(anthropic_org)
    anthropic_org.fail("POST", r".*/api_keys/.*", status, headers)

    ((_, outcome),) = responder.revoke_all([key(target.value)])
    assert isinstance(outcome, Failed) and outcome.retryable and outcome.retry_after == wait
    ((_, retried),) = responder.revoke_all([key(target.value)])
    assert isinstance(retried, Disabled) and target.status == "inactive"


def test_hangs_and_refusals_are_retryable(anthropic_org: AnthropicOrg) -> None:
    target = anthropic_org.add_key()
    responder, _ = with_admin(anthropic_org, timeout_seconds=0.3)
    release = threading.Event()
    anthropic_org.hang("GET", r"/v1/organizations/api_keys", release)
    started = time.monotonic()
    try:
        ((_, hung),) = responder.revoke_all([key(target.value)])
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert isinstance(hung, Failed) and hung.retryable

    refused, _ = anthropic_responder(refused_url(), new_key("admin01"))
    ((_, outcome),) = refused.revoke_all([key(target.value)])
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


def test_bad_config_is_reported_not_raised() -> None:
    planted = new_key("admin01")
    responder, _ = anthropic_responder("http://127.0.0.1:9", None, admin_key=planted)
    ((_, outcome),) = responder.revoke_all([key(new_key())])
    assert isinstance(outcome, Failed) and "must be a reference" in outcome.error
    assert planted not in outcome.error


# -- verify -------------------------------------------------------------------------------------


def test_verify_reports_what_anthropic_answers(anthropic_org: AnthropicOrg) -> None:
    switched_off, alive = anthropic_org.add_key(), anthropic_org.add_key()
    responder, _ = with_admin(anthropic_org)
    responder.revoke_all([key(switched_off.value)])

    dead = responder.verify_revoked(key(switched_off.value))
    live = responder.verify_revoked(key(alive.value))

    assert isinstance(dead, VerifiedDead) and dead.facts["http_status"] == 401
    assert isinstance(live, Failed) and live.retryable and "still accepts" in live.error
    checks = anthropic_org.sent("GET", r"/v1/models")
    assert len(checks) == 2 and all(q == {"limit": "1"} for _, _, q, _ in checks)


# -- rotation by hand ---------------------------------------------------------------------------


def test_rotation_is_a_guided_step_naming_the_workspace(anthropic_org: AnthropicOrg) -> None:
    target = anthropic_org.add_key(workspace_id="wrkspc_agent", name="openclaw")
    responder, store = with_admin(anthropic_org)
    responder.revoke_all([key(target.value)])
    before = len(anthropic_org.requests)

    outcome = responder.rotate(key(target.value), store)

    assert isinstance(outcome, ManualRequired)
    assert "wrkspc_agent" in outcome.instructions and "openclaw" in outcome.instructions
    assert outcome.url == "https://console.anthropic.com/settings/keys"
    assert outcome.facts["store_as"] == f"anthropic/wrkspc_agent/{target.key_id}"
    assert len(anthropic_org.requests) == before  # describing the step sends nothing


def test_a_pasted_replacement_is_stored_then_proved(
    anthropic_org: AnthropicOrg, memory_keyring: Any
) -> None:
    old = anthropic_org.add_key()
    responder, store = with_admin(anthropic_org)
    responder.revoke_all([key(old.value)])
    new = anthropic_org.add_key()  # what the operator created in the Console

    outcome = responder.accept_replacement(key(old.value), SecretValue(new.value + "\n"), store)

    assert isinstance(outcome, Rotated), outcome
    name = f"anthropic/wrkspc_agent/{old.key_id}"
    assert memory_keyring.store[("clawback", name)] == new.value
    assert outcome.new_reference == f"keyring:clawback/{name}"
    assert anthropic_org.sent("GET", "/v1/models")[-1][2] == {"limit": "1"}


def test_a_rejected_paste_is_withdrawn_from_the_keyring(
    anthropic_org: AnthropicOrg, memory_keyring: Any
) -> None:
    old = anthropic_org.add_key()
    responder, store = with_admin(anthropic_org)

    typo = responder.accept_replacement(key(old.value), SecretValue(new_key()), store)
    not_a_key = responder.accept_replacement(key(old.value), SecretValue("hunter2"), store)
    same = responder.accept_replacement(key(old.value), SecretValue(old.value), store)

    assert isinstance(typo, Failed) and "rejects the pasted key" in typo.error
    assert typo.facts["stored_copy"] == "removed"
    assert isinstance(not_a_key, Failed) and "hunter2" not in not_a_key.error
    assert isinstance(same, Failed) and "exposed key itself" in same.error
    assert memory_keyring.store == {}


def test_a_paste_that_cannot_be_stored_is_not_lost_silently(
    anthropic_org: AnthropicOrg, refusing_keyring: RefusingKeyring
) -> None:
    old, new = anthropic_org.add_key(), anthropic_org.add_key()
    responder, store = with_admin(anthropic_org)
    outcome = responder.accept_replacement(key(old.value), SecretValue(new.value), store)
    assert isinstance(outcome, Failed) and "keyring is not usable" in outcome.error


# -- no API at all ------------------------------------------------------------------------------


def test_admin_keys_and_sign_in_tokens_are_guided_steps(anthropic_org: AnthropicOrg) -> None:
    admin = anthropic_org.add_admin_key()
    responder, store = anthropic_responder(anthropic_org.url, admin)
    creds = [key(admin, KIND_ADMIN_KEY), key(new_key("oat01"), KIND_OAUTH_TOKEN)]

    outcomes = [o for _, o in responder.revoke_all(creds)]

    assert all(isinstance(o, ManualRequired) for o in outcomes)
    assert "admin key clawback itself uses" in outcomes[0].instructions  # type: ignore[union-attr]
    assert outcomes[0].url.endswith("/settings/admin-keys")  # type: ignore[union-attr]
    assert all(isinstance(responder.verify_revoked(c), Skipped) for c in creds)
    assert all(isinstance(responder.rotate(c, store), Skipped) for c in creds)
    assert anthropic_org.requests == []


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder, _ = anthropic_responder(httpserver.url_for("/"), new_key("admin01"), archive=True)
    creds = [key(new_key()), key(new_key("admin01"), KIND_ADMIN_KEY)]
    planned = [p for _, p in responder.plan(creds)]
    assert all(isinstance(p, Planned) for p in planned)
    assert [p.action for p in planned] == ["revoke", "manual"]
    assert "POST /v1/organizations/api_keys/{id} {status: archived}" in planned[0].commands
    assert httpserver.log == []


def test_without_an_admin_key_keys_are_guided_steps(httpserver: HTTPServer) -> None:
    responder, _ = anthropic_responder(httpserver.url_for("/"), None)
    ((_, outcome),) = responder.revoke_all([key(new_key())])
    assert isinstance(outcome, ManualRequired) and "admin_key" in outcome.instructions
    assert httpserver.log == []


def test_preflight(anthropic_org: AnthropicOrg) -> None:
    responder, _ = with_admin(anthropic_org)
    ((check),) = responder.preflight()
    assert check.ok and check.capability == "list API keys"
    rejected, _ = anthropic_responder(anthropic_org.url, new_key("admin01"))
    (bad,) = rejected.preflight()
    assert not bad.ok and bad.missing_permission == "an Admin API key"
    unset, _ = anthropic_responder(anthropic_org.url, None)
    (missing,) = unset.preflight()
    assert not missing.ok and missing.missing_permission == "admin_key"


# -- secrets never leak -------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_or_logs(
    anthropic_org: AnthropicOrg,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = [anthropic_org.add_key(), anthropic_org.add_key(status="inactive")]
    admin = anthropic_org.add_admin_key()
    responder, store = anthropic_responder(anthropic_org.url, admin)
    replacement = anthropic_org.add_key()
    planted = [
        *(key(k.value) for k in keys),
        key(new_key()),
        key(admin, KIND_ADMIN_KEY),
        key(new_key("oat01"), KIND_OAUTH_TOKEN),
    ]
    anthropic_org.fail("POST", r".*/api_keys/.*", 429, {"retry-after": "0"})

    outcomes: list[Any] = [o for _, o in responder.revoke_all(planted)]
    outcomes += [o for _, o in responder.revoke_all(planted[:1])]
    outcomes += [responder.verify_revoked(c) for c in planted]
    outcomes += [responder.rotate(c, store) for c in planted]
    outcomes.append(responder.accept_replacement(planted[0], SecretValue(replacement.value), store))
    outcomes.append(responder.accept_replacement(planted[0], SecretValue(new_key()), store))
    outcomes += [responder.plan(planted), responder.preflight()]
    assert any(isinstance(o, Rotated) for o in outcomes)

    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    said += "\n".join(str(o.facts) for o in outcomes if isinstance(o, Outcome))
    for value in [*(c.secret.reveal() for c in planted if c.secret), admin, replacement.value]:
        assert value not in said


def test_listings_are_read_to_the_end_not_50_pages(
    anthropic_org: AnthropicOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    import responders.anthropic as module

    monkeypatch.setattr(module, "_PAGE_SIZE", 2)
    for _ in range(104):  # 52 pages of 2: the key is on the 52nd
        anthropic_org.add_key()
    target = list(anthropic_org.keys.values())[-1]
    responder, _ = with_admin(anthropic_org)

    ((_, outcome),) = responder.revoke_all([key(target.value)])

    assert isinstance(outcome, Disabled), outcome
    assert target.status == "inactive"
    assert len(anthropic_org.sent("GET", r"/v1/organizations/api_keys")) == 52


def test_proof_of_death_reads_anthropics_own_record_of_the_key(
    anthropic_org: AnthropicOrg,
) -> None:
    doomed = anthropic_org.add_key()
    responder, _ = with_admin(anthropic_org)
    responder.revoke_all([key(doomed.value)])

    dead = responder.verify_revoked(key(doomed.value))

    assert isinstance(dead, VerifiedDead), dead
    assert dead.facts["record"] == "inactive"
    assert anthropic_org.sent("GET", rf"/v1/organizations/api_keys/{doomed.key_id}")
