"""Cloudflare's token API as a stateful answer set for ``ContractServer``.

Every request is still checked against Cloudflare's description by the contract server; this only
decides what to answer, the way Cloudflare documents it: ``/verify`` answers for the presented
token, everything else needs the admin token, a roll invalidates the old value at once. Tokens
made or rolled carry the scannable prefixes (``cfut_`` user, ``cfat_`` account: "Every new token
you create or roll uses the scannable format automatically",
developers.cloudflare.com/fundamentals/api/get-started/token-formats); ``prefix=""`` makes an
older token without one. ``/user/tokens/verify`` answers an account-owned token 401 with code
1000, "Invalid API Token", exactly as for a dead one: the documented ambiguity.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import ContractServer

ACCOUNT_ID = "023e105f4ecef8ad9ca31a8372d0c353"
INVALID = {"code": 1000, "message": "Invalid API Token"}


def envelope(
    result: Any, status: int = 200, errors: list[dict[str, Any]] | None = None
) -> Response:
    body = {"success": not errors, "errors": errors or [], "messages": [], "result": result}
    return Response(json.dumps(body), status=status, mimetype="application/json")


@dataclass
class Token:
    token_id: str
    value: str
    status: str = "active"
    name: str = "agent dns"
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


class CloudflareTokens:
    """User-owned (and, under ``/accounts/ACCOUNT_ID``, account-owned) API tokens."""

    def __init__(self, contract: ContractServer, admin: str) -> None:
        self.contract = contract
        self.admin = admin
        self.user: dict[str, Token] = {}
        self.account: dict[str, Token] = {}
        self.forbid: set[str] = set()  # "PUT", "DELETE", ... answered 403 for the admin token
        # Called with each request before it is answered (tests look at the keyring then).
        self.observe: Callable[[Request], None] = lambda request: None
        token = "[0-9a-f]{32}"
        for prefix in ("/user/tokens", f"/accounts/{ACCOUNT_ID}/tokens"):
            for method, path, handler in (
                ("GET", f"{prefix}/verify", self._verify),
                ("GET", prefix, self._list),
                ("GET", f"{prefix}/{token}", self._details),
                ("PUT", f"{prefix}/{token}", self._update),
                ("DELETE", f"{prefix}/{token}", self._delete),
                ("PUT", f"{prefix}/{token}/value", self._roll),
            ):
                contract.answer(method, path, self._observed(handler))

    def _observed(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            self.observe(request)
            return handler(request)

        return answer

    def add(
        self, *, account: bool = False, status: str = "active", prefix: str | None = None
    ) -> Token:
        if prefix is None:
            prefix = "cfat_" if account else "cfut_"
        token = Token(secrets.token_hex(16), _value(prefix), status)
        (self.account if account else self.user)[token.token_id] = token
        return token

    def _tokens(self, request: Request) -> dict[str, Token]:
        return self.account if request.path.startswith("/accounts/") else self.user

    def _presented(self, request: Request) -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer ")

    def _admin_refusal(self, request: Request) -> Response | None:
        if self._presented(request) != self.admin:
            return envelope(None, 401, [INVALID])
        if request.method in self.forbid:
            return envelope(
                None, 403, [{"code": 9109, "message": "Unauthorized to access requested resource"}]
            )
        return None

    def _target(self, request: Request) -> Token | None:
        token_id = request.path.removesuffix("/value").rsplit("/", 1)[1]
        return self._tokens(request).get(token_id)

    def _verify(self, request: Request) -> Response:
        presented = self._presented(request)
        for token in self._tokens(request).values():
            if token.value == presented:
                return envelope({"id": token.token_id, "status": token.status})
        return envelope(None, 401, [INVALID])

    def _list(self, request: Request) -> Response:
        return self._admin_refusal(request) or envelope(
            [t.details() for t in self._tokens(request).values()]
        )

    def _details(self, request: Request) -> Response:
        refusal = self._admin_refusal(request)
        if refusal:
            return refusal
        token = self._target(request)
        if token is None:
            return envelope(None, 404, [{"code": 1003, "message": "Not found"}])
        return envelope(token.details())

    def _update(self, request: Request) -> Response:
        refusal = self._admin_refusal(request)
        token = self._target(request)
        if refusal or token is None:
            return refusal or envelope(None, 404, [{"code": 1003, "message": "Not found"}])
        body = request.get_json()
        token.status, token.name, token.policies = body["status"], body["name"], body["policies"]
        return envelope(token.details())

    def _delete(self, request: Request) -> Response:
        refusal = self._admin_refusal(request)
        token = self._target(request)
        if refusal or token is None:
            return refusal or envelope(None, 404, [{"code": 1003, "message": "Not found"}])
        del self._tokens(request)[token.token_id]
        return envelope({"id": token.token_id})

    def _roll(self, request: Request) -> Response:
        refusal = self._admin_refusal(request)
        token = self._target(request)
        if refusal or token is None:
            return refusal or envelope(None, 404, [{"code": 1003, "message": "Not found"}])
        token.value = _value("cfat_" if request.path.startswith("/accounts/") else "cfut_")
        return envelope(token.value)


def _value(prefix: str) -> str:
    """A token value: the prefix, 40 characters and (scannable formats) an 8-hex checksum."""
    body = secrets.token_urlsafe(30)[:40]
    return prefix + body + (secrets.token_hex(4) if prefix else "")
