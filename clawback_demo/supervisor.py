"""A private supervisord for the demo and the tests: its own config, socket and logs in one dir.

The agent in the sandbox runs under a real process supervisor with ``autorestart=true``, so
``host.stop_service`` has to beat respawning the way it must on a real host.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

_STOPWAITSECS = 2


class SupervisorStartError(RuntimeError):
    pass


def _config_text(
    workdir: Path,
    programs: Mapping[str, Sequence[str]],
    autorestart: bool,
    program_options: Mapping[str, Mapping[str, str]],
) -> str:
    sections = [
        "[unix_http_server]",
        f"file={workdir / 'supervisor.sock'}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"logfile={workdir / 'supervisord.log'}",
        f"pidfile={workdir / 'supervisord.pid'}",
        f"childlogdir={workdir}",
        "nodaemon=true",
        "loglevel=info",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{workdir / 'supervisor.sock'}",
    ]
    for name, argv in programs.items():
        sections += [
            "",
            f"[program:{name}]",
            # supervisord expands %(...)s in command lines, so a literal % must be doubled.
            f"command={shlex.join(argv).replace('%', '%%')}",
            f"directory={workdir}",
            "autostart=true",
            f"autorestart={'true' if autorestart else 'false'}",
            # Zero: RUNNING as soon as it is spawned, so a respawn after a kill is immediate,
            # which is the behaviour the stop step must survive.
            "startsecs=0",
            "startretries=100",
            f"stopwaitsecs={_STOPWAITSECS}",
            "stopasgroup=true",
            "killasgroup=true",
            f"stdout_logfile={workdir / f'{name}.out.log'}",
            f"stderr_logfile={workdir / f'{name}.err.log'}",
        ]
        sections += [f"{key}={value}" for key, value in program_options.get(name, {}).items()]
    return "\n".join(sections) + "\n"


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, socket_path: Path) -> None:
        super().__init__()
        self._socket_path = str(socket_path)

    def make_connection(self, host: Any) -> Any:
        from supervisor.xmlrpc import UnixStreamHTTPConnection

        conn = UnixStreamHTTPConnection("localhost")
        conn.socketfile = self._socket_path
        return conn


@dataclass
class SupervisorHandle:
    """A running private supervisord. ``stop()`` leaves no process behind."""

    workdir: Path
    config_path: Path
    socket_path: Path
    process: subprocess.Popen[bytes]
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rpc(self) -> Any:
        """An XML-RPC proxy for the supervisor namespace (``.supervisor.getProcessInfo`` etc.)."""
        return xmlrpc.client.ServerProxy(
            "http://localhost/RPC2", transport=_UnixTransport(self.socket_path)
        )

    def process_info(self, name: str) -> dict[str, Any]:
        info: dict[str, Any] = self.rpc().supervisor.getProcessInfo(name)
        return info

    def restart(self, timeout: float = 15.0) -> None:
        """Stop supervisord and start it again from the same config file, as a reboot or
        ``systemctl restart supervisor`` would; waits until it answers on its socket."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=timeout)
        self.process = _spawn(self.workdir, self.config_path)
        self._stopped = False
        try:
            _wait_answering(self, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopped:
            return
        import psutil

        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        # supervisord stops its programs on SIGTERM; anything that outlived it is killed here.
        alive = [c for c in children if c.is_running()]
        for child in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(alive, timeout=5)
        self._stopped = True

    def __enter__(self) -> SupervisorHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_supervisord(
    workdir: Path,
    programs: Mapping[str, Sequence[str]],
    *,
    autorestart: bool = True,
    timeout: float = 15.0,
    program_options: Mapping[str, Mapping[str, str]] | None = None,
) -> SupervisorHandle:
    """Start supervisord with ``programs`` (name → argv) and wait until all are RUNNING.

    ``program_options`` adds lines to a program's section (name → {key: value}), such as
    ``user`` or ``environment``, written as given."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "supervisord.conf"
    config_path.write_text(_config_text(workdir, programs, autorestart, program_options or {}))
    socket_path = workdir / "supervisor.sock"
    handle = SupervisorHandle(workdir, config_path, socket_path, _spawn(workdir, config_path))
    try:
        _wait_running(handle, list(programs), timeout)
    except BaseException:
        handle.stop()
        raise
    return handle


def _spawn(workdir: Path, config_path: Path) -> subprocess.Popen[bytes]:
    log = (workdir / "supervisord.stdout").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            # Own session: a Ctrl-C aimed at the test runner or demo must not reach it first.
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        log.close()


def _wait_answering(handle: SupervisorHandle, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "socket not created yet"
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            log = (handle.workdir / "supervisord.stdout").read_text(errors="replace")[-2000:]
            raise SupervisorStartError(
                f"supervisord exited with {handle.process.returncode}: {log}"
            )
        try:
            if handle.rpc().supervisor.getState()["statename"] == "RUNNING":
                return
        except (OSError, xmlrpc.client.Fault) as exc:
            last_error = str(exc)
        time.sleep(0.05)
    raise SupervisorStartError(f"supervisord did not answer after {timeout}s ({last_error})")


def _wait_running(handle: SupervisorHandle, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "socket not created yet"
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            log = (handle.workdir / "supervisord.stdout").read_text(errors="replace")[-2000:]
            raise SupervisorStartError(
                f"supervisord exited with {handle.process.returncode}: {log}"
            )
        if handle.socket_path.exists():
            try:
                states = {n: handle.process_info(n)["statename"] for n in names}
            except (OSError, xmlrpc.client.Fault) as exc:
                last_error = str(exc)
            else:
                if all(s == "RUNNING" for s in states.values()):
                    return
                last_error = f"states: {states}"
        time.sleep(0.05)
    raise SupervisorStartError(f"supervisord programs not RUNNING after {timeout}s ({last_error})")
