"""A loopback stand-in for an HTTP provider that checks every request against the provider's
official API description with openapi-core (``tests/contracts/*.json``, and the five the demo
ships as package data in ``clawback_demo/contracts/``).

Use it for providers Prism cannot serve (Stripe's description never loads) or for answers Prism
cannot give (a 500, a 429 with Retry-After, a hang, state that changes after a revoke).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from clawback_demo.providers.contracts import DescriptionCheck

CONTRACTS = Path(__file__).resolve().parent / "contracts"


def contract_path(spec_name: str) -> Path:
    """Where a description lives: the demo's package data (GitHub, OpenAI, Slack, Cloudflare,
    Stripe: one copy, which the demo ships) or ``tests/contracts/`` (the others)."""
    from clawback_demo.providers.contracts import contracts_dir

    shipped = contracts_dir() / spec_name
    return shipped if shipped.is_file() else CONTRACTS / spec_name


@functools.cache
def _parsed_spec(spec_name: str) -> Any:
    """Parsing a description costs most of a second; every test of a session shares it."""
    import json

    from openapi_core import OpenAPI

    spec = json.loads(contract_path(spec_name).read_text())
    spec["servers"] = [{"url": "/"}]  # match on the path, whatever host the test uses
    return OpenAPI.from_dict(spec)


class RequestCheck(Protocol):
    """What judges a request (and, optionally, an answer) instead of a description file: the
    demo's hand-written checks for a provider that publishes none (Anthropic)."""

    def violation(self, request: Any) -> str | None: ...

    def answer_violation(self, request: Any, response: Any) -> str | None: ...


@dataclass
class _Fault:
    method: str
    pattern: str
    respond: Callable[[], Any]
    times: int


class ContractServer:
    """A loopback server that checks every request against an API description (openapi-core).

    For answers Prism cannot give (a real Curve25519 public key, a 500, a hang), the test says
    what to answer (``answer``), or serves one of the demo's stateful stand-ins (``serve``);
    the request itself must still be one the provider would accept. With ``check_answers`` the
    answers are checked too (a status the description does not list passes).
    """

    def __init__(
        self,
        httpserver: Any,
        spec_name: str | None = None,
        *,
        adapt_spec: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        adapt_request: Callable[[Any], Any] | None = None,
        check: RequestCheck | None = None,
        check_answers: bool = False,
    ) -> None:
        """``adapt_spec`` and ``adapt_request`` apply a documented, in-memory workaround for a
        validator or description quirk (Stripe's deepObject arrays, for one); the file itself
        stays verbatim. ``adapt_request`` returns the werkzeug request to validate. ``check``
        replaces the description where the provider publishes none."""
        import json
        import re

        from openapi_core import OpenAPI

        if check is None:
            assert spec_name is not None, "a description or a check"
            if adapt_spec is None:
                self._api: Any = _parsed_spec(spec_name)
            else:
                spec = adapt_spec(json.loads(contract_path(spec_name).read_text()))
                spec["servers"] = [{"url": "/"}]  # match on the path, whatever the host
                self._api = OpenAPI.from_dict(spec)
        else:
            self._api = None
        # Requests are judged as the demo judges them: by kind and place, never quoting a value.
        self._check: RequestCheck | DescriptionCheck = (
            check if check is not None else DescriptionCheck(spec_name or "", self._api,
                                                             adapt_request)
        )
        self._answer_check = check
        self._check_answers = check_answers
        self.violations: list[str] = []
        self.requests: list[Any] = []
        self._answers: list[tuple[str, str, Callable[[Any], Any]]] = []
        self._stand_in: Callable[[Any], Any] | None = None
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        # Called with each checked request before it is answered (a test looks at the keyring
        # then); an answer it returns is given instead.
        self.intercept: Callable[[Any], Any | None] = lambda request: None
        httpserver.expect_request(re.compile("^/.*")).respond_with_handler(self._handle)
        self.url = httpserver.url_for("/").rstrip("/")

    def answer(self, method: str, path_regex: str, respond: Callable[[Any], Any]) -> None:
        self._answers.append((method, path_regex, respond))

    def serve(self, stand_in: Callable[[Any], Any] | None) -> None:
        """Answer what no ``answer`` matches with a stand-in's ``answer`` (the demo's)."""
        self._stand_in = stand_in

    def fail(
        self, method: str, path_regex: str, respond: Callable[[], Any], times: int = 1
    ) -> None:
        """Answer the next ``times`` matching requests with ``respond()`` instead."""
        self._faults.append(_Fault(method, path_regex, respond, times))

    def reset(self) -> None:
        """Forget what the last test sent, arranged and broke (a session-wide server)."""
        self.requests.clear()
        self.violations.clear()
        self._faults.clear()
        self._answers.clear()
        self._stand_in = None
        self.intercept = lambda request: None

    def requests_to(self, method: str, path_regex: str) -> list[Any]:
        import re

        return [r for r in self.requests
                if re.fullmatch(method, r.method) and re.fullmatch(path_regex, r.path)]

    def _handle(self, request: Any) -> Any:
        from werkzeug import Response

        self.requests.append(request)
        problem = self._check.violation(request)
        if problem is not None:
            self.violations.append(problem)
            return Response("contract violation", status=422)
        fault = self._take_fault(request)
        if fault is not None:
            return fault.respond()
        response = self.intercept(request)
        if response is None:
            response = self._respond(request)
        if self._check_answers:
            wrong = self._answer_violation(request, response)
            if wrong is not None:
                self.violations.append(wrong)
        return response

    def _respond(self, request: Any) -> Any:
        import re

        from werkzeug import Response

        for method, pattern, respond in self._answers:
            if request.method == method and re.fullmatch(pattern, request.path):
                return respond(request)
        if self._stand_in is not None:
            return self._stand_in(request)
        return Response("no answer arranged", status=501)

    def _take_fault(self, request: Any) -> _Fault | None:
        import re

        with self._lock:
            for fault in self._faults:
                if (fault.times > 0 and fault.method == request.method
                        and re.fullmatch(fault.pattern, request.path)):
                    fault.times -= 1
                    return fault
        return None

    def _answer_violation(self, request: Any, response: Any) -> str | None:
        if self._answer_check is not None:
            return self._answer_check.answer_violation(request, response)
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        try:
            self._api.validate_response(
                WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
            )
        except ResponseNotFound:
            return None  # a status the description does not list (401, 429 on most calls)
        except Exception as exc:
            return f"{request.method} {request.path} → {response.status_code}: {exc!r}"
        return None
