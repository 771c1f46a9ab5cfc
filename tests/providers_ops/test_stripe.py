"""The Stripe responder (stripe-python) against a loopback server that checks every request
against Stripe's own description (openapi-core, with the documented deepObject workaround)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from clawback.registry import load_registry
from clawback.runner import concurrent_fan_out
from clawback.secret_store import KeyringSecretStore
from clawback_demo.providers.stripe import StripeAccount, stripe_error
from responders.interface import (
    AlreadyRevoked,
    Credential,
    Disabled,
    Failed,
    Location,
    ManualRequired,
    Planned,
    ResponderContext,
    Rotated,
    Skipped,
    VerifiedDead,
    fingerprint,
)
from responders.stripe import EVENTS_FILE, KEYS_URL, WEBHOOKS_URL, StripeResponder
from tests.contract_server import ContractServer
from tests.keys.standins import refused_url
from tests.providers_ops.contract_variants import stripe_flattened, stripe_relaxed

ENV_FILE = "/home/agent/.openclaw/workspace/.env"


def cred(value: str, kind: str = "stripe:secret_key") -> Credential:
    return Credential.from_secret("stripe", kind, value, [Location(ENV_FILE, "STRIPE_SECRET_KEY")])


def make(
    base_url: str,
    incident_dir: Path | None = None,
    environ: dict[str, str] | None = None,
    **config: Any,
) -> tuple[StripeResponder, KeyringSecretStore]:
    store = KeyringSecretStore(environ=environ or {})
    settings = {"api_base": base_url, "timeout_seconds": 2, "connect_timeout_seconds": 1, **config}
    context = ResponderContext(
        config=settings,
        secrets=store,
        fan_out=concurrent_fan_out,
        incident_dir=incident_dir,
        incident_id="2026-11-21T0203Z-7f3a" if incident_dir else "",
    )
    return StripeResponder(context), store


@pytest.fixture
def account(stripe_contract: ContractServer) -> StripeAccount:
    """The demo's Stripe stand-in, every request checked by the contract server; pages of two,
    smaller than the SDK's, so paging is exercised."""
    stand_in = StripeAccount(page_size=2)
    stripe_contract.serve(stand_in.answer)
    return stand_in


def calls(contract: ContractServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in contract.requests]


def test_the_entry_point_names_the_responder() -> None:
    assert load_registry().responder_for_provider("stripe") is StripeResponder


def test_the_contract_still_rejects_what_stripe_would(httpserver: HTTPServer) -> None:
    import httpx

    contract = ContractServer(
        httpserver, "stripe.json", adapt_spec=stripe_relaxed, adapt_request=stripe_flattened
    )
    contract.answer("POST", "/v1/webhook_endpoints.*", lambda r: Response("{}"))
    with httpx.Client(base_url=contract.url, headers={"Authorization": "Bearer sk_x"}) as client:
        client.post("/v1/webhook_endpoints", data={"url": "https://x", "enabled_events[0]": "no"})
        client.post("/v1/webhook_endpoints", data={"enabled_events[0]": "charge.succeeded"})
        client.post("/v1/webhook_endpoints/we_1", data={"disabled": "maybe"})
        good = client.post(
            "/v1/webhook_endpoints",
            data={"url": "https://x", "enabled_events[0]": "charge.succeeded"},
        )
    assert len(contract.violations) == 3 and good.status_code == 200


# -- keys: contain, export, guide -----------------------------------------------------------------


def test_keys_disable_every_webhook_export_events_and_guide_the_roll(
    account: StripeAccount, stripe_contract: ContractServer, tmp_path: Path
) -> None:
    secret_key, restricted_key = account.add_key(), account.add_key(prefix="rk_live_")
    attacker = account.add_endpoint("https://exfil.example.net/hook?token=receiver-own-token")
    spared = account.add_endpoint("https://shop.example.com/stripe")
    off = account.add_endpoint(status="disabled")
    recent = [account.add_event(age, note="customer data stays") for age in (0.1, 2, 5, 29)]
    account.add_event(40)  # older than Stripe's 30 days: not asked for
    planted = account.add_event(1, description=f"key {secret_key} pasted by the agent")
    responder, _ = make(stripe_contract.url, tmp_path, spare_webhooks=[spared])

    outcomes = [
        o
        for _, o in responder.revoke_all(
            [cred(restricted_key, "stripe:restricted_key"), cred(secret_key)]
        )
    ]

    assert all(isinstance(o, ManualRequired) and o.url == KEYS_URL for o in outcomes), outcomes
    restricted, secret = outcomes
    assert "Roll key…" in secret.instructions and secret_key[-4:] in secret.instructions
    assert "restricted key" in restricted.instructions and attacker in secret.instructions
    assert secret.facts["webhooks"] == {
        attacker: "disabled",
        spared: "spared",
        off: "already disabled",
    }
    assert secret.facts["webhook_urls"][attacker] == "https://exfil.example.net"
    assert account.endpoints[attacker]["status"] == "disabled"
    assert account.endpoints[spared]["status"] == "enabled"
    assert calls(stripe_contract).count(f"POST /v1/webhook_endpoints/{attacker}") == 1

    export = secret.facts["events_export"]
    path = tmp_path / export["file"]
    assert export["file"] == f"evidence/{EVENTS_FILE}" and export["events"] == 5
    assert (
        path.stat().st_mode & 0o777 == 0o600
        and (tmp_path / "evidence").stat().st_mode & 0o777 == 0o700
    )
    assert export["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {e["id"] for e in lines} == {*recent, planted}  # two keys, one account: once each
    text = path.read_text()
    assert secret_key not in text and fingerprint(secret_key) in text
    assert "customer data stays" in text


def test_a_rolled_key_is_already_revoked_and_nothing_else_is_asked(
    account: StripeAccount, stripe_contract: ContractServer, tmp_path: Path
) -> None:
    responder, _ = make(stripe_contract.url, tmp_path)
    (outcome,) = [o for _, o in responder.revoke_all([cred("sk_live_" + "r" * 40)])]
    assert isinstance(outcome, AlreadyRevoked) and outcome.facts["http_status"] == 401
    assert calls(stripe_contract) == ["GET /v1/balance"]
    assert not (tmp_path / "evidence").exists()


def test_a_restricted_key_without_rights_says_what_it_lacks(
    account: StripeAccount, stripe_contract: ContractServer, tmp_path: Path
) -> None:
    limited = account.add_key(prefix="rk_live_", forbidden={"webhooks", "events"})
    account.add_endpoint()
    responder, _ = make(stripe_contract.url, tmp_path)
    outcome = responder.revoke(cred(limited, "stripe:restricted_key"))
    assert isinstance(outcome, ManualRequired)
    assert "lacks Webhook Endpoints read" in outcome.instructions
    assert "lacks Events read" in outcome.instructions
    assert len(outcome.facts["problems"]) == 2


def test_the_configured_api_key_does_the_work(
    account: StripeAccount, stripe_contract: ContractServer, tmp_path: Path
) -> None:
    admin, leaked = account.add_key(prefix="rk_live_"), account.add_key()
    account.add_endpoint()
    responder, _ = make(
        stripe_contract.url, tmp_path, {"STRIPE_ADMIN": admin}, api_key="env:STRIPE_ADMIN"
    )
    outcome = responder.revoke(cred(leaked))
    assert isinstance(outcome, ManualRequired)
    used = [r.headers["Authorization"] for r in stripe_contract.requests]
    assert used[0] == f"Bearer {leaked}"  # is the leaked key still live?
    assert set(used[1:]) == {f"Bearer {admin}"}


@pytest.mark.parametrize(
    ("response", "retry_after"),
    [
        (stripe_error(429, "Too many requests", kind="rate_limit_error"), None),
        (stripe_error(429, "Slow down", kind="rate_limit_error", headers={"Retry-After": "12"}),
         12),
        (stripe_error(500, "boom", kind="api_error"), None),
    ],
)
def test_rate_limits_and_server_errors_are_retryable(
    account: StripeAccount,
    stripe_contract: ContractServer,
    tmp_path: Path,
    response: Response,
    retry_after: float | None,
) -> None:
    key = account.add_key()
    stripe_contract.intercept = lambda r: response if r.path == "/v1/webhook_endpoints" else None
    responder, _ = make(stripe_contract.url, tmp_path)
    outcome = responder.revoke(cred(key))
    assert isinstance(outcome, Failed) and outcome.retryable and outcome.retry_after == retry_after
    assert "Roll key…" in outcome.error  # the manual step is not lost while retrying


def test_hangs_and_refusals_are_retryable(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return Response("{}")

    httpserver.expect_request("/v1/balance").respond_with_handler(hang)
    started = time.monotonic()
    try:
        hung, _ = make(httpserver.url_for("/").rstrip("/"), timeout_seconds=0.3)
        outcome = hung.revoke(cred("sk_live_" + "h" * 40))
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert isinstance(outcome, Failed) and outcome.retryable

    outcome = make(refused_url())[0].revoke(cred("sk_live_" + "c" * 40))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot reach" in outcome.error


def test_the_export_is_bounded_and_never_overwrites_earlier_evidence(
    account: StripeAccount, stripe_contract: ContractServer, tmp_path: Path
) -> None:
    key = account.add_key()
    for age in range(5):
        account.add_event(age)
    (tmp_path / "evidence").mkdir(mode=0o700)
    earlier = tmp_path / "evidence" / EVENTS_FILE
    earlier.write_text("from the first run\n")
    responder, _ = make(stripe_contract.url, tmp_path, max_events=3)
    outcome = responder.revoke(cred(key))
    export = outcome.facts["events_export"]
    assert export == {
        **export,
        "file": "evidence/stripe-events.2.jsonl",
        "events": 3,
        "truncated": True,
    }
    assert earlier.read_text() == "from the first run\n"
    assert len((tmp_path / export["file"]).read_text().splitlines()) == 3
    assert calls(stripe_contract).count("GET /v1/events") == 2  # pages of 2


def test_without_an_incident_nothing_is_exported(
    account: StripeAccount, stripe_contract: ContractServer
) -> None:
    responder, _ = make(stripe_contract.url)
    outcome = responder.revoke(cred(account.add_key()))
    assert isinstance(outcome, ManualRequired) and "events_export" not in outcome.facts
    assert "GET /v1/events" not in calls(stripe_contract)


# -- webhook endpoints and signing secrets --------------------------------------------------------


def test_a_configured_endpoint_is_disabled_then_recreated_with_a_stored_secret(
    account: StripeAccount, stripe_contract: ContractServer, memory_keyring: Any
) -> None:
    key = account.add_key()
    old = account.add_endpoint(description="orders", metadata={"team": "payments"})
    responder, store = make(
        stripe_contract.url,
        None,
        {"STRIPE_ADMIN": key},
        api_key="env:STRIPE_ADMIN",
        webhook_endpoints=[{"id": old}],
    )
    (target,) = responder.configured_targets()
    assert target.kind == "stripe:webhook_endpoint" and target.key_id == old

    assert isinstance(responder.revoke(target), Disabled)
    assert isinstance(responder.verify_revoked(target), VerifiedDead)
    rotated = responder.rotate(target, store)

    assert isinstance(rotated, Rotated), rotated
    new = rotated.facts["new_endpoint"]
    assert old not in account.endpoints and account.endpoints[new]["url"] == account_url()
    assert account.endpoints[new]["enabled_events"] == ["charge.succeeded", "customer.created"]
    assert account.endpoints[new]["metadata"] == {"team": "payments"}
    assert store.resolve(rotated.new_reference).reveal() == account.endpoint_secrets[new]
    assert rotated.new_fingerprint == fingerprint(account.endpoint_secrets[new])
    assert isinstance(responder.verify_revoked(target), VerifiedDead)
    rerun, _ = make(
        stripe_contract.url,
        None,
        {"STRIPE_ADMIN": key},
        api_key="env:STRIPE_ADMIN",
        webhook_endpoints=[{"id": old}],
    )
    assert isinstance(rerun.revoke(target), AlreadyRevoked)


def account_url() -> str:
    return "https://hooks.example.com/stripe"


def test_a_signing_secret_is_tied_to_its_endpoint_through_its_reference(
    account: StripeAccount, stripe_contract: ContractServer, memory_keyring: Any
) -> None:
    key, endpoint = account.add_key(), account.add_endpoint()
    whsec = "whsec_" + "s" * 32
    responder, store = make(
        stripe_contract.url,
        None,
        {"STRIPE_ADMIN": key, "HOOK_SECRET": whsec},
        api_key="env:STRIPE_ADMIN",
        webhook_endpoints=[{"id": endpoint, "secret": "env:HOOK_SECRET"}],
    )
    leaked = cred(whsec, "stripe:webhook_secret")
    outcome = responder.revoke(leaked)
    assert isinstance(outcome, Disabled) and outcome.facts["endpoint"] == endpoint
    rotated = responder.rotate(leaked, store)
    assert isinstance(rotated, Rotated) and rotated.facts["old_endpoint"] == endpoint
    (target,) = responder.configured_targets()
    assert responder.rotate(target, store) == rotated  # one endpoint, re-created once
    assert calls(stripe_contract).count("POST /v1/webhook_endpoints") == 1

    unknown = responder.revoke(cred("whsec_" + "u" * 32, "stripe:webhook_secret"))
    assert isinstance(unknown, ManualRequired) and unknown.url == WEBHOOKS_URL
    assert "Roll secret" in unknown.instructions


def test_a_new_endpoint_whose_secret_cannot_be_stored_is_deleted(
    account: StripeAccount, stripe_contract: ContractServer, refusing_keyring: Any
) -> None:
    key, old = account.add_key(), account.add_endpoint()
    responder, store = make(
        stripe_contract.url, None, {"K": key}, api_key="env:K", webhook_endpoints=[{"id": old}]
    )
    outcome = responder.rotate(responder.configured_targets()[0], store)
    assert isinstance(outcome, Failed) and "keyring is not usable" in outcome.error
    assert outcome.facts["new_endpoint_deleted"] is True
    assert list(account.endpoints) == [old]


def test_endpoint_work_without_any_key_says_what_to_configure(httpserver: HTTPServer) -> None:
    responder, _ = make(httpserver.url_for("/"), webhook_endpoints=[{"id": "we_1"}])
    outcome = responder.revoke(responder.configured_targets()[0])
    assert isinstance(outcome, Failed) and "set api_key" in outcome.error
    assert httpserver.log == []


# -- verify, plan, preflight, config --------------------------------------------------------------


def test_verify_is_true_only_once_the_old_key_gets_401(
    account: StripeAccount, stripe_contract: ContractServer
) -> None:
    key = account.add_key()
    responder, _ = make(stripe_contract.url)
    still = responder.verify_revoked(cred(key))
    assert isinstance(still, Failed) and KEYS_URL in still.error and not still.retryable
    del account.keys[key]  # the human rolled it
    assert isinstance(responder.verify_revoked(cred(key)), VerifiedDead)


def test_plan_sends_no_request(httpserver: HTTPServer) -> None:
    responder, _ = make(httpserver.url_for("/"), webhook_endpoints=[{"id": "we_1"}])
    creds = [
        cred("sk_live_" + "p" * 40),
        *responder.configured_targets(),
        cred("whsec_" + "w" * 32, "stripe:webhook_secret"),
    ]
    planned = [p for _, p in responder.plan(creds)]
    assert all(isinstance(p, Planned) for p in planned)
    assert planned[0].commands[-1] == f"manual: roll the key at {KEYS_URL}"
    assert planned[1].commands[0] == "POST /v1/webhook_endpoints/we_1 disabled=true"
    assert httpserver.log == []


def test_preflight_names_the_missing_permission(
    account: StripeAccount, stripe_contract: ContractServer
) -> None:
    admin = account.add_key(prefix="rk_live_", forbidden={"events"})
    responder, _ = make(stripe_contract.url, None, {"A": admin}, api_key="env:A")
    checks = {c.capability: c for c in responder.preflight()}
    assert checks["api key"].ok and checks["webhook endpoints"].ok
    assert not checks["events"].ok and checks["events"].missing_permission == "Events read"


def test_bad_config_is_reported_not_raised() -> None:
    plain = "sk_live_" + "b" * 40
    responder = StripeResponder(ResponderContext(config={"api_key": plain}))
    (outcome,) = [o for _, o in responder.revoke_all([cred("sk_live_" + "x" * 40)])]
    assert isinstance(outcome, Failed) and "must be a reference" in outcome.error
    assert plain not in outcome.error
    assert isinstance(
        StripeResponder(ResponderContext(config={"events_days": 90})).revoke(cred(plain)), Failed
    )


def test_keys_are_not_rotated_by_api(httpserver: HTTPServer) -> None:
    responder, store = make(httpserver.url_for("/"))
    outcome = responder.rotate(cred("sk_live_" + "k" * 40), store)
    assert isinstance(outcome, ManualRequired) and outcome.url == KEYS_URL
    assert isinstance(responder.rotate(cred("x", "stripe:other"), store), Skipped)


# -- secrets never leak ---------------------------------------------------------------------------


def test_no_secret_value_in_outcomes_logs_or_evidence(
    account: StripeAccount,
    stripe_contract: ContractServer,
    tmp_path: Path,
    memory_keyring: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_key, restricted_key = account.add_key(), account.add_key(prefix="rk_live_")
    whsec = "whsec_" + "q" * 32
    endpoint = account.add_endpoint()
    account.add_event(1, description=f"{restricted_key} and {whsec}")
    responder, store = make(
        stripe_contract.url,
        tmp_path,
        {"HOOK": whsec},
        webhook_endpoints=[{"id": endpoint, "secret": "env:HOOK"}],
    )
    planted = [
        cred(secret_key),
        cred(restricted_key, "stripe:restricted_key"),
        cred(whsec, "stripe:webhook_secret"),
    ]
    targets = [*planted, *responder.configured_targets()]
    outcomes: list[Any] = [o for _, o in responder.revoke_all(targets)]
    outcomes += [responder.verify_revoked(c) for c in targets]
    outcomes += [responder.rotate(c, store) for c in targets]
    outcomes += [p for _, p in responder.plan(targets)]
    outcomes += responder.preflight()
    assert any(isinstance(o, Rotated) for o in outcomes)
    stored = list(memory_keyring.store.values())
    assert stored  # the re-created endpoint's signing secret

    said = "\n".join(repr(o) for o in outcomes) + caplog.text + "".join(capsys.readouterr())
    said += json.dumps([dict(o.facts) for o in outcomes if hasattr(o, "facts")])
    said += "".join(p.read_text() for p in (tmp_path / "evidence").iterdir())
    for value in [secret_key, restricted_key, whsec, *stored]:
        assert value not in said
