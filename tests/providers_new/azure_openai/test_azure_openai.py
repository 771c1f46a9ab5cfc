"""The Azure OpenAI responder against a loopback server that checks every request against
Microsoft's descriptions of Azure Resource Manager's Cognitive Services API and the Azure OpenAI
data plane (openapi-core), answering as they document."""

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
from responders.azure_openai import LIST_KEYS, AzureOpenAIResponder
from responders.interface import (
    AgentProof,
    Credential,
    Failed,
    Location,
    Planned,
    ResponderContext,
    Revoked,
    Rotated,
    Unproven,
    VerifiedDead,
)
from tests.contract_server import ContractServer
from tests.keys.standins import refused_url
from tests.providers_new.azure_openai.azure_standin import (
    GROUP,
    SUBSCRIPTION,
    AzureOpenAI,
    arm_error,
)
from tests.providers_new.azure_openai.conftest import ARM_TOKEN

ENV = "/srv/agent/.openclaw/.env"


def cred(value: str) -> Credential:
    return Credential.from_secret("azure_openai", "azure_openai:api_key", value,
                                  [Location(ENV, "AZURE_OPENAI_API_KEY")])


def make(url: str, *names: str, store: Any = None,
         **config: Any) -> tuple[AzureOpenAIResponder, KeyringSecretStore]:
    store = store or KeyringSecretStore(environ={"AZURE_ARM_TOKEN": ARM_TOKEN})
    settings: dict[str, Any] = {
        "management_url": url, "token": "env:AZURE_ARM_TOKEN",
        "accounts": [{"subscription_id": SUBSCRIPTION, "resource_group": GROUP, "name": n,
                      "endpoint": url} for n in (names or ("agent-aoai",))],
        "timeout_seconds": 2, "connect_timeout_seconds": 1, **config,
    }
    context = ResponderContext(config=settings, secrets=store, fan_out=concurrent_fan_out)
    return AzureOpenAIResponder(context), store


def calls(contract: ContractServer) -> list[str]:
    return [f"{r.method} {r.path.rsplit('/', 1)[-1]}" for r in contract.requests]


def test_the_entry_point_names_the_responder() -> None:
    assert load_registry().responder_for_provider("azure_openai") is AzureOpenAIResponder


def test_the_contract_still_rejects_what_azure_would(azure_contract: ContractServer) -> None:
    import httpx

    azure_contract.answer("POST", "/.*", lambda r: Response("{}", status=200))
    azure_contract.answer("GET", "/.*", lambda r: Response("{}", status=200))
    base = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
            "Microsoft.CognitiveServices/accounts/agent-aoai")
    bearer = {"Authorization": "Bearer t"}
    with httpx.Client(base_url=azure_contract.url) as client:
        client.post(f"{base}/regenerateKey", params={"api-version": "2025-06-01"},
                    json={"keyName": "Key3"}, headers=bearer)  # not Key1/Key2
        client.post(f"{base}/listKeys", headers=bearer)  # no api-version
        client.post(f"{base}/listKeys", params={"api-version": "2025-06-01"})  # no token
        client.get("/openai/models", params={"api-version": "2024-10-21"})  # no api-key
        fine = client.post(f"{base}/regenerateKey", params={"api-version": "2025-06-01"},
                           json={"keyName": "Key2"}, headers=bearer)
    assert len(azure_contract.violations) == 4, azure_contract.violations
    assert fine.status_code == 200
    azure_contract.violations.clear()


def test_the_agents_key_is_found_regenerated_and_proven_dead(
    azure: AzureOpenAI, azure_contract: ContractServer
) -> None:
    azure.add("other-aoai")
    account = azure.add("agent-aoai")
    azure.served = "agent-aoai"
    old, other = account.key2, account.key1
    responder, _ = make(azure_contract.url, "other-aoai", "agent-aoai")

    outcome = responder.revoke(cred(old))

    assert isinstance(outcome, Revoked), outcome
    assert outcome.facts == {"account": "agent-aoai", "key_name": "Key2"}
    assert account.regenerations == ["Key2"] and account.key1 == other != old != account.key2
    assert azure.accounts["other-aoai"].regenerations == []
    assert calls(azure_contract) == ["POST listKeys", "POST listKeys", "POST regenerateKey"]
    regenerate = azure_contract.requests[-1]
    assert regenerate.get_json() == {"keyName": "Key2"}
    assert regenerate.headers["Authorization"] == f"Bearer {ARM_TOKEN}"
    proof = responder.verify_revoked(cred(old))
    assert isinstance(proof, VerifiedDead), proof
    assert azure_contract.requests[-2].headers["api-key"] == old


def test_a_key_in_no_configured_account_is_unproven(
    azure: AzureOpenAI, azure_contract: ContractServer
) -> None:
    azure.add()
    responder, _ = make(azure_contract.url)
    stranger = cred("0123456789abcdef0123456789abcdef")
    for outcome in (responder.revoke(stranger), responder.verify_revoked(stranger)):
        assert isinstance(outcome, Unproven), outcome
        assert "accounts" in outcome.check
    assert azure.accounts["agent-aoai"].regenerations == []


def test_a_401_alone_is_never_dead(azure: AzureOpenAI, azure_contract: ContractServer) -> None:
    """The data plane answers 401 'invalid key or wrong API endpoint': a live key asked at the
    wrong endpoint gets it too. While listKeys shows the key, it is not dead."""
    account = azure.add()
    azure.add("elsewhere")
    azure.served = "elsewhere"  # this endpoint belongs to another account
    responder, _ = make(azure_contract.url)
    live = account.key1
    check = responder.verify_revoked(cred(live))
    assert isinstance(check, Failed) and "still lists" in check.error and check.retryable
    assert account.regenerations == []


def test_a_network_rule_403_is_unproven(azure: AzureOpenAI, azure_contract: ContractServer) -> None:
    account = azure.add()
    responder, _ = make(azure_contract.url)
    old = account.key1
    assert isinstance(responder.revoke(cred(old)), Revoked)
    azure.network_blocked = True
    outcome = responder.verify_revoked(cred(old))
    assert isinstance(outcome, Unproven) and "403" in outcome.reason
    assert "network" in outcome.reason


def test_a_live_key_is_not_verified_dead(azure: AzureOpenAI,
                                         azure_contract: ContractServer) -> None:
    account = azure.add()
    responder, _ = make(azure_contract.url)
    outcome = responder.verify_revoked(cred(account.key1))
    assert isinstance(outcome, Failed) and "still lists" in outcome.error


def test_a_missing_role_names_the_action(azure: AzureOpenAI,
                                         azure_contract: ContractServer) -> None:
    account = azure.add()
    azure.forbid.add("regenerateKey")
    responder, _ = make(azure_contract.url)
    outcome = responder.revoke(cred(account.key1))
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "regenerateKey/action" in outcome.error and "AuthorizationFailed" in outcome.error
    assert account.regenerations == []


def test_an_expired_token_is_named(azure: AzureOpenAI, azure_contract: ContractServer) -> None:
    account = azure.add()
    azure.expired = True
    responder, _ = make(azure_contract.url)
    outcome = responder.revoke(cred(account.key1))
    assert isinstance(outcome, Failed) and "ExpiredAuthenticationToken" in outcome.error
    assert "az account get-access-token" in outcome.error and ARM_TOKEN not in outcome.error


@pytest.mark.parametrize(
    ("response", "retry_after"),
    [
        (arm_error(429, "TooManyRequests", "throttled"), None),
        (Response("", status=429, headers={"Retry-After": "12"}), 12),
        (Response("", status=500), None),
        (Response("", status=503), None),
    ],
)
def test_throttling_and_server_errors_are_retryable(
    azure_contract: ContractServer, response: Response, retry_after: float | None
) -> None:
    azure_contract.answer("POST", ".*", lambda r: response)
    responder, _ = make(azure_contract.url)
    outcome = responder.revoke(cred("a1" * 16))
    assert isinstance(outcome, Failed) and outcome.retryable, outcome
    assert outcome.retry_after == retry_after


def test_an_unreachable_arm_is_retryable() -> None:
    responder, _ = make(refused_url())
    outcome = responder.revoke(cred("b2" * 16))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


# -- rotation -------------------------------------------------------------------------------------


def test_contain_hands_over_the_regenerated_value(
    azure: AzureOpenAI, azure_contract: ContractServer, memory_keyring: Any
) -> None:
    account = azure.add()
    old = account.key1
    responder, store = make(azure_contract.url)
    assert isinstance(responder.revoke(cred(old)), Revoked)
    outcome = responder.rotate(cred(old), store)
    assert isinstance(outcome, Rotated), outcome
    assert store.resolve(outcome.new_reference).reveal() == account.key1 != old
    assert outcome.facts["replacement"] == "Key1"
    assert responder.rotate(cred(old), store) is outcome  # a retry stores nothing new

    other, other_store = make(azure_contract.url, replacement="other")
    again = account.key2
    assert isinstance(other.revoke(cred(again)), Revoked)
    handed = other.rotate(cred(again), other_store)
    assert isinstance(handed, Rotated) and handed.facts["replacement"] == "Key1"
    assert other_store.resolve(handed.new_reference).reveal() == account.key1


def test_a_drill_moves_the_agent_to_the_other_key_before_regenerating(
    azure: AzureOpenAI, azure_contract: ContractServer, memory_keyring: Any
) -> None:
    account = azure.add()
    old, other = account.key1, account.key2
    responder, store = make(azure_contract.url)
    seen: list[tuple[str, set[str]]] = []
    azure.observe = lambda r: seen.append((r.path.rsplit("/", 1)[-1],
                                           set(memory_keyring.store.values())))

    outcome = responder.rotate(cred(old), store)

    assert isinstance(outcome, Rotated), outcome
    assert store.resolve(outcome.new_reference).reveal() == other == account.key2
    assert account.regenerations == ["Key1"] and account.key1 != old
    assert [p for p, _ in seen] == ["listKeys", "models", "regenerateKey"]
    assert other in seen[-1][1]  # stored before the agent's key was regenerated
    assert isinstance(responder.verify_revoked(cred(old)), VerifiedDead)


def test_a_drill_regenerates_nothing_before_the_agent_moves(
    azure: AzureOpenAI, azure_contract: ContractServer, memory_keyring: Any
) -> None:
    class AgentNotYetSwitched(KeyringSecretStore):
        def await_agent(self, *, last_used: Any = None) -> AgentProof:
            return AgentProof(False, "no reload command")

    account = azure.add()
    old = account.key1
    responder, _ = make(azure_contract.url,
                        store=AgentNotYetSwitched(environ={"AZURE_ARM_TOKEN": ARM_TOKEN}))
    outcome = responder.rotate(cred(old), responder.context.secrets)  # type: ignore[arg-type]
    assert isinstance(outcome, Failed) and "not regenerated yet" in outcome.error
    assert account.regenerations == [] and account.key1 == old


def test_a_replacement_that_cannot_be_stored_regenerates_nothing(
    azure: AzureOpenAI, azure_contract: ContractServer, refusing_keyring: Any
) -> None:
    account = azure.add()
    responder, store = make(azure_contract.url)
    outcome = responder.rotate(cred(account.key1), store)
    assert isinstance(outcome, Failed) and "storing Key2" in outcome.error
    assert account.regenerations == []


# -- plan, preflight, config, secrets -------------------------------------------------------------


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder, _ = make(httpserver.url_for("/").rstrip("/"), "a-one", "a-two")
    planned = [p for _, p in responder.plan([cred("c3" * 16)])]
    assert isinstance(planned[0], Planned) and planned[0].commands[:2] == (
        "POST …/accounts/a-one/listKeys (find the key)",
        "POST …/accounts/a-two/listKeys (find the key)")
    assert httpserver.log == []


def test_bad_config_is_reported_not_raised() -> None:
    for config, words in (
        ({"token": ARM_TOKEN}, "must be a reference"),
        ({"token": "env:T", "accounts": [{"name": "x"}]}, "subscription_id"),
        ({"token": "env:T", "replacement": "both"}, "replacement"),
        ({"token": "env:T"}, "no account to look in"),
    ):
        responder = AzureOpenAIResponder(ResponderContext(
            config=config, secrets=KeyringSecretStore(environ={"T": "x"})))
        outcome = responder.revoke(cred("d4" * 16))
        assert isinstance(outcome, Failed) and words in outcome.error, outcome
        assert ARM_TOKEN not in outcome.error


def test_preflight_names_the_missing_action(azure: AzureOpenAI,
                                            azure_contract: ContractServer) -> None:
    azure.add()
    responder, _ = make(azure_contract.url)
    (check,) = responder.preflight()
    assert check.ok and "regenerateKey/action" in check.detail
    azure.forbid.add("listKeys")
    (check,) = responder.preflight()
    assert not check.ok and check.missing_permission == LIST_KEYS
    assert all(r.path.endswith("/listKeys") for r in azure_contract.requests)


def test_no_secret_value_in_outcomes_or_logs(
    azure: AzureOpenAI, azure_contract: ContractServer, memory_keyring: Any,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    account = azure.add()
    values = [account.key1, account.key2]
    creds = [cred(v) for v in values]
    responder, store = make(azure_contract.url)
    outcomes: list[Any] = [o for _, o in responder.revoke_all(creds)]
    outcomes += [responder.verify_revoked(c) for c in creds]
    outcomes += [responder.rotate(c, store) for c in creds]
    outcomes += [p for _, p in responder.plan(creds)]
    outcomes += responder.preflight()
    assert sum(isinstance(o, Rotated) for o in outcomes) == 2, outcomes
    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    said += json.dumps([dict(o.facts) for o in outcomes if hasattr(o, "facts")])
    for value in [*values, account.key1, account.key2, ARM_TOKEN]:
        assert value not in said
