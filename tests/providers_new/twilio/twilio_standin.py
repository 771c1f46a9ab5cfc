"""Twilio's key and Auth Token API as a stateful answer set for ``ContractServer``.

Every request is checked against Twilio's own descriptions (``twilio_api_v2010.json`` and
``twilio_accounts_v1.json``, served together by ``twilio_contract``); this decides what to
answer, the way Twilio documents it:

- HTTP Basic auth: the account SID with its Auth Token (the primary, or a secondary while one
  exists), or an API key's SID with its secret;
- bad credentials → 401 with error 20003 (twilio.com/docs/api/errors/20003), which is also the
  answer for credentials of another account, subaccount or Region;
- Standard and Restricted keys may not touch the Keys resource (twilio.com/docs/iam/api-keys);
  a Restricted key outside its permissions → 401 with error 70051;
- the AuthTokens endpoints act on the account whose credentials sign the request; promoting
  the secondary token makes it the primary and the old primary stops authenticating.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import CONTRACTS, ContractServer


def twilio_both(spec: dict[str, Any]) -> dict[str, Any]:
    """One loopback server for both of Twilio's hosts: the accounts v1 operations join the
    v2010 ones (their paths and schema names do not overlap), and the per-path ``servers``
    (api.twilio.com, accounts.twilio.com) are dropped so operations match on the path alone.
    The files stay verbatim."""
    accounts = json.loads((CONTRACTS / "twilio_accounts_v1.json").read_text())
    spec["paths"].update(accounts["paths"])
    spec["components"]["schemas"].update(accounts["components"]["schemas"])
    for item in spec["paths"].values():
        item.pop("servers", None)
    return spec


def error(code: int, status: int, message: str) -> Response:
    body = {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def ok(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


AUTHENTICATE = (20003, 401, "Authenticate")


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Key:
    sid: str
    secret: str
    kind: str = "standard"  # "main" | "standard" | "restricted"
    friendly_name: str = "agent"

    def record(self, account: str) -> dict[str, Any]:
        return {"sid": self.sid, "friendly_name": self.friendly_name,
                "date_created": "Mon, 13 Jan 2026 10:00:00 +0000",
                "date_updated": "Mon, 13 Jan 2026 10:00:00 +0000"}


class TwilioAccount:
    """One account: its Auth Token (and secondary), its API keys."""

    def __init__(self, contract: ContractServer) -> None:
        self.contract = contract
        self.sid = sid("AC")
        self.auth_token = secrets.token_hex(16)
        self.secondary: str | None = None
        self.keys: dict[str, Key] = {}
        # Keys of a parent account: they authenticate here (a parent's credentials work on its
        # subaccounts) but this account does not list them.
        self.parent_keys: dict[str, Key] = {}
        # Answers 70051 instead of 20003 for an unknown key (Twilio lists "the API key is not
        # found" among 70051's causes too).
        self.unknown_key_code = 20003
        self.observe: Callable[[Request], None] = lambda request: None
        self.promotions = 0
        # The next promotion happens, but its answer is lost on the way (a 502 from a proxy).
        self.lose_next_promotion_answer = False
        base = f"/2010-04-01/Accounts/{self.sid}"
        key = "SK[0-9a-f]{32}"
        for method, path, handler in (
            ("GET", f"{base}/Balance.json", self._balance),
            ("GET", f"{base}/Keys.json", self._list),
            ("POST", f"{base}/Keys.json", self._create),
            ("GET", f"{base}/Keys/{key}.json", self._fetch),
            ("DELETE", f"{base}/Keys/{key}.json", self._delete),
            ("POST", "/v1/AuthTokens/Secondary", self._make_secondary),
            ("DELETE", "/v1/AuthTokens/Secondary", self._drop_secondary),
            ("POST", "/v1/AuthTokens/Promote", self._promote),
        ):
            contract.answer(method, path, self._observed(handler))
        # Any other account in a path: this account's credentials do not belong there.
        contract.answer("GET", "/2010-04-01/Accounts/AC[0-9a-f]{32}/.*",
                        lambda r: error(*AUTHENTICATE))

    def add_key(self, kind: str = "standard") -> Key:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        key = Key(sid("SK"), "".join(secrets.choice(alphabet) for _ in range(32)), kind)
        self.keys[key.sid] = key
        return key

    def _observed(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            self.observe(request)
            return handler(request)

        return answer

    def _principal(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        if user == self.sid and password in {self.auth_token, self.secondary} - {None}:
            return "account"
        key = self.keys.get(user) or self.parent_keys.get(user)
        return key.kind if key is not None and key.secret == password else None

    def _refusal(self, request: Request, allowed: set[str]) -> Response | None:
        principal = self._principal(request)
        if principal is None:
            user = base64.b64decode(request.headers.get("Authorization", "")[6:] or b"").decode()
            if user.startswith("SK") and self.unknown_key_code != 20003:
                return error(self.unknown_key_code, 401, "Authorization Failed")
            return error(*AUTHENTICATE)
        if principal not in allowed:
            return error(70051, 401, "Authorization Failed")
        return None

    def _balance(self, request: Request) -> Response:
        refusal = self._refusal(request, {"account", "main", "standard"})
        return refusal or ok({"account_sid": self.sid, "balance": "12.50", "currency": "USD"})

    def _list(self, request: Request) -> Response:
        refusal = self._refusal(request, {"account", "main"})
        if refusal:
            return refusal
        records = [k.record(self.sid) for k in self.keys.values()]
        size = int(request.args.get("PageSize", 50))
        return ok({"keys": records[:size], "page": 0, "page_size": size, "start": 0,
                   "end": min(size, len(records)) - 1, "first_page_uri": request.full_path,
                   "next_page_uri": None, "previous_page_uri": None, "uri": request.full_path})

    def _create(self, request: Request) -> Response:
        refusal = self._refusal(request, {"account", "main"})
        if refusal:
            return refusal
        key = self.add_key("standard")
        key.friendly_name = request.form.get("FriendlyName", "")
        return ok({**key.record(self.sid), "secret": key.secret}, 201)

    def _target(self, request: Request) -> Key | None:
        return self.keys.get(request.path.rsplit("/", 1)[1].removesuffix(".json"))

    def _fetch(self, request: Request) -> Response:
        refusal = self._refusal(request, {"account", "main"})
        key = self._target(request)
        if refusal or key is None:
            return refusal or error(20404, 404, f"The requested resource {request.path} was "
                                    "not found")
        return ok(key.record(self.sid))

    def _delete(self, request: Request) -> Response:
        refusal = self._refusal(request, {"account", "main"})
        key = self._target(request)
        if refusal or key is None:
            return refusal or error(20404, 404, f"The requested resource {request.path} was "
                                    "not found")
        del self.keys[key.sid]
        return Response(status=204)

    def _make_secondary(self, request: Request) -> Response:
        refusal = self._refusal(request, {"account", "main"})
        if refusal:
            return refusal
        self.secondary = secrets.token_hex(16)
        return ok({"account_sid": self.sid, "secondary_auth_token": self.secondary,
                   "date_created": "2026-01-13T10:00:00Z", "date_updated": "2026-01-13T10:00:00Z",
                   "url": "https://accounts.twilio.com/v1/AuthTokens/Secondary"}, 201)

    def _drop_secondary(self, request: Request) -> Response:
        refusal = self._refusal(request, {"account", "main"})
        if refusal:
            return refusal
        if self.secondary is None:
            return error(20404, 404, "The requested resource was not found")
        self.secondary = None
        return Response(status=204)

    def _promote(self, request: Request) -> Response:
        refusal = self._refusal(request, {"account", "main"})
        if refusal:
            return refusal
        if self.secondary is None:
            return error(20404, 404, "No secondary Auth Token to promote")
        self.auth_token, self.secondary = self.secondary, None
        self.promotions += 1
        if self.lose_next_promotion_answer:
            self.lose_next_promotion_answer = False
            return Response("Bad Gateway", status=502)
        return ok({"account_sid": self.sid, "auth_token": self.auth_token,
                   "date_created": "2026-01-13T10:00:00Z", "date_updated": "2026-01-13T10:00:00Z",
                   "url": "https://accounts.twilio.com/v1/AuthTokens/Promote"})
