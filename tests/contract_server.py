"""A loopback stand-in for an HTTP provider that checks every request against the provider's
official API description with openapi-core (``tests/contracts/*.json``, and the five the demo
ships as package data in ``clawback_demo/contracts/``).

Use it for providers Prism cannot serve (Stripe's description never loads) or for answers Prism
cannot give (a 500, a 429 with Retry-After, a hang, state that changes after a revoke).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


class ContractServer:
    """A loopback server that checks every request against an API description (openapi-core).

    For answers Prism cannot give (a real Curve25519 public key, a 500, a hang), the test says
    what to answer; the request itself must still be one the provider would accept.
    """

    def __init__(
        self,
        httpserver: Any,
        spec_name: str,
        *,
        adapt_spec: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        adapt_request: Callable[[Any], Any] | None = None,
    ) -> None:
        """``adapt_spec`` and ``adapt_request`` apply a documented, in-memory workaround for a
        validator or description quirk (Stripe's deepObject arrays, for one); the file itself
        stays verbatim. ``adapt_request`` returns the werkzeug request to validate."""
        import json
        import re

        from openapi_core import OpenAPI

        spec = json.loads(contract_path(spec_name).read_text())
        if adapt_spec is not None:
            spec = adapt_spec(spec)
        spec["servers"] = [{"url": "/"}]  # match on the path, whatever host the test uses
        self._api = OpenAPI.from_dict(spec)
        self._adapt_request = adapt_request
        self.violations: list[str] = []
        self.requests: list[Any] = []
        self._answers: list[tuple[str, str, Callable[[Any], Any]]] = []
        httpserver.expect_request(re.compile("^/.*")).respond_with_handler(self._handle)
        self.url = httpserver.url_for("/").rstrip("/")

    def answer(self, method: str, path_regex: str, respond: Callable[[Any], Any]) -> None:
        self._answers.append((method, path_regex, respond))

    def _handle(self, request: Any) -> Any:
        import re

        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
        from werkzeug import Response

        self.requests.append(request)
        try:
            checked = self._adapt_request(request) if self._adapt_request else request
            self._api.validate_request(WerkzeugOpenAPIRequest(checked))
        except Exception as exc:
            self.violations.append(f"{request.method} {request.path}: {type(exc).__name__}")
            return Response("contract violation", status=422)
        for method, pattern, respond in self._answers:
            if request.method == method and re.fullmatch(pattern, request.path):
                return respond(request)
        return Response("no answer arranged", status=501)
