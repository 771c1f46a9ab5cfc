"""SendGrid's API Keys and Scopes APIs as a stateful answer set for ``ContractServer``.

Every request is checked against SendGrid's own description (``tests/contracts/sendgrid.json``,
from twilio/sendgrid-oai) by the contract server; this decides what to answer, as SendGrid
documents it: keys are ``SG.<id>.<secret>`` and the id is the API's ``api_key_id``; the
``api_keys.*`` endpoints need the matching scope (403 "access forbidden" otherwise), a key cannot
grant scopes it lacks; ``on-behalf-of: <subuser>`` acts in that subuser's account; any
credential SendGrid will not take gets 401 "authorization required", including a live key used
from an address outside the account's IP Access Management allow-list (``blocked``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import ContractServer

UNAUTHORIZED = {"errors": [{"field": None, "message": "authorization required"}]}
FORBIDDEN = {"errors": [{"field": None, "message": "access forbidden"}]}
NOT_FOUND = {"errors": [{"field": None, "message": "unable to find API Key"}]}
ADMIN_SCOPES = ("api_keys.create", "api_keys.delete", "api_keys.read", "api_keys.update",
                "mail.send")


def sendgrid_json(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def key_value() -> tuple[str, str]:
    key_id = secrets.token_urlsafe(16)[:22]
    return key_id, f"SG.{key_id}.{secrets.token_urlsafe(32)[:43]}"


@dataclass
class Key:
    key_id: str
    value: str
    name: str
    scopes: tuple[str, ...]
    account: str  # "" the parent, else a subuser's username
    blocked: bool = False  # live, but its requests come from outside the IP allow-list


@dataclass
class SendGrid:
    contract: ContractServer
    subusers: tuple[str, ...] = ("marketing",)
    keys: dict[str, Key] = field(default_factory=dict)  # by value
    faults: list[tuple[str, int, Any, dict[str, str]]] = field(default_factory=list)
    observe: Callable[[Request], None] = lambda request: None

    def __post_init__(self) -> None:
        key = "[A-Za-z0-9_-]+"
        for method, path, handler in (
            ("GET", "/v3/scopes", self._scopes),
            ("POST", "/v3/api_keys", self._create),
            ("GET", f"/v3/api_keys/{key}", self._read),
            ("DELETE", f"/v3/api_keys/{key}", self._delete),
        ):
            self.contract.answer(method, path, self._observed(handler))
        self.admin = self.add(name="clawback admin", scopes=ADMIN_SCOPES)

    def add(self, *, name: str = "openclaw mail", scopes: tuple[str, ...] = ("mail.send",),
            account: str = "", blocked: bool = False) -> Key:
        key_id, value = key_value()
        key = Key(key_id, value, name, scopes, account, blocked)
        self.keys[value] = key
        return key

    def by_id(self, key_id: str) -> Key | None:
        return next((k for k in self.keys.values() if k.key_id == key_id), None)

    def _observed(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            self.observe(request)
            for i, (method, status, body, headers) in enumerate(self.faults):
                if method == request.method:
                    del self.faults[i]
                    return sendgrid_json(body, status, **headers)
            return handler(request)

        return answer

    def _caller(self, request: Request) -> Key | Response:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
        key = self.keys.get(presented)
        if key is None or key.blocked:
            return sendgrid_json(UNAUTHORIZED, 401)
        return key

    def _account(self, request: Request, caller: Key) -> str | Response:
        """The account a request acts in: the caller's, or the subuser it names."""
        subuser = request.headers.get("on-behalf-of", "")
        if not subuser:
            return caller.account
        if caller.account or subuser not in self.subusers:
            return sendgrid_json(FORBIDDEN, 403)
        return subuser

    def _permitted(self, request: Request, scope: str) -> tuple[Key, str] | Response:
        caller = self._caller(request)
        if isinstance(caller, Response):
            return caller
        account = self._account(request, caller)
        if isinstance(account, Response):
            return account
        if scope not in caller.scopes:
            return sendgrid_json(FORBIDDEN, 403)
        return caller, account

    def _target(self, request: Request, account: str) -> Key | None:
        key = self.by_id(request.path.rsplit("/", 1)[1])
        return key if key is not None and key.account == account else None

    def _scopes(self, request: Request) -> Response:
        caller = self._caller(request)
        if isinstance(caller, Response):
            return caller
        return sendgrid_json({"scopes": list(caller.scopes)})

    def _read(self, request: Request) -> Response:
        permitted = self._permitted(request, "api_keys.read")
        if isinstance(permitted, Response):
            return permitted
        key = self._target(request, permitted[1])
        if key is None:
            return sendgrid_json(NOT_FOUND, 404)
        return sendgrid_json({"api_key_id": key.key_id, "name": key.name,
                              "scopes": [*key.scopes, "2fa_required"]})

    def _delete(self, request: Request) -> Response:
        permitted = self._permitted(request, "api_keys.delete")
        if isinstance(permitted, Response):
            return permitted
        key = self._target(request, permitted[1])
        if key is None:
            return sendgrid_json(NOT_FOUND, 404)
        del self.keys[key.value]
        return Response(status=204)

    def _create(self, request: Request) -> Response:
        permitted = self._permitted(request, "api_keys.create")
        if isinstance(permitted, Response):
            return permitted
        caller, account = permitted
        body = request.get_json()
        scopes = tuple(body.get("scopes") or caller.scopes)  # no scopes: Full Access
        if not set(scopes) <= set(caller.scopes):
            return sendgrid_json(FORBIDDEN, 403)
        key = self.add(name=body["name"], scopes=scopes, account=account)
        return sendgrid_json({"api_key": key.value, "api_key_id": key.key_id, "name": key.name,
                              "scopes": list(key.scopes)}, 201)
