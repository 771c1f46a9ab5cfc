"""Discovery as root over a hostile home: what it reads is the agent's, and nothing stops it.

A link planted by the agent is a note, never a way into root's files; a file the agent names
but could not read itself is not "the agent's secret" (so root's own admin key is never queued
for revocation); FIFOs, ``/dev/zero`` and names that are not UTF-8 neither hang nor crash it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from responders.openclaw.discovery import Inventory, discover
from tests.hostile.conftest import HostileHome

ROOT_KEY_ID = "AKIAROOTADMIN0000001"
ROOT_SECRET = "rootAdminSecretKey0123456789abcdefghijklm"
BOUND_S = 60.0


def run_discovery(hostile: HostileHome) -> Inventory:
    box: list[Inventory] = []
    worker = threading.Thread(
        target=lambda: box.append(discover(user_home=hostile.home, state_dirs=None,
                                           tmp_dirs=[hostile.tmp])),
        daemon=True,
    )
    worker.start()
    worker.join(BOUND_S)
    assert box, f"discovery did not finish within {BOUND_S} s"
    return box[0]


def root_credentials(hostile: HostileHome) -> Path:
    """Root's own AWS admin key, 0600, outside the agent's tree."""
    path = hostile.outside / "root-aws-credentials"
    path.write_text(f"[default]\naws_access_key_id = {ROOT_KEY_ID}\n"
                    f"aws_secret_access_key = {ROOT_SECRET}\n")
    os.chmod(path, 0o600)
    return path


def found_values(inventory: Inventory) -> set[str]:
    return {c.secret.reveal() for c in inventory.credentials if c.secret is not None}


def test_aws_credentials_linked_to_roots_file_are_not_the_agents(hostile: HostileHome) -> None:
    target = root_credentials(hostile)
    aws = hostile.home / ".aws" / "credentials"
    aws.unlink()
    aws.symlink_to(target)
    os.lchown(aws, hostile.agent.uid, hostile.agent.gid)
    hostile.seal_outside()
    inventory = run_discovery(hostile)
    assert ROOT_SECRET not in found_values(inventory)
    assert not any(c.key_id == ROOT_KEY_ID for c in inventory.credentials)
    assert any(str(aws) in note and "symbolic link" in note for note in inventory.notes)
    hostile.assert_untouched()


def test_a_path_the_agent_names_is_read_only_if_the_agent_could_read_it(
    hostile: HostileHome,
) -> None:
    """EnvironmentFile= in the agent's own unit, pointed at root's 0600 credentials."""
    target = root_credentials(hostile)
    target.write_text(f"AWS_ACCESS_KEY_ID={ROOT_KEY_ID}\nAWS_SECRET_ACCESS_KEY={ROOT_SECRET}\n")
    unit = hostile.home / ".config" / "systemd" / "user" / "openclaw-gateway.service"
    unit.write_text(unit.read_text().replace("[Service]\n",
                                             f"[Service]\nEnvironmentFile={target}\n", 1))
    inventory = run_discovery(hostile)
    assert ROOT_SECRET not in found_values(inventory)
    # A file the agent can read (world-readable) still counts: it is exposed to the agent.
    os.chmod(target, 0o644)
    assert ROOT_SECRET in found_values(run_discovery(hostile))


def test_links_fifos_and_devices_neither_hang_nor_leak(hostile: HostileHome) -> None:
    state = hostile.state
    secret_dir = hostile.outside / "root-dir"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "openclaw.json").write_text('{"gateway": {"auth": {"token": "'
                                               + ROOT_SECRET + '"}}}')
    (state / "logs" / "gateway.log").unlink(missing_ok=True)
    os.mkfifo(state / "logs" / "gateway.log")
    os.symlink("/dev/zero", state / "logs" / "zero.log")
    os.symlink(secret_dir, state / "agents" / "evil")
    os.symlink(secret_dir, hostile.home / ".openclaw-evil")
    os.mkfifo(hostile.tmp / "openclaw" / "openclaw-2099-01-01.log")
    hostile.give_to_agent(hostile.home)
    hostile.seal_outside()
    inventory = run_discovery(hostile)
    assert ROOT_SECRET not in found_values(inventory)
    assert len(inventory.credentials) > 10  # the rest of the home is still found
    notes = "\n".join(inventory.notes)
    assert "zero.log: a symbolic link to /dev/zero" in notes
    assert ".openclaw-evil: a symbolic link" in notes
    hostile.assert_untouched()


def test_names_that_are_not_utf8_do_not_crash_discovery(hostile: HostileHome) -> None:
    logs = os.fsencode(hostile.tmp / "openclaw")
    name = logs + b"/openclaw-\xff\xfe-\x1b[2J.log"
    with open(name, "wb") as out:
        out.write(b"token=ghp_" + b"A7kq" * 12 + b"\n")
    os.chown(name, hostile.agent.uid, hostile.agent.gid)
    os.mkdir(os.fsencode(hostile.state / "agents") + b"/\xc3\x28bad")
    inventory = run_discovery(hostile)
    bad = [loc.path for c in inventory.credentials for loc in c.locations
           if "\udcff" in loc.path]
    assert bad, "the file with a non-UTF-8 name was not scanned"


def _big_logs(hostile: HostileHome, count: int, size: int) -> list[Path]:
    """Log-like text the agent wrote to waste clawback's time (real bytes, not holes)."""
    line = b'{"level":"INFO","msg":"tool_call exec browser fetched reply queued token=abc"}\n'
    block = line * (size // len(line))
    logs = []
    for day in range(1, count + 1):
        path = hostile.tmp / "openclaw" / f"openclaw-2099-02-{day:02d}.log"
        path.write_bytes(block)
        logs.append(path)
    hostile.give_to_agent(hostile.tmp / "openclaw")
    return logs


def test_the_first_pass_leaves_free_text_for_later(hostile: HostileHome) -> None:
    logs = _big_logs(hostile, 2, 1 << 20)
    first = discover(user_home=hostile.home, tmp_dirs=[hostile.tmp], free_text=False)
    assert set(logs) <= set(first.deferred)
    # What only a log holds is found by the second pass, and only that.
    token = "ghp_" + "Q7kq" * 12
    with open(logs[0], "ab") as out:
        out.write(f"leaked {token}\n".encode())
    from responders.openclaw.discovery import discover_deferred

    later = discover_deferred(first.deferred, user_home=hostile.home, tmp_dirs=[hostile.tmp],
                              known=[c.fingerprint for c in first.credentials])
    assert token in found_values(later)
    assert not found_values(later) & found_values(first)


def test_a_time_budget_bounds_discovery_and_says_what_it_left(hostile: HostileHome) -> None:
    _big_logs(hostile, 6, 8 << 20)
    box: list[Inventory] = []
    worker = threading.Thread(
        target=lambda: box.append(discover(user_home=hostile.home, tmp_dirs=[hostile.tmp],
                                           budget_seconds=1.0)),
        daemon=True,
    )
    worker.start()
    worker.join(BOUND_S)
    assert box, "discovery ran past its budget by far"
    assert any("budget" in note and "not (fully) read" in note for note in box[0].notes)


def test_sparse_multi_gigabyte_logs_are_scanned_quickly(hostile: HostileHome) -> None:
    for day in range(1, 11):  # 10 × 4 GiB of holes with a secret at the very end
        path = hostile.tmp / "openclaw" / f"openclaw-2099-03-{day:02d}.log"
        with open(path, "wb") as out:
            out.truncate(4 << 30)
            out.seek((4 << 30) - 64)
            out.write(b"token ghp_" + b"S7kq" * 12 + b"\n")
    hostile.give_to_agent(hostile.tmp / "openclaw")
    inventory = run_discovery(hostile)
    assert "ghp_" + "S7kq" * 12 in found_values(inventory)
