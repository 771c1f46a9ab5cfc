"""``report.html``: one self-contained page (inline CSS and SVG, no script, nothing fetched).

The page opens on the integrity verdict, then a chart of the run: one lane per playbook step
over time, one mark per entry coloured by its outcome, so a reader sees at a glance what
happened when and where it went wrong. Hovering a mark shows its entry (SVG ``<title>``, no
JavaScript). Every value is autoescaped by jinja2: the timeline is evidence from a host an
attacker controlled, so none of its text may become markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clawback.report.model import (
    IncidentReport,
    TimelineRow,
    clock_text,
    duration_text,
    utc_text,
)
from clawback.report.templating import environment

# Geometry of the chart, in SVG user units (the SVG scales to the page width).
CHART_WIDTH = 1120
LABEL_WIDTH = 150
SUMMARY_WIDTH = 270
LANE_HEIGHT = 30
AXIS_HEIGHT = 28
PLOT_LEFT = LABEL_WIDTH + 12
PLOT_RIGHT = CHART_WIDTH - SUMMARY_WIDTH - 16
MAX_TICKS = 8
# Candidate spacings of the time axis, in seconds: 1-2-5 steps, then clock-friendly ones.
_TICK_STEPS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip


@dataclass(frozen=True)
class ChartMark:
    x: float
    y: float
    status: str
    shape: str  # tick | dot | ring | diamond
    title: str


@dataclass(frozen=True)
class ChartLane:
    step: str
    y: float
    x0: float
    x1: float
    summary: str
    worst: str


@dataclass(frozen=True)
class ChartTick:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    lanes: tuple[ChartLane, ...]
    marks: tuple[ChartMark, ...]
    ticks: tuple[ChartTick, ...]
    caption: str
    plot_left: int = PLOT_LEFT
    plot_right: int = PLOT_RIGHT
    summary_x: int = PLOT_RIGHT + 16


def _tick_label(offset: float, step: float) -> str:
    if step < 1:
        return f"+{offset * 1000:.0f} ms"
    if step < 60:
        return f"+{offset:.0f} s"
    if step < 3600:
        return f"+{offset / 60:.0f} min"
    return f"+{offset / 3600:.0f} h"


def _mark_title(row: TimelineRow) -> str:
    what = row.outcome or ("no result: crashed" if row.status == "crashed" else row.phase)
    target = f" {row.target}" if row.target else ""
    return f"#{row.seq} {clock_text(row.ts)} {row.action}{target}: {what}"


def build_chart(report: IncidentReport) -> Chart | None:
    """Lanes and marks of the timeline chart; None when no entry has a usable time."""
    timed = [r for r in report.rows if r.ts is not None]
    if not timed:
        return None
    start: datetime = min(r.ts for r in timed)  # type: ignore[type-var]
    end: datetime = max(r.ts for r in timed)  # type: ignore[type-var]
    # A zero span (one entry, or all within a microsecond) still gets a readable axis.
    span = max((end - start).total_seconds(), 0.001)
    plot = PLOT_RIGHT - PLOT_LEFT

    def x_of(moment: datetime) -> float:
        return round(PLOT_LEFT + (moment - start).total_seconds() / span * plot, 2)

    lanes: list[ChartLane] = []
    marks: list[ChartMark] = []
    for index, step in enumerate(report.steps):
        y = AXIS_HEIGHT + index * LANE_HEIGHT + LANE_HEIGHT / 2
        x0 = x_of(step.first) if step.first else PLOT_LEFT
        x1 = x_of(step.last) if step.last else x0
        lanes.append(ChartLane(step.step, y, x0, max(x1, x0 + 4), step.summary(), step.worst))
        for row in timed:
            if row.step != step.step:
                continue
            if row.phase == "result":
                shape = "tick"
            elif row.status == "crashed":
                shape = "diamond"
            elif row.status == "skipped":
                shape = "ring"
            elif row.phase == "intent":
                continue  # its result's mark says more, and intents would double the clutter
            else:
                shape = "dot"
            marks.append(ChartMark(x_of(row.ts), y, row.status, shape, _mark_title(row)))  # type: ignore[arg-type]
    step_s = next((s for s in _TICK_STEPS if span / s <= MAX_TICKS), _TICK_STEPS[-1])
    ticks = []
    offset = 0.0
    while offset <= span + 1e-9:
        x = round(PLOT_LEFT + offset / span * plot, 2)
        ticks.append(ChartTick(x, _tick_label(offset, step_s)))
        offset += step_s
    height = AXIS_HEIGHT + len(lanes) * LANE_HEIGHT + 8
    caption = (
        f"Time from {utc_text(start)} to {clock_text(end)} UTC ({duration_text(span)}). "
        "One lane per playbook step; each mark is an entry of the signed timeline."
    )
    return Chart(CHART_WIDTH, height, tuple(lanes), tuple(marks), tuple(ticks), caption)


def render_html(report: IncidentReport) -> str:
    env = environment(html=True)
    return env.get_template("report.html.j2").render(report=report, chart=build_chart(report))
