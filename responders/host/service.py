"""``host.stop_service``: stop the OpenClaw gateway through whatever supervises it, for good.

Killing the gateway's pid alone is useless: systemd (``Restart=always``), launchd (``KeepAlive``),
supervisord (``autorestart``) and docker restart policies bring it back within seconds. So the
stop goes through the supervisor and switches restarting off; then whatever is left of the
gateway's process tree (exec tools it spawned survive ``KillMode=process``) gets TERM, a bounded
wait, KILL and another bounded wait. Every wait polls (20 ms) for what it waits for instead of
sleeping a fixed time. The stop is proved at once: no matching process and nothing listening on
the gateway port; that proof ends the step, so revoking starts. ``recheck`` then keeps proving it
beside the next steps, from the stop until the incident closes and for at least a floor set by
what proved the stop final (``recheck_window``: one supervisor tick when the supervisor's own
state rules a restart out, longer when only the process table speaks for it), to catch a
respawn; the engine records that as its own result, which fails the stop if the gateway came
back.

Services come from ``[[agent.services]]`` in clawback.toml (``settings["agent"]["services"]``):
``{kind, name, ...}`` with kind one of ``SERVICE_KINDS``. With none configured they are discovered
from unit files, OpenClaw lock files, the process title and the listener on the gateway port; a
process found that way is attributed to the supervisor it actually runs under (parent
supervisord, systemd or docker cgroup) so it is stopped through it.

"For good" per supervisor: systemd units are disabled and masked; a supervisord program is
removed from the running supervisord *and* gets ``autostart=false`` in every config file that
defines it (``supervisord_config``), or the next ``supervisorctl update``, supervisord restart
or reboot starts it again; a unit file no systemd can act on (none runs here, or not the
user's manager) is reported for what it is instead of failing the stop.

What the real OpenClaw 2026.2.26 gateway looks like (measured on the npm package, offline; the
research notes said otherwise in places, and the running software wins):

* ``openclaw gateway`` is two processes: the CLI titles itself ``openclaw`` (its
  ``/proc/<pid>/cmdline`` becomes that word alone), re-executes node with warning flags and
  waits; the child titles itself ``openclaw-gateway`` (``comm`` ``openclaw-gatewa``), and its
  cmdline is that title too. "argv contains ``dist/index.js gateway``" never matches this
  version: the title does, and the wrapper is found as the gateway's parent
  (``gateway_wrapper``). ``OPENCLAW_NO_RESPAWN=1``, or ``node dist/index.js`` (what units run),
  gives one process.
* It listens on the gateway port on 127.0.0.1 *and* ::1, and, unless
  ``OPENCLAW_SKIP_BROWSER_CONTROL_SERVER=1``, on port+2 (browser control) and port+3 (its
  relay) in the same process: the proof checks those too (``SIDE_PORT_OFFSETS``).
* It writes its lock ``$TMPDIR/openclaw-<uid>/gateway.<8 hex>.lock`` about 2 s before it
  listens (a lock alone is no sign of readiness), and removes it on SIGTERM.
* There is no JSON health endpoint (``/health`` is the Control UI's HTML); health is an RPC
  over the WebSocket. Nothing here asks the gateway anything: the proof is processes and ports.
* ``openclaw gateway install`` writes ``~/.config/systemd/user/openclaw-gateway.service`` with
  ``Restart=always``, ``KillMode=process`` and the token in ``Environment=``, even on a host
  where the gateway then runs under something else.

This module is on the panic-button path: standard library and psutil only.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shlex
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import psutil

from responders.host.commands import CommandResult, MissingBinary, run_command
from responders.hostprobes.gateway import (
    SYSTEM_UNIT_DIRS,
    LockFile,
    cgroup_service,
    cmdline_option,
    could_be_gateway,
    gateway_signature,
    is_gateway_unit,
    is_process_supervisor,
    is_supervisord,
    is_wrapper,
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
    SupervisorUnreachable,
    rpc_result,
    wait_until_stopped,
)
from responders.interface import (
    Action,
    AgentFootprint,
    Done,
    Failed,
    ManualRequired,
    Outcome,
    Planned,
    ResponderContext,
    ResponderError,
    Skipped,
)
from responders.kit.plain_params import FORBID_EXTRA, within

if TYPE_CHECKING:
    # The type only: the module itself loads where a supervisord config is read, as below.
    from responders.hostprobes.supervisord_config import ProgramSection

SERVICE_KINDS: tuple[str, ...] = (
    "systemd",
    "systemd-user",
    "launchd",
    "docker",
    "compose",
    "supervisord",
    "pidfile",
    "process",
)
# Side listeners of the gateway process: browser control (port+2) and its relay (port+3).
SIDE_PORT_OFFSETS: tuple[int, ...] = (2, 3)
LAUNCHD_SYSTEM_DIRS: tuple[tuple[str, str], ...] = (
    ("/Library/LaunchAgents", "gui"),
    ("/Library/LaunchDaemons", "system"),
)
# Where systemd keeps its runtime state when it is PID 1 (what sd_booted() checks).
SYSTEMD_RUNTIME_DIR = "/run/systemd/system"

# An exit code that means "was not running / not loaded": success for a stop.
_LAUNCHCTL_NOT_LOADED = (3, 5, 113)
_RPC_SLACK_S = 5.0
# The evidence pass asks supervisord where the logs are; it must not hold up the stop.
_LOG_LOOKUP_TIMEOUT_S = 1.0
# How often ``recheck`` looks for a respawn: each look walks /proc and the socket table
# (~20 ms of CPU), which must not slow the revocations running beside it.
_RECHECK_POLL_S = 0.25
# The re-check's floor, by what proved the stop final (``recheck_window`` says why).
_RECHECK_SUPERVISOR_S = 1.0
_RECHECK_PROCESS_TABLE_S = 3.0
_LAUNCHD_THROTTLE_S = 10.0
# Two targets of one stop may share a supervisord config file.
_supervisor_config_lock = threading.Lock()


def services_howto(footprint: AgentFootprint, table: str = "agent.services") -> str:
    """How to name the gateway's service in clawback.toml (``table``: where it goes)."""
    return (
        "name it in clawback.toml, e.g.\n"
        f"  [[{table}]]\n"
        '  kind = "supervisord"   # one of: ' + ", ".join(SERVICE_KINDS) + "\n"
        f'  name = "{footprint.service_name}"\n'
        '  socket = "/run/supervisor.sock"   # supervisord; systemd-user: user = "alice"; '
        'compose: compose_file = "..."; pidfile: pidfile = "..."'
    )


# --------------------------------------------------------------------------------------------
# What to stop
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    """One way the gateway runs. ``options`` holds the kind-specific keys from the config."""

    kind: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    found_by: str = "config"

    @property
    def target_id(self) -> str:
        user = self.options.get("user")
        if self.kind == "systemd-user" and user:
            return f"{self.kind}:{user}/{self.name}"
        return f"{self.kind}:{self.name}"

    def port(self, default: int) -> int:
        return int(self.options.get("port", default))

    def describe(self) -> dict[str, Any]:
        safe = {k: v for k, v in self.options.items() if k not in ("password", "username")}
        return {"kind": self.kind, "name": self.name, "found_by": self.found_by, **safe}


def _unit_name(name: str) -> str:
    return name if "." in name else f"{name}.service"


def services_from_settings(
    entries: Sequence[Any], *, footprint: AgentFootprint, agent_uid: int | None = None,
    agent_home: str | None = None,
) -> list[ServiceSpec]:
    """Validate ``[[agent.services]]``; errors say which entry and how to fix it.

    A systemd --user unit or a launchd job belongs to the agent's account: when the entry does
    not say whose, it is ``agent.uid`` (or the owner of ``agent.user_home``), because clawback
    usually runs as root and root's own user manager is the wrong one.
    """
    specs = []
    for index, entry in enumerate(entries):
        where = f"agent.services[{index}]"
        if not isinstance(entry, Mapping):
            raise ResponderError(f"{where} must be a table; {services_howto(footprint)}")
        kind = entry.get("kind")
        if kind not in SERVICE_KINDS:
            raise ResponderError(
                f"{where}: unknown kind {kind!r}; use one of {', '.join(SERVICE_KINDS)}. "
                + services_howto(footprint)
            )
        # The config loader writes every optional key, unset ones as None.
        options = {k: v for k, v in entry.items() if k not in ("kind", "name") and v is not None}
        name = entry.get("name")
        owner_uid = agent_uid
        if owner_uid is None and agent_home and os.path.isdir(agent_home):
            owner_uid = os.stat(agent_home).st_uid
        if kind in ("systemd", "systemd-user"):
            name = _unit_name(str(entry.get("unit") or name or footprint.service_name))
            if kind == "systemd-user" and "user" not in options and owner_uid is not None:
                options["user"] = user_name(owner_uid)
        elif kind == "launchd":
            name = str(entry.get("label") or name or footprint.launchd_label)
            if "uid" not in options and owner_uid is not None:
                options["uid"] = owner_uid
        elif kind == "docker":
            name = str(entry.get("container") or name or footprint.service_name)
        elif kind == "compose":
            if not options.get("compose_file"):
                raise ResponderError(f"{where}: compose needs compose_file = <path>")
            name = str(name or footprint.service_name)
        elif kind == "supervisord":
            if not (options.get("socket") or options.get("supervisor_config")):
                raise ResponderError(
                    f"{where}: supervisord needs socket = <unix socket path> or "
                    "supervisor_config = <supervisord.conf>"
                )
            name = str(name or footprint.service_name)
        elif kind == "pidfile":
            if not options.get("pidfile"):
                raise ResponderError(f"{where}: pidfile needs pidfile = <path>")
            name = str(name or options["pidfile"])
        else:
            name = str(name or footprint.service_name)
        specs.append(ServiceSpec(kind=kind, name=name, options=options, found_by="config"))
    return specs


@dataclass(frozen=True)
class StopCommand:
    """One command a stop sends. ``append_previous_stdout`` takes ids from the command before."""

    argv: tuple[str, ...]
    purpose: str
    required: bool = True
    ok_exit_codes: tuple[int, ...] = (0,)
    append_previous_stdout: bool = False

    def display(self) -> str:
        text = shlex.join(self.argv)
        return (
            f"{text} <ids printed by the previous command>" if self.append_previous_stdout else text
        )


def _systemctl_prefix(spec: ServiceSpec, own_uid: int) -> tuple[str, ...]:
    if spec.kind == "systemd":
        return ("systemctl",)
    user = spec.options.get("user")
    if user is None and own_uid == 0:
        raise ResponderError(
            f"{spec.name} is a systemd --user unit but the user is unknown while running as "
            'root: set user = "<login>" in its [[agent.services]] entry (or agent.uid)'
        )
    if user is None or _uid_of(str(user)) == own_uid:
        return ("systemctl", "--user")
    # systemd ≥ 248 reaches another user's manager from root this way (no su, no D-Bus env).
    return ("systemctl", "--user", f"--machine={user}@.host")


def _uid_of(user: str) -> int | None:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return int(user) if user.isdigit() else None


def stop_commands(spec: ServiceSpec, *, own_uid: int, term_timeout: float) -> list[StopCommand]:
    """The exact external commands a stop sends, in order (empty for supervisord/pidfile/process,
    which are driven over XML-RPC or by signals)."""
    wait_s = str(max(1, round(term_timeout)))
    if spec.kind in ("systemd", "systemd-user"):
        prefix = _systemctl_prefix(spec, own_uid)
        return [
            StopCommand((*prefix, "stop", spec.name), "stop the unit (no Restart= after a stop)"),
            StopCommand((*prefix, "disable", spec.name), "do not start it at boot/login"),
            StopCommand(
                (*prefix, "mask", spec.name),
                "refuse any start until unmasked; fails harmlessly when the unit file itself "
                "lives in /etc/systemd or ~/.config/systemd, where disable is what holds",
                required=False,
            ),
        ]
    if spec.kind == "launchd":
        domain = str(spec.options.get("domain") or f"gui/{spec.options.get('uid', own_uid)}")
        service_target = f"{domain}/{spec.name}"
        return [
            StopCommand(
                ("launchctl", "bootout", service_target),
                "unload the job: KeepAlive cannot respawn an unloaded job",
                ok_exit_codes=(0, *_LAUNCHCTL_NOT_LOADED),
            ),
            StopCommand(
                ("launchctl", "disable", service_target), "keep RunAtLoad from loading it again"
            ),
        ]
    if spec.kind == "docker":
        return [
            StopCommand(("docker", "stop", "--time", wait_s, spec.name), "stop the container"),
            StopCommand(
                ("docker", "update", "--restart=no", spec.name),
                "drop the restart policy so a daemon restart does not bring it back",
            ),
        ]
    if spec.kind == "compose":
        base: tuple[str, ...] = ("docker", "compose", "-f", str(spec.options["compose_file"]))
        if spec.options.get("project"):
            base = (*base, "-p", str(spec.options["project"]))
        return [
            StopCommand((*base, "stop", "--timeout", wait_s, spec.name), "stop the service"),
            StopCommand((*base, "ps", "--all", "-q", spec.name), "find its containers"),
            StopCommand(
                ("docker", "update", "--restart=no"),
                "drop restart: always/unless-stopped so a daemon restart does not revive it",
                append_previous_stdout=True,
            ),
        ]
    return []


# --------------------------------------------------------------------------------------------
# Finding gateway processes
# --------------------------------------------------------------------------------------------


@dataclass
class GatewayProcess:
    """A live process believed to be (part of) the gateway, with why we believe it."""

    process: psutil.Process
    reasons: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def describe(self) -> dict[str, Any]:
        # Names only: a gateway's argv may carry --token.
        try:
            name = self.process.name()
        except psutil.Error:
            name = "?"
        return {"pid": self.pid, "name": name, "found_by": sorted(set(self.reasons))}


def gateway_wrapper(proc: psutil.Process, footprint: AgentFootprint) -> psutil.Process | None:
    """The agent's CLI process that started this gateway, if one did.

    OpenClaw's ``openclaw gateway`` (2026.2.26) runs as two processes: the CLI, which titles
    itself ``openclaw`` (its ``/proc/<pid>/cmdline`` becomes just that word), re-executes node
    with warning flags and waits for its child, which titles itself ``openclaw-gateway``. The
    CLI forwards signals and exits on its own ~2 s after the gateway dies, but until then it is
    part of what runs and must be stopped and proved gone with it (``hostprobes.gateway
    .is_wrapper`` with the agent's footprint).
    """
    with contextlib.suppress(psutil.Error):
        parent = proc.parent()
        if parent is None or parent.pid == 1 or parent.pid in _own_lineage():
            return None
        if parent.uids().real != proc.uids().real or _is_process_supervisor(parent):
            return None
        if is_wrapper(parent.name(), parent.cmdline(), footprint):
            return parent
    return None


def wrappers_of(gateways: Sequence[GatewayProcess],
                footprint: AgentFootprint) -> list[GatewayProcess]:
    known = {g.pid for g in gateways}
    found: list[GatewayProcess] = []
    for gateway in gateways:
        wrapper = gateway_wrapper(gateway.process, footprint)
        if wrapper is not None and wrapper.pid not in known and _alive(wrapper):
            known.add(wrapper.pid)
            found.append(GatewayProcess(wrapper,
                                        [f"{footprint.command} wrapper of pid {gateway.pid}"]))
    return found


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _own_lineage() -> set[int]:
    """This process and its ancestors: never candidates, whatever their argv says."""
    pids = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        pids.update(p.pid for p in psutil.Process().parents())
    return pids


def scan_titles(uid: int | None, footprint: AgentFootprint) -> list[GatewayProcess]:
    found = []
    exclude = _own_lineage()
    for proc in psutil.process_iter(["name", "cmdline", "uids"]):
        if proc.pid in exclude:
            continue
        info = proc.info
        if uid is not None and (info["uids"] is None or info["uids"].real != uid):
            continue
        reason = gateway_signature(info["name"] or "", info["cmdline"] or [], footprint)
        if reason and _alive(proc):
            found.append(GatewayProcess(proc, [reason]))
    return found


def process_of_pid_file(lock: LockFile) -> psutil.Process | None:
    """The live process a pid file names, or None if it is gone, the pid was recycled, or it
    is not a process the file's writer could own (``hostprobes.gateway.names_process``)."""
    if lock.pid is None or not may_name(lock, _own_lineage()):
        return None
    try:
        proc = psutil.Process(lock.pid)
        if not names_process(lock, proc.uids().real, proc.create_time()):
            return None
    except psutil.Error:
        return None
    return proc if _alive(proc) else None


# Whether anything listens on a port, asked of the kernel over sock_diag netlink (what ss(8)
# uses) for listening sockets only: ~0.1 ms. /proc/net/tcp and psutil walk every connection
# hash bucket (tens of milliseconds on a host with much memory) and psutil then every process's
# descriptors, which the stop's polling paid again and again.
_NETLINK_INET_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCPF_LISTEN = 1 << 10
_NLMSG_HEADER = struct.Struct("=IHHII")
_DIAG_REQUEST = struct.Struct("=BBBBI48x")  # inet_diag_req_v2, its socket id left zero
_DIAG_SOURCE_PORT = struct.Struct("!H")  # in inet_diag_msg, after family, state, timer, retrans


def _something_listens(port: int) -> bool | None:
    """Whether any TCP socket of this network namespace listens on ``port``; None when the
    kernel cannot be asked (not Linux, no sock_diag): then psutil answers."""
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_INET_DIAG) as diag:
            diag.settimeout(2.0)
            for family in (socket.AF_INET, socket.AF_INET6):
                body = _DIAG_REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, _TCPF_LISTEN)
                diag.send(_NLMSG_HEADER.pack(_NLMSG_HEADER.size + len(body),
                                             _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0)
                          + body)
                if _listening_port_in_answer(diag, port):
                    return True
    except (OSError, AttributeError, ValueError, struct.error):
        return None
    return False


def _listening_port_in_answer(diag: socket.socket, port: int) -> bool:
    found = False
    while True:
        data = diag.recv(65536)
        if not data:
            raise ValueError("sock_diag closed its answer")
        offset = 0
        while offset + _NLMSG_HEADER.size <= len(data):
            length, kind, _flags, _seq, _pid = _NLMSG_HEADER.unpack_from(data, offset)
            if length < _NLMSG_HEADER.size:
                raise ValueError("malformed sock_diag answer")
            if kind == _NLMSG_DONE:
                return found
            if kind == _NLMSG_ERROR:
                raise ValueError("sock_diag refused the request")
            (source_port,) = _DIAG_SOURCE_PORT.unpack_from(data, offset + _NLMSG_HEADER.size + 4)
            found = found or source_port == port
            offset += (length + 3) & ~3


def port_listeners(port: int) -> list[psutil.Process | int]:
    """Processes listening on TCP ``port`` (an int when the owner is not visible to us).

    Naming them means psutil walking every process's descriptors (tens of milliseconds on a
    busy host, and the stop polls this): the kernel's tables answer "nobody" first."""
    if _something_listens(port) is False:
        return []
    owners: dict[int, psutil.Process | int] = {}
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        connections = []
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if conn.pid is None:
            owners[-1] = -1
            continue
        try:
            owners[conn.pid] = psutil.Process(conn.pid)
        except psutil.Error:
            continue
    return list(owners.values())


def port_is_open(port: int) -> bool:
    return bool(port_listeners(port))


def _unix_socket_owner(path: str) -> int | None:
    """The pid listening on the unix socket ``path`` (a supervisord named by its socket)."""
    if not path:
        return None
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="unix"):
            # supervisord binds "<file>.<its pid>" and renames it to <file>; the kernel keeps
            # the name it was bound with.
            if conn.pid and conn.laddr in (path, f"{path}.{conn.pid}"):
                proc = psutil.Process(conn.pid)
                if _is_supervisord(proc):
                    return conn.pid
    return None


def _is_supervisord(proc: psutil.Process) -> bool:
    try:
        return is_supervisord(proc.name(), proc.cmdline())
    except psutil.Error:
        return False


def manager_of(proc: psutil.Process, footprint: AgentFootprint) -> ServiceSpec | None:
    """The supervisor that would respawn ``proc``: supervisord parent, docker or systemd cgroup."""
    env: Mapping[str, str]
    try:
        env = proc.environ()
    except psutil.Error:
        env = {}
    with contextlib.suppress(psutil.Error):
        for parent in proc.parents()[:3]:
            if _is_supervisord(parent):
                found = supervisord_program(env, parent.pid, parent.cmdline(), parent.cwd())
                if found is not None:
                    return ServiceSpec(**found)
    cgroups = read_cgroups(proc.pid)
    found = cgroup_service(cgroups, footprint) if cgroups is not None else None
    return ServiceSpec(**found) if found is not None else None


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSettings:
    """The parts of ``settings["agent"]`` this action reads, with defaults applied."""

    uid: int | None
    tmp_dirs: tuple[str, ...]
    gateway_port: int
    homes: tuple[str, ...]
    services: tuple[ServiceSpec, ...]
    footprint: AgentFootprint  # how the agent shows on this host (its keeper's)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], footprint: AgentFootprint) -> AgentSettings:
        agent = settings.get("agent") or {}
        uid = agent.get("uid")
        uid = int(uid) if uid is not None else None
        default_tmp = [os.environ.get("TMPDIR", ""), "/tmp"]
        tmp_dirs = tuple(dict.fromkeys(d for d in (agent.get("tmp_dirs") or default_tmp) if d))
        homes = agent.get("homes") or agent.get("user_home") or ()
        if isinstance(homes, str):
            homes = (homes,)
        if not homes:
            homes = tuple(_default_homes(uid))
        services = services_from_settings(
            agent.get("services") or [], footprint=footprint, agent_uid=uid,
            agent_home=agent.get("user_home"),
        )
        return cls(
            uid=uid,
            tmp_dirs=tmp_dirs,
            gateway_port=int(agent.get("gateway_port") or footprint.gateway_port),
            homes=tuple(str(h) for h in homes),
            services=tuple(services),
            footprint=footprint,
        )


def _default_homes(uid: int | None) -> list[str]:
    if uid is not None:
        try:
            return [pwd.getpwuid(uid).pw_dir]
        except KeyError:
            return []
    homes = [os.path.expanduser("~")]
    homes += sorted(glob.glob("/home/*")) + sorted(glob.glob("/Users/*"))
    return list(dict.fromkeys(homes))


def discover_unit_files(
    homes: Sequence[str],
    footprint: AgentFootprint,
    *,
    system_unit_dirs: Sequence[str] = SYSTEM_UNIT_DIRS,
    platform: str = sys.platform,
) -> list[ServiceSpec]:
    """Installed gateway units/plists; reads directories only."""
    specs: list[ServiceSpec] = []
    if platform.startswith("linux"):
        for directory in system_unit_dirs:
            for path in sorted(glob.glob(os.path.join(glob.escape(directory), "*.service"))):
                if is_gateway_unit(os.path.basename(path), footprint):
                    specs.append(ServiceSpec("systemd", os.path.basename(path), {}, path))
        for home in homes:
            user_dir = os.path.join(home, ".config", "systemd", "user")
            for path in sorted(glob.glob(os.path.join(glob.escape(user_dir), "*.service"))):
                if is_gateway_unit(os.path.basename(path), footprint):
                    owner = _owner_name(home)
                    specs.append(
                        ServiceSpec("systemd-user", os.path.basename(path), {"user": owner}, path)
                    )
    elif platform == "darwin":
        dirs = [(os.path.join(h, "Library", "LaunchAgents"), "gui", h) for h in homes]
        dirs += [(d, domain, "") for d, domain in LAUNCHD_SYSTEM_DIRS]
        for directory, domain, home in dirs:
            for path in sorted(glob.glob(os.path.join(glob.escape(directory), "*.plist"))):
                label = os.path.basename(path)[: -len(".plist")]
                if not re.match(footprint.launchd_pattern, label):
                    continue
                target_domain = "system" if domain == "system" else f"gui/{_owner_uid(home)}"
                specs.append(ServiceSpec("launchd", label, {"domain": target_domain}, path))
    return _dedupe(specs)


def _owner_name(path: str) -> str:
    try:
        return user_name(os.stat(path).st_uid)
    except OSError:
        return os.path.basename(path)


def _owner_uid(path: str) -> int:
    try:
        return os.stat(path).st_uid if path else os.getuid()
    except OSError:
        return os.getuid()


def _dedupe(specs: Iterable[ServiceSpec]) -> list[ServiceSpec]:
    seen: dict[str, ServiceSpec] = {}
    for spec in specs:
        seen.setdefault(spec.target_id, spec)
    return list(seen.values())


@dataclass
class Discovery:
    """What discovery saw: services to stop and the processes behind each."""

    services: list[ServiceSpec]
    processes: dict[str, list[GatewayProcess]]
    stale_locks: list[str]


def find_gateway_processes(agent: AgentSettings) -> tuple[list[GatewayProcess], list[str]]:
    """Every live process that looks like the gateway, merged by pid; plus stale lock files."""
    by_pid: dict[int, GatewayProcess] = {}

    def add(proc: psutil.Process, reason: str) -> None:
        entry = by_pid.setdefault(proc.pid, GatewayProcess(proc))
        entry.reasons.append(reason)

    for found in scan_titles(agent.uid, agent.footprint):
        add(found.process, found.reasons[0])
    stale = []
    for lock in read_lock_files(agent.tmp_dirs, agent.uid, agent.footprint):
        proc = process_of_pid_file(lock)
        if proc is None:
            stale.append(lock.path)
        else:
            add(proc, f"lock file {lock.path}")
    own = _own_lineage()
    for listener in port_listeners(agent.gateway_port):
        if not isinstance(listener, psutil.Process) or listener.pid in own:
            continue
        if listener.pid in by_pid or _could_be_gateway(listener, agent.uid):
            add(listener, f"listening on port {agent.gateway_port}")
    return list(by_pid.values()), stale


def _could_be_gateway(proc: psutil.Process, agent_uid: int | None) -> bool:
    """Whether a listener on the gateway port may be signalled as the gateway.

    A wrong gateway_port must not make us TERM sshd or a reverse proxy, so the port alone is
    not enough: the listener must also be a JavaScript runtime or run as the (non-root) agent.
    """
    try:
        return could_be_gateway(proc.name(), proc.uids().real, agent_uid)
    except psutil.Error:
        return False


def _gateway_like(proc: psutil.Process, agent: AgentSettings) -> bool:
    try:
        if gateway_signature(proc.name(), proc.cmdline(), agent.footprint):
            return True
    except psutil.Error:
        return False
    return _could_be_gateway(proc, agent.uid)


def discover(agent: AgentSettings) -> Discovery:
    specs = discover_unit_files(agent.homes, agent.footprint)
    processes: dict[str, list[GatewayProcess]] = {}
    found, stale = find_gateway_processes(agent)
    for gateway in found:
        manager = manager_of(gateway.process, agent.footprint)
        if manager is None:
            lock_reason = next((r for r in gateway.reasons if r.startswith("lock file ")), None)
            if lock_reason:
                path = lock_reason[len("lock file ") :]
                manager = ServiceSpec("pidfile", path, {"pidfile": path}, "lock file")
            else:
                manager = ServiceSpec("process", agent.footprint.service_name, {},
                                      ", ".join(gateway.reasons))
        specs.append(manager)
        processes.setdefault(manager.target_id, []).append(gateway)
    return Discovery(_dedupe(specs), processes, stale)


# --------------------------------------------------------------------------------------------
# supervisord over XML-RPC
# --------------------------------------------------------------------------------------------


def supervisor_log_files(spec: ServiceSpec) -> list[str]:
    """The stdout and stderr logs supervisord keeps of ``spec``'s program: as the running
    supervisord reports them, else as its config files say (after a stop removed the group)."""
    from responders.hostprobes import supervisord_config as sc


    files: list[str] = []
    info = None
    with contextlib.suppress(ResponderError, SupervisorFault):
        info = SupervisorClient(spec.options, _LOG_LOOKUP_TIMEOUT_S).process_info(spec.name)
    if info:
        files = [str(info.get(k) or "") for k in ("stdout_logfile", "stderr_logfile")]
        files = [f for f in files if f and os.path.isfile(f)]
    if files:
        return files
    main = spec.options.get("supervisor_config")
    if not main:
        return []
    name = spec.name.split(":")[-1]
    group = spec.name.split(":")[0]
    with contextlib.suppress(sc.SupervisorConfigError, OSError):
        sections = sc.program_sections(str(main), sc.candidates(name, group))
        if sections:
            return sc.log_files(str(main), sections[0].section, name, group)
    return []


def supervised_log_files(settings: Mapping[str, Any], footprint: AgentFootprint) -> list[str]:
    """The gateway's stdout/stderr logs kept by supervisord, for the evidence: of the
    supervisord services configured, or (none configured) of every program a running
    supervisord's config has for the agent (its name or command mentions it). Found from the
    config files, so it works after the stop removed the program from supervisord."""
    from responders.hostprobes import supervisord_config as sc


    try:
        agent = AgentSettings.from_settings(settings, footprint)
    except ResponderError:
        return []
    files: list[str] = []
    for spec in agent.services:
        if spec.kind == "supervisord":
            files += supervisor_log_files(spec)
    if agent.services:
        return list(dict.fromkeys(files))
    for proc in psutil.process_iter():
        if proc.pid in _own_lineage() or not _is_supervisord(proc):
            continue
        with contextlib.suppress(psutil.Error, sc.SupervisorConfigError, OSError):
            cwd, cmdline = proc.cwd(), proc.cmdline()
            named = cmdline_option(cmdline, "-c", "--configuration")
            main = os.path.join(cwd, named) if named else sc.find_main_config(cwd)
            if main is None:
                continue
            runs_as = proc.uids().real
            for section in sc.programs_running(main, footprint.packages):
                if agent.uid is not None and _program_uid(main, section, runs_as) != agent.uid:
                    continue  # another account's program, not this agent's
                program = section.split(":", 1)[1]
                files += sc.log_files(main, section, program, program)
    return list(dict.fromkeys(files))


def _program_uid(main: str, section: str, supervisord_uid: int) -> int | None:
    """The uid a program runs as: its ``user=``, else supervisord's own."""
    from responders.hostprobes import supervisord_config as sc


    user = sc.merged_option(main, section, "user")
    return _uid_of(user[0]) if user else supervisord_uid


# --------------------------------------------------------------------------------------------
# Signals with bounded waits
# --------------------------------------------------------------------------------------------


def wait_gone(processes: Sequence[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until none is alive; return those still alive at ``timeout``.

    Not psutil.wait_procs: it counts a zombie as alive until its parent reaps it, and an orphan
    whose init does not reap (containers, minimal VMs) would then always look unkillable. A
    zombie holds no socket and runs no code, which is all containment cares about.
    """
    deadline = time.monotonic() + timeout
    alive = [p for p in processes if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if _alive(p)]
    return alive


def terminate(
    processes: Sequence[psutil.Process], term_timeout: float, kill_timeout: float
) -> dict[str, list[int]]:
    """TERM, wait up to ``term_timeout``, KILL what is left, wait up to ``kill_timeout``."""
    targets = [p for p in processes if _alive(p)]
    for proc in targets:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    alive = wait_gone(targets, term_timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    survived = wait_gone(alive, kill_timeout)
    return {
        "terminated": sorted(p.pid for p in targets if p not in alive),
        "killed": sorted(p.pid for p in alive if p not in survived),
        "survived": sorted(p.pid for p in survived),
    }


def _is_process_supervisor(proc: psutil.Process) -> bool:
    try:
        return is_process_supervisor(proc.pid, proc.name(), proc.cmdline())
    except psutil.Error:
        return False


@dataclass(frozen=True)
class RespawnWatch:
    """Where a respawn would appear: the gateway's supervising parents, the uids it ran as,
    and when the stop began."""

    parents: tuple[psutil.Process, ...]
    uids: frozenset[int]
    since: float


def respawn_watch(processes: Iterable[GatewayProcess], since: float) -> RespawnWatch:
    parents: dict[int, psutil.Process] = {}
    uids: set[int] = set()
    for gateway in processes:
        with contextlib.suppress(psutil.Error):
            uids.add(gateway.process.uids().real)
            parent = gateway.process.parent()
            if parent is not None and _is_process_supervisor(parent):
                parents[parent.pid] = parent
    return RespawnWatch(tuple(parents.values()), frozenset(uids), since)


def respawned_children(watch: RespawnWatch) -> list[psutil.Process]:
    """Children a supervisor started, as the gateway's uid, after the stop began: the
    replacement, caught even before it has set its title or opened its port."""
    found = []
    for parent in watch.parents:
        with contextlib.suppress(psutil.Error):
            for child in parent.children():
                with contextlib.suppress(psutil.Error):
                    if (
                        child.create_time() >= watch.since
                        and child.uids().real in watch.uids
                        and _alive(child)
                    ):
                        found.append(child)
    return found


def _with_descendants(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    tree: dict[int, psutil.Process] = {}
    for proc in processes:
        tree.setdefault(proc.pid, proc)
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                tree.setdefault(child.pid, child)
    return list(tree.values())


def recheck_window(
    kind: str, supervisor_proof: str | None, override: float | None
) -> tuple[float, str]:
    """The respawn re-check's floor in seconds, and why: how long after the stop it watches
    at least. It always watches until just before the incident closes; the floor is what a
    fast contain waits for, so it is as short as what proved the stop final allows.

    - The supervisor's own state proves it (``supervisor_proof``): supervisord no longer has
      the program in its running config (``removeProcessGroup``) and nothing matching is
      alive, so it has nothing left to restart; or systemd reports the unit masked and
      inactive, and no ``Restart=``, timer, socket or dependency can start a masked unit.
      One supervisor tick (1 s, supervisord's main loop) covers a start it had already
      committed to before the state changed. A reload meanwhile (``supervisorctl update``,
      ``systemctl unmask``) changes that state, and the re-check then takes the longer floor.
    - launchd: ``bootout`` unloads the job, but nothing here reads launchd's state back, and
      KeepAlive respawns no sooner than ThrottleInterval (10 s by default) after the last
      start, so a shorter watch proves nothing: 10 s and one more.
    - Only the process table speaks for it (a pid file, a process title, a parent we do not
      know, a unit that is disabled but not masked, a container): whatever started the gateway
      may try again on its own schedule (a wrapper loop's sleep, a restart delay), so 3 s.
      Rechecking longer is the operator's call.

    ``override`` (the step's ``recheck_seconds``) replaces the floor, and the reason says so.
    """
    if override is not None:
        return override, "recheck_seconds is set in the playbook"
    if supervisor_proof is not None:
        return _RECHECK_SUPERVISOR_S, f"{supervisor_proof}: one supervisor tick"
    if kind == "launchd":
        return (
            _LAUNCHD_THROTTLE_S + 1.0,
            "launchd's KeepAlive waits out ThrottleInterval (10 s by default) before a respawn",
        )
    return (
        _RECHECK_PROCESS_TABLE_S,
        "only the process table speaks for the stop: whatever started the gateway may start "
        "it again",
    )


def _window_facts(window: tuple[float, str] | None) -> dict[str, Any]:
    if window is None:
        return {}
    return {"window": {"min_s": window[0], "reason": window[1]}}


def _floor_text(params: StopServiceParams) -> str:
    if params.recheck_seconds is not None:
        return f"at least {params.recheck_seconds:g}s"
    return (
        f"at least {_RECHECK_SUPERVISOR_S:g}s when the supervisor's state proves it cannot "
        f"restart it, else {_RECHECK_PROCESS_TABLE_S:g}s"
    )


# --------------------------------------------------------------------------------------------
# The action
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StopServiceParams:
    """The step's ``with:`` (a plain dataclass: the stop loads no pydantic; see
    ``responders.kit.plain_params``)."""

    __pydantic_config__ = FORBID_EXTRA

    # None: the floor follows from what proved the stop final (``recheck_window``); a number
    # replaces it, and the re-check's result says so.
    recheck_seconds: float | None = None
    term_timeout: float = 10.0
    kill_timeout: float = 5.0

    def __post_init__(self) -> None:
        within("recheck_seconds", self.recheck_seconds, at_least=0, at_most=120)
        within("term_timeout", self.term_timeout, above=0, at_most=300)
        within("kill_timeout", self.kill_timeout, above=0, at_most=120)


class _StopFailed(Exception):
    """A stop step failed; the message is advice for the operator."""


class StopServiceAction(Action):
    """Stop every gateway service, disable its restart, and prove it stays down."""

    name: ClassVar[str] = "host.stop_service"
    Params: ClassVar[type[StopServiceParams]] = StopServiceParams

    def __init__(self, context: ResponderContext, params: StopServiceParams | None = None) -> None:
        super().__init__(context, params if params is not None else StopServiceParams())
        self.params: StopServiceParams
        self._discovery: Discovery | None = None
        # What ``recheck`` watches, per target whose stop was proven: (spec, the processes
        # stopped, the gateway port, where a respawn would show, when the stop was proven).
        self._stopped: dict[
            str, tuple[ServiceSpec, tuple[GatewayProcess, ...], int, RespawnWatch, float]
        ] = {}
        # The engine builds actions outside its error handling; a bad [[agent.services]] entry
        # is reported by plan()/execute() as advice instead of crashing the run.
        self._config_error: ResponderError | None = None
        # The agent's footprint (its keeper's, which loads no discovery) names what to look for.
        footprint = context.agent_footprint()
        self.footprint = footprint
        try:
            self.agent = AgentSettings.from_settings(context.settings, footprint)
        except ResponderError as exc:
            self._config_error = exc
            self.agent = AgentSettings.from_settings({}, footprint)

    # -- read-only ----------------------------------------------------------------------------

    def _discover(self) -> Discovery:
        if self._config_error is not None:
            return Discovery([], {}, [])
        if self._discovery is None:
            if self.agent.services:
                self._discovery = Discovery(list(self.agent.services), {}, [])
            else:
                self._discovery = discover(self.agent)
        return self._discovery

    def targets(self) -> list[str]:
        return [s.target_id for s in self._discover().services] or [self.footprint.service_name]

    def _spec(self, target: str) -> ServiceSpec | None:
        for spec in self._discover().services:
            if spec.target_id == target:
                return spec
        return None

    def plan(self, target: str) -> Outcome:
        if self._config_error is not None:
            raise self._config_error
        spec = self._spec(target)
        if spec is None:
            # Read-only, like the real run's check: the dry run predicts its outcome.
            return self._nothing_found(target)
        inert = _inert_unit(spec)
        if inert is not None:
            return inert  # the dry run predicts what the real run reports
        port = spec.port(self.agent.gateway_port)
        lines = [
            c.display()
            for c in stop_commands(
                spec, own_uid=os.geteuid(), term_timeout=self.params.term_timeout
            )
        ]
        if spec.kind == "supervisord":
            where = SupervisorClient(spec.options, 1.0).where
            group = spec.name.split(":")[0]
            lines += [
                f"supervisord {where}: supervisor.stopProcessGroup({group!r}, wait=False), "
                "then getProcessInfo until it is down",
                f"supervisord {where}: supervisor.removeProcessGroup({group!r})",
                f"autostart=false in [program:{spec.name.split(':')[-1]}] of "
                f"{self._supervisor_config_path(spec) or 'its config file (unknown yet)'} "
                "and its includes, each file backed up into the incident first",
            ]
        pids = [g.pid for g in self._processes_of(spec)]
        if spec.kind in ("pidfile", "process") and not pids:
            return _nothing_running(spec, self.footprint)
        if spec.kind in ("pidfile", "process") or pids:
            lines.append(
                f"kill -TERM {' '.join(map(str, pids)) or '<gateway pids>'}; "
                f"wait {self.params.term_timeout:g}s; kill -KILL survivors; "
                f"wait {self.params.kill_timeout:g}s"
            )
        lines.append(
            f"prove: no gateway process and nothing listening on port {port}, at once and "
            f"again beside the next steps until the incident closes ({_floor_text(self.params)})"
        )
        return Planned(
            action=self.name,
            detail=f"stop {spec.kind} {spec.name} and keep it from restarting",
            commands=tuple(lines),
            facts={"found": spec.describe(), "pids": pids},
        )

    def _processes_of(self, spec: ServiceSpec, *, fresh: bool = False) -> list[GatewayProcess]:
        """The live processes behind ``spec``, with the agent's CLI wrappers that started
        them; ``fresh`` looks again instead of trusting what discovery saw (the proof must
        notice a respawn under a new pid)."""
        found = self._gateway_processes_of(spec, fresh=fresh)
        return found + wrappers_of(found, self.footprint)

    def _gateway_processes_of(
        self, spec: ServiceSpec, *, fresh: bool = False
    ) -> list[GatewayProcess]:
        discovered = None if fresh else self._discover().processes.get(spec.target_id)
        if spec.kind == "pidfile":
            proc = process_of_pid_file(read_pid_file(str(spec.options["pidfile"])))
            if proc is None:
                return []
            known = next((g for g in discovered or [] if g.pid == proc.pid), None)
            return [known or GatewayProcess(proc, [f"pid file {spec.options['pidfile']}"])]
        if spec.kind == "process":
            found, _ = find_gateway_processes(self.agent)
            others = {
                s.target_id for s in self._discover().services if s.target_id != spec.target_id
            }
            return [g for g in found if self._attributed(g, others) is None]
        if discovered:
            return [g for g in discovered if _alive(g.process)]
        return self._managed_processes(spec)

    def _attributed(self, gateway: GatewayProcess, target_ids: set[str]) -> str | None:
        manager = manager_of(gateway.process, self.footprint)
        return manager.target_id if manager and manager.target_id in target_ids else None

    def _managed_processes(self, spec: ServiceSpec) -> list[GatewayProcess]:
        """The processes ``spec``'s supervisor runs right now."""
        if spec.kind == "supervisord":
            # One RPC instead of a host-wide scan: the stop request leaves sooner, and the
            # supervisor's answer covers a gateway whose title we would not recognise.
            with contextlib.suppress(ResponderError, SupervisorFault, psutil.Error):
                info = SupervisorClient(spec.options, 5.0).process_info(spec.name)
                if info and info.get("pid"):
                    proc = psutil.Process(int(info["pid"]))
                    return [GatewayProcess(proc, ["supervisord getProcessInfo"])]
            return []
        found: dict[int, GatewayProcess] = {}
        for gateway in scan_titles(None, self.footprint):
            manager = manager_of(gateway.process, self.footprint)
            if manager is not None and _same_service(manager, spec):
                found[gateway.pid] = gateway
        return list(found.values())

    # -- state-changing -----------------------------------------------------------------------

    def execute(self, target: str) -> Outcome:
        started = time.monotonic()
        if self._config_error is not None:
            raise self._config_error
        spec = self._spec(target)
        if spec is None:
            return self._nothing_found(target)
        inert = _inert_unit(spec)
        if inert is not None:
            return inert
        port = spec.port(self.agent.gateway_port)
        before = self._processes_of(spec)
        if not before and spec.kind in ("pidfile", "process"):
            # Nothing to signal and no supervisor to tell: say so now, not after the re-check.
            return _nothing_running(spec, self.footprint)
        tree = _with_descendants(g.process for g in before)
        watch = respawn_watch(before, since=time.time())
        sent: list[dict[str, Any]] = []
        facts: dict[str, Any] = {
            "found": spec.describe(),
            "processes_before": [g.describe() for g in before],
        }
        if self._discover().stale_locks:
            # A lock whose pid is gone: a crash or SIGKILL; worth a line in the report.
            facts["stale_lock_files"] = self._discover().stale_locks
        error = None
        # Measured here because the panic button promises the first stop request within 0.25 s
        # of process start; bench/ reads it back.
        facts["stop_sent_after_s"] = round(time.monotonic() - started, 4)
        stopped_program: dict[str, Any] | None = None
        try:
            if spec.kind == "supervisord":
                stopped_program = self._stop_supervisord(spec, sent, port)
            elif spec.kind in ("pidfile", "process"):
                signals = terminate(
                    [g.process for g in before], self.params.term_timeout, self.params.kill_timeout
                )
                sent.append({"signals": signals})
            else:
                self._run_stop_commands(spec, sent)
        except (_StopFailed, MissingBinary, ResponderError) as exc:
            error = str(exc)
        leftovers = [p for p in tree if _alive(p)]
        if leftovers:
            sent.append(
                {
                    "leftovers": terminate(
                        leftovers, self.params.term_timeout, self.params.kill_timeout
                    )
                }
            )
        facts["commands"] = sent
        not_final = None
        if stopped_program is not None:
            facts["persistence"], not_final = self._keep_program_off(spec, stopped_program)
        proof = self._prove(spec, before, port, watch)
        facts["proof"] = proof
        facts["duration_s"] = round(time.monotonic() - started, 3)
        if error is not None:
            return Failed(
                error=error, detail=f"stopping {spec.kind} {spec.name} failed", facts=facts
            )
        if proof["pids_after"] or proof["port_open_after"]:
            return Failed(
                error=self._respawn_advice(spec, proof, port),
                detail=f"{spec.kind} {spec.name} is still up",
                facts=facts,
            )
        if not_final is not None:
            return ManualRequired(
                instructions=not_final,
                detail=f"supervisord {spec.name} is stopped now, but not for good",
                facts=facts,
            )
        # Nothing running was said above (_nothing_running); here something was stopped, or a
        # retry found the program already removed from supervisord with nothing left alive.
        verb = "stopped"
        if stopped_program is not None and stopped_program.get("already_removed"):
            verb = "found already removed"
        self._stopped[target] = (spec, tuple(before), port, watch, time.monotonic())
        return Done(
            detail=f"{verb} {spec.kind} {spec.name}; no gateway process and port {port} closed; "
            "watched for a respawn beside the next steps",
            facts=facts,
        )

    def _nothing_found(self, target: str) -> Outcome:
        found, _ = find_gateway_processes(self.agent)
        port = self.agent.gateway_port
        listeners = [
            _describe_listener(p) for p in port_listeners(port) if isinstance(p, psutil.Process)
        ]
        facts = {
            "found": None,
            "processes": [g.describe() for g in found],
            "port": port,
            "port_listeners": listeners,
        }
        if found:
            return Failed(
                error=f"unknown service {target!r}: gateway processes are up "
                f"({facts['processes']}) but were not found as a service. Looked for "
                f"{self.footprint.looked_for}; {services_howto(self.footprint)}",
                facts=facts,
            )
        if listeners:
            return Failed(
                error=f"port {port} is held by {listeners}, which does not look like the "
                f"{self.footprint.product} gateway, so it was left alone. If it is the gateway, "
                f"{services_howto(self.footprint)}; if not, fix agent.gateway_port",
                facts=facts,
            )
        return ManualRequired(
            detail="nothing was stopped: no running gateway found",
            instructions=(
                f"clawback found no running {self.footprint.product} gateway (looked for "
                f"{self.footprint.looked_for}), so it stopped nothing. Nothing found is not all "
                f"clear: if the agent runs as another user, give its home (clawback contain "
                f"--home DIR, or [agent] user_home in clawback.toml); if it runs under another "
                f"name, {services_howto(self.footprint)}; then run contain again. Otherwise make "
                f"sure it is down (ps -ef | grep -i {self.footprint.command})."
            ),
            facts=facts,
        )

    def _run_stop_commands(self, spec: ServiceSpec, sent: list[dict[str, Any]]) -> None:
        previous: CommandResult | None = None
        for command in stop_commands(
            spec, own_uid=os.geteuid(), term_timeout=self.params.term_timeout
        ):
            argv = command.argv
            if command.append_previous_stdout:
                ids = previous.stdout.split() if previous is not None else []
                if not ids:
                    continue
                argv = (*argv, *ids)
            result = run_command(
                argv, timeout=self.params.term_timeout + self.params.kill_timeout + _RPC_SLACK_S
            )
            record = {**result.record(), "purpose": command.purpose}
            sent.append(record)
            previous = result
            if result.exit_code in command.ok_exit_codes or not command.required:
                continue
            raise _StopFailed(self._command_advice(spec, result))

    def _command_advice(self, spec: ServiceSpec, result: CommandResult) -> str:
        what = f"`{result.command_line}` exited {result.exit_code}"
        if result.timed_out:
            what = f"`{result.command_line}` timed out"
        tail = result.stderr_tail()
        hint = ""
        if spec.kind.startswith("systemd") and result.exit_code in (1, 5):
            hint = (
                f" — is {spec.name} the right unit? `systemctl list-units "
                f"'{self.footprint.command}*'` lists them; {services_howto(self.footprint)}"
            )
        return f"{what}: {tail}{hint}" if tail else f"{what}{hint}"

    def _stop_supervisord(
        self, spec: ServiceSpec, sent: list[dict[str, Any]], port: int
    ) -> dict[str, Any]:
        """Stop and remove the program's group; returns its process info from before (for a
        program already removed, its name and group), for ``_keep_program_off``."""
        client = SupervisorClient(
            spec.options, self.params.term_timeout + self.params.kill_timeout + _RPC_SLACK_S
        )
        info = client.process_info(spec.name)
        if info is None:
            return self._already_removed(spec, client, sent, port)
        group = str(info["group"])
        for method, args in (("stopProcessGroup", [group, False]), ("removeProcessGroup", [group])):
            call: dict[str, Any] = {"rpc": f"supervisor.{method}", "args": args}
            call["server"] = client.where
            try:
                if method == "stopProcessGroup":
                    call["result"] = rpc_result(client.stop_group(group))
                    # Polled, not slept: removeProcessGroup refuses a group still running.
                    started = time.monotonic()
                    call["state_after"] = wait_until_stopped(
                        client, spec.name, self.params.term_timeout + self.params.kill_timeout
                    )
                    call["waited_s"] = round(time.monotonic() - started, 3)
                else:
                    call["result"] = client.remove_group(group)
            # A fault (NOT_RUNNING) or a stop slower than our timeout is recorded, not fatal:
            # leftovers are killed next and the proof decides.
            except (SupervisorFault, SupervisorUnreachable) as exc:
                call["error"] = str(exc)
            sent.append(call)
        return info

    def _keep_program_off(
        self, spec: ServiceSpec, info: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str | None]:
        """Make the stop survive ``supervisorctl update``, a supervisord restart and a reboot
        (``supervisord_config.keep_program_off``), each file backed up into the incident first.

        Returns (facts, None) when that holds, else (facts, instructions for the operator)."""
        from responders.hostprobes import supervisord_config as sc

        name, group = str(info.get("name") or spec.name), str(info.get("group") or spec.name)
        note = f"clawback incident {self.context.incident_id or '(no id)'}: kept off"
        with _supervisor_config_lock:
            return sc.keep_program_off(
                self._supervisor_config_path(spec), name, group,
                rewrite=lambda part: self._rewrite_config(part, note),
                where_to_name_it="[[agent.services]]",
            )

    def _rewrite_config(self, part: ProgramSection,
                        note: str) -> tuple[bool, dict[str, Any] | None]:
        """``autostart=false`` into one file's section; (changed, backup fact)."""
        from responders.agent_files import MAX_EDITABLE_BYTES, AgentFiles
        from responders.backups import BackupStore
        from responders.host.root_files import replace_file
        from responders.hostprobes import supervisord_config as sc

        path = Path(part.file)
        # A supervisord run by the agent keeps its config in the agent's tree: read and written
        # there without following links; root's own config is root's.
        files = AgentFiles.for_settings(self.context.settings)
        inside = files.inside(path)
        if inside:
            read = files.read(path, MAX_EDITABLE_BYTES)
            if not read.complete:
                raise ResponderError(f"{path} is {read.size} bytes: too big to edit")
            data = read.data
        else:
            data = path.read_bytes()
        text = data.decode("utf-8", errors="surrogateescape")
        result = sc.with_autostart_off(text, part.section, note)
        if result == text:
            return False, None
        backup = BackupStore(self.context.incident_dir).keep(path, data)
        new = result.encode("utf-8", errors="surrogateescape")
        if inside:
            files.replace(path, new, expect=read.stat, secret=False)
        else:
            replace_file(path, new)
        return True, backup.fact()

    def _supervisor_config_path(self, spec: ServiceSpec) -> str | None:
        """The main config file of the supervisord that runs ``spec``: as configured, as its
        command line says, or where supervisord itself would look from its working dir."""
        from responders.hostprobes import supervisord_config as sc

        configured = spec.options.get("supervisor_config")
        if configured:
            return os.path.abspath(str(configured))

        pid = spec.options.get("supervisord_pid") or _unix_socket_owner(
            str(spec.options.get("socket") or "")
        )
        if not pid:
            return None  # never a guess: the file edited must be that supervisord's own
        try:
            supervisord = psutil.Process(int(pid))
            cwd, cmdline = supervisord.cwd(), supervisord.cmdline()
        except psutil.Error:
            return None
        named = cmdline_option(cmdline, "-c", "--configuration")
        return os.path.join(cwd, named) if named else sc.find_main_config(cwd)

    def _already_removed(
        self, spec: ServiceSpec, client: SupervisorClient, sent: list[dict[str, Any]], port: int
    ) -> dict[str, Any]:
        """A program supervisord no longer has is stopped already, when nothing of the gateway
        is left: a retried stop (its first answer lost to a timeout) finds it so. Anything still
        alive means the name is wrong, and the operator is told to fix it."""
        programs = ", ".join(client.program_names()) or "none"
        left = [
            f"pid {proc.pid} (lock file {lock.path})"
            for lock in read_lock_files(self.agent.tmp_dirs, self.agent.uid, self.footprint)
            if (proc := process_of_pid_file(lock)) is not None
        ]
        left += [
            f"pid {p.pid if isinstance(p, psutil.Process) else '?'} (listening on port {port})"
            for p in port_listeners(port)
        ]
        if left:
            raise _StopFailed(
                f"supervisord at {client.where} has no program {spec.name!r} (it has: "
                f"{programs}), yet the gateway is up: {'; '.join(left)}. Fix the program's "
                "name in [[agent.services]]"
            )
        sent.append(
            {
                "rpc": "supervisor.getProcessInfo",
                "args": [spec.name],
                "server": client.where,
                "result": "already removed",
                "programs": programs,
                "detail": f"already removed from supervisord: {client.where} has no program "
                f"{spec.name!r} (it has: {programs}), no gateway lock file names a live process "
                f"and nothing listens on port {port}",
            }
        )
        # Its config file may still start it at the next reload: _keep_program_off sees to it
        # (a first attempt whose answer was lost may have done so already; it is idempotent).
        group, _, name = spec.name.rpartition(":")
        return {"name": name, "group": group or name, "already_removed": True}

    # -- proof --------------------------------------------------------------------------------

    def _prove(
        self,
        spec: ServiceSpec,
        before: Sequence[GatewayProcess],
        port: int,
        watch: RespawnWatch,
        *,
        after_s: float = 0.0,
    ) -> dict[str, Any]:
        state = self._still_up(spec, before, port, watch)
        return {
            "pids_before": sorted(g.pid for g in before),
            "pids_after": state["pids"],
            "port": port,
            "port_open_after": state["port_open"],
            "listeners_after": state["listeners"],
            "supervisor_state_after": state.get("supervisor_state"),
            "rechecked_after_s": round(after_s, 3),
        }

    def recheck(self, target: str, closing: threading.Event) -> Outcome | None:
        """Poll for a respawn beside the next steps, from the stop until the incident closes,
        and for at least the floor ``recheck_window`` sets from what proved the stop final; a
        gateway coming back fails the stop at once.

        The floor is decided on the first look and confirmed on the last: a supervisor whose
        state no longer proves the stop final by then (a reload re-added the program, the unit
        was unmasked) lengthens it to the process table's, never the other way round."""
        stopped = self._stopped.get(target)
        if stopped is None:
            return None
        spec, before, port, watch, stopped_at = stopped
        checks = 0
        window: tuple[float, str] | None = None
        while True:
            elapsed = time.monotonic() - stopped_at
            proof = self._prove(spec, before, port, watch, after_s=elapsed)
            checks += 1
            if proof["pids_after"] or proof["port_open_after"]:
                return Failed(
                    error=self._respawn_advice(spec, proof, port),
                    detail=f"{spec.kind} {spec.name} came back {elapsed:.1f} s after the stop",
                    facts={"proof": proof, "checks": checks, **_window_facts(window)},
                )
            ending = window is not None and elapsed >= window[0] and closing.is_set()
            if window is None or ending:
                # Decided on the first look; on the last, the supervisor must still say what
                # it said, or the floor grows and the watch goes on.
                now = self._recheck_window(spec, proof)
                if window is None or now[0] > window[0]:
                    window = now
                    ending = elapsed >= window[0] and closing.is_set()
                if ending:
                    break
            if elapsed < window[0]:
                time.sleep(min(_RECHECK_POLL_S, window[0] - elapsed))
            else:
                closing.wait(_RECHECK_POLL_S)
        return Done(
            detail=f"{spec.kind} {spec.name} stayed down: no gateway process and port {port} "
            f"closed for {elapsed:.1f} s after the stop ({checks} checks; at least "
            f"{window[0]:g} s because {window[1]})",
            facts={"proof": proof, "checks": checks, **_window_facts(window)},
        )

    def _recheck_window(self, spec: ServiceSpec, proof: Mapping[str, Any]) -> tuple[float, str]:
        override = self.params.recheck_seconds
        said = None if override is not None else self._supervisor_proof(spec, proof)
        return recheck_window(spec.kind, said, override)

    def _supervisor_proof(self, spec: ServiceSpec, proof: Mapping[str, Any]) -> str | None:
        """What the supervisor's own state says that makes a restart impossible, or None when
        only the process table speaks for the stop."""
        if proof["pids_after"] or proof["port_open_after"]:
            return None
        if spec.kind == "supervisord":
            if proof.get("supervisor_state_after") != "removed":
                return None
            return (
                f"supervisord no longer has {spec.name!r} in its running config and nothing "
                "matching is alive"
            )
        if spec.kind in ("systemd", "systemd-user"):
            state = self._systemd_state(spec)
            active = state.get("ActiveState")
            if state.get("LoadState") == "masked" and active in ("inactive", "failed"):
                return f"systemd reports {spec.name} masked and {active}"
        return None

    def _systemd_state(self, spec: ServiceSpec) -> dict[str, str]:
        try:
            argv = (
                *_systemctl_prefix(spec, os.geteuid()),
                "show",
                "--property=LoadState,ActiveState",
                "--",
                spec.name,
            )
            result = run_command(argv, timeout=_RPC_SLACK_S)
        except (MissingBinary, ResponderError):
            return {}
        if result.exit_code != 0:
            return {}
        key_values = (line.partition("=") for line in result.stdout.splitlines())
        return {key: value.strip() for key, _, value in key_values if key}

    def _still_up(
        self,
        spec: ServiceSpec,
        before: Sequence[GatewayProcess],
        port: int,
        watch: RespawnWatch,
    ) -> dict[str, Any]:
        pids = {g.pid for g in before if _alive(g.process)}
        pids |= {g.pid for g in self._processes_of(spec, fresh=True)}
        pids |= {p.pid for p in respawned_children(watch)}
        out: dict[str, Any] = {}
        if spec.kind == "supervisord":
            with contextlib.suppress(SupervisorFault, ResponderError):
                info = SupervisorClient(spec.options, 5.0).process_info(spec.name)
                out["supervisor_state"] = info["statename"] if info else "removed"
        listeners = port_listeners(port)
        # Browser control (+2) and its relay (+3) listen in the gateway's own process; one of
        # them still open under a gateway-like process means part of it survived.
        listeners += [
            p for side in SIDE_PORT_OFFSETS for p in port_listeners(port + side)
            if isinstance(p, psutil.Process) and _gateway_like(p, self.agent)
        ]
        out.update(
            pids=sorted(pids),
            port_open=bool(listeners),
            listeners=[p.pid if isinstance(p, psutil.Process) else p for p in listeners],
        )
        return out

    def _respawn_advice(self, spec: ServiceSpec, proof: Mapping[str, Any], port: int) -> str:
        parts = []
        new = sorted(set(proof["pids_after"]) - set(proof["pids_before"]))
        if new:
            managers = []
            for pid in new:
                with contextlib.suppress(psutil.Error):
                    manager = manager_of(psutil.Process(pid), self.footprint)
                    if manager is not None:
                        managers.append(f"{manager.kind} {manager.name}")
            parts.append(
                f"it came back as pid {', '.join(map(str, new))}"
                + (f" under {', '.join(managers)}" if managers else "")
                + f"; stop it through that supervisor: {services_howto(self.footprint)}"
            )
        elif proof["pids_after"]:
            parts.append(f"pid {', '.join(map(str, proof['pids_after']))} survived TERM and KILL")
        if proof["port_open_after"]:
            parts.append(
                f"port {port} still has a listener (pid {proof['listeners_after']}); see "
                f"`ss -ltnp 'sport = :{port}'`"
            )
        return "the gateway is not down: " + "; ".join(parts)


def _nothing_running(spec: ServiceSpec, footprint: AgentFootprint,
                     facts: Mapping[str, Any] | None = None) -> Outcome:
    """A pid file or process title with no live process behind it: nothing was stopped, and
    nothing keeps a gateway started later from running."""
    return ManualRequired(
        detail=f"nothing was stopped: no live {spec.kind} {spec.name}",
        instructions=(
            f"clawback found no live gateway process for {spec.kind} {spec.name}, so it stopped "
            f"nothing. Nothing found is not all clear: if the agent runs as another user or "
            f"under another name, point clawback at it (clawback contain --home DIR, or "
            f"[agent] user_home and [[agent.services]] in clawback.toml); otherwise make sure "
            f"it is down and cannot start again (ps -ef | grep -i {footprint.command})."
        ),
        facts=dict(facts or {"found": spec.describe()}),
    )


def _systemd_booted() -> bool:
    """sd_booted(): systemd is PID 1 exactly when this directory exists."""
    return os.path.isdir(SYSTEMD_RUNTIME_DIR)


def _user_manager_running(user: str) -> bool:
    uid = _uid_of(user)
    return uid is not None and os.path.exists(f"/run/user/{uid}/systemd/private")


def _inert_unit(spec: ServiceSpec) -> Outcome | None:
    """A unit file no systemd can act on: say so instead of failing the stop.

    ``openclaw gateway install`` leaves ``~/.config/systemd/user/openclaw-gateway.service`` even
    where the gateway then runs under something else, and a container or a host without
    systemd keeps such files around. With no systemd running nothing starts from them, so
    there is nothing to stop there; the gateway itself is stopped (and proved down) through
    whatever really runs it, which discovery lists as its own target.
    """
    if spec.kind not in ("systemd", "systemd-user"):
        return None
    where = spec.found_by if spec.found_by.startswith("/") else f"{spec.kind} {spec.name}"
    facts = {"found": spec.describe()}
    if not _systemd_booted():
        return Skipped(
            reason=f"no systemd runs on this host ({SYSTEMD_RUNTIME_DIR} is missing), so "
            f"nothing runs {spec.name} and there is nothing to stop through it; the unit "
            f"file {where} is inert here. A gateway that runs is stopped through what "
            "really runs it (its own target). Delete the unit if this home moves to a host "
            "with systemd: it would start the gateway there",
            facts={**facts, "systemd": "not running"},
        )
    user = spec.options.get("user")
    if spec.kind == "systemd-user" and user and not _user_manager_running(str(user)):
        return ManualRequired(
            instructions=f"{user}'s systemd user manager is not running, so {spec.name} "
            f"could not be disabled; it would start the gateway at {user}'s next login. "
            f"Before that login, delete or rename {where} (or, logged in as {user}: "
            f"`systemctl --user disable --now {spec.name}`)",
            detail=f"{spec.name} is not running now (no user manager)",
            facts={**facts, "systemd": "running", "user_manager": "not running"},
        )
    return None


def _outcome_text(outcome: Outcome) -> str:
    if isinstance(outcome, Skipped):
        return outcome.reason
    if isinstance(outcome, ManualRequired):
        return outcome.instructions
    return outcome.detail


def _describe_listener(proc: psutil.Process) -> dict[str, Any]:
    try:
        return {"pid": proc.pid, "name": proc.name()}
    except psutil.Error:
        return {"pid": proc.pid}


def _same_service(found: ServiceSpec, spec: ServiceSpec) -> bool:
    return same_service(
        {"kind": found.kind, "name": found.name, "options": found.options},
        {"kind": spec.kind, "name": spec.name, "options": spec.options},
    )


