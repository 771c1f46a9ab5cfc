"""A config and playbook that passed every check are not validated again (no pydantic, PyYAML
or responder module before the stop), while anything that could change the verdict gets the
whole validation again: bad input still exits 2 naming file and line, nothing done."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from clawback import checked_inputs, contain
from clawback.checked_inputs import CheckedInputs, record_path
from clawback.config import Config
from clawback.contain import ContainRequest, prepare
from clawback.errors import BadInput

CONFIG = """
[agent]
user_home = "~/agent-home"
gateway_port = 18789

[providers.openai]
base_url = "http://127.0.0.1:9"
admin_key = "env:CLAWBACK_TEST_OPENAI_ADMIN"

[evidence]
max_file_bytes = 1048576
"""


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch, memory_keyring: Any) -> list[str]:
    """One item per full validation ``prepare`` ran."""
    monkeypatch.setenv("CLAWBACK_TEST_OPENAI_ADMIN", "placeholder-admin-key")
    seen: list[str] = []
    real = contain._validate

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append("validated")
        return real(*args, **kwargs)

    monkeypatch.setattr(contain, "_validate", recording)
    return seen


def _write(tmp_path: Path, text: str, name: str = "clawback.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def _prepare(tmp_path: Path, text: str = CONFIG, **request: Any) -> Any:
    return prepare(ContainRequest(config=_write(tmp_path, text), **request))


def _validated(seen: list[str], tmp_path: Path, text: str = CONFIG, **request: Any) -> bool:
    before = len(seen)
    _prepare(tmp_path, text, **request)
    return len(seen) > before


def test_inputs_checked_before_are_not_validated_again(tmp_path: Path,
                                                      validations: list[str]) -> None:
    first = _prepare(tmp_path)
    assert validations == ["validated"]
    assert record_path().is_file() and (record_path().stat().st_mode & 0o777) == 0o600
    again = _prepare(tmp_path)
    assert validations == ["validated"], "the second run validated again"
    # What the runner reads is the same either way ...
    assert again.settings == first.settings
    assert again.inputs.provider("openai") == first.inputs.provider("openai")
    assert again.inputs.sha256 == first.inputs.sha256
    assert [s.id for s in again.loaded.playbook.steps] == [
        s.id for s in first.loaded.playbook.steps]
    assert set(again.loaded.when) == set(first.loaded.when)
    assert again.loaded.sha256 == first.loaded.sha256
    # ... each step's parameters are its action's model, validated on use ...
    assert again.loaded.params["volatile"] == first.loaded.params["volatile"]
    assert (again.loaded.params["revoke"].model_dump()
            == first.loaded.params["revoke"].model_dump())
    with pytest.raises(TypeError):
        again.loaded.params["stop"] = None
    # ... and the whole config, asked for after the stop, is the same validated model.
    assert isinstance(again.config, Config)
    assert again.config.model_dump() == first.config.model_dump()
    assert again.config.line_of("providers", "openai", "admin_key") == 8


def test_a_changed_config_is_validated_in_full(tmp_path: Path, validations: list[str]) -> None:
    assert _validated(validations, tmp_path)
    assert _validated(validations, tmp_path, CONFIG + "# one more byte\n")
    bad = CONFIG.replace("gateway_port = 18789", 'gateway_port = "18789"')
    for _ in range(2):  # a refusal is never remembered
        with pytest.raises(BadInput) as caught:
            _prepare(tmp_path, bad)
        assert caught.value.exit_code == 2
        assert str(caught.value.path) == str(tmp_path / "clawback.toml")
        assert caught.value.line == 4


def test_a_changed_playbook_is_validated_in_full(tmp_path: Path,
                                                 validations: list[str]) -> None:
    packaged = contain.packaged_playbook("contain").read_text()
    playbook = _write(tmp_path, packaged, "contain.yaml")
    config = _write(tmp_path, CONFIG)
    for _ in range(2):
        prepare(ContainRequest(config=config, playbook=playbook))
    assert validations == ["validated"]
    _write(tmp_path, packaged.replace("uses: host.stop_service", "uses: host.stop_servce"),
           "contain.yaml")
    with pytest.raises(BadInput) as caught:
        prepare(ContainRequest(config=config, playbook=playbook))
    assert str(caught.value.path) == str(playbook) and caught.value.line == 15
    assert "host.stop_servce" in str(caught.value)


def test_the_files_owner_and_mode_are_checked_every_time(tmp_path: Path,
                                                         validations: list[str]) -> None:
    _prepare(tmp_path)
    config = tmp_path / "clawback.toml"
    config.chmod(0o620)
    with pytest.raises(BadInput, match="writable by group or others"):
        prepare(ContainRequest(config=config))


def test_references_are_resolved_every_time(tmp_path: Path, validations: list[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _prepare(tmp_path).unusable
    monkeypatch.delenv("CLAWBACK_TEST_OPENAI_ADMIN")
    prepared = _prepare(tmp_path)
    assert validations == ["validated"]
    assert "CLAWBACK_TEST_OPENAI_ADMIN" in prepared.unusable["openai"]
    with pytest.raises(BadInput) as caught:
        _prepare(tmp_path, degrade=False)
    assert caught.value.line == 8


def test_another_home_is_another_digest(tmp_path: Path, validations: list[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    first = _prepare(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    second = _prepare(tmp_path)
    assert len(validations) == 2
    assert second.settings["agent"]["user_home"] == str(tmp_path / "elsewhere" / "agent-home")
    assert first.settings["agent"]["user_home"] != second.settings["agent"]["user_home"]


def test_a_user_home_that_moved_is_validated_again(tmp_path: Path, validations: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``~nobody`` is the passwd entry's home: the digest cannot see it change, the lookup does
    (each ``~`` of the config is expanded again and compared)."""
    text = CONFIG.replace('user_home = "~/agent-home"', 'user_home = "~nobody/agent"')
    first = _prepare(tmp_path, text)
    _prepare(tmp_path, text)
    assert len(validations) == 1
    real = os.path.expanduser
    monkeypatch.setattr(os.path, "expanduser", lambda p: (
        p.replace("~nobody", "/srv/moved", 1) if p.startswith("~nobody") else real(p)))
    moved = _prepare(tmp_path, text)
    assert len(validations) == 2
    assert first.settings["agent"]["user_home"] != "/srv/moved/agent"
    assert moved.settings["agent"]["user_home"] == "/srv/moved/agent"


def test_a_dry_run_records_nothing(tmp_path: Path, validations: list[str]) -> None:
    _prepare(tmp_path, dry_run=True)
    assert not record_path().exists()
    _prepare(tmp_path, dry_run=True)
    assert len(validations) == 2


@pytest.mark.parametrize("spoil", ["garbage", "edited-entry", "group-writable", "directory"])
def test_a_record_that_cannot_be_trusted_means_validating_again(
        tmp_path: Path, validations: list[str], spoil: str) -> None:
    _prepare(tmp_path)
    record = record_path()
    if spoil == "garbage":
        record.write_text("not json\n" * 3)
    elif spoil == "edited-entry":
        # Someone changes what a digest stands for without knowing how entries are checked.
        item = json.loads(record.read_text().splitlines()[0])
        item["entry"]["settings"]["agent"]["user_home"] = "/root"
        record.write_text(json.dumps(item) + "\n")
        os.chmod(record, 0o600)
    elif spoil == "group-writable":
        os.chmod(record, 0o620)
    else:
        record.unlink()
        record.mkdir()
    prepared = _prepare(tmp_path)
    assert len(validations) == 2
    assert prepared.settings["agent"]["user_home"] != "/root"


def test_a_record_owned_by_someone_else_is_ignored(tmp_path: Path,
                                                   validations: list[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the record to another user")
    _prepare(tmp_path)
    os.chown(record_path(), 65534, 65534)
    _prepare(tmp_path)
    assert len(validations) == 2


def test_a_responder_given_in_process_means_validating_every_time(
        tmp_path: Path, validations: list[str]) -> None:
    from responders.manual import ManualResponder

    class Extra(ManualResponder):
        name = "extra"

    for _ in range(2):
        _prepare(tmp_path, extra_responders=[Extra])
    assert len(validations) == 2


def test_an_entry_json_cannot_keep_is_not_recorded(tmp_path: Path) -> None:
    record = CheckedInputs.load(tmp_path / "record")
    record.add("a" * 64, {"playbook": {"steps": [{"with": {"when": (1, 2)}}]}})
    assert not record.changed and record.get("a" * 64) is None


def test_the_digest_follows_code_files_and_home(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    playbook = _write(tmp_path, "name: x\n", "p.yaml")

    def digest(config: bytes = b"x = 1\n", points: dict[str, str] | None = None) -> str | None:
        return checked_inputs.inputs_digest(
            config_path=tmp_path / "c.toml", config_raw=config, playbook_path=playbook,
            playbook_raw=playbook.read_bytes(),
            entry_points=points or {"host": "responders.host:HostResponder"})

    first = digest()
    assert first is not None and digest() == first
    assert digest(b"x = 2\n") != first
    assert digest(points={"host": "responders.host:Other"}) != first
    monkeypatch.setenv("HOME", str(tmp_path))
    assert digest() != first
    assert digest(points={"gone": "no_such_package_anywhere.mod:R"}) is None


def test_only_flat_dataclass_parameters_are_kept_validated() -> None:
    """A step whose parameters are a plain dataclass of flat values is rebuilt from them; any
    other is validated again when its step runs (its with: is kept as written)."""
    import dataclasses

    from responders.host.service import StopServiceParams

    @dataclasses.dataclass(frozen=True)
    class Nested:
        inner: StopServiceParams = dataclasses.field(default_factory=StopServiceParams)

    @dataclasses.dataclass(frozen=True)
    class Derived:
        a: int = 1
        b: int = dataclasses.field(init=False, default=2)

    flat = checked_inputs._flat_values(StopServiceParams(term_timeout=3.0))
    assert flat == {"recheck_seconds": None, "term_timeout": 3.0, "kill_timeout": 5.0}
    assert StopServiceParams(**flat) == StopServiceParams(term_timeout=3.0)
    assert checked_inputs._flat_values(Nested()) is None
    assert checked_inputs._flat_values(Derived()) is None
    assert checked_inputs._flat_values(StopServiceParams) is None
