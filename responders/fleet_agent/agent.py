"""clawback's agent on a fleet host, run over SSH by ``clawback contain --hosts``.

clawback is not installed on fleet hosts. For each run the controller uploads one zip (this
module, ``formats.py``, the pure-Python discovery modules ``responders.openclaw.discovery``,
``responders.kit.secret_patterns`` and ``responders.interface``, and the host
probes ``responders.hostprobes`` that the local actions use too) into a private
temporary directory and runs ``python3 agent.pyz COMMAND``. The far side needs a POSIX shell
and Python 3.11 or newer (standard library only); everything else is optional and named in
the result when it is missing.

Protocol: the command reads one JSON object of parameters on stdin and writes one JSON object
on stdout. Exit 0 means the command ran (its result may still describe problems); exit 1 comes
with ``{"error": ...}``. Nothing in an error quotes file contents: discovery reads secrets.

Commands (each mirrors a local responder; the controller turns results into outcomes):

* ``info``: who and where (hostname, machine id, kernel, the SSH client address as this host
  sees it, which tools exist).
* ``discover``: OpenClaw discovery (``discover``) on this host. The result carries the secret
  values, which travel back inside the SSH channel only; the controller wraps them in
  ``SecretValue`` at once.
* ``snapshot``: what ``host.snapshot`` collects, as one tar.gz hashed while written: every
  member's SHA-256 as it is read, the archive's over its compressed bytes.
* ``services`` / ``stop``: find how the gateway runs; stop it through its supervisor (the
  controller sends the exact commands ``host.stop_service`` would run), kill what is left,
  and prove it stays down.
* ``cut`` / ``confirm-cut`` / ``restore`` / ``rollback-timer``: the nftables isolation table,
  applied atomically, with a detached auto-rollback timer.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import glob
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from responders.agent_files import AgentFiles
from responders.hostprobes import supervisord_config
from responders.hostprobes.archive import (
    CHUNK_BYTES,
    FILE_MODE,
    SYSTEM_PATH,
    EvidenceArchive,
    collect_listing,
    json_bytes,
    snapshot_caps,
    utc_now,
    which,
)
from responders.hostprobes.collection import (
    CollectionPlan,
    os_error_reason,
)
from responders.hostprobes.collection import build_plan as plan_collection
from responders.hostprobes.gateway import (
    SYSTEM_UNIT_DIRS,
    cgroup_service,
    cmdline_option,
    could_be_gateway,
    gateway_signature,
    is_gateway_unit,
    is_process_supervisor,
    is_supervisord,
    may_name,
    names_process,
    read_cgroups,
    read_lock_files,
    read_pid_file,
    same_service,
    supervisord_program,
    user_name,
)
from responders.hostprobes.supervisor import (
    SupervisorClient,
    SupervisorFault,
    rpc_result,
    wait_until_stopped,
)
from responders.interface import AgentFootprint, ResponderError

MIN_PYTHON = (3, 11)


class AgentError(ResponderError):
    """The command cannot run; the message is advice and never quotes file contents."""


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _hand_back(path: str) -> None:
    """Under sudo, give what we wrote to the login user, whose SFTP session fetches it."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid and uid.isdigit() and gid.isdigit():
        with contextlib.suppress(OSError):
            os.chown(path, int(uid), int(gid))


def run_command(argv: Sequence[str], *, timeout: float, stdin: str | None = None) -> dict[str, Any]:
    """Run ``argv`` without a shell; the record matches responders.host.commands.CommandResult's
    (plus ``stdout`` for the caller, which the controller never records)."""
    binary = which(argv[0])
    if binary is None:
        return {"argv": list(argv), "missing": argv[0], "exit_code": None}
    started = time.monotonic()
    record: dict[str, Any] = {"argv": [binary, *argv[1:]], "binary": binary}
    with contextlib.suppress(OSError):
        record["binary_sha256"] = _sha256_of(binary)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "DYLD_"))}
    env.update(PATH=":".join(SYSTEM_PATH), LC_ALL="C")
    try:
        proc = subprocess.run(
            [binary, *argv[1:]], input=stdin, capture_output=True, text=True, errors="replace",
            timeout=timeout, env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        record.update(exit_code=None, timed_out=True, stdout="",
                      stderr_tail=f"(killed after {timeout}s)")
    else:
        record.update(exit_code=proc.returncode, stdout=proc.stdout)
        if proc.returncode != 0 and proc.stderr.strip():
            record["stderr_tail"] = proc.stderr.strip()[-400:]
    record["duration_s"] = round(time.monotonic() - started, 4)
    return record


def _public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A command record without its stdout (which may quote config or environment)."""
    return {k: v for k, v in record.items() if k != "stdout"}


# --------------------------------------------------------------------------------------------
# Processes, from /proc (what psutil gives the local responders)
# --------------------------------------------------------------------------------------------


def _boot_time() -> float:
    with open("/proc/stat") as fh:
        for line in fh:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


_BOOT = None
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Proc:
    """One process as /proc shows it; identity is (pid, start time) so a reused pid never
    gets a signal meant for its predecessor."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode(errors="replace")
        close = raw.rfind(")")
        self.comm = raw[raw.find("(") + 1 : close]
        fields = raw[close + 2 :].split()
        self.state = fields[0]
        self.ppid = int(fields[1])
        self.start_ticks = int(fields[19])

    @property
    def create_time(self) -> float:
        global _BOOT
        if _BOOT is None:
            _BOOT = _boot_time()
        return _BOOT + self.start_ticks / _TICKS

    def cmdline(self) -> list[str]:
        try:
            with open(f"/proc/{self.pid}/cmdline", "rb") as fh:
                raw = fh.read()
        except OSError:
            return []
        return [p.decode(errors="replace") for p in raw.split(b"\0") if p]

    def environ(self) -> dict[str, str]:
        try:
            with open(f"/proc/{self.pid}/environ", "rb") as fh:
                raw = fh.read()
        except OSError:
            return {}
        out = {}
        for item in raw.split(b"\0"):
            key, sep, value = item.partition(b"=")
            if sep:
                out[key.decode(errors="replace")] = value.decode(errors="replace")
        return out

    def uid(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def cwd(self) -> str | None:
        try:
            return os.readlink(f"/proc/{self.pid}/cwd")
        except OSError:
            return None

    def alive(self) -> bool:
        try:
            now = Proc(self.pid)
        except (OSError, ValueError, IndexError):
            return False
        return now.start_ticks == self.start_ticks and now.state != "Z"

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, sig)

    def describe(self, reasons: Sequence[str] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": self.pid, "name": self.comm}
        if reasons:
            out["found_by"] = sorted(set(reasons))
        return out


def all_procs() -> list[Proc]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                found.append(Proc(int(entry)))
    return found


def own_lineage() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            pid = Proc(pid).ppid
        except (OSError, ValueError, IndexError):
            break
    return pids


def descendants(roots: Sequence[Proc]) -> list[Proc]:
    procs = all_procs()
    children: dict[int, list[Proc]] = {}
    for proc in procs:
        children.setdefault(proc.ppid, []).append(proc)
    tree: dict[int, Proc] = {}
    stack = list(roots)
    while stack:
        proc = stack.pop()
        if proc.pid in tree:
            continue
        tree[proc.pid] = proc
        stack.extend(children.get(proc.pid, []))
    return list(tree.values())


def _socket_inodes(port: int | None, *, listening: bool) -> dict[int, dict[str, Any]]:
    """inode → connection, from /proc/net/tcp{,6}; ``port`` filters on the local port."""
    found: dict[int, dict[str, Any]] = {}
    for family, table in (("AF_INET", "/proc/net/tcp"), ("AF_INET6", "/proc/net/tcp6")):
        try:
            with open(table) as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10:
                continue
            local, remote, state, inode = parts[1], parts[2], parts[3], int(parts[9])
            local_port = int(local.rsplit(":", 1)[1], 16)
            if port is not None and local_port != port:
                continue
            if listening and state != "0A":
                continue
            found[inode] = {
                "family": family,
                "laddr": [_hex_address(local.rsplit(":", 1)[0]), local_port],
                "raddr": [_hex_address(remote.rsplit(":", 1)[0]),
                          int(remote.rsplit(":", 1)[1], 16)],
                "status": _TCP_STATES.get(state, state),
            }
    return found


_TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK",
    "0A": "LISTEN", "0B": "CLOSING",
}  # fmt: skip


def _hex_address(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def _pids_of_inodes(inodes: Sequence[int]) -> dict[int, int]:
    wanted = {f"socket:[{i}]": i for i in inodes}
    owners: dict[int, int] = {}
    if not wanted:
        return owners
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{entry}/fd/{fd}")
                if link in wanted:
                    owners[wanted[link]] = int(entry)
    return owners


def _unix_socket_owner(path: str) -> int | None:
    """The supervisord listening on the unix socket ``path`` (from /proc/net/unix).
    supervisord binds "<file>.<its pid>" and renames it; the kernel keeps the bound name."""
    if not path:
        return None
    inodes: dict[int, str] = {}
    try:
        with open("/proc/net/unix") as fh:
            for line in fh.read().splitlines()[1:]:
                fields = line.split(None, 7)
                if len(fields) == 8 and fields[7].startswith(path):
                    inodes[int(fields[6])] = fields[7]
    except (OSError, ValueError):
        return None
    for inode, pid in _pids_of_inodes(list(inodes)).items():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if inodes[inode] in (path, f"{path}.{pid}") and _is_supervisord(Proc(pid)):
                return pid
    return None


def _replace_file(path: str, data: bytes) -> None:
    """Atomically give root's own file new content, keeping its mode and owner."""
    st = os.stat(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".clawback-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, stat.S_IMODE(st.st_mode))
        with contextlib.suppress(PermissionError):
            os.chown(temporary, st.st_uid, st.st_gid)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def port_listeners(port: int) -> list[int]:
    """Pids listening on TCP ``port`` (-1 for a listener whose owner we cannot see)."""
    inodes = _socket_inodes(port, listening=True)
    owners = _pids_of_inodes(list(inodes))
    return sorted({owners.get(inode, -1) for inode in inodes})


# --------------------------------------------------------------------------------------------
# info
# --------------------------------------------------------------------------------------------


def _machine_id() -> str | None:
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            with open(candidate) as fh:
                value = fh.read().strip()
            if value:
                return value
    return None


def cmd_info(params: Mapping[str, Any]) -> dict[str, Any]:
    uname = platform.uname()
    try:
        os_release = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        os_release = ""
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    offset = datetime.now().astimezone().utcoffset()
    return {
        "hostname": socket.gethostname(),
        "machine_id": _machine_id(),
        "os": uname.system,
        "os_release": os_release,
        "kernel": f"{uname.release} {uname.version}",
        "arch": uname.machine,
        "python": platform.python_version(),
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "user": user_name(os.getuid()),
        "home": os.path.expanduser("~"),
        "ssh_client": ssh[0] if ssh else None,
        "ssh_server_port": int(ssh[3]) if len(ssh) == 4 and ssh[3].isdigit() else None,
        "tools": {name: which(name) for name in ("nft", "ss", "journalctl", "systemctl")},
        "local_utc_offset_seconds": int(offset.total_seconds()) if offset else 0,
        "clock": utc_now(),
    }


# --------------------------------------------------------------------------------------------
# discover
# --------------------------------------------------------------------------------------------


def cmd_discover(params: Mapping[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    from responders.fleet_agent import formats

    stood_in = formats.install()
    from responders.openclaw.discovery import discover

    home = params.get("user_home") or os.path.expanduser("~")
    state_dirs = params.get("state_dirs")
    inventory = discover(
        user_home=Path(home),
        state_dirs=[Path(p) for p in state_dirs] if state_dirs else None,
        tmp_dirs=[Path(p) for p in params.get("tmp_dirs") or ["/tmp"]],
    )
    credentials = []
    for cred in inventory.credentials:
        if cred.secret is None:
            continue
        credentials.append({
            "provider": cred.provider,
            "kind": cred.kind,
            "value": cred.secret.reveal(),
            "key_id": cred.key_id,
            "account": cred.account,
            "locations": [[loc.path, loc.key] for loc in cred.locations],
            "companions": {k: v.reveal() for k, v in cred.companions.items()},
        })
    return {
        "credentials": credentials,
        "notes": list(inventory.notes),
        "state_dirs": [str(p) for p in inventory.state_dirs],
        "stood_in": stood_in,
    }


# --------------------------------------------------------------------------------------------
# snapshot: what to collect (mirrors responders.host.snapshot.build_plan)
# --------------------------------------------------------------------------------------------


def _workspace_dirs(state: Path, home: Path, tree: AgentFiles | None) -> list[Path]:
    """The workspaces the state dir's config names, read as the local snapshot reads them."""
    from responders.fleet_agent import formats

    formats.install()
    from responders.openclaw.discovery import workspace_dirs

    return workspace_dirs(state, home, tree)


def footprint_of(params: Mapping[str, Any]) -> AgentFootprint:
    """How the agent shows on this host, as the controller's agent keeper says (this side
    knows no agent by name: ``AgentKeeper.footprint``, sent in every plan that needs it)."""
    sent = params.get("footprint")
    if not isinstance(sent, Mapping):
        raise ResponderError("the controller sent no agent footprint: run the same clawback on "
                             "both sides (the agent zip is uploaded by the controller)")
    try:
        return AgentFootprint.from_plan(sent)
    except (TypeError, ValueError) as err:
        raise ResponderError(f"the controller's agent footprint is unusable: {err}") from None


def build_plan(
    layout: Mapping[str, Any],
    *,
    footprint: AgentFootprint,
    volatile: bool,
    system_artifacts: bool = True,
    extra_paths: Sequence[str] = (),
    system_root: str = "/",
) -> CollectionPlan:
    """The local snapshot's plan (``hostprobes.collection``) for the layout the controller
    sends, with the local settings' defaults."""
    return plan_collection(
        footprint=footprint, user_home=layout.get("user_home"),
        state_dirs=layout.get("state_dirs") or [],
        tmp_dirs=layout.get("tmp_dirs") or ["/tmp"], uid=layout.get("uid"), volatile=volatile,
        system_artifacts=system_artifacts, extra_paths=extra_paths, system_root=system_root,
        workspaces=_workspace_dirs,
    )


# --------------------------------------------------------------------------------------------
# snapshot: the process table and sockets from /proc (no psutil here); the archive they go
# into is responders.hostprobes.archive, the local snapshot's own writer
# --------------------------------------------------------------------------------------------


def process_tree() -> bytes:
    procs = []
    # Sorted by pid before the rows are built: a row's values are mixed (JSON), its pid is not.
    for proc in sorted(all_procs(), key=lambda p: p.pid):
        uid = proc.uid()
        exe = None
        with contextlib.suppress(OSError):
            exe = os.readlink(f"/proc/{proc.pid}/exe")
        procs.append({
            "pid": proc.pid, "ppid": proc.ppid, "name": proc.comm, "exe": exe,
            "cmdline": proc.cmdline(), "username": user_name(uid) if uid is not None else None,
            "create_time": _iso(proc.create_time), "status": proc.state, "cwd": proc.cwd(),
        })
    return json_bytes({"collected_at": utc_now(), "processes": procs, "source": "/proc"})


def sockets(gateway_port: int) -> bytes:
    conns = _socket_inodes(None, listening=False)
    owners = _pids_of_inodes(list(conns))
    rows = [{**conn, "pid": owners.get(inode)} for inode, conn in conns.items()]
    rows.sort(key=lambda c: (c["laddr"], c["raddr"], c["pid"] or 0))
    listeners = sorted({
        r["pid"] or 0 for r in rows if r["status"] == "LISTEN" and r["laddr"][1] == gateway_port
    })
    return json_bytes({"collected_at": utc_now(), "gateway_port": gateway_port,
                        "gateway_listener_pids": listeners, "connections": rows,
                        "source": "/proc/net/tcp, /proc/net/tcp6"})


def cmd_snapshot(params: Mapping[str, Any]) -> dict[str, Any]:
    layout = dict(params.get("layout") or {})
    layout.setdefault("user_home", None)
    if not layout.get("user_home") and not layout.get("state_dirs"):
        layout["user_home"] = os.path.expanduser("~")
    volatile = bool(params.get("volatile"))
    footprint = footprint_of(params)
    plan = build_plan(
        layout, footprint=footprint, volatile=volatile,
        system_artifacts=bool(params.get("system_artifacts", True)),
        extra_paths=params.get("extra_paths") or [], system_root=params.get("system_root") or "/",
    )
    tail = int(params.get("log_tail_bytes") or 16 * CHUNK_BYTES)
    if params.get("plan_only"):
        sizes = 0
        for source in plan.files:
            with contextlib.suppress(OSError):
                size = os.lstat(source.path).st_size
                sizes += min(size, tail) if source.tail else size
        return {
            "files": [f.path for f in plan.files], "tails": [f.path for f in plan.files if f.tail],
            "listings": plan.listings, "generated": plan.generated,
            "commands": [shlex.join(c.argv) for c in plan.commands],
            "missing": plan.missing, "estimated_bytes": sizes,
        }
    out_dir = params["out_dir"]
    path = os.path.join(out_dir, params["file_name"])
    started_at = utc_now()
    max_file, max_total = snapshot_caps(
        volatile=volatile, max_file_bytes=params.get("max_file_bytes"),
        max_total_bytes=params.get("max_total_bytes"),
    )
    archive = EvidenceArchive(
        path, member_prefix=params["member_prefix"], id_prefix=params["id_prefix"],
        max_file_bytes=max_file, max_total_bytes=max_total, tree=plan.tree,
    )
    try:
        generators: dict[str, Callable[[], bytes]] = {
            "processes": process_tree,
            "sockets": lambda: sockets(int(layout.get("gateway_port")
                                           or footprint.gateway_port)),
        }
        for name in plan.generated:
            try:
                data = generators[name]()
            except Exception as err:  # an unreadable /proc entry: evidence goes on
                archive.skipped.append((f"proc:{name}", type(err).__name__))
                continue
            archive.add_generated(f"{name}.json", data, source=f"proc:{name}")
        timeout = float(params.get("command_timeout") or 30.0)
        for command in plan.commands:
            archive.add_command(command.name, command.argv, timeout=timeout)
        for source in plan.files:
            archive.add_file(source.path, tail_bytes=tail if source.tail else None)
        for root in plan.listings:
            collect_listing(archive, root)
        archive.finish()
    except BaseException:
        archive.abort()
        raise
    _hand_back(path)
    return {
        "archive": path, "sha256": archive.sha256, "size": archive.size,
        "items": [dataclasses.asdict(item) for item in archive.items],
        "skipped": [list(m) for m in (*plan.missing, *archive.skipped)],
        "stored_bytes": archive.stored_bytes, "started_at": started_at,
        "finished_at": utc_now(),
        "max_file_bytes": max_file, "max_total_bytes": max_total,
    }


# --------------------------------------------------------------------------------------------
# services: how the gateway runs (mirrors responders.host.service discovery)
# --------------------------------------------------------------------------------------------


def scan_titles(uid: int | None, footprint: AgentFootprint) -> list[tuple[Proc, str]]:
    exclude = own_lineage()
    found = []
    for proc in all_procs():
        if proc.pid in exclude or proc.state == "Z":
            continue
        if uid is not None and proc.uid() != uid:
            continue
        reason = gateway_signature(proc.comm, proc.cmdline(), footprint)
        if reason:
            found.append((proc, reason))
    return found


def process_of_pid_file(path: str) -> Proc | None:
    """The live process a pid file names (``hostprobes.gateway.names_process`` says which
    a pid file may name)."""
    lock = read_pid_file(path)
    if lock.pid is None or not may_name(lock, own_lineage()):
        return None
    try:
        proc = Proc(lock.pid)
    except (OSError, ValueError, IndexError):
        return None
    if not names_process(lock, proc.uid(), proc.create_time):
        return None
    return proc if proc.state != "Z" else None


def lock_files(tmp_dirs: Sequence[str], uid: int | None,
               footprint: AgentFootprint) -> list[str]:
    return [lock.path for lock in read_lock_files(tmp_dirs, uid, footprint)]


def _is_supervisord(proc: Proc) -> bool:
    return is_supervisord(proc.comm, proc.cmdline())


def manager_of(proc: Proc, footprint: AgentFootprint) -> dict[str, Any] | None:
    """The supervisor that would respawn ``proc``, as a service spec dict."""
    env = proc.environ()
    parent_pid, hops = proc.ppid, 0
    while parent_pid > 1 and hops < 3:
        try:
            parent = Proc(parent_pid)
        except (OSError, ValueError, IndexError):
            break
        if _is_supervisord(parent):
            found = supervisord_program(env, parent.pid, parent.cmdline(), parent.cwd())
            if found is not None:
                return found
        parent_pid, hops = parent.ppid, hops + 1
    cgroups = read_cgroups(proc.pid)
    return cgroup_service(cgroups, footprint) if cgroups is not None else None


def _could_be_gateway(proc: Proc, agent_uid: int | None) -> bool:
    return could_be_gateway(proc.comm, proc.uid(), agent_uid)


def find_gateway_processes(agent: Mapping[str, Any], footprint: AgentFootprint
                           ) -> tuple[dict[int, tuple[Proc, list[str]]], list[str]]:
    uid = agent.get("uid")
    port = int(agent.get("gateway_port") or footprint.gateway_port)
    by_pid: dict[int, tuple[Proc, list[str]]] = {}

    def add(proc: Proc, reason: str) -> None:
        by_pid.setdefault(proc.pid, (proc, []))[1].append(reason)

    for proc, reason in scan_titles(uid, footprint):
        add(proc, reason)
    stale: list[str] = []
    for path in lock_files(agent.get("tmp_dirs") or ["/tmp"], uid, footprint):
        holder = process_of_pid_file(path)
        if holder is None:
            stale.append(path)
        else:
            add(holder, f"lock file {path}")
    own = own_lineage()
    for pid in port_listeners(port):
        if pid <= 0 or pid in own:
            continue
        try:
            proc = Proc(pid)
        except (OSError, ValueError, IndexError):
            continue
        if pid in by_pid or _could_be_gateway(proc, uid):
            add(proc, f"listening on port {port}")
    return by_pid, stale


def _target_id(spec: Mapping[str, Any]) -> str:
    user = (spec.get("options") or {}).get("user")
    if spec["kind"] == "systemd-user" and user:
        return f"{spec['kind']}:{user}/{spec['name']}"
    return f"{spec['kind']}:{spec['name']}"


def unit_files(homes: Sequence[str], footprint: AgentFootprint) -> list[dict[str, Any]]:
    specs = []
    for directory in SYSTEM_UNIT_DIRS:
        for path in sorted(glob.glob(os.path.join(glob.escape(directory), "*.service"))):
            if is_gateway_unit(os.path.basename(path), footprint):
                specs.append({"kind": "systemd", "name": os.path.basename(path), "options": {},
                              "found_by": path})
    for home in homes:
        user_dir = os.path.join(home, ".config", "systemd", "user")
        for path in sorted(glob.glob(os.path.join(glob.escape(user_dir), "*.service"))):
            if is_gateway_unit(os.path.basename(path), footprint):
                owner = user_name(os.stat(home).st_uid) if os.path.exists(home) else ""
                specs.append({"kind": "systemd-user", "name": os.path.basename(path),
                              "options": {"user": owner}, "found_by": path})
    return specs


def cmd_services(params: Mapping[str, Any]) -> dict[str, Any]:
    """What runs the gateway here: unit files, and every live gateway process's supervisor."""
    agent = params.get("agent") or {}
    footprint = footprint_of(params)
    homes = agent.get("homes") or ([agent["user_home"]] if agent.get("user_home") else None)
    if not homes:
        homes = [os.path.expanduser("~")]
    specs: dict[str, dict[str, Any]] = {}
    for spec in unit_files(homes, footprint):
        specs.setdefault(_target_id(spec), {**spec, "pids": []})
    found, stale = find_gateway_processes(agent, footprint)
    for proc, reasons in found.values():
        manager = manager_of(proc, footprint)
        if manager is None:
            lock = next((r[len("lock file "):] for r in reasons if r.startswith("lock file ")),
                        None)
            if lock:
                manager = {"kind": "pidfile", "name": lock, "options": {"pidfile": lock},
                           "found_by": "lock file"}
            else:
                manager = {"kind": "process", "name": footprint.service_name, "options": {},
                           "found_by": ", ".join(reasons)}
        entry = specs.setdefault(_target_id(manager), {**manager, "pids": []})
        entry["pids"].append(proc.describe(reasons))
    return {"services": list(specs.values()), "stale_locks": stale}


# --------------------------------------------------------------------------------------------
# stop
# --------------------------------------------------------------------------------------------


def _supervisor(options: Mapping[str, Any], timeout: float) -> SupervisorClient:
    return SupervisorClient(options, timeout, where_to_fix=(
        "check socket = in [[hosts.agent.services]] and that the SSH user may use it "
        "(sudo = true)"))


def wait_gone(procs: Sequence[Proc], timeout: float) -> list[Proc]:
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if p.alive()]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if p.alive()]
    return alive


def terminate(procs: Sequence[Proc], term_timeout: float, kill_timeout: float
              ) -> dict[str, list[int]]:
    targets = [p for p in procs if p.alive()]
    for proc in targets:
        proc.signal(signal.SIGTERM)
    alive = wait_gone(targets, term_timeout)
    for proc in alive:
        proc.signal(signal.SIGKILL)
    survived = wait_gone(alive, kill_timeout)
    return {
        "terminated": sorted(p.pid for p in targets if p not in alive),
        "killed": sorted(p.pid for p in alive if p not in survived),
        "survived": sorted(p.pid for p in survived),
    }


def _is_process_supervisor(proc: Proc) -> bool:
    return is_process_supervisor(proc.pid, proc.comm, proc.cmdline())


class Stopper:
    """One stop of one service spec, with the same proof as the local StopServiceAction."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.spec = params["spec"]
        self.options = self.spec.get("options") or {}
        self.agent = params.get("agent") or {}
        self.footprint = footprint_of(params)
        self.port = int(params.get("port") or self.agent.get("gateway_port")
                        or self.footprint.gateway_port)
        self.term_timeout = float(params.get("term_timeout", 10.0))
        self.kill_timeout = float(params.get("kill_timeout", 5.0))
        self.recheck = float(params.get("recheck_seconds", 3.0))
        self.commands = params.get("commands") or []
        self.note = str(params.get("note") or "clawback: kept off")
        # Each config file as it was before the edit, for the controller to keep in the
        # incident (its contents travel inside the SSH channel only, like discovery's).
        self.backups: list[dict[str, Any]] = []

    def processes(self) -> list[tuple[Proc, list[str]]]:
        kind = self.spec["kind"]
        if kind == "supervisord":
            with contextlib.suppress(ResponderError, SupervisorFault, OSError, ValueError,
                                     IndexError):
                info = _supervisor(self.options, 5.0).process_info(self.spec["name"])
                if info and info.get("pid"):
                    return [(Proc(int(info["pid"])), ["supervisord getProcessInfo"])]
            return []
        if kind == "pidfile":
            proc = process_of_pid_file(str(self.options["pidfile"]))
            return [(proc, [f"pid file {self.options['pidfile']}"])] if proc else []
        found, _ = find_gateway_processes(self.agent, self.footprint)
        if kind == "process":
            return [(p, r) for p, r in found.values()]
        managed = []
        for proc, reasons in scan_titles(None, self.footprint):
            manager = manager_of(proc, self.footprint)
            if manager is not None and same_service(manager, self.spec):
                managed.append((proc, [reasons]))
        return managed

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        before = self.processes()
        procs = [p for p, _ in before]
        tree = descendants(procs)
        since = time.time()
        parents: dict[int, Proc] = {}
        uids: set[int] = set()
        for proc in procs:
            uid = proc.uid()
            if uid is not None:
                uids.add(uid)
            with contextlib.suppress(OSError, ValueError, IndexError):
                parent = Proc(proc.ppid)
                if _is_process_supervisor(parent):
                    parents[parent.pid] = parent
        facts: dict[str, Any] = {
            "found": {"kind": self.spec["kind"], "name": self.spec["name"],
                      **{k: v for k, v in self.options.items()
                         if k not in ("password", "username")}},
            "processes_before": [p.describe(r) for p, r in before],
            "stop_sent_after_s": round(time.monotonic() - started, 4),
        }
        sent: list[dict[str, Any]] = []
        error = None
        stopped_program: dict[str, Any] | None = None
        not_final = None
        try:
            if self.spec["kind"] == "supervisord":
                stopped_program = self._stop_supervisord(sent)
            elif self.spec["kind"] in ("pidfile", "process"):
                sent.append({"signals": terminate(procs, self.term_timeout, self.kill_timeout)})
            else:
                self._run_commands(sent)
        except ResponderError as exc:
            error = str(exc)
        leftovers = [p for p in tree if p.alive()]
        if leftovers:
            sent.append({"leftovers": terminate(leftovers, self.term_timeout, self.kill_timeout)})
        facts["commands"] = sent
        if stopped_program is not None:
            facts["persistence"], not_final = self._keep_program_off(stopped_program)
            facts["already_removed"] = bool(stopped_program.get("already_removed"))
        watch = {"pids_before": sorted(p.pid for p in procs),
                 "started": {str(p.pid): p.start_ticks for p in procs},
                 "parents": sorted(parents), "uids": sorted(uids), "since": since}
        # Proven at once; a positive recheck_seconds also watches that long here (polled),
        # while the engine usually asks for that separately with the "recheck" command.
        facts["proof"], _ = self.watch(watch, self.recheck)
        facts["duration_s"] = round(time.monotonic() - started, 3)
        return {"facts": facts, "error": error, "watch": watch, "not_final": not_final,
                "backups": self.backups}

    def watch(self, watch: Mapping[str, Any], seconds: float) -> tuple[dict[str, Any], int]:
        """Look for the gateway every 0.25 s for ``seconds`` (at least once); stop at the first
        sign of it. The proof, and how many looks it took."""
        procs = []
        for pid in watch["pids_before"]:
            with contextlib.suppress(OSError, ValueError, IndexError):
                proc = Proc(int(pid))
                # The same process, not a later one that got its pid.
                if proc.start_ticks == (watch.get("started") or {}).get(str(pid)):
                    procs.append(proc)
        parents: dict[int, Proc] = {}
        for pid in watch.get("parents") or []:
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(pid)] = Proc(int(pid))
        uids = {int(u) for u in watch.get("uids") or []}
        started = time.monotonic()
        checks = 0
        while True:
            elapsed = time.monotonic() - started
            state = self._still_up(procs, parents, uids, float(watch["since"]))
            checks += 1
            if state["pids"] or state["port_open"] or elapsed >= seconds:
                break
            time.sleep(min(0.25, seconds - elapsed))
        return {
            "pids_before": list(watch["pids_before"]),
            "pids_after": state["pids"],
            "port": self.port,
            "port_open_after": state["port_open"],
            "listeners_after": state["listeners"],
            "supervisor_state_after": state.get("supervisor_state"),
            "rechecked_after_s": round(elapsed, 3),
        }, checks

    def _still_up(self, procs: Sequence[Proc], parents: Mapping[int, Proc], uids: set[int],
                  since: float) -> dict[str, Any]:
        pids = {p.pid for p in procs if p.alive()}
        pids |= {p.pid for p, _ in self.processes()}
        for parent in parents.values():
            for child in all_procs():
                if child.ppid == parent.pid and child.create_time >= since - 0.01 and (
                    child.uid() in uids
                ) and child.state != "Z":
                    pids.add(child.pid)
        out: dict[str, Any] = {}
        if self.spec["kind"] == "supervisord":
            with contextlib.suppress(ResponderError, SupervisorFault):
                info = _supervisor(self.options, 5.0).process_info(self.spec["name"])
                out["supervisor_state"] = info["statename"] if info else "removed"
        listeners = port_listeners(self.port)
        out.update(pids=sorted(pids), port_open=bool(listeners), listeners=listeners)
        return out

    def _stop_supervisord(self, sent: list[dict[str, Any]]) -> dict[str, Any]:
        """Stop and remove the program's group; its process info from before (for a program
        already removed, its name and group), for ``_keep_program_off``."""
        client = _supervisor(self.options, self.term_timeout + self.kill_timeout + 5.0)
        info = client.process_info(self.spec["name"])
        if info is None:
            return self._already_removed(client, sent)
        group = str(info["group"])
        for method, args in (("stopProcessGroup", [group, False]),
                             ("removeProcessGroup", [group])):
            call: dict[str, Any] = {"rpc": f"supervisor.{method}", "args": args,
                                    "server": client.where}
            try:
                if method == "stopProcessGroup":
                    call["result"] = rpc_result(client.stop_group(group))
                    # Polled, not slept: removeProcessGroup refuses a group still running.
                    waited = time.monotonic()
                    call["state_after"] = wait_until_stopped(
                        client, self.spec["name"], self.term_timeout + self.kill_timeout)
                    call["waited_s"] = round(time.monotonic() - waited, 3)
                else:
                    call["result"] = client.remove_group(group)
            # A fault (NOT_RUNNING) or a stop slower than our timeout is recorded, not fatal:
            # leftovers are killed next and the proof decides.
            except (SupervisorFault, ResponderError) as exc:
                call["error"] = str(exc)
            sent.append(call)
        return info

    def _already_removed(self, client: SupervisorClient, sent: list[dict[str, Any]]
                         ) -> dict[str, Any]:
        """A program supervisord no longer has is stopped already, when nothing of the gateway
        is left: a retried stop (its first answer lost to a timeout) finds it so. Anything still
        alive means the name is wrong, and the operator is told to fix it."""
        name = self.spec["name"]
        programs = ", ".join(client.program_names()) or "none"
        uid = self.agent.get("uid")
        left = [f"pid {proc.pid} (lock file {path})"
                for path in lock_files(self.agent.get("tmp_dirs") or ["/tmp"], uid,
                                       self.footprint)
                if (proc := process_of_pid_file(path)) is not None]
        left += [f"pid {pid if pid > 0 else '?'} (listening on port {self.port})"
                 for pid in port_listeners(self.port)]
        if left:
            raise AgentError(
                f"supervisord at {client.where} has no program {name!r} (it has: {programs}), "
                f"yet the gateway is up: {'; '.join(left)}. Fix the program's name in "
                "[[hosts.agent.services]]"
            )
        sent.append({"rpc": "supervisor.getProcessInfo", "args": [name], "server": client.where,
                     "result": "already removed", "programs": programs,
                     "detail": f"already removed from supervisord: {client.where} has no program "
                               f"{name!r} (it has: {programs}), no gateway lock file names a live "
                               f"process and nothing listens on port {self.port}"})
        # Its config file may still start it at the next reload: _keep_program_off sees to it
        # (a first attempt whose answer was lost may have done so already; it is idempotent).
        group, _, program = name.rpartition(":")
        return {"name": program, "group": group or program, "already_removed": True}

    def _keep_program_off(self, info: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """``autostart=false`` for the program in every file that defines it, as the local stop
        does (``supervisord_config.keep_program_off``)."""
        name, group = str(info.get("name") or self.spec["name"]), str(info.get("group")
                                                                       or self.spec["name"])
        return supervisord_config.keep_program_off(
            self._supervisor_config_path(), name, group, rewrite=self._rewrite_config,
            where_to_name_it="[[hosts.agent.services]]",
        )

    def _supervisor_config_path(self) -> str | None:
        """The main config file of the supervisord that runs the program: as configured, as
        its command line says, or where supervisord itself would look from its working dir.
        Never a guess: the file edited must be that supervisord's own."""
        configured = self.options.get("supervisor_config")
        if configured:
            return os.path.abspath(str(configured))
        pid = self.options.get("supervisord_pid") or _unix_socket_owner(
            str(self.options.get("socket") or ""))
        if not pid:
            return None
        try:
            supervisord = Proc(int(pid))
        except (OSError, ValueError, IndexError):
            return None
        cwd = supervisord.cwd()
        if not _is_supervisord(supervisord) or cwd is None:
            return None
        named = cmdline_option(supervisord.cmdline(), "-c", "--configuration")
        return os.path.join(cwd, named) if named else supervisord_config.find_main_config(cwd)

    def _rewrite_config(self, part: supervisord_config.ProgramSection
                        ) -> tuple[bool, dict[str, Any] | None]:
        """One file's section; a file in the agent's tree is read and replaced without
        following a link (a supervisord the agent runs keeps its config there)."""
        files = AgentFiles([
            *([os.path.expanduser(str(self.agent["user_home"]))]
              if self.agent.get("user_home") else []),
            *(os.path.expanduser(str(d)) for d in self.agent.get("state_dirs") or ()),
            *(str(d) for d in self.agent.get("tmp_dirs") or ("/tmp",)),
        ])
        path = part.file
        inside = files.inside(path)
        if inside:
            read = files.read(path, supervisord_config.MAX_CONFIG_BYTES)
            if not read.complete:
                raise AgentError(f"{path} is {read.size} bytes: too big to edit")
            data = read.data
        else:
            with open(path, "rb") as handle:
                data = handle.read(supervisord_config.MAX_CONFIG_BYTES + 1)
            if len(data) > supervisord_config.MAX_CONFIG_BYTES:
                raise AgentError(f"{path} is too big to edit")
        text = data.decode("utf-8", errors="surrogateescape")
        result = supervisord_config.with_autostart_off(text, part.section, self.note)
        if result == text:
            return False, None
        digest = hashlib.sha256(data).hexdigest()
        self.backups.append({"original": path, "sha256": digest,
                             "data": base64.b64encode(data).decode()})
        new = result.encode("utf-8", errors="surrogateescape")
        if inside:
            files.replace(path, new, expect=read.stat, secret=False)
        else:
            _replace_file(path, new)
        return True, {"original": path, "sha256": digest}

    def _run_commands(self, sent: list[dict[str, Any]]) -> None:
        previous: dict[str, Any] | None = None
        for command in self.commands:
            argv = list(command["argv"])
            if command.get("append_previous_stdout"):
                ids = (previous or {}).get("stdout", "").split()
                if not ids:
                    continue
                argv += ids
            record = run_command(argv, timeout=self.term_timeout + self.kill_timeout + 5.0)
            previous = record
            sent.append({**_public(record), "purpose": command.get("purpose", "")})
            if record.get("missing"):
                raise AgentError(f"`{record['missing']}` is not installed in "
                                 f"{':'.join(SYSTEM_PATH)} on this host")
            ok = record.get("exit_code") in (command.get("ok_exit_codes") or [0])
            if ok or not command.get("required", True):
                continue
            what = f"`{shlex.join(argv)}` exited {record.get('exit_code')}"
            if record.get("timed_out"):
                what = f"`{shlex.join(argv)}` timed out"
            tail = record.get("stderr_tail", "")
            raise AgentError(f"{what}: {tail}" if tail else what)


def cmd_stop(params: Mapping[str, Any]) -> dict[str, Any]:
    return Stopper(params).run()


def cmd_recheck(params: Mapping[str, Any]) -> dict[str, Any]:
    """Watch a stopped gateway for ``recheck_seconds``: the respawn check, run by the engine
    beside its next steps with what ``stop`` answered under ``watch``."""
    stopper = Stopper(params)
    proof, checks = stopper.watch(params["watch"], stopper.recheck)
    return {"proof": proof, "checks": checks}


# --------------------------------------------------------------------------------------------
# cut / confirm-cut / restore / rollback-timer
# --------------------------------------------------------------------------------------------

STATE_FILE = "network-cut.json"


@contextlib.contextmanager
def _state_lock(state_dir: str) -> Iterator[None]:
    fd = os.open(os.path.join(state_dir, "lock"), os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_state(state_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(state_dir, STATE_FILE)) as fh:
            data: dict[str, Any] = json.load(fh)
    except FileNotFoundError:
        return None
    return data


def _write_state(state_dir: str, state: Mapping[str, Any]) -> None:
    path = os.path.join(state_dir, STATE_FILE)
    partial = path + ".partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, path)


def _table_handle(family: str, table: str, sent: list[dict[str, Any]]) -> int | None:
    record = run_command(["nft", "-j", "list", "tables", family], timeout=15)
    sent.append(_public(record))
    if record.get("exit_code") != 0:
        return None
    for item in json.loads(record.get("stdout") or "{}").get("nftables", []):
        entry = item.get("table")
        if entry and entry.get("family") == family and entry.get("name") == table:
            return int(entry["handle"])
    return None


def cmd_cut(params: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the isolation table the controller rendered, record it, arm the rollback timer."""
    if os.geteuid() != 0:
        raise AgentError("cutting the network needs root on this host: set sudo = true for it "
                         "in [[hosts]] (with NOPASSWD for python3) or log in as root")
    if which("nft") is None:
        raise AgentError("`nft` is not installed on this host: apt-get install -y nftables")
    state_dir, family, table = params["state_dir"], params["family"], params["table"]
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    os.chmod(state_dir, 0o700)
    sent: list[dict[str, Any]] = []
    with _state_lock(state_dir):
        previous = _read_state(state_dir)
        existing = _table_handle(family, table, sent)
        if previous and not previous.get("restored_at") and existing == previous.get("handle"):
            return {"already": True, "handle": existing, "state": previous, "commands": sent}
        if existing is not None:
            return {"error": f"table {family} {table} already exists and this incident did not "
                             f"make it (see `nft list table {family} {table}`); pick another "
                             "table name or delete it if it is a leftover", "commands": sent}
        ruleset_path = os.path.join(state_dir, "network-cut.nft")
        fd = os.open(ruleset_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(params["ruleset"])
        # The timer must outlive the upload dir, which is removed when the run ends.
        timer_copy = os.path.join(state_dir, "clawback-agent.pyz")
        shutil.copyfile(sys.argv[0], timer_copy)
        os.chmod(timer_copy, FILE_MODE)
        state: dict[str, Any] = {
            "version": 1, "incident_id": params.get("incident_id", ""), "family": family,
            "table": table, "handle": None, "ruleset_file": ruleset_path,
            "ruleset_sha256": hashlib.sha256(params["ruleset"].encode()).hexdigest(),
            "status": "applying", "created_at": utc_now(),
            "rollback": {"armed": False, "minutes": params.get("rollback_minutes", 0)},
            "confirmed_at": None, "restored_at": None,
        }
        _write_state(state_dir, state)
        check = run_command(["nft", "-c", "-f", ruleset_path], timeout=15)
        sent.append(_public(check))
        if check.get("exit_code") != 0:
            state["status"] = "rejected"
            _write_state(state_dir, state)
            return {"error": "nft rejected the ruleset, nothing applied: "
                             + str(check.get("stderr_tail", "")), "commands": sent}
        applied = run_command(["nft", "-f", ruleset_path], timeout=15)
        sent.append(_public(applied))
        if applied.get("exit_code") != 0:
            state["status"] = "failed"
            _write_state(state_dir, state)
            return {"error": "`nft -f` failed; the transaction is atomic, nothing applied: "
                             + str(applied.get("stderr_tail", "")), "commands": sent}
        state.update(handle=_table_handle(family, table, sent), status="applied",
                     applied_at=utc_now())
        _write_state(state_dir, state)
        minutes = float(params.get("rollback_minutes") or 0)
        if minutes > 0:
            state["rollback"] = _arm_rollback(state_dir, timer_copy, minutes)
            _write_state(state_dir, state)
    return {"handle": state["handle"], "state": state, "commands": sent,
            "state_file": os.path.join(state_dir, STATE_FILE)}


def _arm_rollback(state_dir: str, agent_copy: str, minutes: float) -> dict[str, Any]:
    deadline = time.time() + minutes * 60
    log_fd = os.open(os.path.join(state_dir, "network-rollback.log"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        process = subprocess.Popen(
            [sys.executable, agent_copy, "rollback-timer", state_dir],
            stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT, cwd="/",
            # Its own session, so neither this process's exit nor the SSH channel closing
            # (SIGHUP) ends it; and no inherited fd keeps the channel open.
            start_new_session=True, close_fds=True,
        )
    finally:
        os.close(log_fd)
    started = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        started = Proc(process.pid).start_ticks
    return {"armed": True, "minutes": minutes, "deadline": deadline,
            "deadline_utc": _iso(deadline).split(".")[0] + "Z", "pid": process.pid,
            "pid_start_ticks": started}


def _stop_timer(rollback: Mapping[str, Any]) -> str:
    pid, ticks = rollback.get("pid"), rollback.get("pid_start_ticks")
    if not pid or pid == os.getpid():
        return "not running"
    try:
        proc = Proc(int(pid))
    except (OSError, ValueError, IndexError):
        return "already exited"
    if ticks is not None and proc.start_ticks != ticks:
        return "pid reused by another process; left alone"
    proc.signal(signal.SIGTERM)
    return "terminated" if not wait_gone([proc], 5.0) else "still running"


def cmd_confirm_cut(params: Mapping[str, Any]) -> dict[str, Any]:
    state_dir = params["state_dir"]
    with _state_lock(state_dir):
        state = _read_state(state_dir)
        if state is None:
            return {"skipped": "no network cut is recorded on this host"}
        if state.get("restored_at"):
            return {"error": f"too late: the cut was already undone at {state['restored_at']}"}
        rollback = dict(state.get("rollback") or {})
        if not rollback.get("armed"):
            return {"skipped": "no auto-rollback is armed; the cut stays as it is"}
        rollback["armed"] = False
        state.update(rollback=rollback, confirmed_at=utc_now())
        _write_state(state_dir, state)
        return {"confirmed_at": state["confirmed_at"], "rollback_process": _stop_timer(rollback)}


def _restore_locked(state_dir: str, state: dict[str, Any], restored_by: str) -> dict[str, Any]:
    sent: list[dict[str, Any]] = []
    rollback = dict(state.get("rollback") or {})
    if restored_by == "auto-rollback":
        timer = "this process"
    elif rollback.get("armed"):
        timer = _stop_timer(rollback)
    else:
        timer = "not armed"
    family, table, handle = state["family"], state["table"], state.get("handle")
    current = _table_handle(family, table, sent)
    if current is None:
        note = f"table {family} {table} was already gone"
    elif handle is not None and current != handle:
        return {"error": f"table {family} {table} now has handle {current}, not the {handle} "
                         "this incident created; left alone", "commands": sent}
    else:
        result = run_command(["nft", "delete", "table", family, "handle", str(current)],
                             timeout=15)
        sent.append(_public(result))
        if result.get("exit_code") != 0:
            return {"error": "`nft delete table` failed, the cut is still in place: "
                             + str(result.get("stderr_tail", "")), "commands": sent}
        note = f"deleted table {family} {table} (handle {current})"
    rollback["armed"] = False
    state.update(rollback=rollback, restored_at=utc_now(), restored_by=restored_by)
    _write_state(state_dir, state)
    return {"restored": note, "rollback_process": timer, "commands": sent}


def cmd_restore(params: Mapping[str, Any]) -> dict[str, Any]:
    state_dir = params["state_dir"]
    if not os.path.isdir(state_dir):
        return {"skipped": "no network cut is recorded on this host"}
    with _state_lock(state_dir):
        state = _read_state(state_dir)
        if state is None:
            return {"skipped": "no network cut is recorded on this host"}
        if state.get("restored_at"):
            return {"skipped": f"already restored at {state['restored_at']}"}
        return _restore_locked(state_dir, state, params.get("restored_by", "restore-network"))


def rollback_timer(state_dir: str, poll_s: float = 1.0) -> int:
    while True:
        state = _read_state(state_dir)
        if state is None:
            return 0
        rollback = state.get("rollback") or {}
        if not rollback.get("armed") or state.get("restored_at"):
            return 0
        remaining = float(rollback.get("deadline", 0)) - time.time()
        if remaining <= 0:
            break
        time.sleep(min(poll_s, remaining))
    with _state_lock(state_dir):
        state = _read_state(state_dir)
        if state is None or state.get("restored_at") or not (state.get("rollback") or {}).get(
            "armed"
        ):
            return 0
        print(json.dumps(_restore_locked(state_dir, state, "auto-rollback")), flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

COMMANDS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "info": cmd_info,
    "discover": cmd_discover,
    "snapshot": cmd_snapshot,
    "services": cmd_services,
    "stop": cmd_stop,
    "recheck": cmd_recheck,
    "cut": cmd_cut,
    "confirm-cut": cmd_confirm_cut,
    "restore": cmd_restore,
}


def _crash(exc: BaseException) -> str:
    """Where it broke, without the message: a message could quote what discovery read."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}{where}: {exc.filename or ''} {os_error_reason(exc)}".rstrip()
    return f"{type(exc).__name__}{where}"


def main(argv: Sequence[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        found = ".".join(map(str, sys.version_info[:3]))
        sys.stdout.write(json.dumps({"error": (
            f"clawback's agent needs Python {'.'.join(map(str, MIN_PYTHON))} or newer on this "
            f"host; {sys.executable} is {found}. Install a newer python3 and name it with "
            'python = "python3.12" in this host\'s [[hosts]] entry'
        )}))
        return 1
    if len(argv) >= 3 and argv[1] == "rollback-timer":
        return rollback_timer(argv[2])
    if len(argv) != 2 or argv[1] not in COMMANDS:
        sys.stdout.write(json.dumps({"error": f"usage: agent.pyz {{{','.join(COMMANDS)}}}"}))
        return 2
    os.umask(0o077)
    try:
        params = json.load(sys.stdin)
        result = COMMANDS[argv[1]](params)
    except ResponderError as exc:
        sys.stdout.write(json.dumps({"error": str(exc)}))
        return 1
    except Exception as exc:
        sys.stdout.write(json.dumps({"error": f"the agent failed: {_crash(exc)}"}))
        return 1
    sys.stdout.write(json.dumps(result, default=str))
    return 0
