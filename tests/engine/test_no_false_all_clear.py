"""Nothing found is not all clear, through the installed ``clawback``.

Pointed at a home with no OpenClaw in it (the usual mistake: root's home instead of the agent
user's), ``discover`` and ``contain`` say so plainly, name ``--home``, and exit non-zero:
``discover`` 3 (2 when the directory does not exist), ``contain`` 3 with the gateway it could
not find and the keys it could not find on the to-do list. Its dry run predicts the same.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import clawback_script


def run_clawback(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    if home is not None:
        env["HOME"] = str(home)
    env.pop("CLAWBACK_DEBUG", None)
    return subprocess.run([str(clawback_script()), *args], capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def empty_home(tmp_path: Path) -> Path:
    home = tmp_path / "home" / "someone"
    home.mkdir(parents=True)
    (home / ".bashrc").write_text("# nothing of OpenClaw here\n")
    return home


def test_discover_with_no_openclaw_exits_3_with_the_home_hint(empty_home: Path) -> None:
    given = run_clawback("discover", "--home", str(empty_home))
    assert given.returncode == 3, given.stdout + given.stderr
    assert f"no OpenClaw install found under {empty_home}" in " ".join(given.stderr.split())
    assert "--home" in given.stderr and "not all clear" in given.stderr
    # Without --home the invoking user's home is searched: the hint says what to give.
    defaulted = run_clawback("discover", home=empty_home)
    assert defaulted.returncode == 3
    assert "clawback discover --home /home/AGENT-USER" in " ".join(defaulted.stderr.split())
    as_json = run_clawback("discover", "--home", str(empty_home), "--json")
    assert as_json.returncode == 3
    document = json.loads(as_json.stdout)
    assert document["openclaw_found"] is False and document["credentials"] == []


def test_discover_of_a_home_that_does_not_exist_is_bad_input(tmp_path: Path) -> None:
    missing = run_clawback("discover", "--home", str(tmp_path / "nonexistent"))
    assert missing.returncode == 2
    assert "no such directory" in missing.stderr


def test_discover_of_a_real_install_exits_0(tmp_path: Path) -> None:
    from clawback_demo.home import build_sample_home

    home = build_sample_home(tmp_path / "sample")
    found = run_clawback("discover", "--home", str(home.user_home))
    assert found.returncode == 0, found.stderr
    assert "secret(s)" in found.stdout


def test_contain_with_no_agent_found_exits_3_and_says_so(empty_home: Path,
                                                        tmp_path: Path) -> None:
    config = tmp_path / "clawback.toml"
    # The gateway is named by a pid file nobody wrote: nothing runs there (and no process on
    # this machine is looked for by name).
    config.write_text(
        "[agent]\ngateway_port = 9\n\n[[agent.services]]\nkind = \"pidfile\"\n"
        f"name = \"openclaw-gateway\"\npidfile = {json.dumps(str(tmp_path / 'gw.pid'))}\n")
    config.chmod(0o600)
    incidents = tmp_path / "incidents"
    args = ("contain", "--config", str(config), "--home", str(empty_home), "--incidents-dir",
            str(incidents), "--yes")
    planned = run_clawback(*args, "--dry-run")
    assert planned.returncode == 3, planned.stderr
    assert not incidents.exists()
    contained = run_clawback(*args)
    assert contained.returncode == 3, contained.stderr
    printed = " ".join(contained.stderr.split())
    assert "nothing was stopped" in printed
    assert f"clawback found no key to revoke under {empty_home}" in printed
    assert "--home DIR" in printed and "Nothing found is not all clear" in printed
    assert "Nothing is left for a human" not in printed
    for text in ("nothing was stopped", "no key found to revoke"):
        assert text in " ".join(planned.stderr.split())
    # -q: the outcome and the to-do list only; -v: every action, in words, as it ends.
    quiet = run_clawback("-q", *args)
    verbose = run_clawback(*args, "--verbose")
    assert quiet.returncode == verbose.returncode == 3
    assert "✔ volatile" not in quiet.stderr and "To do by hand" in quiet.stderr
    assert "▶ volatile" in verbose.stderr and "host.snapshot localhost: sealed" in verbose.stderr
    assert "ManualRequired" not in verbose.stderr and "Collected" not in verbose.stderr
    # The checkpoint once, at the end.
    incident = re.search(r"^Incident (\S+):", contained.stderr, re.MULTILINE)
    assert incident is not None and (incidents / incident.group(1)).is_dir()
    assert contained.stderr.count(f"clawback/{incident.group(1)}\n") == 1
    # --home names a directory that exists: anything else is bad input, nothing done.
    refused = run_clawback("contain", "--config", str(config), "--home",
                           str(tmp_path / "nope"), "--incidents-dir", str(tmp_path / "other"))
    assert refused.returncode == 2 and "no such directory" in refused.stderr
    assert not (tmp_path / "other").exists()
