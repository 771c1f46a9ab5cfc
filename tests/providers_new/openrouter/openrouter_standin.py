"""OpenRouter's key management API as a stateful loopback account.

Every request is checked against OpenRouter's own description (``tests/contracts/openrouter.json``,
cut from github.com/OpenRouterTeam/docs ``openapi/openapi.yaml``) by ``ContractServer``, and every
answer the stand-in gives is checked against the same file: a request or an answer that breaks
it fails the test.

What it answers, the way OpenRouter documents it:
- ``GET /key`` with any key: its own record; 401 for a deleted, disabled or unknown key
  ("Invalid credentials (OAuth session expired, disabled/invalid API key)",
  openrouter.ai/docs/api/reference/errors-and-debugging); a management key says so
  (``is_management_key``);
- ``/keys`` and ``/workspaces`` take a management key only; ``GET /keys`` lists the default
  workspace unless ``workspace_id`` is given, hides disabled keys unless ``include_disabled``,
  and pages with ``offset`` (``page_size`` a page; OpenRouter's is 100);
- ``label`` is the key redacted as OpenRouter shows it, ``sk-or-v1-0e6...1c96``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import ContractServer
from tests.providers_new.openrouter.contract_variant import openrouter_description

DEFAULT_WORKSPACE = "0df9e665-d932-5740-b2c7-b52af166bc11"
HASH = "[0-9a-f]{64}"


def new_value() -> str:
    return "sk-or-v1-" + secrets.token_hex(32)


def label_of(value: str) -> str:
    return f"{value[:12]}...{value[-4:]}"


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def error(status: int, message: str) -> Response:
    return _json({"error": {"code": status, "message": message}}, status)


@dataclass
class Key:
    value: str
    name: str = "openclaw agent"
    disabled: bool = False
    limit: float | None = 25.0
    limit_reset: str | None = "monthly"
    include_byok_in_limit: bool = False
    expires_at: str | None = None
    workspace_id: str = DEFAULT_WORKSPACE
    key_hash: str = field(default_factory=lambda: secrets.token_hex(32))

    def record(self) -> dict[str, Any]:
        usage = {f"{kind}{period}": 1.5 for kind in ("usage", "byok_usage")
                 for period in ("", "_daily", "_weekly", "_monthly")}
        return {
            "hash": self.key_hash,
            "name": self.name,
            "label": label_of(self.value),
            "disabled": self.disabled,
            "limit": self.limit,
            "limit_remaining": None if self.limit is None else self.limit - 1.5,
            "limit_reset": self.limit_reset,
            "include_byok_in_limit": self.include_byok_in_limit,
            **usage,
            "created_at": "2026-01-05T10:30:00Z",
            "updated_at": None,
            "creator_user_id": "user_2dHFtVWx2n56w6HkM0000000000",
            "workspace_id": self.workspace_id,
            "expires_at": self.expires_at,
        }


class OpenRouterAccount:
    """One OpenRouter account: its API keys, its workspaces and its management keys."""

    def __init__(self, contract: ContractServer, management: str) -> None:
        self.contract = contract
        self.management = {management}
        self.keys: dict[str, Key] = {}
        self.workspaces = [DEFAULT_WORKSPACE]
        self.page_size = 100
        self.ignore_offset = False  # a broken listing that answers the first page forever
        # Answers arranged by a test ahead of the account's own: (method, path regex) → answer.
        self.arranged: list[tuple[str, str, Response]] = []
        self.forbid: set[str] = set()  # "GET /workspaces", "DELETE", ...: 403 for them
        self.answer_violations: list[str] = []
        # Called with each request before it is answered (tests look at the keyring then).
        self.observe: Callable[[Request], None] = lambda request: None
        for method, path, handler in (
            ("GET", "/key", self._current),
            ("GET", "/keys", self._list),
            ("POST", "/keys", self._create),
            ("GET", f"/keys/{HASH}", self._get),
            ("PATCH", f"/keys/{HASH}", self._update),
            ("DELETE", f"/keys/{HASH}", self._delete),
            ("GET", "/workspaces", self._workspaces),
        ):
            contract.answer(method, path, self._checked(handler))

    def arrange(self, method: str, path: str, response: Response) -> None:
        self.arranged.append((method, path, response))

    def add(self, **fields: Any) -> Key:
        key = Key(new_value(), **fields)
        self.keys[key.key_hash] = key
        return key

    def by_value(self, value: str) -> Key | None:
        return next((k for k in self.keys.values() if k.value == value), None)

    # -- plumbing -----------------------------------------------------------------------------

    def _checked(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            self.observe(request)
            arranged = [r for m, p, r in self.arranged
                        if m == request.method and re.fullmatch(p, request.path)]
            response = arranged[0] if arranged else handler(request)
            self._check_answer(request, response)
            return response

        return answer

    def _check_answer(self, request: Request, response: Response) -> None:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        try:
            openrouter_description().validate_response(
                WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
            )
        except ResponseNotFound:
            pass  # a status the description does not list for this operation (403 on GET /keys)
        except Exception as exc:
            self.answer_violations.append(
                f"{request.method} {request.path} → {response.status_code}: {exc!r}"
            )

    def _bearer(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        return header.removeprefix("Bearer ")

    def _refusal(self, request: Request) -> Response | None:
        if self._bearer(request) not in self.management:
            return error(401, "Invalid credentials")
        if f"{request.method} {request.path}" in self.forbid or request.method in self.forbid:
            return error(403, "Only management keys can perform this operation")
        return None

    def _target(self, request: Request) -> Key | None:
        return self.keys.get(request.path.rsplit("/", 1)[1])

    # -- the API ------------------------------------------------------------------------------

    def _current(self, request: Request) -> Response:
        presented = self._bearer(request)
        management = presented in self.management
        key = None if management else self.by_value(presented)
        if not management and (key is None or key.disabled):
            return error(401, "Invalid credentials")
        record = Key(presented).record() if key is None else key.record()
        data = {k: record[k] for k in (
            "label", "limit", "limit_remaining", "limit_reset", "include_byok_in_limit",
            "creator_user_id", "expires_at", "usage", "usage_daily", "usage_weekly",
            "usage_monthly", "byok_usage", "byok_usage_daily", "byok_usage_weekly",
            "byok_usage_monthly")}
        data.update(is_free_tier=False, is_management_key=management,
                    is_provisioning_key=management,
                    rate_limit={"requests": -1, "interval": "10s",
                                "note": "This field is deprecated and safe to ignore."})
        return _json({"data": data})

    def _list(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal:
            return refusal
        workspace = request.args.get("workspace_id", DEFAULT_WORKSPACE)
        with_disabled = request.args.get("include_disabled") == "true"
        keys = [k for k in self.keys.values()
                if k.workspace_id == workspace and (with_disabled or not k.disabled)]
        offset = 0 if self.ignore_offset else int(request.args.get("offset") or 0)
        page = keys[offset: offset + self.page_size]
        return _json({"data": [k.record() for k in page]})

    def _create(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal:
            return refusal
        body = request.get_json()
        fields = {k: body[k] for k in ("name", "limit", "limit_reset", "include_byok_in_limit",
                                       "expires_at", "workspace_id") if k in body}
        key = self.add(**fields)
        return _json({"data": key.record(), "key": key.value}, 201)

    def _get(self, request: Request) -> Response:
        refusal = self._refusal(request)
        key = self._target(request)
        if refusal or key is None:
            return refusal or error(404, "Resource not found")
        return _json({"data": key.record()})

    def _update(self, request: Request) -> Response:
        refusal = self._refusal(request)
        key = self._target(request)
        if refusal or key is None:
            return refusal or error(404, "Resource not found")
        body = request.get_json()
        if "disabled" in body:
            key.disabled = body["disabled"]
        return _json({"data": key.record()})

    def _delete(self, request: Request) -> Response:
        refusal = self._refusal(request)
        key = self._target(request)
        if refusal or key is None:
            return refusal or error(404, "Resource not found")
        del self.keys[key.key_hash]
        return _json({"deleted": True})

    def _workspaces(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal:
            return refusal
        offset = int(request.args.get("offset") or 0)
        limit = int(request.args.get("limit") or 50)
        chosen = self.workspaces[offset: offset + limit]
        return _json({"data": [_workspace(w, i) for i, w in enumerate(chosen)],
                      "total_count": len(self.workspaces)})


def _workspace(workspace_id: str, index: int) -> dict[str, Any]:
    return {
        "id": workspace_id,
        "default_guardrail_id": "7f1b3c2e-0d6a-5b8e-9c4f-2a1e3d5b7c90",
        "name": "Default" if workspace_id == DEFAULT_WORKSPACE else f"team {index}",
        "slug": "default" if workspace_id == DEFAULT_WORKSPACE else f"team-{index}",
        "description": None,
        "default_text_model": None,
        "default_image_model": None,
        "default_provider_sort": None,
        "is_observability_io_logging_enabled": False,
        "is_observability_broadcast_enabled": False,
        "is_data_discount_logging_enabled": False,
        "io_logging_sampling_rate": 1,
        "io_logging_api_key_ids": None,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": None,
        "created_by": "user_2dHFtVWx2n56w6HkM0000000000",
    }
