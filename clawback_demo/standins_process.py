"""The demo's provider stand-ins in a process of their own: moto's IAM and every loopback stand-in.

In a real incident the providers' CPU is not clawback's. Served from clawback's own process,
the stand-ins' server threads (werkzeug, openapi-core checking every request, moto) took ~10%
of the demo's contain CPU from clawback's threads, on the one interpreter lock they share
(bench/README.md, issue 20). Here they run in a child process, a fresh interpreter
(``python -m clawback_demo.standins_process``: no thread of the parent copied half-way, and no
re-import of the parent's main script as multiprocessing's ``spawn`` would do), and clawback
talks to them only over loopback HTTP, as it talks to real providers. What the demo asks of
them besides (the contract checks' tallies, whether a planted key still works) goes over a
private socket pair.

The child stops everything it started when told to, and also when the pipe closes: if the demo
dies, its stand-ins (Prism included) do not outlive it. ``tests/contract_server.py`` and
``tests/drill_demo`` (which reads the stand-ins' state directly) keep them in their own process.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawback_demo.providers.fleet import GitHubProxy
from clawback_demo.providers.loopback import ContractTally

# How long the child may take to stop its servers (Prism's own grace period is 5 s).
STOP_SECONDS = 15.0


@dataclass(frozen=True)
class ServiceAddress:
    """Where one stand-in listens (what ``LoopbackService`` offers besides, it keeps)."""

    url: str


@dataclass(frozen=True)
class PrismAddress:
    url: str
    pid: int


@dataclass
class RemoteFleet:
    """``ProviderFleet`` as the demo sees it from the other side of the pipe."""

    services: dict[str, ServiceAddress]
    config: dict[str, dict[str, Any]]
    environ: dict[str, str] = field(repr=False)
    prism: PrismAddress | None = None
    notes: list[str] = field(default_factory=list)
    _channel: StandInsProcess | None = field(default=None, repr=False)

    def tallies(self) -> list[ContractTally]:
        """What the contract checks found, per provider, with any secret scrubbed."""
        return list(self._ask("tallies"))

    def accepts(self, provider: str, value: str) -> bool:
        """Whether the provider's stand-in still takes ``value`` (a key that works)."""
        return bool(self._ask("accepts", provider, value))

    def stop(self) -> None:
        """Stopped with the process (``StandInsProcess.stop``)."""

    def _ask(self, method: str, *args: Any) -> Any:
        if self._channel is None:
            raise RuntimeError("the stand-ins' process is not connected")
        return self._channel.call(method, *args)


class StandInsProcess:
    """The child process: started at once (moto first), the other stand-ins on request."""

    def __init__(self) -> None:
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        self._lock = threading.Lock()
        with ours, theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "clawback_demo.standins_process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
            )
            self._conn = Connection(ours.detach())
        try:
            self.moto_url: str = self.call("moto")
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                self._conn.send((method, args, kwargs))
                status, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise RuntimeError(
                    f"the demo's stand-ins' process ended unexpectedly ({type(exc).__name__})"
                ) from None
        if status != "ok":
            raise RuntimeError(f"the demo's stand-ins failed: {value}")
        return value

    def start_fleet(
        self, planted: Iterable[Any], workdir: Path, *, github_proxy: GitHubProxy | None = None,
        slack_allow_list: bool = False,
    ) -> RemoteFleet:
        """``start_provider_fleet`` in the child; its answer is what the demo needs to know."""
        fleet: RemoteFleet = self.call(
            "start_fleet", list(planted), workdir, github_proxy=github_proxy,
            slack_allow_list=slack_allow_list,
        )
        fleet._channel = self
        return fleet

    def stop(self) -> None:
        """Every stand-in stopped, then the process gone (killed if it does not end)."""
        if self._process.poll() is None:
            with contextlib.suppress(RuntimeError):
                self.call("stop")
        try:
            self._process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(STOP_SECONDS)
        self._conn.close()


def _serve(conn: Any) -> None:
    """The child's loop: one request at a time, until told to stop or the pipe closes."""
    # Ctrl-C reaches the whole foreground group: the demo stops its stand-ins itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from clawback_demo.providers.fleet import ProviderFleet, start_provider_fleet
    from clawback_demo.standins import start_moto

    with contextlib.ExitStack() as started:
        fleet: ProviderFleet | None = None
        try:
            moto = start_moto()
        except Exception as exc:
            conn.send(("error", _describe(exc)))
            return
        started.callback(moto.stop)
        while True:
            try:
                method, args, kwargs = conn.recv()
            except (EOFError, OSError):
                return  # the demo is gone: stop everything
            if method == "stop":
                break
            try:
                if method == "moto":
                    answer: Any = moto.url
                elif method == "start_fleet" and fleet is None:
                    fleet = start_provider_fleet(*args, **kwargs)
                    started.callback(fleet.stop)
                    answer = _described(fleet)
                elif method == "tallies" and fleet is not None:
                    answer = fleet.tallies()
                elif method == "accepts" and fleet is not None:
                    answer = fleet.accepts(*args)
                else:
                    raise RuntimeError(f"no such request now: {method}")
            except Exception as exc:
                conn.send(("error", _describe(exc)))
            else:
                conn.send(("ok", answer))
    with contextlib.suppress(OSError):
        conn.send(("ok", None))  # stopped


def _described(fleet: Any) -> RemoteFleet:
    prism = fleet.prism
    return RemoteFleet(
        services={name: ServiceAddress(s.url) for name, s in fleet.services.items()},
        config=fleet.config,
        environ=fleet.environ,
        prism=PrismAddress(prism.url, prism.process.pid) if prism is not None else None,
        notes=list(fleet.notes),
    )


def _describe(exc: BaseException) -> str:
    # The type and message only: a traceback's frames could name a planted value.
    return f"{type(exc).__name__}: {exc}"


def main() -> None:
    from multiprocessing.connection import Connection

    conn = Connection(int(sys.argv[1]))
    try:
        _serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    # What crosses the socket must name this module's classes, not ``__main__``'s.
    from clawback_demo.standins_process import main as imported_main

    imported_main()
