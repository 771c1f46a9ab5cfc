"""The OpenAI responder against a loopback organization whose every request is checked against
OpenAI's own API description (clawback_demo/contracts/openai.json) with openapi-core."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from clawback_demo.providers.openai import new_key
from responders.interface import (
    AlreadyRevoked,
    Failed,
    ManualRequired,
    Outcome,
    Planned,
    PreflightCheck,
    Revoked,
    Rotated,
    Skipped,
    Unproven,
    VerifiedDead,
)
from responders.openai import (
    KIND_ADMIN_KEY,
    KIND_LEGACY_KEY,
    KIND_OAUTH_ACCESS,
    KIND_PROJECT_KEY,
    KIND_SERVICE_ACCOUNT_KEY,
    OpenAIResponder,
    matches_redacted,
    parse_settings,
)
from tests.providers_ai.conftest import (
    RefusingKeyring,
    found_at,
    openai_responder,
    refused_url,
)
from tests.providers_ai.served_orgs import OpenAIOrg


def key(kind: str, value: str) -> Any:
    return found_at("openai", kind, value)


def org_with_admin(org: OpenAIOrg, **config: Any) -> tuple[OpenAIResponder, Any, str]:
    admin = org.add_admin_key()
    responder, store = openai_responder(org.url, admin.value, **config)
    return responder, store, admin.value


# -- revoke -------------------------------------------------------------------------------------


def test_a_users_key_is_found_by_its_redacted_value_and_deleted(openai_org: OpenAIOrg) -> None:
    project, other = openai_org.add_project("agent"), openai_org.add_project("billing")
    target = openai_org.add_user_key(project)
    bystanders = [openai_org.add_user_key(project), openai_org.add_user_key(other)]
    responder, _, _ = org_with_admin(openai_org, projects=[project, other])

    ((_, outcome),) = responder.revoke_all([key(KIND_PROJECT_KEY, openai_org.keys[target].value)])

    assert isinstance(outcome, Revoked), outcome
    assert outcome.facts["key_id"] == target and outcome.facts["project_id"] == project
    assert target not in openai_org.keys
    assert all(b in openai_org.keys for b in bystanders)
    listing = openai_org.requests("GET", rf"/organization/projects/{project}/api_keys")
    assert listing and listing[0].args["owner_project_access"] == "any"


def test_every_project_is_searched_page_by_page_when_none_is_configured(
    openai_org: OpenAIOrg,
) -> None:
    projects = [openai_org.add_project(f"p{i}") for i in range(3)]
    for _ in range(130):  # more than one page of 100
        openai_org.add_user_key(projects[2])
    last = list(openai_org.keys)[-1]
    responder, _, _ = org_with_admin(openai_org)

    ((_, outcome),) = responder.revoke_all([key(KIND_PROJECT_KEY, openai_org.keys[last].value)])

    assert isinstance(outcome, Revoked), outcome
    assert openai_org.requests("GET", r"/organization/projects")
    pages = openai_org.requests("GET", rf"/organization/projects/{projects[2]}/api_keys")
    assert [p.args.get("after") is not None for p in pages] == [False, True]


def test_legacy_user_keys_are_handled_like_project_keys(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    legacy = "sk-" + "A" * 20 + "T3BlbkFJ" + "B" * 20
    openai_org.add_user_key(project, legacy)
    responder, _, _ = org_with_admin(openai_org, projects=[project])
    ((_, outcome),) = responder.revoke_all([key(KIND_LEGACY_KEY, legacy)])
    assert isinstance(outcome, Revoked) and openai_org.keys == {}


def test_a_service_accounts_key_dies_with_its_account(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    account, key_id = openai_org.add_service_account(project)
    other_account, _ = openai_org.add_service_account(project)
    value = openai_org.keys[key_id].value
    responder, _, _ = org_with_admin(openai_org, projects=[project])

    ((_, outcome),) = responder.revoke_all([key(KIND_SERVICE_ACCOUNT_KEY, value)])

    assert isinstance(outcome, Revoked), outcome
    assert outcome.facts["service_account_id"] == account
    assert account not in openai_org.accounts and other_account in openai_org.accounts
    # The per-key delete, which OpenAI refuses for service accounts, was never tried.
    assert not openai_org.requests("DELETE", r".*/api_keys/.*")


def test_two_keys_that_redact_alike_are_not_guessed(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    value = new_key("sk-proj-")
    twin = value[:8] + "Z" * 30 + value[-4:]
    openai_org.add_user_key(project, value)
    openai_org.add_user_key(project, twin)
    responder, _, _ = org_with_admin(openai_org, projects=[project])

    ((_, outcome),) = responder.revoke_all([key(KIND_PROJECT_KEY, value)])

    assert isinstance(outcome, ManualRequired) and len(outcome.facts["candidates"]) == 2
    assert len(openai_org.keys) == 2 and not openai_org.requests("DELETE", ".*")


def test_a_key_already_gone_is_already_revoked(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    gone = key(KIND_PROJECT_KEY, new_key("sk-proj-"))
    raced = openai_org.add_user_key(project)
    responder, _, _ = org_with_admin(openai_org, projects=[project])
    openai_org.fail("DELETE", rf".*/api_keys/{raced}", 404)

    raced_cred = key(KIND_PROJECT_KEY, openai_org.keys[raced].value)
    outcomes = {c.fingerprint: o for c, o in responder.revoke_all([gone, raced_cred])}

    assert all(isinstance(o, AlreadyRevoked) for o in outcomes.values()), outcomes
    assert outcomes[gone.fingerprint].facts["checked_with"] == "GET /models"
    # Running again changes nothing and still succeeds.
    ((_, again),) = responder.revoke_all([gone])
    assert isinstance(again, AlreadyRevoked)


def test_a_live_key_in_no_visible_project_is_a_guided_step(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    elsewhere = new_key("sk-proj-")
    openai_org.outside_keys.add(elsewhere)
    responder, _, _ = org_with_admin(openai_org, projects=[project])

    ((_, outcome),) = responder.revoke_all([key(KIND_PROJECT_KEY, elsewhere)])

    assert isinstance(outcome, ManualRequired)
    assert project in outcome.instructions and outcome.url.startswith("https://platform.openai")


def test_a_project_that_cannot_be_listed_is_no_proof_of_death(openai_org: OpenAIOrg) -> None:
    listed, unlisted = openai_org.add_project(), openai_org.add_project()
    openai_org.add_user_key(listed)
    hidden = openai_org.add_user_key(unlisted)
    responder, _, _ = org_with_admin(openai_org, projects=[listed, unlisted])
    openai_org.fail("GET", rf"/organization/projects/{unlisted}/api_keys", 503)

    ((_, outcome),) = responder.revoke_all([key(KIND_PROJECT_KEY, openai_org.keys[hidden].value)])

    assert isinstance(outcome, Failed) and outcome.retryable, outcome
    assert not openai_org.requests("GET", "/models")


def test_an_exposed_admin_key_is_deleted_and_replaced(
    openai_org: OpenAIOrg, memory_keyring: Any
) -> None:
    responder, store, _ = org_with_admin(openai_org, admin_key_expires_in_seconds=3600)
    exposed = openai_org.add_admin_key()
    cred = key(KIND_ADMIN_KEY, exposed.value)

    ((_, revoked),) = responder.revoke_all([cred])
    rotated = responder.rotate(cred, store)

    assert isinstance(revoked, Revoked) and exposed.key_id not in openai_org.admin_keys
    assert isinstance(rotated, Rotated), rotated
    assert rotated.facts["stage"] == "finish" and rotated.facts["old_key"] == "already gone"
    new = openai_org.admin_keys[rotated.facts["new_key_id"]]
    assert new.expires_in_seconds == 3600
    assert memory_keyring.store[("clawback", f"openai/admin-key/{new.key_id}")] == new.value
    assert rotated.new_fingerprint == found_at("openai", KIND_ADMIN_KEY, new.value).fingerprint


def test_clawbacks_own_admin_key_is_replaced_before_it_is_deleted(
    openai_org: OpenAIOrg, memory_keyring: Any
) -> None:
    project = openai_org.add_project()
    user_key = openai_org.add_user_key(project)
    responder, store, own = org_with_admin(openai_org, projects=[project])
    own_cred = key(KIND_ADMIN_KEY, own)

    outcomes = [
        o
        for _, o in responder.revoke_all(
            [own_cred, key(KIND_PROJECT_KEY, openai_org.keys[user_key].value)]
        )
    ]

    assert all(isinstance(o, Revoked) for o in outcomes), outcomes
    assert [a.value for a in openai_org.admin_keys.values()] == list(memory_keyring.store.values())
    # The project key went first, with the old admin key; the old key was deleted last.
    deletes = [r.path for r in openai_org.requests("DELETE", ".*")]
    assert deletes[-1].startswith("/organization/admin_api_keys/") and len(deletes) == 2
    # clawback carries on with the replacement: rotation reports it, preflight works.
    assert isinstance(responder.rotate(own_cred, store), Rotated)
    assert all(c.ok for c in responder.preflight())


def test_own_admin_key_without_a_working_replacement_is_still_deleted(
    openai_org: OpenAIOrg, refusing_keyring: RefusingKeyring
) -> None:
    responder, store, own = org_with_admin(openai_org)
    own_cred = key(KIND_ADMIN_KEY, own)

    ((_, outcome),) = responder.revoke_all([own_cred])

    assert isinstance(outcome, Revoked), outcome
    assert "without a working replacement" in outcome.detail
    assert openai_org.admin_keys == {}  # the replacement was withdrawn, the exposed key deleted
    follow_up = responder.rotate(own_cred, store)
    assert isinstance(follow_up, ManualRequired) and "admin-keys" in follow_up.url


# -- rotate -------------------------------------------------------------------------------------


def test_service_account_rotation_after_revoke(openai_org: OpenAIOrg, memory_keyring: Any) -> None:
    project = openai_org.add_project()
    account, key_id = openai_org.add_service_account(project, name="agent-bot")
    cred = key(KIND_SERVICE_ACCOUNT_KEY, openai_org.keys[key_id].value)
    responder, store, _ = org_with_admin(openai_org, projects=[project])

    responder.revoke_all([cred])
    assert account not in openai_org.accounts
    rotated = responder.rotate(cred, store)

    assert isinstance(rotated, Rotated), rotated
    assert rotated.facts["old_service_account"] == "already gone"
    new_account = rotated.facts["new_service_account_id"]
    assert openai_org.accounts[new_account][1].startswith("agent-bot (clawback ")
    stored = memory_keyring.store[("clawback", f"openai/{project}/{new_account}")]
    assert openai_org.key_by_value(stored) is not None  # the stored key is the live new key
    assert openai_org.requests("GET", "/models")[-1].headers["Authorization"] == f"Bearer {stored}"


def test_service_account_rotation_as_a_drill_deletes_the_old_account_last(
    openai_org: OpenAIOrg, memory_keyring: Any
) -> None:
    project = openai_org.add_project()
    account, key_id = openai_org.add_service_account(project)
    cred = key(KIND_PROJECT_KEY, openai_org.keys[key_id].value)
    responder, store, _ = org_with_admin(openai_org, projects=[project])

    rotated = responder.rotate(cred, store)

    assert isinstance(rotated, Rotated) and rotated.facts["old_service_account"] == "deleted"
    assert account not in openai_org.accounts and len(openai_org.accounts) == 1
    changes = [(r.method, r.path) for r in openai_org.requests("POST|DELETE", ".*")]
    assert changes[0][0] == "POST" and changes[-1] == (
        "DELETE",
        f"/organization/projects/{project}/service_accounts/{account}",
    )
    # The next drill replaces the replacement, keeping one suffix in its name.
    new_value = memory_keyring.store.popitem()[1]
    assert isinstance(responder.rotate(key(KIND_SERVICE_ACCOUNT_KEY, new_value), store), Rotated)
    (name,) = [name for _, name in openai_org.accounts.values()]
    assert name.count("(clawback ") == 1


def test_service_account_rotation_withdraws_the_new_account_when_storing_fails(
    openai_org: OpenAIOrg, refusing_keyring: RefusingKeyring
) -> None:
    project = openai_org.add_project()
    account, key_id = openai_org.add_service_account(project)
    cred = key(KIND_SERVICE_ACCOUNT_KEY, openai_org.keys[key_id].value)
    responder, store, _ = org_with_admin(openai_org, projects=[project])

    outcome = responder.rotate(cred, store)

    assert isinstance(outcome, Failed) and "keyring is not usable" in outcome.error
    assert outcome.facts["new_service_account_deleted"] is True
    assert list(openai_org.accounts) == [account]  # the old one is untouched, the new one gone


def test_a_users_key_needs_a_person_to_replace_it(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    key_id = openai_org.add_user_key(project)
    cred = key(KIND_PROJECT_KEY, openai_org.keys[key_id].value)
    responder, store, _ = org_with_admin(openai_org, projects=[project])
    responder.revoke_all([cred])

    outcome = responder.rotate(cred, store)

    assert isinstance(outcome, ManualRequired) and project in outcome.instructions
    assert not openai_org.requests("POST", ".*")


# -- verify -------------------------------------------------------------------------------------


def test_verify_reports_what_openai_answers(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    dead, alive = openai_org.add_user_key(project), openai_org.add_user_key(project)
    dead_cred = key(KIND_PROJECT_KEY, openai_org.keys[dead].value)
    alive_cred = key(KIND_PROJECT_KEY, openai_org.keys[alive].value)
    responder, _, _ = org_with_admin(openai_org, projects=[project])
    exposed_admin = openai_org.add_admin_key()
    admin_cred = key(KIND_ADMIN_KEY, exposed_admin.value)

    responder.revoke_all([dead_cred, admin_cred])
    verdicts = [responder.verify_revoked(c) for c in (dead_cred, admin_cred, alive_cred)]

    assert isinstance(verdicts[0], VerifiedDead) and verdicts[0].facts["http_status"] == 401
    assert isinstance(verdicts[1], VerifiedDead)
    assert verdicts[1].facts["checked_with"] == "GET /organization/admin_api_keys"
    assert isinstance(verdicts[2], Failed) and verdicts[2].retryable
    assert "still accepts" in verdicts[2].error


# -- errors -------------------------------------------------------------------------------------


def _one_key(org: OpenAIOrg, **config: Any) -> tuple[OpenAIResponder, Any, str]:
    project = org.add_project()
    key_id = org.add_user_key(project)
    responder, _, _ = org_with_admin(org, projects=[project], **config)
    return responder, key(KIND_PROJECT_KEY, org.keys[key_id].value), key_id


@pytest.mark.parametrize(
    ("headers", "wait"), [({"Retry-After": "7"}, 7.0), ({"retry-after-ms": "1500"}, 1.5)]
)
def test_429_is_retryable_after_the_wait_openai_asks_for(
    openai_org: OpenAIOrg, headers: dict[str, str], wait: float
) -> None:
    responder, cred, key_id = _one_key(openai_org)
    openai_org.fail("DELETE", r".*/api_keys/.*", 429, headers)
    ((_, outcome),) = responder.revoke_all([cred])
    assert isinstance(outcome, Failed) and outcome.retryable and outcome.retry_after == wait
    ((_, retried),) = responder.revoke_all([cred])
    assert isinstance(retried, Revoked) and key_id not in openai_org.keys


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(openai_org: OpenAIOrg, status: int) -> None:
    responder, cred, _ = _one_key(openai_org)
    openai_org.fail("GET", r".*/api_keys", status)
    ((_, outcome),) = responder.revoke_all([cred])
    assert isinstance(outcome, Failed) and outcome.retryable and f"HTTP {status}" in outcome.error


def test_permission_denied_says_what_is_missing(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    key_id = openai_org.add_user_key(project)
    reader = openai_org.add_admin_key(read_only=True)
    responder, _ = openai_responder(openai_org.url, reader.value, projects=[project])

    ((_, outcome),) = responder.revoke_all([key(KIND_PROJECT_KEY, openai_org.keys[key_id].value)])

    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "forbidden (403)" in outcome.error and "cannot manage this project" in outcome.error
    assert key_id in openai_org.keys


def test_a_rejected_admin_key_is_named(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    key_id = openai_org.add_user_key(project)
    responder, _ = openai_responder(openai_org.url, new_key("sk-admin-"), projects=[project])

    ((_, outcome),) = responder.revoke_all([key(KIND_PROJECT_KEY, openai_org.keys[key_id].value)])

    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "rejected the admin key (401)" in outcome.error and "admin_key" in outcome.error


def test_hangs_and_refusals_are_retryable(openai_org: OpenAIOrg) -> None:
    release = threading.Event()
    responder, cred, _ = _one_key(openai_org, timeout_seconds=0.3)
    openai_org.hang("GET", r".*/api_keys", release)
    started = time.monotonic()
    try:
        ((_, hung),) = responder.revoke_all([cred])
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert isinstance(hung, Failed) and hung.retryable and "in time" in hung.error

    refused, _ = openai_responder(refused_url(), new_key("sk-admin-"), projects=["proj_x"])
    ((_, outcome),) = refused.revoke_all([cred])
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


def test_bad_config_is_reported_not_raised() -> None:
    planted = new_key("sk-admin-")
    responder, _ = openai_responder("http://127.0.0.1:9", None, admin_key=planted)
    ((_, outcome),) = responder.revoke_all([key(KIND_PROJECT_KEY, new_key("sk-proj-"))])
    assert isinstance(outcome, Failed) and "must be a reference" in outcome.error
    assert planted not in outcome.error
    with pytest.raises(Exception, match="admin_key_expires_in_seconds"):
        parse_settings({"admin_key_expires_in_seconds": 0})


# -- no request without need ----------------------------------------------------------------------


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder, _ = openai_responder(httpserver.url_for("/"), new_key("sk-admin-"))
    creds = [
        key(KIND_PROJECT_KEY, new_key("sk-proj-")),
        key(KIND_ADMIN_KEY, new_key("sk-admin-")),
        key(KIND_OAUTH_ACCESS, "eyJ" + "a" * 60),
    ]
    planned = [p for _, p in responder.plan(creds)]
    assert all(isinstance(p, Planned) for p in planned)
    assert [p.action for p in planned] == ["revoke", "revoke", "manual"]
    assert "GET /organization/projects" in planned[0].commands
    assert httpserver.log == []


def test_without_an_admin_key_every_key_is_a_guided_step(httpserver: HTTPServer) -> None:
    responder, _ = openai_responder(httpserver.url_for("/"), None)
    creds = [key(KIND_PROJECT_KEY, new_key("sk-proj-")), key(KIND_ADMIN_KEY, new_key("sk-admin-"))]
    outcomes = [o for _, o in responder.revoke_all(creds)]
    assert all(isinstance(o, ManualRequired) and "admin_key" in o.instructions for o in outcomes)
    assert httpserver.log == []


def test_codex_sign_in_tokens_are_guided_steps(openai_org: OpenAIOrg) -> None:
    responder, store, _ = org_with_admin(openai_org)
    cred = key(KIND_OAUTH_ACCESS, "eyJ" + "b" * 80)
    ((_, outcome),) = responder.revoke_all([cred])
    assert isinstance(outcome, ManualRequired) and "Sign out" in outcome.instructions
    assert isinstance(responder.verify_revoked(cred), Skipped)
    assert isinstance(responder.rotate(cred, store), Skipped)
    assert openai_org.contract.requests == []  # type: ignore[union-attr]


# -- preflight ----------------------------------------------------------------------------------


def test_preflight_proves_every_listing(openai_org: OpenAIOrg) -> None:
    projects = [openai_org.add_project(), openai_org.add_project()]
    responder, _, _ = org_with_admin(openai_org)
    checks = {c.capability: c for c in responder.preflight()}
    assert set(checks) == {
        "admin keys",
        "projects",
        *(f"keys of {p}" for p in projects),
        *(f"service accounts of {p}" for p in projects),
    }
    assert all(c.ok for c in checks.values()), checks
    assert not openai_org.requests("DELETE", ".*") and not openai_org.requests("POST", ".*")


def test_preflight_names_what_is_missing(openai_org: OpenAIOrg) -> None:
    unset, _ = openai_responder(openai_org.url, None)
    (check,) = unset.preflight()
    assert not check.ok and check.missing_permission == "admin_key"

    rejected, _ = openai_responder(openai_org.url, new_key("sk-admin-"), projects=["proj_x"])
    checks: list[PreflightCheck] = rejected.preflight()
    assert checks and not any(c.ok for c in checks)
    assert all(c.missing_permission for c in checks)


# -- the redacted form --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redacted",
    ["sk-proj-ab...wxyz", "sk-proj-…wxyz", "sk-pro***wxyz", "sk-proj-****************wxyz"],
)
def test_the_redacted_forms_openai_shows_match(redacted: str) -> None:
    value = "sk-proj-abcdefghijklmnopqrstuvwxyz"
    assert matches_redacted(redacted, value)
    assert not matches_redacted(redacted, value[:-1] + "Q")
    assert not matches_redacted(redacted.replace("sk-pro", "sk-adm"), value)


def test_a_redaction_without_a_visible_tail_matches_nothing() -> None:
    assert not matches_redacted("sk-proj-...", "sk-proj-abcdefghijkl")
    assert not matches_redacted("sk-abc...def", "sk-ab")  # shorter than what is visible


@given(
    value=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789", min_size=12),
    head=st.integers(min_value=0, max_value=8),
    tail=st.integers(min_value=2, max_value=4),
)
def test_any_key_matches_its_own_redaction(value: str, head: int, tail: int) -> None:
    assert matches_redacted(f"{value[:head]}...{value[-tail:]}", value)


# -- secrets never leak -------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_or_logs(
    openai_org: OpenAIOrg,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    project = openai_org.add_project()
    user_key = openai_org.add_user_key(project)
    _, account_key = openai_org.add_service_account(project)
    exposed_admin = openai_org.add_admin_key()
    responder, store, own = org_with_admin(openai_org)
    planted = [
        key(KIND_PROJECT_KEY, openai_org.keys[user_key].value),
        key(KIND_SERVICE_ACCOUNT_KEY, openai_org.keys[account_key].value),
        key(KIND_ADMIN_KEY, exposed_admin.value),
        key(KIND_ADMIN_KEY, own),
        key(KIND_PROJECT_KEY, new_key("sk-proj-")),  # already dead
    ]
    openai_org.fail("DELETE", r".*/api_keys/.*", 429, {"Retry-After": "0"})

    outcomes: list[Any] = [o for _, o in responder.revoke_all(planted)]
    outcomes += [o for _, o in responder.revoke_all(planted[:1])]
    outcomes += [responder.rotate(c, store) for c in planted]
    outcomes += [responder.verify_revoked(c) for c in planted]
    outcomes += [responder.plan(planted), responder.preflight()]
    stored = list(memory_keyring.store.values())
    assert len(stored) >= 3  # new service account key, replaced own and exposed admin keys
    assert any(isinstance(o, Rotated) for o in outcomes)

    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    said += "\n".join(str(getattr(o, "facts", "")) for o in outcomes if isinstance(o, Outcome))
    for value in [*(c.secret.reveal() for c in planted if c.secret), own, *stored]:
        assert value not in said


# -- ambiguous answers: a 401 is not always a dead key --------------------------------------------


def test_a_live_restricted_key_answering_401_for_a_missing_scope_is_not_dead(
    openai_org: OpenAIOrg,
) -> None:
    """OpenAI answers GET /models with 401 "Missing scopes: api.model.read" to a live
    restricted key: no invalid_api_key code, so no proof. It used to be VerifiedDead."""
    project = openai_org.add_project()
    restricted = openai_org.add_user_key(project, scopes=("api.responses.write",))
    cred = key(KIND_PROJECT_KEY, openai_org.keys[restricted].value)
    responder, _, _ = org_with_admin(openai_org, projects=[project])

    outcome = responder.verify_revoked(cred)

    assert isinstance(outcome, Unproven), outcome
    assert outcome.facts["http_status"] == 401 and "invalid_api_key" in outcome.reason
    assert cred.fingerprint in outcome.check and outcome.url.startswith("https://platform")
    assert restricted in openai_org.keys  # it is alive


def test_a_restricted_key_missing_from_every_listing_is_not_already_revoked(
    openai_org: OpenAIOrg,
) -> None:
    project, hidden = openai_org.add_project(), openai_org.add_project()
    restricted = openai_org.add_user_key(hidden, scopes=("api.responses.write",))
    cred = key(KIND_PROJECT_KEY, openai_org.keys[restricted].value)
    responder, _, _ = org_with_admin(openai_org, projects=[project])  # cannot see `hidden`

    ((_, outcome),) = responder.revoke_all([cred])

    assert isinstance(outcome, Unproven), outcome
    assert "no listing" in outcome.reason


def test_a_key_openai_rejects_as_invalid_and_no_longer_lists_is_proven_dead(
    openai_org: OpenAIOrg,
) -> None:
    project = openai_org.add_project()
    doomed = openai_org.add_user_key(project, scopes=("api.responses.write",))
    cred = key(KIND_PROJECT_KEY, openai_org.keys[doomed].value)
    responder, _, _ = org_with_admin(openai_org, projects=[project])

    assert isinstance(responder.revoke_all([cred])[0][1], Revoked)
    outcome = responder.verify_revoked(cred)

    assert isinstance(outcome, VerifiedDead), outcome
    assert outcome.facts["rejected_with"] == "invalid_api_key"
    assert outcome.facts["record"] == "gone"
    assert openai_org.requests("GET", rf"/organization/projects/{project}/api_keys/{doomed}")


def test_listings_are_read_to_the_end_not_50_pages(
    openai_org: OpenAIOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    import responders.openai as module

    monkeypatch.setattr(module, "_PAGE_SIZE", 2)
    project = openai_org.add_project()
    for _ in range(104):  # 52 pages of 2: the key is on the 52nd
        openai_org.add_user_key(project)
    last = list(openai_org.keys)[-1]
    responder, _, _ = org_with_admin(openai_org, projects=[project])

    ((_, outcome),) = responder.revoke_all([key(KIND_PROJECT_KEY, openai_org.keys[last].value)])

    assert isinstance(outcome, Revoked), outcome
    assert last not in openai_org.keys
    assert len(openai_org.requests("GET", rf"/organization/projects/{project}/api_keys")) == 52


def test_a_listing_that_repeats_its_cursor_is_an_incomplete_listing(
    openai_org: OpenAIOrg,
) -> None:
    import json

    from werkzeug import Response

    project = openai_org.add_project()
    cred = key(KIND_PROJECT_KEY, openai_org.keys[openai_org.add_user_key(project)].value)
    responder, _, _ = org_with_admin(openai_org, projects=[project])
    stuck = {"object": "list", "data": [], "first_id": "key_x", "last_id": "key_x",
             "has_more": True}
    assert openai_org.contract is not None
    openai_org.contract.fail(
        "GET", rf"/organization/projects/{project}/api_keys",
        lambda: Response(json.dumps(stuck), 200, content_type="application/json"), 5,
    )

    ((_, outcome),) = responder.revoke_all([cred])

    assert isinstance(outcome, Failed) and "incomplete listing" in outcome.error, outcome
    assert not openai_org.requests("DELETE", ".*")


# -- service-account rotation keeps the account's role, scopes and sibling keys -----------------


def test_rotation_beside_sibling_keys_keeps_them_and_the_account(
    openai_org: OpenAIOrg, memory_keyring: Any
) -> None:
    project = openai_org.add_project()
    account, old = openai_org.add_service_account(project, role="owner")
    sibling = openai_org.add_account_key(account, name="billing-job")
    responder, store, _ = org_with_admin(
        openai_org, projects=[project],
        service_account_scopes={account: ["api.responses.write"]},
    )

    outcome = responder.rotate(key(KIND_SERVICE_ACCOUNT_KEY, openai_org.keys[old].value), store)

    assert isinstance(outcome, ManualRequired), outcome
    assert old in outcome.instructions and "1 other key" in outcome.instructions
    assert account in openai_org.accounts and sibling in openai_org.keys  # nothing killed
    new = [k for k in openai_org.keys.values() if k.account == account
           and k.key_id not in (old, sibling)]
    assert len(new) == 1 and new[0].scopes == ("api.responses.write",)
    stored = memory_keyring.store[("clawback", f"openai/{project}/{account}")]
    assert stored == new[0].value


def test_rotation_of_an_accounts_only_key_carries_its_role_and_scopes(
    openai_org: OpenAIOrg, memory_keyring: Any
) -> None:
    project = openai_org.add_project()
    account, old = openai_org.add_service_account(project, name="agent-bot", role="owner")
    responder, store, _ = org_with_admin(
        openai_org, projects=[project], service_account_scopes={"agent-bot": ["api.model.read"]},
    )

    outcome = responder.rotate(key(KIND_SERVICE_ACCOUNT_KEY, openai_org.keys[old].value), store)

    assert isinstance(outcome, Rotated), outcome
    new_account = outcome.facts["new_service_account_id"]
    assert account not in openai_org.accounts
    assert openai_org.roles[new_account] == "owner"  # was "member" before: the role was lost
    (new,) = [k for k in openai_org.keys.values() if k.account == new_account]
    assert new.scopes == ("api.model.read",)
