"""The panic path's parameters are plain dataclasses (no pydantic before the stop): checked here
against the pydantic models they replaced, through the engine's validation of a step's with:."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pydantic
import pytest
from pydantic import BaseModel, ConfigDict, Field

from clawback.checked_inputs import validate_params
from clawback.errors import BadInput
from clawback.playbook import load_playbook
from clawback.registry import load_registry
from clawback.runner import WHEN_VARIABLES, known_actions
from responders.host.service import StopServiceParams
from responders.host.snapshot import AgentLayout, EvidenceSettings, SnapshotParams

MiB = 1024 * 1024


# The models as they were (pydantic), the reference for what is accepted and what it becomes.
class SnapshotModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volatile: bool = False
    max_file_bytes: int | None = Field(default=None, ge=0)
    max_total_bytes: int | None = Field(default=None, ge=0)
    extra_paths: list[str] = Field(default_factory=list)
    system_artifacts: bool = True
    log_tail_bytes: int = Field(default=16 * MiB, gt=0)
    command_timeout: float = Field(default=30.0, gt=0)


class StopModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recheck_seconds: float | None = Field(None, ge=0, le=120)
    term_timeout: float = Field(10.0, gt=0, le=300)
    kill_timeout: float = Field(5.0, gt=0, le=120)


SNAPSHOT_CASES: list[dict[str, Any]] = [
    {}, {"volatile": True}, {"volatile": "yes"}, {"volatile": "maybe"}, {"volatle": True},
    {"max_file_bytes": 0}, {"max_file_bytes": -1}, {"max_total_bytes": 5}, {"extra_paths": "x"},
    {"extra_paths": ["/a", "/b"]}, {"log_tail_bytes": 0}, {"log_tail_bytes": 1024},
    {"command_timeout": 3}, {"command_timeout": 0}, {"command_timeout": "fast"},
    {"system_artifacts": False}, {"max_file_bytes": 2.5},
]
STOP_CASES: list[dict[str, Any]] = [
    {}, {"recheck_seconds": 0}, {"recheck_seconds": 120}, {"recheck_seconds": 121},
    {"recheck_seconds": -1}, {"recheck_seconds": None}, {"term_timeout": 300},
    {"term_timeout": 300.5}, {"term_timeout": 0}, {"kill_timeout": 0.5}, {"kill_timeout": 121},
    {"kill_timout": 3}, {"term_timeout": "10"},
]


def _outcome(validate: Any, data: dict[str, Any]) -> Any:
    """What ``data`` becomes (field -> value), or "refused"."""
    try:
        value = validate(data)
    except pydantic.ValidationError:
        return "refused"
    return value.model_dump() if isinstance(value, BaseModel) else dataclasses.asdict(value)


@pytest.mark.parametrize("data", SNAPSHOT_CASES)
def test_snapshot_params_accept_and_refuse_as_the_model_did(data: dict[str, Any]) -> None:
    assert (_outcome(lambda d: validate_params(SnapshotParams, d), data)
            == _outcome(SnapshotModel.model_validate, data))


@pytest.mark.parametrize("data", STOP_CASES)
def test_stop_params_accept_and_refuse_as_the_model_did(data: dict[str, Any]) -> None:
    assert (_outcome(lambda d: validate_params(StopServiceParams, d), data)
            == _outcome(StopModel.model_validate, data))


def test_a_dataclass_built_directly_is_held_to_the_same_bounds() -> None:
    for bad in ({"term_timeout": 0}, {"kill_timeout": 500}, {"recheck_seconds": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            StopServiceParams(**bad)
    with pytest.raises(ValueError, match="log_tail_bytes"):
        SnapshotParams(log_tail_bytes=0)


def test_settings_are_read_by_kind_and_other_keys_ignored() -> None:
    layout = AgentLayout.from_settings({"state_dirs": ["/srv/a"], "uid": 1000, "services": [],
                                        "user_home": None, "gateway_port": 18790})
    assert layout == AgentLayout(state_dirs=["/srv/a"], uid=1000, gateway_port=18790)
    assert AgentLayout.from_settings(None) == AgentLayout()
    for bad in ({"uid": "1000"}, {"uid": True}, {"gateway_port": None},
                {"state_dirs": ["/a", 3]}, {"tmp_dirs": "/tmp"}):
        with pytest.raises(ValueError, match=rf"agent\.{next(iter(bad))}"):
            AgentLayout.from_settings(bad)
    assert EvidenceSettings.from_settings({"max_total_bytes": 10, "system_root": "/mnt"}) == \
        EvidenceSettings(max_total_bytes=10, system_root="/mnt")
    with pytest.raises(ValueError, match=r"evidence\.max_file_bytes"):
        EvidenceSettings.from_settings({"max_file_bytes": -1})


PLAYBOOK = """name: contain
steps:
  - id: stop
    uses: host.stop_service
    with:
      {line}
"""


@pytest.mark.parametrize(("line", "said"), [
    ("term_timeout: 0", "with: of step 'stop' (host.stop_service): term_timeout: expected a "
                        "number above 0 and at most 300, got 0"),
    ("term_timout: 3", "unknown key 'term_timout' in with: of step 'stop' (host.stop_service)"
                       "; allowed keys: kill_timeout, recheck_seconds, term_timeout. Did you "
                       "mean 'term_timeout'?"),
    ("kill_timeout: soon", "kill_timeout in with: of step 'stop' (host.stop_service): "
                           "expected a valid number"),
])
def test_a_bad_with_names_file_line_and_field(tmp_path: Path, line: str, said: str) -> None:
    path = tmp_path / "contain.yaml"
    path.write_text(PLAYBOOK.format(line=line))
    path.chmod(0o600)
    with pytest.raises(BadInput) as caught:
        load_playbook(path, actions=known_actions(load_registry()), variables=WHEN_VARIABLES)
    assert caught.value.exit_code == 2 and str(caught.value.path) == str(path)
    assert caught.value.line in (5, 6)
    assert said in str(caught.value)
