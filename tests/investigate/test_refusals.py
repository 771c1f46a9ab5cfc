"""``investigate`` refuses what it must not trust, and says why: a tampered archive or
timeline (exit 1, nothing written), bad rules (exit 2 naming file and line, nothing read)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from investigate_incidents import SampleIncident

from clawback import cli
from clawback.display import Display
from clawback.errors import BadInput
from clawback.investigate.rules import load_rules


def _state(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != "lock"}


def _flip_a_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_tampered_archive_is_refused_and_nothing_is_written(
    sample_incident: SampleIncident, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = next((sample_incident.directory / "evidence").glob("*-full.tar.gz"))
    _flip_a_byte(archive, archive.stat().st_size // 2)
    before = _state(sample_incident.directory)
    code = cli.investigate(str(sample_incident.directory), display=Display(color="never"))
    assert code == 1
    err = capsys.readouterr().err
    assert "does not verify" in err and "ARCHIVE" in err
    assert _state(sample_incident.directory) == before
    assert not (sample_incident.directory / "evidence" / "investigation.json").exists()


def test_a_tampered_timeline_is_refused_with_its_verdicts(
    sample_incident: SampleIncident, capsys: pytest.CaptureFixture[str]
) -> None:
    timeline = sample_incident.directory / "timeline.jsonl"
    lines = timeline.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace('"dry_run":false', '"dry_run":true')
    timeline.write_text("".join(lines))
    code = cli.investigate(str(sample_incident.directory), json=True)
    assert code == 1
    import json

    document = json.loads(capsys.readouterr().out)
    assert document["investigated"] is False
    assert "ENTRY_MODIFIED" in {v["code"] for v in document["verdicts"]}


def test_a_member_changed_after_verification_stops_the_investigation(
    sample_incident: SampleIncident, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is analysed is what was verified: each member is hashed again as it is read."""
    from clawback.investigate import sealed
    from clawback.investigate.sealed import EvidenceChanged

    real = sealed.read_members

    def swap_then_read(incident_dir, manifest, wanted, consume):  # type: ignore[no-untyped-def]
        archive = next((incident_dir / "evidence").glob("*-full.tar.gz"))
        _flip_a_byte(archive, archive.stat().st_size // 3)
        return real(incident_dir, manifest, wanted, consume)

    monkeypatch.setattr("clawback.investigate.engine.read_members", swap_then_read)
    from clawback.investigate import investigate_incident

    with pytest.raises(EvidenceChanged):
        investigate_incident(sample_incident.directory)
    assert not (sample_incident.directory / "evidence" / "investigation.json").exists()
    assert not list((sample_incident.directory / "evidence").glob(".staged-*"))


@pytest.mark.parametrize(("text", "line", "says"), [
    ("version: 1\ninjection:\n  - id: x\n    pattern: '(unclosed'\n", 3, "does not compile"),
    ("version: 1\nsources:\n  - {parser: openclaw-transcrpt, paths: ['*']}\n", 3,
     "did you mean 'openclaw-transcript'"),
    ("version: 1\ninjection:\n  - id: x\n    pattern: a\n    colour: red\n", 3, "colour"),
    ("version: 1\ninjection: [\n", 3, "not valid YAML"),
    ("version: 1\nversion: 1\n", 2, "duplicate key"),
])
def test_bad_rules_are_bad_input_naming_file_and_line(tmp_path: Path, text: str, line: int,
                                                      says: str) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(text)
    os.chmod(rules, 0o600)
    with pytest.raises(BadInput) as caught:
        load_rules([rules])
    assert caught.value.path == str(rules)
    assert caught.value.line == line, str(caught.value)
    assert says in str(caught.value)


def test_bad_rules_exit_2_before_the_evidence_is_read(
    sample_incident: SampleIncident, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text("version: 1\nexfiltration:\n  - id: x\n    pattern: '[a-'\n")
    os.chmod(rules, 0o600)
    before = _state(sample_incident.directory)
    assert cli.investigate(str(sample_incident.directory), rules=str(rules)) == 2
    assert f"{rules}:3" in capsys.readouterr().err
    assert _state(sample_incident.directory) == before


def test_a_rules_file_others_can_write_is_refused(tmp_path: Path) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text("version: 1\n")
    os.chmod(rules, 0o666)
    with pytest.raises(BadInput, match="writable by group or others"):
        load_rules([rules])


def test_user_rules_extend_replace_and_disable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    shipped = load_rules(user_default=False)
    assert {"ignore-previous-instructions", "act-on-secrets"} <= {r.id for r in shipped.injection}
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "version: 1\n"
        "disable: [act-on-secrets]\n"
        "injection:\n"
        "  - {id: ignore-previous-instructions, severity: low, pattern: 'IGNORE ME'}\n"
        "  - {id: our-codeword, severity: high, pattern: 'swordfish', why: internal}\n"
        "paste_sites: [drop.example.org]\n"
        "sources:\n"
        "  - {parser: auth-log, paths: ['/srv/logs/sshd.log']}\n"
    )
    os.chmod(mine, 0o600)
    # The default user file is read too: $XDG_CONFIG_HOME/clawback/investigate.yaml.
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "clawback"
    config.mkdir(parents=True)
    (config / "investigate.yaml").write_text("version: 1\nknown_domains: [intranet.example]\n")
    os.chmod(config / "investigate.yaml", 0o600)
    rules = load_rules([mine])
    ids = {r.id: r for r in rules.injection}
    assert "act-on-secrets" not in ids
    assert ids["ignore-previous-instructions"].severity == "low"
    assert ids["our-codeword"].origin.endswith("mine.yaml:5")
    assert rules.is_paste_site("x.drop.example.org") and rules.is_paste_site("pastebin.com")
    assert rules.is_known("intranet.example")
    assert rules.parser_for("/srv/logs/sshd.log") == "auth-log"
    assert rules.files[-1] == str(mine)
