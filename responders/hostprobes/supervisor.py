"""The few supervisord XML-RPC calls a stop needs, over its unix socket or HTTP.

Standard library only (see the package docstring). http.client and xmlrpc.client cost ~25 ms to
import, which only supervisord stops need: they are imported on first use, never at start-up
of the panic path.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any

from responders.interface import ResponderError

# supervisord states in which a program still has (or is about to have) a live process.
LIVE_STATES = frozenset({"STARTING", "RUNNING", "BACKOFF", "STOPPING"})
BAD_NAME = 10
_POLL_S = 0.02


class SupervisorUnreachable(ResponderError):
    """supervisord's socket did not answer; the message says where we looked."""


class SupervisorFault(Exception):
    """supervisord answered with an XML-RPC fault (e.g. 10 BAD_NAME, 70 NOT_RUNNING)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code


@functools.cache
def _transport_class() -> type[Any]:
    """xmlrpc.client over a unix socket (the stdlib speaks only TCP)."""
    import http.client
    import socket
    import xmlrpc.client

    class UnixHTTPConnection(http.client.HTTPConnection):
        def __init__(self, socket_path: str, timeout: float) -> None:
            super().__init__("localhost", timeout=timeout)
            self._socket_path = socket_path

        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(self._socket_path)
            self.sock = sock

    class Transport(xmlrpc.client.Transport):
        def __init__(self, socket_path: str | None, timeout: float, auth: str | None) -> None:
            super().__init__()
            self._socket_path = socket_path
            self._timeout = timeout
            self._auth = auth

        def make_connection(self, host: Any) -> http.client.HTTPConnection:
            if self._socket_path is None:
                hostname, _, port = str(host).rpartition("@")[2].partition(":")
                return http.client.HTTPConnection(hostname, int(port or 80), timeout=self._timeout)
            return UnixHTTPConnection(self._socket_path, self._timeout)

        def send_headers(self, connection: http.client.HTTPConnection, headers: Any) -> None:
            super().send_headers(connection, headers)
            if self._auth:
                connection.putheader("Authorization", self._auth)

    return Transport


def supervisor_endpoint(options: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(unix socket, http url, Basic auth header) from a service's options or its config file."""
    socket_path = options.get("socket")
    url = options.get("serverurl")
    username, password = options.get("username"), options.get("password")
    config_path = options.get("supervisor_config")
    if config_path:
        import configparser

        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read(str(config_path))
        except configparser.Error as exc:
            # The type only: the parser's message quotes the line it choked on.
            raise ResponderError(
                f"cannot read supervisord config {config_path}: {type(exc).__name__}"
            ) from None
        here = os.path.dirname(os.path.abspath(str(config_path)))

        def get(section: str, key: str) -> str | None:
            if not parser.has_option(section, key):
                return None
            return parser.get(section, key).replace("%(here)s", here).strip()

        if not socket_path and not url:
            serverurl = get("supervisorctl", "serverurl")
            if serverurl and serverurl.startswith("unix://"):
                socket_path = serverurl[len("unix://") :]
            elif serverurl:
                url = serverurl
            else:
                socket_path = get("unix_http_server", "file")
        username = (
            username or get("supervisorctl", "username") or get("unix_http_server", "username")
        )
        password = (
            password or get("supervisorctl", "password") or get("unix_http_server", "password")
        )
    if not socket_path and not url:
        raise ResponderError(
            f"no supervisord socket found in {config_path or 'the service entry'}: set "
            "socket = <path of [unix_http_server] file>"
        )
    auth = None
    if username and password:
        import base64

        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        auth = f"Basic {token}"
    return (str(socket_path) if socket_path else None, str(url) if url else None, auth)


class SupervisorClient:
    """The few supervisord RPCs a stop needs; raises SupervisorFault or SupervisorUnreachable.

    ``where_to_fix`` ends the advice when supervisord does not answer: which settings name
    the socket, and who may use it (the local and the fleet configs differ).
    """

    BAD_NAME = BAD_NAME

    def __init__(
        self,
        options: Mapping[str, Any],
        timeout: float,
        *,
        where_to_fix: str = (
            "check socket = in [[agent.services]] and that clawback runs as a user allowed to "
            "use it"
        ),
    ) -> None:
        import xmlrpc.client

        self.socket_path, self.url, auth = supervisor_endpoint(options)
        self.where = f"unix://{self.socket_path}" if self.socket_path else str(self.url)
        self._where_to_fix = where_to_fix
        self._proxy = xmlrpc.client.ServerProxy(
            "http://localhost/RPC2" if self.socket_path else f"{self.url}/RPC2",
            transport=_transport_class()(self.socket_path, timeout, auth),
        )

    def _call(self, method: str, *args: Any) -> Any:
        import http.client
        import xmlrpc.client

        try:
            return getattr(self._proxy.supervisor, method)(*args)
        except xmlrpc.client.Fault as fault:
            raise SupervisorFault(fault.faultCode, fault.faultString) from None
        except (OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as exc:
            raise SupervisorUnreachable(
                f"cannot reach supervisord at {self.where}: {type(exc).__name__}; "
                f"{self._where_to_fix}"
            ) from None

    def process_info(self, name: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = self._call("getProcessInfo", name)
        except SupervisorFault as fault:
            if fault.code == self.BAD_NAME:
                return None
            raise
        return info

    def program_names(self) -> list[str]:
        infos = self._call("getAllProcessInfo")
        return [
            i["name"] if i["group"] == i["name"] else f"{i['group']}:{i['name']}" for i in infos
        ]

    def stop_group(self, group: str) -> Any:
        # wait=False: with wait=True supervisord answers only on its next 1-second tick, even
        # when the process died at once; the caller polls getProcessInfo instead.
        return self._call("stopProcessGroup", group, False)

    def remove_group(self, group: str) -> Any:
        return self._call("removeProcessGroup", group)


def wait_until_stopped(client: SupervisorClient, name: str, timeout: float) -> str:
    """Poll ``name``'s state until supervisord says it has no live process (or no such program
    any more); return the last state seen, which is still a live one after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        info = client.process_info(name)
        state = str(info["statename"]) if info else "removed"
        if state not in LIVE_STATES or time.monotonic() >= deadline:
            return state
        time.sleep(_POLL_S)


def rpc_result(value: Any) -> Any:
    """What the timeline keeps of a stopProcessGroup answer: names and statuses."""
    if isinstance(value, list):
        return [
            {k: v.get(k) for k in ("name", "status", "description")} if isinstance(v, dict)
            else v
            for v in value
        ]
    return value
