"""Bad input through the real ``clawback contain`` on a live sandbox: exit 2, the file and line
of the problem, and nothing done: no incident directory, no keyring entry, the sample home
byte-for-byte the same, the gateway still running and the agent's AWS key still active.

tests/engine_input checks the loaders in-process and tests/engine a few playbook errors through
the CLI; these are the cases of issue 8 those leave out: a malformed credential reference, unknown
provider names (a ``[providers.X]`` table, a keys step's ``providers:``), an unknown key inside a
provider table, ``when:`` cycles, literal secrets, a world-writable config, and config errors
as the CLI reports them. (A keyring that does not work is not bad input: contain degrades
instead, tests/pressure/test_degraded_mode.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawback.signing import KEYRING_USERNAME
from responders.interface import fingerprint

from .sandbox_host import (
    ADMIN_SECRET_VAR,
    MotoAccount,
    Sandbox,
    build_sandbox,
    scratch_root,
    tree_digest,
)

ENV_SECRET = f'admin_secret_access_key = "env:{ADMIN_SECRET_VAR}"'


@dataclass
class Live:
    """The shared sandbox and how it looked before any bad input was tried."""

    box: Sandbox
    home_before: dict[str, str]


@pytest.fixture(scope="module")
def live(moto_account: MotoAccount) -> Iterator[Live]:
    with scratch_root("bad-input") as root:
        box = build_sandbox(root / "box", moto_account)
        try:
            yield Live(box, tree_digest(box.home.root))
        finally:
            box.close()


@dataclass(frozen=True)
class Attempt:
    """What one bad input is made of, and where clawback must point."""

    config: Callable[[str, Sandbox], str] | None = None  # from the sandbox's valid config
    playbook: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    extra: tuple[str, ...] = ()
    mode: int = 0o600
    located_in: str | None = None  # "config" or "playbook": the file the message must name
    at_text: str | None = None  # the line must be the one holding this text
    says: str = ""
    hidden: str = ""  # a secret in the input: shown only as its fingerprint


def _replace(old: str, new: str) -> Callable[[str, Sandbox], str]:
    def change(text: str, box: Sandbox) -> str:
        assert old in text, old
        return text.replace(old, new)
    return change


def _literal_admin_secret(text: str, box: Sandbox) -> str:
    # The agent's own planted AWS secret pasted where a reference belongs.
    secret = box.home.planted_of("aws:access_key")[0].value
    return text.replace(f'"env:{ADMIN_SECRET_VAR}"', json.dumps(secret))


WHEN_CYCLE = """name: cycle
steps:
  - id: first
    uses: host.snapshot
    when: "{{ steps.second.ok }}"
  - id: second
    uses: host.snapshot
    when: "{{ steps.first.ok }}"
"""

WHEN_SELF = """name: self
steps:
  - id: only
    uses: host.snapshot
    when: "{{ steps.only.ok or cut_network }}"
"""

SECRET_IN_USES = "sk-proj-Zq8Lr2Vn5Xc7Bm1Kd4Fh6Jt9Wp3Ys0GaEuIoQwRtYpLkJhGf"
DEEP = 100_000

# A keyring that does not work is not bad input: the panic button degrades instead of
# refusing (tests/pressure/test_degraded_mode.py). A reference that is not one still is.
ATTEMPTS = {
    "malformed-keyring-reference": Attempt(
        config=_replace(ENV_SECRET, 'admin_secret_access_key = "keyring:aws-admin"'),
        located_in="config", at_text="keyring:aws-admin", says="keyring:SERVICE/USER"),
    "unknown-provider-table": Attempt(
        config=lambda text, box: text + '\n[providers.gihtub]\nbase_url = "http://127.0.0.1:9"\n',
        located_in="config", at_text="[providers.gihtub]", says="Did you mean 'github'"),
    "literal-secret-in-config": Attempt(
        config=_literal_admin_secret, located_in="config", at_text="admin_secret_access_key",
        says="literal credential"),
    "world-writable-config": Attempt(config=lambda text, box: text, mode=0o666,
                                     located_in="config", says="chmod 600"),
    "toml-syntax-error": Attempt(
        config=_replace('region = "us-east-1"', 'region = "us-east-1'),
        located_in="config", at_text="region =", says="invalid TOML"),
    "wrong-type-in-agent": Attempt(
        config=_replace("gateway_port = ", 'gateway_port = "8080" # was '),
        located_in="config", at_text="gateway_port", says="integer"),
    "when-cycle": Attempt(playbook=WHEN_CYCLE, located_in="playbook",
                          at_text="steps.second.ok", says="forward reference"),
    "when-refers-to-itself": Attempt(playbook=WHEN_SELF, located_in="playbook",
                                     at_text="steps.only.ok", says="cycle"),
    "resume-of-no-such-incident": Attempt(extra=("--resume", "2026-01-01T0000Z-abcd"),
                                          says="no incident"),
    "unknown-provider-in-a-keys-step": Attempt(
        playbook="name: typo\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n"
                 "    with: {providers: [aws, gihtub]}\n",
        located_in="playbook", at_text="gihtub", says="gihtub"),
    "a-secret-pasted-into-uses": Attempt(
        playbook=f"name: oops\nsteps:\n  - id: revoke\n    uses: {SECRET_IN_USES}\n",
        located_in="playbook", at_text="uses:", says="unknown action", hidden=SECRET_IN_USES),
    "a-playbook-nested-100k-deep": Attempt(
        playbook="name: deep\nsteps: " + "[" * DEEP + "]" * DEEP + "\n",
        located_in="playbook", says="nested too deeply"),
    "a-huge-playbook": Attempt(
        playbook="name: huge\nsteps: []\n" + "# padding\n" * 2_000_000,
        located_in="playbook", says="bytes"),
    "a-config-nested-100k-deep": Attempt(
        config=lambda text, box: text + "\n[deep]\nx = " + "[" * DEEP + "]" * DEEP + "\n",
        located_in="config", says="nested too deeply"),
    "unknown-key-in-a-provider-table": Attempt(  # with the packaged playbook, as in an incident
        config=_replace('region = "us-east-1"', 'region = "us-east-1"\nregoin = "eu-west-1"'),
        located_in="config", at_text="regoin", says="regoin"),
}


@dataclass
class Tried:
    run: subprocess.CompletedProcess[str]
    config: Path | None
    playbook: Path | None
    workdir: Path

    def located(self, attempt: Attempt) -> bool:
        """Whether stderr starts with the file (and line) the attempt must be reported at."""
        path = self.config if attempt.located_in == "config" else self.playbook
        assert path is not None
        where = re.escape(str(path))
        if attempt.at_text is not None:
            where += f":{_line_of(path, attempt.at_text)}(:\\d+)?"
        return re.search(f"^clawback: {where}: ", self.run.stderr, re.MULTILINE) is not None


def _attempt(live: Live, attempt: Attempt, workdir: Path) -> Tried:
    box = live.box
    workdir.mkdir()
    config = playbook = None
    args = ["contain", "--incidents-dir", str(workdir / "incidents"), "--yes"]
    if attempt.config is not None:
        config = workdir / "clawback.toml"
        config.write_text(attempt.config(box.config.read_text(), box))
        os.chmod(config, attempt.mode)
    args += ["--config", str(config or box.config)]
    if attempt.playbook is not None:
        playbook = workdir / "playbook.yaml"
        playbook.write_text(attempt.playbook)
        os.chmod(playbook, 0o600)
        args += ["--playbook", str(playbook)]
    env = {**box.env, **dict(attempt.env)}
    return Tried(box.clawback(*args, *attempt.extra, env=env), config, playbook, workdir)


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("name", list(ATTEMPTS))
def test_bad_input_exits_2_names_the_place_and_does_nothing(live: Live, name: str,
                                                           tmp_path: Path) -> None:
    attempt = ATTEMPTS[name]
    tried = _attempt(live, attempt, tmp_path / name)
    stderr = tried.run.stderr
    assert tried.run.returncode == 2, tried.run.stdout + stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert attempt.says in stderr, stderr
    if attempt.located_in is not None:
        assert tried.located(attempt), stderr
    for planted in live.box.home.planted:
        assert planted.value not in stderr + tried.run.stdout
    if attempt.hidden:
        assert attempt.hidden not in stderr + tried.run.stdout
        assert fingerprint(attempt.hidden) in stderr, stderr

    # Nothing done: no incident, no key made, the host and the agent untouched. (The
    # installation's signing key may exist: a --resume loads it before finding the incident.)
    assert not (tried.workdir / "incidents").exists()
    assert set(live.box.keyring_values()) <= {KEYRING_USERNAME}
    assert tree_digest(live.box.home.root) == live.home_before
    assert live.box.gateway_state() == "RUNNING"
    assert live.box.aws_keys() == {live.box.old_key_id: "Active"}
