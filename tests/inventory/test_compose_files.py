"""Compose files the agent can write: a YAML bomb or a deep nesting does not hold discovery up,
and a host without PyYAML (a fleet host's bare Python) says what it did not read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from responders.interface import fingerprint
from responders.openclaw.discovery import discover

RK = "rk_live_" + "Q7wE2rT9yU4iO1pA8sD3fG6hJ5kL0z"


def _home(tmp_path: Path, compose: str) -> Path:
    home = tmp_path / "home"
    (home / ".openclaw").mkdir(parents=True)
    (home / ".openclaw" / "openclaw.json").write_text("{}")
    (home / "openclaw").mkdir()
    (home / "openclaw" / "docker-compose.yml").write_text(compose)
    return home


def test_a_yaml_bomb_and_deep_nesting_neither_hang_nor_hide_the_rest(tmp_path: Path) -> None:
    bomb = "\n".join(
        [f"x-l0: &l0 [{', '.join(['lol'] * 9)}]"]
        + [f"x-l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)])
    compose = (f"{bomb}\nservices:\n  gw:\n    environment:\n      - STRIPE_API_KEY={RK}\n"
               "      - EXTRA=*l9\n    labels: *l9\n")
    home = _home(tmp_path, compose)
    (home / "deep").mkdir()
    (home / "deep" / "compose.yaml").write_text("services: " + "[" * 5000 + "]" * 5000 + "\n")

    inventory = discover(user_home=home, system_service_dirs=())

    found = inventory.find(fingerprint(RK))
    assert found is not None and [loc.key for loc in found.locations] == [
        "services.gw.environment.STRIPE_API_KEY"]


def test_without_pyyaml_a_compose_file_is_named_not_silently_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path, f"services:\n  gw:\n    environment:\n      - STRIPE_API_KEY={RK}\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError

    inventory = discover(user_home=home, system_service_dirs=())

    compose = home / "openclaw" / "docker-compose.yml"
    assert any(f"{compose}: a compose file, not read (PyYAML" in n for n in inventory.notes)
    assert inventory.find(fingerprint(RK)) is None
