"""A loopback OpenAI organization for the responder's tests.

Every request is checked with openapi-core against ``clawback_demo/contracts/openai.json`` (OpenAI's
own description, trimmed) by ``ContractServer``; a request the description rejects gets 422 and is
recorded as a violation. The answers come from a small in-memory organization (projects, keys,
service accounts, admin keys) and are checked against the same description, so the stand-in cannot
drift into answers OpenAI would never give.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from tests.contract_server import ContractServer, contract_path

Redactor = Callable[[str], str]


ROUTES = (
    ("GET", r"/models", "_models"),
    ("GET", r"/organization/projects", "_list_projects"),
    ("GET", r"/organization/projects/([^/]+)/api_keys", "_list_keys"),
    ("GET", r"/organization/projects/([^/]+)/api_keys/([^/]+)", "_get_key"),
    ("DELETE", r"/organization/projects/([^/]+)/api_keys/([^/]+)", "_delete_key"),
    ("GET", r"/organization/projects/([^/]+)/service_accounts", "_list_accounts"),
    ("POST", r"/organization/projects/([^/]+)/service_accounts", "_create_account"),
    ("GET", r"/organization/projects/([^/]+)/service_accounts/([^/]+)", "_get_account"),
    ("POST", r"/organization/projects/([^/]+)/service_accounts/([^/]+)", "_update_account"),
    ("DELETE", r"/organization/projects/([^/]+)/service_accounts/([^/]+)", "_delete_account"),
    (
        "POST",
        r"/organization/projects/([^/]+)/service_accounts/([^/]+)/api_keys",
        "_create_account_key",
    ),
    ("GET", r"/organization/admin_api_keys", "_list_admin_keys"),
    ("POST", r"/organization/admin_api_keys", "_create_admin_key"),
    ("GET", r"/organization/admin_api_keys/([^/]+)", "_get_admin_key"),
    ("DELETE", r"/organization/admin_api_keys/([^/]+)", "_delete_admin_key"),
)
# What OpenAI answers a restricted key that lacks a scope (401, no error code), as quoted in
# public bug reports of OpenAI clients; the documented 401 for a dead key has code
# "invalid_api_key" (platform.openai.com/docs/guides/error-codes).
MISSING_SCOPE = (
    "You have insufficient permissions for this operation. Missing scopes: {scope}. Check that "
    "you have the correct role in your organization (Reader, Writer, Owner) and project "
    "(Member, Owner), and if you're using a restricted API key, that it has the necessary scopes."
)


class OpenAIStandIn:
    """One contract-checked server for the whole session; each test plugs in a fresh
    organization (checking OpenAI's description takes most of a second, so it is done once)."""

    def __init__(self, httpserver: Any) -> None:
        self.contract = ContractServer(httpserver, "openai.json")
        self.url = self.contract.url
        self.org: OpenAIOrg | None = None
        for method, pattern, handler_name in ROUTES:
            self.contract.answer(method, pattern, self._route(pattern, handler_name))

    def _route(self, pattern: str, handler_name: str) -> Callable[[Request], Response]:
        def respond(request: Request) -> Response:
            org = self.org
            if org is None:
                return Response("no organization plugged in", 503)
            return org.respond(request, pattern, handler_name)

        return respond


def dashboard_redaction(value: str) -> str:
    """How the Admin API shows a key: its first 8 characters, "...", its last 4."""
    return f"{value[:8]}...{value[-4:]}"


def new_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(48).replace("-", "x").replace("_", "y")


@dataclass
class StoredKey:
    key_id: str
    project: str
    value: str
    name: str
    account: str | None = None  # the owning service account, if any
    scopes: tuple[str, ...] | None = None  # a restricted key's scopes; None: all permissions
    last_used_at: int | None = None  # Unix seconds, as the Admin API lists it; None: never


@dataclass
class AdminKey:
    key_id: str
    value: str
    name: str
    read_only: bool = False
    expires_in_seconds: int | None = None
    last_used_at: int | None = None


@dataclass
class Fault:
    method: str
    pattern: str
    response: Callable[[], Response]
    times: int


@dataclass
class OpenAIOrg:
    """The organization's state; ``plug_into`` serves it from a contract-checked server."""

    redact: Redactor = dashboard_redaction
    projects: dict[str, str] = field(default_factory=dict)
    keys: dict[str, StoredKey] = field(default_factory=dict)
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (project, name)
    roles: dict[str, str] = field(default_factory=dict)  # service account id → role
    admin_keys: dict[str, AdminKey] = field(default_factory=dict)
    outside_keys: set[str] = field(default_factory=set)  # live, but in another organization
    faults: list[Fault] = field(default_factory=list)
    response_violations: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    contract: ContractServer | None = None
    url: str = ""

    # -- arranging ----------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    def add_project(self, name: str = "agent") -> str:
        project = self._id("proj_")
        self.projects[project] = name
        return project

    def add_user_key(
        self, project: str, value: str | None = None, name: str = "agent",
        scopes: tuple[str, ...] | None = None,
    ) -> str:
        key_id = self._id("key_")
        self.keys[key_id] = StoredKey(key_id, project, value or new_key("sk-proj-"), name,
                                      scopes=scopes)
        return key_id

    def add_service_account(
        self, project: str, value: str | None = None, name: str = "agent-bot",
        role: str = "member", *, with_key: bool = True,
    ) -> tuple[str, str]:
        account = self._id("svc_acct_")
        self.accounts[account] = (project, name)
        self.roles[account] = role
        if not with_key:
            return account, ""
        return account, self.add_account_key(account, value)

    def add_account_key(
        self, account: str, value: str | None = None, name: str = "Secret Key",
        scopes: tuple[str, ...] | None = None,
    ) -> str:
        key_id = self._id("key_")
        self.keys[key_id] = StoredKey(
            key_id, self.accounts[account][0], value or new_key("sk-svcacct-"), name, account,
            scopes,
        )
        return key_id

    def add_admin_key(self, value: str | None = None, *, read_only: bool = False) -> AdminKey:
        key = AdminKey(self._id("key_"), value or new_key("sk-admin-"), "admin", read_only)
        self.admin_keys[key.key_id] = key
        return key

    def fail(
        self,
        method: str,
        pattern: str,
        status: int,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead."""
        body = json.dumps(_error("server_error" if status >= 500 else "rate_limit_exceeded"))
        self.faults.append(
            Fault(
                method,
                pattern,
                lambda: Response(body, status, headers, content_type="application/json"),
                times,
            )
        )

    def hang(self, method: str, pattern: str, release: threading.Event) -> None:
        def answer() -> Response:
            release.wait(5)
            return Response("{}", 500, content_type="application/json")

        self.faults.append(Fault(method, pattern, answer, 1000))

    def live_values(self) -> set[str]:
        return {k.value for k in self.keys.values()} | self.outside_keys

    def key_by_value(self, value: str) -> StoredKey | None:
        return next((k for k in self.keys.values() if k.value == value), None)

    def requests(self, method: str, pattern: str) -> list[Request]:
        assert self.contract is not None
        return [
            r
            for r in self.contract.requests
            if re.fullmatch(method, r.method) and re.fullmatch(pattern, r.path)
        ]

    @property
    def violations(self) -> list[str]:
        assert self.contract is not None
        return [*self.contract.violations, *self.response_violations]

    # -- serving --------------------------------------------------------------------------------

    def plug_into(self, standin: OpenAIStandIn) -> OpenAIOrg:
        """Serve this organization from the session's contract-checked server."""
        standin.contract.requests.clear()
        standin.contract.violations.clear()
        self.contract, self.url = standin.contract, standin.url
        standin.org = self
        return self

    def respond(self, request: Request, pattern: str, handler_name: str) -> Response:
        fault = self._take_fault(request)
        if fault is not None:
            return fault.response()
        match = re.fullmatch(pattern, request.path)
        assert match is not None
        handler: Callable[[Request, re.Match[str]], Response] = getattr(self, handler_name)
        with self._lock:
            response = handler(request, match)
        self._check_response(request, response)
        return response

    def _take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (
                    fault.times > 0
                    and fault.method == request.method
                    and re.fullmatch(fault.pattern, request.path)
                ):
                    fault.times -= 1
                    return fault
        return None

    def _check_response(self, request: Request, response: Response) -> None:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        try:
            _description().validate_response(
                WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
            )
        except ResponseNotFound:
            pass  # a status the description does not list (401, 429 on most calls)
        except Exception as exc:
            self.response_violations.append(
                f"{request.method} {request.path} → {response.status_code}: {exc!r}"
            )

    # -- authentication -----------------------------------------------------------------------

    def _bearer(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        return header[len("Bearer ") :] if header.startswith("Bearer ") else ""

    def _admin(self, request: Request, *, write: bool) -> AdminKey | Response:
        key = next((k for k in self.admin_keys.values() if k.value == self._bearer(request)), None)
        if key is None:
            return _json(_error("invalid_api_key"), 401)
        if write and key.read_only:
            return _json(
                {
                    "error": "You have insufficient permissions for this operation. Missing "
                    "scopes: api.management.write."
                },
                403,
            )
        return key

    # -- handlers -------------------------------------------------------------------------------

    def _models(self, request: Request, match: re.Match[str]) -> Response:
        if self._bearer(request) not in self.live_values():
            return _json(_error("invalid_api_key"), 401)
        held = self.key_by_value(self._bearer(request))
        if held is not None and held.scopes is not None and "api.model.read" not in held.scopes:
            # A live restricted key: 401 all the same, without the invalid-key code.
            return _json({"error": {"message": MISSING_SCOPE.format(scope="api.model.read"),
                                    "type": "invalid_request_error", "param": None,
                                    "code": None}}, 401)
        model = {"id": "gpt-test", "object": "model", "created": 1700000000, "owned_by": "openai"}
        return _json({"object": "list", "data": [model]})

    def _list_projects(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=False)
        if isinstance(admin, Response):
            return admin
        items = [
            {
                "id": p,
                "object": "organization.project",
                "name": name,
                "created_at": 1711471533,
                "archived_at": None,
                "status": "active",
            }
            for p, name in self.projects.items()
        ]
        return _json(_page(items, request))

    def _list_keys(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=False)
        if isinstance(admin, Response):
            return admin
        project = match[1]
        if project not in self.projects:
            return _json(_error("not_found"), 404)
        items = [self._key_object(k) for k in self.keys.values() if k.project == project]
        return _json(_page(items, request))

    def _key_object(self, key: StoredKey) -> dict[str, Any]:
        if key.account:
            owner: dict[str, Any] = {
                "type": "service_account",
                "service_account": {
                    "id": key.account,
                    "name": self.accounts[key.account][1],
                    "created_at": 1711471533,
                    "role": "member",
                },
            }
        else:
            owner = {
                "type": "user",
                "user": {
                    "id": "user_abc",
                    "email": "owner@example.com",
                    "name": "Owner",
                    "created_at": 1711471533,
                    "role": "owner",
                },
            }
        return {
            "object": "organization.project.api_key",
            "redacted_value": self.redact(key.value),
            "name": key.name,
            "created_at": 1711471533,
            "last_used_at": key.last_used_at,
            "id": key.key_id,
            "owner_project_access": "active",
            "owner": owner,
        }

    def _get_key(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=False)
        if isinstance(admin, Response):
            return admin
        key = self.keys.get(match[2])
        if key is None or key.project != match[1]:
            return _json(_error("not_found"), 404)
        return _json(self._key_object(key))

    def _account_object(self, account: str) -> dict[str, Any]:
        return {"object": "organization.project.service_account", "id": account,
                "name": self.accounts[account][1], "role": self.roles.get(account, "member"),
                "created_at": 1711471533}

    def _get_account(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=False)
        if isinstance(admin, Response):
            return admin
        if self.accounts.get(match[2], ("", ""))[0] != match[1]:
            return _json(_error("not_found"), 404)
        return _json(self._account_object(match[2]))

    def _update_account(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=True)
        if isinstance(admin, Response):
            return admin
        if self.accounts.get(match[2], ("", ""))[0] != match[1]:
            return _json(_error("not_found"), 404)
        body = request.get_json()
        if "role" in body:
            self.roles[match[2]] = str(body["role"])
        if "name" in body:
            self.accounts[match[2]] = (match[1], str(body["name"]))
        return _json(self._account_object(match[2]))

    def _create_account_key(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=True)
        if isinstance(admin, Response):
            return admin
        if self.accounts.get(match[2], ("", ""))[0] != match[1]:
            return _json(_error("not_found"), 404)
        body = request.get_json(silent=True) or {}
        scopes = tuple(body["scopes"]) if body.get("scopes") else None
        key_id = self.add_account_key(match[2], name=str(body.get("name") or "Secret Key"),
                                      scopes=scopes)
        key = self.keys[key_id]
        return _json({"object": "organization.project.service_account.api_key",
                      "value": key.value, "name": key.name, "created_at": 1711471533,
                      "id": key_id})

    def _get_admin_key(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=False)
        if isinstance(admin, Response):
            return admin
        key = self.admin_keys.get(match[1])
        if key is None:
            return _json(_error("not_found"), 404)
        return _json(self._admin_object(key))

    def _delete_key(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=True)
        if isinstance(admin, Response):
            return admin
        key = self.keys.get(match[2])
        if key is None or key.project != match[1]:
            return _json(_error("not_found"), 404)
        if key.account:
            # OpenAI: "an error if the key belonged to a service account".
            return _json(_error("invalid_request_error"), 400)
        del self.keys[key.key_id]
        return _json(
            {"object": "organization.project.api_key.deleted", "id": key.key_id, "deleted": True}
        )

    def _list_accounts(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=False)
        if isinstance(admin, Response):
            return admin
        items = [
            self._account_object(a) for a, (project, _) in self.accounts.items()
            if project == match[1]
        ]
        return _json(_page(items, request))

    def _create_account(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=True)
        if isinstance(admin, Response):
            return admin
        project = match[1]
        if project not in self.projects:
            return _json(_error("not_found"), 404)
        body = request.get_json()
        name = str(body["name"])
        only = bool(body.get("create_service_account_only"))
        # Without a key or default role when asked for the account only.
        account, key_id = self.add_service_account(
            project, name=name, role="none" if only else "member", with_key=not only
        )
        created: dict[str, Any] = {
            "object": "organization.project.service_account",
            "id": account,
            "name": name,
            "role": self.roles[account],
            "created_at": 1711471533,
            "api_key": None,
        }
        if key_id:
            created["api_key"] = {
                "object": "organization.project.service_account.api_key",
                "value": self.keys[key_id].value,
                "name": "Secret Key",
                "created_at": 1711471533,
                "id": key_id,
            }
        return _json(created)

    def _delete_account(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=True)
        if isinstance(admin, Response):
            return admin
        account = match[2]
        if self.accounts.get(account, ("", ""))[0] != match[1]:
            return _json(_error("not_found"), 404)
        del self.accounts[account]
        self.roles.pop(account, None)
        for key_id in [k.key_id for k in self.keys.values() if k.account == account]:
            del self.keys[key_id]
        return _json(
            {
                "object": "organization.project.service_account.deleted",
                "id": account,
                "deleted": True,
            }
        )

    def _admin_object(self, key: AdminKey) -> dict[str, Any]:
        return {
            "object": "organization.admin_api_key",
            "id": key.key_id,
            "name": key.name,
            "redacted_value": self.redact(key.value),
            "created_at": 1711471533,
            "expires_at": None,
            "last_used_at": key.last_used_at,
            "owner": {"type": "user", "object": "organization.user", "id": "user_abc"},
        }

    def _list_admin_keys(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=False)
        if isinstance(admin, Response):
            return admin
        return _json(_page([self._admin_object(k) for k in self.admin_keys.values()], request))

    def _create_admin_key(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=True)
        if isinstance(admin, Response):
            return admin
        body = request.get_json()
        key = self.add_admin_key()
        key.name = str(body["name"])
        key.expires_in_seconds = body.get("expires_in_seconds")
        return _json({**self._admin_object(key), "value": key.value})

    def _delete_admin_key(self, request: Request, match: re.Match[str]) -> Response:
        admin = self._admin(request, write=True)
        if isinstance(admin, Response):
            return admin
        if self.admin_keys.pop(match[1], None) is None:
            return _json(_error("not_found"), 404)
        return _json(
            {"id": match[1], "object": "organization.admin_api_key.deleted", "deleted": True}
        )


@functools.cache
def _description() -> Any:
    """OpenAI's description, parsed and checked once: checking it takes most of a second."""
    from openapi_core import OpenAPI

    spec = json.loads(contract_path("openai.json").read_text())
    spec["servers"] = [{"url": "/"}]  # as ContractServer does: match on the path alone
    return OpenAPI.from_dict(spec)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json")


def _error(code: str) -> dict[str, Any]:
    return {"error": {"message": f"stand-in: {code}", "type": code, "param": None, "code": code}}


def _page(items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    """OpenAI's cursor paging: ``limit`` items after the id named by ``after``."""
    limit = int(request.args.get("limit", 20))
    after = request.args.get("after")
    start = 0
    if after:
        ids = [i["id"] for i in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    page = items[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": start + limit < len(items),
    }
