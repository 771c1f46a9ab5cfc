"""The Twilio responder against a loopback server that checks every request against Twilio's
own descriptions (openapi-core) and answers like Twilio's Key and AuthTokens resources."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from responders.interface import (
    AgentProof,
    AlreadyRevoked,
    Credential,
    Failed,
    Location,
    ManualRequired,
    Planned,
    ResponderContext,
    Revoked,
    Rotated,
    Unproven,
    VerifiedDead,
)
from responders.twilio import TwilioResponder
from tests.contract_server import ContractServer
from tests.keys.standins import refused_url
from tests.providers_new.twilio.twilio_standin import Key, TwilioAccount, error

ENV = "/srv/agent/.openclaw/.env"


def key_cred(key: Key, account: TwilioAccount | None = None) -> Credential:
    return Credential.from_secret(
        "twilio", "twilio:api_key_secret", key.secret, [Location(ENV, "TWILIO_API_SECRET")],
        key_id=key.sid, account=account.sid if account else None,
    )


def token_cred(value: str, account: TwilioAccount | str) -> Credential:
    return Credential.from_secret(
        "twilio", "twilio:auth_token", value, [Location(ENV, "TWILIO_AUTH_TOKEN")],
        account=account if isinstance(account, str) else account.sid,
    )


def make(
    url: str, account: TwilioAccount | str, admin: Key | None = None, store: Any = None,
    **config: Any,
) -> tuple[TwilioResponder, KeyringSecretStore]:
    store = store or KeyringSecretStore(environ={"TWILIO_ADMIN": admin.secret if admin else ""})
    settings: dict[str, Any] = {
        "base_url": url, "accounts_url": url,
        "account_sid": account if isinstance(account, str) else account.sid,
        "timeout_seconds": 2, "connect_timeout_seconds": 1, **config,
    }
    if admin is not None:
        settings.update(admin_key_id=admin.sid, admin_secret="env:TWILIO_ADMIN")
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return TwilioResponder(context), store


def calls(contract: ContractServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in contract.requests]


def test_the_entry_point_names_the_responder() -> None:
    assert load_registry().responder_for_provider("twilio") is TwilioResponder


def test_the_contract_still_rejects_what_twilio_would(twilio_contract: ContractServer) -> None:
    import httpx

    twilio_contract.answer("POST", "/.*", lambda r: Response(status=201))
    twilio_contract.answer("DELETE", "/.*", lambda r: Response(status=204))
    base = f"/2010-04-01/Accounts/AC{'0' * 32}"
    with httpx.Client(base_url=twilio_contract.url) as client:
        client.delete(f"{base}/Keys/SK{'1' * 32}.json")  # no credentials
        authed = {"Authorization": "Basic eDp5"}
        client.delete(f"{base}/Keys/AK{'1' * 32}.json", headers=authed)  # not an SK SID
        client.post(f"{base}/Keys.json", json={"FriendlyName": "x"}, headers=authed)  # JSON
        fine = client.post(f"{base}/Keys.json", data={"FriendlyName": "x"}, headers=authed)
        client.post("/v1/AuthTokens/Secondary", headers=authed)
    assert len(twilio_contract.violations) == 3, twilio_contract.violations
    assert fine.status_code == 201
    twilio_contract.violations.clear()


# -- API keys -------------------------------------------------------------------------------------


def test_an_api_key_is_deleted_then_proven_dead(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer
) -> None:
    key = account.add_key()
    responder, _ = make(twilio_contract.url, account, admin)

    outcome = responder.revoke(key_cred(key))

    assert isinstance(outcome, Revoked), outcome
    assert key.sid not in account.keys and admin.sid in account.keys
    assert calls(twilio_contract) == [f"DELETE /2010-04-01/Accounts/{account.sid}/Keys/"
                                      f"{key.sid}.json"]
    assert isinstance(responder.revoke(key_cred(key)), AlreadyRevoked)  # the re-run
    proof = responder.verify_revoked(key_cred(key))
    assert isinstance(proof, VerifiedDead), proof
    assert proof.facts["checked_with"] == [
        "GET …/Balance.json with the key → 401",
        f"GET /2010-04-01/Accounts/{account.sid}/Keys/{key.sid}.json → 404",
    ]


def test_a_live_key_is_never_verified_dead(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer
) -> None:
    responder, _ = make(twilio_contract.url, account, admin)
    still = responder.verify_revoked(key_cred(account.add_key()))
    assert isinstance(still, Failed) and still.retryable and "still accepts" in still.error
    restricted = account.add_key("restricted")  # 70051 on Balance: alive, but no permission
    listed = responder.verify_revoked(key_cred(restricted))
    assert isinstance(listed, Failed) and "still lists" in listed.error


def test_a_key_of_another_account_or_region_is_unproven(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer
) -> None:
    """Twilio answers 20003 and does not list a key of another Region or account: exactly what
    a deleted key gets. Nothing this run did is behind it, so it is never dead."""
    elsewhere = Key("SK" + "e" * 32, "x" * 32)  # lives in another Region
    responder, _ = make(twilio_contract.url, account, admin)
    for outcome in (responder.revoke(key_cred(elsewhere)),
                    responder.verify_revoked(key_cred(elsewhere))):
        assert isinstance(outcome, Unproven), outcome
        assert "Region" in outcome.reason and elsewhere.sid in outcome.check
    # A fresh process after another run deleted it knows no more: still not proven.
    key = account.add_key()
    assert isinstance(responder.revoke(key_cred(key)), Revoked)
    later, _ = make(twilio_contract.url, account, admin)
    assert isinstance(later.verify_revoked(key_cred(key)), Unproven)


def test_an_unknown_key_code_other_than_20003_is_unproven(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer
) -> None:
    account.unknown_key_code = 70051  # "the API key is not found or is suspended"
    key = account.add_key()
    responder, _ = make(twilio_contract.url, account, admin)
    assert isinstance(responder.revoke(key_cred(key)), Revoked)
    outcome = responder.verify_revoked(key_cred(key))
    assert isinstance(outcome, Unproven) and "not its invalid-credentials error" in outcome.reason


def test_a_key_twilio_accepts_but_the_account_does_not_list_is_a_failure(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer
) -> None:
    parent = Key("SK" + "d" * 32, "p" * 32)
    account.parent_keys[parent.sid] = parent
    responder, _ = make(twilio_contract.url, account, admin)
    outcome = responder.revoke(key_cred(parent))
    assert isinstance(outcome, Failed) and not outcome.retryable, outcome
    assert "another account" in outcome.error and "account_sid" in outcome.error


def test_a_standard_admin_key_is_told_to_be_a_main_key(
    account: TwilioAccount, twilio_contract: ContractServer
) -> None:
    standard = account.add_key("standard")
    key = account.add_key()
    responder, _ = make(twilio_contract.url, account, standard)
    outcome = responder.revoke(key_cred(key))
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "70051" in outcome.error and "Main API key" in outcome.error
    assert key.sid in account.keys


def test_clawbacks_own_admin_key_is_not_deleted(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer
) -> None:
    responder, _ = make(twilio_contract.url, account, admin)
    outcome = responder.revoke(key_cred(admin))
    assert isinstance(outcome, Failed) and "clawback itself uses" in outcome.error
    assert admin.sid in account.keys and twilio_contract.requests == []


def test_a_key_without_its_sid_is_a_manual_step(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer
) -> None:
    responder, store = make(twilio_contract.url, account, admin)
    bare = Credential.from_secret("twilio", "twilio:api_key_secret", "s" * 32,
                                  [Location(ENV, "TWILIO_API_SECRET")])
    for outcome in (responder.revoke(bare), responder.rotate(bare, store)):
        assert isinstance(outcome, ManualRequired) and ENV in outcome.instructions
    assert twilio_contract.requests == []


@pytest.mark.parametrize(
    ("response", "retry_after"),
    [
        (error(20429, 429, "Too Many Requests"), None),
        (Response("", status=429, headers={"Retry-After": "9"}), 9),
        (Response("", status=500), None),
        (Response("", status=503), None),
    ],
)
def test_rate_limits_and_server_errors_are_retryable(
    twilio_contract: ContractServer, response: Response, retry_after: float | None
) -> None:
    twilio_contract.answer("DELETE", ".*", lambda r: response)
    twilio_contract.answer("POST", ".*", lambda r: response)
    account = "AC" + "a" * 32
    responder, _ = make(twilio_contract.url, account, Key("SK" + "a" * 32, "admin-secret"))
    key = key_cred(Key("SK" + "b" * 32, "k" * 32))
    token = token_cred("c" * 16 + "d" * 16, account)
    for outcome in (responder.revoke(key), responder.revoke(token)):
        assert isinstance(outcome, Failed) and outcome.retryable, outcome
        assert outcome.retry_after == retry_after


def test_an_unreachable_twilio_is_retryable(account: TwilioAccount, admin: Key) -> None:
    responder, _ = make(refused_url(), account, admin)
    outcome = responder.revoke(key_cred(account.add_key()))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


# -- rotation -------------------------------------------------------------------------------------


def test_a_drill_stores_the_new_key_before_the_old_one_is_deleted(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer, memory_keyring: Any
) -> None:
    old = account.add_key()
    responder, store = make(twilio_contract.url, account, admin)
    seen: list[tuple[str, set[str]]] = []
    account.observe = lambda r: seen.append((f"{r.method} {r.path}",
                                             set(memory_keyring.store.values())))

    outcome = responder.rotate(key_cred(old), store)

    assert isinstance(outcome, Rotated), outcome
    new_sid = outcome.facts["new_key_sid"]
    new = account.keys[new_sid]
    assert old.sid not in account.keys
    assert store.resolve(outcome.new_reference).reveal() == new.secret
    assert "Standard" in outcome.facts["key_type"]
    base = f"/2010-04-01/Accounts/{account.sid}"
    assert [c for c, _ in seen] == [
        f"POST {base}/Keys.json", f"GET {base}/Balance.json", f"DELETE {base}/Keys/{old.sid}.json",
    ]
    assert new.secret in seen[-1][1]  # stored before the old key was deleted
    assert isinstance(responder.verify_revoked(key_cred(old)), VerifiedDead)


def test_contain_rotation_after_revoke_only_creates(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer, memory_keyring: Any
) -> None:
    old = account.add_key()
    responder, store = make(twilio_contract.url, account, admin)
    assert isinstance(responder.revoke(key_cred(old)), Revoked)
    twilio_contract.requests.clear()
    outcome = responder.rotate(key_cred(old), store)
    assert isinstance(outcome, Rotated)
    assert [r.method for r in twilio_contract.requests] == ["POST", "GET"]
    assert responder.rotate(key_cred(old), store) == outcome  # a retry makes no second key
    assert len(account.keys) == 2  # the admin and the one replacement


def test_the_old_key_stays_until_the_agent_uses_the_new_one(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer, memory_keyring: Any
) -> None:
    class AgentNotYetSwitched(KeyringSecretStore):
        asked: ClassVar[int] = 0

        def await_agent(self, *, last_used: Any = None) -> AgentProof:
            return AgentProof(False, "the agent was not reloaded")

    old = account.add_key()
    responder, _ = make(twilio_contract.url, account, admin)
    outcome = responder.rotate(key_cred(old), AgentNotYetSwitched())
    assert isinstance(outcome, Failed) and f"the old API key {old.sid} stays" in outcome.error
    assert old.sid in account.keys and outcome.facts["new_key_sid"] in account.keys


def test_a_new_key_that_cannot_be_stored_is_deleted_again(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer, refusing_keyring: Any
) -> None:
    old = account.add_key()
    responder, store = make(twilio_contract.url, account, admin)
    outcome = responder.rotate(key_cred(old), store)
    assert isinstance(outcome, Failed) and "deleted again" in outcome.error
    assert set(account.keys) == {admin.sid, old.sid}


# -- the Auth Token -------------------------------------------------------------------------------


def test_the_auth_token_is_replaced_by_promotion_and_proven_dead(
    account: TwilioAccount, twilio_contract: ContractServer, memory_keyring: Any
) -> None:
    old = account.auth_token
    account.secondary = "a1" * 16  # made by whoever holds the exposed token
    responder, store = make(twilio_contract.url, account)  # no admin: the token acts itself

    outcome = responder.revoke(token_cred(old, account))

    assert isinstance(outcome, Revoked), outcome
    assert account.auth_token != old and account.secondary is None and account.promotions == 1
    assert outcome.facts["earlier_secondary"] == "deleted"
    assert calls(twilio_contract) == [
        "DELETE /v1/AuthTokens/Secondary", "POST /v1/AuthTokens/Secondary",
        f"GET /2010-04-01/Accounts/{account.sid}/Balance.json", "POST /v1/AuthTokens/Promote",
    ]
    proof = responder.verify_revoked(token_cred(old, account))
    assert isinstance(proof, VerifiedDead), proof
    rotated = responder.rotate(token_cred(old, account), store)
    assert isinstance(rotated, Rotated), rotated
    assert store.resolve(rotated.new_reference).reveal() == account.auth_token
    assert isinstance(responder.revoke(token_cred(old, account)), AlreadyRevoked)


def test_a_promotion_whose_answer_was_lost_is_recognised_on_the_retry(
    account: TwilioAccount, twilio_contract: ContractServer
) -> None:
    old = account.auth_token
    account.lose_next_promotion_answer = True
    responder, _ = make(twilio_contract.url, account)
    first = responder.revoke(token_cred(old, account))
    assert isinstance(first, Failed) and first.retryable
    again = responder.revoke(token_cred(old, account))
    assert isinstance(again, Revoked) and again.facts["answer_lost"] is True, again
    assert isinstance(responder.verify_revoked(token_cred(old, account)), VerifiedDead)


def test_a_rejected_auth_token_is_unproven_not_dead(
    account: TwilioAccount, twilio_contract: ContractServer
) -> None:
    """20003 from the start: rotated already, or another account's or subaccount's token."""
    responder, _ = make(twilio_contract.url, account)
    other = token_cred("0f" * 16, account)
    for outcome in (responder.revoke(other), responder.verify_revoked(other)):
        assert isinstance(outcome, Unproven), outcome
        assert "20003" in outcome.reason and "last 4 characters" in outcome.check
    assert account.promotions == 0


def test_a_drill_promotes_only_after_the_new_token_is_stored(
    account: TwilioAccount, twilio_contract: ContractServer, memory_keyring: Any
) -> None:
    old = account.auth_token
    responder, store = make(twilio_contract.url, account)
    seen: list[tuple[str, set[str]]] = []
    account.observe = lambda r: seen.append((f"{r.method} {r.path}",
                                             set(memory_keyring.store.values())))
    outcome = responder.rotate(token_cred(old, account), store)
    assert isinstance(outcome, Rotated), outcome
    assert seen[-1][0] == "POST /v1/AuthTokens/Promote" and account.auth_token in seen[-1][1]
    assert store.resolve(outcome.new_reference).reveal() == account.auth_token != old
    assert isinstance(responder.verify_revoked(token_cred(old, account)), VerifiedDead)


def test_a_drill_does_not_promote_before_the_agent_has_the_new_token(
    account: TwilioAccount, twilio_contract: ContractServer, memory_keyring: Any
) -> None:
    class AgentNotYetSwitched(KeyringSecretStore):
        def await_agent(self, *, last_used: Any = None) -> AgentProof:
            return AgentProof(False, "no health check")

    old = account.auth_token
    responder, _ = make(twilio_contract.url, account)
    outcome = responder.rotate(token_cred(old, account), AgentNotYetSwitched())
    assert isinstance(outcome, Failed) and "stays primary" in outcome.error
    assert account.auth_token == old and account.secondary is not None


# -- plan, preflight, secrets ---------------------------------------------------------------------


def test_plan_sends_no_request(account: TwilioAccount, admin: Key, httpserver: HTTPServer) -> None:
    responder, _ = make(httpserver.url_for("/"), account, admin)
    key = account.add_key()
    planned = [p for _, p in responder.plan([key_cred(key), token_cred("ab" * 16, account)])]
    assert all(isinstance(p, Planned) for p in planned)
    assert planned[0].commands == (
        f"DELETE /2010-04-01/Accounts/{account.sid}/Keys/{key.sid}.json",)
    assert planned[1].commands[-1] == "POST /v1/AuthTokens/Promote (the old token dies)"
    assert httpserver.log == []


def test_bad_config_is_reported_not_raised() -> None:
    secret = "0123456789abcdef0123456789abcdef"
    for config, words in (
        ({"admin_key_id": "SK" + "1" * 32, "admin_secret": secret}, "must be a reference"),
        ({"account_sid": "AC123"}, "account_sid"),
        ({"admin_key_id": "SK" + "1" * 32}, "go together"),
    ):
        responder = TwilioResponder(ResponderContext(config=config))
        outcome = responder.revoke(token_cred("ab" * 16, "AC" + "0" * 32))
        assert isinstance(outcome, Failed) and words in outcome.error, outcome
        assert secret not in outcome.error


def test_preflight_names_the_missing_permission(
    account: TwilioAccount, admin: Key, twilio_contract: ContractServer
) -> None:
    responder, _ = make(twilio_contract.url, account, admin)
    checks = {c.capability: c for c in responder.preflight()}
    assert list(checks) == ["admin credential", "api keys"] and all(
        c.ok for c in checks.values()), checks
    weak, _ = make(twilio_contract.url, account, account.add_key("standard"))
    checks = {c.capability: c for c in weak.preflight()}
    assert checks["admin credential"].ok and not checks["api keys"].ok
    assert "Main API key" in checks["api keys"].missing_permission
    assert all(r.method == "GET" for r in twilio_contract.requests)


def test_no_secret_value_in_outcomes_or_logs(
    account: TwilioAccount,
    admin: Key,
    twilio_contract: ContractServer,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    keys = [account.add_key(), account.add_key()]
    token = account.auth_token
    creds = [*(key_cred(k) for k in keys), token_cred(token, account)]
    responder, store = make(twilio_contract.url, account, admin)
    outcomes: list[Any] = [o for _, o in responder.revoke_all(creds)]
    outcomes += [responder.verify_revoked(c) for c in creds]
    outcomes += [responder.rotate(c, store) for c in creds]
    outcomes += [p for _, p in responder.plan(creds)]
    outcomes += responder.preflight()
    assert sum(isinstance(o, Rotated) for o in outcomes) == 3, outcomes
    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    said += json.dumps([dict(o.facts) for o in outcomes if hasattr(o, "facts")])
    new = [k.secret for k in account.keys.values()]
    for value in [*(k.secret for k in keys), token, account.auth_token, admin.secret, *new]:
        assert value not in said
