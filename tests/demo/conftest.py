"""``clawback demo`` run once per module, as a user runs it: ``python -m clawback demo --json``.

The demo builds its own sandbox; the test only gives it a private ``TMPDIR`` (so the sandbox
lands in pytest's tmp dir), a seed (so the planted secrets can be regenerated here and searched
for, without the demo ever printing one), proxy variables that send any off-box HTTP to a dead
port, and a marker in its environment, which every process it starts inherits: a process that
still carries the marker afterwards was left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

DEMO_SEED = 20261121
MARK_VARIABLE = "CLAWBACK_DEMO_TEST_MARK"
DEAD_PROXY = "http://127.0.0.1:9"


@dataclass
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    document: dict[str, Any]
    sandbox: Path
    seconds: float
    left_behind: list[str]  # "pid name" of marked processes still alive after the demo

    @property
    def demo(self) -> dict[str, Any]:
        return dict(self.document.get("demo") or {})

    @property
    def incident_dir(self) -> Path:
        return Path(self.document["incident_dir"])

    def sandbox_json(self, name: str) -> Any:
        return json.loads((self.sandbox / name).read_text())


def marked_processes(mark: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARK_VARIABLE) == mark:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid} {' '.join(process.cmdline())[:120]}"
    except psutil.Error:
        return f"{process.pid} (gone since)"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    workdir = tmp_path_factory.mktemp("demo")
    mark = uuid.uuid4().hex
    env = {
        **os.environ,
        "TMPDIR": str(workdir),
        "CLAWBACK_DEMO_SEED": str(DEMO_SEED),
        MARK_VARIABLE: mark,
        "XDG_DATA_HOME": str(workdir / "xdg-data"),
        "XDG_STATE_HOME": str(workdir / "xdg-state"),
        "XDG_CONFIG_HOME": str(workdir / "xdg-config"),
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "no_proxy": "127.0.0.1,localhost,::1",
        **{v: DEAD_PROXY for v in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
                                   "https_proxy")},
    }
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-m", "clawback", "demo", "--json"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    seconds = time.monotonic() - started
    left = marked_processes(mark)
    try:
        document = json.loads(finished.stdout) if finished.stdout.strip() else {}
        sandbox = Path(document.get("demo", {}).get("sandbox") or workdir)
        yield DemoRun(
            returncode=finished.returncode,
            stdout=finished.stdout,
            stderr=finished.stderr,
            document=document,
            sandbox=sandbox,
            seconds=seconds,
            left_behind=[_describe(p) for p in left],
        )
    finally:
        # A failing demo must not leave its servers running for the rest of the suite.
        for process in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
