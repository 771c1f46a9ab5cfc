"""Provider recognition by value shape and by place."""

from __future__ import annotations

import base64

import pytest

from responders.kit import secret_patterns as sp
from responders.kit.secret_patterns import Confidence

# Low-entropy stand-ins: the right shape, obviously not real.
SHAPES = {
    "AKIA" + "A1" * 8: ("aws", "aws:access_key_id"),
    "ASIA" + "B2" * 8: ("aws", "aws:session_key_id"),
    "ghp_" + "a1" * 18: ("github", "github:pat"),
    "github_pat_" + "b2" * 11 + "_" + "c3" * 29 + "d": ("github", "github:fine_grained_pat"),
    "gho_" + "e4" * 18: ("github", "github:oauth"),
    "ghu_" + "f5" * 18: ("github", "github:user_to_server"),
    "ghs_" + "g6" * 18: ("github", "github:installation"),
    "ghr_" + "h7" * 18: ("github", "github:refresh"),
    "sk-proj-" + "i8" * 40: ("openai", "openai:project_key"),
    "sk-admin-" + "j9" * 40: ("openai", "openai:admin_key"),
    "sk-ant-api03-" + "k0" * 46 + "AA": ("anthropic", "anthropic:api_key"),
    "sk-ant-admin01-" + "l1" * 46 + "AA": ("anthropic", "anthropic:admin_key"),
    "sk-ant-oat01-" + "m2" * 46 + "AA": ("anthropic", "anthropic:oauth_token"),
    "sk-or-v1-" + "0f" * 32: ("openrouter", "openrouter:api_key"),
    "xoxb-1234567890-1234567890123-" + "n3" * 12: ("slack", "slack:bot_token"),
    "xoxp-1234567890-1234567890-1234567890123-" + "ab" * 16: ("slack", "slack:user_token"),
    "xapp-1-A012345-1234567890123-" + "cd" * 32: ("slack", "slack:app_token"),
    "sk_live_" + "o4" * 20: ("stripe", "stripe:secret_key"),
    "rk_live_" + "p5" * 20: ("stripe", "stripe:restricted_key"),
    "sk_test_" + "q6" * 20: ("stripe", "stripe:test_key"),
    "whsec_" + "r7" * 16: ("stripe", "stripe:webhook_secret"),
    "hf_" + "sT" * 17: ("huggingface", "huggingface:token"),
    "123456789:AA" + "u9" * 16 + "v": ("telegram", "telegram:bot_token"),
}


@pytest.mark.parametrize("value", sorted(SHAPES))
def test_distinctive_shapes_name_provider_and_kind(value: str) -> None:
    recognition = sp.recognize_value(value)
    assert recognition is not None
    assert (recognition.provider, recognition.kind) == SHAPES[value]
    assert recognition.confidence == Confidence.PREFIX


def test_ids_are_extracted_where_the_token_carries_one() -> None:
    telegram = sp.recognize_value("987654321:AA" + "w1" * 16 + "x")
    assert telegram is not None and telegram.key_id == "987654321"
    head = base64.b64encode(b"112233445566778899").decode().rstrip("=")
    discord = sp.recognize_value(f"{head}.Ab-1_z.{'y2' * 19}")
    assert discord is not None
    assert (discord.kind, discord.key_id) == ("discord:bot_token", "112233445566778899")
    aws = sp.recognize_value("AKIA" + "Z9" * 8)
    assert aws is not None and sp.is_identifier(aws) and aws.key_id == "AKIA" + "Z9" * 8


def test_weak_shapes_lose_to_the_place_they_were_found() -> None:
    place = sp.recognize_env_name("CLOUDFLARE_API_TOKEN")
    brave_shaped = "BSA" + "k3" * 14
    assert sp.recognize_value(brave_shaped) is not None
    best = sp.recognize(brave_shaped, place)
    assert best is not None and best.kind == "cloudflare:api_token"
    # ...but a distinctive prefix beats the place: a ghp_ under GH_TOKEN is a classic PAT.
    best = sp.recognize("ghp_" + "a1" * 18, sp.recognize_env_name("GH_TOKEN"))
    assert best is not None and best.kind == "github:pat"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (("gateway", "auth", "token"), "openclaw:gateway_token"),
        (("gateway", "auth", "password"), "openclaw:gateway_password"),
        (("hooks", "token"), "openclaw:hooks_token"),
        (("cron", "webhookToken"), "openclaw:cron_webhook_token"),
        (("channels", "telegram", "botToken"), "telegram:bot_token"),
        (("channels", "telegram", "accounts", "ops", "botToken"), "telegram:bot_token"),
        (("channels", "discord", "token"), "discord:bot_token"),
        (("channels", "slack", "appToken"), "slack:app_token"),
        (("channels", "mattermost", "botToken"), "mattermost:bot_token"),
        (("models", "providers", "openrouter", "apiKey"), "openrouter:api_key"),
        (("providers", "anthropic", "apiKey"), "anthropic:api_key"),
        (("env", "vars", "GROQ_API_KEY"), "groq:api_key"),
        (("skills", "entries", "x", "env", "CLOUDFLARE_API_TOKEN"), "cloudflare:api_token"),
        (("tools", "web", "search", "apiKey"), "brave:api_key"),
        (("talk", "apiKey"), "elevenlabs:api_key"),
    ],
)
def test_config_paths_name_provider_and_kind(path: tuple[str, ...], kind: str) -> None:
    recognition = sp.recognize_config_path(path)
    assert recognition is not None and recognition.kind == kind


def test_places_that_are_not_secrets() -> None:
    assert sp.recognize_config_path(("gateway", "auth", "mode")) is None
    assert sp.recognize_config_path(("models", "providers", "acme-llm", "apiKey")) is None
    for name in ("maxTokens", "publicKey", "tokenFile", "defaultSessionKey", "keyRef", "baseUrl"):
        assert not sp.looks_like_secret_name(name), name
    for name in ("apiKey", "botToken", "AWS_SECRET_ACCESS_KEY", "privateKeyPem", "key", "password"):
        assert sp.looks_like_secret_name(name), name
    assert sp.recognize_env_name("OPENCLAW_STATE_DIR") is None
    assert sp.recognize_env_name("ACME_CRM_TOKEN") is None


def test_provider_ids_map_to_responders_or_unknown() -> None:
    assert sp.normalise_provider("openai-codex") == "openai"
    assert sp.normalise_provider("github-copilot") == "github"
    assert sp.normalise_provider("Anthropic") == "anthropic"
    assert sp.normalise_provider("acme-llm") == "unknown"


def test_free_text_finds_tokens_only_at_word_boundaries() -> None:
    token = "ghp_" + "a1" * 18
    text = (
        f'{{"text":"GITHUB_TOKEN={token}\\nother"}}\n'
        f"not-a-token: x{token}\n"
        f"aws: {'AKIA' + 'C3' * 8} and slack xoxb-1234567890-1234567890123-{'n3' * 12}.\n"
    )
    found = [(m.recognition.kind, text[m.start : m.end]) for m in sp.find_in_text(text)]
    assert found == [
        ("github:pat", token),
        ("aws:access_key_id", "AKIA" + "C3" * 8),
        ("slack:bot_token", "xoxb-1234567890-1234567890123-" + "n3" * 12),
    ]


def test_placeholders_and_paths_are_not_plausible_secrets() -> None:
    for value in (
        "changeme",
        "<secret>",
        "${OPENAI_API_KEY}",
        "$TOKEN",
        "~/.openclaw/x.token",
        "https://example.com/hook",
        "xxxxxxxxxxxxxxxxxxxx",
        "your-api-key-here",
    ):
        assert not sp.plausible_secret_value(value), value
    assert sp.plausible_secret_value("acme_" + "Q7r" * 10)
