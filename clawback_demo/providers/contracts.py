"""The providers' own API descriptions, used to check every request a stand-in receives.

The descriptions are the trimmed, verbatim copies in ``clawback_demo/contracts/`` (their origin,
sha256 and license are in its SOURCES.md). They are package data, so an installed demo has them
as a checkout does; the tests read the same files. openapi-core is an optional dependency (the
``demo`` extra): when it (or a file) is missing, ``load_check`` returns None and the demo says
its stand-ins went unchecked.

A few documented, in-memory adjustments make openapi-core able to read what the providers
published; each is described in the matching section of SOURCES.md and mirrors
``tests/providers_ops/contract_variants.py``, and none loosens a check beyond the quirk it names.
The files on disk stay verbatim.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from werkzeug import Request

SpecAdapter = Callable[[dict[str, Any]], dict[str, Any]]
RequestAdapter = Callable[[Request], Request]


def contracts_dir() -> Path:
    """The demo's API descriptions: package data beside this package, never a repo-root path."""
    return Path(__file__).resolve().parent.parent / "contracts"


class DescriptionCheck:
    """Checks requests against one description with openapi-core."""

    def __init__(self, spec_name: str, api: Any, adapt_request: RequestAdapter | None) -> None:
        self.spec_name = spec_name
        self._api = api
        self._adapt_request = adapt_request

    def violation(self, request: Request) -> str | None:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest

        try:
            checked = self._adapt_request(request) if self._adapt_request else request
            self._api.validate_request(WerkzeugOpenAPIRequest(checked))
        except Exception as exc:
            return f"{request.method} {request.path}: {describe_violation(exc)}"
        return None


def describe_violation(exc: Exception) -> str:
    """What was wrong, by kind and place only: validator messages can quote the value sent,
    and the value may be a secret."""
    parts = [type(exc).__name__]
    cause = exc.__cause__
    if cause is not None:
        parts.append(type(cause).__name__)
    for error in getattr(cause, "schema_errors", None) or ():
        where = "/".join(str(p) for p in getattr(error, "absolute_path", ())) or "(top)"
        parts.append(f"{getattr(error, 'validator', '?')} at {where}")
    return ": ".join(parts)


def load_check(
    spec_name: str,
    *,
    adapt_spec: SpecAdapter | None = None,
    adapt_request: RequestAdapter | None = None,
) -> DescriptionCheck | None:
    """A check against ``contracts/<spec_name>``, or None if it cannot be had here."""
    import warnings

    path = contracts_dir() / spec_name
    try:
        from openapi_core import Config, OpenAPI
    except ImportError:
        return None
    # openapi-core cannot check oauth2 schemes (Slack's) and says so on every request; the
    # token header is checked by the stand-in itself, so the warning would only be noise.
    warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning, "openapi_core")
    if not path.is_file():
        return None
    spec = json.loads(path.read_text())
    if adapt_spec is not None:
        spec = adapt_spec(spec)
    # Match on the path alone, whatever loopback port the stand-in got.
    spec["servers"] = [{"url": "/"}]
    # The copies are checked descriptions already (contracts/SOURCES.md); checking them
    # again costs the demo a second or two.
    api = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
    return DescriptionCheck(spec_name, api, adapt_request)


# -- Slack ------------------------------------------------------------------------------------


def slack_header_token(spec: dict[str, Any]) -> dict[str, Any]:
    """``token`` optional as a query parameter or header: Slack refuses query-string tokens from
    apps created after 2021-02-24 and documents ``Authorization: Bearer`` instead, which the
    operations already require through ``slackAuth``. A ``token`` that is sent is still checked.
    Each method is also served as a POST (``slack_post_methods``).
    """
    spec = copy.deepcopy(spec)
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "token":
                    parameter["required"] = False
    return slack_post_methods(spec)


def slack_post_methods(spec: dict[str, Any]) -> dict[str, Any]:
    """Each GET method of Slack's 2020 description also as the POST Slack documents today.

    The published file lists ``auth.revoke`` and ``auth.test`` as GET with query arguments;
    Slack's method pages list the content types ``application/x-www-form-urlencoded`` and
    ``application/json`` (arguments in a POST body) and its SDKs POST every method
    (docs.slack.dev/reference/methods/auth.revoke, docs.slack.dev/apis/web-api). The POST has
    the same security, answers and arguments, moved from the query into an optional form body;
    the token itself stays in the ``Authorization`` header.
    """
    spec = copy.deepcopy(spec)
    for path, item in spec["paths"].items():
        get = item.get("get")
        if get is None or "post" in item:
            continue
        post = copy.deepcopy(get)
        arguments = [p for p in post.pop("parameters", []) if p.get("in") == "query"]
        post["parameters"] = [p for p in get.get("parameters", []) if p.get("in") != "query"]
        post["operationId"] = f"{get.get('operationId', path.strip('/'))}_post"
        properties = {p["name"]: p.get("schema", {"type": "string"}) for p in arguments}
        post["requestBody"] = {
            "required": False,
            "content": {
                media: {"schema": {"type": "object", "properties": properties}}
                for media in ("application/x-www-form-urlencoded", "application/json")
            },
        }
        item["post"] = post
    return spec


# -- Cloudflare -------------------------------------------------------------------------------


def cloudflare_update_body(spec: dict[str, Any]) -> dict[str, Any]:
    """The 2024-08 description reuses the token's *response* schema as the update body, so the
    token ``id`` is required and every id is ``readOnly``, which openapi-core refuses in a
    request: no body could pass. Cloudflare's current reference
    (developers.cloudflare.com/api/resources/user/subresources/tokens/methods/update) lists name,
    policies (with their ids and permission group ids), status, condition, expires_on and
    not_before as the body. So ``readOnly`` is dropped from the ``iam_*`` schemas (except the
    token value) and the token ``id`` is no longer required; every other constraint stays.
    The tests use the same function (``tests/providers_ops/contract_variants.py``).
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


# -- Stripe -----------------------------------------------------------------------------------


def _plain_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and not any(k in schema for k in ("anyOf", "oneOf"))


def stripe_deep_objects(spec: dict[str, Any]) -> dict[str, Any]:
    """openapi-core reads ``style: deepObject`` only on exploded objects; Stripe also puts it on
    arrays (``expand``, ``enabled_events``), scalars and ``anyOf`` (``created``). It is dropped
    there, and ``stripe_flat_arrays`` sends arrays as repeated keys. ``created[gte]`` and
    ``metadata[...]`` therefore go unchecked; enums, types and ``required`` still apply."""
    spec = copy.deepcopy(spec)
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("style") == "deepObject" and not _plain_object(
                    parameter.get("schema", {})
                ):
                    parameter.pop("style")
                    parameter.pop("explode", None)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                properties = media.get("schema", {}).get("properties", {})
                encoding = media.get("encoding", {})
                for name in list(encoding):
                    if encoding[name].get("style") == "deepObject" and not _plain_object(
                        properties.get(name, {})
                    ):
                        del encoding[name]
    return spec


_INDEXED = re.compile(r"^(?P<name>[A-Za-z_]+)\[\d*\]$")


def _flatten(encoded: str) -> str:
    pairs = parse_qsl(encoded, keep_blank_values=True)
    return urlencode([(_INDEXED.sub(r"\g<name>", key), value) for key, value in pairs])


def stripe_flat_arrays(request: Request) -> Request:
    """``enabled_events[0]=a&enabled_events[1]=b`` (how stripe-python sends arrays) as repeated
    keys, which is what ``stripe_deep_objects`` leaves the description expecting."""
    from werkzeug.test import EnvironBuilder

    body = request.get_data(as_text=True) if request.method == "POST" else ""
    headers = [
        (k, v) for k, v in request.headers.items() if k.lower() not in ("content-length", "host")
    ]
    builder = EnvironBuilder(
        method=request.method,
        path=request.path,
        query_string=_flatten(request.query_string.decode()),
        headers=headers,
        data=_flatten(body) if body else request.get_data(),
    )
    try:
        return Request(builder.get_environ())
    finally:
        builder.close()
