"""A loopback Anthropic organization, checked against the *documented* shapes of its Admin API.

The tests serve this same stand-in (``tests/providers_ai``). Anthropic publishes no OpenAPI
description, so nothing official can check the requests; the JSON schemas below are written by
hand from the public documentation (summarised in ``../shared/research/providers.md`` §5):

- ``GET /v1/organizations/api_keys``: query ``limit`` (1–1000), ``after_id``/``before_id``,
  ``status`` (active|inactive|archived|expired), ``workspace_id``, ``created_by_user_id``;
- ``GET /v1/organizations/api_keys/{api_key_id}``;
- ``POST /v1/organizations/api_keys/{api_key_id}``, body ``{name?, status?}`` with ``status``
  one of active|inactive|archived;
- every request carries ``x-api-key`` and ``anthropic-version: 2023-06-01``;
- the key object: ``id``, ``type: "api_key"``, ``name``, ``workspace_id``, ``created_at``,
  ``created_by {id, type}``, ``partial_key_hint``, ``status``; lists add ``has_more``,
  ``first_id``, ``last_id``;
- ``GET /v1/models`` with an ordinary key (the harmless call), query ``limit``/``after_id``/
  ``before_id``, answer ``{data, has_more, first_id, last_id}`` (the Models API documentation).

The stand-in's own answers are checked against the same shapes (``answer_violation``).

Keys are listed with ``partial_key_hint`` (the prefix and three more characters, "...", the last
four). A key set ``inactive`` or ``archived`` answers 401 from then on, as does a key of another
organization on the Admin API (``outside_keys``: live on ``/v1/models``, listed nowhere); a
read-only admin key is refused changes with 403. The Admin API has no call that creates or
deletes a key, so neither does this stand-in.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from clawback_demo.providers.loopback import json_response

API_VERSION = "2023-06-01"
STATUSES = ["active", "inactive", "archived", "expired"]
_PAGING = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    "after_id": {"type": "string", "minLength": 1},
    "before_id": {"type": "string", "minLength": 1},
}
LIST_KEYS_QUERY = {
    "type": "object",
    "properties": {
        **_PAGING,
        "status": {"enum": STATUSES},
        "workspace_id": {"type": "string", "minLength": 1},
        "created_by_user_id": {"type": "string", "minLength": 1},
    },
    "additionalProperties": False,
}
MODELS_QUERY = {"type": "object", "properties": _PAGING, "additionalProperties": False}
NO_QUERY = {"type": "object", "additionalProperties": False}
UPDATE_BODY = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "status": {"enum": ["active", "inactive", "archived"]},
    },
    "additionalProperties": False,
}


API_KEY = {
    "type": "object",
    "required": ["id", "type", "name", "workspace_id", "created_at", "created_by",
                 "partial_key_hint", "status"],
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


@dataclass(frozen=True)
class Operation:
    method: str
    pattern: str
    query: dict[str, Any]
    body: dict[str, Any] | None
    answer: dict[str, Any]  # the shape of a 200 answer (any other status: ERROR)


OPERATIONS = (
    Operation("GET", r"/v1/organizations/api_keys", LIST_KEYS_QUERY, None, _list_of(API_KEY)),
    Operation("GET", r"/v1/organizations/api_keys/([^/]+)", NO_QUERY, None, API_KEY),
    Operation("POST", r"/v1/organizations/api_keys/([^/]+)", NO_QUERY, UPDATE_BODY, API_KEY),
    Operation("GET", r"/v1/models", MODELS_QUERY, None, _list_of(MODEL)),
)


def new_key(infix: str = "api03") -> str:
    return f"sk-ant-{infix}-" + secrets.token_urlsafe(70).replace("-", "x") + "AA"


def partial_hint(value: str) -> str:
    """Anthropic's hint: the prefix with three more characters, "...", the last four."""
    return f"{value[:16]}...{value[-4:]}"


class DocumentedShapes:
    """The hand-written check above; needs ``jsonschema`` (it comes with openapi-core)."""

    def violation(self, request: Request) -> str | None:
        import jsonschema

        operation = _operation(request)
        if operation is None:
            return f"{request.method} {request.path}: no documented operation"
        problems = []
        if request.headers.get("anthropic-version") != API_VERSION:
            problems.append("anthropic-version header missing or wrong")
        if not request.headers.get("x-api-key"):
            problems.append("x-api-key header missing")
        if request.headers.get("Authorization"):
            problems.append("the Admin API takes x-api-key, not Authorization")
        query: dict[str, Any] = dict(request.args)
        if str(query.get("limit", "")).isdigit():
            query["limit"] = int(query["limit"])
        checks = [(operation.query, query, "query")]
        if operation.body is None and request.get_data():
            problems.append("a body where none is documented")
        elif operation.body is not None:
            body = request.get_json(silent=True)
            if body is None:
                problems.append("documented JSON body missing")
            else:
                checks.append((operation.body, body, "body"))
        for schema, instance, where in checks:
            for error in jsonschema.Draft202012Validator(schema).iter_errors(instance):
                # The validator and the place, never the message: it can quote the value.
                path = "/".join(str(p) for p in error.absolute_path) or "(top)"
                problems.append(f"{where}: {error.validator} at {path}")
        if problems:
            return f"{request.method} {request.path}: {'; '.join(problems)}"
        return None

    def answer_violation(self, request: Request, response: Response) -> str | None:
        """Why the stand-in's own answer breaks the documented shape, or None."""
        import jsonschema

        operation = _operation(request)
        if operation is None:
            return None
        schema = operation.answer if response.status_code == 200 else ERROR
        body = json.loads(response.get_data())
        problems = [
            f"{error.validator} at {'/'.join(str(p) for p in error.absolute_path) or '(top)'}"
            for error in jsonschema.Draft202012Validator(schema).iter_errors(body)
        ]
        if problems:
            return f"answer to {request.method} {request.path}: {'; '.join(problems)}"
        return None


def _operation(request: Request) -> Operation | None:
    return next(
        (
            op
            for op in OPERATIONS
            if op.method == request.method and re.fullmatch(op.pattern, request.path)
        ),
        None,
    )


@dataclass
class StoredKey:
    key_id: str
    value: str
    name: str
    status: str = "active"
    workspace_id: str | None = "wrkspc_agent"


@dataclass
class AnthropicOrganization:
    keys: dict[str, StoredKey] = field(default_factory=dict)
    admin_keys: dict[str, bool] = field(default_factory=dict)  # value → may write
    outside_keys: set[str] = field(default_factory=set)  # live, but in another organization
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_key(
        self, value: str | None = None, name: str = "agent", *, status: str = "active",
        workspace_id: str | None = "wrkspc_agent",
    ) -> StoredKey:
        key = StoredKey(f"apikey_{next(self._ids):04d}", value or new_key(), name, status,
                        workspace_id)
        self.keys[key.key_id] = key
        return key

    def add_admin_key(self, value: str | None = None, *, may_write: bool = True) -> str:
        value = value or new_key("admin01")
        self.admin_keys[value] = may_write
        return value

    def is_live(self, value: str) -> bool:
        with self._lock:
            if value in self.admin_keys:
                return True
            return any(k.value == value and k.status == "active" for k in self.keys.values())

    def answer(self, request: Request) -> Response:
        operation = _operation(request)
        if operation is None:
            return json_response(_error("not_found_error", "no such operation"), 404)
        caller = request.headers.get("x-api-key", "")
        with self._lock:
            if request.path == "/v1/models":
                live = {k.value for k in self.keys.values() if k.status == "active"}
                if caller not in live | self.outside_keys:
                    return json_response(_error("authentication_error", "invalid x-api-key"), 401)
                model = {
                    "type": "model",
                    "id": "claude-demo",
                    "display_name": "Claude",
                    "created_at": "2025-02-19T00:00:00Z",
                }
                return json_response(
                    {"data": [model], "has_more": False, "first_id": None, "last_id": None}
                )
            if caller not in self.admin_keys:
                return json_response(_error("authentication_error", "invalid x-api-key"), 401)
            match = re.fullmatch(operation.pattern, request.path)
            assert match is not None
            if operation.pattern.endswith("api_keys"):
                return json_response(self._list(request))
            key = self.keys.get(match[1])
            if key is None:
                return json_response(_error("not_found_error", "API key not found"), 404)
            if request.method == "POST":
                if not self.admin_keys[caller]:
                    return json_response(_error("permission_error", "this key may only read"), 403)
                if key.status == "archived":
                    return json_response(
                        _error("invalid_request_error", "archived keys cannot change"), 400
                    )
                body = request.get_json()
                key.status = body.get("status", key.status)
                key.name = body.get("name", key.name)
            return json_response(self._object(key))

    def _object(self, key: StoredKey) -> dict[str, Any]:
        return {
            "id": key.key_id,
            "type": "api_key",
            "name": key.name,
            "workspace_id": key.workspace_id,
            "created_at": "2024-10-30T23:58:27.427722Z",
            "created_by": {"id": "user_demo", "type": "user"},
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


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}
