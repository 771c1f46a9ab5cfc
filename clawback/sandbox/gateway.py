"""A stand-in for the OpenClaw gateway: a real process that looks like one to discovery.

``python -m clawback.sandbox.gateway --port P --lock-dir DIR --config-path C [--pid-file F]``

It listens on 127.0.0.1:P (``GET /health``), writes OpenClaw's lock file
``DIR/gateway.<sha256(configPath)[:8]>.lock`` = ``{pid, createdAt, configPath}`` once it is
listening, names its main thread ``openclaw-gateway`` (truncated to the kernel's 15 bytes, which
is what the real gateway's title looks like in ``/proc/<pid>/comm``) and removes the lock on
SIGTERM, as the real gateway does on a clean shutdown. Standard library only: the demo and the
tests start many of these.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import hashlib
import http.server
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

PROCESS_TITLE = "openclaw-gateway"
_PR_SET_NAME = 15
_KERNEL_COMM_BYTES = 15


def lock_file_name(config_path: str) -> str:
    """OpenClaw's lock name: ``gateway.<first 8 hex of sha256(configPath)>.lock``."""
    return f"gateway.{hashlib.sha256(config_path.encode()).hexdigest()[:8]}.lock"


def set_process_title(title: str = PROCESS_TITLE) -> bool:
    """Set the kernel's name for this process (what ``ps -o comm`` and psutil's name() show)."""
    if not sys.platform.startswith("linux"):
        return False
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    name = title.encode()[:_KERNEL_COMM_BYTES]
    return libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) == 0


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/health":
            self.send_error(404)
            return
        body = json.dumps({"ok": True, "pid": os.getpid()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Supervisord captures stderr into a file nobody reads; per-request lines only add noise.
        return


class _Terminated(BaseException):
    """Raised by the SIGTERM handler. A BaseException because socketserver swallows any
    Exception raised while it hands a connection to a thread, which would ignore the TERM."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _write_owned(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _remove_if_ours(path: Path | None) -> None:
    """Remove a lock or pid file only while it still names this process (a successor may own it)."""
    if path is None:
        return
    try:
        text = path.read_text()
    except OSError:
        return
    try:
        owner = json.loads(text)["pid"] if text.lstrip().startswith("{") else int(text.strip())
    except (ValueError, KeyError, TypeError):
        return
    if owner == os.getpid():
        path.unlink(missing_ok=True)


def serve(port: int, lock_dir: Path, config_path: str, pid_file: Path | None = None) -> int:
    signal.signal(signal.SIGTERM, _raise_terminated)
    set_process_title()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _HealthHandler)
    lock_path = lock_dir / lock_file_name(config_path)
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lock = {"pid": os.getpid(), "createdAt": created, "configPath": config_path}
        _write_owned(lock_path, json.dumps(lock))
        if pid_file is not None:
            _write_owned(pid_file, f"{os.getpid()}\n")
        server.serve_forever(poll_interval=0.1)
    except (_Terminated, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
        _remove_if_ours(lock_path)
        _remove_if_ours(pid_file)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clawback.sandbox.gateway", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lock-dir", type=Path, required=True)
    parser.add_argument("--config-path", required=True)
    parser.add_argument("--pid-file", type=Path)
    args = parser.parse_args(argv)
    return serve(args.port, args.lock_dir, args.config_path, args.pid_file)


if __name__ == "__main__":
    sys.exit(main())
