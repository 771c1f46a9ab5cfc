"""The whole panic button, as root, against hostile homes: the real ``clawback`` commands.

Each case poisons the agent's home the way a compromised agent would (planted links to root's
canaries, FIFOs, ``/dev/zero``, sparse multi-GB logs, a 200 MB config, names with terminal
escapes or bytes that are not UTF-8), or races clawback (an inotify watcher, running as the
agent, swaps a file for a link or a FIFO right after clawback read it). Then ``contain`` runs
against a gateway stand-in owned by the agent, and ``discover``, ``contain --dry-run``,
``audit`` and ``verify`` run too. After each:

* the agent is stopped (the panic path works whatever discovery meets);
* no canary, and nothing else outside the agent's tree, was written or deleted;
* every command finished within its (generous) bound: a hang fails, it is never waited out;
* no control character the agent planted reached any output a person reads;
* the outcomes are honest: a token is never "Rotated" while a config place of it was left
  unchecked, a config that could not be read is never "locked down";
* the incident verifies.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawback.timeline import read_entries
from tests.hostile.conftest import AGENT_PYTHON, HostileHome, Racer

BOUND_S = 300  # per command, far above what any of them needs on a loaded machine

GATEWAY = r"""
import os, signal, socket, sys, time
port = int(sys.argv[1])
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port)); listener.listen()
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
print("listening", flush=True)
while True:
    time.sleep(1)
"""

ESCAPES = "\x1b]0;owned\x07\x1b[2J\r\u202e"


def _unsafe(text: str) -> list[str]:
    """Characters that would act on a terminal (line breaks between lines excepted)."""
    return sorted({c for line in text.split("\n") for c in line
                   if not (c.isprintable() or c == " ")})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Host:
    """A hostile home with its gateway running as the agent, and clawback's config for it."""

    home: HostileHome
    gateway: subprocess.Popen[str]
    config: Path
    work: Path

    def clawback(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
               "XDG_DATA_HOME": str(self.work / "data"), "NO_COLOR": "1"}
        try:
            return subprocess.run(
                [sys.executable, "-m", "clawback", *args], capture_output=True, text=True,
                timeout=BOUND_S, env=env, stdin=subprocess.DEVNULL, errors="surrogateescape",
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"clawback {' '.join(args)} ran past {BOUND_S} s")

    def contain(self) -> subprocess.CompletedProcess[str]:
        return self.clawback("contain", "--config", str(self.config), "--yes",
                             "--incidents-dir", str(self.home.incidents))

    def incident(self) -> Path:
        (found,) = [p for p in self.home.incidents.iterdir() if p.is_dir()]
        return found


@pytest.fixture
def host(hostile: HostileHome) -> Iterator[Host]:
    work = hostile.box / "clawback"
    work.mkdir(mode=0o700)
    port = _free_port()
    gateway = subprocess.Popen([AGENT_PYTHON, "-I", "-S", "-c", GATEWAY, str(port)],
                               stdout=subprocess.PIPE, text=True, **hostile.agent.popen_args())
    assert gateway.stdout is not None and gateway.stdout.readline().strip() == "listening"
    pidfile = work / "gateway.pid"  # root's own record of the gateway, outside the agent's tree
    pidfile.write_text(f"{gateway.pid}\n")
    settings = {**hostile.agent_settings(), "state_dirs": [str(hostile.state)],
                "gateway_port": port}
    lines = ["[agent]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    lines += ["[[agent.services]]", 'kind = "pidfile"', 'name = "openclaw-gateway"',
              f"pidfile = {json.dumps(str(pidfile))}"]
    config = work / "clawback.toml"
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)
    try:
        yield Host(hostile, gateway, config, work)
    finally:
        if gateway.poll() is None:
            gateway.kill()
        gateway.wait(timeout=30)


# --------------------------------------------------------------------------------------------
# What a compromised agent plants
# --------------------------------------------------------------------------------------------


def _link(home: HostileHome, path: Path, canary: Path | str) -> None:
    if path.is_dir() and not path.is_symlink():
        os.rename(path, path.with_name(path.name + ".moved"))
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(canary)
    os.lchown(path, home.agent.uid, home.agent.gid)


def planted_links(home: HostileHome) -> None:
    state = home.state
    for path in (state / ".env", state / "openclaw.json.bak",
                 home.home / ".config" / "systemd" / "user" / "openclaw-gateway.service"):
        _link(home, path, home.canary_copy(path))
    _link(home, home.home / ".aws" / "credentials", home.canary_copy(
        home.home / ".aws" / "credentials", "root-aws-credentials"))
    account = state / "credentials" / "whatsapp" / "default"
    _link(home, account, home.canary_dir(account, "canary-whatsapp"))
    _link(home, state / "logs" / "gateway.log", "/etc/shadow-canary-not-real")
    _link(home, home.tmp / "openclaw" / "openclaw-2099-01-01.log", home.canary_copy(
        state / "openclaw.json", "canary-log"))


def planted_config_link(home: HostileHome) -> None:
    config = home.state / "openclaw.json"
    _link(home, config, home.canary_copy(config))


def fifos_and_devices(home: HostileHome) -> None:
    state = home.state
    for path in (state / "openclaw.json.bak", state / "logs" / "gateway.err.log",
                 home.tmp / f"openclaw-{home.agent.uid}" / "gateway.deadbeef.lock",
                 home.tmp / "openclaw" / "openclaw-2099-01-02.log"):
        if path.exists():
            path.unlink()
        os.mkfifo(path)
        os.chown(path, home.agent.uid, home.agent.gid)
    _link(home, state / "exec-approvals.json", "/dev/zero")
    _link(home, home.home / ".bash_history", "/dev/zero")


def hostile_names(home: HostileHome) -> None:
    token = "ghp_" + "N7kq" * 12
    for directory in (home.tmp / "openclaw", home.state / "logs"):
        raw = os.fsencode(directory) + b"/openclaw-\xff\xfe" + ESCAPES.encode() + b".log"
        with open(raw, "wb") as out:
            out.write(f"leaked {token}\n".encode())
        os.chown(raw, home.agent.uid, home.agent.gid)
    odd = home.state / "agents" / f"main{ESCAPES}\nFORGED ✔ all keys revoked"
    odd.mkdir()
    home.give_to_agent(odd)


def sparse_logs(home: HostileHome) -> None:
    for day in range(1, 13):
        path = home.tmp / "openclaw" / f"openclaw-2099-04-{day:02d}.log"
        with open(path, "wb") as out:
            out.truncate(4 << 30)
            out.seek((4 << 30) - 64)
            out.write(b"tail\n")
        os.chown(path, home.agent.uid, home.agent.gid)


def huge_config(home: HostileHome) -> None:
    with open(home.state / "openclaw.json", "r+b") as out:
        out.truncate(200 << 20)


POISONS: dict[str, Callable[[HostileHome], None]] = {
    "planted-links": planted_links,
    "config-link": planted_config_link,
    "fifos-and-devices": fifos_and_devices,
    "hostile-names": hostile_names,
    "sparse-logs": sparse_logs,
    "200MB-config": huge_config,
}
# Poisons that leave a config place of the gateway token unchecked: no "Rotated" then, and
# for a config that cannot be read, no "locked down".
UNCHECKED = {"planted-links", "config-link", "200MB-config", "fifos-and-devices"}
CONFIG_UNREADABLE = {"config-link", "200MB-config"}


def _results(incident: Path) -> dict[str, list[tuple[str, str]]]:
    """(outcome, detail) of every result entry, by action."""
    found: dict[str, list[tuple[str, str]]] = {}
    for entry in read_entries(incident / "timeline.jsonl"):
        if entry.phase == "result":
            found.setdefault(entry.action, []).append(
                (str(entry.fields["outcome"]), str(entry.fields["detail"])))
    return found


def _gateway_token_outcomes(incident: Path, home: HostileHome) -> list[str]:
    """Revoke and rotate outcomes of the live gateway token (the one in the state dir's
    ``.env`` or ``openclaw.json``; older tokens left in backups are other credentials)."""
    places = (f"{home.state / '.env'}:", f"{home.state / 'openclaw.json'}:")
    return [
        str(e.fields["outcome"]) for e in read_entries(incident / "timeline.jsonl")
        if e.phase == "result" and e.action in ("revoke", "rotate")
        and isinstance(e.fields["target"], dict)
        and e.fields["target"].get("kind") == "openclaw:gateway_token"
        and any(str(loc).startswith(places) for loc in e.fields["target"].get("locations", ()))
    ]


def _check_every_command(host: Host, name: str) -> None:
    home = host.home
    outputs = []
    discover = host.clawback("discover", "--home", str(home.home))
    assert discover.returncode == 0, discover.stderr
    dry = host.clawback("contain", "--config", str(host.config), "--dry-run")
    assert dry.returncode in (0, 3), dry.stderr
    audit = host.clawback("audit", "--home", str(home.home))
    assert "Traceback" not in audit.stderr and "internal error" not in audit.stderr, audit.stderr
    outputs += [discover, dry, audit]

    run = host.contain()
    assert run.returncode in (0, 3), run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    # The panic path works whatever discovery met: the agent is down.
    assert host.gateway.wait(timeout=BOUND_S) is not None
    incident = host.incident()
    verify = host.clawback("verify", str(incident))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    outputs += [run, verify]

    home.assert_untouched()
    for output in outputs:
        text = output.stdout + output.stderr
        assert not _unsafe(text), (output.args, _unsafe(text))
        assert not any(line.startswith("FORGED") for line in text.splitlines())
    if name in UNCHECKED:
        outcomes = _gateway_token_outcomes(incident, home)
        assert outcomes and "Rotated" not in outcomes, outcomes
    if name in CONFIG_UNREADABLE:
        (lockdown,) = _results(incident)["openclaw.lockdown"]
        assert lockdown[0] == "Failed", lockdown
    # Resuming the incident meets the same home: it must not crash on it either.
    resumed = host.clawback("contain", "--config", str(host.config), "--yes",
                            "--incidents-dir", str(home.incidents), "--resume", incident.name)
    assert resumed.returncode in (0, 3), resumed.stdout + resumed.stderr
    assert not _unsafe(resumed.stdout + resumed.stderr)
    assert host.clawback("verify", str(incident)).returncode == 0


@pytest.mark.parametrize("name", sorted(POISONS))
def test_contain_on_a_hostile_home(host: Host, name: str) -> None:
    POISONS[name](host.home)
    host.home.seal_outside()
    _check_every_command(host, name)


RACES = {
    # (directory, file name to watch, kind, replacement): swapped right after its first read.
    "env-becomes-a-link": (lambda h: h.state, ".env", "link", "canary"),
    "config-becomes-a-fifo": (lambda h: h.state, "openclaw.json", "fifo", ""),
    "unit-becomes-a-link": (
        lambda h: h.home / ".config" / "systemd" / "user", "openclaw-gateway.service", "link",
        "canary"),
    "whatsapp-dir-becomes-a-link": (
        lambda h: h.state / "credentials" / "whatsapp", "default", "dirlink", "canary-dir"),
}


@pytest.mark.parametrize("name", sorted(RACES))
def test_contain_while_the_agent_races_it(host: Host, racers: list[Racer], name: str) -> None:
    where, entry, kind, replacement = RACES[name]
    directory = where(host.home)
    if replacement == "canary":
        replacement = str(host.home.canary_copy(directory / entry))
    elif replacement == "canary-dir":
        replacement = str(host.home.canary_dir(directory / entry))
    host.home.seal_outside()
    racer = Racer(host.home, directory, entry, kind, replacement)
    racers.append(racer)
    run = host.contain()
    assert run.returncode in (0, 3), run.stdout + run.stderr
    assert host.gateway.wait(timeout=BOUND_S) is not None
    assert racer.swapped(timeout=5), "the race never happened: clawback never read the file"
    host.home.assert_untouched()
    assert not _unsafe(run.stdout + run.stderr)
    verify = host.clawback("verify", str(host.incident()))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    if name != "whatsapp-dir-becomes-a-link":
        outcomes = _gateway_token_outcomes(host.incident(), host.home)
        assert outcomes and "Rotated" not in outcomes, outcomes


def test_the_stand_in_is_really_the_agents(host: Host) -> None:
    """The fixture is what it claims: the gateway runs as the agent."""
    import psutil

    assert psutil.Process(host.gateway.pid).uids().real == host.home.agent.uid
