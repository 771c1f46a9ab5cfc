"""Guided manual steps for secrets no API can revoke, and for every secret nobody else claims.

``ManualResponder`` is the registry's fallback: it receives every credential whose provider no
installed responder handles, ``unknown`` included. Its ``revoke`` sends nothing; it returns a
``ManualRequired`` with the exact steps and link for the provider (or the kind, where a provider
has several), what the secret is (kind, fingerprint, bot or key id) and every place discovery
found it, so the operator can scrub those too. The engine lists these steps in the summary and
keeps the incident open (exit 3) until the operator confirms them (``--resume``).

Providers that also have an API responder (OpenAI, Stripe, Slack, ...) have instructions here
too, for a clawback installed without that responder.

``verify_revoked`` proves a step was done where a harmless read-only call exists: Telegram
``GET /bot<token>/getMe``, Hugging Face ``GET /api/whoami-v2`` and Discord ``GET /users/@me``
each answer 401 for a dead token. None of these has an official OpenAPI description; the calls
follow the providers' documented request shapes.

Config, the ``[providers.manual]`` table of clawback.toml (every key optional; tests point the
URLs at loopback servers)::

    telegram_api_url = "https://api.telegram.org"
    huggingface_api_url = "https://huggingface.co"
    discord_api_url = "https://discord.com/api/v10"
    timeout_seconds = 10
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from responders.interface import (
    Capability,
    Credential,
    Failed,
    ManualRequired,
    Outcome,
    ProviderSetup,
    Responder,
    ResponderContext,
    ResponderError,
    Skipped,
    VerifiedDead,
)

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class Guide:
    """How a human revokes one kind of secret: a service name, the steps, and where."""

    service: str
    steps: str
    url: str


# Keyed by kind first, then by provider: the first match wins.
GUIDES: Mapping[str, Guide] = {
    "telegram:bot_token": Guide(
        "Telegram",
        "Open @BotFather in Telegram, send /revoke, then choose the bot{bot}. BotFather answers "
        "with a new token and the old one stops working at once.",
        "https://t.me/BotFather",
    ),
    "telegram:webhook_secret": Guide(
        "Telegram",
        "Pick a new random secret and register it with setWebhook's secret_token parameter for "
        "the bot{bot}; updates signed with the old one are then refused.",
        "https://core.telegram.org/bots/api#setwebhook",
    ),
    "discord": Guide(
        "Discord",
        "Open the Discord Developer Portal, choose your application{bot}, open Bot and press "
        "Reset Token. The old token stops working at once.",
        "https://discord.com/developers/applications",
    ),
    "huggingface": Guide(
        "Hugging Face",
        "Open Settings → Access Tokens, find the token (its last characters are in the "
        "fingerprint) and choose Invalidate and refresh, or Delete.",
        "https://huggingface.co/settings/tokens",
    ),
    "openrouter": Guide(
        "OpenRouter",
        "Open Settings → API Keys, find the key and delete it (or disable it), then create a "
        "new one if the agent needs it.",
        "https://openrouter.ai/settings/keys",
    ),
    "brave": Guide(
        "Brave Search API",
        "Open the API dashboard → API Keys, delete the key and create a new one.",
        "https://api-dashboard.search.brave.com/app/keys",
    ),
    "elevenlabs": Guide(
        "ElevenLabs",
        "Open Settings → API Keys, delete the key and create a new one.",
        "https://elevenlabs.io/app/settings/api-keys",
    ),
    "google": Guide(
        "Google AI / Gemini",
        "Open Google AI Studio → API keys (or Cloud console → APIs & Services → Credentials), "
        "delete the key and create a new one.",
        "https://aistudio.google.com/app/apikey",
    ),
    "groq": Guide("Groq", "Open API Keys, delete the key.", "https://console.groq.com/keys"),
    "xai": Guide("xAI", "Open the console → API Keys, delete the key.", "https://console.x.ai"),
    "mistral": Guide(
        "Mistral", "Open API Keys, delete the key.", "https://console.mistral.ai/api-keys"
    ),
    "together": Guide(
        "Together AI",
        "Open Settings → API Keys, revoke the key.",
        "https://api.together.ai/settings/api-keys",
    ),
    # DeepSeek documents no API to list or revoke keys (api-docs.deepseek.com): only the
    # platform's API keys page can delete one.
    "deepseek": Guide(
        "DeepSeek",
        "Sign in to the DeepSeek platform, open API keys, delete the key (its last characters "
        "are in the fingerprint) and create a new one if the agent needs it.",
        "https://platform.deepseek.com/api_keys",
    ),
    # Notion has no API that revokes an integration's secret: only its settings page can.
    "notion": Guide(
        "Notion",
        "Open My integrations, choose the integration, and under Configuration → Internal "
        "Integration Secret choose Refresh; the old secret stops working at once.",
        "https://www.notion.so/profile/integrations",
    ),
    # ya29. access tokens are not API keys: the google responder (API Keys API) cannot delete
    # them. They expire within an hour; revoking also ends the grant they came from.
    "google_oauth": Guide(
        "Google OAuth",
        "Revoke the token now (POST https://oauth2.googleapis.com/revoke with token=<the value>, "
        "or remove the app under Google Account → Security → Third-party access), then sign "
        "the tool that held it in again; its refresh token goes with the grant.",
        "https://myaccount.google.com/permissions",
    ),
    "perplexity": Guide(
        "Perplexity", "Open Settings → API, delete the key.", "https://www.perplexity.ai/settings/api"
    ),
    "deepgram": Guide(
        "Deepgram",
        "Open the console → your project → API Keys, delete the key.",
        "https://console.deepgram.com",
    ),
    "cerebras": Guide(
        "Cerebras", "Open the cloud console → API Keys, delete the key.", "https://cloud.cerebras.ai"
    ),
    "voyage": Guide(
        "Voyage AI", "Open API Keys, delete the key.", "https://dashboard.voyageai.com/api-keys"
    ),
    "nvidia": Guide(
        "NVIDIA", "Open Setup → API Keys, revoke the key.", "https://org.ngc.nvidia.com/setup/api-keys"
    ),
    "moonshot": Guide(
        "Moonshot / Kimi",
        "Open the console → API Keys, delete the key.",
        "https://platform.moonshot.ai/console/api-keys",
    ),
    "minimax": Guide(
        "MiniMax", "Open the platform → API Keys, delete the key.", "https://platform.minimax.io"
    ),
    "firecrawl": Guide(
        "Firecrawl", "Open API Keys, delete the key.", "https://www.firecrawl.dev/app/api-keys"
    ),
    "tavily": Guide("Tavily", "Open the dashboard, revoke the API key.", "https://app.tavily.com"),
    "exa": Guide("Exa", "Open API Keys, revoke the key.", "https://dashboard.exa.ai/api-keys"),
    "gitlab": Guide(
        "GitLab",
        "Open Preferences → Access tokens and revoke the token.",
        "https://gitlab.com/-/user_settings/personal_access_tokens",
    ),
    "sendgrid": Guide(
        "SendGrid",
        "Open Settings → API Keys (and each subuser's), delete the key.",
        "https://app.sendgrid.com/settings/api_keys",
    ),
    "npm": Guide(
        "npm",
        "Open Access Tokens on npmjs.com and delete the token (or run `npm token revoke <id>`).",
        "https://www.npmjs.com/settings/tokens",
    ),
    "tailscale": Guide(
        "Tailscale",
        "Open the admin console → Settings → Keys and revoke the key.",
        "https://login.tailscale.com/admin/settings/keys",
    ),
    "matrix": Guide(
        "Matrix",
        "Sign in as the bot user, open Settings → Sessions and sign the agent's session out "
        "(or change the password, which ends every session).",
        "https://matrix.org/docs/",
    ),
    # Providers with an API responder of their own: only used when that responder is missing.
    "azure_openai": Guide(
        "Azure OpenAI",
        "Open the resource in the Azure portal → Resource Management → Keys and Endpoint and "
        "regenerate the key the agent used (Key1 or Key2; compare the last characters).",
        "https://portal.azure.com/#view/Microsoft_Azure_ProjectOxford/CognitiveServicesHub",
    ),
    "twilio": Guide(
        "Twilio",
        "Open Account → API keys & tokens: delete the API key (its SID is the key id), or for "
        "the Auth Token request a secondary token and promote it, which ends the old one.",
        "https://console.twilio.com/us1/account/keys-credentials/api-keys",
    ),
    "openai": Guide(
        "OpenAI",
        "Open the API keys page of the project, delete the key.",
        "https://platform.openai.com/api-keys",
    ),
    "anthropic:api_key": Guide(
        "Anthropic",
        "Open the Console → Settings → API Keys, disable or delete the key.",
        "https://console.anthropic.com/settings/keys",
    ),
    "anthropic": Guide(
        "Anthropic",
        "Open the Console → Settings → API Keys (OAuth tokens: sign out of the Claude app "
        "sessions), disable or delete the key.",
        "https://console.anthropic.com/settings/keys",
    ),
    "stripe:webhook_secret": Guide(
        "Stripe",
        "Open Developers → Webhooks, choose the endpoint and roll its signing secret.",
        "https://dashboard.stripe.com/webhooks",
    ),
    "stripe": Guide(
        "Stripe",
        "Open Developers → API keys and roll the key (expire the old one now).",
        "https://dashboard.stripe.com/apikeys",
    ),
    "slack:signing_secret": Guide(
        "Slack",
        "Open your app → Basic Information → App Credentials and regenerate the Signing Secret.",
        "https://api.slack.com/apps",
    ),
    "slack:app_token": Guide(
        "Slack",
        "Open your app → Basic Information → App-Level Tokens, revoke the token and create a "
        "new one.",
        "https://api.slack.com/apps",
    ),
    "slack": Guide(
        "Slack",
        "Open your app → OAuth & Permissions and revoke the tokens (or reinstall the app to get "
        "new ones).",
        "https://api.slack.com/apps",
    ),
    "cloudflare": Guide(
        "Cloudflare",
        "Open My Profile → API Tokens, roll or delete the token.",
        "https://dash.cloudflare.com/profile/api-tokens",
    ),
    "github": Guide(
        "GitHub",
        "Open Settings → Developer settings → Personal access tokens and delete the token.",
        "https://github.com/settings/tokens",
    ),
    "aws": Guide(
        "AWS",
        "Open IAM → Users → the user → Security credentials, deactivate the access key, then "
        "delete it.",
        "https://console.aws.amazon.com/iam/home#/users",
    ),
}

UNKNOWN_PROVIDER = "unknown"
VERIFIABLE_PROVIDERS = frozenset({"telegram", "huggingface", "discord"})


def guide_for(cred: Credential) -> Guide | None:
    return GUIDES.get(cred.kind) or GUIDES.get(cred.provider)


def _identity(cred: Credential) -> str:
    if cred.provider in ("telegram", "discord") and cred.key_id:
        return f" with id {cred.key_id}"
    return ""


def instructions_for(cred: Credential) -> ManualRequired:
    """The exact manual step for one credential, naming every place it was found."""
    where = ", ".join(str(loc) for loc in cred.locations) or "(no file recorded)"
    described = f"{cred.kind} {cred.fingerprint}" + (
        f" (id {cred.key_id})" if cred.key_id else ""
    )
    guide = guide_for(cred)
    if guide is None:
        service = "an unknown service" if cred.provider == UNKNOWN_PROVIDER else cred.provider
        return ManualRequired(
            detail=f"manual: {described}",
            instructions=f"clawback cannot tell which service issued {described} "
            f"({service}). It was found at: {where}. The key or variable name there usually "
            "names the service: sign in to that service, revoke or rotate the secret, then "
            "remove it from every place listed.",
        )
    steps = guide.steps.format(bot=_identity(cred))
    return ManualRequired(
        detail=f"manual: {guide.service} {described}",
        instructions=f"{guide.service}: revoke {described}. {steps} Then remove or replace "
        f"the old value in: {where}.",
        url=guide.url,
    )


@dataclass(frozen=True)
class ManualSettings:
    """The validated ``[providers.manual]`` table (see the module docstring)."""

    telegram_api_url: str = "https://api.telegram.org"
    huggingface_api_url: str = "https://huggingface.co"
    discord_api_url: str = "https://discord.com/api/v10"
    timeout_seconds: float = 10.0

    __pydantic_config__: ClassVar[Any] = {"extra": "forbid"}


def parse_settings(raw: Mapping[str, Any]) -> ManualSettings:
    from pydantic import TypeAdapter, ValidationError

    try:
        settings = TypeAdapter(ManualSettings).validate_python(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ResponderError(f"[providers.manual] is invalid: {problems}") from None
    if settings.timeout_seconds <= 0:
        raise ResponderError("[providers.manual] timeout_seconds must be positive")
    return settings


class ManualResponder(Responder):
    """The fallback: a guided manual step for every credential no API responder claims."""

    name: ClassVar[str] = "manual"
    providers: ClassVar[frozenset[str]] = frozenset(
        {
            "telegram", "discord", "huggingface", "brave", "elevenlabs",
            "groq", "mistral", "together", "perplexity", "deepgram", "cerebras", "voyage",
            "nvidia", "moonshot", "minimax", "firecrawl", "tavily", "exa", "npm",
            "tailscale", "deepseek", UNKNOWN_PROVIDER,
        }
    )
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.MANUAL, Capability.VERIFY_REVOKED}
    )
    fallback: ClassVar[bool] = True


    @classmethod
    def setup(cls, found: Sequence[Credential]) -> ProviderSetup:
        return ProviderSetup(
            note="no API revokes these: contain lists the exact steps for each (where and "
                 "how to revoke it) and checks afterwards where a harmless call exists",
        )

    @classmethod
    def check_config(cls, config: Mapping[str, Any]) -> None:
        parse_settings(config)
    def __init__(self, context: ResponderContext) -> None:
        super().__init__(context)
        self._lock = threading.Lock()
        self._parsed: ManualSettings | None = None
        self._http: httpx.Client | None = None

    def handles(self, cred: Credential) -> bool:
        return True

    @property
    def settings(self) -> ManualSettings:
        with self._lock:
            if self._parsed is None:
                self._parsed = parse_settings(self.context.config)
            return self._parsed

    def plan(self, creds: Sequence[Credential]) -> list[tuple[Credential, Outcome]]:
        # Exactly the manual step the real run leaves: a dry run predicts it (and its exit 3).
        return [(cred, instructions_for(cred)) for cred in creds]

    def revoke(self, cred: Credential) -> Outcome:
        return instructions_for(cred)

    # -- verification -------------------------------------------------------------------------

    def _client(self, timeout: float) -> httpx.Client:
        with self._lock:
            if self._http is None:
                from responders.kit.httpx_cli import skip_httpx_cli

                skip_httpx_cli()
                import httpx

                self._http = httpx.Client(
                    timeout=httpx.Timeout(timeout), headers={"User-Agent": "clawback"}
                )
            return self._http

    def verify_revoked(self, cred: Credential) -> Outcome:
        """A harmless read with the old token: 401 proves it dead."""
        if cred.provider not in VERIFIABLE_PROVIDERS or cred.kind.endswith("webhook_secret"):
            return Skipped(reason=f"{cred.provider} has no call that proves a {cred.kind} dead")
        if cred.secret is None:
            return Skipped(reason="the token's value is unknown, so it cannot be tried")
        if self.context.dry_run:
            return Skipped(reason="dry run: no request sent")
        try:
            s = self.settings
        except ResponderError as exc:
            return Failed(error=str(exc))
        token = cred.secret.reveal()
        if cred.provider == "telegram":
            # The Bot API takes the token in the path; the endpoint is named without it.
            url, headers, endpoint = (
                f"{s.telegram_api_url.rstrip('/')}/bot{token}/getMe", {}, "GET /bot<token>/getMe"
            )
        elif cred.provider == "huggingface":
            url, headers, endpoint = (
                f"{s.huggingface_api_url.rstrip('/')}/api/whoami-v2",
                {"Authorization": f"Bearer {token}"},
                "GET /api/whoami-v2",
            )
        else:
            url, headers, endpoint = (
                f"{s.discord_api_url.rstrip('/')}/users/@me",
                {"Authorization": f"Bot {token}"},
                "GET /users/@me",
            )
        guide = guide_for(cred)
        service = guide.service if guide else cred.provider
        return self._ask(url, headers, endpoint, service, cred)

    def _ask(
        self, url: str, headers: dict[str, str], endpoint: str, service: str, cred: Credential
    ) -> Outcome:
        import httpx

        try:
            answer = self._client(self.settings.timeout_seconds).get(url, headers=headers)
        except httpx.TimeoutException:
            return Failed(error=f"{endpoint}: {service} did not answer in time", retryable=True)
        except httpx.TransportError as exc:
            # The exception's text may hold the URL, and Telegram's URL holds the token.
            return Failed(
                error=f"{endpoint}: cannot reach {service} ({type(exc).__name__})", retryable=True
            )
        facts = {"checked_with": endpoint, "http_status": answer.status_code}
        if answer.status_code == 401:
            return VerifiedDead(detail=f"{service} rejects the old token (401)", facts=facts)
        if answer.status_code == 429:
            return Failed(
                error=f"{endpoint}: {service} rate-limits the check (429)",
                retryable=True,
                retry_after=_retry_after(answer),
                facts=facts,
            )
        if answer.status_code >= 500:
            return Failed(
                error=f"{endpoint}: {service} answered HTTP {answer.status_code}",
                retryable=True,
                facts=facts,
            )
        if answer.status_code < 300:
            return Failed(
                error=f"{service} still accepts the token {cred.fingerprint}: the manual step "
                "is not done yet",
                facts=facts,
            )
        return Failed(error=f"{endpoint}: {service} answered HTTP {answer.status_code}",
                      facts=facts)


def _retry_after(answer: Any) -> float | None:
    """Seconds to wait: the ``Retry-After`` header, else Telegram's ``parameters.retry_after``."""
    header = answer.headers.get("retry-after")
    if header:
        try:
            return max(float(header), 0.0)
        except ValueError:
            pass
    try:
        body = answer.json()
    except ValueError:
        return None
    parameters = body.get("parameters") if isinstance(body, dict) else None
    wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if isinstance(wait, int | float) and not isinstance(wait, bool):
        return max(float(wait), 0.0)
    return None
