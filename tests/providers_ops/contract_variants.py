"""Documented, in-memory adjustments to the verbatim descriptions the tests check against.

Each one works around a stated quirk of a stale upstream file or of openapi-core (see the Slack,
Cloudflare and Stripe sections of ``clawback_demo/contracts/SOURCES.md``); the files on disk stay
as the providers published them. Nothing here loosens a check beyond the quirk it names.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from clawback_demo.providers.contracts import (
    cloudflare_update_body,
    stripe_deep_objects,
    stripe_flat_arrays,
)

# -- Slack ------------------------------------------------------------------------------------

# Not in Slack's published description (last changed 2020-10, before token rotation existed):
# the shape documented at https://docs.slack.dev/authentication/using-token-rotation and
# https://api.slack.com/methods/oauth.v2.access. Hand-written, labelled as such.
SLACK_OAUTH_V2_ACCESS: dict[str, Any] = {
    "post": {
        "operationId": "oauth_v2_access",
        "description": "DOCUMENTED SHAPE, not from slack_web_openapi_v2.json: exchanges a "
        "refresh token for a new access and refresh token (token rotation).",
        "security": [],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["client_id", "client_secret", "grant_type", "refresh_token"],
                        "properties": {
                            "client_id": {"type": "string", "minLength": 1},
                            "client_secret": {"type": "string", "minLength": 1},
                            "grant_type": {"type": "string", "enum": ["refresh_token"]},
                            "refresh_token": {"type": "string", "pattern": "^xoxe-"},
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "The new pair (or ok:false with an error)",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["ok"],
                            "properties": {
                                "ok": {"type": "boolean"},
                                "access_token": {"type": "string"},
                                "refresh_token": {"type": "string"},
                                "expires_in": {"type": "integer"},
                                "token_type": {"type": "string"},
                                "error": {"type": "string"},
                            },
                        },
                        "example": {
                            "ok": True,
                            "app_id": "A0KRD7HC3",
                            "access_token": "xoxe.xoxb-1-MS0yLTIxNzk5NDYxNDgtNTA0MjkzOTY0OQ",
                            "expires_in": 43200,
                            "refresh_token": "xoxe-1-My0xLTIxNzk5NDYxNDgtNTA0MjkzOTY0OS0x",
                            "token_type": "bot",
                            "scope": "chat:write",
                            "bot_user_id": "U0KRQLJ9H",
                            "team": {"name": "Slack Softball Team", "id": "T9TK3CUKW"},
                            "enterprise": None,
                            "is_enterprise_install": False,
                        },
                    }
                },
            }
        },
    }
}
SLACK_ROTATED_ACCESS = SLACK_OAUTH_V2_ACCESS["post"]["responses"]["200"]["content"][
    "application/json"
]["example"]


def slack_variant(spec: dict[str, Any]) -> dict[str, Any]:
    """Slack's description with the token in the ``Authorization`` header.

    Upstream declares ``token`` as a required query parameter (``auth.revoke``) or header
    (``auth.test``). Since 2021-02-24 Slack refuses query-string tokens from new apps and
    documents ``Authorization: Bearer`` instead (api.slack.com/changelog/2020-11-no-more-tokens-
    in-querystrings-for-newly-created-apps), which the same operations already demand through
    their ``slackAuth`` security requirement. So ``token`` becomes optional (it is still
    validated when sent); each method is also served as the POST Slack documents today (see
    ``clawback_demo.providers.contracts.slack_post_methods``); and ``oauth.v2.access`` is
    added in its documented shape.
    """
    from clawback_demo.providers.contracts import slack_header_token

    spec = slack_header_token(spec)  # token optional, every method also as a POST
    spec["paths"]["/oauth.v2.access"] = copy.deepcopy(SLACK_OAUTH_V2_ACCESS)
    return spec


# -- Cloudflare -------------------------------------------------------------------------------

# The update-body fix is the demo's (one copy): the 2024-08 description reuses the token's
# response schema as the ``PUT /user/tokens/{token_id}`` body, so no body could pass.
cloudflare_variant = cloudflare_update_body

_ACCOUNT_TOKENS = re.compile(r"^/accounts/[0-9a-f]{32}/tokens(?P<rest>/.*)?$")


def cloudflare_account_as_user(request: Any) -> Any:
    """Validate an account-owned token call against the matching user-token operation.

    The 2024-08 description has no ``/accounts/{account_id}/tokens`` paths (they came later);
    Cloudflare documents them with the same bodies and answers as ``/user/tokens``. Only the
    path prefix is mapped, and only for a well-formed 32-hex account id.
    """
    match = _ACCOUNT_TOKENS.match(request.path)
    if match is None:
        return request
    return rebuilt(request, path="/user/tokens" + (match["rest"] or ""))


# -- Stripe -----------------------------------------------------------------------------------

# The demo's workaround for openapi-core and Stripe's ``deepObject`` arrays (one copy): deepObject
# dropped where the schema is not a plain object, arrays sent as repeated keys.
stripe_relaxed = stripe_deep_objects
stripe_flattened = stripe_flat_arrays


# -- shared -----------------------------------------------------------------------------------


def rebuilt(
    request: Any, *, path: str | None = None, query: str | None = None, body: str | None = None
) -> Any:
    """A copy of a werkzeug request with another path, query string or body."""
    from werkzeug import Request
    from werkzeug.test import EnvironBuilder

    headers = [
        (k, v) for k, v in request.headers.items() if k.lower() not in ("content-length", "host")
    ]
    data = body if body is not None else request.get_data()
    builder = EnvironBuilder(
        method=request.method,
        path=path if path is not None else request.path,
        query_string=query if query is not None else request.query_string.decode(),
        headers=headers,
        data=data,
    )
    try:
        return Request(builder.get_environ())
    finally:
        builder.close()
