"""The command runner: fixed system path, binary sha256, bounded time, no shell, no stdout in
the record."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from responders.host import commands
from responders.host.commands import MissingBinary, resolve_binary, run_command
from responders.host.service import StopServiceAction, StopServiceParams
from responders.interface import ResponderContext


def test_binaries_come_from_the_system_path_not_the_callers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = tmp_path / "true"
    planted.write_text("#!/bin/sh\necho planted\n")
    planted.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    resolved = resolve_binary("true")
    assert resolved != str(planted) and resolved.startswith(("/usr/", "/bin/"))
    result = run_command(["true"])
    assert result.ok and result.binary == resolved
    assert result.binary_sha256 == hashlib.sha256(Path(resolved).read_bytes()).hexdigest()


def test_no_shell_and_stdout_stays_out_of_the_record() -> None:
    result = run_command(["echo", "$HOME; id"])
    assert result.stdout == "$HOME; id\n"
    record = result.record()
    assert "stdout" not in record and record["argv"][1:] == ["$HOME; id"]
    assert record["exit_code"] == 0 and len(record["binary_sha256"]) == 64


def test_a_timeout_is_a_result_with_no_exit_code() -> None:
    result = run_command(["sleep", "60"], timeout=0.2)
    assert result.timed_out and result.exit_code is None and not result.ok
    assert result.duration_s < 30, "it was not killed at its timeout: it ran its course"
    assert "killed after 0.2s" in result.record()["stderr_tail"]


def test_failure_keeps_a_short_stderr_tail() -> None:
    result = run_command(["ls", "/definitely/not/here"])
    assert result.exit_code not in (0, None)
    assert "not/here" in result.record()["stderr_tail"]


def test_missing_binary_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "SYSTEM_PATH", (str(tmp_path),))
    with pytest.raises(MissingBinary, match=r"apt-get install -y nftables"):
        resolve_binary("nft")
    with pytest.raises(MissingBinary, match="no systemd"):
        run_command(["systemctl", "stop", "openclaw-gateway.service"])


def test_systemd_stop_failure_reads_as_advice_on_a_host_without_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("systemctl", path=":".join(commands.SYSTEM_PATH)) is None:
        pytest.skip("systemctl is not installed; this checks its real failure message")
    if Path("/run/systemd/system").is_dir():
        pytest.skip("systemd is running here: stopping a unit would be real")
    service = {"kind": "systemd", "name": "openclaw-gateway-clawbacktest"}
    settings = {"agent": {"gateway_port": 1, "services": [service]}}
    action = StopServiceAction(
        ResponderContext(settings=settings), StopServiceParams(recheck_seconds=0)
    )
    # With no systemd the unit is reported as inert and systemctl is not even asked; to see
    # systemctl's own failure read as advice, the stop must believe systemd runs.
    target = "systemd:openclaw-gateway-clawbacktest.service"
    assert action.execute(target).name == "Skipped"
    import responders.host.service as stop_service

    monkeypatch.setattr(stop_service, "SYSTEMD_RUNTIME_DIR", str(tmp_path))
    outcome = action.execute(target)
    assert outcome.name == "Failed"
    assert "systemctl stop openclaw-gateway-clawbacktest.service" in outcome.error
    command = outcome.facts["commands"][0]
    assert command["argv"][1:] == ["stop", "openclaw-gateway-clawbacktest.service"]
    assert command["exit_code"] != 0 and len(command["binary_sha256"]) == 64
