"""Google's API Keys API, its OAuth token endpoint and a Gemini endpoint, as loopback servers.

- The API Keys API sits behind ``ContractServer``: every request is checked against Google's
  Discovery document (``tests/contracts/apikeys-v2-discovery.json``, converted by
  ``discovery_openapi.to_openapi``), and every answer the stand-in gives is checked against the
  same description. It answers as the reference documents: ``lookupKey`` names a key (deleted
  ones too, until purged), ``delete`` and ``create`` are long-running operations that finish on
  a later ``operations.get``, a deleted key keeps its record with a ``deleteTime``, ``create``'s
  key carries no ``keyString`` (that field "can be accessed only through the GetKeyString
  method"), and errors are ``google.rpc.Status`` bodies with a ``google.rpc.ErrorInfo``.
- The token endpoint (no machine-readable description exists; shapes from RFC 7523 and
  developers.google.com/identity/protocols/oauth2/service-account) checks the JWT grant: its
  signature against the service account's public key, issuer, audience and scope.
- The Gemini endpoint ``GET /v1beta/models`` (shapes from ai.google.dev/api/models and
  ai.google.dev/gemini-api/docs/troubleshooting) answers for the key in ``x-goog-api-key``:
  200 for a live key, 400 ``API_KEY_INVALID`` for a deleted or unknown one, 403
  ``API_KEY_IP_ADDRESS_BLOCKED`` for a live key restricted to other addresses, and, for a new
  key's first ``warmup`` calls, ``API_KEY_INVALID`` while it propagates. A request with the key
  in the query string instead of the header is refused by the stand-in (clawback must not put
  keys in URLs it need not).
"""

from __future__ import annotations

import functools
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import ContractServer
from tests.providers_new.google.discovery_openapi import to_openapi

PROJECT = "agent-prod-4711"
PROJECT_NUMBER = "123456867718"
TOKEN_PATH = "/token"
# The audience Google requires in a service account's grant, wherever the request is sent
# (developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def google_error(status: int, code: str, message: str, reason: str = "",
                 metadata: dict[str, str] | None = None) -> Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": reason, "domain": "googleapis.com",
                             "metadata": metadata or {}}]
    return _json({"error": error}, status)


def invalid_key() -> Response:
    return google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                        "API_KEY_INVALID", {"service": "generativelanguage.googleapis.com"})


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def new_value() -> str:
    return "AIza" + secrets.token_urlsafe(27)[:35]


@dataclass
class Key:
    value: str
    display_name: str = "openclaw gemini"
    restrictions: dict[str, Any] = field(default_factory=lambda: {
        "apiTargets": [{"service": "generativelanguage.googleapis.com"}],
        "serverKeyRestrictions": {"allowedIps": ["203.0.113.7/32"]},
    })
    annotations: dict[str, str] = field(default_factory=lambda: {"owner": "agent"})
    delete_time: str = ""
    purged: bool = False
    blocked_here: bool = False  # restricted to other IPs: 403 for the caller, yet alive
    warmup: int = 0  # calls answered API_KEY_INVALID while a new key propagates
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    etag: str = field(default_factory=lambda: f'W/"{secrets.token_hex(8)}"')

    @property
    def name(self) -> str:
        return f"projects/{PROJECT_NUMBER}/locations/global/keys/{self.uid}"

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "uid": self.uid, "displayName": self.display_name,
            "createTime": "2026-01-05T10:30:00.123456Z", "updateTime": "2026-01-05T10:30:00Z",
            "etag": self.etag, "restrictions": self.restrictions,
        }
        if self.annotations:
            out["annotations"] = self.annotations
        if self.delete_time:
            out["deleteTime"] = self.delete_time
        return out


class GoogleCloud:
    """One Google Cloud project's API keys, behind the three endpoints above."""

    def __init__(self, contract: ContractServer, front: Any, public_key_pem: bytes,
                 client_email: str) -> None:
        self.contract = contract
        self.keys: dict[str, Key] = {}  # uid → key
        self.operations: dict[str, tuple[int, dict[str, Any]]] = {}  # name → (polls left, op)
        self.pending_polls = 1  # operations.get calls before an operation is done
        self.forbid: set[str] = set()  # Discovery method ids answered 403 PERMISSION_DENIED
        self.tokens: set[str] = set()
        self.static_tokens: set[str] = set()  # access tokens accepted without a grant
        self.grants: list[dict[str, Any]] = []  # the verified JWT claims of each grant
        self.answer_violations: list[str] = []
        self.front_problems: list[str] = []
        self.observe: Callable[[Request], None] = lambda request: None
        self.models_answer: Response | None = None  # what Gemini answers every key, when set
        self._public_key = public_key_pem
        self._client_email = client_email
        keys = f"/v2/projects/{PROJECT_NUMBER}/locations/global/keys"
        project_keys = f"/v2/projects/({PROJECT}|{PROJECT_NUMBER})/locations/global/keys"
        for method, path, handler in (
            ("GET", "/v2/keys:lookupKey", self._lookup),
            ("GET", "/v2/operations/[^/]+", self._operation),
            ("GET", project_keys, self._list),
            ("POST", keys, self._create),
            ("GET", f"{keys}/[^/]+", self._get),
            ("DELETE", f"{keys}/[^/]+", self._delete),
            ("GET", f"{keys}/[^/]+/keyString", self._key_string),
        ):
            contract.answer(method, path, self._checked(handler))
        front.expect_request(TOKEN_PATH, method="POST").respond_with_handler(self._token)
        front.expect_request("/v1beta/models", method="GET").respond_with_handler(self._models)
        self.front_url = front.url_for("/").rstrip("/")

    def add(self, **fields: Any) -> Key:
        key = Key(new_value(), **fields)
        self.keys[key.uid] = key
        return key

    def by_value(self, value: str) -> Key | None:
        return next((k for k in self.keys.values() if k.value == value), None)

    # -- plumbing -----------------------------------------------------------------------------

    def _checked(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            self.observe(request)
            refusal = self._refusal(request, handler.__name__)
            response = refusal or handler(request)
            self._check_answer(request, response)
            return response

        return answer

    def _check_answer(self, request: Request, response: Response) -> None:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        try:
            description().validate_response(
                WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
        except ResponseNotFound:
            pass  # an error status: google.rpc.Status, which the Discovery document omits
        except Exception as exc:
            self.answer_violations.append(
                f"{request.method} {request.path} → {response.status_code}: {exc!r}")

    def _refusal(self, request: Request, handler: str) -> Response | None:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if presented not in self.tokens | self.static_tokens:
            return google_error(401, "UNAUTHENTICATED", "Request had invalid authentication "
                                "credentials.", "ACCESS_TOKEN_TYPE_UNSUPPORTED")
        method = {"_lookup": "lookup", "_list": "list", "_create": "create", "_get": "get",
                  "_delete": "delete", "_key_string": "getKeyString",
                  "_operation": "get"}[handler]
        if method in self.forbid:
            return google_error(403, "PERMISSION_DENIED", f"Permission 'apikeys.keys.{method}' "
                                "denied on resource (or it may not exist).",
                                "IAM_PERMISSION_DENIED", {"permission": f"apikeys.keys.{method}"})
        return None

    def _key(self, request: Request) -> Key | None:
        uid = request.path.removesuffix("/keyString").rsplit("/", 1)[1]
        key = self.keys.get(uid)
        return None if key is None or key.purged else key

    def _operation_answer(self, response: dict[str, Any] | None) -> Response:
        name = f"operations/akmf.p7-{secrets.token_hex(6)}"
        done = {"name": name, "done": True, "response": response or {
            "@type": "type.googleapis.com/google.protobuf.Empty"}}
        if self.pending_polls == 0:
            return _json(done)
        self.operations[name] = (self.pending_polls, done)
        return _json({"name": name, "metadata": {
            "@type": "type.googleapis.com/google.protobuf.Empty"}})

    # -- the API Keys API ---------------------------------------------------------------------

    def _lookup(self, request: Request) -> Response:
        key = self.by_value(request.args.get("keyString", ""))
        if key is None:
            return google_error(404, "NOT_FOUND", "Key not found.")
        body = {"parent": f"projects/{PROJECT_NUMBER}"}
        if not key.purged:
            body["name"] = key.name
        return _json(body)

    def _operation(self, request: Request) -> Response:
        name = request.path.removeprefix("/v2/")
        left, done = self.operations[name]
        if left > 1:
            self.operations[name] = (left - 1, done)
            return _json({"name": name})
        return _json(done)

    def _list(self, request: Request) -> Response:
        live = [k.record() for k in self.keys.values() if not k.delete_time and not k.purged]
        return _json({"keys": live[: int(request.args.get("pageSize") or 300)]})

    def _create(self, request: Request) -> Response:
        body = request.get_json()
        key = self.add(display_name=body.get("displayName", ""),
                       restrictions=body.get("restrictions", {}),
                       annotations=body.get("annotations", {}), warmup=1)
        return self._operation_answer(
            {"@type": "type.googleapis.com/google.api.apikeys.v2.Key", **key.record()})

    def _get(self, request: Request) -> Response:
        key = self._key(request)
        return _json(key.record()) if key else google_error(404, "NOT_FOUND", "Key not found.")

    def _delete(self, request: Request) -> Response:
        key = self._key(request)
        if key is None:
            return google_error(404, "NOT_FOUND", "Key not found.")
        if key.delete_time:
            return google_error(400, "FAILED_PRECONDITION", "The key is already deleted.")
        etag = request.args.get("etag")
        if etag is not None and etag != key.etag:
            return google_error(409, "ABORTED", "The etag does not match.")
        key.delete_time = "2026-12-06T18:00:00.000001Z"
        key.etag = f'W/"{secrets.token_hex(8)}"'
        return self._operation_answer({"@type": "type.googleapis.com/google.api.apikeys.v2.Key",
                                       **key.record()})

    def _key_string(self, request: Request) -> Response:
        key = self._key(request)
        if key is None:
            return google_error(404, "NOT_FOUND", "Key not found.")
        return _json({"keyString": key.value})

    # -- the token endpoint and Gemini --------------------------------------------------------

    def _token(self, request: Request) -> Response:
        import jwt

        form = request.form
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            self.front_problems.append(f"grant_type {form.get('grant_type')!r}")
            return _json({"error": "unsupported_grant_type"}, 400)
        try:
            claims = jwt.decode(form.get("assertion", ""), self._public_key,
                                algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE)
        except jwt.PyJWTError as exc:
            return _json({"error": "invalid_grant",
                          "error_description": f"Invalid JWT: {type(exc).__name__}"}, 400)
        if claims.get("iss") != self._client_email or "cloud-platform" not in claims.get(
                "scope", ""):
            return _json({"error": "invalid_scope"}, 400)
        self.grants.append(claims)
        token = "ya29." + secrets.token_urlsafe(40)
        self.tokens.add(token)
        return _json({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _models(self, request: Request) -> Response:
        if "key" in request.args:
            self.front_problems.append("a key in the query string")
        if self.models_answer is not None:
            return self.models_answer
        value = request.headers.get("x-goog-api-key", "")
        key = self.by_value(value)
        if key is None or key.delete_time or key.purged:
            return invalid_key()
        if key.warmup > 0:
            key.warmup -= 1
            return invalid_key()
        if key.blocked_here:
            return google_error(403, "PERMISSION_DENIED", "The provided API key has an IP "
                                "address restriction.", "API_KEY_IP_ADDRESS_BLOCKED",
                                {"service": "generativelanguage.googleapis.com"})
        return _json({"models": [{"name": "models/gemini-2.5-flash",
                                  "displayName": "Gemini 2.5 Flash"}],
                      "nextPageToken": "Ch1tb2RlbHMvZ2VtaW5pLTIuNS1mbGFzaA=="})


@functools.cache
def description() -> Any:
    """The converted description, parsed once (for checking the stand-in's own answers)."""
    from openapi_core import OpenAPI

    from tests.contract_server import CONTRACTS

    spec = to_openapi(json.loads((CONTRACTS / "apikeys-v2-discovery.json").read_text()))
    spec["servers"] = [{"url": "/"}]
    return OpenAPI.from_dict(spec)
