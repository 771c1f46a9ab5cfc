"""Guided manual steps: exact instructions and links per provider, every place the secret was
found, and proof of death against loopback servers that answer as the providers document
(Telegram, Hugging Face and Discord publish no OpenAPI description to check requests against)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from clawback.registry import load_registry
from responders.interface import (
    Credential,
    Failed,
    Location,
    ManualRequired,
    ResponderContext,
    Skipped,
    VerifiedDead,
)
from responders.manual import ManualResponder, instructions_for

from .conftest import AgentHost

EXPECTED = {
    # provider: (link, words the steps must contain)
    "telegram": ("https://t.me/BotFather", ("@BotFather", "/revoke")),
    "discord": ("https://discord.com/developers/applications", ("Bot", "Reset Token")),
    "huggingface": ("https://huggingface.co/settings/tokens", ("Invalidate and refresh",)),
    "openrouter": ("https://openrouter.ai/settings/keys", ("API Keys",)),
    "brave": ("https://api-dashboard.search.brave.com/app/keys", ("API Keys",)),
    "elevenlabs": ("https://elevenlabs.io/app/settings/api-keys", ("API Keys",)),
}


def test_each_no_api_secret_gets_its_exact_step_and_every_place(agent_host: AgentHost) -> None:
    creds = agent_host.creds(*EXPECTED, "unknown")
    assert {c.provider for c in creds} == {*EXPECTED, "unknown"}
    responder = ManualResponder(agent_host.context())

    outcomes = dict(responder.revoke_all(creds))

    for cred in creds:
        outcome = outcomes[cred]
        assert isinstance(outcome, ManualRequired), (cred.provider, outcome)
        assert cred.fingerprint in outcome.instructions
        for location in cred.locations:
            assert str(location) in outcome.instructions, (cred.provider, location)
        if cred.provider == "unknown":
            assert outcome.url == ""
            assert "cannot tell which service" in outcome.instructions
            continue
        url, words = EXPECTED[cred.provider]
        assert outcome.url == url
        for word in words:
            assert word in outcome.instructions, (cred.provider, word)
    telegram = next(c for c in creds if c.provider == "telegram" and c.key_id)
    assert f"with id {telegram.key_id}" in outcomes[telegram].instructions  # type: ignore[union-attr]
    text = repr(outcomes) + "".join(o.instructions for o in outcomes.values())  # type: ignore[attr-defined]
    for secret in agent_host.planted_values:
        assert secret not in text


def test_kinds_with_their_own_steps_win_over_the_provider() -> None:
    secret = Credential.from_secret("slack", "slack:signing_secret", "0123456789abcdef0123",
                                    [Location("/x/.env", "SLACK_SIGNING_SECRET")])
    step = instructions_for(secret)
    assert "Signing Secret" in step.instructions and step.url == "https://api.slack.com/apps"
    hook = Credential.from_secret("stripe", "stripe:webhook_secret", "whsec_0123456789abcdefghij")
    assert instructions_for(hook).url == "https://dashboard.stripe.com/webhooks"
    assert "(no file recorded)" in instructions_for(hook).instructions


def test_the_registry_gives_unclaimed_providers_to_the_manual_fallback() -> None:
    registry = load_registry()
    for provider in ("unknown", "telegram", "discord", "a-provider-nobody-knows"):
        assert registry.responder_for_provider(provider) is ManualResponder
    assert registry.responder_for_provider("openclaw") is not ManualResponder
    assert ManualResponder.fallback
    assert ManualResponder(ResponderContext()).handles(Credential("x", "x:y", "…abcd sha256:0"))


def test_plan_and_revoke_send_nothing(agent_host: AgentHost, httpserver: HTTPServer) -> None:
    creds = agent_host.creds("telegram", "huggingface", "discord")
    responder = ManualResponder(agent_host.context(urls(httpserver)))
    planned = dict(responder.plan(creds))
    revoked = dict(responder.revoke_all(creds))
    assert httpserver.log == []
    for cred in creds:
        # The dry run shows exactly the manual step the real run leaves.
        assert planned[cred] == revoked[cred]
        assert planned[cred].name == "ManualRequired"


def urls(httpserver: HTTPServer) -> dict[str, str]:
    base = httpserver.url_for("").rstrip("/")
    return {"telegram_api_url": base, "huggingface_api_url": base,
            "discord_api_url": f"{base}/api/v10"}


def one(host: AgentHost, provider: str) -> Credential:
    return next(c for c in host.creds(provider) if c.kind.endswith(("bot_token", ":token")))


def expect_check(httpserver: HTTPServer, cred: Credential) -> Any:
    token = cred.secret.reveal()  # type: ignore[union-attr]
    if cred.provider == "telegram":
        return httpserver.expect_oneshot_request(f"/bot{token}/getMe", method="GET")
    if cred.provider == "huggingface":
        return httpserver.expect_oneshot_request(
            "/api/whoami-v2", method="GET", headers={"Authorization": f"Bearer {token}"}
        )
    return httpserver.expect_oneshot_request(
        "/api/v10/users/@me", method="GET", headers={"Authorization": f"Bot {token}"}
    )


DEAD_ANSWERS = {
    "telegram": {"ok": False, "error_code": 401, "description": "Unauthorized"},
    "huggingface": {"error": "Invalid credentials in Authorization header"},
    "discord": {"message": "401: Unauthorized", "code": 0},
}


@pytest.mark.parametrize("provider", sorted(DEAD_ANSWERS))
def test_a_401_proves_the_token_dead(agent_host: AgentHost, httpserver: HTTPServer,
                                     provider: str) -> None:
    cred = one(agent_host, provider)
    expect_check(httpserver, cred).respond_with_json(DEAD_ANSWERS[provider], status=401)
    outcome = ManualResponder(agent_host.context(urls(httpserver))).verify_revoked(cred)
    assert isinstance(outcome, VerifiedDead), outcome
    assert outcome.facts["http_status"] == 401
    httpserver.check_assertions()
    assert len(httpserver.log) == 1
    assert cred.secret.reveal() not in repr(outcome)  # type: ignore[union-attr]


@pytest.mark.parametrize("provider", sorted(DEAD_ANSWERS))
def test_a_token_still_accepted_means_the_step_is_not_done(
    agent_host: AgentHost, httpserver: HTTPServer, provider: str
) -> None:
    cred = one(agent_host, provider)
    expect_check(httpserver, cred).respond_with_json({"ok": True, "result": {"id": 1}})
    outcome = ManualResponder(agent_host.context(urls(httpserver))).verify_revoked(cred)
    assert isinstance(outcome, Failed) and not outcome.retryable
    assert "still accepts" in outcome.error and "not done" in outcome.error
    assert cred.secret.reveal() not in repr(outcome)  # type: ignore[union-attr]


def test_rate_limits_and_server_errors_are_retryable(agent_host: AgentHost,
                                                     httpserver: HTTPServer) -> None:
    cred = one(agent_host, "telegram")
    responder = ManualResponder(agent_host.context(urls(httpserver)))
    expect_check(httpserver, cred).respond_with_json(
        {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
         "parameters": {"retry_after": 7}}, status=429)
    limited = responder.verify_revoked(cred)
    assert isinstance(limited, Failed) and limited.retryable and limited.retry_after == 7.0
    expect_check(httpserver, cred).respond_with_data("bad gateway", status=502)
    broken = responder.verify_revoked(cred)
    assert isinstance(broken, Failed) and broken.retryable and broken.retry_after is None
    hf = one(agent_host, "huggingface")
    expect_check(httpserver, hf).respond_with_data("", status=429, headers={"Retry-After": "3"})
    assert responder.verify_revoked(hf).retry_after == 3.0  # type: ignore[attr-defined]


def test_an_unreachable_service_is_retryable_and_names_no_token(agent_host: AgentHost) -> None:
    cred = one(agent_host, "telegram")
    # Port 9 (discard) has no listener here: the connection is refused at once.
    context = agent_host.context({"telegram_api_url": "http://127.0.0.1:9"})
    outcome = ManualResponder(context).verify_revoked(cred)
    assert isinstance(outcome, Failed) and outcome.retryable
    assert "cannot reach Telegram" in outcome.error
    assert cred.secret.reveal() not in repr(outcome)  # type: ignore[union-attr]


def test_secrets_without_a_harmless_check_are_skipped(agent_host: AgentHost,
                                                      httpserver: HTTPServer) -> None:
    responder = ManualResponder(agent_host.context(urls(httpserver)))
    for cred in agent_host.creds("brave", "openrouter", "unknown"):
        assert isinstance(responder.verify_revoked(cred), Skipped)
    dry = ManualResponder(agent_host.context(urls(httpserver), dry_run=True))
    assert isinstance(dry.verify_revoked(one(agent_host, "telegram")), Skipped)
    assert httpserver.log == []


def test_bad_settings_are_advice(agent_host: AgentHost) -> None:
    responder = ManualResponder(agent_host.context({"telegram_url": "http://127.0.0.1:1"}))
    outcome = responder.verify_revoked(one(agent_host, "telegram"))
    assert isinstance(outcome, Failed) and "[providers.manual] is invalid" in outcome.error
