"""The demo's OpenAI and Anthropic stand-ins (``clawback_demo.providers``, one copy), served to
the tests behind ``ContractServer``.

OpenAI's requests and answers are checked with openapi-core against OpenAI's own description
(``clawback_demo/contracts/openai.json``); Anthropic's against the documented shapes of its Admin
API (it publishes no description: ``clawback_demo.providers.anthropic.DocumentedShapes``). What
is added here is only the tests' plumbing: where the organization is served, the requests it
received, and faults a test arranges (an error status, a hang) in place of an answer.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from werkzeug import Request, Response

from clawback_demo.providers.anthropic import AnthropicOrganization, DocumentedShapes
from clawback_demo.providers.openai import OpenAIOrganization
from tests.contract_server import ContractServer


class _Served:
    """What a served organization adds for a test: its server, faults, what broke a contract."""

    contract: ContractServer | None
    url: str

    def _serve(self, contract: ContractServer, answer: Any) -> None:
        contract.reset()
        contract.serve(answer)
        self.contract, self.url = contract, contract.url

    def _fail_with(self, method: str, pattern: str, status: int, body: Any,
                   headers: dict[str, str] | None, times: int) -> None:
        assert self.contract is not None
        text = json.dumps(body)
        self.contract.fail(
            method, pattern,
            lambda: Response(text, status, headers, content_type="application/json"), times,
        )

    def hang(self, method: str, pattern: str, release: threading.Event) -> None:
        """Hold every matching request until ``release`` (at most 5 s), then answer 500."""
        def answer() -> Response:
            release.wait(5)
            return Response("{}", 500, content_type="application/json")

        assert self.contract is not None
        self.contract.fail(method, pattern, answer, 1000)

    @property
    def violations(self) -> list[str]:
        assert self.contract is not None
        return list(self.contract.violations)


@dataclass
class OpenAIOrg(OpenAIOrganization, _Served):
    contract: ContractServer | None = None
    url: str = ""

    def plug_into(self, contract: ContractServer) -> OpenAIOrg:
        """Serve this organization from the session's contract-checked server."""
        self._serve(contract, self.answer)
        return self

    def fail(self, method: str, pattern: str, status: int,
             headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead."""
        code = "server_error" if status >= 500 else "rate_limit_exceeded"
        body = {"error": {"message": f"stand-in: {code}", "type": code, "param": None,
                          "code": code}}
        self._fail_with(method, pattern, status, body, headers, times)

    def requests(self, method: str, pattern: str) -> list[Request]:
        assert self.contract is not None
        return self.contract.requests_to(method, pattern)


@dataclass
class AnthropicOrg(AnthropicOrganization, _Served):
    contract: ContractServer | None = None
    url: str = ""

    def serve(self, httpserver: Any) -> AnthropicOrg:
        contract = ContractServer(httpserver, check=DocumentedShapes(), check_answers=True)
        self._serve(contract, self.answer)
        return self

    def fail(self, method: str, pattern: str, status: int,
             headers: dict[str, str] | None = None) -> None:
        body = {"type": "error", "error": {"type": "api_error", "message": "stand-in"}}
        self._fail_with(method, pattern, status, body, headers, 1)

    @property
    def requests(self) -> list[Request]:
        assert self.contract is not None
        return self.contract.requests

    def sent(self, method: str, pattern: str) -> list[tuple[str, str, dict[str, Any], Any]]:
        """(method, path, query, JSON body) of each matching request received."""
        assert self.contract is not None
        return [
            (r.method, r.path, dict(r.args), r.get_json(silent=True) if r.get_data() else None)
            for r in self.contract.requests_to(method, pattern)
        ]
