"""A provider table its responder accepted is not checked again (no provider module is loaded
before the stop), while anything that could change the verdict gets it checked again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from clawback import checked_inputs
from clawback.checked_tables import CheckedTables, code_signature, record_path
from clawback.contain import ContainRequest, prepare
from clawback.errors import BadInput
from clawback.registry import Registry

OPENAI = """
[providers.openai]
base_url = "http://127.0.0.1:9"
admin_key = "env:CLAWBACK_TEST_OPENAI_ADMIN"
"""


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch, memory_keyring: Any) -> list[str]:
    """The responders loaded to check a table, in order."""
    monkeypatch.setenv("CLAWBACK_TEST_OPENAI_ADMIN", "placeholder-admin-key")
    loaded: list[str] = []
    real = Registry.responder

    def recording(self: Registry, name: str) -> Any:
        loaded.append(name)
        return real(self, name)

    monkeypatch.setattr(Registry, "responder", recording)
    return loaded


def _prepare(tmp_path: Path, text: str, **request: Any) -> Any:
    # The record of whole inputs checked before would skip the tables' check altogether
    # (tests/engine/test_checked_inputs.py): without it, this record alone decides.
    checked_inputs.record_path().unlink(missing_ok=True)
    config = tmp_path / "clawback.toml"
    config.write_text(text)
    config.chmod(0o600)
    return prepare(ContainRequest(config=config, **request))


def _checked_openai(checks: list[str], tmp_path: Path, text: str, **request: Any) -> bool:
    """Whether preparing ``text`` loaded the openai responder to check its table."""
    before = len(checks)
    _prepare(tmp_path, text, **request)
    return "openai" in checks[before:]


def test_an_accepted_table_is_not_checked_again(tmp_path: Path, checks: list[str]) -> None:
    assert _checked_openai(checks, tmp_path, OPENAI)
    assert record_path().is_file() and (record_path().stat().st_mode & 0o777) == 0o600
    assert not _checked_openai(checks, tmp_path, OPENAI)
    # Any change to the table is a new table.
    changed = OPENAI.replace("127.0.0.1:9", "127.0.0.1:10")
    assert _checked_openai(checks, tmp_path, changed)
    assert not _checked_openai(checks, tmp_path, changed)


def test_a_refused_table_is_refused_every_time(tmp_path: Path, checks: list[str]) -> None:
    assert _checked_openai(checks, tmp_path, OPENAI)
    bad = OPENAI + 'admin_key_expires_in_seconds = 0\n'
    for _ in range(2):
        with pytest.raises(BadInput) as caught:
            _prepare(tmp_path, bad)
        assert "[providers.openai]" in str(caught.value)
        assert str(caught.value.path) == str(tmp_path / "clawback.toml") and caught.value.line


def test_a_dry_run_records_nothing(tmp_path: Path, checks: list[str]) -> None:
    assert _checked_openai(checks, tmp_path, OPENAI, dry_run=True)
    assert not record_path().exists()
    assert _checked_openai(checks, tmp_path, OPENAI, dry_run=True)


@pytest.mark.parametrize("spoil", ["garbage", "group-writable", "directory"])
def test_a_record_that_cannot_be_trusted_means_checking_again(
        tmp_path: Path, checks: list[str], spoil: str) -> None:
    assert _checked_openai(checks, tmp_path, OPENAI)
    record = record_path()
    if spoil == "garbage":
        record.write_text("not a digest\n" * 3)
    elif spoil == "group-writable":
        os.chmod(record, 0o620)
    else:
        record.unlink()
        record.mkdir()
    assert _checked_openai(checks, tmp_path, OPENAI)


def test_the_code_signature_follows_every_file_of_the_package(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    package = tmp_path / "plugin_pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "settings.py").write_text("LIMIT = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = code_signature("plugin_pkg.responder")
    assert first is not None and code_signature("plugin_pkg") == first
    (package / "sub" / "settings.py").write_text("LIMIT = 22\n")  # an edit deep inside
    second = code_signature("plugin_pkg.responder")
    assert second not in (None, first)
    assert code_signature("no_such_package_anywhere.responder") is None


def test_a_responder_given_in_process_is_always_checked(tmp_path: Path) -> None:
    checked = CheckedTables.load(tmp_path / "record")
    assert checked.digest("openai", None, {"base_url": "x"}) is None
    one = checked.digest("openai", "responders.openai", {"base_url": "x"})
    other = checked.digest("openai", "responders.openai", {"base_url": "y"})
    renamed = checked.digest("openai2", "responders.openai", {"base_url": "x"})
    assert one is not None and len({one, other, renamed}) == 3
