"""A drill world: moto's IAM server holding the agent's real key, a sample OpenClaw home with
that key planted, and a clawback.toml pointing AWS at moto (admin credentials by env reference).

moto runs once per session on 127.0.0.1 and is reset per test, with IAM authentication switched
on so a deleted key is really rejected. Drills run either in this process (with the memory
keyring) or as real ``clawback`` processes that share keyrings.alt's file keyring under the
test's own XDG_DATA_HOME, so a test can SIGKILL one and resume it in another.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clawback_demo.home import SampleHome, build_sample_home
from clawback_demo.standins import MotoStandIn, start_moto

AGENT_USER = "openclaw-agent"
ADMIN_ID_ENV = "DRILL_TEST_AWS_ADMIN_ID"
ADMIN_SECRET_ENV = "DRILL_TEST_AWS_ADMIN_SECRET"
FILE_KEYRING = "keyrings.alt.file.PlaintextKeyring"
AWS_STORE_NAME = f"aws/{AGENT_USER}"


def _post(url: str, body: bytes = b"") -> None:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=5):  # loopback only
        pass


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoStandIn]:
    moto = start_moto()
    try:
        yield moto
    finally:
        moto.stop()


def write_config(path: Path, home: SampleHome, aws_endpoint: str) -> Path:
    lines = ["[agent]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in home.agent_settings().items()]
    lines += [
        "",
        "[providers.aws]",
        f"endpoint_url = {json.dumps(aws_endpoint)}",
        'region = "us-east-1"',
        f'admin_access_key_id = "env:{ADMIN_ID_ENV}"',
        f'admin_secret_access_key = "env:{ADMIN_SECRET_ENV}"',
        "new_key_ready_seconds = 0",
        "connect_timeout = 2",
        "read_timeout = 5",
        "",
        "[drill]",  # no gateway runs here: the old key's last use (IAM's record) decides
        "grace_seconds = 0",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class DrillWorld:
    root: Path
    home: SampleHome
    config: Path
    incidents: Path
    moto: MotoStandIn
    old_key: tuple[str, str]
    admin: tuple[str, str]
    env: dict[str, str] = field(default_factory=dict)

    # -- running clawback as a user would ---------------------------------------------------

    def drill(self, *, resume: str | None = None, dry_run: bool = False,
              crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        """``clawback drill`` in its own process (JSON output), optionally crashing at a stage.

        The installed ``clawback`` command gains ``--resume``/``--dry-run`` only once
        clawback/commands.py passes them on, so the command function is called directly.
        """
        env = dict(os.environ, **self.env)
        env.pop("CLAWBACK_DEBUG", None)
        if crash_at:
            env["CLAWBACK_TEST_CRASH_AT"] = crash_at
        kwargs = {"config": str(self.config), "incidents_dir": str(self.incidents),
                  "json": True, "resume": resume, "dry_run": dry_run}
        code = ("import sys\nfrom clawback.cli import drill\n"
                f"sys.exit(drill(**{kwargs!r}))")
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, timeout=60, stdin=subprocess.DEVNULL)

    def incident_dirs(self) -> list[Path]:
        if not self.incidents.exists():
            return []
        return sorted(p for p in self.incidents.iterdir() if (p / "timeline.jsonl").exists())

    # -- looking at the world -----------------------------------------------------------------

    def keys(self) -> dict[str, str]:
        return self.moto.key_statuses(AGENT_USER)

    def identity_of(self, key_id: str, secret: str) -> str | None:
        """The ARN a call signed with this key gets, or None when AWS rejects it."""
        import boto3
        from botocore.exceptions import ClientError

        sts = boto3.client("sts", endpoint_url=self.moto.url, region_name="us-east-1",
                           aws_access_key_id=key_id, aws_secret_access_key=secret)
        try:
            return str(sts.get_caller_identity()["Arn"])
        except ClientError:
            return None

    def agent_aws_pairs(self) -> dict[str, tuple[str, str]]:
        """(access key id, secret) the agent reads, per file."""
        ini = configparser.RawConfigParser()
        ini.read(self.home.user_home / ".aws" / "credentials")
        dotenv = dict(
            line.split("=", 1)
            for line in (self.home.state_dir / ".env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        return {
            "~/.aws/credentials": (ini["default"]["aws_access_key_id"],
                                   ini["default"]["aws_secret_access_key"]),
            "~/.openclaw/.env": (dotenv["AWS_ACCESS_KEY_ID"], dotenv["AWS_SECRET_ACCESS_KEY"]),
        }

    def planted_values(self) -> list[str]:
        return [p.value for p in self.home.planted] + [self.old_key[1], self.admin[1]]


def file_keyring() -> Any:
    """The keyring the drill processes share (keyrings.alt's file, under XDG_DATA_HOME)."""
    from keyrings.alt.file import PlaintextKeyring

    return PlaintextKeyring()


@pytest.fixture
def drill_world(tmp_path: Path, moto_server: MotoStandIn,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[DrillWorld]:
    moto = moto_server
    _post(f"{moto.url}/moto-api/reset-auth", b"inf")
    _post(f"{moto.url}/moto-api/reset")
    old_key = moto.create_agent_key(AGENT_USER)
    admin = moto.create_admin()
    moto.enforce_iam()
    home = build_sample_home(tmp_path / "host", aws_keys=[old_key])
    config = write_config(tmp_path / "clawback.toml", home, moto.url)
    monkeypatch.setenv(ADMIN_ID_ENV, admin[0])
    monkeypatch.setenv(ADMIN_SECRET_ENV, admin[1])
    world = DrillWorld(
        root=tmp_path, home=home, config=config, incidents=tmp_path / "incidents", moto=moto,
        old_key=old_key, admin=admin,
        env={ADMIN_ID_ENV: admin[0], ADMIN_SECRET_ENV: admin[1],
             "PYTHON_KEYRING_BACKEND": FILE_KEYRING},
    )
    try:
        yield world
    finally:
        _post(f"{moto.url}/moto-api/reset-auth", b"inf")
        _post(f"{moto.url}/moto-api/reset")
