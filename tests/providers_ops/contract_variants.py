"""Documented, in-memory adjustments to the verbatim descriptions the tests check against.

Each one works around a stated quirk of a stale upstream file or of openapi-core (see the Slack,
Cloudflare and Stripe sections of ``clawback_demo/contracts/SOURCES.md``); the files on disk stay
as the providers published them. Nothing here loosens a check beyond the quirk it names.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

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


def cloudflare_variant(spec: dict[str, Any]) -> dict[str, Any]:
    """The 2024-08 description, accepting the update body Cloudflare documents today.

    Upstream quirk 1: the ``PUT /user/tokens/{token_id}`` body reuses the response schema, so the
    token ``id`` is required and every ``id`` (token, policy, permission group) is ``readOnly``,
    which openapi-core refuses to see in a request: no body can pass. Cloudflare's current
    reference (developers.cloudflare.com/api/resources/user/subresources/tokens/methods/update)
    lists name, policies (with their ids and permission group ids), status, condition,
    expires_on and not_before as the body. So ``readOnly`` is dropped from the token schemas and
    the token ``id`` is no longer required; every other constraint stays.
    """
    spec = copy.deepcopy(spec)

    def drop_read_only(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("readOnly", None)
            for value in node.values():
                drop_read_only(value)
        elif isinstance(node, list):
            for value in node:
                drop_read_only(value)

    schemas = spec["components"]["schemas"]
    for name, schema in schemas.items():
        if name.startswith("iam_") and name != "iam_value":
            drop_read_only(schema)
    token = schemas["iam_token"]
    token["required"] = [r for r in token["required"] if r != "id"]
    return spec


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


def _is_object_schema(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and not any(k in schema for k in ("anyOf", "oneOf"))


def stripe_relaxed(spec: dict[str, Any]) -> dict[str, Any]:
    """openapi-core supports ``style: deepObject`` only on exploded object parameters; Stripe
    puts it on arrays (``expand``, ``enabled_events``), scalars and ``anyOf`` (``created``), so
    every GET and form POST fails to deserialize. Drop deepObject where the schema is not a
    plain object (the workaround SOURCES.md describes); array values are then sent as repeated
    keys by ``stripe_flattened``. Limitation: ``created[gte]`` is ignored rather than checked.
    """
    spec = copy.deepcopy(spec)
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("style") == "deepObject" and not _is_object_schema(
                    parameter.get("schema", {})
                ):
                    parameter.pop("style")
                    parameter.pop("explode", None)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                properties = media.get("schema", {}).get("properties", {})
                encoding = media.get("encoding", {})
                for name in list(encoding):
                    if encoding[name].get("style") == "deepObject" and not _is_object_schema(
                        properties.get(name, {})
                    ):
                        del encoding[name]
    return spec


_INDEXED = re.compile(r"^(?P<name>[A-Za-z_]+)\[\d*\]$")


def _flatten(encoded: str) -> str:
    pairs = parse_qsl(encoded, keep_blank_values=True)
    return urlencode([(_INDEXED.sub(r"\g<name>", key), value) for key, value in pairs])


def stripe_flattened(request: Any) -> Any:
    """``enabled_events[0]=a&enabled_events[1]=b`` (how the SDK sends arrays) as repeated keys,
    which is what the relaxed description describes."""
    body = request.get_data(as_text=True) if request.method == "POST" else ""
    return rebuilt(
        request,
        query=_flatten(request.query_string.decode()),
        body=_flatten(body) if body else None,
    )


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
