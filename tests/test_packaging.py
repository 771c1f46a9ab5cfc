"""The wheel: built without a warning, holding what the installed ``clawback`` needs.

Built offline with the test environment's setuptools (``--no-build-isolation``), as a release
would be built, from a copy of the checkout so nothing is written into it.
"""

from __future__ import annotations

import os
import re
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


def test_the_demos_dependencies_come_only_with_the_demo_extra(wheel: tuple[Path, str]) -> None:
    """A plain ``pip install clawback`` pulls in no moto, supervisor or file keyring: the demo's
    sandbox needs are the ``demo`` extra's, which ``./scripts/demo`` installs."""
    path, _ = wheel
    with zipfile.ZipFile(path) as archive:
        metadata = next(archive.read(n).decode() for n in archive.namelist()
                        if n.endswith("/METADATA"))
    requires = [line.removeprefix("Requires-Dist: ") for line in metadata.splitlines()
                if line.startswith("Requires-Dist: ")]
    assert "Provides-Extra: demo" in metadata.splitlines()
    for name in ("moto", "supervisor", "keyrings.alt", "tomli-w", "openapi-core"):
        declared = [r for r in requires if re.match(rf"{re.escape(name)}\b", r, re.IGNORECASE)]
        assert declared, name
        assert all("extra ==" in r for r in declared), declared
        assert any('extra == "demo"' in r for r in declared), declared


# The descriptions `clawback demo` checks its stand-ins against: package data of the demo, one
# copy (the tests read the same files), with their sources and licenses beside them.
DEMO_CONTRACTS = ("github.json", "openai.json", "slack.json", "cloudflare.json", "stripe.json")


def test_the_wheel_carries_the_demo_package_and_its_contracts(wheel: tuple[Path, str]) -> None:
    path, _ = wheel
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for name in DEMO_CONTRACTS:
            shipped = archive.read(f"clawback_demo/contracts/{name}")
            assert shipped == (ROOT / "clawback_demo" / "contracts" / name).read_bytes()
            assert not (ROOT / "tests" / "contracts" / name).exists()  # one copy only
    for needed in ("clawback_demo/__init__.py", "clawback_demo/demo.py",
                   "clawback_demo/providers/fleet.py", "clawback_demo/contracts/SOURCES.md"):
        assert needed in names
    assert not any(n.startswith("clawback/sandbox/") for n in names)


def test_the_installed_demo_finds_its_contracts_without_the_checkout(
    wheel: tuple[Path, str], tmp_path: Path
) -> None:
    """Unpacked as pip installs it, with the checkout off ``sys.path`` and another working
    directory: ``contracts_dir()`` is inside the installed package and every check loads."""
    path, _ = wheel
    installed = tmp_path / "site"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(installed)
    probe = (
        "import sys\n"
        f"root = {str(ROOT)!r}\n"
        "sys.path[:] = [p for p in sys.path if p not in ('', root)]\n"
        f"sys.path.insert(0, {str(installed)!r})\n"
        "import clawback_demo\n"
        "from clawback_demo.providers import contracts\n"
        "print(clawback_demo.__file__)\n"
        "print(contracts.contracts_dir())\n"
        f"for name in {DEMO_CONTRACTS!r}:\n"
        "    print(name, contracts.load_check(name) is not None)\n"
    )
    ran = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    module_file, directory, *checks = ran.stdout.splitlines()
    assert module_file == str(installed / "clawback_demo" / "__init__.py")
    assert directory == str(installed / "clawback_demo" / "contracts")
    assert checks == [f"{name} True" for name in DEMO_CONTRACTS]


def test_the_installed_clawback_builds_the_fleet_agent_and_runs_the_host_actions(
    wheel: tuple[Path, str], tmp_path: Path
) -> None:
    """Installed from the wheel (checkout off ``sys.path``): the fleet agent's zip is built from
    the installed files, so every module it packs (the host probes among them) must ship, and
    the local host actions import the same probes."""
    from responders.fleet_agent import PACKED_MODULES

    path, _ = wheel
    installed = tmp_path / "site"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        archive.extractall(installed)
    assert set(PACKED_MODULES) <= names
    probe = (
        "import sys\n"
        f"root = {str(ROOT)!r}\n"
        "sys.path[:] = [p for p in sys.path if p not in ('', root)]\n"
        f"sys.path.insert(0, {str(installed)!r})\n"
        "import responders.host.snapshot\n"
        "from responders.fleet_agent import agent_zip\n"
        "print(responders.host.snapshot.__file__, len(agent_zip()) > 0)\n"
    )
    ran = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split() == [str(installed / "responders" / "host" / "snapshot.py"), "True"]
