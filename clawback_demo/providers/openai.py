"""A loopback OpenAI organization: projects, project keys, service accounts and admin keys.

Keys are known by value; the Admin API shows them redacted (first 8 characters, "...", last 4),
as OpenAI does, so clawback has to find a discovered key by its redacted form. Deleting a key, a
service account (with its keys) or an admin key makes the old value answer 401 from then on.

The documented ambiguous answers are here too: a live restricted key without ``api.model.read``
is answered 401 on ``/models`` like a dead one, only without the ``invalid_api_key`` code; a key
of another organization (``outside_keys``) is live but listed nowhere; a read-only admin key is
refused every change with 403. The tests serve this same stand-in (``tests/providers_ai``).
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from clawback_demo.providers.loopback import json_response

Handler = Callable[[Request, re.Match[str]], Response]
CREATED_AT = 1711471533
# What OpenAI answers a restricted key that lacks a scope (401, no error code), as quoted in
# public bug reports of OpenAI clients; the documented 401 for a dead key has code
# "invalid_api_key" (platform.openai.com/docs/guides/error-codes).
MISSING_SCOPE = (
    "You have insufficient permissions for this operation. Missing scopes: {scope}. Check that "
    "you have the correct role in your organization (Reader, Writer, Owner) and project "
    "(Member, Owner), and if you're using a restricted API key, that it has the necessary scopes."
)


def redacted(value: str) -> str:
    """How the Admin API shows a key: its first 8 characters, "...", its last 4."""
    return f"{value[:8]}...{value[-4:]}"


def new_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(48).replace("-", "x").replace("_", "y")


@dataclass
class ProjectKey:
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
class OpenAIOrganization:
    projects: dict[str, str] = field(default_factory=dict)  # id → name
    keys: dict[str, ProjectKey] = field(default_factory=dict)
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (project, name)
    roles: dict[str, str] = field(default_factory=dict)  # service account id → its role
    admin_keys: dict[str, AdminKey] = field(default_factory=dict)
    outside_keys: set[str] = field(default_factory=set)  # live, but in another organization
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- seeding ------------------------------------------------------------------------------

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
        self.keys[key_id] = ProjectKey(key_id, project, value or new_key("sk-proj-"), name,
                                       scopes=scopes)
        return key_id

    def add_service_account(
        self, project: str, value: str | None = None, name: str = "agent-bot",
        role: str = "member", *, with_key: bool = True,
    ) -> tuple[str, str]:
        """A service account and its key (a new value unless one is given); without a key
        (``create_service_account_only``) its role is "none" until set."""
        account = self._id("svc_acct_")
        self.accounts[account] = (project, name)
        self.roles[account] = role if with_key else "none"
        return account, self.add_account_key(account, value) if with_key else ""

    def add_account_key(
        self, account: str, value: str | None = None, name: str = "Secret Key",
        scopes: tuple[str, ...] | None = None,
    ) -> str:
        key_id = self._id("key_")
        self.keys[key_id] = ProjectKey(
            key_id, self.accounts[account][0], value or new_key("sk-svcacct-"), name, account,
            scopes,
        )
        return key_id

    def add_admin_key(
        self, value: str | None = None, name: str = "admin", *, read_only: bool = False
    ) -> AdminKey:
        key = AdminKey(self._id("key_"), value or new_key("sk-admin-"), name, read_only)
        self.admin_keys[key.key_id] = key
        return key

    def live_values(self) -> set[str]:
        """Project keys that still work, and keys alive in another organization."""
        return {k.value for k in self.keys.values()} | self.outside_keys

    def key_by_value(self, value: str) -> ProjectKey | None:
        return next((k for k in self.keys.values() if k.value == value), None)

    def is_live(self, value: str) -> bool:
        with self._lock:
            return any(k.value == value for k in (*self.keys.values(), *self.admin_keys.values()))

    # -- serving ------------------------------------------------------------------------------

    def answer(self, request: Request) -> Response:
        routes: tuple[tuple[str, str, Handler], ...] = (
            ("GET", r"/models", self._models),
            ("GET", r"/organization/projects", self._list_projects),
            ("GET", r"/organization/projects/([^/]+)/api_keys", self._list_keys),
            ("GET", r"/organization/projects/([^/]+)/api_keys/([^/]+)", self._get_key),
            ("DELETE", r"/organization/projects/([^/]+)/api_keys/([^/]+)", self._delete_key),
            ("GET", r"/organization/projects/([^/]+)/service_accounts", self._list_accounts),
            ("POST", r"/organization/projects/([^/]+)/service_accounts", self._create_account),
            ("GET", r"/organization/projects/([^/]+)/service_accounts/([^/]+)",
             self._get_account),
            ("POST", r"/organization/projects/([^/]+)/service_accounts/([^/]+)",
             self._update_account),
            ("POST", r"/organization/projects/([^/]+)/service_accounts/([^/]+)/api_keys",
             self._create_account_key),
            (
                "DELETE",
                r"/organization/projects/([^/]+)/service_accounts/([^/]+)",
                self._delete_account,
            ),
            ("GET", r"/organization/admin_api_keys", self._list_admin_keys),
            ("POST", r"/organization/admin_api_keys", self._create_admin_key),
            ("GET", r"/organization/admin_api_keys/([^/]+)", self._get_admin_key),
            ("DELETE", r"/organization/admin_api_keys/([^/]+)", self._delete_admin_key),
        )
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, request.path)
            if match and request.method == method:
                with self._lock:
                    return handler(request, match)
        return json_response(_error("not_found"), 404)

    def _bearer(self, request: Request) -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer ")

    def _admin(self, request: Request, *, write: bool) -> Response | None:
        """Why the presented admin key may not make this call (401, or 403 for a read-only key
        asked to change something), or None."""
        presented = self._bearer(request)
        key = next((k for k in self.admin_keys.values() if k.value == presented), None)
        if key is None:
            return json_response(_error("invalid_api_key"), 401)
        if write and key.read_only:
            return json_response({"error": "You have insufficient permissions for this "
                                  "operation. Missing scopes: api.management.write."}, 403)
        return None

    def _models(self, request: Request, match: re.Match[str]) -> Response:
        presented = self._bearer(request)
        if presented not in self.live_values():
            return json_response(_error("invalid_api_key"), 401)
        held = self.key_by_value(presented)
        if held is not None and held.scopes is not None and "api.model.read" not in held.scopes:
            # A live restricted key: 401 all the same, without the invalid-key code.
            return json_response({"error": {
                "message": MISSING_SCOPE.format(scope="api.model.read"),
                "type": "invalid_request_error", "param": None, "code": None}}, 401)
        model = {"id": "gpt-demo", "object": "model", "created": CREATED_AT, "owned_by": "openai"}
        return json_response({"object": "list", "data": [model]})

    def _list_projects(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=False)) is not None:
            return refused
        items = [
            {
                "id": p,
                "object": "organization.project",
                "name": name,
                "created_at": CREATED_AT,
                "archived_at": None,
                "status": "active",
            }
            for p, name in self.projects.items()
        ]
        return json_response(_page(items, request))

    def _list_keys(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=False)) is not None:
            return refused
        if match[1] not in self.projects:
            return json_response(_error("not_found"), 404)
        items = [self._key_object(k) for k in self.keys.values() if k.project == match[1]]
        return json_response(_page(items, request))

    def _key_object(self, key: ProjectKey) -> dict[str, Any]:
        if key.account:
            owner: dict[str, Any] = {
                "type": "service_account",
                "service_account": {
                    "id": key.account,
                    "name": self.accounts[key.account][1],
                    "created_at": CREATED_AT,
                    "role": "member",
                },
            }
        else:
            owner = {
                "type": "user",
                "user": {
                    "id": "user_demo",
                    "email": "owner@example.com",
                    "name": "Owner",
                    "created_at": CREATED_AT,
                    "role": "owner",
                },
            }
        return {
            "object": "organization.project.api_key",
            "redacted_value": redacted(key.value),
            "name": key.name,
            "created_at": CREATED_AT,
            "last_used_at": key.last_used_at,
            "id": key.key_id,
            "owner_project_access": "active",
            "owner": owner,
        }

    def _delete_key(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=True)) is not None:
            return refused
        key = self.keys.get(match[2])
        if key is None or key.project != match[1]:
            return json_response(_error("not_found"), 404)
        if key.account:
            # OpenAI: "an error if the key belonged to a service account".
            return json_response(_error("invalid_request_error"), 400)
        del self.keys[key.key_id]
        return json_response(
            {"object": "organization.project.api_key.deleted", "id": key.key_id, "deleted": True}
        )

    def _account_object(self, account: str) -> dict[str, Any]:
        return {
            "object": "organization.project.service_account",
            "id": account,
            "name": self.accounts[account][1],
            "role": self.roles.get(account, "member"),
            "created_at": CREATED_AT,
        }

    def _get_key(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=False)) is not None:
            return refused
        key = self.keys.get(match[2])
        if key is None or key.project != match[1]:
            return json_response(_error("not_found"), 404)
        return json_response(self._key_object(key))

    def _get_account(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=False)) is not None:
            return refused
        if self.accounts.get(match[2], ("", ""))[0] != match[1]:
            return json_response(_error("not_found"), 404)
        return json_response(self._account_object(match[2]))

    def _update_account(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=True)) is not None:
            return refused
        if self.accounts.get(match[2], ("", ""))[0] != match[1]:
            return json_response(_error("not_found"), 404)
        body = request.get_json()
        if "role" in body:
            self.roles[match[2]] = str(body["role"])
        if "name" in body:
            self.accounts[match[2]] = (match[1], str(body["name"]))
        return json_response(self._account_object(match[2]))

    def _create_account_key(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=True)) is not None:
            return refused
        if self.accounts.get(match[2], ("", ""))[0] != match[1]:
            return json_response(_error("not_found"), 404)
        body = request.get_json(silent=True) or {}
        scopes = tuple(body["scopes"]) if body.get("scopes") else None
        key_id = self.add_account_key(match[2], name=str(body.get("name") or "Secret Key"),
                                      scopes=scopes)
        key = self.keys[key_id]
        return json_response({"object": "organization.project.service_account.api_key",
                              "value": key.value, "name": key.name, "created_at": CREATED_AT,
                              "id": key_id})

    def _get_admin_key(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=False)) is not None:
            return refused
        key = self.admin_keys.get(match[1])
        if key is None:
            return json_response(_error("not_found"), 404)
        return json_response(self._admin_object(key))

    def _list_accounts(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=False)) is not None:
            return refused
        items = [self._account_object(a) for a, (p, _) in self.accounts.items() if p == match[1]]
        return json_response(_page(items, request))

    def _create_account(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=True)) is not None:
            return refused
        if match[1] not in self.projects:
            return json_response(_error("not_found"), 404)
        body = request.get_json()
        only = bool(body.get("create_service_account_only"))
        account, key_id = self.add_service_account(
            match[1], name=str(body["name"]), with_key=not only
        )
        return json_response(
            {
                **self._account_object(account),
                "api_key": None if only else {
                    "object": "organization.project.service_account.api_key",
                    "value": self.keys[key_id].value,
                    "name": "Secret Key",
                    "created_at": CREATED_AT,
                    "id": key_id,
                },
            }
        )

    def _delete_account(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=True)) is not None:
            return refused
        account = match[2]
        if self.accounts.get(account, ("", ""))[0] != match[1]:
            return json_response(_error("not_found"), 404)
        del self.accounts[account]
        self.roles.pop(account, None)
        for key_id in [k.key_id for k in self.keys.values() if k.account == account]:
            del self.keys[key_id]
        deleted = "organization.project.service_account.deleted"
        return json_response({"object": deleted, "id": account, "deleted": True})

    def _admin_object(self, key: AdminKey) -> dict[str, Any]:
        return {
            "object": "organization.admin_api_key",
            "id": key.key_id,
            "name": key.name,
            "redacted_value": redacted(key.value),
            "created_at": CREATED_AT,
            "expires_at": None,
            "last_used_at": key.last_used_at,
            "owner": {"type": "user", "object": "organization.user", "id": "user_demo"},
        }

    def _list_admin_keys(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=False)) is not None:
            return refused
        items = [self._admin_object(k) for k in self.admin_keys.values()]
        return json_response(_page(items, request))

    def _create_admin_key(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=True)) is not None:
            return refused
        body = request.get_json()
        key = self.add_admin_key(name=str(body["name"]))
        key.expires_in_seconds = body.get("expires_in_seconds")
        return json_response({**self._admin_object(key), "value": key.value})

    def _delete_admin_key(self, request: Request, match: re.Match[str]) -> Response:
        if (refused := self._admin(request, write=True)) is not None:
            return refused
        if self.admin_keys.pop(match[1], None) is None:
            return json_response(_error("not_found"), 404)
        return json_response(
            {"id": match[1], "object": "organization.admin_api_key.deleted", "deleted": True}
        )


def _error(code: str) -> dict[str, Any]:
    return {"error": {"message": f"stand-in: {code}", "type": code, "param": None, "code": code}}


def _page(items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    """OpenAI's cursor paging: ``limit`` items after the id named by ``after``."""
    limit = int(request.args.get("limit", 20))
    after = request.args.get("after")
    ids = [i["id"] for i in items]
    start = ids.index(after) + 1 if after in ids else (len(items) if after else 0)
    page = items[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": start + limit < len(items),
    }
