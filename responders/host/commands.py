"""Run host commands without a shell, and record exactly what ran.

RFC 3227 (section 4.3) says not to trust the programs on a compromised system. We cannot avoid
them (``nft``, ``systemctl``, ``docker`` are the only ways in), so every command is resolved from a
fixed system path rather than the caller's ``PATH``, and its result carries the sha256 of the
binary that actually ran. A reviewer can later compare it with the distribution's package.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responders.interface import ResponderError

# The caller's PATH is attacker-writable on a compromised account (~/.local/bin first), so
# binaries are looked up here only.
SYSTEM_PATH: tuple[str, ...] = (
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
)

INSTALL_HINTS: Mapping[str, str] = {
    "nft": "install nftables: `apt-get install -y nftables` (Debian/Ubuntu) or "
    "`dnf install -y nftables` (Fedora/RHEL)",
    "ip": "install iproute2: `apt-get install -y iproute2`",
    "systemctl": "this host has no systemd; name the real supervisor in clawback.toml "
    "[[agent.services]]",
    "launchctl": "launchctl exists only on macOS; name the real supervisor in clawback.toml "
    "[[agent.services]]",
    "docker": "install the docker CLI or stop the container from the host that runs it",
}

_STDERR_TAIL = 400
_hash_cache: dict[tuple[str, int, int, int], str] = {}


class MissingBinary(ResponderError):
    """A command's binary is not in the system path; the message says how to get it."""

    def __init__(self, name: str, search_path: Sequence[str]) -> None:
        self.binary = name
        hint = INSTALL_HINTS.get(name, f"install `{name}`")
        super().__init__(f"`{name}` not found in {':'.join(search_path)}: {hint}")


def resolve_binary(name: str, search_path: Sequence[str] | None = None) -> str:
    """Absolute path of an executable ``name``; absolute names are checked, not searched."""
    search_path = SYSTEM_PATH if search_path is None else search_path
    candidates = [name] if os.path.isabs(name) else [os.path.join(d, name) for d in search_path]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    raise MissingBinary(name, search_path)


def binary_sha256(path: str) -> str:
    """sha256 of a file, cached by inode, size and mtime so repeated commands hash once."""
    st = os.stat(path)
    key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _hash_cache.get(key)
    if cached is None:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        cached = _hash_cache[key] = digest.hexdigest()
    return cached


@dataclass(frozen=True)
class CommandResult:
    """One finished (or timed-out) command. ``exit_code`` is None when it was killed on timeout."""

    argv: tuple[str, ...]
    binary: str
    binary_sha256: str
    exit_code: int | None
    timed_out: bool
    duration_s: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    def stderr_tail(self) -> str:
        text = self.stderr.strip()
        return text[-_STDERR_TAIL:]

    def record(self) -> dict[str, Any]:
        """JSON-safe summary for the timeline. stdout is left out: it may quote config or env."""
        out: dict[str, Any] = {
            "argv": list(self.argv),
            "binary": self.binary,
            "binary_sha256": self.binary_sha256,
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 4),
        }
        if self.timed_out:
            out["timed_out"] = True
        if not self.ok and self.stderr.strip():
            out["stderr_tail"] = self.stderr_tail()
        return out


def command_env() -> dict[str, str]:
    """The caller's environment minus loader hooks, with the fixed PATH and a parseable locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "DYLD_"))}
    env["PATH"] = ":".join(SYSTEM_PATH)
    env["LC_ALL"] = "C"
    return env


def run_command(
    argv: Sequence[str],
    *,
    timeout: float = 15.0,
    stdin: str | None = None,
    cwd: Path | None = None,
    search_path: Sequence[str] | None = None,
    user: int | None = None,
    group: int | None = None,
    home: str | None = None,
) -> CommandResult:
    """Run ``argv`` (no shell). Raises MissingBinary; a timeout is a result, not an exception.

    ``user``/``group`` run it as another user with no supplementary groups (the agent's own
    code runs as the agent, never as root), ``home`` is its ``HOME``.
    """
    if not argv:
        raise ValueError("empty command")
    binary = resolve_binary(argv[0], search_path)
    sha = binary_sha256(binary)
    resolved = (binary, *argv[1:])
    env = command_env()
    if home is not None:
        env["HOME"] = home
    identity: dict[str, Any] = {}
    if user is not None:
        identity = {"user": user, "group": group if group is not None else user,
                    "extra_groups": []}
    started = time.monotonic()
    try:
        proc = subprocess.run(
            resolved,
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            cwd=cwd,
            env=env,
            check=False,
            **identity,
        )
    except subprocess.TimeoutExpired as exc:
        return CommandResult(
            argv=tuple(resolved),
            binary=binary,
            binary_sha256=sha,
            exit_code=None,
            timed_out=True,
            duration_s=time.monotonic() - started,
            stdout=_as_text(exc.stdout),
            stderr=_as_text(exc.stderr) + f"\n(killed after {timeout}s)",
        )
    return CommandResult(
        argv=tuple(resolved),
        binary=binary,
        binary_sha256=sha,
        exit_code=proc.returncode,
        timed_out=False,
        duration_s=time.monotonic() - started,
        stdout=proc.stdout,
        stderr=proc.stderr,
    )


def _as_text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
