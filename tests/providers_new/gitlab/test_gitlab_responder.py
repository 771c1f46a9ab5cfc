"""The GitLab responder against loopback GitLab instances whose every request is checked against
GitLab's own OpenAPI description (tests/contracts/gitlab.json)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from responders.gitlab import SELF as API_SELF
from responders.gitlab import GitLabResponder
from responders.interface import (
    AlreadyRevoked,
    Credential,
    Failed,
    Location,
    ManualRequired,
    Planned,
    ResponderContext,
    Revoked,
    Rotated,
    Skipped,
    Unproven,
    VerifiedDead,
)
from tests.keys.standins import RefusingKeyring, refused_url
from tests.providers_new.gitlab.gitlab_standin import SELF, GitLabInstance, Token, token_value


def cred(value: str, kind: str = "gitlab:pat") -> Credential:
    return Credential.from_secret(
        "gitlab", kind, value, [Location("/home/agent/.openclaw/.env", "GITLAB_TOKEN")]
    )


def make(base_url: str, **config: Any) -> tuple[GitLabResponder, KeyringSecretStore]:
    store = KeyringSecretStore(environ={})
    settings = {"base_url": base_url, "timeout_seconds": 2, "connect_timeout_seconds": 1,
                **config}
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return GitLabResponder(context), store


def paths(gitlab: GitLabInstance) -> list[str]:
    return [f"{r.method} {r.path}" for r in gitlab.contract.requests]


# -- the stand-in checks what it is sent ----------------------------------------------------------


def test_the_contract_refuses_what_gitlab_does_not_offer(gitlab: GitLabInstance) -> None:
    import httpx

    with httpx.Client(base_url=gitlab.contract.url, timeout=5) as client:
        wrong_method = client.put(SELF)
        wrong_body = client.post(f"{SELF}/rotate", json={"expires_at": 20270101})
    assert wrong_method.status_code == 422 and wrong_body.status_code == 422
    assert len(gitlab.contract.violations) == 2
    gitlab.contract.violations.clear()


def test_the_entry_point_names_the_responder() -> None:
    assert load_registry().responder_for_provider("gitlab") is GitLabResponder


# -- revoke and verify ----------------------------------------------------------------------------


def test_a_token_revokes_itself_and_is_proven_dead(gitlab: GitLabInstance) -> None:
    token = gitlab.add()
    responder, _ = make(gitlab.api_url)
    target = cred(token.value)

    revoked = responder.revoke(target)
    dead = responder.verify_revoked(target)

    assert isinstance(revoked, Revoked), revoked
    assert token.state == "revoked"
    assert revoked.facts["token_id"] == str(token.token_id)
    assert revoked.facts["scopes"] == ["read_api", "read_repository"]
    assert isinstance(dead, VerifiedDead), dead
    assert dead.facts["record"] == "revoked"
    assert paths(gitlab) == [f"GET {SELF}", f"DELETE {SELF}", f"GET {SELF}"]
    for request in gitlab.contract.requests:
        assert request.headers["PRIVATE-TOKEN"] == token.value
        assert token.value not in request.full_path


@pytest.mark.parametrize(("state", "record"), [("revoked", "revoked"), ("expired", "expired")])
def test_gitlabs_record_of_a_dead_token_is_already_revoked(
    gitlab: GitLabInstance, state: str, record: str
) -> None:
    token = gitlab.add(state=state)
    responder, _ = make(gitlab.api_url)
    outcome = responder.revoke(cred(token.value))
    assert isinstance(outcome, AlreadyRevoked), outcome
    assert outcome.facts["record"] == record
    assert paths(gitlab) == [f"GET {SELF}"]  # nothing left to delete
    assert isinstance(responder.verify_revoked(cred(token.value)), VerifiedDead)


def test_a_token_no_instance_knows_is_unproven_never_dead(gitlab: GitLabInstance) -> None:
    # A live token of a self-managed instance clawback was not told about: GitLab.com answers
    # it exactly as it answers a token it never issued.
    elsewhere = token_value()
    responder, _ = make(gitlab.api_url)
    for outcome in (responder.revoke(cred(elsewhere)), responder.verify_revoked(cred(elsewhere))):
        assert isinstance(outcome, Unproven), outcome
        assert "base_url" in outcome.check and "401" in outcome.reason
        assert elsewhere not in outcome.reason + outcome.check


def test_other_instances_are_asked_in_turn(instances: Callable[[], GitLabInstance]) -> None:
    dot_com, self_managed = instances(), instances()
    token = self_managed.add()
    responder, _ = make(dot_com.api_url, other_base_urls=[self_managed.api_url])
    target = cred(token.value)

    outcome = responder.revoke(target)

    assert isinstance(outcome, Revoked) and outcome.facts["instance"] == self_managed.api_url
    assert token.state == "revoked"
    assert isinstance(responder.verify_revoked(target), VerifiedDead)
    assert paths(dot_com) == [f"GET {SELF}"]  # verify asks where the token lives


def test_an_impersonation_token_with_impersonation_disabled_is_unproven(
    gitlab: GitLabInstance,
) -> None:
    token = gitlab.add(impersonation_disabled=True)
    responder, _ = make(gitlab.api_url)
    for outcome in (responder.revoke(cred(token.value)),
                    responder.verify_revoked(cred(token.value))):
        assert isinstance(outcome, Unproven), outcome
        assert "Impersonation tokens" in outcome.check
    assert token.state == "active"


def test_a_blocked_users_token_is_advice_and_not_proven_dead(gitlab: GitLabInstance) -> None:
    token = gitlab.add(user_blocked=True)
    responder, _ = make(gitlab.api_url)
    revoked = responder.revoke(cred(token.value))
    assert isinstance(revoked, Failed) and not revoked.retryable
    assert "blocked" in revoked.error and "administrator" in revoked.error
    checked = responder.verify_revoked(cred(token.value))
    assert isinstance(checked, Unproven) and "Admin → Users" in checked.check


def test_before_15_4_a_token_without_api_scope_cannot_revoke_itself(
    gitlab: GitLabInstance,
) -> None:
    gitlab.legacy_api_scope_only = True
    token = gitlab.add(scopes=("read_repository",))
    responder, _ = make(gitlab.api_url)
    outcome = responder.revoke(cred(token.value))
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "insufficient_scope" in outcome.error and "api scope" in outcome.error
    assert "/-/user_settings/personal_access_tokens" in outcome.error


def test_a_rate_limit_is_retryable_after_what_gitlab_asks(gitlab: GitLabInstance) -> None:
    token = gitlab.add()
    gitlab.faults.append(("DELETE", 429, {"message": "Retry later"}, {"Retry-After": "40"}))
    responder, _ = make(gitlab.api_url)
    outcome = responder.revoke(cred(token.value))
    assert isinstance(outcome, Failed) and outcome.retryable and outcome.retry_after == 40
    assert token.state == "active"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_trouble_is_retryable(gitlab: GitLabInstance, status: int) -> None:
    token = gitlab.add()
    gitlab.faults.append(("GET", status, {"message": "boom"}, {}))
    responder, _ = make(gitlab.api_url)
    outcome = responder.revoke(cred(token.value))
    assert isinstance(outcome, Failed) and outcome.retryable, outcome


def test_a_live_token_is_never_verified_dead(gitlab: GitLabInstance) -> None:
    token = gitlab.add()
    responder, _ = make(gitlab.api_url)
    outcome = responder.verify_revoked(cred(token.value))
    assert isinstance(outcome, Failed) and outcome.retryable and "still accepts" in outcome.error


def test_hangs_and_refusals_are_retryable(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return Response(status=204)

    httpserver.expect_request(f"{SELF}").respond_with_handler(hang)
    started = time.monotonic()
    try:
        hung, _ = make(httpserver.url_for("/api/v4"), timeout_seconds=0.3)
        outcome = hung.revoke(cred(token_value()))
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert isinstance(outcome, Failed) and outcome.retryable and "in time" in outcome.error

    refused, _ = make(refused_url() + "/api/v4")
    outcome = refused.revoke(cred(token_value()))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


# -- rotation -------------------------------------------------------------------------------------


def test_rotation_stores_the_new_token_first_and_the_old_one_is_dead(
    gitlab: GitLabInstance, memory_keyring: Any
) -> None:
    token = gitlab.add(scopes=("api",))
    responder, store = make(gitlab.api_url, expires_in_days=30)
    seen_in_keyring: list[bool] = []
    gitlab.observe = lambda request: seen_in_keyring.append(bool(memory_keyring.store))

    outcome = responder.rotate(cred(token.value), store)

    assert isinstance(outcome, Rotated), outcome
    new_value = store.resolve(outcome.new_reference).reveal()
    successor = gitlab.tokens[new_value]
    assert successor.state == "active" and successor.scopes == ("api",)
    assert outcome.new_fingerprint == cred(new_value).fingerprint
    assert token.state == "revoked"
    # The test GET with the new token came after it was in the keyring.
    assert paths(gitlab) == [f"POST {SELF}/rotate", f"GET {SELF}"]
    assert seen_in_keyring == [False, True]
    assert gitlab.contract.requests[0].get_json()["expires_at"] > "2026"
    assert isinstance(responder.verify_revoked(cred(token.value)), VerifiedDead)


def test_a_token_without_a_rotation_scope_names_the_scopes(gitlab: GitLabInstance) -> None:
    token = gitlab.add(scopes=("read_repository",))
    responder, store = make(gitlab.api_url)
    outcome = responder.rotate(cred(token.value), store)
    assert isinstance(outcome, ManualRequired), outcome
    assert "api, self_rotate" in outcome.instructions
    assert token.state == "active"


def test_a_store_that_fails_leaves_no_live_new_token(
    gitlab: GitLabInstance, refusing_keyring: RefusingKeyring
) -> None:
    token = gitlab.add(scopes=("self_rotate", "read_api"))
    responder, store = make(gitlab.api_url)
    outcome = responder.rotate(cred(token.value), store)
    assert isinstance(outcome, Failed) and outcome.facts["new_token_revoked"] is True
    assert all(t.state == "revoked" for t in gitlab.tokens.values())


def test_a_token_revoked_in_this_run_is_replaced_by_hand(gitlab: GitLabInstance) -> None:
    token = gitlab.add(name="ci bot", scopes=("read_api", "write_repository"))
    responder, store = make(gitlab.api_url)
    assert isinstance(responder.revoke(cred(token.value)), Revoked)
    sent = len(gitlab.contract.requests)

    outcome = responder.rotate(cred(token.value), store)

    assert isinstance(outcome, ManualRequired)
    assert "'ci bot'" in outcome.instructions and "read_api, write_repository" in (
        outcome.instructions)
    assert len(gitlab.contract.requests) == sent  # a revoked token is never rotated


# -- what has no API, plans, preflight ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "place"),
    [("gldt-" + "Ab3d" * 5, "Deploy tokens"), ("glrt-" + "Zy9x" * 5, "Runners"),
     ("glptt-" + "0f" * 20, "Pipeline trigger tokens"), ("glft-" + "Qw3e" * 5, "Feed token")],
)
def test_gitlab_secrets_without_a_self_revocation_are_exact_manual_steps(
    gitlab: GitLabInstance, value: str, place: str
) -> None:
    responder, store = make(gitlab.api_url)
    target = cred(value, "gitlab:token")
    for outcome in (responder.revoke(target), responder.rotate(target, store)):
        assert isinstance(outcome, ManualRequired), outcome
        assert place in outcome.instructions and target.fingerprint in outcome.instructions
        assert value not in outcome.instructions
    assert isinstance(responder.verify_revoked(target), Skipped)
    assert gitlab.contract.requests == []


def test_plan_sends_no_request(instances: Callable[[], GitLabInstance]) -> None:
    one, two = instances(), instances()
    responder, _ = make(one.api_url, other_base_urls=[two.api_url])
    planned = [o for _, o in responder.plan([cred(token_value()), cred("gldt-" + "a1B2" * 5)])]
    assert isinstance(planned[0], Planned)
    asks = " (with the token itself: which instance knows it)"
    assert planned[0].commands[:2] == (f"GET {one.api_url}{API_SELF}{asks}",
                                       f"GET {two.api_url}{API_SELF}{asks}")
    assert isinstance(planned[1], ManualRequired)
    assert one.contract.requests == [] and two.contract.requests == []


def test_preflight_lists_what_contain_needs(
    gitlab: GitLabInstance, httpserver: HTTPServer
) -> None:
    responder, _ = make(gitlab.api_url)
    (check,) = responder.preflight()
    assert check.ok and "any scope" in check.detail and "api or self_rotate" in check.detail
    httpserver.expect_request(f"{SELF}").respond_with_data("<html>not GitLab</html>")
    wrong, _ = make(httpserver.url_for("/api/v4"))
    (check,) = wrong.preflight()
    assert not check.ok and "base_url" in check.detail


@pytest.mark.parametrize(
    ("config", "problem"),
    [({"base_url": "gitlab.example.com"}, "http(s) URL"),
     ({"other_base_urls": ["ftp://x"]}, "http(s) URL"),
     ({"expires_in_days": 0}, "between 1 and 400"),
     ({"token": "env:X"}, "token")],
)
def test_bad_config_is_reported_not_raised(config: dict[str, Any], problem: str) -> None:
    responder = GitLabResponder(ResponderContext(config=config))
    outcome = responder.revoke(cred(token_value()))
    assert isinstance(outcome, Failed) and problem in outcome.error


def test_no_secret_value_in_outcomes_or_logs(
    gitlab: GitLabInstance, memory_keyring: Any, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    planted: list[Token] = [gitlab.add(scopes=("api",)), gitlab.add(), gitlab.add(state="expired")]
    responder, store = make(gitlab.api_url)
    outcomes: list[Any] = [responder.rotate(cred(planted[0].value), store)]
    outcomes += [o for _, o in responder.revoke_all([cred(t.value) for t in planted[1:]])]
    outcomes += [responder.verify_revoked(cred(t.value)) for t in planted]
    outcomes += [responder.revoke(cred(token_value()))]
    text = repr(outcomes) + caplog.text + "".join(capsys.readouterr())
    for value in [*(t.value for t in planted), *(v for v in gitlab.tokens)]:
        assert value not in text
