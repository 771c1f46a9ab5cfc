"""Azure OpenAI's key management (Azure Resource Manager) and data plane as a stateful answer set
for ``ContractServer``.

Every request is checked against Microsoft's own descriptions (``azure_cognitiveservices_mgmt.json``
with ``azure_common_types_v2.json``, and ``azure_openai_authoring.json`` for the data plane),
served together by one loopback server through ``azure_both``. They are Swagger 2.0 and
openapi-core reads OpenAPI 3, so ``azure_both`` converts them in memory (the files stay
verbatim); see tests/contracts/SOURCES.md.

Answers follow the documentation: ARM wants ``Authorization: Bearer`` and answers 401
``InvalidAuthenticationToken`` / ``ExpiredAuthenticationToken`` or 403 ``AuthorizationFailed``;
regenerateKey gives the slot a new value at once; the data plane answers 401 "Access denied due
to invalid subscription key or wrong API endpoint" to a key it does not know, which is also what
a live key of another account gets at this endpoint.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import CONTRACTS, ContractServer

SUBSCRIPTION = "7f2a1c9e-0b4d-4e8a-9c61-2d5f3e8b1a70"
GROUP = "agents"
DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
          "provide a valid key for an active subscription and use a correct regional API "
          "endpoint for your resource.")


def _oas3_schema(node: Any) -> Any:
    """A Swagger 2.0 schema as OpenAPI 3: local definitions move to components/schemas."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = "#/components/schemas/" + value.rsplit("/", 1)[1]
            elif not key.startswith("x-"):
                out[key] = _oas3_schema(value)
        return out
    if isinstance(node, list):
        return [_oas3_schema(v) for v in node]
    return node


def _parameter(ref_or_param: dict[str, Any], docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ref = ref_or_param.get("$ref")
    if ref is None:
        return ref_or_param
    file_part, _, pointer = ref.partition("#")
    doc = docs["common" if file_part else "self"]
    node: Any = doc
    for part in pointer.strip("/").split("/"):
        node = node[part]
    return dict(node)


def _convert(spec: dict[str, Any], docs: dict[str, dict[str, Any]], prefix: str = "") -> dict:
    """The operations of a Swagger 2.0 description as OpenAPI 3 path items (requests only:
    responses keep their descriptions, not their schemas, since only requests are checked)."""
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        converted: dict[str, Any] = {}
        for method, operation in item.items():
            parameters, body = [], None
            for raw in operation.get("parameters", []):
                p = _parameter(raw, docs)
                if p["in"] == "body":
                    body = {"required": p.get("required", False), "content": {
                        "application/json": {"schema": _oas3_schema(p["schema"])}}}
                    continue
                schema = {k: p[k] for k in ("type", "pattern", "minLength", "maxLength", "enum")
                          if k in p}
                parameters.append({"name": p["name"], "in": p["in"],
                                   "required": p.get("required", False), "schema": schema})
            op: dict[str, Any] = {
                "operationId": operation["operationId"],
                "parameters": parameters,
                "responses": {code: {"description": r.get("description") or code}
                              for code, r in operation["responses"].items()},
            }
            if body is not None:
                op["requestBody"] = body
            converted[method] = op
        paths[prefix + path] = converted
    return paths


def azure_both(spec: dict[str, Any]) -> dict[str, Any]:
    """Management (with the common types it refers to) and data plane as one OpenAPI 3 document.

    Conversions, all in memory: parameters by ``$ref`` (local or into the common types) are
    inlined; a ``body`` parameter becomes a JSON ``requestBody``; ``definitions`` become
    ``components/schemas``; the management API's ``azure_auth`` (Azure AD OAuth2) is checked as
    what ARM receives, ``Authorization: Bearer``; the data plane's ``x-ms-parameterized-host``
    ``{endpoint}/openai`` becomes the ``/openai`` path prefix, and its ``api-key`` header scheme
    is kept."""
    common = json.loads((CONTRACTS / "azure_common_types_v2.json").read_text())
    data = json.loads((CONTRACTS / "azure_openai_authoring.json").read_text())
    paths = _convert(spec, {"self": spec, "common": common})
    data_paths = _convert(data, {"self": data, "common": common}, prefix="/openai")
    for item in data_paths.values():
        for operation in item.values():
            operation["security"] = [{"api-key": []}]
    return {
        "openapi": "3.0.3",
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "security": [{"azure_auth": []}],
        "paths": {**paths, **data_paths},
        "components": {
            "schemas": _oas3_schema(spec["definitions"]),
            "securitySchemes": {
                "azure_auth": {"type": "http", "scheme": "bearer"},
                "api-key": {"type": "apiKey", "name": "api-key", "in": "header"},
            },
        },
    }


def arm_error(status: int, code: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message}}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _key() -> str:
    return secrets.token_hex(16)


@dataclass
class Account:
    name: str
    key1: str = field(default_factory=_key)
    key2: str = field(default_factory=_key)
    regenerations: list[str] = field(default_factory=list)

    @property
    def keys(self) -> tuple[str, str]:
        return self.key1, self.key2


class AzureOpenAI:
    """Accounts in one resource group; the data plane at this server is ``served``'s."""

    def __init__(self, contract: ContractServer, token: str) -> None:
        self.contract = contract
        self.token = token
        self.accounts: dict[str, Account] = {}
        self.served = ""  # the account whose data plane answers at this endpoint
        self.forbid: set[str] = set()  # "listKeys", "regenerateKey": 403 AuthorizationFailed
        self.expired = False
        self.network_blocked = False  # the account's network rules refuse this client: 403
        self.observe: Callable[[Request], None] = lambda request: None
        base = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
                "Microsoft.CognitiveServices/accounts/[^/]+")
        contract.answer("POST", f"{base}/listKeys", self._observed(self._list))
        contract.answer("POST", f"{base}/regenerateKey", self._observed(self._regenerate))
        contract.answer("GET", "/openai/models", self._observed(self._models))

    def add(self, name: str = "agent-aoai") -> Account:
        self.accounts[name] = Account(name)
        self.served = self.served or name
        return self.accounts[name]

    def _observed(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            self.observe(request)
            return handler(request)

        return answer

    def _refusal(self, request: Request, action: str) -> Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return arm_error(401, "InvalidAuthenticationToken",
                             "The access token is invalid.")
        if self.expired:
            return arm_error(401, "ExpiredAuthenticationToken",
                             "The access token expiry UTC time is earlier than current UTC time.")
        if action in self.forbid:
            return arm_error(
                403, "AuthorizationFailed",
                "The client 'c0ffee00-0000-0000-0000-000000000000' with object id "
                "'c0ffee00-0000-0000-0000-000000000000' does not have authorization to perform "
                f"action 'Microsoft.CognitiveServices/accounts/{action}/action'",
            )
        return None

    def _account(self, request: Request) -> Account | None:
        return self.accounts.get(request.path.split("/accounts/", 1)[1].split("/", 1)[0])

    def _list(self, request: Request) -> Response:
        refusal = self._refusal(request, "listKeys")
        account = self._account(request)
        if refusal or account is None:
            return refusal or arm_error(404, "ResourceNotFound", "The Resource was not found.")
        return Response(json.dumps({"key1": account.key1, "key2": account.key2}),
                        mimetype="application/json")

    def _regenerate(self, request: Request) -> Response:
        refusal = self._refusal(request, "regenerateKey")
        account = self._account(request)
        if refusal or account is None:
            return refusal or arm_error(404, "ResourceNotFound", "The Resource was not found.")
        slot = request.get_json()["keyName"]
        setattr(account, slot.lower(), _key())
        account.regenerations.append(slot)
        return Response(json.dumps({"key1": account.key1, "key2": account.key2}),
                        mimetype="application/json")

    def _models(self, request: Request) -> Response:
        if self.network_blocked:
            return arm_error(403, "403", "Traffic is not from an approved private endpoint.")
        account = self.accounts.get(self.served)
        if account is None or request.headers.get("api-key") not in account.keys:
            return arm_error(401, "401", DENIED)
        return Response(json.dumps({"object": "list", "data": []}), mimetype="application/json")
