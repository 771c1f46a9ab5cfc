"""The wheel: built without a warning, holding what the installed ``clawback`` needs.

Built offline with the test environment's setuptools (``--no-build-isolation``), as a release
would be built, from a copy of the checkout so nothing is written into it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tools", "build", "*.egg-info", "__pycache__", ".ruff_cache"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(work / "dist"), "-v"],
        capture_output=True, text=True, env=env, timeout=300, cwd=work,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (path,) = (work / "dist").glob("clawback-*.whl")
    return path, built.stdout + built.stderr


def test_the_build_prints_no_warning(wheel: tuple[Path, str]) -> None:
    _, output = wheel
    warnings = [line for line in output.splitlines()
                if "warning" in line.lower() and "WARNING: Location" not in line]
    assert warnings == []


def test_the_wheel_holds_the_templates_playbooks_and_metadata(wheel: tuple[Path, str]) -> None:
    path, _ = wheel
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith("/METADATA"))
        entry_points = next(archive.read(n).decode() for n in names
                            if n.endswith("/entry_points.txt"))
    for needed in ("clawback/report/templates/report.html.j2",
                   "clawback/report/templates/report.md.j2",
                   "clawback/playbooks/contain.yaml", "clawback/command_line.py"):
        assert needed in names
    assert "clawback = clawback.cli:main" in entry_points
    assert "Classifier: Topic :: Security" in metadata
    assert "Requires-Dist: tenacity" in metadata and "Requires-Dist: shtab" in metadata
