"""GitLab's self-service token endpoints as a stateful answer set for ``ContractServer``.

Every request is checked against the vendored subset of GitLab's own description
(``tests/contracts/gitlab.json``) by the contract server; this decides what to answer, the way
GitLab documents and implements it (doc/api/personal_access_tokens.md, lib/api/api_guard.rb):

- the token travels in ``PRIVATE-TOKEN``; a token the instance has no record of gets a plain
  ``{"message": "401 Unauthorized"}``, which is also what a token of *another* instance gets;
- a revoked (or rotated) token gets 401 ``invalid_token`` "Token was revoked. ...", an expired
  one "Token is expired. ...", an impersonation token while impersonation is disabled "Token is
  an impersonation token but impersonation was disabled." (alive: the ambiguous one);
- a blocked user's token gets 403 on every endpoint;
- ``…/self`` GET and DELETE take any scope (GitLab 15.4+; ``legacy_api_scope_only`` plays
  15.0-15.3, where DELETE needed ``api``); ``…/self/rotate`` needs ``api`` or ``self_rotate``
  and answers 403 ``insufficient_scope`` naming them; a rotation revokes the old token.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import ContractServer

SELF = "/api/v4/personal_access_tokens/self"
UNAUTHORIZED = {"message": "401 Unauthorized"}
REVOKED = {"error": "invalid_token",
           "error_description": "Token was revoked. You have to re-authorize from the user."}
EXPIRED = {"error": "invalid_token", "error_description":
           "Token is expired. You can either do re-authorization or token refresh."}
IMPERSONATION = {"error": "invalid_token", "error_description":
                 "Token is an impersonation token but impersonation was disabled."}
INSUFFICIENT = "The request requires higher privileges than provided by the access token."

# openapi_v3.yaml is generated from Grape entities and writes some property types the way Ruby
# names them ("Boolean", "DateTime", "Array"), which no OpenAPI validator accepts. In memory
# only, each becomes the JSON type GitLab sends; the file stays as GitLab published it. Only
# response schemas carry them, and the contract server checks requests.
_GRAPE_TYPES: dict[str, dict[str, Any]] = {
    "Boolean": {"type": "boolean"},
    "DateTime": {"type": "string", "format": "date-time"},
    "Array": {"type": "array", "items": {}},
}


def gitlab_variant(spec: dict[str, Any]) -> dict[str, Any]:
    fixed = copy.deepcopy(spec)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            grape = _GRAPE_TYPES.get(kind) if isinstance(kind, str) else None
            if grape is not None:
                node.update(grape)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(fixed)
    return fixed


def gitlab_json(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def token_value() -> str:
    return "glpat-" + secrets.token_urlsafe(15)[:20]


@dataclass
class Token:
    token_id: int
    value: str
    name: str = "openclaw agent"
    scopes: tuple[str, ...] = ("read_api", "read_repository")
    state: str = "active"  # active | revoked | expired
    impersonation_disabled: bool = False
    user_blocked: bool = False

    def entity(self) -> dict[str, Any]:
        return {"id": self.token_id, "name": self.name, "revoked": self.state == "revoked",
                "created_at": "2026-01-02T03:04:05.000Z", "description": "",
                "scopes": list(self.scopes), "user_id": 7, "last_used_at": None,
                "active": self.state == "active", "expires_at": "2027-01-01"}


@dataclass
class GitLabInstance:
    """One GitLab instance's access tokens behind a contract server."""

    contract: ContractServer
    tokens: dict[str, Token] = field(default_factory=dict)
    legacy_api_scope_only: bool = False  # GitLab 15.0-15.3: DELETE …/self needed api
    # Answers handed out before the real one, in turn: (method, status, body, headers).
    faults: list[tuple[str, int, Any, dict[str, str]]] = field(default_factory=list)
    observe: Callable[[Request], None] = lambda request: None
    _next_id: int = 100

    def __post_init__(self) -> None:
        self.contract.answer("GET", SELF, self._observed(self._inform))
        self.contract.answer("DELETE", SELF, self._observed(self._revoke))
        self.contract.answer("POST", f"{SELF}/rotate", self._observed(self._rotate))

    @property
    def api_url(self) -> str:
        return self.contract.url + "/api/v4"

    def add(self, **attributes: Any) -> Token:
        self._next_id += 1
        token = Token(self._next_id, token_value(), **attributes)
        self.tokens[token.value] = token
        return token

    def _observed(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            self.observe(request)
            for i, (method, status, body, headers) in enumerate(self.faults):
                if method == request.method:
                    del self.faults[i]
                    return gitlab_json(body, status, **headers)
            return handler(request)

        return answer

    def _authenticate(self, request: Request) -> Token | Response:
        """The API guard: who the PRIVATE-TOKEN is, or GitLab's answer for it."""
        token = self.tokens.get(request.headers.get("PRIVATE-TOKEN", ""))
        if token is None:
            return gitlab_json(UNAUTHORIZED, 401)
        if token.state == "revoked":
            return gitlab_json(REVOKED, 401)
        if token.state == "expired":
            return gitlab_json(EXPIRED, 401)
        if token.impersonation_disabled:
            return gitlab_json(IMPERSONATION, 401)
        if token.user_blocked:
            return gitlab_json({"message": "403 Forbidden"}, 403)
        return token

    def _inform(self, request: Request) -> Response:
        token = self._authenticate(request)
        return token if isinstance(token, Response) else gitlab_json(token.entity())

    def _revoke(self, request: Request) -> Response:
        token = self._authenticate(request)
        if isinstance(token, Response):
            return token
        if self.legacy_api_scope_only and "api" not in token.scopes:
            return gitlab_json({"error": "insufficient_scope", "error_description": INSUFFICIENT,
                                "scope": "api"}, 403)
        token.state = "revoked"
        return Response(status=204)

    def _rotate(self, request: Request) -> Response:
        token = self._authenticate(request)
        if isinstance(token, Response):
            return token
        if not {"api", "self_rotate"} & set(token.scopes):
            return gitlab_json({"error": "insufficient_scope", "error_description": INSUFFICIENT,
                                "scope": "api self_rotate"}, 403)
        token.state = "revoked"
        successor = self.add(name=token.name, scopes=token.scopes)
        return gitlab_json({**successor.entity(), "token": successor.value})
