"""A Matrix homeserver's session endpoints as a stateful answer set for ``ContractServer``.

Every request is checked against the Matrix spec's own OpenAPI description
(``tests/contracts/matrix.json``) by the contract server; this decides what to answer, as the
client-server API specifies: a token the server does not recognise gets 401 ``M_UNKNOWN_TOKEN``
(whatever the reason: never valid, logged out, another homeserver's); an expired or
soft-logged-out one the same with ``soft_logout: true``; a locked account's tokens
``M_USER_LOCKED`` with ``soft_logout: true`` on everything but ``/logout``; ``/logout``
invalidates the token and deletes its device; an application service's token has no device.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import ContractServer

API = "/_matrix/client/v3"
UNKNOWN = {"errcode": "M_UNKNOWN_TOKEN", "error": "Unrecognised access token."}


def matrix_json(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def token_value(prefix: str = "syt_") -> str:
    return f"{prefix}b3BlbmNsYXc_{secrets.token_urlsafe(15)[:20]}_{secrets.token_hex(3)}"


@dataclass
class Session:
    token: str
    user_id: str
    device_id: str  # "" for an application service's as_token
    state: str = "active"  # active | soft (expired / soft logout) | locked


@dataclass
class Homeserver:
    contract: ContractServer
    sessions: dict[str, Session] = field(default_factory=dict)  # by token
    passwords: dict[str, str] = field(default_factory=dict)  # user id → password
    faults: list[tuple[str, int, Any, dict[str, str]]] = field(default_factory=list)
    observe: Callable[[Request], None] = lambda request: None
    logged_out_devices: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for method, path, handler in (
            ("GET", f"{API}/account/whoami", self._whoami),
            ("POST", f"{API}/logout", self._logout),
            ("POST", f"{API}/login", self._login),
            ("GET", "/_matrix/client/versions", self._versions),
        ):
            self.contract.answer(method, path, self._observed(handler))

    @property
    def url(self) -> str:
        return self.contract.url

    def add(self, user_id: str = "@openclaw:example.org", *, device_id: str | None = None,
            state: str = "active", prefix: str = "syt_") -> Session:
        session = Session(token_value(prefix), user_id,
                          secrets.token_hex(5).upper() if device_id is None else device_id,
                          state)
        self.sessions[session.token] = session
        return session

    def _observed(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            self.observe(request)
            for i, (method, status, body, headers) in enumerate(self.faults):
                if method == request.method:
                    del self.faults[i]
                    return matrix_json(body, status, **headers)
            return handler(request)

        return answer

    def _versions(self, request: Request) -> Response:
        return matrix_json({"versions": ["v1.11", "v1.12"]})

    def _presented(self, request: Request) -> Session | None:
        return self.sessions.get(request.headers.get("Authorization", "").removeprefix("Bearer "))

    def _whoami(self, request: Request) -> Response:
        if "Authorization" not in request.headers:
            return matrix_json({"errcode": "M_MISSING_TOKEN", "error": "Missing access token."},
                               401)
        session = self._presented(request)
        if session is None:
            return matrix_json(UNKNOWN, 401)
        if session.state == "soft":
            return matrix_json({**UNKNOWN, "soft_logout": True}, 401)
        if session.state == "locked":
            return matrix_json({"errcode": "M_USER_LOCKED", "error": "This account has been "
                                "locked", "soft_logout": True}, 401)
        body = {"user_id": session.user_id}
        if session.device_id:
            body["device_id"] = session.device_id
        return matrix_json(body)

    def _logout(self, request: Request) -> Response:
        session = self._presented(request)
        if session is None:
            return matrix_json(UNKNOWN, 401)
        if session.state == "soft":
            return matrix_json({**UNKNOWN, "soft_logout": True}, 401)
        del self.sessions[session.token]
        self.logged_out_devices.append(session.device_id)
        return matrix_json({})

    def _login(self, request: Request) -> Response:
        body = request.get_json()
        user = body.get("identifier", {}).get("user", "")
        if body.get("type") != "m.login.password" or self.passwords.get(user) != body.get(
                "password"):
            return matrix_json({"errcode": "M_FORBIDDEN", "error": "Invalid username or "
                                "password"}, 403)
        session = self.add(user)
        return matrix_json({"user_id": user, "access_token": session.token,
                            "device_id": session.device_id})
