"""xAI's Management API and the inference API's ``GET /v1/api-key``, as one loopback team.

xAI publishes no machine-readable description of its Management API that could be retrieved here
(see tests/contracts/SOURCES.md, "xAI"), so every request is checked against JSON schemas written
from the documentation's own shapes, and labelled so: docs.x.ai/docs/key-information/
using-management-api (create with name, acls, qps, qpm, tpm; list with pageSize and
paginationToken; update with apiKey and fieldMask; delete; propagation; validation),
docs.x.ai/developers/rest-api-reference/management/auth (the key object) and, for
``GET /v1/api-key``, the ``ApiKey`` message of github.com/xai-org/xai-proto
``proto/xai/api/v1/auth.proto``. A request that breaks them is recorded as a violation and fails
the test. The answers follow the same pages: a deleted or unknown key gets 400 "Incorrect API key
provided: xa***XX" (xAI quotes the key's ends: clawback must never repeat it); a new key answers
that too until it has propagated (``warmup`` calls).
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from werkzeug import Request, Response

TEAM = "4f1c9b2a-7d3e-4b8a-9e21-5c6d7e8f9a01"

_NULLABLE_INT = {"type": ["integer", "null"]}
CREATE = {
    "type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1},
                   "acls": {"type": "array", "items": {"type": "string",
                                                       "pattern": "^api-key:(model|endpoint):"}},
                   "qps": _NULLABLE_INT, "qpm": _NULLABLE_INT,
                   "tpm": {"type": ["string", "null"], "pattern": "^[0-9]+$"},
                   "expireTime": {"type": ["string", "null"]}},
}
UPDATE = {
    "type": "object", "required": ["apiKey", "fieldMask"], "additionalProperties": False,
    "properties": {"apiKey": {"type": "object"}, "fieldMask": {"type": "string", "minLength": 1}},
}


def error(status: int, message: str) -> Response:
    return Response(json.dumps({"code": "Client specified an invalid argument",
                                "error": message}), status=status, mimetype="application/json")


def incorrect(value: str) -> Response:
    return error(400, f"Incorrect API key provided: {value[:2]}***{value[-2:]}. You can obtain "
                 "an API key from https://console.x.ai.")


def new_value() -> str:
    return "xai-" + secrets.token_urlsafe(60).replace("-", "a").replace("_", "b")[:80]


@dataclass
class Key:
    value: str
    name: str = "openclaw grok"
    disabled: bool = False
    blocked: bool = False
    acls: list[str] = field(
        default_factory=lambda: ["api-key:model:grok-4", "api-key:endpoint:chat"])
    qps: int | None = 5
    qpm: int | None = 100
    tpm: str | None = None
    warmup: int = 0
    key_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def record(self) -> dict[str, Any]:
        return {
            "redactedApiKey": f"{self.value[:4]}...{self.value[-4:]}", "userId": "user-7e2c",
            "name": self.name, "createTime": "2026-01-05T10:30:00Z",
            "modifyTime": "2026-01-05T10:30:00Z", "teamId": TEAM, "apiKeyId": self.key_id,
            "disabled": self.disabled, "qps": self.qps, "qpm": self.qpm, "tpm": self.tpm,
            "aclStrings": self.acls,
        }

    def info(self) -> dict[str, Any]:
        return {"redacted_api_key": f"{self.value[:4]}****{self.value[-4:]}",
                "user_id": "user-7e2c", "name": self.name, "create_time": "1767609000",
                "modify_time": "1767609000", "modified_by": "user-7e2c", "team_id": TEAM,
                "acls": self.acls, "api_key_id": self.key_id, "api_key_blocked": self.blocked,
                "team_blocked": False, "api_key_disabled": self.disabled}


class XAITeam:
    """One xAI team's API keys behind the Management API and ``GET /v1/api-key``."""

    def __init__(self, server: Any, management: str) -> None:
        self.management = {management}
        self.keys: dict[str, Key] = {}
        self.page_size_cap = 100
        self.forbid: set[str] = set()  # "DELETE", "GET /auth/teams", ...: 403 for them
        self.violations: list[str] = []
        self.requests: list[Request] = []
        self.observe: Callable[[Request], None] = lambda request: None
        self.own_answer: Response | None = None  # what GET /v1/api-key answers, when set
        server.expect_request(re.compile("^/.*")).respond_with_handler(self._handle)
        self.url = server.url_for("/").rstrip("/")

    def add(self, **fields: Any) -> Key:
        key = Key(new_value(), **fields)
        self.keys[key.key_id] = key
        return key

    def by_value(self, value: str) -> Key | None:
        return next((k for k in self.keys.values() if k.value == value), None)

    # -- plumbing -----------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        self.requests.append(request)
        self.observe(request)
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", r"/v1/api-key", self._own),
            ("GET", r"/auth/management-keys/validation", self._validation),
            ("GET", rf"/auth/teams/{TEAM}/api-keys", self._list),
            ("POST", rf"/auth/teams/{TEAM}/api-keys", self._create),
            ("PUT", r"/auth/api-keys/[0-9a-f-]{36}", self._update),
            ("DELETE", r"/auth/api-keys/[0-9a-f-]{36}", self._delete),
            ("GET", r"/auth/api-keys/[0-9a-f-]{36}/propagation", self._propagation),
        ]
        for method, pattern, handler in routes:
            if request.method == method and re.fullmatch(pattern, request.path):
                problem = self._contract(request, handler)
                if problem:
                    self.violations.append(f"{request.method} {request.path}: {problem}")
                    return error(400, "request does not match the documented shape")
                return handler(request)
        self.violations.append(f"{request.method} {request.path}: no such documented route")
        return error(404, "not found")

    def _contract(self, request: Request, handler: Callable[[Request], Response]) -> str:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return "no bearer credential"
        schema = {"_create": CREATE, "_update": UPDATE}.get(handler.__name__)
        if schema is not None:
            try:
                jsonschema.validate(json.loads(request.get_data() or b"null"), schema)
            except (ValueError, jsonschema.ValidationError) as exc:
                return f"body: {type(exc).__name__}"
        elif request.get_data():
            return "a body where the documentation sends none"
        if handler.__name__ == "_list":
            size = request.args.get("pageSize", "")
            if size and not size.isdigit():
                return "pageSize is not an integer"
            if set(request.args) - {"pageSize", "paginationToken"}:
                return "undocumented query parameter"
        return ""

    def _bearer(self, request: Request) -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer ")

    def _refusal(self, request: Request) -> Response | None:
        if self._bearer(request) not in self.management:
            return error(401, "Invalid management key")
        for rule in self.forbid:  # "DELETE", or "GET /auth/teams": a method and a path prefix
            method, _, prefix = rule.partition(" ")
            if request.method == method and request.path.startswith(prefix):
                return error(403, "The management key lacks the required permission")
        return None

    def _key(self, request: Request) -> Key | None:
        return self.keys.get(request.path.split("/")[3])

    def _json(self, body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    # -- the API ------------------------------------------------------------------------------

    def _own(self, request: Request) -> Response:
        if self.own_answer is not None:
            return self.own_answer
        value = self._bearer(request)
        key = self.by_value(value)
        if key is None:
            return incorrect(value)
        if key.warmup > 0:
            key.warmup -= 1
            return incorrect(value)
        return self._json(key.info())

    def _validation(self, request: Request) -> Response:
        return self._refusal(request) or self._json({"teamId": TEAM, "name": "clawback"})

    def _list(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal:
            return refusal
        size = min(int(request.args.get("pageSize") or 10), self.page_size_cap)
        start = int(request.args.get("paginationToken") or 0)
        keys = list(self.keys.values())
        page = keys[start: start + size]
        body: dict[str, Any] = {"apiKeys": [k.record() for k in page]}
        if start + size < len(keys):
            body["paginationToken"] = str(start + size)
        return self._json(body)

    def _create(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal:
            return refusal
        body = request.get_json()
        key = self.add(name=body["name"], acls=body.get("acls", []), qps=body.get("qps"),
                       qpm=body.get("qpm"), tpm=body.get("tpm"), warmup=1)
        return self._json({**key.record(), "apiKey": key.value})

    def _update(self, request: Request) -> Response:
        refusal = self._refusal(request)
        key = self._key(request)
        if refusal or key is None:
            return refusal or error(404, "API key not found")
        body = request.get_json()
        if body["fieldMask"] == "disabled":
            key.disabled = bool(body["apiKey"].get("disabled"))
        return self._json(key.record())

    def _delete(self, request: Request) -> Response:
        refusal = self._refusal(request)
        key = self._key(request)
        if refusal or key is None:
            return refusal or error(404, "API key not found")
        del self.keys[key.key_id]
        return self._json({})

    def _propagation(self, request: Request) -> Response:
        refusal = self._refusal(request)
        key = self._key(request)
        if refusal or key is None:
            return refusal or error(404, "API key not found")
        return self._json({"propagated": key.warmup == 0})
