"""``report.md``: the post-incident report as Markdown, for a ticket, a wiki or a terminal.

Timeline text goes into table cells, so every value is escaped for a cell: ``|`` and line
breaks would split the table, and ``<``/``>`` would become HTML in most renderers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from clawback.report.formatting import clock_text, utc_text
from clawback.report.model import IncidentReport
from clawback.report.parts import TimelineRow
from clawback.report.templating import environment


def cell(value: Any) -> str:
    text = _one_line("" if value is None else str(value))
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str) -> str:
    """Every line break Python knows (U+2028, U+0085, ...) becomes a space."""
    return " ".join(text.splitlines())


def code(value: Any) -> str:
    """Inline code whose fence is longer than any backtick run inside it."""
    text = _one_line("" if value is None else str(value)).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(value: str, prefix: str = "") -> str:
    """A fenced code block, each line behind ``prefix`` (``>`` inside a block quote)."""
    longest = max((len(run) for run in re.findall(r"`{3,}", value)), default=2)
    fence = "`" * (longest + 1)
    lead = f"{prefix} " if prefix else ""
    lines = [fence, *value.splitlines(), fence]
    return "\n".join(f"{lead}{line}".rstrip() for line in lines)


def outcome(row: TimelineRow | None) -> str:
    if row is None:
        return "—"
    name = row.outcome or ("no result (crashed)" if row.status == "crashed" else row.status)
    return f"**{cell(name)}** ({row.seq})"


def when(row: TimelineRow, previous: TimelineRow | None) -> str:
    """The clock time, with the date when it is the first row or a new day."""
    if row.ts is None:
        return "?"
    prev: datetime | None = previous.ts if previous is not None else None
    if prev is None or prev.date() != row.ts.date():
        return utc_text(row.ts).removesuffix(" UTC")
    return clock_text(row.ts)


def markdown_chunks(report: IncidentReport) -> Iterator[str]:
    """``report.md`` piece by piece, as the template produces it."""
    env = environment(html=False)
    env.filters.update(cell=cell, code=code, fenced=fenced, outcome=outcome, when=when)
    return env.get_template("report.md.j2").generate(report=report)


def render_markdown(report: IncidentReport) -> str:
    return "".join(markdown_chunks(report))
