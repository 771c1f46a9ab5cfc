"""A loopback Slack workspace: ``auth.revoke`` and ``auth.test`` for bot and user tokens.

As Slack does: the token travels in ``Authorization: Bearer`` (GET or POST), ``auth.revoke``
revokes the token it is called with, and a revoked token gets ``{"ok": false, "error":
"token_revoked"}`` (HTTP 200) from every method afterwards; an unknown one gets
``invalid_auth``. A token of an app that restricts token use to IP ranges (``restricted``)
works only from the agent's host: here the agent is the gateway stand-in, told apart by its
User-Agent (``Python-urllib``), as an allow-list tells the agent's address from clawback's. From
anywhere else the live token gets ``invalid_auth``, as Slack documents.
App-level tokens and signing secrets have no API, so they are not served here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from werkzeug import Request, Response

from clawback_demo.providers.loopback import json_response

TEAM_ID = "T0DEMO0001"


@dataclass
class SlackWorkspace:
    live: dict[str, str] = field(default_factory=dict)  # token → user id
    revoked: set[str] = field(default_factory=set)
    # Live tokens of an app that restricts token use to IP ranges this host is not in.
    restricted: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_token(self, token: str, user_id: str) -> None:
        self.live[token] = user_id

    def is_live(self, value: str) -> bool:
        with self._lock:
            return value in self.live

    def answer(self, request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        from_agent = request.headers.get("User-Agent", "").startswith("Python-urllib")
        with self._lock:
            if token in self.restricted and not from_agent:
                return json_response({"ok": False, "error": "invalid_auth"})
            if token not in self.live:
                error = "token_revoked" if token in self.revoked else "invalid_auth"
                return json_response({"ok": False, "error": error})
            if request.path == "/auth.revoke":
                del self.live[token]
                self.revoked.add(token)
                return json_response({"ok": True, "revoked": True})
            if request.path == "/auth.test":
                answer = {
                    "ok": True,
                    "url": "https://demo-workspace.slack.com/",
                    "team": "Demo Workspace",
                    "user": "openclaw",
                    "team_id": TEAM_ID,
                    "user_id": self.live[token],
                }
                if token.startswith("xoxb-"):
                    answer["bot_id"] = "B0DEMO0001"
                return json_response(answer)
        return json_response({"ok": False, "error": "unknown_method"}, 404)
