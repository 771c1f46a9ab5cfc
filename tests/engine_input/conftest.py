"""Fixtures for the playbook, config and ``when:`` input tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

InputWriter = Callable[..., Path]


@pytest.fixture
def shared_conftest(request: pytest.FixtureRequest) -> ModuleType:
    """tests/conftest.py itself (require, require_root), found by path.

    ``from conftest import ...`` would pick whichever conftest.py pytest imported last.
    """
    path = Path(__file__).resolve().parent.parent / "conftest.py"
    module = request.config.pluginmanager.get_plugin(str(path))
    assert module is not None, f"{path} is not loaded as a pytest plugin"
    return module


@pytest.fixture
def write_input(tmp_path: Path) -> InputWriter:
    """Write a playbook or config file the way an operator should: 0600, owned by us."""

    def write(name: str, content: str | bytes, *, mode: int = 0o600) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        os.chmod(path, mode)
        return path

    return write
