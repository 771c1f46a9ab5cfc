"""The Google API keys responder against a loopback project whose every API Keys request (and
answer) is checked against Google's Discovery document, a token endpoint that verifies the
service account's signed grant, and a Gemini endpoint that answers as Google documents."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from responders.google import CREDENTIALS_PAGE, ROLE, GoogleResponder
from responders.interface import (
    UNDECLARED_RATE_LIMIT,
    AgentProof,
    AlreadyRevoked,
    Credential,
    Failed,
    Location,
    Planned,
    ResponderContext,
    ResponderError,
    Revoked,
    Rotated,
    Unproven,
    VerifiedDead,
    fingerprint,
)
from tests.contract_server import ContractServer
from tests.keys.standins import refused_url
from tests.providers_new.google.discovery_openapi import to_openapi
from tests.providers_new.google.google_standin import (
    PROJECT,
    GoogleCloud,
    Key,
    google_error,
    new_value,
)


def cred(key: Key | str) -> Credential:
    value = key.value if isinstance(key, Key) else key
    return Credential.from_secret("google", "google:api_key", value,
                                  [Location("/home/agent/.openclaw/.env", "GEMINI_API_KEY")])


def make(cloud: GoogleCloud, sa_json: str | None, store: Any = None, **config: Any
         ) -> tuple[GoogleResponder, Any]:
    environ = {"GOOGLE_SA": sa_json} if sa_json else {}
    store = store or KeyringSecretStore(environ=environ)
    settings: dict[str, Any] = {
        "base_url": cloud.contract.url, "check_url": cloud.front_url,
        "timeout_seconds": 2, "connect_timeout_seconds": 1, "poll_seconds": 0,
        "operation_timeout_seconds": 5, "activation_wait_seconds": 5, **config,
    }
    if sa_json and "access_token" not in config:
        settings["service_account"] = "env:GOOGLE_SA"
    responder = GoogleResponder(ResponderContext(config=settings, secrets=store,
                                                 fan_out=concurrent_fan_out))
    responder.sleep = lambda seconds: None  # polls are counted, never timed
    return responder, store


def calls(contract: ContractServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in contract.requests]


def test_the_entry_point_names_the_responder() -> None:
    assert load_registry().responder_for_provider("google") is GoogleResponder
    limit = GoogleResponder.rate_limit
    assert limit is not UNDECLARED_RATE_LIMIT and limit.requests == 120
    assert limit.per_seconds == 60


def test_the_converted_discovery_document_rejects_what_google_would(
    httpserver: HTTPServer,
) -> None:
    import httpx

    contract = ContractServer(httpserver, "apikeys-v2-discovery.json", adapt_spec=to_openapi)
    for method in ("GET", "POST", "DELETE"):
        contract.answer(method, "/v2/.*", lambda r: Response("{}"))
    keys = "/v2/projects/p/locations/global/keys"
    auth = {"Authorization": "Bearer ya29.x"}
    with httpx.Client(base_url=contract.url) as client:
        client.get("/v2/keys:lookupKey", params={"keyString": "AIza"})  # no credential
        client.post(keys, json={"displayName": "x", "restriction": {}}, headers=auth)  # typo
        client.post(keys, json={"displayName": "x", "keyString": "AIza"}, headers=auth)  # output
        client.post(keys, headers=auth)  # no body
        client.get(keys, params={"pageSize": "many"}, headers=auth)
        client.delete("/v2/projects/p/keys/k", headers=auth)  # no location
        accepted = client.post(keys, json={"displayName": "x", "restrictions": {
            "apiTargets": [{"service": "generativelanguage.googleapis.com"}]}}, headers=auth)
    assert len(contract.violations) == 6, contract.violations
    assert accepted.status_code == 200


# -- revoke ---------------------------------------------------------------------------------------


def test_a_key_is_looked_up_deleted_and_said_restorable(cloud: GoogleCloud, sa_json: str) -> None:
    key = cloud.add()
    other = cloud.add()
    responder, _ = make(cloud, sa_json)

    outcome = responder.revoke(cred(key))

    assert isinstance(outcome, Revoked), outcome
    assert "restorable" in outcome.detail and "keys.undelete" in outcome.detail
    assert outcome.facts["key_name"] == key.name and outcome.facts["restorable_until"]
    assert key.delete_time and not other.delete_time
    sent = calls(cloud.contract)
    assert sent == ["GET /v2/keys:lookupKey", f"GET /v2/{key.name}", f"DELETE /v2/{key.name}",
                    sent[-1]]
    assert sent[-1].startswith("GET /v2/operations/")  # the delete was followed to its end
    delete = cloud.contract.requests[2]
    assert delete.args["etag"]
    (grant,) = cloud.grants  # one signed grant, reused for every call
    assert "cloud-platform" in grant["scope"]


def test_an_already_deleted_or_purged_key_is_already_revoked(
    cloud: GoogleCloud, sa_json: str
) -> None:
    deleted = cloud.add(delete_time="2026-12-01T08:00:00Z")
    responder, _ = make(cloud, sa_json)
    outcome = responder.revoke(cred(deleted))
    assert isinstance(outcome, AlreadyRevoked) and "2026-12-31" in outcome.detail
    purged = cloud.add(purged=True)
    gone = responder.revoke(cred(purged))
    assert isinstance(gone, AlreadyRevoked) and "API_KEY_INVALID" in gone.detail
    unknown = responder.revoke(cred(new_value()))
    assert isinstance(unknown, AlreadyRevoked)
    assert not any(r.method == "DELETE" for r in cloud.contract.requests)


def test_a_changed_key_is_not_deleted_blind(cloud: GoogleCloud, sa_json: str) -> None:
    """The delete carries the etag read just before: a key changed meanwhile (restrictions
    loosened by someone) answers ABORTED, retried with its new state."""
    key = cloud.add()
    responder, _ = make(cloud, sa_json)
    original = responder._get

    def stale(name: str) -> Any:
        record = original(name)
        key.etag = 'W/"changed"'
        return record

    responder._get = stale  # type: ignore[method-assign]
    outcome = responder.revoke(cred(key))
    assert isinstance(outcome, Failed) and "409" in outcome.error and not key.delete_time
    assert outcome.retryable  # the runner's retry reads the key again, with its new etag
    responder._get = original  # type: ignore[method-assign]
    assert isinstance(responder.revoke(cred(key)), Revoked) and key.delete_time


def test_a_forbidden_delete_names_the_permission(cloud: GoogleCloud, sa_json: str) -> None:
    key = cloud.add()
    cloud.forbid.add("delete")
    outcome = make(cloud, sa_json)[0].revoke(cred(key))
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "apikeys.keys.delete" in outcome.error and ROLE in outcome.error
    cloud.forbid = {"lookup"}
    refused = make(cloud, sa_json)[0].revoke(cred(key))
    assert isinstance(refused, Failed) and "apikeys.keys.lookup" in refused.error
    assert not key.delete_time


def test_a_refused_service_account_and_a_stale_token_are_advice(
    cloud: GoogleCloud, sa_json: str
) -> None:
    key = cloud.add()
    forged = json.loads(sa_json)
    forged["client_email"] = "someone@else.iam.gserviceaccount.com"
    refused = make(cloud, json.dumps(forged))[0].revoke(cred(key))
    assert isinstance(refused, Failed) and "refused the service account" in refused.error
    assert "invalid_scope" in refused.error

    stale = KeyringSecretStore(environ={"GOOGLE_TOKEN": "ya29.expired-token-000"})
    responder, _ = make(cloud, None, store=stale, access_token="env:GOOGLE_TOKEN")
    outcome = responder.revoke(cred(key))
    assert isinstance(outcome, Failed) and "rejected the admin credential (401)" in outcome.error
    assert not key.delete_time


def test_an_access_token_works_as_the_admin_credential(cloud: GoogleCloud) -> None:
    key = cloud.add()
    cloud.static_tokens.add("ya29.from-gcloud-print-access-token")
    store = KeyringSecretStore(environ={"GOOGLE_TOKEN": "ya29.from-gcloud-print-access-token"})
    responder, _ = make(cloud, None, store=store, access_token="env:GOOGLE_TOKEN")
    assert isinstance(responder.revoke(cred(key)), Revoked)
    assert cloud.grants == []


@pytest.mark.parametrize(
    ("response", "retry_after"),
    [
        (google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded."), None),
        (Response("", status=429, headers={"Retry-After": "30"}), 30),
        (google_error(500, "INTERNAL", "Internal error."), None),
        (google_error(503, "UNAVAILABLE", "The service is currently unavailable."), None),
    ],
)
def test_quota_and_server_errors_are_retryable(
    cloud: GoogleCloud, sa_json: str, response: Response, retry_after: float | None
) -> None:
    cloud.contract._answers.insert(0, ("GET", "/v2/keys:lookupKey", lambda r: response))
    outcome = make(cloud, sa_json)[0].revoke(cred(cloud.add()))
    assert isinstance(outcome, Failed) and outcome.retryable
    assert outcome.retry_after == retry_after


def test_a_delete_that_never_finishes_is_retryable(cloud: GoogleCloud, sa_json: str) -> None:
    cloud.pending_polls = 1000
    responder, _ = make(cloud, sa_json, operation_timeout_seconds=0.01)
    outcome = responder.revoke(cred(cloud.add()))
    assert isinstance(outcome, Failed) and outcome.retryable and "still running" in outcome.error


def test_unreachable_google_is_retryable(cloud: GoogleCloud, sa_json: str) -> None:
    responder, _ = make(cloud, sa_json, base_url=refused_url())
    outcome = responder.revoke(cred(cloud.add()))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder = GoogleResponder(ResponderContext(
        config={"access_token": "env:T", "base_url": httpserver.url_for("/")},
        secrets=KeyringSecretStore(environ={"T": "x"})))
    (planned,) = [p for _, p in responder.plan([cred(new_value())])]
    assert isinstance(planned, Planned) and any("30 days" in c for c in planned.commands)
    assert httpserver.log == []


def test_bad_config_is_refused_without_repeating_a_secret() -> None:
    with pytest.raises(ResponderError, match="exactly one admin credential"):
        GoogleResponder.check_config({})
    with pytest.raises(ResponderError, match="exactly one admin credential"):
        GoogleResponder.check_config({"access_token": "env:A", "service_account": "env:B"})
    with pytest.raises(ResponderError, match="must be a reference") as raised:
        GoogleResponder.check_config({"access_token": "ya29.a-literal-token"})
    assert "ya29.a-literal-token" not in str(raised.value)
    not_json = GoogleResponder(ResponderContext(
        config={"service_account": "env:SA"},
        secrets=KeyringSecretStore(environ={"SA": "-----BEGIN PRIVATE KEY-----"})))
    outcome = not_json.revoke(cred(new_value()))
    assert isinstance(outcome, Failed) and "not a service account's JSON key" in outcome.error
    assert "BEGIN PRIVATE KEY" not in outcome.error


# -- verify ---------------------------------------------------------------------------------------


def test_verify_needs_api_key_invalid_and_a_deleted_record(
    cloud: GoogleCloud, sa_json: str
) -> None:
    live, doomed = cloud.add(), cloud.add()
    responder, _ = make(cloud, sa_json)
    still = responder.verify_revoked(cred(live))
    assert isinstance(still, Failed) and still.retryable and "still accepts" in still.error

    assert isinstance(responder.revoke(cred(doomed)), Revoked)
    proven = responder.verify_revoked(cred(doomed))
    assert isinstance(proven, VerifiedDead), proven
    assert proven.facts["record"] == "deleted" and "restorable" in proven.detail
    purged = make(cloud, sa_json)[0].verify_revoked(cred(cloud.add(purged=True)))
    assert isinstance(purged, VerifiedDead) and purged.facts["record"] == "purged"


def test_a_restricted_live_key_is_never_dead(cloud: GoogleCloud, sa_json: str) -> None:
    """403 API_KEY_IP_ADDRESS_BLOCKED: Google identified the key and refused this caller."""
    key = cloud.add(blocked_here=True)
    outcome = make(cloud, sa_json)[0].verify_revoked(cred(key))
    assert isinstance(outcome, Failed) and "valid, only restricted" in outcome.error


def test_invalid_while_the_record_shows_it_not_deleted_is_unproven(
    cloud: GoogleCloud, sa_json: str
) -> None:
    key = cloud.add()
    from tests.providers_new.google.google_standin import invalid_key

    cloud.models_answer = invalid_key()
    outcome = make(cloud, sa_json)[0].verify_revoked(cred(key))
    assert isinstance(outcome, Unproven), outcome
    assert "not deleted" in outcome.reason and outcome.url == CREDENTIALS_PAGE


def test_expired_and_an_unreadable_record_are_unproven(
    cloud: GoogleCloud, sa_json: str
) -> None:
    key = cloud.add(delete_time="2026-12-01T08:00:00Z")
    expired = google_error(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.",
                           "API_KEY_EXPIRED")
    cloud.models_answer = expired
    outcome = make(cloud, sa_json)[0].verify_revoked(cred(key))
    assert isinstance(outcome, Unproven) and "propagates" in outcome.reason

    from tests.providers_new.google.google_standin import invalid_key

    cloud.models_answer = invalid_key()
    cloud.forbid.add("lookup")
    unreadable = make(cloud, sa_json)[0].verify_revoked(cred(key))
    assert isinstance(unreadable, Unproven) and "could not be read" in unreadable.reason


# -- rotate ---------------------------------------------------------------------------------------


def test_contain_deletes_then_replaces_with_the_restrictions_carried_over(
    cloud: GoogleCloud, sa_json: str, memory_keyring: Any
) -> None:
    old = cloud.add(display_name="gemini (clawback 2026-01-01)")
    responder, store = make(cloud, sa_json)
    assert isinstance(responder.revoke(cred(old)), Revoked)
    seen: list[tuple[str, set[str]]] = []
    cloud.observe = lambda request: seen.append(
        (f"{request.method} {request.path}", set(memory_keyring.store.values())))

    outcome = responder.rotate(cred(old), store)

    assert isinstance(outcome, Rotated), outcome
    (new,) = [k for k in cloud.keys.values() if k is not old]
    assert new.restrictions == old.restrictions and new.annotations == old.annotations
    assert new.display_name.startswith("gemini (clawback ") and new.display_name.count("(") == 1
    assert store.resolve(outcome.new_reference).reveal() == new.value
    assert outcome.new_fingerprint == fingerprint(new.value)
    assert outcome.facts["carried_over"] == ["annotations", "restrictions"]
    assert outcome.facts["old_key_state"] == "already deleted by this run"
    assert seen[-1][0].endswith("/keyString")  # the value came from getKeyString
    # The new key needed one more try while it propagated (API_KEY_INVALID), then worked.
    assert new.warmup == 0


class _Handover(KeyringSecretStore):
    def __init__(self, environ: dict[str, str], proven: bool, cloud: GoogleCloud,
                 old: Key) -> None:
        super().__init__(environ=environ)
        self.proven, self.cloud, self.old = proven, cloud, old
        self.old_live_when_asked: bool | None = None

    def await_agent(self, *, last_used: Any = None) -> AgentProof:
        self.old_live_when_asked = not self.old.delete_time
        return AgentProof(self.proven, "gateway reloaded" if self.proven else "no reload seen")


def test_a_drill_deletes_the_old_key_only_after_the_agent_uses_the_new(
    cloud: GoogleCloud, sa_json: str, memory_keyring: Any
) -> None:
    old = cloud.add()
    store = _Handover({"GOOGLE_SA": sa_json}, True, cloud, old)
    outcome = make(cloud, sa_json, store=store)[0].rotate(cred(old), store)
    assert isinstance(outcome, Rotated), outcome
    assert store.old_live_when_asked is True and old.delete_time
    assert "restorable" in outcome.facts["old_key_state"]

    stays = cloud.add()
    waiting = _Handover({"GOOGLE_SA": sa_json}, False, cloud, stays)
    kept = make(cloud, sa_json, store=waiting)[0].rotate(cred(stays), waiting)
    assert isinstance(kept, Failed) and "stays live" in kept.error and not stays.delete_time


def test_a_replacement_that_cannot_be_stored_is_deleted_again(
    cloud: GoogleCloud, sa_json: str, refusing_keyring: Any
) -> None:
    old = cloud.add()
    responder, store = make(cloud, sa_json)
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Failed) and "the new key was deleted" in outcome.error
    (new,) = [k for k in cloud.keys.values() if k is not old]
    assert new.delete_time and not old.delete_time


def test_a_replacement_google_never_accepts_leaves_the_old_key(
    cloud: GoogleCloud, sa_json: str, memory_keyring: Any
) -> None:
    from tests.providers_new.google.google_standin import invalid_key

    old = cloud.add()
    responder, store = make(cloud, sa_json, activation_wait_seconds=0)
    cloud.models_answer = invalid_key()
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Failed) and "the old key was left alone" in outcome.error
    assert not old.delete_time


# -- preflight ------------------------------------------------------------------------------------


def test_preflight_proves_the_credential_and_names_the_role(
    cloud: GoogleCloud, sa_json: str
) -> None:
    checks = {c.capability: c for c in make(cloud, sa_json)[0].preflight()}
    assert list(checks) == ["admin credential", f"keys of {PROJECT}"]  # the SA's own project
    assert all(c.ok for c in checks.values()), checks
    assert {r.method for r in cloud.contract.requests} == {"GET"}

    cloud.forbid.add("list")
    checks = {c.capability: c for c in make(cloud, sa_json)[0].preflight()}
    assert not checks[f"keys of {PROJECT}"].ok
    assert checks[f"keys of {PROJECT}"].missing_permission == f"{ROLE} (apikeys.keys.list)"

    unset = GoogleResponder(ResponderContext(config={"access_token": "env:NOT_SET"},
                                             secrets=KeyringSecretStore(environ={})))
    (check,) = unset.preflight()
    assert not check.ok and check.missing_permission == "service_account or access_token"


# -- secrets never leak ---------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_or_logs(
    cloud: GoogleCloud, sa_json: str, memory_keyring: Any,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = [cloud.add(), cloud.add(), cloud.add(purged=True)]
    old_values = [k.value for k in planted]
    creds = [cred(k) for k in planted]
    responder, store = make(cloud, sa_json)
    outcomes: list[Any] = [responder.revoke(c) for c in creds]
    outcomes += [responder.verify_revoked(c) for c in creds]
    outcomes += [responder.rotate(c, store) for c in creds]
    outcomes += [p for _, p in responder.plan(creds)]
    outcomes += responder.preflight()
    assert sum(isinstance(o, Rotated) for o in outcomes) == 2
    secrets = [*old_values, *(k.value for k in cloud.keys.values()), *cloud.tokens,
               json.loads(sa_json)["private_key"].splitlines()[1]]
    # The stand-in's own request log (werkzeug) is Google's side, not clawback's output.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    said = "\n".join(repr(o) for o in outcomes) + ours + "".join(capsys.readouterr())
    said += json.dumps([dict(o.facts) for o in outcomes if hasattr(o, "facts")], default=str)
    for value in secrets:
        assert value not in said
