"""The Cloudflare responder against a loopback server that checks every request against
Cloudflare's own description (openapi-core) and answers like Cloudflare's token API."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from clawback_demo.providers.cloudflare import ACCOUNT_ID, CloudflareAccount, Token, envelope
from responders.cloudflare import TOKENS_URL, CloudflareResponder
from responders.interface import (
    AlreadyRevoked,
    Credential,
    Disabled,
    Failed,
    Location,
    ManualRequired,
    Planned,
    ResponderContext,
    Revoked,
    Rotated,
    Unproven,
    VerifiedDead,
    fingerprint,
)
from tests.contract_server import ContractServer
from tests.keys.standins import refused_url
from tests.providers_ops.contract_variants import cloudflare_account_as_user, cloudflare_variant

ADMIN = "cf-admin-token-planted-000000000000000000"
ENVIRON = {"CF_ADMIN": ADMIN}


def cred(token: Token | str, kind: str = "cloudflare:api_token") -> Credential:
    value = token.value if isinstance(token, Token) else token
    return Credential.from_secret(
        "cloudflare", kind, value, [Location("/srv/agent/workspace/.env", "CLOUDFLARE_API_TOKEN")]
    )


def make(base_url: str, **config: Any) -> tuple[CloudflareResponder, KeyringSecretStore]:
    store = KeyringSecretStore(environ=ENVIRON)
    settings = {
        "base_url": base_url,
        "token": "env:CF_ADMIN",
        "timeout_seconds": 2,
        "connect_timeout_seconds": 1,
        **config,
    }
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return CloudflareResponder(context), store


@pytest.fixture
def cloudflare(cloudflare_contract: ContractServer) -> CloudflareAccount:
    """The demo's Cloudflare stand-in, every request checked by the contract server."""
    account = CloudflareAccount(admin=ADMIN)
    cloudflare_contract.serve(account.answer)
    return account


def calls(contract: ContractServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in contract.requests]


def test_the_entry_point_names_the_responder() -> None:
    assert load_registry().responder_for_provider("cloudflare") is CloudflareResponder


def test_the_contract_still_rejects_what_cloudflare_would(httpserver: HTTPServer) -> None:
    import httpx

    contract = ContractServer(
        httpserver,
        "cloudflare.json",
        adapt_spec=cloudflare_variant,
        adapt_request=cloudflare_account_as_user,
    )
    contract.answer("PUT", "/user/tokens/.*", lambda r: envelope({}))
    contract.answer("DELETE", "/user/tokens/.*", lambda r: envelope({}))
    path = f"/user/tokens/{'a' * 32}"
    with httpx.Client(base_url=contract.url, headers={"Authorization": "Bearer x"}) as client:
        client.put(path, json={"name": "n", "policies": [], "status": "paused"})
        client.request("DELETE", path)  # no body: the description requires one
        client.put(path, json={"name": "n", "status": "disabled"})  # no policies
        documented = {"name": "n", "policies": Token("x", "y").policies, "status": "disabled"}
        accepted = client.put(path, json=documented)
    assert len(contract.violations) == 3 and accepted.status_code == 200


# -- revoke ---------------------------------------------------------------------------------------


def test_a_token_is_found_by_its_value_and_disabled(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer
) -> None:
    token = cloudflare.add_token()
    responder, _ = make(cloudflare_contract.url)

    outcome = responder.revoke(cred(token))

    assert isinstance(outcome, Disabled), outcome
    assert outcome.facts["token_id"] == token.token_id and token.status == "disabled"
    assert calls(cloudflare_contract) == [
        "GET /user/tokens/verify",
        f"GET /user/tokens/{token.token_id}",
        f"PUT /user/tokens/{token.token_id}",
    ]
    verify, details, update = cloudflare_contract.requests
    assert verify.headers["Authorization"] == f"Bearer {token.value}"
    assert details.headers["Authorization"] == f"Bearer {ADMIN}"
    body = update.get_json()
    assert body["status"] == "disabled" and body["policies"] == Token("x", "y").policies
    assert body["condition"] == {"request_ip": {"in": ["192.0.2.0/24"]}} and "id" not in body


def test_a_rejected_or_disabled_token_is_already_revoked(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer
) -> None:
    responder, _ = make(cloudflare_contract.url)
    gone = responder.revoke(cred("cfut_" + "x" * 48))  # a user token, by its own prefix
    assert isinstance(gone, AlreadyRevoked) and gone.facts["checked_with"] == [
        "GET /user/tokens/verify → 401"
    ]
    disabled = responder.revoke(cred(cloudflare.add_token(status="disabled")))
    assert isinstance(disabled, AlreadyRevoked) and disabled.facts["status"] == "disabled"
    assert all(r.path == "/user/tokens/verify" for r in cloudflare_contract.requests)


def test_a_verify_refusal_is_never_taken_for_a_dead_token(
    cloudflare_contract: ContractServer,
) -> None:
    cloudflare_contract.answer(
        "GET",
        "/user/tokens/verify",
        lambda r: envelope(None, 403, [{"code": 9109, "message": "Unauthorized"}]),
    )
    responder, _ = make(cloudflare_contract.url)
    token = cred("a" * 40)
    for outcome in (responder.revoke(token), responder.verify_revoked(token)):
        assert isinstance(outcome, Failed) and not outcome.retryable
        assert "set account_id" in outcome.error


def test_delete_when_configured_is_idempotent(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer
) -> None:
    token = cloudflare.add_token()
    responder, store = make(cloudflare_contract.url, revoke_action="delete")
    outcome = responder.revoke(cred(token))
    assert isinstance(outcome, Revoked) and token.token_id not in cloudflare.tokens
    assert cloudflare_contract.requests[-1].get_json() == {}
    assert isinstance(responder.revoke(cred(token)), AlreadyRevoked)  # the re-run
    manual = responder.rotate(cred(token), store)
    assert isinstance(manual, ManualRequired) and "Create Token" in manual.instructions


def test_a_token_deleted_meanwhile_is_already_revoked(cloudflare_contract: ContractServer) -> None:
    token_id = "b" * 32
    cloudflare_contract.answer(
        "GET", "/user/tokens/verify", lambda r: envelope({"id": token_id, "status": "active"})
    )
    cloudflare_contract.answer(
        "DELETE",
        f"/user/tokens/{token_id}",
        lambda r: envelope(None, 404, [{"code": 1003, "message": "x"}]),
    )
    responder, _ = make(cloudflare_contract.url, revoke_action="delete")
    outcome = responder.revoke(cred("m" * 40))
    assert isinstance(outcome, AlreadyRevoked) and outcome.facts["token_id"] == token_id


def test_a_forbidden_update_names_the_missing_permission(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer
) -> None:
    cloudflare.forbid.add("PUT")
    responder, _ = make(cloudflare_contract.url)
    outcome = responder.revoke(cred(cloudflare.add_token()))
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "API Tokens Write" in outcome.error and "9109" in outcome.error


def test_a_rejected_admin_token_is_named(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer
) -> None:
    cloudflare.admin = "another-admin-token"
    responder, _ = make(cloudflare_contract.url)
    outcome = responder.revoke(cred(cloudflare.add_token()))
    assert isinstance(outcome, Failed) and "rejected the admin token (401)" in outcome.error


@pytest.mark.parametrize(
    ("response", "retry_after"),
    [
        (Response("", status=429, headers={"Retry-After": "17"}), 17),
        (Response("", status=500), None),
        (Response("", status=503), None),
    ],
)
def test_rate_limits_and_server_errors_are_retryable(
    cloudflare_contract: ContractServer, response: Response, retry_after: float | None
) -> None:
    cloudflare_contract.answer("GET", "/user/tokens/verify", lambda r: response)
    responder, _ = make(cloudflare_contract.url)
    outcome = responder.revoke(cred("v" * 40))
    assert isinstance(outcome, Failed) and outcome.retryable
    assert outcome.retry_after == retry_after


def test_hangs_and_refusals_are_retryable(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return envelope(None)

    httpserver.expect_request("/user/tokens/verify").respond_with_handler(hang)
    started = time.monotonic()
    try:
        hung, _ = make(httpserver.url_for("/").rstrip("/"), timeout_seconds=0.3)
        outcome = hung.revoke(cred("h" * 40))
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert isinstance(outcome, Failed) and outcome.retryable

    outcome = make(refused_url())[0].revoke(cred("r" * 40))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


def test_account_owned_tokens_use_the_account_paths(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer
) -> None:
    owned = cloudflare.add_token(account=True, prefix="cfat_")
    responder, _ = make(cloudflare_contract.url, account_id=ACCOUNT_ID)
    outcome = responder.revoke(cred(owned))
    assert isinstance(outcome, Disabled) and outcome.facts["owner"] == "account"
    prefix = f"/accounts/{ACCOUNT_ID}/tokens"
    assert all(r.path.startswith(prefix) for r in cloudflare_contract.requests)

    # A token without the prefix is tried as a user token first, then as an account token.
    plain = cloudflare.add_token(account=True, prefix="")
    cloudflare_contract.requests.clear()
    assert isinstance(responder.revoke(cred(plain)), Disabled)
    assert calls(cloudflare_contract)[:2] == [
        "GET /user/tokens/verify",
        f"GET /accounts/{ACCOUNT_ID}/tokens/verify",
    ]

    unconfigured, _ = make(cloudflare_contract.url)
    refused = unconfigured.revoke(cred(cloudflare.add_token(account=True, prefix="cfat_")))
    assert isinstance(refused, Failed) and "set account_id" in refused.error


def test_the_global_api_key_is_a_manual_step(httpserver: HTTPServer) -> None:
    responder, store = make(httpserver.url_for("/"))
    key = cred("0123456789abcdef0123456789abcdef01234", kind="cloudflare:global_api_key")
    for outcome in (responder.revoke(key), responder.rotate(key, store)):
        assert isinstance(outcome, ManualRequired) and outcome.url == TOKENS_URL
        assert "Global API Key" in outcome.instructions and key.fingerprint in outcome.instructions
    assert httpserver.log == []


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder, _ = make(httpserver.url_for("/"), account_id=ACCOUNT_ID)
    planned = [p for _, p in responder.plan([cred("p" * 40), cred("cfat_" + "q" * 40)])]
    assert all(isinstance(p, Planned) and p.action == "disable" for p in planned)
    assert planned[0].commands[0] == "GET /user/tokens/verify (with the token itself: its id)"
    assert planned[1].commands[0].startswith(f"GET /accounts/{ACCOUNT_ID}/tokens/verify")
    assert httpserver.log == []


def test_bad_config_is_reported_not_raised() -> None:
    responder = CloudflareResponder(ResponderContext(config={"token": ADMIN}))
    outcome = responder.revoke(cred("b" * 40))
    assert isinstance(outcome, Failed) and "must be a reference" in outcome.error
    assert ADMIN not in outcome.error


# -- rotate ---------------------------------------------------------------------------------------


def test_rotation_rolls_stores_first_reenables_and_tests(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer, memory_keyring: Any
) -> None:
    token = cloudflare.add_token()
    old = cred(token)
    responder, store = make(cloudflare_contract.url)
    assert isinstance(responder.revoke(old), Disabled)
    keyring_at: list[tuple[str, set[str]]] = []
    # Looks at the keyring as each request arrives, and answers nothing itself.
    cloudflare_contract.intercept = lambda request: keyring_at.append(
        (f"{request.method} {request.path}", set(memory_keyring.store.values()))
    )

    outcome = responder.rotate(old, store)

    assert isinstance(outcome, Rotated), outcome
    assert outcome.facts["reactivated"] is True and token.status == "active"
    assert store.resolve(outcome.new_reference).reveal() == token.value
    assert outcome.new_fingerprint == fingerprint(token.value) != old.fingerprint
    roll = next(i for i, (call, _) in enumerate(keyring_at) if call.endswith("/value"))
    assert token.value in keyring_at[roll + 1][1]  # stored before the next call went out
    assert [call for call, _ in keyring_at[roll:]] == [
        f"PUT /user/tokens/{token.token_id}/value",
        f"GET /user/tokens/{token.token_id}",
        f"PUT /user/tokens/{token.token_id}",
        "GET /user/tokens/verify",
    ]
    test_call = cloudflare_contract.requests[-1]
    assert test_call.headers["Authorization"] == f"Bearer {token.value}"
    assert isinstance(responder.verify_revoked(old), VerifiedDead)


def test_a_drill_rolls_without_revoking_first(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer, memory_keyring: Any
) -> None:
    token = cloudflare.add_token()
    old = cred(token)
    responder, store = make(cloudflare_contract.url, revoke_action="delete")
    outcome = responder.rotate(old, store)
    assert isinstance(outcome, Rotated) and "reactivated" not in outcome.facts
    assert token.status == "active" and store.resolve(outcome.new_reference).reveal() == token.value
    assert isinstance(responder.verify_revoked(old), VerifiedDead)


def test_a_rolled_value_that_cannot_be_stored_leaves_the_token_disabled(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer, refusing_keyring: Any
) -> None:
    token = cloudflare.add_token()
    responder, store = make(cloudflare_contract.url)
    outcome = responder.rotate(cred(token), store)
    assert isinstance(outcome, Failed) and "keyring is not usable" in outcome.error
    assert outcome.facts["token_disabled"] is True and token.status == "disabled"
    assert "was disabled" in outcome.error


def test_rotation_can_leave_the_token_disabled(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer, memory_keyring: Any
) -> None:
    token = cloudflare.add_token()
    responder, store = make(cloudflare_contract.url, reactivate_after_roll=False)
    responder.revoke(cred(token))
    outcome = responder.rotate(cred(token), store)
    assert isinstance(outcome, Rotated) and token.status == "disabled"
    assert store.resolve(outcome.new_reference).reveal() == token.value


# -- verify and preflight -------------------------------------------------------------------------


def test_verify_reports_what_cloudflare_answers(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer
) -> None:
    responder, _ = make(cloudflare_contract.url)
    live = cloudflare.add_token()
    still = responder.verify_revoked(cred(live))
    assert isinstance(still, Failed) and "still accepts" in still.error
    disabled = cred(cloudflare.add_token(status="disabled"))
    assert isinstance(responder.verify_revoked(disabled), VerifiedDead)
    dead = responder.verify_revoked(cred("cfut_" + "d" * 48))
    assert isinstance(dead, VerifiedDead) and "rejects" in dead.detail
    # Revoked in this run: Cloudflare's record of the token is read as well.
    doomed = cloudflare.add_token()
    assert isinstance(responder.revoke(cred(doomed)), Disabled)
    doomed.value = "cfut_" + "r" * 48  # Cloudflare no longer takes the old value
    proven = responder.verify_revoked(cred(doomed.value))
    assert isinstance(proven, VerifiedDead)


def test_an_account_token_rejected_by_the_user_endpoint_is_not_dead(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer
) -> None:
    """/user/tokens/verify answers 401 code 1000 to a live account-owned token: without
    account_id that is no proof (it used to be AlreadyRevoked / VerifiedDead)."""
    live = cloudflare.add_token(account=True, prefix="")  # made before the scannable prefixes
    responder, _ = make(cloudflare_contract.url)

    outcome = responder.revoke(cred(live))
    check = responder.verify_revoked(cred(live))

    for result in (outcome, check):
        assert isinstance(result, Unproven), result
        assert "account_id" in result.check and "code 1000" in result.reason
    assert live.status == "active"
    # With account_id, the account endpoint finds it: disabled, then proven dead.
    configured, _ = make(cloudflare_contract.url, account_id=ACCOUNT_ID)
    assert isinstance(configured.revoke(cred(live)), Disabled)
    assert isinstance(configured.verify_revoked(cred(live)), VerifiedDead)


def test_preflight_proves_the_admin_token_and_names_what_is_missing(
    cloudflare: CloudflareAccount, cloudflare_contract: ContractServer
) -> None:
    cloudflare.tokens["f" * 32] = Token("f" * 32, ADMIN)  # the admin token is a token too
    responder, _ = make(cloudflare_contract.url, account_id=ACCOUNT_ID)
    checks = {c.capability: c for c in responder.preflight()}
    assert list(checks) == ["admin token", "user tokens", "account tokens"]
    assert all(c.ok for c in checks.values()), checks
    cloudflare.forbid.add("GET")
    checks = {c.capability: c for c in responder.preflight()}
    assert checks["admin token"].ok
    assert not checks["user tokens"].ok
    assert checks["user tokens"].missing_permission == "API Tokens Read"


# -- secrets never leak ---------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_or_logs(
    cloudflare: CloudflareAccount,
    cloudflare_contract: ContractServer,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = [cloudflare.add_token(), cloudflare.add_token(),
               cloudflare.add_token(account=True, prefix="cfat_")]
    old_values = [t.value for t in planted]
    creds = [cred(t) for t in planted]
    responder, store = make(cloudflare_contract.url, account_id=ACCOUNT_ID)
    outcomes: list[Any] = [o for _, o in responder.revoke_all(creds)]
    outcomes += [responder.verify_revoked(c) for c in creds]
    outcomes += [responder.rotate(c, store) for c in creds]
    outcomes += [p for _, p in responder.plan(creds)]
    outcomes += responder.preflight()
    assert sum(isinstance(o, Rotated) for o in outcomes) == 3
    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    said += json.dumps([dict(o.facts) for o in outcomes if hasattr(o, "facts")])
    for value in [*old_values, *(t.value for t in planted), ADMIN]:
        assert value not in said
