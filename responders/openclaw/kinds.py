"""The kinds of OpenClaw secret discovery reports, what the responder does with each, and
how its outcomes name them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from responders.interface import Credential, Location

KIND_GATEWAY_TOKEN = "openclaw:gateway_token"
KIND_GATEWAY_PASSWORD = "openclaw:gateway_password"
KIND_REMOTE_TOKEN = "openclaw:gateway_remote_token"
KIND_REMOTE_PASSWORD = "openclaw:gateway_remote_password"
KIND_HOOKS_TOKEN = "openclaw:hooks_token"
KIND_CRON_TOKEN = "openclaw:cron_webhook_token"
KIND_GMAIL_PUSH_TOKEN = "openclaw:gmail_push_token"
KIND_EXEC_APPROVALS_TOKEN = "openclaw:exec_approvals_token"
KIND_DEVICE_TOKEN = "openclaw:device_token"
KIND_NODE_TOKEN = "openclaw:node_token"
KIND_DEVICE_KEY = "openclaw:device_private_key"
KIND_SIDECAR_KEY = "openclaw:auth_profile_secret_key"
KIND_WHATSAPP = "whatsapp:session"

# Who must be given the new value once the gateway runs again.
ROTATED_KINDS: Mapping[str, str] = {
    KIND_GATEWAY_TOKEN: "the Control UI, the CLI and every remote client need the new token",
    KIND_GATEWAY_PASSWORD: "everyone who signs in to the gateway needs the new password",
    KIND_HOOKS_TOKEN: "every webhook sender (POST /hooks) needs the new token",
    KIND_CRON_TOKEN: "every cron webhook caller needs the new token",
    KIND_GMAIL_PUSH_TOKEN: "update the Gmail Pub/Sub push subscription URL with the new token",
    KIND_EXEC_APPROVALS_TOKEN: "the exec-approvals socket reads the new token at start-up",
}
CLEARED_KINDS = frozenset({KIND_DEVICE_TOKEN, KIND_NODE_TOKEN})

DOCS_URL = "https://docs.openclaw.ai/gateway/security"
WHATSAPP_HELP_URL = "https://faq.whatsapp.com/"


def short_kind(kind: str) -> str:
    return kind.split(":", 1)[-1]


def fingerprint_hex(cred: Credential) -> str:
    """The hex of a credential's fingerprint (its keyring names use the first 8)."""
    return cred.fingerprint.rsplit("sha256:", 1)[-1]


def places(locations: Sequence[Location]) -> str:
    return ", ".join(str(loc) for loc in locations) or "(no file recorded)"
