"""One fleet host over SSH: a Fabric connection with strict host-key checking, the uploaded
agent, and evidence transfer that hashes every byte on arrival.

The host key must already be in the known_hosts file ``[fleet] known_hosts`` names: during an
incident a host that presents an unknown or changed key is refused, never trusted on first use
(an attacker who controls the network would otherwise collect the login and the evidence).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shlex
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responders.interface import Action, ResponderError
from responders.kit.private_files import FILE_MODE

# Binaries on the far side come from the system path, not the login shell's PATH, which a
# compromised account can point at ~/.local/bin first (RFC 3227 §4.3).
REMOTE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Every command starts with an absolute path (a shell function from ~/.bashrc cannot take the
# place of a name with a slash) and an emptied environment (no LD_PRELOAD, no PYTHONPATH):
# only what the session itself set is passed on.
CLEAN_ENV = (
    f'/usr/bin/env -i PATH={REMOTE_PATH} LC_ALL=C HOME="$HOME" USER="$USER" '
    'SSH_CONNECTION="$SSH_CONNECTION"'
)
AGENT_FILE = "clawback-agent.pyz"
CONTAIN_CONSEQUENCE = (
    "its agent is still running unchecked: contain it from its console or its provider (power "
    "off, detach its network), and revoke its keys (this run does)"
)
CHUNK = 1024 * 1024
DEFAULT_COMMAND_TIMEOUT_S = 3600.0

_TARGET = re.compile(
    r"^(?:(?P<user>[A-Za-z_][A-Za-z0-9._-]*)@)?"
    r"(?P<address>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)"
    r"(?::(?P<port>\d{1,5}))?$"
)


@dataclass(frozen=True)
class SshTarget:
    """``[user@]address[:port]``; an IPv6 address goes in brackets."""

    address: str
    port: int = 22
    user: str | None = None

    @classmethod
    def parse(cls, text: str) -> SshTarget:
        match = _TARGET.match(text.strip())
        if match is None:
            raise ValueError(
                f"{text!r} is not an SSH target: write user@address:port, e.g. "
                "root@192.0.2.10:22 (IPv6: root@[2001:db8::7]:22)"
            )
        port = int(match["port"] or 22)
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} in {text!r} is not between 1 and 65535")
        return cls(address=match["address"].strip("[]"), port=port, user=match["user"])

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH names this host in known_hosts."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return host if self.port == 22 else f"[{self.address}]:{self.port}"

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.user + '@' if self.user else ''}{host}:{self.port}"


class HostUnreachable(ResponderError):
    """The host could not be reached or logged into; the message is advice."""


class HostKeyRefused(HostUnreachable):
    """The host presented a key that is not the one known_hosts has for it."""


def _offered_key(key: Any) -> str:
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def _refusing_policy(name: str, target: SshTarget, known_hosts: Path) -> Any:
    import paramiko

    class RefuseUnknownHostKey(paramiko.MissingHostKeyPolicy):
        """Refuse, saying which key was offered and how to check and add it."""

        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            raise HostKeyRefused(
                f"{name} ({target}) offered host key {_offered_key(key)}, which is not in "
                f"{known_hosts}: clawback does not trust a host key on first use. Check that "
                "fingerprint on the host's console (`ssh-keygen -lf "
                "/etc/ssh/ssh_host_ed25519_key.pub`), then add it: `ssh-keyscan -p "
                f"{target.port} {target.address} >> {known_hosts}` (or ssh in once and "
                "compare)"
            )

    return RefuseUnknownHostKey()


class RemoteHost:
    """A fleet member: ``open()`` connects, checks the host key, uploads the agent and reads
    the host's facts; ``call()`` runs an agent command; ``fetch()`` copies a file back."""

    def __init__(
        self,
        name: str,
        target: SshTarget,
        *,
        known_hosts: Path,
        private_key: Any = None,  # a paramiko PKey; None means the SSH agent
        sudo: bool = False,
        python: str = "python3",
        connect_timeout: float = 10.0,
        if_unreachable: str = CONTAIN_CONSEQUENCE,
    ) -> None:
        self.name = name
        # What a failed connection means for the caller, ending its advice: during contain the
        # agent runs on unchecked; during restore-network the cut stays as it is.
        self.if_unreachable = if_unreachable
        self.target = target
        self.known_hosts = Path(known_hosts)
        self._private_key = private_key
        self.sudo = sudo
        self.python = python
        self.connect_timeout = connect_timeout
        self.facts: dict[str, Any] = {}
        self.workdir = ""
        self._connection: Any = None
        self._sftp_lock = threading.Lock()
        self._calls = 0

    # -- connecting ---------------------------------------------------------------------------

    def open(self) -> dict[str, Any]:
        """Connect and prepare; raises HostUnreachable (or HostKeyRefused) with advice."""
        from fabric import Config, Connection

        connect_kwargs: dict[str, Any] = {"look_for_keys": False}
        if self._private_key is not None:
            connect_kwargs.update(pkey=self._private_key, allow_agent=False)
        else:
            connect_kwargs["allow_agent"] = True
        connection = Connection(
            host=self.target.address,
            user=self.target.user,
            port=self.target.port,
            connect_timeout=max(1, round(self.connect_timeout)),
            connect_kwargs=connect_kwargs,
            # ~/.ssh/config could re-route the host or change the user; the config file names
            # the target exactly.
            config=Config(overrides={"load_ssh_configs": False}),
        )
        connection.client.set_missing_host_key_policy(
            _refusing_policy(self.name, self.target, self.known_hosts)
        )
        if self.known_hosts.is_file():
            connection.client.load_system_host_keys(str(self.known_hosts))
        try:
            connection.open()
        except HostUnreachable:
            connection.close()
            raise
        except Exception as exc:
            connection.close()
            raise HostUnreachable(self._connect_advice(exc)) from None
        self._connection = connection
        self._upload_agent()
        self.facts = self.call("info", {}, privileged=False, timeout=60)
        return self.facts

    def _connect_advice(self, exc: Exception) -> str:
        import paramiko

        where = f"{self.name} ({self.target})"
        unchecked = self.if_unreachable
        if isinstance(exc, paramiko.BadHostKeyException):
            return (
                f"{where} presented host key {_offered_key(exc.key)}, but {self.known_hosts} "
                f"has {_offered_key(exc.expected_key)} for it: the host was reinstalled or "
                "someone is in the middle. Check the key on the host's console before removing "
                f"the old line (`ssh-keygen -R {self.target.known_hosts_name} -f "
                f"{self.known_hosts}`); {unchecked}"
            )
        if isinstance(exc, paramiko.AuthenticationException):
            how = (
                "the key from keyring" if self._private_key is not None
                else "the keys in your SSH agent (`ssh-add -l` lists them; none loaded is a "
                "common cause)"
            )
            return (
                f"{where} refused the login with {how}: check the user and that the public key "
                f"is in its authorized_keys; {unchecked}"
            )
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError | OSError) or "Unable to connect" in reason:
            return (
                f"cannot reach {where}: {reason}. Check the address, that sshd listens on port "
                f"{self.target.port} and that no firewall drops it; {unchecked}"
            )
        return f"SSH to {where} failed ({type(exc).__name__}: {reason}); {unchecked}"

    def _upload_agent(self) -> None:
        from responders.fleet_agent import agent_zip

        made = self._connection.run(
            f"{CLEAN_ENV} mktemp -d /tmp/clawback-agent.XXXXXXXX",
            hide=True, warn=True, in_stream=False, timeout=60,
        )
        if made.exited != 0 or not made.stdout.strip().startswith("/"):
            raise HostUnreachable(
                f"{self.name}: cannot create a private temporary directory "
                f"(`mktemp -d` exited {made.exited}): {made.stderr.strip()[-300:]}"
            )
        self.workdir = made.stdout.strip().splitlines()[-1]
        with self._sftp_lock:
            sftp = self._connection.sftp()
            path = f"{self.workdir}/{AGENT_FILE}"
            with sftp.open(path, "wb") as remote:
                remote.write(agent_zip())
            sftp.chmod(path, FILE_MODE)

    @property
    def agent_path(self) -> str:
        return f"{self.workdir}/{AGENT_FILE}"

    @property
    def acts_as_root(self) -> bool:
        return self.sudo or self.facts.get("euid") == 0

    # -- running the agent --------------------------------------------------------------------

    def call(
        self,
        command: str,
        params: Mapping[str, Any],
        *,
        privileged: bool = True,
        timeout: float = DEFAULT_COMMAND_TIMEOUT_S,
        keepalive_s: float = 0.0,
    ) -> dict[str, Any]:
        """Run one agent command; its JSON answer, or ResponderError with the agent's advice.

        ``keepalive_s`` makes this side send a keepalive whenever it has been quiet that long,
        while the command runs (see ``responders.remote.network`` for why a cut needs it).
        """
        from invoke.exceptions import CommandTimedOut

        if self._connection is None:
            raise ResponderError(f"{self.name}: not connected")
        line = f"{shlex.quote(self.python)} -I {shlex.quote(self.agent_path)} {command}"
        if privileged and self.sudo:
            # -n: never wait for a password at 2 a.m.; NOPASSWD is the documented setup.
            line = f"sudo -n -- {line}"
        started = time.monotonic()
        # Parameters go in a file: invoke feeds a command's stdin one byte per 10 ms.
        params_file = self._write_params(params)
        transport = self._connection.transport
        if keepalive_s and transport is not None:
            transport.set_keepalive(keepalive_s)
        try:
            result = self._connection.run(
                f"{CLEAN_ENV} {line} < {shlex.quote(params_file)}",
                in_stream=False, hide=True, warn=True, timeout=timeout,
            )
        except CommandTimedOut:
            raise ResponderError(
                f"{self.name}: the agent's {command} did not answer within {timeout:g} s"
            ) from None
        except Exception as exc:
            raise ResponderError(
                f"{self.name}: the SSH session broke during {command} ({type(exc).__name__}); "
                "the host may have gone down or cut its network"
            ) from None
        finally:
            if keepalive_s and transport is not None:
                transport.set_keepalive(0)
        try:
            answer = json.loads(result.stdout or "null")
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            tail = result.stderr.strip()[-300:]
            hint = ""
            if "sudo" in tail and "password" in tail:
                hint = (
                    f"; give the SSH user passwordless sudo for {self.python} on that host, or "
                    "log in as root"
                )
            elif result.exited == 127:
                hint = f"; is {self.python} installed? (python = ... in [[hosts]] names another)"
            raise ResponderError(
                f"{self.name}: the agent's {command} exited {result.exited} without an answer"
                f"{': ' + tail if tail else ''}{hint}"
            )
        if "error" in answer and len(answer) == 1:
            raise ResponderError(f"{self.name}: {answer['error']}")
        answer.setdefault("_duration_s", round(time.monotonic() - started, 3))
        return answer

    def _write_params(self, params: Mapping[str, Any]) -> str:
        with self._sftp_lock:
            self._calls += 1
            path = f"{self.workdir}/params-{self._calls}.json"
            with self._connection.sftp().open(path, "wb") as remote:
                remote.write(json.dumps(params).encode())
        return path

    # -- files --------------------------------------------------------------------------------

    def fetch(self, remote_path: str, local_path: Path) -> tuple[str, int]:
        """Copy ``remote_path`` to a new 0600 ``local_path``; (sha256, size) of what arrived."""
        digest = hashlib.sha256()
        size = 0
        fd = os.open(local_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        with self._sftp_lock, os.fdopen(fd, "wb") as local:
            with self._connection.sftp().open(remote_path, "rb") as remote:
                remote.prefetch()
                while chunk := remote.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    local.write(chunk)
            local.flush()
            os.fsync(local.fileno())
        return digest.hexdigest(), size

    def remove(self, remote_path: str) -> None:
        """Best effort: a leftover copy in the private temp dir goes with it at close."""
        with self._sftp_lock, contextlib.suppress(OSError):
            self._connection.sftp().remove(remote_path)

    def close(self) -> None:
        """Remove the upload directory and disconnect; never raises."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if self.workdir:
                prefix = "sudo -n -- " if self.sudo else ""
                connection.run(
                    f"{CLEAN_ENV} {prefix}rm -rf -- {shlex.quote(self.workdir)}",
                    hide=True, warn=True, in_stream=False, timeout=60,
                )
        except Exception:  # the host went away: nothing more to tidy
            pass
        finally:
            connection.close()

    def describe(self) -> dict[str, Any]:
        """What the timeline records about this host (no secret: names and identities)."""
        return {
            "name": self.name,
            "ssh": str(self.target),
            "sudo": self.sudo,
            "hostname": self.facts.get("hostname"),
            "machine_id": self.facts.get("machine_id"),
            "os_release": self.facts.get("os_release"),
            "kernel": self.facts.get("kernel"),
            "python": self.facts.get("python"),
            "login_user": self.facts.get("user"),
            "seen_from": self.facts.get("ssh_client"),
        }


def remote_host(action: Action) -> RemoteHost:
    """The fleet host an action runs on (``ResponderContext.host``)."""
    host = action.context.host
    if not isinstance(host, RemoteHost):
        raise ResponderError(f"{action.name} over SSH needs a connected fleet host")
    return host
