"""What ``clawback drill`` prints and refuses: the timing table and the comparison with the
previous drill, a dry run that sends and writes nothing, one drill at a time."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from clawback import cli
from clawback.drill import (
    LOCK_DIR_NAME,
    DrillRequest,
    ProviderTiming,
    compare,
    is_drill_incident,
    run_drill,
)
from clawback.incident import IncidentLock
from clawback_demo.home import build_sample_home
from responders.kit.private_files import make_private_dir
from tests.conftest import MemoryKeyring

from .conftest import ADMIN_ID_ENV, ADMIN_SECRET_ENV, FILE_KEYRING, DrillWorld, write_config


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*")) if not p.is_symlink()
    }


def test_dry_run_sends_no_request_and_writes_nothing(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    # AWS "lives" on a server that records whatever reaches it: the dry run must send nothing.
    home = build_sample_home(tmp_path / "host", aws_keys=[("AKIADRYRUNDRILL00001", "x" * 40)])
    config = write_config(tmp_path / "clawback.toml", home, httpserver.url_for("/"))
    incidents = tmp_path / "incidents"
    before = tree_digest(tmp_path)
    env = dict(os.environ, PYTHON_KEYRING_BACKEND=FILE_KEYRING,
               **{ADMIN_ID_ENV: "AKIADRYRUNADMIN00001", ADMIN_SECRET_ENV: "y" * 40})
    kwargs = {"config": str(config), "incidents_dir": str(incidents), "dry_run": True,
              "json": True}
    run = subprocess.run(
        [sys.executable, "-c", f"import sys\nfrom clawback.cli import drill\n"
                               f"sys.exit(drill(**{kwargs!r}))"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )
    # The code the real drill would give: the sample home's manual steps (tested below).
    assert run.returncode == 3, run.stderr
    document = json.loads(run.stdout)
    assert document["dry_run"] is True and document["exit_code"] == 3
    planned = {r["target"]: r["outcome"] for r in document["results"] if r["action"] == "rotate"}
    assert planned["aws:AKIADRYRUNDRILL00001"] == "Planned"
    assert httpserver.log == []
    assert not incidents.exists()
    assert tree_digest(tmp_path) == before
    for planted in home.planted:
        assert planted.value not in run.stdout + run.stderr


def test_timing_table_and_comparison_with_the_previous_drill(
    drill_world: DrillWorld, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    world = drill_world
    first = run_drill(DrillRequest(config=world.config, incidents_dir=world.incidents))
    assert first.previous is None and first.timings is not None
    assert first.timings.providers["aws"].rotated == 1
    capsys.readouterr()

    code = cli.drill(config=str(world.config), incidents_dir=str(world.incidents))
    printed = capsys.readouterr().err
    assert code == 3  # the sample home's manual steps, as contain
    assert "Rotation time per provider" in printed
    assert f"Compared with the drill {first.result.incident_id}" in printed
    aws_rows = [line for line in printed.splitlines() if line.startswith("  aws ")]
    assert len(aws_rows) == 2  # one in each list
    assert any(v in aws_rows[1] for v in ("faster", "slower", "about the same"))
    # The manual steps, numbered, and how to finish them.
    assert any(re.match(r" *\d+\. .*telegram .*\[rotate\]", line) for line in printed.splitlines())
    assert "clawback drill --resume 20" in printed

    code = cli.drill(config=str(world.config), incidents_dir=str(world.incidents), json=True)
    document = json.loads(capsys.readouterr().out)
    assert code == 3 == document["exit_code"]
    drill = document["drill"]
    assert drill["previous"]["incident"] not in (first.result.incident_id, document["incident"])
    assert {c["provider"] for c in drill["comparison"]} >= {"aws", "openclaw"}
    # Three drills, three different keys: each drill replaced the one before's key.
    (live,) = world.keys()
    assert live != world.old_key[0]


def test_a_second_drill_is_refused_while_one_runs(
    drill_world: DrillWorld, memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    world = drill_world
    with IncidentLock(make_private_dir(world.incidents / LOCK_DIR_NAME)):
        code = cli.drill(config=str(world.config), incidents_dir=str(world.incidents))
    assert code == 4
    assert "lock" in capsys.readouterr().err
    assert world.keys() == {world.old_key[0]: "Active"}
    assert world.incident_dirs() == []


def timing(provider: str, slowest: int) -> ProviderTiming:
    return ProviderTiming(provider, keys=1, rotated=1, total_ms=slowest, slowest_ms=slowest)


def test_comparison_verdicts() -> None:
    now = {p.provider: p for p in (timing("aws", 400), timing("github", 900),
                                    timing("openclaw", 105), timing("slack", 80))}
    before = {p.provider: p for p in (timing("aws", 1200), timing("github", 300),
                                       timing("openclaw", 100), timing("openai", 500))}
    verdicts = {c.provider: c.verdict for c in compare(now, before)}
    assert verdicts == {
        "aws": "faster", "github": "slower", "openclaw": "about the same", "slack": "new",
        "openai": "not rotated this time",
    }


def test_a_drill_incident_is_recognised_by_its_playbook() -> None:
    drill = Path("/somewhere/playbooks/drill.yaml")
    opening = {"extra": {"playbook": {"path": "/elsewhere/drill.yaml", "sha256": "a" * 64}}}
    assert is_drill_incident(opening, drill, "b" * 64)  # the packaged drill, another install
    edited = {"extra": {"playbook": {"path": "/home/me/quarterly.yaml", "sha256": "b" * 64}}}
    assert is_drill_incident(edited, drill, "b" * 64)  # same content
    contain = {"extra": {"playbook": {"path": "/x/playbooks/contain.yaml", "sha256": "c" * 64}}}
    assert not is_drill_incident(contain, drill, "b" * 64)
