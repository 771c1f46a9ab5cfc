"""How the agent's gateway shows on a host: its process titles, unit names, lock files, and
the supervisor that would start it again.

Standard library only (see the package docstring). Everything here reads plain values (a
process name and argv, a cgroup file's text, a supervisord's environment) so that the local
actions (psutil) and the fleet agent (its own /proc reader) decide the same way from the same
facts. Which agent it is, its names and titles, comes in an ``AgentFootprint`` (the agent
keeper's, or for the fleet agent the one its controller sent): nothing here names it.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from responders.agent_files import AgentFiles
from responders.interface import AgentFootprint

SYSTEM_UNIT_DIRS: tuple[str, ...] = (
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
JS_RUNTIMES: tuple[str, ...] = ("node", "nodejs", "bun", "deno")
# The kernel keeps 15 bytes of a process title (TASK_COMM_LEN - 1).
KERNEL_COMM_BYTES = 15
# A pid file written at most this long before its process started still names it (clocks of
# file systems and /proc/stat's boot time disagree by a little).
PIDFILE_CLOCK_SLACK_S = 2.0
# A pid file or lock is a few dozen bytes; the agent may plant gigabytes (or a FIFO) there.
MAX_PID_FILE_BYTES = 64 * 1024
_DOCKER_CGROUP = re.compile(r"(?:docker[-/]|/containers?/)([0-9a-f]{64})")
_SERVICE_CGROUP = re.compile(r"/([^/]+\.service)(?:/|$)")
_USER_MANAGER_CGROUP = re.compile(r"/user@(\d+)\.service/")


def gateway_signature(name: str, cmdline: Sequence[str], footprint: AgentFootprint) -> str | None:
    """Why this looks like the agent's gateway, or None.

    The kernel keeps 15 bytes of a process title, so a longer title shows cut; a gateway
    that rewrites its cmdline to its title shows ``[title, "", ...]``. ``node
    …/<package>/dist/index.js <gateway argument>`` is the untitled form (``footprint``'s
    docstring in the agent's package names the versions).
    """
    for title in footprint.gateway_titles:
        if name == title or (len(name) == KERNEL_COMM_BYTES and title.startswith(name)):
            return "process title"
        if cmdline and os.path.basename(cmdline[0]) == title:
            return "process title"
    for index, token in enumerate(cmdline):
        parts = re.split(r"[/\\]", token)
        if (any(p in footprint.packages for p in parts)
                and footprint.gateway_argument in cmdline[index + 1 :]):
            return "argv"
    return None


def is_wrapper(name: str, cmdline: Sequence[str], footprint: AgentFootprint) -> bool:
    """Whether a process is the agent's command-line tool (the parent that started a gateway
    and waits for it): titled as a package, or running one of its entry scripts."""
    first = os.path.basename(cmdline[0]) if cmdline else ""
    return name in footprint.packages or first in footprint.packages or any(
        os.path.basename(part) in footprint.wrapper_scripts for part in cmdline[:3]
    )


def is_gateway_unit(unit: str, footprint: AgentFootprint) -> bool:
    """Whether a systemd unit file name is one the agent installs for its gateway."""
    return re.match(footprint.unit_pattern, unit) is not None


def could_be_gateway(name: str, uid: int | None, agent_uid: int | None) -> bool:
    """Whether a listener on the gateway port may be the gateway: a JS runtime, or any process
    of the agent's own (non-root) user."""
    if os.path.basename(name) in JS_RUNTIMES:
        return True
    return agent_uid not in (None, 0) and uid == agent_uid


def is_supervisord(name: str, cmdline: Sequence[str]) -> bool:
    tokens = [os.path.basename(t) for t in cmdline[:3]]
    return name == "supervisord" or "supervisord" in tokens or "supervisor.supervisord" in tokens


def cmdline_option(cmdline: Sequence[str], *names: str) -> str | None:
    """The value of ``-c X`` / ``--configuration=X`` in an argv."""
    for index, token in enumerate(cmdline):
        for name in names:
            if token == name and index + 1 < len(cmdline):
                return cmdline[index + 1]
            if token.startswith(name + "="):
                return token.split("=", 1)[1]
    return None


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# A service as these functions name it: {"kind", "name", "options", "found_by"}, the fields of
# responders.host.service.ServiceSpec and of the fleet's [[hosts.agent.services]].
Service = dict[str, Any]


def supervisord_program(
    env: Mapping[str, str], supervisord_pid: int, supervisord_argv: Sequence[str],
    supervisord_cwd: str | None,
) -> Service | None:
    """The supervisord program a child of ``supervisord_pid`` is, from the child's environment
    (supervisord sets SUPERVISOR_PROCESS_NAME, _GROUP_NAME and _SERVER_URL for its children)."""
    options: dict[str, Any] = {"supervisord_pid": supervisord_pid}
    url = env.get("SUPERVISOR_SERVER_URL", "")
    if url.startswith("unix://"):
        options["socket"] = url[len("unix://") :]
    elif url:
        options["serverurl"] = url
    config = cmdline_option(supervisord_argv, "-c", "--configuration")
    if config:
        options["supervisor_config"] = os.path.join(supervisord_cwd or "/", config)
    name = env.get("SUPERVISOR_PROCESS_NAME")
    if not name or not (options.get("socket") or options.get("serverurl") or config):
        return None
    group = env.get("SUPERVISOR_GROUP_NAME", name)
    program = name if group == name else f"{group}:{name}"
    return {"kind": "supervisord", "name": program, "options": options,
            "found_by": f"parent supervisord {supervisord_pid}"}


def cgroup_service(cgroups: str, footprint: AgentFootprint) -> Service | None:
    """The docker container or the agent's systemd unit a process's /proc/PID/cgroup names."""
    docker = _DOCKER_CGROUP.search(cgroups)
    if docker:
        return {"kind": "docker", "name": docker.group(1)[:12], "options": {},
                "found_by": "docker cgroup"}
    for line in cgroups.splitlines():
        unit_match = _SERVICE_CGROUP.search(line)
        if not unit_match:
            continue
        unit = unit_match.group(1)
        # Only units that are clearly the agent's: a gateway started from an SSH login can sit
        # in ssh.service's cgroup, and stopping that would lock the owner out.
        if not (is_gateway_unit(unit, footprint) or footprint.command in unit):
            continue
        user_manager = _USER_MANAGER_CGROUP.search(line)
        if user_manager:
            return {"kind": "systemd-user", "name": unit,
                    "options": {"user": user_name(int(user_manager.group(1)))},
                    "found_by": "systemd --user cgroup"}
        return {"kind": "systemd", "name": unit, "options": {}, "found_by": "systemd cgroup"}
    return None


def read_cgroups(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cgroup") as handle:
            return handle.read()
    except OSError:
        return None


# -- lock and pid files -----------------------------------------------------------------------


@dataclass(frozen=True)
class LockFile:
    path: str
    pid: int | None
    created_at: float | None
    config_path: str = ""
    owner: int | None = None  # uid owning the file: who could have written the pid


def lock_dirs(tmp_dirs: Sequence[str], uid: int | None, footprint: AgentFootprint) -> list[str]:
    """The agent's lock dirs: ``<tmp>/<lock_dir_prefix><uid>/`` (every uid's when the uid is
    unknown)."""
    dirs: list[str] = []
    prefix = glob.escape(footprint.lock_dir_prefix)
    for tmp in tmp_dirs:
        pattern = f"{prefix}{uid}" if uid is not None else f"{prefix}*"
        dirs.extend(sorted(glob.glob(os.path.join(glob.escape(tmp), pattern))))
    return list(dict.fromkeys(dirs))


def read_lock_files(tmp_dirs: Sequence[str], uid: int | None,
                    footprint: AgentFootprint) -> list[LockFile]:
    locks = []
    for directory in lock_dirs(tmp_dirs, uid, footprint):
        for path in sorted(glob.glob(os.path.join(glob.escape(directory), footprint.lock_pattern))):
            locks.append(read_pid_file(path))
    return locks


def read_pid_file(path: str) -> LockFile:
    """A plain pid file or a JSON lock ``{pid, createdAt, configPath}`` (the gateway's).

    The agent writes these: the file is read without following a link in its place, without
    blocking (a FIFO is no pid file) and only its first 64 KiB.
    """
    try:
        with AgentFiles([os.path.dirname(os.path.abspath(path))]) as files:
            read = files.read(path, MAX_PID_FILE_BYTES)
    except OSError:
        return LockFile(path, None, None)
    text = read.data.decode(errors="replace").strip()
    mtime, owner = read.stat.st_mtime, read.stat.st_uid
    if text.startswith("{"):
        try:
            data = json.loads(text)
            pid = int(data["pid"])
        except (ValueError, KeyError, TypeError, RecursionError):
            return LockFile(path, None, None, owner=owner)
        created = _parse_iso(data.get("createdAt")) or mtime
        return LockFile(path, pid, created, str(data.get("configPath", "")), owner=owner)
    try:
        return LockFile(path, int(text.split()[0]), mtime, owner=owner)
    except (ValueError, IndexError):
        return LockFile(path, None, None, owner=owner)


def _parse_iso(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def may_name(lock: LockFile, own_lineage: set[int]) -> bool:
    """Whether the pid a lock file holds may be acted on at all: never PID 1 or clawback
    itself, whatever the file says."""
    return lock.pid is not None and lock.pid > 1 and lock.pid not in own_lineage


def names_process(lock: LockFile, uid: int | None, started: float) -> bool:
    """Whether ``lock`` names the live process with this real uid and start time.

    Whoever owns a pid file could write any pid in it: the agent's lock naming root's sshd (or
    PID 1) must not get it killed. A file owned by root is trusted; any other names only
    processes of its owner. A process started after the file was written is a later one that
    got the pid.
    """
    if lock.owner not in (None, 0) and uid != lock.owner:
        return False
    return lock.created_at is None or started <= lock.created_at + PIDFILE_CLOCK_SLACK_S


def is_process_supervisor(pid: int, name: str, cmdline: Sequence[str]) -> bool:
    """supervisord, runit, s6, pm2, a containerd shim or a per-user systemd: respawners whose
    every new child after a stop is the gateway coming back. PID 1 is never one: all orphans
    land there."""
    if pid == 1:
        return False
    if is_supervisord(name, cmdline):
        return True
    return name in ("runsv", "s6-supervise", "systemd") or name.startswith(
        ("PM2", "containerd-shim")
    )


def same_service(found: Service, spec: Service) -> bool:
    """Whether the supervisor found running a process is the service ``spec`` names (the
    same supervisord program on the same server, the same container, the same unit)."""
    if found["kind"] != spec["kind"]:
        return False
    options, found_options = spec.get("options") or {}, found.get("options") or {}
    if spec["kind"] == "supervisord":
        where = options.get("socket") or options.get("serverurl")
        found_where = found_options.get("socket") or found_options.get("serverurl")
        same_server = (
            where is None
            or found_where is None
            or os.path.realpath(str(where)) == os.path.realpath(str(found_where))
        )
        return same_server and str(found["name"]).split(":")[0] == str(spec["name"]).split(":")[0]
    if spec["kind"] == "docker":
        return str(spec["name"]).startswith(found["name"]) or str(found["name"]).startswith(
            spec["name"]
        )
    return bool(found["name"] == spec["name"])
