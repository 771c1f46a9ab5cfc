"""The prefixes and names issue 17 found unrecognised: each value is named by its own shape (or
its variable), in a value and in free text; the providers' documentation examples are not."""

from __future__ import annotations

import base64

import pytest

from responders.kit import secret_patterns as sp

BEDROCK_LONG = "ABSK" + base64.b64encode(
    b"BedrockAPIKey-q7r2-at-210987654321:" + b"Zx81Qw0Lm3Nb5Vc7Xr9Ty2Ui4Op6As8Df1Gh3Jk5").decode()
BEDROCK_SHORT = "bedrock-api-key-" + base64.b64encode(
    b"bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    b"&X-Amz-Credential=ASIAZ3MHQW4P7XKLN2TQ%2F20261206%2Fus-east-1%2Fbedrock%2Faws4_request"
    b"&X-Amz-Signature=9a8b7c6d5e4f&Version=1").decode()
VALUES = {
    BEDROCK_LONG: ("aws", "aws:bedrock_api_key"),
    BEDROCK_SHORT: ("aws", "aws:bedrock_short_term_key"),
    "cfut_Qm4Zr8Wn2Xb6Tc1Yv9Hd3Jf7Ks5Lp0GuEaRiQwEr": ("cloudflare", "cloudflare:api_token"),
    "cfat_Wb7Yc1Hd6Jf0Gs5Ue8Ai3Ko2Zq8vN3kLm2Xp9Rt4": ("cloudflare", "cloudflare:account_token"),
    "cfk_Ai3Ko2Zq8vN3kLm2Xp9Rt4Wb7Yc1Hd6Jf0Gs5Ue8": ("cloudflare", "cloudflare:global_api_key"),
    "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":
        ("sendgrid", "sendgrid:api_key"),
    "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": ("notion", "notion:integration_token"),
    "ya29.a0AfB_byC" + "Kq7Zr2Wm9Xb4Tn6Yc1Vd8Hf3Js5Lp0GuEaRi-Qw_ErTyUiOp":
        ("google_oauth", "google_oauth:access_token"),
    "glpat-" + "Kq7Zr2Wm9Xb4Tn6Yc1Vd": ("gitlab", "gitlab:pat"),
    "https://hooks.slack.com/services/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":
        ("slack", "slack:webhook_url"),
}
EXAMPLES = (
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    "SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "glpat-xxxxxxxxxxxxxxxxxxxx", "cfut_" + "x" * 40, "ntn_" + "0" * 11 + "x" * 35,
    "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
)


@pytest.mark.parametrize(("value", "expected"), VALUES.items(), ids=lambda v: str(v)[:10])
def test_a_new_prefix_names_its_provider_alone_and_in_text(
    value: str, expected: tuple[str, str]
) -> None:
    found = sp.recognize_value(value)
    assert found is not None and (found.provider, found.kind) == expected
    assert found.confidence == sp.Confidence.PREFIX
    line = f'2026-12-06T10:00:00Z exec: curl -H "Authorization: Bearer {value}" https://x\n'
    (match,) = list(sp.find_in_text(line))
    assert match.value == value and match.recognition.kind == expected[1]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda v: v[:12])
def test_documentation_examples_are_never_secrets(example: str) -> None:
    assert sp.recognize_value(example) is None
    assert list(sp.find_in_text(f"see the docs: {example} (example)")) == []
    assert sp.is_documentation_example(example)


@pytest.mark.parametrize(("name", "expected"), [
    ("AWS_BEARER_TOKEN_BEDROCK", ("aws", "aws:bedrock_api_key")),
    ("AZURE_OPENAI_API_KEY", ("azure_openai", "azure_openai:api_key")),
    ("DEEPSEEK_API_KEY", ("deepseek", "deepseek:api_key")),
    ("NOTION_TOKEN", ("notion", "notion:integration_token")),
    ("NOTION_API_KEY", ("notion", "notion:integration_token")),
    ("SLACK_WEBHOOK_URL", ("slack", "slack:webhook_url")),
])
def test_a_new_variable_name_names_its_provider(name: str, expected: tuple[str, str]) -> None:
    found = sp.recognize_env_name(name)
    assert found is not None and (found.provider, found.kind) == expected


def test_a_google_oauth_token_is_not_taken_for_an_api_key() -> None:
    """The google responder deletes API keys through the API Keys API: handed a ya29. token it
    would look it up as a key, find nothing and could call it dead. Its shape wins over the
    GOOGLE_ name it sits under."""
    token = next(v for v, (p, _k) in VALUES.items() if p == "google_oauth")
    best = sp.recognize(token, sp.recognize_env_name("GOOGLE_TOKEN"))
    assert best is not None and best.provider == "google_oauth"
