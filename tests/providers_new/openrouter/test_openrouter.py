"""The OpenRouter responder against a loopback account that checks every request (and every
answer it gives) against OpenRouter's own OpenAPI description and answers as OpenRouter
documents: a key located by its redacted label across pages and workspaces, deleted or disabled,
replaced with its limits, and proven dead only by a 401 *and* OpenRouter's own record."""

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
from responders.interface import (
    AgentProof,
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
    SecretValue,
    Unproven,
    VerifiedDead,
    fingerprint,
)
from responders.openrouter import KEYS_PAGE, MANAGEMENT_KEYS_PAGE, OpenRouterResponder
from tests.contract_server import ContractServer
from tests.keys.standins import refused_url
from tests.providers_new.openrouter.conftest import MANAGEMENT
from tests.providers_new.openrouter.contract_variant import openrouter_variant
from tests.providers_new.openrouter.openrouter_standin import (
    DEFAULT_WORKSPACE,
    Key,
    OpenRouterAccount,
    error,
    label_of,
    new_value,
)

ENVIRON = {"OPENROUTER_MANAGEMENT": MANAGEMENT}
TEAM = "6b0e4b3a-54c1-4d55-9d0e-3f1c2a7b8e90"


def cred(key: Key | str) -> Credential:
    value = key.value if isinstance(key, Key) else key
    return Credential.from_secret(
        "openrouter", "openrouter:api_key", value,
        [Location("/home/agent/.openclaw/.env", "OPENROUTER_API_KEY")],
    )


def make(url: str, store: Any = None, **config: Any) -> tuple[OpenRouterResponder, Any]:
    store = store or KeyringSecretStore(environ=ENVIRON)
    settings = {
        "base_url": url,
        "management_key": "env:OPENROUTER_MANAGEMENT",
        "timeout_seconds": 2,
        "connect_timeout_seconds": 1,
        **config,
    }
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return OpenRouterResponder(context), store


def calls(contract: ContractServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in contract.requests]


def test_the_entry_point_names_the_responder() -> None:
    from responders.interface import UNDECLARED_RATE_LIMIT

    assert load_registry().responder_for_provider("openrouter") is OpenRouterResponder
    limit = OpenRouterResponder.rate_limit
    assert limit is not UNDECLARED_RATE_LIMIT and "management API" in limit.source


def test_the_contract_rejects_what_openrouter_would(httpserver: HTTPServer) -> None:
    import httpx

    contract = ContractServer(httpserver, "openrouter.json", adapt_spec=openrouter_variant)
    contract.answer("POST", "/keys", lambda r: Response("{}", status=201))
    contract.answer("PATCH", "/keys/.*", lambda r: Response("{}"))
    contract.answer("GET", "/keys", lambda r: Response("{}"))
    auth = {"Authorization": "Bearer x"}
    with httpx.Client(base_url=contract.url) as client:
        client.post("/keys", json={"limit": 5}, headers=auth)  # no name
        client.patch(f"/keys/{'a' * 64}", json={"disabled": "yes"}, headers=auth)
        client.get("/keys", params={"offset": -1}, headers=auth)
        client.get("/keys")  # no credential at all
        accepted = client.post("/keys", json={"name": "n", "limit_reset": "weekly"}, headers=auth)
    assert len(contract.violations) == 4 and accepted.status_code == 201


# -- revoke ---------------------------------------------------------------------------------------


def test_a_key_is_found_by_its_label_across_pages_and_workspaces_and_deleted(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    account.page_size = 2
    account.workspaces.append(TEAM)
    for _ in range(3):
        account.add()
    for _ in range(2):
        account.add(workspace_id=TEAM)
    target = account.add(workspace_id=TEAM)
    responder, _ = make(openrouter_contract.url)

    outcome = responder.revoke(cred(target))

    assert isinstance(outcome, Revoked), outcome
    assert outcome.facts["key_hash"] == target.key_hash and target.key_hash not in account.keys
    assert len(account.keys) == 5  # nothing else was touched
    sent = calls(openrouter_contract)
    assert sent[0] == "GET /workspaces" and sent[-1] == f"DELETE /keys/{target.key_hash}"
    listings = [r for r in openrouter_contract.requests if r.path == "/keys"]
    assert all(r.args["include_disabled"] == "true" for r in listings)
    assert {r.args.get("workspace_id") for r in listings} == {None, DEFAULT_WORKSPACE, TEAM}
    team = [int(r.args["offset"]) for r in listings if r.args.get("workspace_id") == TEAM]
    assert team == [0, 2, 3]  # paged until an empty page
    assert all(r.headers["Authorization"] == f"Bearer {MANAGEMENT}"
               for r in openrouter_contract.requests)


def test_disable_when_configured_and_idempotent_reruns(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    key = account.add()
    responder, _ = make(openrouter_contract.url, revoke_action="disable")
    outcome = responder.revoke(cred(key))
    assert isinstance(outcome, Disabled) and key.disabled and key.key_hash in account.keys
    assert openrouter_contract.requests[-1].get_json() == {"disabled": True}
    again = make(openrouter_contract.url, revoke_action="disable")[0].revoke(cred(key))
    assert isinstance(again, AlreadyRevoked) and again.facts["disabled"] is True


def test_a_key_no_longer_listed_and_rejected_is_already_revoked(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    account.add()
    responder, _ = make(openrouter_contract.url)
    outcome = responder.revoke(cred(new_value()))
    assert isinstance(outcome, AlreadyRevoked), outcome
    assert outcome.facts["checked_with"] == "GET /key" and outcome.facts["http_status"] == 401
    assert not any(r.method == "DELETE" for r in openrouter_contract.requests)


def test_a_key_deleted_meanwhile_is_already_revoked(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    key = account.add()
    account.arrange("DELETE", "/keys/.*", error(404, "Resource not found"))
    outcome = make(openrouter_contract.url)[0].revoke(cred(key))
    assert isinstance(outcome, AlreadyRevoked) and "404" in outcome.detail


def test_two_keys_alike_once_redacted_are_never_guessed(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    key = account.add(name="agent")
    twin_value = key.value[:12] + "f" * 57 + key.value[-4:]
    twin = account.add(name="billing")
    twin.value = twin_value
    assert label_of(twin.value) == label_of(key.value)
    outcome = make(openrouter_contract.url)[0].revoke(cred(key))
    assert isinstance(outcome, ManualRequired) and "will not guess" in outcome.instructions
    assert set(outcome.facts["candidates"]) == {key.key_hash, twin.key_hash}
    assert len(account.keys) == 2 and not any(k.disabled for k in account.keys.values())


def test_a_live_key_out_of_sight_or_a_management_key_is_a_guided_step(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    hidden = account.add(workspace_id="11111111-2222-4333-8444-555555555555")  # not listed
    agent_management = "sk-or-v1-" + "a" * 64
    account.management.add(agent_management)
    responder, _ = make(openrouter_contract.url)
    out_of_sight = responder.revoke(cred(hidden))
    assert isinstance(out_of_sight, ManualRequired) and out_of_sight.url == KEYS_PAGE
    assert "still accepts" in out_of_sight.instructions
    management = responder.revoke(cred(agent_management))
    assert isinstance(management, ManualRequired) and management.url == MANAGEMENT_KEYS_PAGE
    assert hidden.key_hash in account.keys


def test_clawbacks_own_management_key_is_never_revoked(
    account: OpenRouterAccount, openrouter_contract: ContractServer, memory_keyring: Any
) -> None:
    responder, store = make(openrouter_contract.url)
    for outcome in (responder.revoke(cred(MANAGEMENT)), responder.rotate(cred(MANAGEMENT), store)):
        assert isinstance(outcome, ManualRequired) and outcome.url == MANAGEMENT_KEYS_PAGE
        assert "clawback itself uses" in outcome.instructions
    assert openrouter_contract.requests == []


def test_a_forbidden_delete_and_a_rejected_management_key_are_advice(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    key = account.add()
    account.forbid.add("DELETE")
    forbidden = make(openrouter_contract.url)[0].revoke(cred(key))
    assert isinstance(forbidden, Failed) and not forbidden.retryable
    assert "forbidden (403)" in forbidden.error and "management key" in forbidden.error
    account.forbid.clear()
    account.management = {"sk-or-v1-" + "b" * 64}
    rejected = make(openrouter_contract.url)[0].revoke(cred(key))
    assert isinstance(rejected, Failed) and "rejected the management key (401)" in rejected.error
    assert key.key_hash in account.keys


@pytest.mark.parametrize(
    ("response", "retry_after"),
    [
        (error(429, "Rate limit exceeded"), None),
        (Response("", status=429, headers={"Retry-After": "17"}), 17),
        (error(500, "Internal Server Error"), None),
        (Response("", status=503), None),
    ],
)
def test_rate_limits_and_server_errors_are_retryable(
    openrouter_contract: ContractServer, response: Response, retry_after: float | None
) -> None:
    openrouter_contract.answer("GET", "/workspaces", lambda r: response)
    outcome = make(openrouter_contract.url)[0].revoke(cred(new_value()))
    assert isinstance(outcome, Failed) and outcome.retryable
    assert outcome.retry_after == retry_after


def test_a_listing_that_ignores_offset_is_incomplete_not_empty(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    account.add()
    account.add()
    account.page_size, account.ignore_offset = 1, True
    outcome = make(openrouter_contract.url)[0].revoke(cred(new_value()))
    assert isinstance(outcome, Failed) and outcome.retryable
    assert "incomplete listing" in outcome.error


def test_hangs_and_refusals_are_retryable(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return Response("{}")

    httpserver.expect_request("/workspaces").respond_with_handler(hang)
    started = time.monotonic()
    try:
        hung = make(httpserver.url_for("/").rstrip("/"), timeout_seconds=0.3)[0]
        outcome = hung.revoke(cred(new_value()))
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert isinstance(outcome, Failed) and outcome.retryable
    refused = make(refused_url())[0].revoke(cred(new_value()))
    assert isinstance(refused, Failed) and refused.retryable and "cannot reach" in refused.error


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder, _ = make(httpserver.url_for("/"), revoke_action="disable")
    planned = [p for _, p in responder.plan([cred(new_value()), cred(new_value())])]
    assert all(isinstance(p, Planned) and p.action == "disable" for p in planned)
    assert any("PATCH /keys/{hash}" in c for c in planned[0].commands)  # type: ignore[union-attr]
    assert httpserver.log == []


def test_bad_config_is_refused_without_repeating_the_key() -> None:
    from responders.interface import ResponderError

    with pytest.raises(ResponderError, match="must be a reference") as raised:
        OpenRouterResponder.check_config({"management_key": MANAGEMENT})
    assert MANAGEMENT not in str(raised.value)
    with pytest.raises(ResponderError, match="management_key"):
        OpenRouterResponder.check_config({})
    with pytest.raises(ResponderError, match="revoke_action"):
        OpenRouterResponder.check_config({"management_key": "env:X", "revoke_action": "pause"})


# -- verify ---------------------------------------------------------------------------------------


def test_verify_needs_the_401_and_openrouters_record(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    live, deleted, disabled = account.add(), account.add(), account.add()
    responder, _ = make(openrouter_contract.url)
    still = responder.verify_revoked(cred(live))
    assert isinstance(still, Failed) and still.retryable and "still accepts" in still.error

    assert isinstance(responder.revoke(cred(deleted)), Revoked)
    proven = responder.verify_revoked(cred(deleted))
    assert isinstance(proven, VerifiedDead) and proven.facts["record"] == "deleted"
    assert openrouter_contract.requests[-1].path == f"/keys/{deleted.key_hash}"

    disabled.disabled = True  # disabled by hand: its hash was never learnt by this run
    fresh = make(openrouter_contract.url)[0]
    by_listing = fresh.verify_revoked(cred(disabled))
    assert isinstance(by_listing, VerifiedDead) and by_listing.facts["record"] == "disabled"
    assert "reversible" in by_listing.detail
    gone = fresh.verify_revoked(cred(new_value()))
    assert isinstance(gone, VerifiedDead) and gone.facts["record"] == "absent"


def test_a_401_while_the_record_shows_the_key_enabled_is_unproven(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    """A 401 is also OpenRouter's answer for a disabled key (and for an auth outage): with the
    key still listed enabled, it proves nothing."""
    key = account.add()
    account.arrange("GET", "/key", error(401, "Invalid credentials"))
    outcome = make(openrouter_contract.url)[0].verify_revoked(cred(key))
    assert isinstance(outcome, Unproven), outcome
    assert "still lists it enabled" in outcome.reason and outcome.url == KEYS_PAGE


def test_a_401_with_an_unreadable_listing_is_unproven(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    account.forbid.add("GET /workspaces")
    outcome = make(openrouter_contract.url)[0].verify_revoked(cred(new_value()))
    assert isinstance(outcome, Unproven), outcome
    assert "could not be read" in outcome.reason and "every workspace" in outcome.check


def test_a_key_out_of_credits_is_not_dead(openrouter_contract: ContractServer) -> None:
    openrouter_contract.answer("GET", "/key", lambda r: error(402, "Insufficient credits"))
    outcome = make(openrouter_contract.url)[0].verify_revoked(cred(new_value()))
    assert isinstance(outcome, Failed) and "402" in outcome.error and outcome.retryable


# -- rotate ---------------------------------------------------------------------------------------


def test_contain_deletes_then_replaces_with_the_limits_carried_over(
    account: OpenRouterAccount, openrouter_contract: ContractServer, memory_keyring: Any
) -> None:
    old = account.add(name="agent (clawback 2026-01-01)", limit=40.0, limit_reset="weekly",
                      include_byok_in_limit=True, expires_at="2099-01-01T00:00:00Z")
    responder, store = make(openrouter_contract.url)
    assert isinstance(responder.revoke(cred(old)), Revoked)
    stored_at: list[tuple[str, set[str]]] = []
    account.observe = lambda request: stored_at.append(
        (f"{request.method} {request.path}", set(memory_keyring.store.values())))

    outcome = responder.rotate(cred(old), store)

    assert isinstance(outcome, Rotated), outcome
    (new,) = account.keys.values()
    assert (new.limit, new.limit_reset, new.include_byok_in_limit, new.expires_at) == (
        40.0, "weekly", True, "2099-01-01T00:00:00Z")
    assert new.name.startswith("agent (clawback ") and new.name.count("clawback") == 1
    assert store.resolve(outcome.new_reference).reveal() == new.value
    assert outcome.new_fingerprint == fingerprint(new.value)
    assert [c for c, _ in stored_at] == ["POST /keys", "GET /key"]
    assert new.value in stored_at[1][1]  # stored before it was first used
    assert outcome.facts["old_key"] == "already deleted by this run"
    assert isinstance(responder.verify_revoked(cred(old)), VerifiedDead)


class _Handover(KeyringSecretStore):
    """A store that says whether the agent took up the new key, and records when it was asked."""

    def __init__(self, proven: bool, account: OpenRouterAccount, old: Key) -> None:
        super().__init__(environ=ENVIRON)
        self.proven, self.account, self.old = proven, account, old
        self.old_alive_when_asked: bool | None = None

    def await_agent(self, *, last_used: Any = None) -> AgentProof:
        self.old_alive_when_asked = self.old.key_hash in self.account.keys
        return AgentProof(self.proven, "gateway reloaded" if self.proven else "no reload seen")


def test_a_drill_retires_the_old_key_only_after_the_agent_uses_the_new(
    account: OpenRouterAccount, openrouter_contract: ContractServer, memory_keyring: Any
) -> None:
    old = account.add()
    store = _Handover(True, account, old)
    responder, _ = make(openrouter_contract.url, store=store)
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Rotated), outcome
    assert store.old_alive_when_asked is True and old.key_hash not in account.keys
    assert outcome.facts["old_key"] == "Revoked" and outcome.facts["agent"] == "gateway reloaded"
    assert calls(openrouter_contract)[-1] == f"DELETE /keys/{old.key_hash}"

    stays = account.add()
    waiting = _Handover(False, account, stays)
    kept = make(openrouter_contract.url, store=waiting)[0].rotate(cred(stays), waiting)
    assert isinstance(kept, Failed) and "stays live" in kept.error
    assert stays.key_hash in account.keys and not stays.disabled


def test_a_replacement_that_cannot_be_stored_is_deleted_again(
    account: OpenRouterAccount, openrouter_contract: ContractServer, refusing_keyring: Any
) -> None:
    old = account.add()
    responder, store = make(openrouter_contract.url)
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Failed) and "the new key was deleted" in outcome.error
    assert list(account.keys) == [old.key_hash]  # the old key untouched, the new one gone


def test_a_key_with_nothing_to_carry_over_is_a_guided_replacement(
    account: OpenRouterAccount, openrouter_contract: ContractServer, memory_keyring: Any
) -> None:
    responder, store = make(openrouter_contract.url)
    outcome = responder.rotate(cred(new_value()), store)
    assert isinstance(outcome, ManualRequired) and "credit limit" in outcome.instructions
    assert not any(r.method == "POST" for r in openrouter_contract.requests)


# -- preflight ------------------------------------------------------------------------------------


def test_preflight_proves_the_management_key_and_names_what_is_missing(
    account: OpenRouterAccount, openrouter_contract: ContractServer
) -> None:
    responder, _ = make(openrouter_contract.url)
    checks = {c.capability: c for c in responder.preflight()}
    assert list(checks) == ["management key", "list workspaces", "list keys"]
    assert all(c.ok for c in checks.values()), checks
    assert {r.method for r in openrouter_contract.requests} == {"GET"}

    account.forbid.add("GET /workspaces")
    checks = {c.capability: c for c in make(openrouter_contract.url)[0].preflight()}
    assert not checks["list workspaces"].ok
    assert checks["list workspaces"].missing_permission == "management key"

    ordinary = account.add()
    weak = KeyringSecretStore(environ={"OPENROUTER_MANAGEMENT": ordinary.value})
    checks = {c.capability: c for c in make(openrouter_contract.url, store=weak)[0].preflight()}
    assert not checks["management key"].ok
    assert checks["management key"].missing_permission == "management key"
    assert "not a management key" in checks["management key"].detail

    unset = OpenRouterResponder(ResponderContext(
        config={"management_key": "env:NOT_SET"}, secrets=KeyringSecretStore(environ={})))
    (check,) = unset.preflight()
    assert not check.ok and check.missing_permission == "management_key"


# -- secrets never leak ---------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_or_logs(
    account: OpenRouterAccount,
    openrouter_contract: ContractServer,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = [account.add(), account.add(), account.add(workspace_id=TEAM)]
    account.workspaces.append(TEAM)
    old_values = [k.value for k in planted]
    creds = [cred(k) for k in planted] + [cred(MANAGEMENT)]
    responder, store = make(openrouter_contract.url)
    outcomes: list[Any] = [o for _, o in responder.revoke_all(creds)]
    outcomes += [responder.verify_revoked(c) for c in creds]
    outcomes += [responder.rotate(c, store) for c in creds]
    outcomes += [p for _, p in responder.plan(creds)]
    outcomes += responder.preflight()
    assert sum(isinstance(o, Rotated) for o in outcomes) == 3
    new_values = [k.value for k in account.keys.values()]
    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    said += json.dumps([dict(o.facts) for o in outcomes if hasattr(o, "facts")], default=str)
    for value in [*old_values, *new_values, MANAGEMENT]:
        assert value not in said
    assert SecretValue(MANAGEMENT).fingerprint in said  # named by fingerprint only
