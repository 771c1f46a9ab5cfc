"""A loopback pass-through in front of moto that can pin a crash to one IAM call."""

from __future__ import annotations

import contextlib
from typing import Any


class IamGate:
    """A loopback pass-through in front of moto that can pin a crash to one IAM call.

    A timed kill can only say "shortly after this timeline entry"; where exactly a rotation
    dies (before the new key exists, or after IAM made it but before clawback heard back)
    depends on machine load. The gate makes it exact: in ``hold`` mode the first
    CreateAccessKey is held and never forwarded; in ``answer-lost`` mode it is forwarded and
    moto creates the key, but the answer is held. Either way ``reached`` is set, the test kills
    the run, then sets ``release``. Every other request (and any later CreateAccessKey) passes
    through untouched, Host header included, so moto's SigV4 checks still hold.
    """

    def __init__(self, upstream: str, mode: str) -> None:
        import http.server
        import threading
        from urllib.parse import urlsplit

        assert mode in ("hold", "answer-lost"), mode
        self.mode = mode
        self.reached = threading.Event()
        self.release = threading.Event()
        self._upstream = urlsplit(upstream)
        self._armed = True
        self._lock = threading.Lock()
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                gate._handle(self)

            def do_GET(self) -> None:
                gate._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _handle(self, request: Any) -> None:
        import http.client

        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        with self._lock:
            trigger = self._armed and b"Action=CreateAccessKey" in body
            if trigger:
                self._armed = False
        if trigger and self.mode == "hold":
            self.reached.set()
            self.release.wait(timeout=60)
            request.close_connection = True
            return  # never forwarded: IAM never makes the key
        upstream = http.client.HTTPConnection(self._upstream.hostname, self._upstream.port,
                                              timeout=30)
        try:
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in ("connection", "keep-alive", "transfer-encoding")}
            upstream.request(request.command, request.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
        finally:
            upstream.close()
        if trigger:  # answer-lost: IAM made the key; the caller dies before hearing of it
            self.reached.set()
            self.release.wait(timeout=60)
        with contextlib.suppress(OSError):
            request.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                    request.send_header(key, value)
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
