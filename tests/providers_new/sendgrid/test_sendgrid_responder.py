"""The SendGrid responder against a loopback SendGrid whose every request is checked against
SendGrid's own OpenAPI description (tests/contracts/sendgrid.json)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
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
    Unproven,
    VerifiedDead,
)
from responders.kit import secret_patterns as sp
from responders.sendgrid import SendGridResponder
from tests.keys.standins import RefusingKeyring, refused_url
from tests.providers_new.sendgrid.sendgrid_standin import Key, SendGrid, key_value


def cred(value: str) -> Credential:
    return Credential.from_secret(
        "sendgrid", "sendgrid:api_key", value,
        [Location("/home/agent/.openclaw/.env", "SENDGRID_API_KEY")],
    )


def make(sendgrid: SendGrid | str, *, admin: bool = True, **config: Any
         ) -> tuple[SendGridResponder, KeyringSecretStore]:
    url = sendgrid if isinstance(sendgrid, str) else sendgrid.contract.url
    environ = {} if isinstance(sendgrid, str) else {"SENDGRID_ADMIN": sendgrid.admin.value}
    store = KeyringSecretStore(environ=environ)
    settings = {"base_url": url, "timeout_seconds": 2, "connect_timeout_seconds": 1,
                **({"api_key": "env:SENDGRID_ADMIN"} if admin else {}), **config}
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return SendGridResponder(context), store


def sent(sendgrid: SendGrid) -> list[str]:
    return [f"{r.method} {r.path}" + (f" @{r.headers['on-behalf-of']}"
                                      if r.headers.get("on-behalf-of") else "")
            for r in sendgrid.contract.requests]


def test_the_contract_refuses_what_sendgrid_would(sendgrid: SendGrid) -> None:
    import httpx

    with httpx.Client(base_url=sendgrid.contract.url, timeout=5) as client:
        nameless = client.post("/v3/api_keys", json={"scopes": ["mail.send"]},
                               headers={"Authorization": f"Bearer {sendgrid.admin.value}"})
    assert nameless.status_code == 422 and len(sendgrid.contract.violations) == 1
    sendgrid.contract.violations.clear()


def test_the_entry_point_and_the_key_id_in_the_value() -> None:
    assert load_registry().responder_for_provider("sendgrid") is SendGridResponder
    key_id, value = key_value()
    found = sp.recognize_value(value)
    assert found is not None and (found.provider, found.key_id) == ("sendgrid", key_id)


# -- revoke and verify ----------------------------------------------------------------------------


def test_a_key_is_deleted_by_its_id_and_proven_dead(sendgrid: SendGrid) -> None:
    key = sendgrid.add()
    responder, _ = make(sendgrid)
    revoked = responder.revoke(cred(key.value))
    dead = responder.verify_revoked(cred(key.value))
    assert isinstance(revoked, Revoked), revoked
    assert revoked.facts["scopes"] == ["mail.send", "2fa_required"]
    assert isinstance(dead, VerifiedDead), dead
    assert dead.facts["record"] == "gone"
    assert key.value not in sendgrid.keys
    assert sent(sendgrid) == [f"GET /v3/api_keys/{key.key_id}", f"DELETE /v3/api_keys/{key.key_id}",
                              "GET /v3/scopes", f"GET /v3/api_keys/{key.key_id}"]
    for request in sendgrid.contract.requests:
        assert key.value not in request.full_path


def test_a_subusers_key_is_found_on_its_behalf(sendgrid: SendGrid) -> None:
    key = sendgrid.add(account="marketing")
    responder, _ = make(sendgrid, subusers=["marketing"])
    outcome = responder.revoke(cred(key.value))
    assert isinstance(outcome, Revoked) and outcome.facts["account"] == "marketing"
    assert sent(sendgrid)[-1] == f"DELETE /v3/api_keys/{key.key_id} @marketing"
    assert isinstance(responder.verify_revoked(cred(key.value)), VerifiedDead)


def test_a_live_key_outside_the_ip_allow_list_is_never_dead(sendgrid: SendGrid) -> None:
    # Its own 401 looks like a deleted key's; SendGrid's record says it lives.
    key = sendgrid.add(blocked=True)
    responder, _ = make(sendgrid)
    outcome = responder.verify_revoked(cred(key.value))
    assert isinstance(outcome, Failed) and "still lists" in outcome.error


def test_a_key_in_no_configured_account_is_unproven(sendgrid: SendGrid) -> None:
    key = sendgrid.add(account="marketing", blocked=True)  # its subuser is not configured
    responder, _ = make(sendgrid)
    for outcome in (responder.revoke(cred(key.value)), responder.verify_revoked(cred(key.value))):
        assert isinstance(outcome, Unproven), outcome
        assert "IP Access Management" in outcome.reason
    assert key.value in sendgrid.keys


def test_an_unknown_key_is_not_already_revoked(sendgrid: SendGrid) -> None:
    _, value = key_value()  # deleted long ago, or someone else's: SendGrid cannot say which
    responder, _ = make(sendgrid)
    assert isinstance(responder.revoke(cred(value)), Unproven)


def test_without_an_admin_key_a_key_deletes_itself_if_it_may(sendgrid: SendGrid) -> None:
    able = sendgrid.add(scopes=("mail.send", "api_keys.delete"))
    unable = sendgrid.add()
    responder, _ = make(sendgrid, admin=False)
    deleted = responder.revoke(cred(able.value))
    assert isinstance(deleted, Revoked) and able.value not in sendgrid.keys
    assert isinstance(responder.verify_revoked(cred(able.value)), VerifiedDead)
    manual = responder.revoke(cred(unable.value))
    assert isinstance(manual, ManualRequired) and "api_keys.delete" in manual.instructions
    assert unable.value in sendgrid.keys


def test_a_key_gone_between_lookup_and_delete_is_already_revoked(sendgrid: SendGrid) -> None:
    key = sendgrid.add()
    sendgrid.faults.append(("DELETE", 404, {"errors": [{"field": None, "message": "not found"}]},
                            {}))
    responder, _ = make(sendgrid)
    assert isinstance(responder.revoke(cred(key.value)), AlreadyRevoked)


def test_an_admin_key_without_the_scope_is_told_which(sendgrid: SendGrid) -> None:
    key = sendgrid.add()
    sendgrid.admin.scopes = ("api_keys.read",)
    responder, _ = make(sendgrid)
    outcome = responder.revoke(cred(key.value))
    assert isinstance(outcome, Failed) and "api_keys.delete" in outcome.error
    assert key.value in sendgrid.keys


def test_a_rate_limit_waits_for_the_reset(sendgrid: SendGrid) -> None:
    key = sendgrid.add()
    reset = str(int(time.time()) + 30)
    sendgrid.faults.append(("DELETE", 429, {"errors": [{"field": None, "message": "too many"}]},
                            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}))
    responder, _ = make(sendgrid)
    outcome = responder.revoke(cred(key.value))
    assert isinstance(outcome, Failed) and outcome.retryable
    assert outcome.retry_after is not None and 20 < outcome.retry_after <= 30


@pytest.mark.parametrize("status", [500, 503])
def test_server_trouble_is_retryable(sendgrid: SendGrid, status: int) -> None:
    key = sendgrid.add()
    sendgrid.faults.append(("GET", status, {"errors": [{"message": "boom"}]}, {}))
    responder, _ = make(sendgrid)
    outcome = responder.revoke(cred(key.value))
    assert isinstance(outcome, Failed) and outcome.retryable


def test_an_unreachable_sendgrid_is_retryable() -> None:
    responder, _ = make(refused_url(), admin=False)
    outcome = responder.revoke(cred(key_value()[1]))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


# -- rotation -------------------------------------------------------------------------------------


def test_rotation_carries_the_scopes_over_and_retires_the_old_key_last(
    sendgrid: SendGrid, memory_keyring: Any
) -> None:
    old = sendgrid.add(account="marketing", scopes=("mail.send", "templates.read"))
    sendgrid.admin.scopes = (*sendgrid.admin.scopes, "templates.read")
    responder, store = make(sendgrid, subusers=["marketing"])
    keyring_when_deleting: list[bool] = []
    sendgrid.observe = lambda r: keyring_when_deleting.append(bool(memory_keyring.store)) if (
        r.method == "DELETE") else None

    outcome = responder.rotate(cred(old.value), store)

    assert isinstance(outcome, Rotated), outcome
    new: Key = sendgrid.keys[store.resolve(outcome.new_reference).reveal()]
    assert new.scopes == ("mail.send", "templates.read") and new.account == "marketing"
    assert old.value not in sendgrid.keys
    assert keyring_when_deleting == [True]  # the old key went only after the new one was stored
    assert sent(sendgrid)[-1] == f"DELETE /v3/api_keys/{old.key_id} @marketing"
    assert isinstance(responder.verify_revoked(cred(old.value)), VerifiedDead)


def test_after_revoke_the_replacement_keeps_the_scopes(
    sendgrid: SendGrid, memory_keyring: Any
) -> None:
    old = sendgrid.add(scopes=("mail.send",))
    responder, store = make(sendgrid)
    assert isinstance(responder.revoke(cred(old.value)), Revoked)
    outcome = responder.rotate(cred(old.value), store)
    assert isinstance(outcome, Rotated), outcome
    assert outcome.facts["old_key"] == "deleted earlier in this run"
    assert sendgrid.keys[store.resolve(outcome.new_reference).reveal()].scopes == ("mail.send",)


def test_unknown_scopes_are_never_replaced_by_a_full_access_key(sendgrid: SendGrid) -> None:
    _, value = key_value()
    responder, store = make(sendgrid)
    outcome = responder.rotate(cred(value), store)
    assert isinstance(outcome, ManualRequired) and "Full Access" in outcome.instructions
    assert [r.method for r in sendgrid.contract.requests] == ["GET"]  # looked, sent no POST


def test_a_store_that_fails_deletes_the_new_key(
    sendgrid: SendGrid, refusing_keyring: RefusingKeyring
) -> None:
    old = sendgrid.add()
    responder, store = make(sendgrid)
    outcome = responder.rotate(cred(old.value), store)
    assert isinstance(outcome, Failed) and outcome.facts["new_key_deleted"] is True
    assert set(sendgrid.keys) == {old.value, sendgrid.admin.value}


# -- plan, preflight, config, secrets -------------------------------------------------------------


def test_plan_sends_no_request(sendgrid: SendGrid) -> None:
    key = sendgrid.add()
    responder, _ = make(sendgrid, subusers=["marketing"])
    (planned,) = [o for _, o in responder.plan([cred(key.value)])]
    assert isinstance(planned, Planned)
    assert planned.commands == (f"GET /v3/api_keys/{key.key_id}",
                                f"GET /v3/api_keys/{key.key_id} on behalf of marketing",
                                f"DELETE /v3/api_keys/{key.key_id} (in the account that holds it)")
    assert sendgrid.contract.requests == []


def test_preflight_names_the_missing_scope(sendgrid: SendGrid) -> None:
    responder, _ = make(sendgrid)
    assert all(c.ok for c in responder.preflight())
    sendgrid.admin.scopes = ("api_keys.read", "api_keys.create")
    checks = {c.capability: c for c in make(sendgrid)[0].preflight()}
    assert not checks["api_keys.delete"].ok
    assert checks["api_keys.delete"].missing_permission == "api_keys.delete"
    assert sent(sendgrid) == ["GET /v3/scopes", "GET /v3/scopes"]  # read-only


def test_bad_config_is_reported_not_raised(httpserver: HTTPServer) -> None:
    _, value = key_value()
    responder = SendGridResponder(ResponderContext(config={"api_key": value}))
    outcome = responder.revoke(cred(value))
    assert isinstance(outcome, Failed) and "must be a reference" in outcome.error
    assert value not in outcome.error


def test_no_secret_value_in_outcomes_or_logs(
    sendgrid: SendGrid, memory_keyring: Any, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = [sendgrid.add(), sendgrid.add(), sendgrid.add(blocked=True)]
    values = [k.value for k in planted]
    responder, store = make(sendgrid)
    outcomes: list[Any] = [responder.rotate(cred(values[0]), store)]
    outcomes += [o for _, o in responder.revoke_all([cred(v) for v in values[1:]])]
    outcomes += [responder.verify_revoked(cred(v)) for v in values]
    text = repr(outcomes) + caplog.text + "".join(capsys.readouterr())
    for value in [*values, *sendgrid.keys]:
        assert value not in text
