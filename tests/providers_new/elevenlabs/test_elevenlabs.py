"""The ElevenLabs responder against the demo's loopback workspace, every request and answer
checked against ElevenLabs' own OpenAPI description: a service account's key found by its hint,
deleted or disabled, replaced with its permissions, and proven dead only by a 401
``invalid_api_key`` *and* a listing, read to its end, without it. A 401 ``missing_permissions``
(a scoped key ElevenLabs still knows) is never death."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from clawback_demo.providers.elevenlabs import (
    ACCOUNT,
    PERMISSIONS,
    ElevenLabsWorkspace,
    ServiceKey,
    new_value,
)
from responders.elevenlabs import (
    SERVICE_ACCOUNTS_PAGE,
    ElevenLabsResponder,
    hint_fits,
)
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
from tests.contract_server import ContractServer
from tests.providers_new.elevenlabs.conftest import ADMIN

ENVIRON = {"ELEVENLABS_ADMIN": ADMIN}
ROOT = Path(__file__).resolve().parents[3]


def cred(key: ServiceKey | str) -> Credential:
    value = key.value if isinstance(key, ServiceKey) else key
    return Credential.from_secret(
        "elevenlabs", "elevenlabs:api_key", value,
        [Location("/home/agent/.openclaw/openclaw.json", "talk.apiKey")],
    )


def make(url: str, store: Any = None, **config: Any) -> tuple[ElevenLabsResponder, Any]:
    store = store or KeyringSecretStore(environ=ENVIRON)
    settings = {"base_url": url, "admin_key": "env:ELEVENLABS_ADMIN", "timeout_seconds": 2,
                "connect_timeout_seconds": 1, "poll_seconds": 0, **config}
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return ElevenLabsResponder(context), store


def calls(contract: ContractServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in contract.requests]


# -- one file and one entry point -----------------------------------------------------------------


def test_the_provider_needs_only_its_file_and_its_entry_point() -> None:
    from responders.interface import UNDECLARED_RATE_LIMIT

    assert load_registry().responder_for_provider("elevenlabs") is ElevenLabsResponder
    assert ElevenLabsResponder.rate_limit is not UNDECLARED_RATE_LIMIT
    assert "error-messages" in ElevenLabsResponder.rate_limit.source
    setup = ElevenLabsResponder.setup([])
    assert any("workspace_write" in p for p in setup.permissions)
    # Nothing else names it: not the engine, and no other responder.
    tracked = subprocess.run(["git", "ls-files", "clawback", "responders"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    naming = [p for p in tracked if p.endswith(".py") and p != "responders/elevenlabs.py"
              and "ElevenLabsResponder" in (ROOT / p).read_text()]
    assert naming == []
    # The engine names it nowhere, in any file, but for the audit's list of API hosts a skill's
    # code may call (older than this responder; it names every provider's host alike).
    mentions = [f"{p}: {line.strip()}" for p in tracked if p.startswith("clawback/")
                for line in (ROOT / p).read_text(errors="replace").splitlines()
                if "elevenlabs" in line.lower()]
    assert len(mentions) <= 1 and all(
        m.startswith("clawback/audit/checks/code.py: ") and '"api.elevenlabs.io"' in m
        for m in mentions), mentions
    lines = [line for line in (ROOT / "pyproject.toml").read_text().splitlines()
             if "responders.elevenlabs" in line]
    assert lines == ['elevenlabs = "responders.elevenlabs:ElevenLabsResponder"']


def test_the_contract_rejects_what_elevenlabs_would(httpserver: HTTPServer) -> None:
    import httpx

    contract = ContractServer(httpserver, "elevenlabs.json")
    contract.answer("POST", "/v1/service-accounts/.*", lambda r: Response("{}"))
    contract.answer("PATCH", "/v1/service-accounts/.*", lambda r: Response("{}"))
    base = "/v1/service-accounts/svc/api-keys"
    with httpx.Client(base_url=contract.url) as client:
        client.post(base, json={"name": "n"})  # no permissions
        client.post(base, json={"name": "n", "permissions": ["fly"]})  # not a permission
        client.patch(f"{base}/k1", json={"is_enabled": False})  # name, permissions required
        client.post("/v1/service-accounts", json={})  # no such operation
        accepted = client.post(base, json={"name": "n", "permissions": ["text_to_speech"],
                                           "character_limit": None})
    assert len(contract.violations) == 4 and accepted.status_code == 200


def test_the_hint_is_matched_on_both_ends_and_never_on_too_little() -> None:
    value = "sk_" + "0" * 44 + "1a2b"
    assert hint_fits("sk_…1a2b", value) and hint_fits("sk_...1a2b", value)
    assert hint_fits("1a2b", value)  # the last characters alone
    assert not hint_fits("sk_…ffff", value) and not hint_fits("xx_…1a2b", value)
    assert not hint_fits("a2b", value) and not hint_fits(value, value)


# -- revoke ---------------------------------------------------------------------------------------


def test_revoke_deletes_the_key_and_verify_proves_it_dead(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    others = [workspace.add(), workspace.add(account="svcacct-other")]
    target = workspace.add()
    responder, _ = make(elevenlabs_contract.url)

    outcome = responder.revoke(cred(target))

    assert isinstance(outcome, Revoked), outcome
    assert outcome.facts == {"key_id": target.key_id, "service_account_user_id": ACCOUNT}
    assert target.key_id not in workspace.keys and all(k.key_id in workspace.keys for k in others)
    assert calls(elevenlabs_contract) == [
        "GET /v1/service-accounts",
        f"DELETE /v1/service-accounts/{ACCOUNT}/api-keys/{target.key_id}"]
    assert all(r.headers["xi-api-key"] == ADMIN for r in elevenlabs_contract.requests)

    proof = responder.verify_revoked(cred(target))
    assert isinstance(proof, VerifiedDead), proof
    assert proof.facts["detail_status"] == "invalid_api_key" and proof.facts["record"] == "deleted"
    assert calls(elevenlabs_contract)[-2:] == [
        "GET /v1/user", f"GET /v1/service-accounts/{ACCOUNT}/api-keys"]
    assert elevenlabs_contract.requests[-2].headers["xi-api-key"] == target.value


def test_verify_in_a_later_run_reads_the_whole_workspace(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    target = workspace.add()
    make(elevenlabs_contract.url)[0].revoke(cred(target))
    later = make(elevenlabs_contract.url)[0].verify_revoked(cred(target))
    assert isinstance(later, VerifiedDead), later
    assert calls(elevenlabs_contract)[-1] == "GET /v1/service-accounts"


def test_a_missing_permission_401_is_never_death(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    scoped = workspace.add(permissions=["text_to_speech"])  # no user_read: 401 on /v1/user
    outcome = make(elevenlabs_contract.url)[0].verify_revoked(cred(scoped))
    assert isinstance(outcome, Unproven), outcome
    assert "missing permission" in outcome.reason and outcome.url == SERVICE_ACCOUNTS_PAGE
    assert outcome.facts["detail_status"] == "missing_permissions"
    assert calls(elevenlabs_contract) == ["GET /v1/user"]  # nothing else could change that


def test_a_rejected_key_still_listed_is_unproven(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    disabled = workspace.add()
    responder, _ = make(elevenlabs_contract.url, revoke_action="disable")
    assert isinstance(responder.revoke(cred(disabled)), Disabled)
    assert workspace.keys[disabled.key_id].disabled
    outcome = responder.verify_revoked(cred(disabled))
    assert isinstance(outcome, Unproven) and "still lists it" in outcome.reason
    assert "enable it again" in outcome.reason and outcome.facts["record"] == "disabled"


def test_a_rejected_key_with_an_unreadable_listing_is_unproven(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    gone = new_value()
    elevenlabs_contract.fail("GET", "/v1/service-accounts", lambda: Response(
        json.dumps({"detail": {"status": "forbidden", "message": "no"}}), status=403,
        mimetype="application/json"))
    outcome = make(elevenlabs_contract.url)[0].verify_revoked(cred(gone))
    assert isinstance(outcome, Unproven) and "could not be read" in outcome.reason


def test_a_truncated_listing_concludes_nothing(httpserver: HTTPServer) -> None:
    # The listing's body breaks the description on purpose: answers are not checked here.
    contract = ContractServer(httpserver, "elevenlabs.json")
    workspace = ElevenLabsWorkspace(ADMIN)
    contract.serve(workspace.answer)
    target = workspace.add()
    contract.intercept = lambda request: (
        Response('{"service-accounts": [{"service_account_user_id": "svc", "name": "n"}]}',
                 mimetype="application/json")
        if request.path == "/v1/service-accounts" else None)
    responder = make(contract.url)[0]
    revoked = responder.revoke(cred(target))
    assert isinstance(revoked, Failed) and revoked.retryable and "nothing was" in revoked.error
    assert target.key_id in workspace.keys
    workspace.keys.pop(target.key_id)
    proof = responder.verify_revoked(cred(target))
    assert isinstance(proof, Failed) and proof.retryable  # never VerifiedDead
    assert contract.violations == []


def test_a_key_already_gone_is_already_revoked_only_after_the_whole_listing(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    workspace.add()
    gone = new_value()
    outcome = make(elevenlabs_contract.url)[0].revoke(cred(gone))
    assert isinstance(outcome, AlreadyRevoked), outcome
    assert outcome.facts["listing"] == "read to its end, key absent"
    assert calls(elevenlabs_contract) == ["GET /v1/service-accounts", "GET /v1/user"]

    # The same key, but the listing answers something else than the documented list: not gone.
    elevenlabs_contract.requests.clear()
    elevenlabs_contract.fail("GET", "/v1/service-accounts", lambda: Response(
        "upstream timeout", status=502))
    unknown = make(elevenlabs_contract.url)[0].revoke(cred(gone))
    assert isinstance(unknown, Failed) and unknown.retryable
    assert calls(elevenlabs_contract) == ["GET /v1/service-accounts"]


def test_a_live_key_no_service_account_holds_is_a_persons_manual_step(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    personal = new_value()
    workspace.personal.add(personal)
    outcome = make(elevenlabs_contract.url)[0].revoke(cred(personal))
    assert isinstance(outcome, ManualRequired) and "person's own key" in outcome.instructions
    assert "talk.apiKey" in outcome.instructions


def test_two_keys_showing_the_same_hint_are_never_guessed(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    first = workspace.add()
    twin = workspace.add()
    twin.value = first.value[:3] + "f" * 44 + first.value[-4:]
    outcome = make(elevenlabs_contract.url)[0].revoke(cred(first))
    assert isinstance(outcome, ManualRequired) and "does not guess" in outcome.instructions
    assert len(workspace.keys) == 2


def test_clawbacks_own_admin_key_is_never_revoked(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    outcome = make(elevenlabs_contract.url)[0].revoke(cred(ADMIN))
    assert isinstance(outcome, ManualRequired) and "clawback itself uses" in outcome.instructions
    assert elevenlabs_contract.requests == []


def test_a_scoped_admin_key_and_a_rate_limit_are_advice_and_retries(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    target = workspace.add()
    weak = KeyringSecretStore(environ={"ELEVENLABS_ADMIN": workspace.add().value})
    outcome = make(elevenlabs_contract.url, store=weak)[0].revoke(cred(target))
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "rejected the admin key (401)" in outcome.error and "admin_key" in outcome.error

    elevenlabs_contract.fail("GET", "/v1/service-accounts", lambda: Response(
        json.dumps({"detail": {"status": "too_many_concurrent_requests", "message": "slow"}}),
        status=429, headers={"Retry-After": "3"}, mimetype="application/json"))
    limited = make(elevenlabs_contract.url)[0].revoke(cred(target))
    assert isinstance(limited, Failed) and limited.retryable and limited.retry_after == 3
    assert target.key_id in workspace.keys


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    contract = ContractServer(httpserver, "elevenlabs.json")
    planned = make(contract.url)[0].plan([cred(new_value())])
    assert isinstance(planned[0][1], Planned) and contract.requests == []


# -- rotate ---------------------------------------------------------------------------------------


class _Handover(KeyringSecretStore):
    """Says whether the agent took up the new key; records whether the old one lived then."""

    def __init__(self, proven: bool, workspace: ElevenLabsWorkspace, old: ServiceKey) -> None:
        super().__init__(environ=ENVIRON)
        self.proven, self.workspace, self.old = proven, workspace, old
        self.old_alive_when_asked: bool | None = None

    def await_agent(self, *, last_used: Any = None) -> AgentProof:
        self.old_alive_when_asked = self.old.key_id in self.workspace.keys
        return AgentProof(self.proven, "gateway reloaded" if self.proven else "no reload seen")


def test_rotation_creates_with_the_same_permissions_stores_then_deletes_the_old(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer, memory_keyring: Any
) -> None:
    old = workspace.add(name="openclaw talk (clawback 2026-01-01)", character_limit=5000)
    workspace.fresh_key_unknown_for = 2  # the replacement takes a moment to be known
    store = _Handover(True, workspace, old)
    stored: list[tuple[str, set[str]]] = []
    elevenlabs_contract.intercept = lambda request: stored.append(
        (f"{request.method} {request.path}", set(memory_keyring.store.values())))
    responder, _ = make(elevenlabs_contract.url, store=store)

    outcome = responder.rotate(cred(old), store)

    assert isinstance(outcome, Rotated), outcome
    (new,) = workspace.keys.values()
    assert new.account == ACCOUNT and new.permissions == PERMISSIONS
    assert new.character_limit == 5000 and new.name.count("clawback") == 1
    assert store.resolve(outcome.new_reference).reveal() == new.value
    assert outcome.new_fingerprint == fingerprint(new.value)
    assert store.old_alive_when_asked is True and old.key_id not in workspace.keys
    assert outcome.facts["old_key_state"] == "Revoked" and outcome.facts["new_key"] == new.key_id
    sent = [c for c, _ in stored]
    post = sent.index(f"POST /v1/service-accounts/{ACCOUNT}/api-keys")
    assert sent[post + 1:] == [f"GET /v1/service-accounts/{ACCOUNT}/api-keys",
                               "GET /v1/user", "GET /v1/user", "GET /v1/user",
                               f"DELETE /v1/service-accounts/{ACCOUNT}/api-keys/{old.key_id}"]
    assert new.value in stored[post + 2][1]  # stored before its first use
    assert isinstance(responder.verify_revoked(cred(old)), VerifiedDead)


def test_contain_deletes_first_and_the_replacement_follows(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer, memory_keyring: Any
) -> None:
    old = workspace.add(permissions=["text_to_speech"])  # the new one answers missing_permissions
    responder, store = make(elevenlabs_contract.url)
    assert isinstance(responder.revoke(cred(old)), Revoked)
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Rotated), outcome
    assert outcome.facts["old_key_state"] == "already deleted by this run"
    (new,) = workspace.keys.values()
    assert new.permissions == ["text_to_speech"]


def test_the_old_key_stays_until_the_agent_takes_up_the_new(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer, memory_keyring: Any
) -> None:
    old = workspace.add()
    waiting = _Handover(False, workspace, old)
    kept = make(elevenlabs_contract.url, store=waiting)[0].rotate(cred(old), waiting)
    assert isinstance(kept, Failed) and "stays live" in kept.error
    assert old.key_id in workspace.keys and not old.disabled


def test_a_replacement_that_cannot_be_stored_is_deleted_again(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer, refusing_keyring: Any
) -> None:
    old = workspace.add()
    responder, store = make(elevenlabs_contract.url)
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Failed) and "the new key was deleted" in outcome.error
    assert list(workspace.keys) == [old.key_id]


def test_a_replacement_elevenlabs_never_accepts_leaves_the_old_key(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer, memory_keyring: Any
) -> None:
    old = workspace.add()
    workspace.fresh_key_unknown_for = 10**6
    responder, store = make(elevenlabs_contract.url, activation_wait_seconds=0)
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Failed) and "the old key was left alone" in outcome.error
    assert old.key_id in workspace.keys


def test_a_key_no_service_account_holds_is_a_guided_replacement(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer, memory_keyring: Any
) -> None:
    responder, store = make(elevenlabs_contract.url)
    outcome = responder.rotate(cred(new_value()), store)
    assert isinstance(outcome, ManualRequired) and "nothing to carry over" in outcome.instructions
    assert not any(r.method == "POST" for r in elevenlabs_contract.requests)


# -- preflight ------------------------------------------------------------------------------------


def test_preflight_reads_the_workspace_and_names_the_permissions(
    workspace: ElevenLabsWorkspace, elevenlabs_contract: ContractServer
) -> None:
    workspace.add()
    checks = {c.capability: c for c in make(elevenlabs_contract.url)[0].preflight()}
    assert checks["list service-account keys"].ok
    assert "workspace_write" in checks["create, disable, delete keys"].detail
    assert {r.method for r in elevenlabs_contract.requests} == {"GET"}

    weak = KeyringSecretStore(environ={"ELEVENLABS_ADMIN": workspace.add().value})
    (check,) = make(elevenlabs_contract.url, store=weak)[0].preflight()
    assert not check.ok and "workspace_read" in check.missing_permission

    unset = ElevenLabsResponder(ResponderContext(
        config={"admin_key": "env:NOT_SET"}, secrets=KeyringSecretStore(environ={})))
    (check,) = unset.preflight()
    assert not check.ok and check.missing_permission == "a workspace admin's key"


def test_bad_config_is_refused_without_repeating_the_key() -> None:
    from responders.interface import ResponderError

    with pytest.raises(ResponderError) as raised:
        ElevenLabsResponder.check_config({"admin_key": ADMIN})
    assert ADMIN not in str(raised.value) and "admin_key" in str(raised.value)


# -- secrets never leak ---------------------------------------------------------------------------


def test_no_secret_value_in_any_output(
    workspace: ElevenLabsWorkspace,
    elevenlabs_contract: ContractServer,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = [workspace.add(), workspace.add(permissions=["text_to_speech"]),
               workspace.add(account="svcacct-other")]
    personal = new_value()
    workspace.personal.add(personal)
    old_values = [k.value for k in planted] + [personal]
    creds = [cred(v) for v in old_values] + [cred(ADMIN)]
    responder, store = make(elevenlabs_contract.url)
    outcomes: list[Any] = [o for _, o in responder.revoke_all(creds)]
    outcomes += [responder.verify_revoked(c) for c in creds]
    outcomes += [responder.rotate(c, store) for c in creds]
    outcomes += [p for _, p in responder.plan(creds)]
    outcomes += responder.preflight()
    assert sum(isinstance(o, Rotated) for o in outcomes) == 3
    assert sum(isinstance(o, VerifiedDead) for o in outcomes) == 3
    new_values = [k.value for k in workspace.keys.values()]
    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    said += json.dumps([dict(o.facts) for o in outcomes if hasattr(o, "facts")], default=str)
    said += "\n".join(elevenlabs_contract.violations)
    for value in [*old_values, *new_values, ADMIN]:
        assert value not in said
    assert SecretValue(ADMIN).fingerprint in said  # named by fingerprint only
