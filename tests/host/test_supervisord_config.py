"""supervisord's config read as supervisord reads it (includes, overrides, AUTO logs), checked
against supervisord's own parser, and the ``autostart=false`` edit the stop makes."""

from __future__ import annotations

from pathlib import Path

import pytest
from supervisor.options import ServerOptions

from responders.hostprobes import supervisord_config as sc


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _supervisord_autostart(main: Path, program: str) -> bool:
    """What supervisord itself concludes from these files."""
    options = ServerOptions()
    options.configfile = str(main)
    options.process_config(do_usage=False)
    (group,) = [g for g in options.process_group_configs if g.name == program]
    return bool(group.process_configs[0].autostart)


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    main = _write(tmp_path / "etc" / "supervisord.conf", (
        "[supervisord]\nlogfile=%(here)s/sv.log\nchildlogdir=%(here)s/logs\n\n"
        "[include]\nfiles = conf.d/*.conf\n"
    ))
    (tmp_path / "etc" / "logs").mkdir()
    _write(tmp_path / "etc" / "conf.d" / "10-openclaw.conf", (
        "; the agent\n[program:openclaw-gateway]\ncommand=/bin/sleep 1000\n"
        "autostart = True ; inline comment\nautorestart=true\n"
        "stdout_logfile=%(here)s/%(program_name)s.out\n\n[program:other]\ncommand=/bin/true\n"
    ))
    # A later include may set the same section again: the last file read wins.
    _write(tmp_path / "etc" / "conf.d" / "20-override.conf",
           "[program:openclaw-gateway]\nautostart=yes\n")
    return main


def test_every_file_defining_the_program_is_found_in_supervisords_order(layout: Path) -> None:
    sections = sc.program_sections(str(layout), ["openclaw-gateway"])
    assert [Path(s.file).name for s in sections] == ["10-openclaw.conf", "20-override.conf"]
    assert sc.autostarts(str(layout), "program:openclaw-gateway") is True
    assert _supervisord_autostart(layout, "openclaw-gateway") is True


def test_autostart_off_in_every_file_is_what_supervisord_reads_back(layout: Path) -> None:
    for part in sc.program_sections(str(layout), ["openclaw-gateway"]):
        path = Path(part.file)
        path.write_text(sc.with_autostart_off(path.read_text(), part.section, "kept off"))

    assert sc.autostarts(str(layout), "program:openclaw-gateway") is False
    assert _supervisord_autostart(layout, "openclaw-gateway") is False
    assert _supervisord_autostart(layout, "other") is True  # the neighbour is untouched
    first = (layout.parent / "conf.d" / "10-openclaw.conf").read_text()
    assert first.splitlines()[:4] == [
        "; the agent", "[program:openclaw-gateway]", "; kept off", "autostart=false",
    ]
    assert "autorestart=true" in first and "autostart = True" not in first


def test_a_numbered_process_maps_to_its_program_section(layout: Path) -> None:
    names = sc.candidates("openclaw-gateway_00", "openclaw-gateway")
    assert sc.program_sections(str(layout), names)[0].section == "program:openclaw-gateway"


def test_log_files_named_and_auto(layout: Path) -> None:
    etc = layout.parent
    named = _write(etc / "conf.d" / "openclaw-gateway.out", "started\n")
    auto = _write(etc / "logs" / "openclaw-gateway-stderr---supervisor-x1y2z3.log", "boom\n")
    found = sc.log_files(str(layout), "program:openclaw-gateway", "openclaw-gateway",
                         "openclaw-gateway")
    assert found == [str(named), str(auto)]


def test_a_broken_config_is_reported_by_line_without_its_text(tmp_path: Path) -> None:
    main = _write(tmp_path / "supervisord.conf",
                  "[supervisord]\n[unix_http_server]\npassword hunter2-secret\n")
    with pytest.raises(sc.SupervisorConfigError) as raised:
        sc.config_files(str(main))
    assert ":3:" in str(raised.value) and "hunter2" not in str(raised.value)


def test_a_missing_section_is_not_invented(layout: Path) -> None:
    with pytest.raises(sc.SupervisorConfigError):
        sc.with_autostart_off("[program:other]\ncommand=x\n", "program:openclaw-gateway")


def test_the_edit_is_idempotent(layout: Path) -> None:
    """A retried stop (its first answer lost) runs the edit again: nothing more changes."""
    (part, *_) = sc.program_sections(str(layout), ["openclaw-gateway"])
    once = sc.with_autostart_off(Path(part.file).read_text(), part.section, "kept off")
    assert sc.with_autostart_off(once, part.section, "kept off again") == once
