"""A loopback Anthropic organization, checked against the *documented* shapes of its Admin API.

Anthropic publishes no OpenAPI description (see tests/contracts/SOURCES.md), so nothing
official can validate the requests. Instead JSON schemas are written by hand from the public
documentation, as summarised in ../shared/research/providers.md §5; the request shapes are the
demo's (``clawback_demo.providers.anthropic``, one copy), the answer shapes are here:

- ``GET /v1/organizations/api_keys``: query ``limit`` (1–1000), ``after_id``/``before_id``,
  ``status`` (active|inactive|archived|expired), ``workspace_id``, ``created_by_user_id``;
- ``GET /v1/organizations/api_keys/{api_key_id}``;
- ``POST /v1/organizations/api_keys/{api_key_id}``, body ``{name?, status?}`` with
  ``status`` one of active|inactive|archived;
- every request carries ``x-api-key`` and ``anthropic-version: 2023-06-01``;
- the key object: ``id``, ``type: "api_key"``, ``name``, ``workspace_id``, ``created_at``,
  ``created_by {id, type}``, ``partial_key_hint``, ``status``; lists add ``has_more``,
  ``first_id``, ``last_id``.

``GET /v1/models`` (the harmless call made with an ordinary key) follows the public Models API
documentation: query ``limit``/``after_id``/``before_id``, answer ``{data, has_more, first_id,
last_id}``. A request outside these shapes gets 422 and is recorded as a violation; the
stand-in's own answers are checked against the same shapes.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from clawback_demo.providers.anthropic import (
    API_VERSION,
    LIST_KEYS_QUERY,
    MODELS_QUERY,
    NO_QUERY,
    STATUSES,
    UPDATE_BODY,
    partial_hint,
)

# The documented request shapes are the demo's (one copy); the answers' shapes are below.
API_KEY = {
    "type": "object",
    "required": [
        "id",
        "type",
        "name",
        "workspace_id",
        "created_at",
        "created_by",
        "partial_key_hint",
        "status",
    ],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "api_key"},
        "name": {"type": "string"},
        "workspace_id": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {
            "type": "object",
            "required": ["id", "type"],
            "properties": {"id": {"type": "string"}, "type": {"type": "string"}},
        },
        "partial_key_hint": {"type": ["string", "null"]},
        "status": {"enum": STATUSES},
    },
}


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data", "has_more", "first_id", "last_id"],
        "properties": {
            "data": {"type": "array", "items": item},
            "has_more": {"type": "boolean"},
            "first_id": {"type": ["string", "null"]},
            "last_id": {"type": ["string", "null"]},
        },
    }


MODEL = {
    "type": "object",
    "required": ["id", "type", "display_name", "created_at"],
    "properties": {"type": {"const": "model"}},
}
ERROR = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {"type": "object", "required": ["type", "message"]},
    },
}


@dataclass(frozen=True)
class Operation:
    method: str
    pattern: str
    query: dict[str, Any]
    body: dict[str, Any] | None
    answer: dict[str, Any]


OPERATIONS = (
    Operation("GET", r"/v1/organizations/api_keys", LIST_KEYS_QUERY, None, _list_of(API_KEY)),
    Operation("GET", r"/v1/organizations/api_keys/([^/]+)", NO_QUERY, None, API_KEY),
    Operation("POST", r"/v1/organizations/api_keys/([^/]+)", NO_QUERY, UPDATE_BODY, API_KEY),
    Operation("GET", r"/v1/models", MODELS_QUERY, None, _list_of(MODEL)),
)


def new_key(infix: str = "api03") -> str:
    return f"sk-ant-{infix}-" + secrets.token_urlsafe(70).replace("-", "x") + "AA"


@dataclass
class StoredKey:
    key_id: str
    value: str
    name: str
    status: str = "active"
    workspace_id: str | None = None


@dataclass
class AnthropicOrg:
    """The organization's API keys and admin keys; ``serve`` puts them behind a checked server."""

    keys: dict[str, StoredKey] = field(default_factory=dict)
    admin_keys: dict[str, bool] = field(default_factory=dict)  # value → may write
    outside_keys: set[str] = field(default_factory=set)  # live, but in another organization
    violations: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any], Any]] = field(default_factory=list)
    faults: list[tuple[str, str, Callable[[], Response], list[int]]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def add_key(
        self,
        value: str | None = None,
        *,
        status: str = "active",
        workspace_id: str | None = "wrkspc_agent",
        name: str = "agent",
    ) -> StoredKey:
        key_id = f"apikey_{next(self._ids):04d}"
        key = StoredKey(key_id, value or new_key(), name, status, workspace_id)
        self.keys[key.key_id] = key
        return key

    def add_admin_key(self, value: str | None = None, *, may_write: bool = True) -> str:
        value = value or new_key("admin01")
        self.admin_keys[value] = may_write
        return value

    def fail(
        self, method: str, pattern: str, status: int, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps({"type": "error", "error": {"type": "api_error", "message": "stand-in"}})
        self.faults.append(
            (
                method,
                pattern,
                lambda: Response(body, status, headers, content_type="application/json"),
                [1],
            )
        )

    def hang(self, method: str, pattern: str, release: threading.Event) -> None:
        def answer() -> Response:
            release.wait(5)
            return Response("{}", 500, content_type="application/json")

        self.faults.append((method, pattern, answer, [1000]))

    def sent(self, method: str, pattern: str) -> list[tuple[str, str, dict[str, Any], Any]]:
        return [r for r in self.requests if r[0] == method and re.fullmatch(pattern, r[1])]

    # -- serving --------------------------------------------------------------------------------

    def serve(self, httpserver: Any) -> AnthropicOrg:
        httpserver.expect_request(re.compile("^/.*")).respond_with_handler(self._handle)
        self.url = httpserver.url_for("/").rstrip("/")
        return self

    def _handle(self, request: Request) -> Response:
        operation = next(
            (
                op
                for op in OPERATIONS
                if op.method == request.method and re.fullmatch(op.pattern, request.path)
            ),
            None,
        )
        body = request.get_json(silent=True) if request.data else None
        self.requests.append((request.method, request.path, dict(request.args), body))
        problems = []
        if operation is None:
            problems.append("no documented operation")
        else:
            if request.headers.get("anthropic-version") != API_VERSION:
                problems.append("anthropic-version header missing or wrong")
            if not request.headers.get("x-api-key"):
                problems.append("x-api-key header missing")
            if request.headers.get("Authorization"):
                problems.append("the Admin API takes x-api-key, not Authorization")
            query: dict[str, Any] = dict(request.args)
            if "limit" in query:
                query["limit"] = int(query["limit"]) if query["limit"].isdigit() else query["limit"]
            problems += [e.message for e in _validator(operation.query).iter_errors(query)]
            if operation.body is None and request.data:
                problems.append("a body where none is documented")
            if operation.body is not None:
                if body is None:
                    problems.append("documented JSON body missing")
                else:
                    problems += [e.message for e in _validator(operation.body).iter_errors(body)]
        if problems:
            self.violations.append(f"{request.method} {request.path}: {'; '.join(problems)}")
            return Response("request outside the documented shape", 422)
        assert operation is not None
        fault = self._take_fault(request)
        if fault is not None:
            return fault()
        with self._lock:
            status, answer = self._answer(request, operation, body)
        schema = operation.answer if status == 200 else ERROR
        for error in _validator(schema).iter_errors(answer):
            self.violations.append(f"answer to {request.method} {request.path}: {error.message}")
        return Response(json.dumps(answer), status, content_type="application/json")

    def _take_fault(self, request: Request) -> Callable[[], Response] | None:
        with self._lock:
            for method, pattern, respond, left in self.faults:
                if left[0] > 0 and method == request.method and re.fullmatch(pattern, request.path):
                    left[0] -= 1
                    return respond
        return None

    def _answer(self, request: Request, operation: Operation, body: Any) -> tuple[int, Any]:
        caller = request.headers.get("x-api-key", "")
        if request.path == "/v1/models":
            live = {k.value for k in self.keys.values() if k.status == "active"} | self.outside_keys
            if caller not in live:
                return 401, _error("authentication_error", "invalid x-api-key")
            model = {
                "type": "model",
                "id": "claude-test",
                "display_name": "Claude",
                "created_at": "2025-02-19T00:00:00Z",
            }
            return 200, {"data": [model], "has_more": False, "first_id": None, "last_id": None}
        if caller not in self.admin_keys:
            return 401, _error("authentication_error", "invalid x-api-key")
        match = re.fullmatch(operation.pattern, request.path)
        assert match is not None
        if operation.pattern.endswith("api_keys"):
            return 200, self._list(request)
        key = self.keys.get(match[1])
        if key is None:
            return 404, _error("not_found_error", "API key not found")
        if request.method == "POST":
            if not self.admin_keys[caller]:
                return 403, _error("permission_error", "this key may only read")
            if key.status == "archived":
                return 400, _error("invalid_request_error", "archived keys cannot change")
            key.status = body.get("status", key.status)
            key.name = body.get("name", key.name)
        return 200, self._object(key)

    def _object(self, key: StoredKey) -> dict[str, Any]:
        return {
            "id": key.key_id,
            "type": "api_key",
            "name": key.name,
            "workspace_id": key.workspace_id,
            "created_at": "2024-10-30T23:58:27.427722Z",
            "created_by": {"id": "user_abc", "type": "user"},
            "partial_key_hint": partial_hint(key.value),
            "status": key.status,
        }

    def _list(self, request: Request) -> dict[str, Any]:
        items = [
            self._object(k)
            for k in self.keys.values()
            if request.args.get("workspace_id") in (None, k.workspace_id)
            and request.args.get("status") in (None, k.status)
        ]
        limit = int(request.args.get("limit", 20))
        after = request.args.get("after_id")
        ids = [i["id"] for i in items]
        start = ids.index(after) + 1 if after in ids else 0
        page = items[start : start + limit]
        return {
            "data": page,
            "has_more": start + limit < len(items),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }


def _validator(schema: dict[str, Any]) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}
