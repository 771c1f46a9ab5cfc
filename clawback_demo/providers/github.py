"""A loopback GitHub for the token calls clawback makes, stateful where Prism's mock is not.

The demo runs it *behind* ``prism proxy`` with GitHub's own description, so Prism checks every
request and every answer of this server; this server only decides what GitHub would say:

- ``GET /user`` with ``Authorization: token …``: a live user token gets the user (200), a live
  installation token 403 (installation tokens may not read /user), anything revoked or unknown
  401 "Bad credentials";
- ``POST /credentials/revoke`` (unauthenticated, up to 1000 tokens): each known token dies; 202;
- ``DELETE /installation/token`` as the installation token itself: it dies; 204 (401 if dead);
- ``DELETE /applications/{client_id}/token`` with the app's client id and secret (HTTP Basic)
  and the token in the body: the app's live token dies; 204. ``PATCH`` (reset) kills it and
  answers a new token of the same kind with its authorization. A token that is not the app's
  or no longer live gets 404, which GitHub documents for an invalid token (the trimmed
  description lists only 200/204 and 422, so Prism logs a warning, not a violation).
"""

from __future__ import annotations

import base64
import re
import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from clawback_demo.providers.loopback import json_response

DOCS = "https://docs.github.com/rest"
LOGIN = "openclaw-agent"
_ALNUM = string.ascii_letters + string.digits


def _user() -> dict[str, Any]:
    """The account every live token belongs to, in GitHub's ``public-user`` shape."""
    api = f"https://api.github.com/users/{LOGIN}"
    return {
        "login": LOGIN,
        "id": 583231,
        "user_view_type": "public",
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"https://github.com/{LOGIN}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "User",
        "site_admin": False,
        "name": "OpenClaw agent",
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "public_repos": 2,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": "2025-06-01T00:00:00Z",
        "updated_at": "2026-02-01T00:00:00Z",
    }


def _bad_credentials() -> Response:
    return json_response({"message": "Bad credentials", "documentation_url": DOCS}, 401)


def _not_found() -> Response:
    return json_response({"message": "Not Found", "documentation_url": DOCS}, 404)


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    name: str = "OpenClaw GitHub integration"


@dataclass
class GitHubAccount:
    live: dict[str, str | None] = field(default_factory=dict)  # token → client_id of its app
    dead: set[str] = field(default_factory=set)
    apps: dict[str, OAuthApp] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_app(self, client_id: str, client_secret: str) -> OAuthApp:
        app = OAuthApp(client_id, client_secret)
        self.apps[client_id] = app
        return app

    def add_token(self, token: str, app: str | None = None) -> None:
        self.live[token] = app

    def is_live(self, value: str) -> bool:
        with self._lock:
            return value in self.live

    def _kill(self, token: str) -> None:
        if token in self.live:
            del self.live[token]
            self.dead.add(token)

    def answer(self, request: Request) -> Response:
        path, method = request.path, request.method
        with self._lock:
            if path == "/user" and method == "GET":
                return self._user(request)
            if path == "/credentials/revoke" and method == "POST":
                return self._revoke_batch(request)
            if path == "/installation/token" and method == "DELETE":
                return self._revoke_installation(request)
            match = re.fullmatch(r"/applications/([^/]+)/token", path)
            if match and method in ("DELETE", "PATCH"):
                return self._app_token(request, match[1])
        return _not_found()

    def _presented(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        for scheme in ("token ", "Bearer ", "bearer "):
            if header.startswith(scheme):
                return header[len(scheme) :]
        return ""

    def _user(self, request: Request) -> Response:
        token = self._presented(request)
        if token not in self.live:
            return _bad_credentials()
        if token.startswith("ghs_"):
            return json_response(
                {"message": "Resource not accessible by integration", "documentation_url": DOCS},
                403,
            )
        return json_response(_user())

    def _revoke_batch(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        for token in body.get("credentials") or ():
            self._kill(str(token))
        return json_response({}, 202)

    def _revoke_installation(self, request: Request) -> Response:
        token = self._presented(request)
        if token not in self.live or not token.startswith("ghs_"):
            return _bad_credentials()
        self._kill(token)
        return Response(status=204)

    def _app_token(self, request: Request, client_id: str) -> Response:
        app = self.apps.get(client_id)
        if app is None or _basic(request) != (app.client_id, app.client_secret):
            return _not_found()  # GitHub hides apps from callers without their credentials
        token = str((request.get_json(silent=True) or {}).get("access_token", ""))
        if token not in self.live or self.live[token] != client_id:
            return _not_found()
        self._kill(token)
        if request.method == "DELETE":
            return Response(status=204)
        new = token[:4] + "".join(secrets.choice(_ALNUM) for _ in range(36))
        self.live[new] = client_id
        return json_response(_authorization(app, new))


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


def _authorization(app: OAuthApp, token: str) -> dict[str, Any]:
    """GitHub's ``authorization`` object for a reset token (what PATCH answers)."""
    return {
        "id": 1,
        "url": "https://api.github.com/authorizations/1",
        "scopes": ["repo"],
        "token": token,
        "token_last_eight": token[-8:],
        "hashed_token": None,
        "app": {
            "client_id": app.client_id,
            "name": app.name,
            "url": "https://github.com/apps/openclaw",
        },
        "note": None,
        "note_url": None,
        "updated_at": "2026-02-01T00:00:00Z",
        "created_at": "2025-06-01T00:00:00Z",
        "fingerprint": None,
        "expires_at": None,
    }
