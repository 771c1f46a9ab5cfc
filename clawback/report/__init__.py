"""The post-incident report: ``report.md``, ``report.html`` and ``timesketch.jsonl``.

``build_report`` verifies the incident and derives everything from its signed timeline and
evidence manifest; ``write_reports`` renders the chosen formats into the incident directory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from clawback.errors import BadInput
from clawback.report.model import IncidentReport, build_report

FORMATS: dict[str, str] = {
    "md": "report.md",
    "html": "report.html",
    "timesketch": "timesketch.jsonl",
}

__all__ = ["FORMATS", "IncidentReport", "build_report", "write_report_files", "write_reports"]


def write_reports(
    incident_dir: Path,
    *,
    formats: Sequence[str] = ("md", "html", "timesketch"),
    checkpoint: Path | None = None,
    pubkey: Path | None = None,
) -> list[Path]:
    """Write the chosen formats (0600) into ``incident_dir``; return their paths.

    A tampered incident still gets its reports, which say so first. BadInput (exit 2) for an
    unknown format or an unreadable incident, checkpoint or public key; nothing is written then.
    """
    _check_formats(formats)
    report = build_report(Path(incident_dir), checkpoint=checkpoint, pubkey=pubkey)
    return write_report_files(report, formats)


def write_report_files(
    report: IncidentReport, formats: Sequence[str] = ("md", "html", "timesketch")
) -> list[Path]:
    """Render an already built report into its incident directory (0600); return the paths.

    For callers that also want the verdict (``report.integrity.state``) without verifying the
    incident twice.
    """
    from responders.kit.private_files import write_private

    _check_formats(formats)
    return [
        write_private(report.incident_dir / FORMATS[name], _render(name, report))
        for name in dict.fromkeys(formats)
    ]


def _check_formats(formats: Sequence[str]) -> None:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise BadInput(
            f"unknown report format {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(FORMATS)}"
        )


def _render(name: str, report: IncidentReport) -> Iterator[str]:
    """The format's text piece by piece, written to its file as it comes (a report on a long
    timeline is never one string in memory)."""
    if name == "md":
        from clawback.report.markdown import markdown_chunks

        return markdown_chunks(report)
    if name == "html":
        from clawback.report.html import html_chunks

        return html_chunks(report)
    from clawback.report.timesketch import timesketch_chunks

    return timesketch_chunks(report)
