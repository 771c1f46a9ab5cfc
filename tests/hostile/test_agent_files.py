"""``responders.agent_files`` as root against a tree the agent user owns and changes.

Each case plants what a compromised agent would (a link to a root-owned canary, a FIFO, a link
to ``/dev/zero``, a hard link, a file it cannot read) or swaps it in while clawback works, and
proves the canary is untouched, nothing blocked, and the refusal says what was found.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from responders.agent_files import AgentFiles, UnsafeFile
from tests.hostile.conftest import HostileHome, Racer


def files_of(hostile: HostileHome) -> AgentFiles:
    return AgentFiles.for_agent(hostile.agent_settings())


def test_the_agents_own_files_are_read_rewritten_and_deleted(hostile: HostileHome) -> None:
    env = hostile.state / ".env"
    files = files_of(hostile)
    read = files.read(env, 1 << 20)
    assert read.complete and read.data == env.read_bytes()
    os.chmod(env, 0o644)
    read = files.read(env, 1 << 20)
    files.replace(env, read.data + b"# edited\n", expect=read.stat)
    after = os.stat(env)
    assert env.read_bytes().endswith(b"# edited\n")
    # Still the agent's, and a file that holds secrets ends 0600.
    assert (after.st_uid, after.st_gid) == (hostile.agent.uid, hostile.agent.gid)
    assert after.st_mode & 0o777 == 0o600
    assert not [p for p in env.parent.iterdir() if ".clawback-" in p.name]
    files.unlink(env)
    assert not env.exists()


@pytest.mark.parametrize("where", ["file", "parent dir", "state dir"])
def test_a_planted_link_is_never_followed(hostile: HostileHome, where: str) -> None:
    env = hostile.state / ".env"
    canary = hostile.canary_copy(env)
    if where == "file":
        env.unlink()
        env.symlink_to(canary)
        path = env
    elif where == "parent dir":
        creds = hostile.state / "credentials"
        shutil_dir = hostile.canary_dir(creds)
        os.rename(creds, hostile.state / "credentials.moved")
        creds.symlink_to(shutil_dir)
        path = creds / "oauth.json"
    else:
        os.rename(hostile.state, hostile.home / ".openclaw.moved")
        hostile.state.symlink_to(hostile.canary_dir(hostile.home / ".openclaw.moved",
                                                    "canary-state"))
        path = hostile.state / ".env"
    hostile.give_to_agent(hostile.home)
    hostile.seal_outside()
    files = files_of(hostile)
    attempts = [lambda: files.read(path, 1 << 20), lambda: files.replace(path, b"owned"),
                lambda: files.unlink(path)]
    if where != "file":
        attempts.append(lambda: files.scandir(path.parent))
    for attempt in attempts:
        with pytest.raises(UnsafeFile) as caught:
            attempt()
        assert "symbolic link" in caught.value.strerror
        assert caught.value.errno == errno.ELOOP
    hostile.assert_untouched()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "socket"])
def test_what_is_not_a_regular_file_is_refused_without_blocking(
    hostile: HostileHome, kind: str
) -> None:
    config = hostile.state / "openclaw.json"
    config.unlink()
    if kind == "fifo":
        os.mkfifo(config)
    elif kind == "dev-zero":
        os.mknod(config, 0o666 | 0o020000, os.makedev(1, 5))  # a device node named like it
    else:
        import socket

        server = socket.socket(socket.AF_UNIX)
        server.bind(str(config))
        server.close()
    hostile.give_to_agent(config)
    files = files_of(hostile)
    done: list[BaseException | None] = []

    def attempt() -> None:
        try:
            files.read(config, 1 << 20)
        except BaseException as exc:  # reported to the main thread
            done.append(exc)
        else:
            done.append(None)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert done, "reading a special file blocked"
    assert isinstance(done[0], UnsafeFile)
    assert "not a regular file" in done[0].strerror
    with pytest.raises(UnsafeFile):
        files.replace(config, b"{}")


def test_a_file_the_agent_cannot_read_is_not_the_agents(hostile: HostileHome) -> None:
    # Root's own file, named by the agent (tokenFile, EnvironmentFile=...), outside its tree.
    secret = hostile.outside / "root-only.env"
    secret.write_text("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    os.chmod(secret, 0o600)
    # And a root-owned 0600 file inside the agent's home.
    inside = hostile.home / ".aws" / "root-owned"
    inside.write_text("x\n")
    os.chmod(inside, 0o600)
    files = files_of(hostile)
    for path in (secret, inside):
        with pytest.raises(UnsafeFile) as caught:
            files.read(path, 1 << 20)
        assert "cannot read it" in caught.value.strerror
    # World-readable system files stay readable.
    os.chmod(secret, 0o644)
    assert files.read(secret, 1 << 20).complete
    # ...unless a directory on the way shuts the agent out.
    os.chmod(hostile.outside, 0o700)
    with pytest.raises(UnsafeFile) as caught:
        files.read(secret, 1 << 20)
    assert "cannot reach" in caught.value.strerror
    os.chmod(hostile.outside, 0o755)


def test_nothing_outside_the_agents_tree_is_written(hostile: HostileHome) -> None:
    target = hostile.outside / "not-the-agents.json"
    target.write_text("{}")
    hostile.seal_outside()
    files = files_of(hostile)
    with pytest.raises(UnsafeFile) as caught:
        files.replace(target, b"{owned}")
    assert "outside the agent's own files" in caught.value.strerror
    with pytest.raises(UnsafeFile):
        files.unlink(target)
    hostile.assert_untouched()


def test_a_hard_link_or_a_foreign_owner_is_not_rewritten(hostile: HostileHome) -> None:
    env = hostile.state / ".env"
    alias = hostile.state / "alias"
    os.link(env, alias)
    files = files_of(hostile)
    with pytest.raises(UnsafeFile) as caught:
        files.replace(env, b"x")
    assert "hard links" in caught.value.strerror
    alias.unlink()
    other = hostile.state / "someone-elses"
    other.write_text("x")
    os.chown(other, 65534, 65534)
    with pytest.raises(UnsafeFile) as caught:
        files.replace(other, b"y")
    assert "neither the agent" in caught.value.strerror


def test_a_file_changed_since_it_was_read_is_not_overwritten(hostile: HostileHome) -> None:
    env = hostile.state / ".env"
    files = files_of(hostile)
    read = files.read(env, 1 << 20)
    replaced = hostile.run_as_agent(
        ["sh", "-c", f"printf 'NEW=1\\n' > '{env}.new' && mv '{env}.new' '{env}'"]
    )
    assert replaced.returncode == 0, replaced.stderr
    with pytest.raises(UnsafeFile) as caught:
        files.replace(env, read.data + b"edit", expect=read.stat)
    assert "changed since clawback read it" in caught.value.strerror
    assert env.read_bytes() == b"NEW=1\n"


def test_a_partial_read_says_so(hostile: HostileHome) -> None:
    log = hostile.state / "logs" / "big.log"
    with open(log, "wb") as out:
        out.truncate(64 << 20)  # sparse: 64 MiB of holes
    hostile.give_to_agent(log)
    files = files_of(hostile)
    head = files.read(log, 1 << 20)
    tail = files.read(log, 1 << 20, tail=True)
    assert (head.complete, tail.complete) == (False, False)
    assert head.size == tail.size == 64 << 20
    assert len(head.data) == len(tail.data) == 1 << 20


def test_an_admins_link_above_the_agents_root_is_followed(hostile: HostileHome) -> None:
    """``/home -> /srv/home`` made by root: the roots are reached through it; links below a
    root are still refused."""
    alias = hostile.box / "homes"
    alias.symlink_to(hostile.home.parent)
    settings = {**hostile.agent_settings(), "user_home": str(alias / hostile.home.name),
                "state_dirs": [str(alias / hostile.home.name / ".openclaw")]}
    files = AgentFiles.for_agent(settings)
    env = alias / hostile.home.name / ".openclaw" / ".env"
    assert files.read(env, 1 << 20).data == (hostile.state / ".env").read_bytes()
    # A system file reached through root's link (a unit in /etc/systemd/system) reads as the
    # file it leads to.
    unit = hostile.outside / "openclaw.service"
    unit.write_text("[Service]\n")
    os.chmod(unit, 0o644)  # a system unit, readable by all
    (hostile.outside / "enabled.service").symlink_to(unit)
    assert files.is_file(hostile.outside / "enabled.service")
    assert files.read(hostile.outside / "enabled.service", 100).data == b"[Service]\n"
    # The same link made by the agent is not followed.
    agent_alias = hostile.home / "alias"
    agent_alias.symlink_to(hostile.state)
    os.lchown(agent_alias, hostile.agent.uid, hostile.agent.gid)
    with pytest.raises(UnsafeFile):
        files_of(hostile).read(agent_alias / ".env", 1 << 20)


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_a_swap_after_the_read_cannot_redirect_the_write(
    hostile: HostileHome, racers: list[Racer], kind: str
) -> None:
    """The agent swaps ``.env`` for a link to the canary (or a FIFO) as soon as clawback has
    read it: the rewrite that follows must not land on the canary or block."""
    env = hostile.state / ".env"
    canary = hostile.canary_copy(env)
    hostile.seal_outside()
    racer = Racer(hostile, env.parent, env.name, kind, str(canary))
    racers.append(racer)
    files = files_of(hostile)
    read = files.read(env, 1 << 20)
    assert racer.swapped(), "the racer never saw clawback read the file"
    with pytest.raises(UnsafeFile):
        files.replace(env, read.data.replace(b"=", b"=x", 1), expect=read.stat)
    with pytest.raises(UnsafeFile):
        files.read(env, 1 << 20)
    hostile.assert_untouched()


def test_a_directory_swapped_for_a_link_cannot_redirect_a_delete(
    hostile: HostileHome, racers: list[Racer]
) -> None:
    account = hostile.state / "credentials" / "whatsapp" / "default"
    account.mkdir(parents=True, exist_ok=True)
    (account / "creds.json").write_text("{}")
    (account / "pre-key-1.json").write_text("{}")
    hostile.give_to_agent(hostile.state / "credentials")
    canary = hostile.canary_dir(account, "canary-whatsapp")
    hostile.seal_outside()
    racer = Racer(hostile, account.parent, account.name, "dirlink", str(canary))
    racers.append(racer)
    files = files_of(hostile)
    names = [entry.name for entry in files.scandir(account)]
    assert racer.swapped(), "the racer never saw clawback list the directory"
    for name in names:
        with pytest.raises(UnsafeFile):
            files.unlink(account / name)
    hostile.assert_untouched()
    assert Path(str(account) + ".moved").is_dir()
