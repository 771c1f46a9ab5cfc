"""A loopback Cloudflare account's user API tokens (adapted from
``tests/providers_ops/cloudflare_standin.py``).

As Cloudflare documents it: ``GET /user/tokens/verify`` answers for the token presented (its id
and status, or 401 "Invalid API Token"); every other call needs the admin token; an update
replaces the token's name, policies and status; a roll (``PUT …/value``) gives a new value and
invalidates the old one at once. A disabled token still verifies, with status ``disabled``, and
is refused everywhere else.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from clawback_demo.providers.loopback import json_response

INVALID = {"code": 1000, "message": "Invalid API Token"}
NOT_FOUND = {"code": 1003, "message": "Not found"}


def envelope(result: Any, status: int = 200, errors: list[dict[str, Any]] | None = None
             ) -> Response:
    return json_response(
        {"success": not errors, "errors": errors or [], "messages": [], "result": result}, status
    )


def new_token_value() -> str:
    return secrets.token_urlsafe(30)[:40]


@dataclass
class Token:
    token_id: str
    value: str
    name: str
    status: str = "active"
    policies: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "id": "f267e341f3dd4697bd3b9f71dd96247f",
                "effect": "allow",
                "resources": {"com.cloudflare.api.account.zone.*": "*"},
                "permission_groups": [
                    {"id": "c8fed203ed3043cba015a93ad1616f1f", "name": "Zone Read"},
                    {"id": "82e64a83756745bbbb1c9c2701bf816b", "name": "DNS Write"},
                ],
            }
        ]
    )

    def details(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "name": self.name,
            "status": self.status,
            "policies": self.policies,
            "issued_on": "2026-01-01T05:20:00Z",
            "modified_on": "2026-01-01T05:20:00Z",
        }


@dataclass
class CloudflareAccount:
    admin: str = ""
    tokens: dict[str, Token] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_token(self, value: str, name: str) -> Token:
        token = Token(secrets.token_hex(16), value, name)
        self.tokens[token.token_id] = token
        return token

    def is_live(self, value: str) -> bool:
        with self._lock:
            return any(t.value == value and t.status == "active" for t in self.tokens.values())

    def answer(self, request: Request) -> Response:
        token = "[0-9a-f]{32}"
        routes: tuple[tuple[str, str, Callable[[Request], Response]], ...] = (
            ("GET", "/user/tokens/verify", self._verify),
            ("GET", "/user/tokens", self._list),
            ("GET", f"/user/tokens/{token}", self._details),
            ("PUT", f"/user/tokens/{token}", self._update),
            ("DELETE", f"/user/tokens/{token}", self._delete),
            ("PUT", f"/user/tokens/{token}/value", self._roll),
        )
        for method, pattern, handler in routes:
            if request.method == method and re.fullmatch(pattern, request.path):
                with self._lock:
                    return handler(request)
        return envelope(None, 404, [NOT_FOUND])

    def _presented(self, request: Request) -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer ")

    def _target(self, request: Request) -> Token | None:
        return self.tokens.get(request.path.removesuffix("/value").rsplit("/", 1)[1])

    def _verify(self, request: Request) -> Response:
        presented = self._presented(request)
        for token in self.tokens.values():
            if token.value == presented:
                return envelope({"id": token.token_id, "status": token.status})
        return envelope(None, 401, [INVALID])

    def _as_admin(self, request: Request, act: Callable[[Token], Response]) -> Response:
        if self._presented(request) != self.admin:
            return envelope(None, 401, [INVALID])
        token = self._target(request)
        return envelope(None, 404, [NOT_FOUND]) if token is None else act(token)

    def _list(self, request: Request) -> Response:
        if self._presented(request) != self.admin:
            return envelope(None, 401, [INVALID])
        return envelope([t.details() for t in self.tokens.values()])

    def _details(self, request: Request) -> Response:
        return self._as_admin(request, lambda token: envelope(token.details()))

    def _update(self, request: Request) -> Response:
        def update(token: Token) -> Response:
            body = request.get_json()
            token.status, token.name = body["status"], body["name"]
            token.policies = body["policies"]
            return envelope(token.details())

        return self._as_admin(request, update)

    def _delete(self, request: Request) -> Response:
        def delete(token: Token) -> Response:
            del self.tokens[token.token_id]
            return envelope({"id": token.token_id})

        return self._as_admin(request, delete)

    def _roll(self, request: Request) -> Response:
        def roll(token: Token) -> Response:
            token.value = new_token_value()
            return envelope(token.value)

        return self._as_admin(request, roll)
