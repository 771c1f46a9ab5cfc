"""Serving one stand-in on 127.0.0.1 with werkzeug, every request checked before it is answered.

A request the provider's description rejects is answered 422 and recorded as a violation (a bug
in clawback or in the stand-in), the way ``tests/contract_server.py`` does in the test suite.

``LoopbackService.fault``, when a test sets it (``tests/faults``), answers every well-formed
request with an ``InjectedFault`` instead of the stand-in: a provider that errs, throttles, hangs
or talks nonsense. Unset, as everywhere else, it changes nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from werkzeug import Request, Response


class RequestCheck(Protocol):
    def violation(self, request: Request) -> str | None:
        """Why the provider would reject this request's shape, or None; never a value."""
        ...


@dataclass
class ContractTally:
    """What one stand-in's checks found, for the demo's summary."""

    provider: str
    checked_by: str  # what judged the requests: a description file, Prism, or nothing
    requests: int = 0
    violations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "checked_by": self.checked_by,
            "requests": self.requests,
            "violations": list(self.violations),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class InjectedFault:
    """What a misbehaving provider answers, in place of the stand-in's answer."""

    name: str
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    # Held this long before answering at all: longer than the client waits, it is a timeout.
    hang_seconds: float = 0.0

    def response(self) -> Response:
        return Response(self.body, self.status, list(self.headers), content_type=self.content_type)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers, content_type="application/json")


class LoopbackService:
    """A werkzeug server on 127.0.0.1 (any free port) in a daemon thread."""

    def __init__(
        self,
        provider: str,
        answer: Callable[[Request], Response],
        check: RequestCheck | None,
        checked_by: str,
    ) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            # One line per request on stderr would bury the demo's own output.
            def log(self, type: str, message: str, *args: Any) -> None:
                pass

        self.tally = ContractTally(provider, checked_by)
        self.fault: InjectedFault | None = None
        # When each request answered with the fault arrived (time.monotonic()): how often and
        # how far apart a client tried.
        self.faulted_at: list[float] = []
        self._stopping = threading.Event()  # ends a held (hanging) request at once
        self._answer = answer
        self._check = check
        self._lock = threading.Lock()
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # How long stop() may wait for the loop to notice: the default half second, six
            # stand-ins in a row, would be seconds of nothing at the end of every demo.
            kwargs={"poll_interval": 0.02},
            name=f"stand-in {provider}",
            daemon=True,
        )
        self._thread.start()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self._lock:
            self.tally.requests += 1
        problem = self._check.violation(request) if self._check is not None else None
        if problem is not None:
            with self._lock:
                self.tally.violations.append(problem)
            response = Response("request outside the provider's description", 422)
        elif (fault := self.fault) is not None:
            response = self._misbehave(fault)
        else:
            response = self._answer(request)
        return response(environ, start_response)

    def _misbehave(self, fault: InjectedFault) -> Response:
        with self._lock:
            self.faulted_at.append(time.monotonic())
        if fault.hang_seconds:
            self._stopping.wait(fault.hang_seconds)
        return fault.response()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
