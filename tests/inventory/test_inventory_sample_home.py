"""The sample home builder: hardened layout, fresh secrets, eras, and the hooks the demo uses."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

from sample_discovery import discover_sample

from clawback_demo.home import SampleHome, build_sample_home


def test_layout_is_hardened_0700_dirs_0600_files(era_home: SampleHome) -> None:
    loose = []
    for top in (era_home.root / "home", era_home.tmp_dir):
        for directory, dirnames, filenames in os.walk(top):
            for name in dirnames:
                mode = stat.S_IMODE((Path(directory) / name).stat().st_mode)
                if mode != 0o700:
                    loose.append(f"{Path(directory) / name} {mode:o}")
            for name in filenames:
                mode = stat.S_IMODE((Path(directory) / name).stat().st_mode)
                if mode != 0o600:
                    loose.append(f"{Path(directory) / name} {mode:o}")
    assert loose == []


def test_os_like_tree_and_settings(era_home: SampleHome) -> None:
    home = era_home.user_home
    assert home == era_home.root / "home" / "agent"
    assert era_home.config_path == home / ".openclaw" / "openclaw.json"
    assert era_home.state_dirs == (home / ".openclaw", home / ".openclaw-work", home / ".clawdbot")
    for relative in (
        ".openclaw/openclaw.json.bak.1",
        ".openclaw/credentials/whatsapp/default/creds.json.bak",
        ".openclaw/devices/paired.json",
        ".openclaw/skills/crm-sync/SKILL.md",
        ".config/systemd/user/openclaw-gateway.service.bak",
        "Library/LaunchAgents/ai.openclaw.gateway.plist",
        ".ssh/authorized_keys",
    ):
        assert (home / relative).is_file(), relative
    logs = list((era_home.tmp_dir / "openclaw").glob("openclaw-????-??-??.log"))
    assert len(logs) == 1
    lock = json.loads(era_home.lock_path.read_text())
    assert lock["configPath"] == str(era_home.config_path)
    assert era_home.agent_settings() == {
        "state_dirs": [str(p) for p in era_home.state_dirs],
        "user_home": str(home),
        "tmp_dirs": [str(era_home.tmp_dir)],
        "uid": os.getuid(),
        "gateway_port": era_home.gateway_port,
    }
    assert (
        "crm-sync.example/install.sh | sh"
        in (home / ".openclaw/skills/crm-sync/SKILL.md").read_text()
    )


def test_era_decides_the_credential_stores(era_home: SampleHome) -> None:
    agent = era_home.state_dir / "agents" / "main" / "agent"
    has_json = (agent / "auth-profiles.json").exists()
    has_sqlite = (agent / "openclaw-agent.sqlite").exists()
    assert (has_json, has_sqlite) == {
        "file": (True, False),
        "sqlite": (False, True),
        "both": (True, True),
    }[era_home.era]


def test_sqlite_rows_live_in_the_wal_like_a_running_gateway(
    era_home: SampleHome, tmp_path: Path
) -> None:
    if era_home.era == "file":
        assert not (era_home.state_dir / "state" / "openclaw.sqlite").exists()
        return
    db = era_home.state_dir / "agents" / "main" / "agent" / "openclaw-agent.sqlite"
    assert Path(f"{db}-wal").stat().st_size > 0 and Path(f"{db}-shm").exists()
    (key,) = [
        s
        for s in era_home.planted_of("anthropic:api_key")
        if any(loc.path == str(db) for loc in s.locations)
    ]
    assert key.value.encode() not in db.read_bytes()
    assert key.value.encode() in Path(f"{db}-wal").read_bytes()
    # A copy with its WAL is a readable database holding the store.
    for suffix in ("", "-wal"):
        (tmp_path / f"copy.sqlite{suffix}").write_bytes(Path(f"{db}{suffix}").read_bytes())
    conn = sqlite3.connect(tmp_path / "copy.sqlite")
    try:
        ((store_json,),) = conn.execute("SELECT store_json FROM auth_profile_store").fetchall()
    finally:
        conn.close()
    assert json.loads(store_json)["profiles"]["anthropic:default"]["key"] == key.value


def test_every_build_plants_fresh_secrets_and_a_seed_reproduces_them(tmp_path: Path) -> None:
    first = build_sample_home(tmp_path / "a", era="file")
    second = build_sample_home(tmp_path / "b", era="file")
    assert not {s.value for s in first.planted} & {s.value for s in second.planted}
    seeded = build_sample_home(tmp_path / "c", era="file", seed=7)
    again = build_sample_home(tmp_path / "d", era="file", seed=7)
    assert [s.value for s in seeded.planted] == [s.value for s in again.planted]
    assert seeded.gateway_port == again.gateway_port


def test_given_aws_keys_are_planted_and_discovered(fresh_home: Callable[..., SampleHome]) -> None:
    pairs = [
        ("AKIA" + "Q" * 12 + "0001", "s3cr3t/" + "k" * 33),
        ("AKIA" + "Q" * 12 + "0002", "s3cr3t+" + "m" * 33),
    ]
    home = fresh_home(era="file", aws_keys=pairs, gateway_port=24680)
    planted = home.planted_of("aws:access_key")
    assert [(s.key_id, s.value) for s in planted] == pairs
    assert home.gateway_port == 24680
    inventory = discover_sample(home)
    for key_id, secret in pairs:
        (cred,) = [c for c in inventory.credentials if c.key_id == key_id]
        assert cred.kind == "aws:access_key"
        assert cred.secret is not None and cred.secret.reveal() == secret


def test_lock_names_no_live_process_until_the_demo_rewrites_it(
    fresh_home: Callable[..., SampleHome],
) -> None:
    home = fresh_home(era="file")
    (lock,) = discover_sample(home).gateway_locks
    assert lock.alive is False and lock.pid is not None
    home.write_gateway_lock(os.getpid())
    (lock,) = discover_sample(home).gateway_locks
    assert (lock.pid, lock.alive) == (os.getpid(), True)
    assert stat.S_IMODE(home.lock_path.stat().st_mode) == 0o600


def test_planted_values_are_hidden_from_repr(era_home: SampleHome) -> None:
    text = repr(era_home) + repr(era_home.planted)
    assert all(s.value not in text for s in era_home.planted)
