"""A loopback Cloudflare account's API tokens, user-owned and account-owned.

As Cloudflare documents it: ``GET /user/tokens/verify`` answers for the token presented (its id
and status, or 401 "Invalid API Token"); every other call needs the admin token; an update
replaces the token's name, policies and status; a roll (``PUT …/value``) gives a new value and
invalidates the old one at once. A disabled token still verifies, with status ``disabled``, and
is refused everywhere else. Account-owned tokens live under ``/accounts/ACCOUNT_ID/tokens``, and
``/user/tokens/verify`` answers one of them 401 with code 1000, "Invalid API Token", exactly as
for a dead token: the documented ambiguity clawback must not read as "dead". An admin token
without a permission is answered 403 (code 9109) for the methods in ``forbid``.

Tokens made or rolled carry the scannable prefixes (``cfut_`` user, ``cfat_`` account: "Every
new token you create or roll uses the scannable format automatically",
developers.cloudflare.com/fundamentals/api/get-started/token-formats); ``prefix=""`` makes an
older token without one. The tests serve this same stand-in (``tests/providers_ops``).
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

ACCOUNT_ID = "023e105f4ecef8ad9ca31a8372d0c353"
INVALID = {"code": 1000, "message": "Invalid API Token"}
NOT_FOUND = {"code": 1003, "message": "Not found"}
FORBIDDEN = {"code": 9109, "message": "Unauthorized to access requested resource"}


def envelope(result: Any, status: int = 200, errors: list[dict[str, Any]] | None = None
             ) -> Response:
    return json_response(
        {"success": not errors, "errors": errors or [], "messages": [], "result": result}, status
    )


def new_token_value(prefix: str = "") -> str:
    """A token value: the prefix, 40 characters and (scannable formats) an 8-hex checksum."""
    body = secrets.token_urlsafe(30)[:40]
    return prefix + body + (secrets.token_hex(4) if prefix else "")


@dataclass
class Token:
    token_id: str
    value: str
    name: str = "agent dns"
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
            "condition": {"request_ip": {"in": ["192.0.2.0/24"]}},
        }


@dataclass
class CloudflareAccount:
    admin: str = ""
    tokens: dict[str, Token] = field(default_factory=dict)  # user-owned
    account_tokens: dict[str, Token] = field(default_factory=dict)  # under ACCOUNT_ID
    forbid: set[str] = field(default_factory=set)  # "PUT", "DELETE"...: 403 for the admin token
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_token(
        self, value: str | None = None, name: str = "agent dns", *, account: bool = False,
        status: str = "active", prefix: str | None = None,
    ) -> Token:
        """A token of the user (or of the account); a new value in today's format unless one
        is given (``prefix=""``: an older token without the scannable prefix)."""
        if value is None:
            value = new_token_value(("cfat_" if account else "cfut_") if prefix is None else prefix)
        token = Token(secrets.token_hex(16), value, name, status)
        (self.account_tokens if account else self.tokens)[token.token_id] = token
        return token

    def is_live(self, value: str) -> bool:
        with self._lock:
            return any(t.value == value and t.status == "active"
                       for t in (*self.tokens.values(), *self.account_tokens.values()))

    def answer(self, request: Request) -> Response:
        token = "[0-9a-f]{32}"
        for prefix in ("/user/tokens", f"/accounts/{ACCOUNT_ID}/tokens"):
            routes: tuple[tuple[str, str, Callable[[Request], Response]], ...] = (
                ("GET", f"{prefix}/verify", self._verify),
                ("GET", prefix, self._list),
                ("GET", f"{prefix}/{token}", self._details),
                ("PUT", f"{prefix}/{token}", self._update),
                ("DELETE", f"{prefix}/{token}", self._delete),
                ("PUT", f"{prefix}/{token}/value", self._roll),
            )
            for method, pattern, handler in routes:
                if request.method == method and re.fullmatch(pattern, request.path):
                    with self._lock:
                        return handler(request)
        return envelope(None, 404, [NOT_FOUND])

    def _owned(self, request: Request) -> dict[str, Token]:
        return self.account_tokens if request.path.startswith("/accounts/") else self.tokens

    def _presented(self, request: Request) -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer ")

    def _target(self, request: Request) -> Token | None:
        return self._owned(request).get(request.path.removesuffix("/value").rsplit("/", 1)[1])

    def _verify(self, request: Request) -> Response:
        presented = self._presented(request)
        for token in self._owned(request).values():
            if token.value == presented:
                return envelope({"id": token.token_id, "status": token.status})
        return envelope(None, 401, [INVALID])

    def _admin_refusal(self, request: Request) -> Response | None:
        if self._presented(request) != self.admin:
            return envelope(None, 401, [INVALID])
        if request.method in self.forbid:
            return envelope(None, 403, [FORBIDDEN])
        return None

    def _as_admin(self, request: Request, act: Callable[[Token], Response]) -> Response:
        refusal = self._admin_refusal(request)
        if refusal is not None:
            return refusal
        token = self._target(request)
        return envelope(None, 404, [NOT_FOUND]) if token is None else act(token)

    def _list(self, request: Request) -> Response:
        refusal = self._admin_refusal(request)
        return refusal or envelope([t.details() for t in self._owned(request).values()])

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
            del self._owned(request)[token.token_id]
            return envelope({"id": token.token_id})

        return self._as_admin(request, delete)

    def _roll(self, request: Request) -> Response:
        def roll(token: Token) -> Response:
            account = request.path.startswith("/accounts/")
            token.value = new_token_value("cfat_" if account else "cfut_")
            return envelope(token.value)

        return self._as_admin(request, roll)
