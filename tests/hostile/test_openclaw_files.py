"""The OpenClaw responder as root against a hostile home: rotation, lockdown, WhatsApp logout.

The agent plants links to root-owned canaries (or swaps them in right after discovery read the
file), FIFOs and ``/dev/zero``, and a 200 MB config. Afterwards no canary has changed, no call
took longer than its bound, and no outcome claims what was not done.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clawback.secret_store import KeyringSecretStore
from responders.interface import (
    Credential,
    Failed,
    ManualRequired,
    Outcome,
    ResponderContext,
    Rotated,
    Skipped,
)
from responders.kit.private_files import make_private_dir
from responders.openclaw import LockdownAction, LockdownParams, OpenClawResponder
from responders.openclaw.discovery import Inventory, discover
from tests.conftest import MemoryKeyring
from tests.hostile.conftest import HostileHome, Racer

# Far above what any of these calls needs on a loaded machine; a hang fails, it never waits.
BOUND_S = 60.0


def bounded(call: Callable[[], Outcome]) -> Outcome:
    """``call()`` on a thread; fails the test if it has not returned within BOUND_S."""
    box: list[Any] = []
    worker = threading.Thread(target=lambda: box.append(call()), daemon=True)
    worker.start()
    worker.join(BOUND_S)
    assert box, f"the call did not return within {BOUND_S} s: it blocked on a hostile file"
    return box[0]  # type: ignore[no-any-return]


def inventory_of(hostile: HostileHome) -> Inventory:
    return discover(user_home=hostile.home, state_dirs=[hostile.state],
                    tmp_dirs=[hostile.tmp])


def responder_for(hostile: HostileHome) -> OpenClawResponder:
    incident = make_private_dir(hostile.incidents / "2026-11-21T0203Z-7f3a")
    return OpenClawResponder(ResponderContext(
        secrets=KeyringSecretStore(), incident_id=incident.name, incident_dir=incident,
        settings={"agent": {**hostile.agent_settings(), "state_dirs": [str(hostile.state)]}},
    ))


def revoke_all(hostile: HostileHome, inventory: Inventory) -> dict[str, list[Outcome]]:
    responder = responder_for(hostile)
    outcomes: dict[str, list[Outcome]] = {}
    for cred in inventory.credentials:
        if cred.provider in ("openclaw", "whatsapp"):
            outcome = bounded(lambda c=cred: responder.revoke(c))  # type: ignore[misc]
            outcomes.setdefault(cred.kind, []).append(outcome)
    return outcomes


def lockdown(hostile: HostileHome) -> Outcome:
    incident = make_private_dir(hostile.incidents / "lockdown")
    action = LockdownAction(
        ResponderContext(incident_id=incident.name, incident_dir=incident,
                         settings={"agent": {**hostile.agent_settings(),
                                             "state_dirs": [str(hostile.state)]}}),
        LockdownParams(),
    )
    return bounded(lambda: action.execute(str(hostile.state)))


def gateway_token(inventory: Inventory, hostile: HostileHome) -> Credential:
    config = str(hostile.state / "openclaw.json")
    return next(c for c in inventory.credentials if c.kind == "openclaw:gateway_token"
                and any(loc.path == config for loc in c.locations))


def text_of(outcome: Outcome) -> str:
    return " ".join(str(getattr(outcome, name, "")) for name in
                    ("detail", "error", "instructions", "reason"))


def not_done(outcome: Outcome, path: Path) -> None:
    """The outcome admits it could not finish, and names the place."""
    assert isinstance(outcome, Failed | ManualRequired), outcome
    assert str(path) in text_of(outcome), text_of(outcome)


PLANTED = {
    ".env": lambda h: h.state / ".env",
    "openclaw.json": lambda h: h.state / "openclaw.json",
    "openclaw.json.bak": lambda h: h.state / "openclaw.json.bak",
    "unit file": lambda h: h.home / ".config" / "systemd" / "user" / "openclaw-gateway.service",
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_planted_link_to_a_root_file_is_never_written(
    hostile: HostileHome, memory_keyring: MemoryKeyring, name: str
) -> None:
    target: Path = PLANTED[name](hostile)
    canary = hostile.canary_copy(target)
    target.unlink()
    target.symlink_to(canary)
    os.lchown(target, hostile.agent.uid, hostile.agent.gid)
    hostile.seal_outside()
    inventory = inventory_of(hostile)
    outcomes = revoke_all(hostile, inventory)
    locked = lockdown(hostile)
    hostile.assert_untouched()
    assert not any(str(target) == loc.path for c in inventory.credentials
                   for loc in c.locations), "discovery read through the link"
    if name in (".env", "openclaw.json", "openclaw.json.bak"):
        # A place of the install clawback could not check: the rotation is not complete.
        for outcome in outcomes["openclaw:gateway_token"]:
            assert not isinstance(outcome, Rotated), text_of(outcome)
        assert any(str(target) in text_of(o) for o in outcomes["openclaw:gateway_token"])
    if name == "openclaw.json":
        not_done(locked, target)


def test_a_state_dir_swapped_for_a_link_is_left_alone(
    hostile: HostileHome, memory_keyring: MemoryKeyring
) -> None:
    moved = hostile.home / ".openclaw-real"
    canary = hostile.canary_dir(hostile.state, "canary-state")
    os.rename(hostile.state, moved)
    hostile.state.symlink_to(canary)
    os.lchown(hostile.state, hostile.agent.uid, hostile.agent.gid)
    hostile.seal_outside()
    inventory = inventory_of(hostile)
    revoke_all(hostile, inventory)
    locked = lockdown(hostile)
    hostile.assert_untouched()
    not_done(locked, hostile.state)


def test_a_whatsapp_account_dir_swapped_for_a_link_is_not_emptied(
    hostile: HostileHome, memory_keyring: MemoryKeyring, racers: list[Racer]
) -> None:
    account = hostile.state / "credentials" / "whatsapp" / "default"
    canary = hostile.canary_dir(account, "canary-whatsapp")
    hostile.seal_outside()
    inventory = inventory_of(hostile)
    # Right after discovery: the account dir becomes a link to root's directory.
    os.rename(account, hostile.state / "credentials" / "whatsapp" / "moved")
    account.symlink_to(canary)
    os.lchown(account, hostile.agent.uid, hostile.agent.gid)
    outcomes = revoke_all(hostile, inventory)
    hostile.assert_untouched()
    (session,) = outcomes["whatsapp:session"]
    not_done(session, account)


@pytest.mark.parametrize("name", [".env", "openclaw.json", "unit file"])
def test_a_link_swapped_in_after_discovery_is_never_written(
    hostile: HostileHome, memory_keyring: MemoryKeyring, racers: list[Racer], name: str
) -> None:
    target: Path = PLANTED[name](hostile)
    canary = hostile.canary_copy(target)
    hostile.seal_outside()
    racer = Racer(hostile, target.parent, target.name, "link", str(canary))
    racers.append(racer)
    inventory = inventory_of(hostile)
    assert racer.swapped(), "the racer never saw discovery read the file"
    outcomes = revoke_all(hostile, inventory)
    hostile.assert_untouched()
    token = outcomes["openclaw:gateway_token"]
    assert any(str(target) in text_of(o) and isinstance(o, Failed | ManualRequired)
               for o in token), [text_of(o) for o in token]


@pytest.mark.parametrize("swap", ["fifo", "dev-zero"])
def test_a_fifo_or_dev_zero_swapped_in_does_not_hang_rotation_or_lockdown(
    hostile: HostileHome, memory_keyring: MemoryKeyring, racers: list[Racer], swap: str
) -> None:
    config = hostile.state / "openclaw.json"
    racer = Racer(hostile, config.parent, config.name, "fifo" if swap == "fifo" else "link",
                  "/dev/zero")
    racers.append(racer)
    inventory = inventory_of(hostile)
    assert racer.swapped()
    outcomes = revoke_all(hostile, inventory)
    for outcome in outcomes["openclaw:gateway_token"] + outcomes["openclaw:hooks_token"]:
        assert not isinstance(outcome, Rotated), text_of(outcome)
    not_done(lockdown(hostile), config)


def test_a_huge_config_is_not_reported_rotated_or_locked_down(
    hostile: HostileHome, memory_keyring: MemoryKeyring
) -> None:
    config = hostile.state / "openclaw.json"
    text = config.read_bytes()
    with open(config, "r+b") as out:  # the same config, then 200 MB of holes
        out.truncate(200 << 20)
    assert config.read_bytes()[: len(text)] == text
    inventory = inventory_of(hostile)
    outcomes = revoke_all(hostile, inventory)
    for outcome in outcomes["openclaw:gateway_token"]:
        assert not isinstance(outcome, Rotated), text_of(outcome)
    assert any(str(config) in text_of(o) for o in outcomes["openclaw:gateway_token"])
    locked = lockdown(hostile)
    assert not isinstance(locked, Skipped), "an unreadable config is not 'locked down already'"
    not_done(locked, config)


def test_a_rewritten_unit_file_keeps_no_secret_readable_by_others(
    hostile: HostileHome, memory_keyring: MemoryKeyring
) -> None:
    unit = PLANTED["unit file"](hostile)
    os.chmod(unit, 0o644)  # as `openclaw gateway install` leaves it
    inventory = inventory_of(hostile)
    outcome = revoke_all(hostile, inventory)["openclaw:gateway_token"]
    assert any(isinstance(o, Rotated) for o in outcome), [text_of(o) for o in outcome]
    info = os.stat(unit)
    assert info.st_mode & 0o077 == 0
    assert (info.st_uid, info.st_gid) == (hostile.agent.uid, hostile.agent.gid)
