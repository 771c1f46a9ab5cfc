"""The Slack responder against Prism serving Slack's description, and loopback servers that check
requests against the same description for the answers Prism cannot give."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from responders.interface import (
    AlreadyRevoked,
    Credential,
    Failed,
    Location,
    ManualRequired,
    Outcome,
    Planned,
    ResponderContext,
    Revoked,
    Rotated,
    Skipped,
    Unproven,
    VerifiedDead,
    fingerprint,
)
from responders.slack import APPS_URL, SlackResponder
from tests.contract_server import ContractServer
from tests.keys.standins import PrismServer, refused_url
from tests.providers_ops.conftest import prism_requests
from tests.providers_ops.contract_variants import SLACK_ROTATED_ACCESS

CLIENT_SECRET = "slack-client-secret-planted-0123456789"
STORED_REFRESH = "xoxe-1-stored-refresh-planted-" + "r" * 20
ENVIRON = {"SLACK_CLIENT_SECRET": CLIENT_SECRET, "SLACK_REFRESH": STORED_REFRESH}
APP = {"client_id": "123.456", "client_secret": "env:SLACK_CLIENT_SECRET"}


def token(prefix: str) -> str:
    return prefix + secrets.token_hex(20)


def cred(kind: str, value: str) -> Credential:
    return Credential.from_secret(
        "slack", kind, value, [Location("/home/agent/.openclaw/channels.d/slack.json5", "botToken")]
    )


def make(base_url: str, **config: Any) -> tuple[SlackResponder, KeyringSecretStore]:
    store = KeyringSecretStore(environ=ENVIRON)
    settings = {"base_url": base_url, "timeout_seconds": 2, "connect_timeout_seconds": 1, **config}
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return SlackResponder(context), store


REVOKED = {"ok": True, "revoked": True}


def refusal(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def slack_json(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


# -- the stand-ins check what they are sent -------------------------------------------------------


def test_prism_rejects_what_slack_would_reject(slack_prism: PrismServer) -> None:
    import httpx

    mark = slack_prism.mark()
    with httpx.Client(base_url=slack_prism.url, timeout=5) as client:
        unauthenticated = client.get("/auth.revoke")
        wrong_grant = client.post(
            "/oauth.v2.access",
            data={"client_id": "1", "client_secret": "s", "grant_type": "code"},
        )
    assert unauthenticated.status_code == 401
    assert wrong_grant.status_code == 422
    assert len(slack_prism.problems_since(mark)) >= 1


# -- revoke ---------------------------------------------------------------------------------------


def test_the_entry_point_names_the_responder() -> None:
    assert load_registry().responder_for_provider("slack") is SlackResponder


def test_bot_and_user_tokens_are_revoked_with_themselves(slack_prism_checked: PrismServer) -> None:
    mark = slack_prism_checked.mark()
    responder, _ = make(slack_prism_checked.url)
    creds = [cred("slack:bot_token", token("xoxb-")), cred("slack:user_token", token("xoxp-"))]

    outcomes = [o for _, o in responder.revoke_all(creds)]

    assert all(isinstance(o, Revoked) for o in outcomes), outcomes
    assert outcomes[0].facts == {"endpoint": "auth.revoke", "http_status": 200, "revoked": True}
    assert prism_requests(slack_prism_checked, mark, "post /auth.revoke") == 2


def test_the_token_travels_only_in_the_authorization_header(
    slack_contract: ContractServer,
) -> None:
    slack_contract.answer("POST", "/auth.revoke", lambda r: slack_json(REVOKED))
    value = token("xoxb-")
    responder, _ = make(slack_contract.url)

    outcome = responder.revoke(cred("slack:bot_token", value))

    assert isinstance(outcome, Revoked)
    (request,) = slack_contract.requests
    assert request.headers["Authorization"] == f"Bearer {value}"
    assert value not in request.full_path and "token" not in request.args


@pytest.mark.parametrize("error", ["token_revoked", "account_inactive"])
def test_a_dead_token_is_already_revoked(slack_contract: ContractServer, error: str) -> None:
    slack_contract.answer("POST", "/auth.revoke", lambda r: slack_json(refusal(error)))
    responder, _ = make(slack_contract.url)
    outcome = responder.revoke(cred("slack:bot_token", token("xoxb-")))
    assert isinstance(outcome, AlreadyRevoked) and outcome.facts["slack_error"] == error


def test_a_refusal_names_what_is_missing(slack_contract: ContractServer) -> None:
    slack_contract.answer(
        "POST",
        "/auth.revoke",
        lambda r: slack_json({"ok": False, "error": "missing_scope", "needed": "tokens.basic"}),
    )
    responder, _ = make(slack_contract.url)
    outcome = responder.revoke(cred("slack:user_token", token("xoxp-")))
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "missing_scope" in outcome.error and "tokens.basic scope" in outcome.error


def test_a_rate_limit_is_retryable_after_what_slack_asks(slack_contract: ContractServer) -> None:
    slack_contract.answer(
        "POST",
        "/auth.revoke",
        lambda r: slack_json({"ok": False, "error": "ratelimited"}, 429, **{"Retry-After": "30"}),
    )
    responder, _ = make(slack_contract.url)
    outcome = responder.revoke(cred("slack:bot_token", token("xoxb-")))
    assert isinstance(outcome, Failed) and outcome.retryable and outcome.retry_after == 30


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, {}), (503, {}), (200, {"ok": False, "error": "fatal_error"})],
)
def test_server_trouble_is_retryable(
    slack_contract: ContractServer, status: int, body: dict[str, Any]
) -> None:
    slack_contract.answer("POST", "/auth.revoke", lambda r: slack_json(body, status))
    responder, _ = make(slack_contract.url)
    outcome = responder.revoke(cred("slack:bot_token", token("xoxb-")))
    assert isinstance(outcome, Failed) and outcome.retryable and outcome.retry_after is None


def test_hangs_and_refusals_are_retryable(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return slack_json({"ok": True, "revoked": True})

    httpserver.expect_request("/auth.revoke").respond_with_handler(hang)
    started = time.monotonic()
    try:
        hung, _ = make(httpserver.url_for("/").rstrip("/"), timeout_seconds=0.3)
        outcome = hung.revoke(cred("slack:bot_token", token("xoxb-")))
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert isinstance(outcome, Failed) and outcome.retryable and "in time" in outcome.error

    refused, _ = make(refused_url())
    outcome = refused.revoke(cred("slack:bot_token", token("xoxb-")))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


@pytest.mark.parametrize(
    ("kind", "value", "clicks"),
    [
        ("slack:app_token", "xapp-1-A0123456789-1234567890123-" + "a" * 64, "App-Level Tokens"),
        ("slack:signing_secret", "0123456789abcdef" * 2, "Signing Secret and click Regenerate"),
    ],
)
def test_secrets_without_an_api_are_exact_manual_steps(
    httpserver: HTTPServer, kind: str, value: str, clicks: str
) -> None:
    responder, store = make(httpserver.url_for("/"))
    target = cred(kind, value)
    for outcome in (responder.revoke(target), responder.rotate(target, store)):
        assert isinstance(outcome, ManualRequired) and outcome.url == APPS_URL
        assert clicks in outcome.instructions and target.fingerprint in outcome.instructions
        assert value not in outcome.instructions
    assert httpserver.log == []


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder, _ = make(httpserver.url_for("/"), apps=[APP])
    creds = [
        cred("slack:bot_token", token("xoxb-")),
        cred("slack:refresh_token", token("xoxe-1-")),
        cred("slack:signing_secret", "f" * 32),
    ]
    planned = [p for _, p in responder.plan(creds)]
    assert all(isinstance(p, Planned) for p in planned)
    assert planned[0].commands == ("POST auth.revoke (authorized by the token itself)",)
    assert planned[1].action == "rotate" and "123.456" in planned[1].commands[0]
    assert planned[2].action == "manual"
    assert httpserver.log == []


def test_bad_config_is_reported_not_raised() -> None:
    responder = SlackResponder(
        ResponderContext(config={"apps": [{"client_id": "1.2", "client_secret": CLIENT_SECRET}]})
    )
    outcome = responder.revoke(cred("slack:refresh_token", token("xoxe-1-")))
    assert isinstance(outcome, Failed) and "must be a reference" in outcome.error
    assert CLIENT_SECRET not in outcome.error


# -- token rotation -------------------------------------------------------------------------------


def test_a_leaked_refresh_token_is_exchanged_and_the_new_pair_stored(
    slack_prism_checked: PrismServer, memory_keyring: Any
) -> None:
    mark = slack_prism_checked.mark()
    responder, store = make(slack_prism_checked.url, apps=[APP])
    leaked = cred("slack:refresh_token", token("xoxe-1-"))

    outcome = responder.revoke(leaked)

    assert isinstance(outcome, Rotated), outcome
    assert store.resolve(outcome.new_reference).reveal() == SLACK_ROTATED_ACCESS["access_token"]
    refresh = store.resolve(outcome.facts["refresh_reference"]).reveal()
    assert refresh == SLACK_ROTATED_ACCESS["refresh_token"]
    # The engine asks for a rotation afterwards: the token must not be exchanged twice.
    again = responder.rotate(leaked, store)
    assert isinstance(again, Skipped) and outcome.new_reference in again.reason
    assert isinstance(responder.verify_revoked(leaked), Skipped)
    assert prism_requests(slack_prism_checked, mark, "post /oauth.v2.access") == 1


def test_the_exchange_sends_the_documented_form(
    slack_contract: ContractServer, memory_keyring: Any
) -> None:
    slack_contract.answer("POST", "/oauth.v2.access", lambda r: slack_json(SLACK_ROTATED_ACCESS))
    value = token("xoxe-1-")
    responder, _ = make(slack_contract.url, apps=[APP], store_name="slack-test/{target}")

    outcome = responder.revoke(cred("slack:refresh_token", value))

    assert isinstance(outcome, Rotated)
    assert outcome.new_reference == "keyring:clawback/slack-test/apps/123.456/access_token"
    (request,) = slack_contract.requests
    assert request.form.to_dict() == {
        "client_id": "123.456",
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": value,
    }
    assert "Authorization" not in request.headers


def test_a_refresh_token_no_app_accepts_was_exchanged_by_someone(
    slack_contract: ContractServer,
) -> None:
    """invalid_refresh_token from every app: it was exchanged already (Slack revokes a refresh
    token once used), so a live successor exists; it used to be AlreadyRevoked."""
    slack_contract.answer(
        "POST",
        "/oauth.v2.access",
        lambda r: slack_json({"ok": False, "error": "invalid_refresh_token"}),
    )
    second = {"client_id": "789.012", "client_secret": "env:SLACK_CLIENT_SECRET"}
    responder, _ = make(slack_contract.url, apps=[APP, second])
    outcome = responder.revoke(cred("slack:refresh_token", token("xoxe-1-")))
    assert isinstance(outcome, ManualRequired), outcome
    assert outcome.facts["apps"] == ["123.456", "789.012"]
    assert outcome.facts["successor"] == "live, not revoked"
    assert "Client Secret" in outcome.instructions and "exchanged" in outcome.instructions
    assert len(slack_contract.requests) == 2


def test_a_wrong_client_secret_is_named(slack_contract: ContractServer) -> None:
    slack_contract.answer(
        "POST", "/oauth.v2.access", lambda r: slack_json(refusal("bad_client_secret"))
    )
    responder, _ = make(slack_contract.url, apps=[APP])
    outcome = responder.revoke(cred("slack:refresh_token", token("xoxe-1-")))
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "client_id and client_secret" in outcome.error


def test_a_refresh_token_without_a_configured_app_is_a_manual_step(httpserver: HTTPServer) -> None:
    responder, _ = make(httpserver.url_for("/"))
    outcome = responder.revoke(cred("slack:refresh_token", token("xoxe-1-")))
    assert isinstance(outcome, ManualRequired) and "Client Secret" in outcome.instructions
    assert httpserver.log == []


def test_a_rotating_token_is_replaced_then_retired(
    slack_prism_checked: PrismServer, memory_keyring: Any
) -> None:
    mark = slack_prism_checked.mark()
    responder, _ = make(
        slack_prism_checked.url, apps=[{**APP, "refresh_token": "env:SLACK_REFRESH"}]
    )
    # The drill hands rotate() its own store (one that also switches the agent over).
    drill_store = KeyringSecretStore(service="clawback-drill", environ=ENVIRON)

    outcome = responder.rotate(cred("slack:bot_token", token("xoxe.xoxb-1-")), drill_store)

    assert isinstance(outcome, Rotated), outcome
    assert outcome.new_reference.startswith("keyring:clawback-drill/")
    assert outcome.facts["old_token"] == "revoked" and outcome.facts["stage"] == "finish"
    assert outcome.new_fingerprint == fingerprint(SLACK_ROTATED_ACCESS["access_token"])
    assert prism_requests(slack_prism_checked, mark, "post /oauth.v2.access") == 1
    assert prism_requests(slack_prism_checked, mark, "post /auth.revoke") == 1  # the old token
    assert prism_requests(slack_prism_checked, mark, "post /auth.test") == 2  # the new, twice


def test_a_retirement_that_also_ends_the_new_token_is_reported(
    slack_contract: ContractServer, memory_keyring: Any
) -> None:
    revoked: list[str] = []

    def auth_test(request: Request) -> Response:
        return slack_json(
            refusal("token_revoked")
            if revoked
            else {
                "ok": True,
                "url": "u",
                "team": "t",
                "user": "u",
                "team_id": "T1",
                "user_id": "U1",
            }
        )

    def auth_revoke(request: Request) -> Response:
        revoked.append(request.headers["Authorization"])
        return slack_json(REVOKED)

    slack_contract.answer("POST", "/oauth.v2.access", lambda r: slack_json(SLACK_ROTATED_ACCESS))
    slack_contract.answer("POST", "/auth.test", auth_test)
    slack_contract.answer("POST", "/auth.revoke", auth_revoke)
    responder, store = make(
        slack_contract.url, apps=[{**APP, "refresh_token": "env:SLACK_REFRESH"}]
    )
    old = token("xoxe.xoxp-1-")

    outcome = responder.rotate(cred("slack:user_token", old), store)

    assert isinstance(outcome, Failed) and "reinstall the app" in outcome.error
    assert revoked == [f"Bearer {old}"]


def test_classic_tokens_need_a_reinstall(httpserver: HTTPServer) -> None:
    responder, store = make(httpserver.url_for("/"), apps=[{**APP, "refresh_token": "env:X"}])
    outcome = responder.rotate(cred("slack:bot_token", token("xoxb-")), store)
    assert isinstance(outcome, ManualRequired) and "Reinstall to Workspace" in outcome.instructions
    assert httpserver.log == []


def test_new_tokens_that_cannot_be_stored_are_revoked(
    slack_contract: ContractServer, refusing_keyring: Any
) -> None:
    slack_contract.answer("POST", "/oauth.v2.access", lambda r: slack_json(SLACK_ROTATED_ACCESS))
    slack_contract.answer("POST", "/auth.revoke", lambda r: slack_json(REVOKED))
    responder, _ = make(slack_contract.url, apps=[APP])

    outcome = responder.revoke(cred("slack:refresh_token", token("xoxe-1-")))

    assert isinstance(outcome, Failed) and "keyring is not usable" in outcome.error
    assert "was revoked" in outcome.error and outcome.facts["stage"] == "store"
    revoke = slack_contract.requests[-1]
    assert revoke.headers["Authorization"] == f"Bearer {SLACK_ROTATED_ACCESS['access_token']}"


# -- verify ---------------------------------------------------------------------------------------


def test_invalid_auth_from_an_ip_allow_list_is_not_dead(slack_contract: ContractServer) -> None:
    """Slack documents invalid_auth as "the provided token is invalid or the request originates
    from an IP address disallowed": a live token of an allow-listed app gets it. It used to be
    AlreadyRevoked at revoke and VerifiedDead at verify."""
    allow_listed = refusal("invalid_auth")
    for method in ("/auth.revoke", "/auth.test"):
        slack_contract.answer("POST", method, lambda r: slack_json(allow_listed))
    responder, _ = make(slack_contract.url)
    live = cred("slack:bot_token", token("xoxb-"))

    for outcome in (responder.revoke(live), responder.verify_revoked(live)):
        assert isinstance(outcome, Unproven), outcome
        assert outcome.facts["slack_error"] == "invalid_auth"
        assert "Restrict API Token Usage" in outcome.check and "IP" in outcome.reason


def test_verify_is_true_when_slack_rejects_the_old_token(slack_contract: ContractServer) -> None:
    slack_contract.answer(
        "POST", "/auth.test", lambda r: slack_json({"ok": False, "error": "token_revoked"})
    )
    responder, _ = make(slack_contract.url)
    outcome = responder.verify_revoked(cred("slack:bot_token", token("xoxb-")))
    assert isinstance(outcome, VerifiedDead) and outcome.facts["slack_error"] == "token_revoked"


def test_verify_is_false_while_slack_accepts_the_token(slack_prism_checked: PrismServer) -> None:
    responder, _ = make(slack_prism_checked.url)
    outcome = responder.verify_revoked(cred("slack:user_token", token("xoxp-")))
    assert isinstance(outcome, Failed) and "still accepts" in outcome.error


def test_preflight_resolves_every_app_reference() -> None:
    good, _ = make("http://127.0.0.1:9", apps=[APP])
    assert [c.ok for c in good.preflight()] == [True]
    bad, _ = make("http://127.0.0.1:9", apps=[{**APP, "refresh_token": "env:NOT_SET"}])
    (check,) = bad.preflight()
    assert not check.ok and check.missing_permission == "refresh_token"


# -- secrets never leak ---------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_or_logs(
    slack_prism_checked: PrismServer,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = [
        cred("slack:bot_token", token("xoxb-")),
        cred("slack:user_token", token("xoxp-")),
        cred("slack:bot_token", token("xoxe.xoxb-1-")),
        cred("slack:refresh_token", token("xoxe-1-")),
        cred("slack:app_token", token("xapp-1-A0123456789-1234567890123-")),
        cred("slack:signing_secret", secrets.token_hex(16)),
    ]
    responder, store = make(
        slack_prism_checked.url, apps=[{**APP, "refresh_token": "env:SLACK_REFRESH"}]
    )
    outcomes: list[Any] = [o for _, o in responder.revoke_all(planted)]
    outcomes += [responder.verify_revoked(c) for c in planted]
    outcomes += [responder.rotate(c, store) for c in planted]
    outcomes += [p for _, p in responder.plan(planted)]
    outcomes += responder.preflight()
    stored = list(memory_keyring.store.values())
    assert len(stored) == 2  # the exchanged pair

    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    for value in [
        *(c.secret.reveal() for c in planted if c.secret),
        CLIENT_SECRET,
        STORED_REFRESH,
        *stored,
    ]:
        assert value not in said
    assert any(isinstance(o, Outcome) and o.succeeded for o in outcomes)
