"""The integrity block: a tampered incident says so on its first screen and never claims to be
intact; an unanchored one says UNANCHORED; only an external checkpoint earns INTACT."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from report_html import parse, text_of, visible_text
from report_incidents import ContainIncident, write_host_incident

from clawback.report import build_report, write_reports
from clawback.signing import Signer


def _flip_detail_letter(incident: Path) -> None:
    """Change one letter inside an entry's detail: the line stays valid canonical JSON."""
    path = incident / "timeline.jsonl"
    lines = path.read_bytes().split(b"\n")
    index = next(
        i for i, line in enumerate(lines)
        if b'"phase":"result"' in line and re.search(rb'"detail":"[^"]*[a-z]', line)
    )  # fmt: skip
    line = bytearray(lines[index])
    start = line.index(b'"detail":"') + len(b'"detail":"')
    at = next(i for i in range(start, len(line)) if 97 <= line[i] <= 122)
    line[at] ^= 0x20  # lower case to upper case
    lines[index] = bytes(line)
    path.write_bytes(b"\n".join(lines))


def _break_a_line(incident: Path) -> None:
    path = incident / "timeline.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[3] = b"[" + lines[3][1:]
    path.write_bytes(b"\n".join(lines))


def _cut_off_the_close(incident: Path) -> None:
    path = incident / "timeline.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))


def _swap_two_entries(incident: Path) -> None:
    path = incident / "timeline.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    path.write_bytes(b"".join(lines))


def _flip_an_evidence_byte(incident: Path) -> None:
    archive = sorted((incident / "evidence").glob("*.tar.gz"))[0]
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


def _delete_the_manifest(incident: Path) -> None:
    (incident / "evidence" / "manifest.json").unlink()


TAMPERING: dict[str, Callable[[Path], None]] = {
    "edited entry": _flip_detail_letter,
    "unparseable line": _break_a_line,
    "cut-off close": _cut_off_the_close,
    "reordered entries": _swap_two_entries,
    "altered evidence": _flip_an_evidence_byte,
    "deleted manifest": _delete_the_manifest,
}


def claims_intact(text: str) -> bool:
    """Whether ``text`` says "intact" anywhere other than in "NOT INTACT"."""
    return re.search(r"intact", re.sub(r"NOT INTACT", "", text), flags=re.I) is not None


def first_screen_of_markdown(markdown: str) -> str:
    return "\n".join(markdown.splitlines()[:6])


def where_things_stand(markdown: str) -> str:
    """The Markdown's first block: agent, keys, steps left, then the integrity line."""
    return markdown.split("\n## Checklist", 1)[0]


@pytest.mark.parametrize("anchored", [False, True], ids=["unanchored", "with-checkpoint"])
@pytest.mark.parametrize("tamper", list(TAMPERING), ids=list(TAMPERING))
def test_tampered_incident_says_so_first_and_never_claims_intact(
    contain_incident: ContainIncident, tamper: str, anchored: bool
) -> None:
    TAMPERING[tamper](contain_incident.directory)
    checkpoint = contain_incident.checkpoint_off_host if anchored else None
    md_path, html_path, ts_path = write_reports(contain_incident.directory, checkpoint=checkpoint)
    markdown, html = md_path.read_text(), html_path.read_text()

    assert "🔴 NOT INTACT" in first_screen_of_markdown(markdown)
    assert not claims_intact(markdown)

    text = visible_text(html)
    assert text.index("NOT INTACT") < text.index("1. Executive summary")
    assert not claims_intact(text)
    title = re.search(r"<title>(.*?)</title>", html)
    assert title is not None and title.group(1).startswith("NOT INTACT")
    banner = next(attrs for tag, attrs in parse(html).tags if attrs.get("id") == "integrity")
    assert banner.get("class") == "banner not_intact"
    # the verify failures themselves are on that first screen
    report = build_report(contain_incident.directory, checkpoint=checkpoint)
    assert report.integrity.failures
    banner_text = text_of(html, "integrity")
    for verdict in report.integrity.failures:
        assert verdict.code in banner_text

    rows = [json.loads(line) for line in ts_path.read_text().splitlines()]
    assert rows and all(r["ir_log_integrity"] == "NOT INTACT" for r in rows)
    assert all("log-not-intact" in r["tag"] for r in rows)


def test_edited_entry_is_flagged_in_the_timeline(contain_incident: ContainIncident) -> None:
    _flip_detail_letter(contain_incident.directory)
    report = build_report(contain_incident.directory)
    flagged = [r for r in report.rows if r.flags]
    assert flagged and all("ENTRY_MODIFIED" in r.flags for r in flagged)
    html = write_reports(contain_incident.directory, formats=["html"])[0].read_text()
    assert "ENTRY_MODIFIED" in text_of(html, f"seq-{flagged[0].seq}")


def test_unparseable_line_is_listed_and_the_rest_still_reported(
    contain_incident: ContainIncident,
) -> None:
    _break_a_line(contain_incident.directory)
    report = build_report(contain_incident.directory)
    assert [u.line for u in report.unreadable] == [4]
    entries = len((contain_incident.directory / "timeline.jsonl").read_bytes().splitlines())
    assert len(report.rows) == entries - 1
    markdown = write_reports(contain_incident.directory, formats=["md"])[0].read_text()
    assert "- line 4: " in markdown


def test_unanchored_report_says_unanchored_and_not_intact(
    contain_incident: ContainIncident,
) -> None:
    md_path, html_path = write_reports(contain_incident.directory, formats=("md", "html"))
    markdown, html = md_path.read_text(), html_path.read_text()
    top = where_things_stand(markdown)
    assert "🟡 UNANCHORED" in top.split("- **Integrity:", 1)[1]
    integrity_block = markdown.split("\n\n| | |", 1)[0]
    assert not claims_intact(integrity_block)
    assert "| Anchored | no: UNANCHORED |" in integrity_block
    banner_text = text_of(html, "integrity")
    assert banner_text.startswith("UNANCHORED")
    assert not claims_intact(banner_text)
    assert "<your off-host copy of the checkpoint>" in markdown


def test_external_checkpoint_earns_intact(contain_incident: ContainIncident) -> None:
    md_path, html_path = write_reports(
        contain_incident.directory, formats=("md", "html"),
        checkpoint=contain_incident.checkpoint_off_host,
    )
    markdown, html = md_path.read_text(), html_path.read_text()
    assert "🟢 INTACT" in where_things_stand(markdown).split("- **Integrity:", 1)[1]
    assert "UNANCHORED" not in markdown
    banner_text = text_of(html, "integrity")
    assert banner_text.startswith("INTACT")
    assert str(contain_incident.checkpoint_off_host) in banner_text
    checkpoint = contain_incident.checkpoint_off_host.read_text().strip()
    assert checkpoint.splitlines()[-1] in html


def test_pinned_key_of_another_installation_is_not_intact(
    contain_incident: ContainIncident, tmp_path: Path
) -> None:
    other = tmp_path / "other.pub"
    other.write_text(Signer.generate("clawback/elsewhere").public_key_pem())
    report = build_report(contain_incident.directory, pubkey=other)
    assert report.integrity.state == "not_intact"
    assert "WRONG_KEY" in {v.code for v in report.integrity.failures}
    assert report.integrity.key_fingerprint != report.integrity.recorded_key_fingerprint
    markdown = write_reports(contain_incident.directory, formats=["md"], pubkey=other)[0]
    assert "differs from the trusted key" in markdown.read_text()


def test_checkpoint_of_another_incident_is_not_intact(
    contain_incident: ContainIncident, tmp_path: Path, signer: Signer
) -> None:
    host = tmp_path / "host-incident"
    write_host_incident(host, signer)
    report = build_report(contain_incident.directory, checkpoint=host / "checkpoint.txt")
    assert report.integrity.state == "not_intact"
    assert {v.code for v in report.integrity.failures} & {"CHECKPOINT_OTHER_LOG", "WRONG_KEY"}
