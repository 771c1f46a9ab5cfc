"""``clawback discover`` looks where ``contain`` looks: [agent] of clawback.toml, temp dirs too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clawback import cli


def test_discover_reads_the_temp_dirs_contain_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    (home / ".openclaw").mkdir(parents=True)
    (home / ".openclaw" / "openclaw.json").write_text('{"gateway": {"port": 18789}}')
    tmp = tmp_path / "tmp"
    (tmp / "openclaw").mkdir(parents=True)
    (tmp / "openclaw-1000").mkdir()
    token = "ghp_" + "Kq7Zr2Wm9Xb4Tn6Yc1Vd8Hf3Js5Lp0GuEaRi"
    log = tmp / "openclaw" / "openclaw-2026-12-06.log"
    log.write_text(json.dumps({"msg": f"exec: git push https://{token}@github.com/x/y"}) + "\n")
    lock = tmp / "openclaw-1000" / "gateway.0a1b2c3d.lock"
    lock.write_text(json.dumps({"pid": 999999, "createdAt": "2026-12-06T00:00:00Z",
                                "configPath": str(home / ".openclaw" / "openclaw.json")}))
    config = tmp_path / "clawback.toml"
    config.write_text(f'[agent]\nuser_home = "{home}"\ntmp_dirs = ["{tmp}"]\n')

    code = cli.discover(json=True, config=str(config))

    assert code == 0
    listed = json.loads(capsys.readouterr().out)
    places = [loc for c in listed["credentials"] for loc in c["locations"]]
    assert any(str(log) in str(place) for place in places), places
    assert [lock_["path"] for lock_ in listed["gateway_locks"]] == [str(lock)]
    assert token not in json.dumps(listed)
