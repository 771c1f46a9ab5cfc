"""Recognise which provider a secret belongs to, by its shape or by where it was found.

Two kinds of evidence, ranked by ``Confidence``:

* the value itself: a distinctive prefix (``ghp_``, ``sk-ant-api03-``, ``xoxb-`` …) beats
  everything; a weak shape (a Brave ``BSA…`` key, ElevenLabs ``sk_<48 hex>``) only counts when
  nothing better is known;
* the place: an environment variable name (``CLOUDFLARE_API_TOKEN``) or an OpenClaw config key
  path (``gateway.auth.token``, ``channels.telegram.botToken``). Many secrets (gateway tokens,
  Cloudflare tokens, AWS secret keys) are bare random strings, so the place is all there is.

Provider names double as responder names, so they are lower-case identifiers. A secret that
matches nothing is still a secret: callers list it as provider ``unknown``.

This module is pure: regexes and tables, no I/O, cheap to import (it sits on the contain path and
``clawback.config`` reuses it to refuse literal secrets).
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

UNKNOWN = "unknown"


class Confidence(enum.IntEnum):
    NONE = 0  # a secret-looking name and value, nothing more
    SHAPE = 1  # a weak value shape
    LOCATION = 2  # a known variable name or config key
    PREFIX = 3  # a distinctive value prefix


@dataclass(frozen=True)
class Recognition:
    provider: str
    kind: str
    confidence: Confidence
    key_id: str | None = None


@dataclass(frozen=True)
class SecretPattern:
    """One value shape. ``regex`` must match the whole value."""

    provider: str
    kind: str
    regex: re.Pattern[str]
    confidence: Confidence = Confidence.PREFIX
    # An identifier names a key but is not itself secret (AWS access key ids).
    identifier: bool = False
    key_id: Callable[[str], str | None] | None = None
    # Looked for in free text (logs, clawback.toml's refusal of pasted keys) too.
    in_text: bool = True


def _telegram_bot_id(value: str) -> str | None:
    return value.split(":", 1)[0]


def _discord_bot_id(value: str) -> str | None:
    # The first segment of a Discord bot token is the bot's user id, base64-encoded.
    head = value.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=False).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if decoded.isdigit() else None


def _pattern(
    provider: str,
    kind: str,
    regex: str,
    confidence: Confidence = Confidence.PREFIX,
    *,
    identifier: bool = False,
    key_id: Callable[[str], str | None] | None = None,
    in_text: bool = True,
) -> SecretPattern:
    return SecretPattern(
        provider, kind, re.compile(regex), confidence, identifier, key_id, in_text
    )


_TAIL = r"[A-Za-z0-9_\-]"

# Most specific first: the first full match wins (sk-ant-admin before sk-ant-, sk-or-v1- before
# anything else starting with sk-).
PATTERNS: tuple[SecretPattern, ...] = (
    _pattern("aws", "aws:access_key_id", r"(?:AKIA|ABIA|ACCA)[A-Z0-9]{16}", identifier=True),
    _pattern("aws", "aws:session_key_id", r"ASIA[A-Z0-9]{16}", identifier=True),
    _pattern("aws", "aws:session_token", r"(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz)[A-Za-z0-9/+=]{60,}"),
    # Amazon Bedrock API keys: long-term ABSK + base64(user-at-account:secret), an IAM
    # service-specific credential; short-term bedrock-api-key- + base64(a SigV4 presigned URL).
    _pattern("aws", "aws:bedrock_api_key", r"ABSK[A-Za-z0-9+/]{40,}={0,2}"),
    _pattern("aws", "aws:bedrock_short_term_key", r"bedrock-api-key-[A-Za-z0-9+/]{80,}={0,2}"),
    _pattern("github", "github:pat", r"ghp_[A-Za-z0-9]{36,251}"),
    _pattern("github", "github:fine_grained_pat", r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59,}"),
    _pattern("github", "github:oauth", r"gho_[A-Za-z0-9]{36,251}"),
    _pattern("github", "github:user_to_server", r"ghu_[A-Za-z0-9]{36,251}"),
    _pattern("github", "github:installation", r"ghs_[A-Za-z0-9]{36,251}"),
    _pattern("github", "github:refresh", r"ghr_[A-Za-z0-9]{36,251}"),
    _pattern("openrouter", "openrouter:api_key", r"sk-or-v1-[0-9a-f]{64}"),
    _pattern("anthropic", "anthropic:admin_key", rf"sk-ant-admin\d\d-{_TAIL}{{20,}}"),
    _pattern("anthropic", "anthropic:oauth_token", rf"sk-ant-oat\d\d-{_TAIL}{{20,}}"),
    _pattern("anthropic", "anthropic:oauth_refresh", rf"sk-ant-ort\d\d-{_TAIL}{{20,}}"),
    _pattern("anthropic", "anthropic:api_key", rf"sk-ant-(?:api\d\d-)?{_TAIL}{{20,}}"),
    _pattern("openai", "openai:admin_key", rf"sk-admin-{_TAIL}{{20,}}"),
    _pattern("openai", "openai:project_key", rf"sk-proj-{_TAIL}{{20,}}"),
    _pattern("openai", "openai:service_account_key", rf"sk-svcacct-{_TAIL}{{20,}}"),
    _pattern("openai", "openai:api_key", r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"),
    _pattern("slack", "slack:bot_token", r"xoxb-[0-9A-Za-z\-]{20,}"),
    _pattern("slack", "slack:user_token", r"xoxp-[0-9A-Za-z\-]{20,}"),
    _pattern("slack", "slack:app_token", r"xapp-[0-9A-Za-z\-]{20,}"),
    _pattern("slack", "slack:refresh_token", r"xoxe(?:\.xox[bp])?-[0-9A-Za-z\-]{20,}"),
    _pattern("stripe", "stripe:secret_key", r"sk_live_[0-9A-Za-z]{20,}"),
    _pattern("stripe", "stripe:restricted_key", r"rk_live_[0-9A-Za-z]{20,}"),
    _pattern("stripe", "stripe:test_key", r"[sr]k_test_[0-9A-Za-z]{20,}"),
    _pattern("stripe", "stripe:webhook_secret", r"whsec_[A-Za-z0-9+/=]{24,}"),
    _pattern("huggingface", "huggingface:token", r"hf_[A-Za-z0-9]{30,}"),
    # Cloudflare's scannable formats: a prefix, 40 characters and a checksum
    # (developers.cloudflare.com/fundamentals/api/get-started/token-formats/).
    _pattern("cloudflare", "cloudflare:api_token", r"cfut_[A-Za-z0-9_\-]{40,64}"),
    _pattern("cloudflare", "cloudflare:account_token", r"cfat_[A-Za-z0-9_\-]{40,64}"),
    _pattern("cloudflare", "cloudflare:global_api_key", r"cfk_[A-Za-z0-9_\-]{40,64}"),
    _pattern("google", "google:api_key", r"AIza[0-9A-Za-z_\-]{35}"),
    # A Google OAuth 2.0 access token (gcloud, Gemini CLI, Workspace tools): not an API key, so
    # not the google responder's (API Keys API) to delete; it lives an hour and is revoked at
    # oauth2.googleapis.com/revoke (developers.google.com/identity/protocols/oauth2).
    _pattern("google_oauth", "google_oauth:access_token", r"ya29\.[0-9A-Za-z_\-]{20,}"),
    _pattern("groq", "groq:api_key", r"gsk_[A-Za-z0-9]{48,}"),
    _pattern("xai", "xai:api_key", r"xai-[A-Za-z0-9]{60,}"),
    _pattern("perplexity", "perplexity:api_key", r"pplx-[A-Za-z0-9]{40,}"),
    # GitLab: every documented prefix (docs.gitlab.com/security/tokens/#token-prefixes);
    # routable tokens carry dot-separated parts after the body.
    _pattern("gitlab", "gitlab:pat", r"glpat-[A-Za-z0-9_\-]{20,}(?:\.[A-Za-z0-9_\-]+){0,2}"),
    _pattern(
        "gitlab", "gitlab:token",
        r"gl(?:oas|dt|rtr?|cbt|ptt|ft|imt|agent|wt|soat|ffct)-[A-Za-z0-9_\-]{20,}"
        r"(?:\.[A-Za-z0-9_\-]+){0,2}",
    ),
    # SendGrid: SG.<22-character key id>.<43-character secret>; the id names the key in the API.
    _pattern(
        "sendgrid", "sendgrid:api_key", r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
        key_id=lambda value: value.split(".")[1],
    ),
    # Matrix: Synapse access (syt_) and refresh (syr_) tokens; Matrix Authentication Service
    # OAuth (mat_, mar_) and compatibility (mct_, mcr_) tokens: 30 characters and a CRC.
    _pattern("matrix", "matrix:access_token", r"syt_[A-Za-z0-9_\-]{30,}"),
    _pattern("matrix", "matrix:refresh_token", r"syr_[A-Za-z0-9_\-]{30,}"),
    _pattern("matrix", "matrix:access_token", r"m(?:at|ct)_[A-Za-z0-9]{20,}_[A-Za-z0-9]{6}"),
    _pattern("matrix", "matrix:refresh_token", r"m(?:ar|cr)_[A-Za-z0-9]{20,}_[A-Za-z0-9]{6}"),
    _pattern("npm", "npm:token", r"npm_[A-Za-z0-9]{36}"),
    # Notion integration secrets since September 2024: ntn_, 11 digits, 35 letters and digits
    # (developers.notion.com, "Authorization"; the shape secret scanners use).
    _pattern("notion", "notion:integration_token", r"ntn_[0-9]{11}[A-Za-z0-9]{35}"),
    # Slack incoming webhooks and workflow triggers: whoever has the URL posts as the app
    # (api.slack.com/messaging/webhooks). Found in cron job messages and scripts.
    _pattern(
        "slack", "slack:webhook_url",
        r"https://hooks\.slack\.com/(?:services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}"
        r"|(?:workflows|triggers)/T[A-Z0-9]{6,}/[A-Za-z0-9/]{20,})",
    ),
    _pattern("tailscale", "tailscale:key", r"tskey-[a-z]+-[A-Za-z0-9\-]{20,}"),
    _pattern(
        "telegram", "telegram:bot_token", r"\d{6,12}:[A-Za-z0-9_\-]{35}", key_id=_telegram_bot_id
    ),
    _pattern(
        "discord",
        "discord:bot_token",
        r"[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,40}",
        key_id=_discord_bot_id,
    ),
    # Twilio SIDs name an account (AC) or an API key (SK) without being secret; not looked for
    # in free text, so clawback.toml may name them (twilio.com/docs/glossary/what-is-a-sid).
    _pattern(
        "twilio", "twilio:account_sid", r"AC[0-9a-fA-F]{32}", identifier=True, in_text=False
    ),
    _pattern(
        "twilio", "twilio:api_key_sid", r"SK[0-9a-fA-F]{32}", identifier=True, in_text=False
    ),
    _pattern("brave", "brave:api_key", r"BSA[A-Za-z0-9_\-]{20,40}", Confidence.SHAPE),
    _pattern("elevenlabs", "elevenlabs:api_key", r"sk_[0-9a-f]{48}", Confidence.SHAPE),
)

# Tokens in free text: only shapes distinctive enough not to match ordinary words.
_TEXT_PATTERNS = tuple(p for p in PATTERNS if p.confidence == Confidence.PREFIX and p.in_text)
_IDENTIFIER_KINDS = frozenset(p.kind for p in PATTERNS if p.identifier)


@functools.cache
def _text_regex() -> re.Pattern[str]:
    # One scan for every text pattern at once, with no capturing group: naming each alternative
    # (?P<p0>…|?P<p1>…) made the engine save group marks at every attempt and ran ~4x slower.
    # Which pattern matched is decided afterwards, for the few matches there are, by
    # ``_classify_text``. Compiled on first use: the contain path may never scan free text.
    return re.compile(
        r"(?<![A-Za-z0-9_\-])(?:"
        + "|".join(f"(?:{p.regex.pattern})" for p in _TEXT_PATTERNS)
        + r")(?![A-Za-z0-9_\-])"
    )


def _classify_text(value: str) -> SecretPattern:
    """The pattern behind a match of ``_text_regex``: the first that matches the whole value.

    That is the alternative the scan itself took: the engine tries alternatives in order at the
    match's start, so an earlier pattern that fullmatches the same span would have been taken.
    """
    for pattern in _TEXT_PATTERNS:
        if pattern.regex.fullmatch(value):
            return pattern
    raise AssertionError(f"no text pattern matches a match of the text scan ({len(value)} chars)")


# --------------------------------------------------------------------------------------------
# Names: environment variables and config keys
# --------------------------------------------------------------------------------------------

# Exact environment variable names (OpenClaw's resolveEnvApiKey list and common tool names).
ENV_NAMES: dict[str, tuple[str, str]] = {
    "OPENAI_API_KEY": ("openai", "openai:api_key"),
    "OPENAI_ADMIN_KEY": ("openai", "openai:admin_key"),
    "ANTHROPIC_API_KEY": ("anthropic", "anthropic:api_key"),
    "ANTHROPIC_ADMIN_KEY": ("anthropic", "anthropic:admin_key"),
    "ANTHROPIC_OAUTH_TOKEN": ("anthropic", "anthropic:oauth_token"),
    "OPENROUTER_API_KEY": ("openrouter", "openrouter:api_key"),
    "GITHUB_TOKEN": ("github", "github:token"),
    "GH_TOKEN": ("github", "github:token"),
    "GITHUB_PAT": ("github", "github:token"),
    "COPILOT_GITHUB_TOKEN": ("github", "github:token"),
    "HF_TOKEN": ("huggingface", "huggingface:token"),
    "HUGGINGFACE_HUB_TOKEN": ("huggingface", "huggingface:token"),
    "HUGGING_FACE_HUB_TOKEN": ("huggingface", "huggingface:token"),
    "CLOUDFLARE_API_TOKEN": ("cloudflare", "cloudflare:api_token"),
    "CF_API_TOKEN": ("cloudflare", "cloudflare:api_token"),
    "CLOUDFLARE_API_KEY": ("cloudflare", "cloudflare:global_api_key"),
    "CF_API_KEY": ("cloudflare", "cloudflare:global_api_key"),
    "TELEGRAM_BOT_TOKEN": ("telegram", "telegram:bot_token"),
    "DISCORD_BOT_TOKEN": ("discord", "discord:bot_token"),
    "SLACK_BOT_TOKEN": ("slack", "slack:bot_token"),
    "SLACK_APP_TOKEN": ("slack", "slack:app_token"),
    "SLACK_USER_TOKEN": ("slack", "slack:user_token"),
    "SLACK_SIGNING_SECRET": ("slack", "slack:signing_secret"),
    "STRIPE_SECRET_KEY": ("stripe", "stripe:secret_key"),
    "STRIPE_API_KEY": ("stripe", "stripe:secret_key"),
    "STRIPE_WEBHOOK_SECRET": ("stripe", "stripe:webhook_secret"),
    "BRAVE_API_KEY": ("brave", "brave:api_key"),
    "ELEVENLABS_API_KEY": ("elevenlabs", "elevenlabs:api_key"),
    "XI_API_KEY": ("elevenlabs", "elevenlabs:api_key"),
    "GEMINI_API_KEY": ("google", "google:api_key"),
    "GOOGLE_API_KEY": ("google", "google:api_key"),
    "AWS_SECRET_ACCESS_KEY": ("aws", "aws:access_key"),
    "AWS_SESSION_TOKEN": ("aws", "aws:session_token"),
    "AWS_BEARER_TOKEN_BEDROCK": ("aws", "aws:bedrock_api_key"),
    "TWILIO_AUTH_TOKEN": ("twilio", "twilio:auth_token"),
    "TWILIO_API_SECRET": ("twilio", "twilio:api_key_secret"),
    "TWILIO_API_KEY_SECRET": ("twilio", "twilio:api_key_secret"),
    "AZURE_OPENAI_API_KEY": ("azure_openai", "azure_openai:api_key"),
    "AZURE_OPENAI_KEY": ("azure_openai", "azure_openai:api_key"),
    "DEEPSEEK_API_KEY": ("deepseek", "deepseek:api_key"),
    "NOTION_API_KEY": ("notion", "notion:integration_token"),
    "NOTION_TOKEN": ("notion", "notion:integration_token"),
    "SLACK_WEBHOOK_URL": ("slack", "slack:webhook_url"),
    "OPENCLAW_GATEWAY_TOKEN": ("openclaw", "openclaw:gateway_token"),
    "CLAWDBOT_GATEWAY_TOKEN": ("openclaw", "openclaw:gateway_token"),
    "OPENCLAW_GATEWAY_PASSWORD": ("openclaw", "openclaw:gateway_password"),
    "CLAWDBOT_GATEWAY_PASSWORD": ("openclaw", "openclaw:gateway_password"),
    "OPENCLAW_AUTH_PROFILE_SECRET_KEY": ("openclaw", "openclaw:auth_profile_secret_key"),
}

# Names that hold a known credential under any prefix or suffix, as whole words:
# PROD_AWS_SECRET_ACCESS_KEY, AWS_SECRET_ACCESS_KEY_BACKUP (a second pair beside the first).
ENV_NAME_PARTS: dict[str, tuple[str, str]] = {
    "AWS_SECRET_ACCESS_KEY": ("aws", "aws:access_key"),
    "AWS_SESSION_TOKEN": ("aws", "aws:session_token"),
    "AWS_BEARER_TOKEN_BEDROCK": ("aws", "aws:bedrock_api_key"),
    "TWILIO_AUTH_TOKEN": ("twilio", "twilio:auth_token"),
    "TWILIO_API_SECRET": ("twilio", "twilio:api_key_secret"),
    "TWILIO_API_KEY_SECRET": ("twilio", "twilio:api_key_secret"),
}

# Kinds known by their place whose values have a documented shape: a value in such a place
# without it (``your_auth_token``, a documentation example) is not that kind of secret.
KIND_SHAPES: dict[str, re.Pattern[str]] = {
    # twilio.com/docs/iam/api/authtoken: 32 hex; API key secrets are 32 letters and digits.
    "twilio:auth_token": re.compile(r"[0-9a-fA-F]{32}"),
    "twilio:api_key_secret": re.compile(r"[A-Za-z0-9]{32}"),
    # Azure AI services account keys: 32 hex characters, and the 84 letters and digits that
    # newer resources get.
    "azure_openai:api_key": re.compile(r"[0-9a-fA-F]{32}|[A-Za-z0-9]{84}"),
}


def fits_kind(kind: str, value: str) -> bool:
    """Whether ``value`` can be a ``kind`` secret: it has the kind's documented shape, if any,
    and is no run of a few repeated characters (the documentation examples' ``bbbb…``)."""
    shape = KIND_SHAPES.get(kind)
    return shape is None or (shape.fullmatch(value) is not None and len(set(value)) >= 6)


# ``<WORD>_API_KEY`` / ``<WORD>_TOKEN`` for providers OpenClaw knows by env var.
PROVIDER_WORDS: dict[str, str] = {
    "OPENAI": "openai",
    "ANTHROPIC": "anthropic",
    "CLAUDE": "anthropic",
    "OPENROUTER": "openrouter",
    "GITHUB": "github",
    "SLACK": "slack",
    "CLOUDFLARE": "cloudflare",
    "STRIPE": "stripe",
    "TELEGRAM": "telegram",
    "DISCORD": "discord",
    "HUGGINGFACE": "huggingface",
    "HF": "huggingface",
    "BRAVE": "brave",
    "ELEVENLABS": "elevenlabs",
    "GEMINI": "google",
    "GOOGLE": "google",
    "GROQ": "groq",
    "XAI": "xai",
    "MISTRAL": "mistral",
    "TOGETHER": "together",
    "CEREBRAS": "cerebras",
    "DEEPGRAM": "deepgram",
    "VOYAGE": "voyage",
    "NVIDIA": "nvidia",
    "MOONSHOT": "moonshot",
    "KIMI": "moonshot",
    "MINIMAX": "minimax",
    "PERPLEXITY": "perplexity",
    "FIRECRAWL": "firecrawl",
    "TAVILY": "tavily",
    "EXA": "exa",
    "OPENCLAW": "openclaw",
    "CLAWDBOT": "openclaw",
    "TAILSCALE": "tailscale",
    "GITLAB": "gitlab",
    "SENDGRID": "sendgrid",
    "MATRIX": "matrix",
    "NPM": "npm",
    "TWILIO": "twilio",
    "DEEPSEEK": "deepseek",
    "NOTION": "notion",
}

# Provider ids as they appear in OpenClaw (model providers, auth profiles, channels) mapped to
# the responder that can act on them.
PROVIDER_ALIASES: dict[str, str] = {
    "openai-codex": "openai",
    "codex": "openai",
    "github-copilot": "github",
    "copilot": "github",
    "claude": "anthropic",
    "claude-cli": "anthropic",
    "gemini": "google",
    "google-gemini": "google",
    "hf": "huggingface",
    "hugging-face": "huggingface",
    "qwen-portal": "qwen",
    "minimax-portal": "minimax",
    "kimi": "moonshot",
    "cloudflare-ai-gateway": "cloudflare",
    "azure-openai": "azure_openai",
    "azure-openai-responses": "azure_openai",
}

KNOWN_PROVIDERS: frozenset[str] = frozenset(
    {p.provider for p in PATTERNS}
    | {provider for provider, _ in ENV_NAMES.values()}
    | set(PROVIDER_WORDS.values())
    | set(PROVIDER_ALIASES.values())
    | {
        "whatsapp",
        "matrix",
        "mattermost",
        "msteams",
        "googlechat",
        "irc",
        "bluebubbles",
        "feishu",
        "zalo",
        "nextcloud-talk",
        "qwen",
    }
)

_SECRET_NAME_SUFFIXES = (
    "apikey",
    "token",
    "secret",
    "password",
    "passwd",
    "secretkey",
    "accesskey",
    "privatekey",
    "privatekeypem",
    "credential",
    "credentials",
)
_NOT_SECRET_NAME_SUFFIXES = (
    "publickey",
    "file",
    "path",
    "ref",
    "url",
    "mode",
    "id",
    "expires",
    "expiresat",
    "header",
    "tokens",  # counters such as maxTokens
)
_ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*")


def normalise_provider(provider_id: str) -> str:
    """An OpenClaw provider/channel id as a responder name, ``unknown`` if nobody handles it."""
    key = provider_id.strip().lower()
    key = PROVIDER_ALIASES.get(key, key)
    return key if key in KNOWN_PROVIDERS else UNKNOWN


def looks_like_secret_name(name: str) -> bool:
    """Whether a config key or variable name says its value is a credential."""
    squashed = re.sub(r"[^a-z0-9]", "", name.lower())
    if not squashed or squashed.endswith(_NOT_SECRET_NAME_SUFFIXES):
        return False
    return squashed == "key" or squashed.endswith(_SECRET_NAME_SUFFIXES)


def recognize_env_name(name: str) -> Recognition | None:
    """Provider and kind implied by an environment variable name."""
    if name in ENV_NAMES:
        provider, kind = ENV_NAMES[name]
        return Recognition(provider, kind, Confidence.LOCATION)
    for part, (provider, kind) in ENV_NAME_PARTS.items():
        if re.search(rf"(?:^|_){part}(?:_|$)", name):
            return Recognition(provider, kind, Confidence.LOCATION)
    if not _ENV_NAME_RE.fullmatch(name) or not looks_like_secret_name(name):
        return None
    word = name.split("_", 1)[0]
    word_provider = PROVIDER_WORDS.get(word)
    if word_provider is None:
        return None
    suffix = "token" if name.endswith("TOKEN") else "api_key"
    return Recognition(word_provider, f"{word_provider}:{suffix}", Confidence.LOCATION)


def _channel_kind(channel: str, leaf: str) -> Recognition:
    specific = {
        ("telegram", "botToken"): "telegram:bot_token",
        ("telegram", "webhookSecret"): "telegram:webhook_secret",
        ("discord", "token"): "discord:bot_token",
        ("slack", "botToken"): "slack:bot_token",
        ("slack", "appToken"): "slack:app_token",
        ("slack", "userToken"): "slack:user_token",
        ("slack", "signingSecret"): "slack:signing_secret",
    }
    kind = specific.get((channel, leaf))
    provider = normalise_provider(channel)
    if kind is None:
        kind = f"{provider}:{_snake(leaf)}"
    return Recognition(provider, kind, Confidence.LOCATION)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


# Exact config key paths (dotted, account segments removed by the caller's matcher below).
CONFIG_PATHS: dict[str, tuple[str, str]] = {
    "gateway.auth.token": ("openclaw", "openclaw:gateway_token"),
    "gateway.auth.password": ("openclaw", "openclaw:gateway_password"),
    "gateway.remote.token": ("openclaw", "openclaw:gateway_remote_token"),
    "gateway.remote.password": ("openclaw", "openclaw:gateway_remote_password"),
    "hooks.token": ("openclaw", "openclaw:hooks_token"),
    "hooks.gmail.pushToken": ("openclaw", "openclaw:gmail_push_token"),
    "cron.webhookToken": ("openclaw", "openclaw:cron_webhook_token"),
    "talk.apiKey": ("elevenlabs", "elevenlabs:api_key"),
    "messages.tts.elevenlabs.apiKey": ("elevenlabs", "elevenlabs:api_key"),
    "messages.tts.openai.apiKey": ("openai", "openai:api_key"),
    "tools.web.search.apiKey": ("brave", "brave:api_key"),
    "tools.web.search.perplexity.apiKey": ("perplexity", "perplexity:api_key"),
    "tools.web.search.gemini.apiKey": ("google", "google:api_key"),
    "tools.web.search.grok.apiKey": ("xai", "xai:api_key"),
    "tools.web.search.kimi.apiKey": ("moonshot", "moonshot:api_key"),
    "tools.web.fetch.firecrawl.apiKey": ("firecrawl", "firecrawl:api_key"),
    "plugins.entries.voice-call.config.twilio.authToken": ("twilio", "twilio:auth_token"),
}


def recognize_config_path(path: Sequence[str | int]) -> Recognition | None:
    """Provider and kind implied by an OpenClaw config key path (segments, root first)."""
    segments = [str(s) for s in path]
    if not segments:
        return None
    dotted = ".".join(segments)
    if dotted in CONFIG_PATHS:
        provider, kind = CONFIG_PATHS[dotted]
        return Recognition(provider, kind, Confidence.LOCATION)
    leaf = segments[-1]
    # Environment blocks: env.X, env.vars.X, skills.entries.<k>.env.X, sandbox docker env ...
    if "env" in segments[:-1]:
        found = recognize_env_name(leaf)
        if found is not None:
            return found
    if segments[0] == "channels" and len(segments) >= 3:
        channel = segments[1]
        if "tts" in segments and "elevenlabs" in segments:
            return Recognition("elevenlabs", "elevenlabs:api_key", Confidence.LOCATION)
        if looks_like_secret_name(leaf):
            return _channel_kind(channel, leaf)
    # models.providers.<id>.apiKey, models.json providers.<id>.apiKey, secrets.json providers.<id>
    for i, segment in enumerate(segments[:-1]):
        if segment == "providers" and i + 2 < len(segments) and looks_like_secret_name(leaf):
            provider = normalise_provider(segments[i + 1])
            if provider != UNKNOWN:
                return Recognition(provider, f"{provider}:api_key", Confidence.LOCATION)
    return None


# The stand-ins documentation shows behind a real prefix ("glpat-xxxxxxxxxxxxxxxxxxxx",
# "SG.xxxxxxxxxxxxxxxxxxxxxx.xxxx..."): after the prefix, each part is one repeated character.
_EXAMPLE_AFTER_PREFIX = re.compile(r"^[A-Za-z]{1,8}[-_.](?:(?P<c>[^.\-_])(?P=c){7,}[.\-_]?)+$")


# Whole example values providers print in their own documentation (they match the real shape).
_DOCUMENTED_EXAMPLES = frozenset({
    # SendGrid, "API Keys" (sendgrid/docs, Classroom/Send/How_Emails_Are_Sent/api_keys.md)
    "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",
    "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",  # Google's API key example (Maps, Firebase docs)
    # AWS's two example key pairs (IAM User Guide, "Managing access keys"; CLI docs).
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
})

# A URL whose secret part is one repeated character: Slack's documented webhook
# (https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX).
_EXAMPLE_URL = re.compile(r"^https://\S+/(?P<c>[^/])(?P=c){7,}$")


def is_documentation_example(value: str) -> bool:
    """A documentation placeholder behind a real prefix ("glpat-xxxx…", "sk-or-v1-your-key-here",
    "ghp_<token>"), or a provider's own documented example: never a secret."""
    candidate = value.strip()
    return (candidate in _DOCUMENTED_EXAMPLES or _EXAMPLE_AFTER_PREFIX.match(candidate) is not None
            or _EXAMPLE_URL.match(candidate) is not None
            or any(_PLACEHOLDERS.match(candidate[end:]) for end in _segment_ends(candidate)))


def recognize_value(value: str) -> Recognition | None:
    """Provider and kind from the value's own shape (first full match in ``PATTERNS``)."""
    candidate = value.strip()
    if is_documentation_example(candidate):
        return None
    for pattern in PATTERNS:
        if pattern.regex.fullmatch(candidate):
            key_id = pattern.key_id(candidate) if pattern.key_id else None
            if pattern.identifier:
                key_id = candidate
            return Recognition(pattern.provider, pattern.kind, pattern.confidence, key_id)
    return None


def is_identifier(recognition: Recognition) -> bool:
    """True for shapes that name a key without being secret (AWS access key ids)."""
    return recognition.kind in _IDENTIFIER_KINDS


def recognize(value: str, *hints: Recognition | None) -> Recognition | None:
    """Best classification of a value found in places giving ``hints`` (best evidence wins).

    A distinctive prefix beats the place (a ``ghp_`` token under ``GH_TOKEN`` is a classic PAT);
    the place beats a weak shape; a weak shape beats nothing.
    """
    best = recognize_value(value)
    for hint in hints:
        if hint is None:
            continue
        if best is None or hint.confidence > best.confidence:
            best = hint
        elif hint.confidence == best.confidence == Confidence.LOCATION and best.kind.endswith(
            (":api_key", ":token")
        ):
            # A more specific place ("gateway.auth.token") refines a generic one.
            best = hint
    return best


@dataclass(frozen=True)
class TextMatch:
    start: int
    end: int
    value: str
    recognition: Recognition


def find_in_text(text: str) -> Iterator[TextMatch]:
    """Distinctively-shaped secrets (and AWS key ids) anywhere in free text."""
    for match in _text_regex().finditer(text):
        value = match.group(0)
        if is_documentation_example(value):
            continue
        pattern = _classify_text(value)
        key_id = (
            value if pattern.identifier else (pattern.key_id(value) if pattern.key_id else None)
        )
        yield TextMatch(
            match.start(),
            match.end(),
            value,
            Recognition(pattern.provider, pattern.kind, pattern.confidence, key_id),
        )


_PLACEHOLDERS = re.compile(
    r"(?i)^(?:changeme|change-me|placeholder|redacted|__openclaw_redacted__|your[-_ ].*|"
    r"<.*>|x+|\*+|\.+|todo|none|null|undefined|true|false|example.*)$"
)


# Words that stand in for a value: never a secret, even where a secret is expected
# (``OPENAI_API_KEY=changeme`` in a compose file). Runs of one character are left out: at a
# known place ``xxxx…`` may be a test's real value, and is judged by its place.
_PLACEHOLDER_WORDS = re.compile(
    r"(?i)^(?:changeme|change-me|placeholder|redacted|__openclaw_redacted__|your[-_ ].*|<.*>|"
    r"todo|tbd|none|null|nil|undefined|true|false|example.*|replace[-_ ]?(?:me|with).*)$"
)


def is_placeholder_word(value: str) -> bool:
    """A word that stands in for a secret ("changeme", "<your-key>", "REPLACE_ME")."""
    return bool(_PLACEHOLDER_WORDS.match(value.strip()))


def is_placeholder(value: str) -> bool:
    """A placeholder, bare ("changeme", "<secret>") or as documentation writes one."""
    return bool(_PLACEHOLDERS.match(value.strip())) or is_documentation_example(value)


def plausible_secret_value(value: str, *, min_length: int = 16) -> bool:
    """Whether a string under a secret-looking name is a real value, not a placeholder or path."""
    candidate = value.strip()
    if len(candidate) < min_length or is_placeholder(candidate):
        return False
    if any(ch.isspace() for ch in candidate) or "://" in candidate:
        return False
    if candidate.startswith(("/", "~/", "./", "../", "$")):
        return False
    if is_documentation_example(candidate):
        return False
    if len(set(candidate)) < 6:
        return False
    classes = sum(
        (
            any(c.islower() for c in candidate),
            any(c.isupper() for c in candidate),
            any(c.isdigit() for c in candidate),
            any(not c.isalnum() for c in candidate),
        )
    )
    return classes >= 2


def _segment_ends(value: str) -> list[int]:
    """Where each of the first three ``-``/``_``-ended segments of up to 6 characters ends."""
    ends: list[int] = []
    for match in re.finditer(r"[A-Za-z0-9]{1,6}[-_]", value):
        if match.start() != (ends[-1] if ends else 0) or len(ends) == 3:
            break
        ends.append(match.end())
    return ends


def is_private_key_pem(value: str) -> bool:
    return value.lstrip().startswith("-----BEGIN") and "PRIVATE KEY-----" in value
