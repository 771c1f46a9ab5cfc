"""What the hardening audit needs to know of a provider, whether or not a responder acts on it.

The engine never names a provider; the audit asks here instead: which providers move money or
send mail for the agent (a key to one of them makes an unattended tool policy worse), and where
each metered provider lets its owner cap spending, and which hosts are providers' APIs (a skill
calling one of them is expected, a call elsewhere is worth a look). Names are the ``provider`` of
``responders.kit.secret_patterns`` recognitions.
"""

from __future__ import annotations

# A key to one of these lets the agent pay or refund without a human.
MOVES_MONEY = frozenset({"stripe", "paypal", "square", "braintree", "adyen", "wise", "coinbase"})
# A key to one of these lets the agent send e-mail as the owner.
SENDS_MAIL = frozenset({"sendgrid", "mailgun", "postmark", "resend", "ses", "smtp"})
# Metered providers and the page where the owner sets a spending cap.
SPEND_LIMIT_PAGES: dict[str, str] = {
    "openai": "https://platform.openai.com/settings/organization/limits",
    "anthropic": "https://console.anthropic.com/settings/limits",
    "openrouter": "https://openrouter.ai/settings/keys",
    "google": "https://console.cloud.google.com/billing/budgets",
    "groq": "https://console.groq.com/settings/billing",
    "mistral": "https://console.mistral.ai/billing",
    "xai": "https://console.x.ai",
    "elevenlabs": "https://elevenlabs.io/app/subscription",
}

# Hosts of the APIs an agent's skills are expected to call (and their subdomains).
API_HOSTS = (
    "api.openai.com", "api.anthropic.com", "api.github.com", "github.com", "api.stripe.com",
    "slack.com", "api.telegram.org", "discord.com", "huggingface.co", "api.cloudflare.com",
    "openrouter.ai", "amazonaws.com", "googleapis.com", "api.elevenlabs.io",
    "api.search.brave.com", "generativelanguage.googleapis.com",
)  # fmt: skip
