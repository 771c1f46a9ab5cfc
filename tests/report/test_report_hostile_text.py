"""Text the agent controls (file names, service names, a provider's answer) reaches report.md,
report.html and `clawback status` only escaped: no terminal escape, bell or bidi override
survives into a file someone will `cat`, or onto the screen."""

from __future__ import annotations

import io
from pathlib import Path

from clawback.display import Display
from clawback.report import write_reports
from clawback.signing import Signer
from clawback.status import incident_status
from clawback.status_view import print_status
from clawback.timeline import Timeline

ESC_TITLE = "\x1b]0;pwned\x07"  # sets the terminal's title
CLEAR = "\x1b[2J"
BIDI = "\u202e"  # right-to-left override: reorders what follows


def _hostile_incident(directory: Path) -> None:
    timeline = Timeline.create(directory, "2026-11-21T0203Z-0e5c", Signer.generate("t/h"),
                               header={"operator": "alice@web-01"})
    key = {"target": "acme:…abcd sha256:12345678", "provider": "acme", "kind": "acme:token",
           "fingerprint": "…abcd sha256:12345678",
           "locations": [f"/home/agent/{ESC_TITLE}.env:KEY{BIDI}TXT.exe"]}
    timeline.append(step="revoke", action="revoke", phase="intent", target=key)
    timeline.append(step="revoke", action="revoke", phase="result", target=key,
                    outcome="ManualRequired",
                    extra={"status": "manual", "instructions": f"the provider said {CLEAR}no",
                           "url": f"https://acme.example/{CLEAR}"})
    service = {"target": f"supervisord:gateway{CLEAR}"}
    timeline.append(step="stop", action="host.stop_service", phase="intent", target=service)
    timeline.append(step="stop", action="host.stop_service", phase="result", target=service,
                    outcome="Done", detail=f"stopped{ESC_TITLE}", extra={"status": "ok"})
    timeline.close(manifest_sha256=None)


def _controls(text: str) -> list[str]:
    return [c for c in text if not c.isprintable() and c != "\n"]


def test_reports_and_status_show_the_agents_text_escaped(tmp_path: Path) -> None:
    directory = tmp_path / "incidents" / "2026-11-21T0203Z-0e5c"
    _hostile_incident(directory)
    markdown, html = (p.read_text() for p in write_reports(directory, formats=["md", "html"]))
    for text in (markdown, html):
        assert _controls(text) == []
        # still there, readable as escapes, in the checklist's "where it was found"
        assert "\\x1b]0;pwned\\x07.env:KEY\\u202eTXT.exe" in text
        assert "\\x1b[2J" in text
    checklist = markdown.split("## Checklist", 1)[1].split("\n## ", 1)[0]
    assert "\\x1b]0;pwned" in checklist

    stream = io.StringIO()
    print_status(Display(color="never").console(stream), [incident_status(directory)],
                 root=str(directory.parent))
    shown = stream.getvalue()
    assert _controls(shown) == []
    assert "acme token …abcd sha256:12345678" in shown


def test_a_backslash_in_a_cell_is_still_markdown_escaped(tmp_path: Path) -> None:
    """The escaping leaves the Markdown filters' own backslashes alone: a name with a pipe
    and a backslash stays in its table cell."""
    directory = tmp_path / "incidents" / "2026-11-21T0203Z-0e5d"
    timeline = Timeline.create(directory, "2026-11-21T0203Z-0e5d", Signer.generate("t/b"),
                               header={"operator": "alice@web-01"})
    service = {"target": "supervisord:gw\\|x\x1b"}
    timeline.append(step="stop", action="host.stop_service", phase="intent", target=service)
    timeline.append(step="stop", action="host.stop_service", phase="result", target=service,
                    outcome="Done", detail="stopped", extra={"status": "ok"})
    timeline.close(manifest_sha256=None)
    markdown = write_reports(directory, formats=["md"])[0].read_text()
    assert "gw\\\\\\|x\\x1b" in markdown
    assert _controls(markdown) == []
