"""A loopback ElevenLabs workspace: its service accounts' API keys and ``GET /v1/user``.

Shapes are ElevenLabs' own OpenAPI description (``tests/contracts/elevenlabs.json``, cut from
github.com/elevenlabs/elevenlabs-docs ``fern/apis/api/openapi.json``); the tests serve this
stand-in behind ``tests.contract_server.ContractServer``, which checks every request and every
answer against that file with openapi-core. The description leaves out errors other than 422;
these follow ElevenLabs' documentation and are labelled so:

- every call authenticates with ``xi-api-key`` (elevenlabs.io/docs/api-reference/
  authentication); an unknown, deleted or disabled key gets 401
  ``{"detail": {"status": "invalid_api_key", ...}}`` (the code of elevenlabs.io/docs/
  developer-guides/error-messages, "Code 400/401");
- a scoped key without the permission a call needs gets 401 too, with the status
  ``missing_permissions`` ("The API key you used is missing the permission user_read to execute
  this operation."): the documented ambiguity, a 401 for a key ElevenLabs still knows;
- the service-account calls need a workspace admin's key (``admins``); anyone else gets 401
  ``missing_permissions``;
- a key's ``hint`` shows its first three and last four characters (``sk_…1a2b``).

``fresh_key_unknown_for`` makes a new key answer ``invalid_api_key`` to its first N own calls
(a replacement still reaching every server).
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

ACCOUNT = "svcacct-4f1c9b2a7d3e"
PERMISSIONS = ["text_to_speech", "voices_read", "models_read"]
_KEY_PATH = re.compile(r"^/v1/service-accounts/([^/]+)/api-keys(?:/([^/]+))?$")


def new_value() -> str:
    """An ElevenLabs key: ``sk_`` and 48 hex characters."""
    return "sk_" + secrets.token_hex(24)


def hint_of(value: str) -> str:
    return f"{value[:3]}…{value[-4:]}"


def json_answer(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def invalid_key() -> Response:
    return json_answer({"detail": {"status": "invalid_api_key",
                                   "message": "Invalid API key"}}, 401)


def missing_permission(permission: str) -> Response:
    return json_answer({"detail": {
        "status": "missing_permissions",
        "message": f"The API key you used is missing the permission {permission} to execute "
        "this operation."}}, 401)


@dataclass
class ServiceKey:
    value: str
    account: str = ACCOUNT
    name: str = "openclaw talk"
    disabled: bool = False
    permissions: list[str] | None = field(default_factory=lambda: list(PERMISSIONS))
    character_limit: int | None = 100_000
    unknown_for: int = 0  # own calls still answered invalid_api_key (a fresh key)
    key_id: str = field(default_factory=lambda: uuid.uuid4().hex[:20])

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "hint": hint_of(self.value), "key_id": self.key_id,
                "service_account_user_id": self.account, "created_at_unix": 1767609000,
                "is_disabled": self.disabled, "permissions": self.permissions,
                "character_limit": self.character_limit, "character_count": 1234}


class ElevenLabsWorkspace:
    """One workspace's service accounts and keys, answering as ElevenLabs documents."""

    def __init__(self, admin: str) -> None:
        self.admins = {admin}
        self.accounts: dict[str, str] = {ACCOUNT: "openclaw agent"}
        self.keys: dict[str, ServiceKey] = {}
        self.personal: set[str] = set()  # people's own keys: valid, in no service account
        self.fresh_key_unknown_for = 0
        self.requests: list[Request] = []

    def add(self, **fields: Any) -> ServiceKey:
        key = ServiceKey(new_value(), **fields)
        self.accounts.setdefault(key.account, "another service account")
        self.keys[key.key_id] = key
        return key

    def by_value(self, value: str) -> ServiceKey | None:
        return next((k for k in self.keys.values() if k.value == value), None)

    def answer(self, request: Request) -> Response:
        self.requests.append(request)
        presented = request.headers.get("xi-api-key", "")
        if request.method == "GET" and request.path == "/v1/user":
            return self._user(presented)
        if presented not in self.admins:
            known = self.by_value(presented)
            if known is None or known.disabled or known.unknown_for > 0:
                return invalid_key()
            return missing_permission("workspace_read" if request.method == "GET"
                                      else "workspace_write")
        if request.method == "GET" and request.path == "/v1/service-accounts":
            return json_answer({"service-accounts": [
                {"service_account_user_id": account, "name": name, "created_at_unix": 1767600000,
                 "api-keys": [k.record() for k in self.keys.values() if k.account == account]}
                for account, name in self.accounts.items()]})
        match = _KEY_PATH.match(request.path)
        if match is None or match.group(1) not in self.accounts:
            return json_answer({"detail": {"status": "not_found",
                                           "message": "Service account not found"}}, 404)
        account, key_id = match.groups()
        if key_id is None and request.method == "GET":
            return json_answer({"api-keys": [k.record() for k in self.keys.values()
                                             if k.account == account]})
        if key_id is None and request.method == "POST":
            body = request.get_json()
            key = ServiceKey(new_value(), account=account, name=body["name"],
                             permissions=None if body["permissions"] == "all"
                             else list(body["permissions"]),
                             character_limit=body.get("character_limit"),
                             unknown_for=self.fresh_key_unknown_for)
            self.keys[key.key_id] = key
            return json_answer({"xi-api-key": key.value})
        key = self.keys.get(key_id or "")
        if key is None or key.account != account:
            return json_answer({"detail": {"status": "not_found",
                                           "message": "API key not found"}}, 404)
        if request.method == "DELETE":
            del self.keys[key.key_id]
            return json_answer({})
        if request.method == "PATCH":
            body = request.get_json()
            key.disabled = not body["is_enabled"]
            key.name = body["name"]
            key.permissions = None if body["permissions"] == "all" else list(body["permissions"])
            key.character_limit = body.get("character_limit")
            return json_answer({})
        return json_answer({"detail": {"status": "not_found", "message": "Not found"}}, 404)

    def _user(self, presented: str) -> Response:
        known = self.by_value(presented)
        if known is not None and known.unknown_for > 0:
            known.unknown_for -= 1
            return invalid_key()
        if presented in self.personal or presented in self.admins:
            return json_answer({"user_id": "user-7e2c", "is_new_user": False,
                                "xi_api_key": None, "can_use_delayed_payment_methods": False,
                                "is_onboarding_completed": True,
                                "is_onboarding_checklist_completed": True,
                                "created_at": 1767600000, "subscription": _SUBSCRIPTION})
        if known is None or known.disabled:
            return invalid_key()
        if known.permissions is not None and "user_read" not in known.permissions:
            return missing_permission("user_read")
        return json_answer({"user_id": known.account, "is_new_user": False,
                            "xi_api_key": None, "can_use_delayed_payment_methods": False,
                            "is_onboarding_completed": True,
                            "is_onboarding_checklist_completed": True,
                            "created_at": 1767600000, "subscription": _SUBSCRIPTION})


# The description's own example subscription (``UserResponseModel.example``), its required part.
_SUBSCRIPTION: dict[str, Any] = {
    "allowed_to_extend_character_limit": False, "can_extend_character_limit": False,
    "can_extend_voice_limit": False, "can_use_instant_voice_cloning": True,
    "can_use_professional_voice_cloning": True, "character_count": 17231,
    "character_limit": 100000, "max_character_limit_extension": 10000,
    "professional_voice_limit": 1, "professional_voice_slots_used": 0, "status": "free",
    "tier": "trial", "voice_add_edit_counter": 212, "voice_limit": 120, "voice_slots_used": 1,
}
