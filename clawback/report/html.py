"""``report.html``: one self-contained page (inline CSS and SVG, no script, nothing fetched).

The page opens on the integrity verdict, then a chart of the run: one lane per playbook step
over time, one mark per entry coloured by its outcome, so a reader sees at a glance what
happened when and where it went wrong. Hovering a mark shows its entry (SVG ``<title>``, no
JavaScript). Every value is autoescaped by jinja2: the timeline is evidence from a host an
attacker controlled, so none of its text may become markup.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from clawback.report.formatting import clock_text, duration_text, utc_text
from clawback.report.model import IncidentReport
from clawback.report.parts import TimelineRow
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
# Pauses cut out of the time axis (see TimeAxis).
GAP_MIN_S = 300.0
GAP_SHARE = 0.4
MAX_BREAKS = 4
BREAK_WIDTH = 40
MIN_SEGMENT_WIDTH = 60
# Candidate spacings of the time axis, in seconds: 1-2-5 steps, then clock-friendly ones.
_TICK_STEPS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChartMark:
    x: float
    y: float
    status: str
    shape: str  # tick | dot | ring | diamond
    row: TimelineRow  # its hover text is made when the page is written, not kept per mark

    @property
    def title(self) -> str:
        return _mark_title(self.row)


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
class ChartBreak:
    x: float  # the middle of the cut-out pause
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    lanes: tuple[ChartLane, ...]
    marks: tuple[ChartMark, ...]
    ticks: tuple[ChartTick, ...]
    caption: str
    breaks: tuple[ChartBreak, ...] = ()
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


class TimeAxis:
    """Where a moment goes on the chart: to scale, except that a long pause is cut out.

    An operator often confirms the manual steps hours after the panic button (``--resume``);
    to scale, the seconds of the response would be squashed into a sliver at the left edge.
    A pause longer than ``GAP_MIN_S`` that is also more than ``GAP_SHARE`` of the whole span is
    drawn as a break of fixed width, labelled with its length; each stretch of activity between
    breaks gets a share of the width by its duration, and at least ``MIN_SEGMENT_WIDTH``.
    """

    def __init__(self, moments: Sequence[datetime], left: float, right: float) -> None:
        ordered = sorted(moments)
        whole = (ordered[-1] - ordered[0]).total_seconds()
        gaps = sorted(
            (i for i in range(1, len(ordered))
             if (pause := (ordered[i] - ordered[i - 1]).total_seconds()) > GAP_MIN_S
             and pause > GAP_SHARE * whole),
            key=lambda i: ordered[i] - ordered[i - 1], reverse=True,
        )[:MAX_BREAKS]
        bounds = [0, *sorted(gaps), len(ordered)]
        stretches = [(ordered[a], ordered[b - 1]) for a, b in itertools.pairwise(bounds)]
        durations = [max((end - start).total_seconds(), 0.001) for start, end in stretches]
        room = (right - left) - BREAK_WIDTH * (len(stretches) - 1)
        spare = room - MIN_SEGMENT_WIDTH * len(stretches) if len(stretches) > 1 else room
        x = left
        self.segments: list[tuple[datetime, float, float, float]] = []  # start, s, x0, x1
        self.breaks: list[ChartBreak] = []
        for index, ((start, end), seconds) in enumerate(zip(stretches, durations, strict=True)):
            width = spare * seconds / sum(durations)
            if len(stretches) > 1:
                width += MIN_SEGMENT_WIDTH
            self.segments.append((start, seconds, x, x + width))
            x += width
            if index + 1 < len(stretches):
                pause = (stretches[index + 1][0] - end).total_seconds()
                self.breaks.append(ChartBreak(round(x + BREAK_WIDTH / 2, 2),
                                              f"{duration_text(pause)} later"))
                x += BREAK_WIDTH

    def x(self, moment: datetime) -> float:
        starts = [segment[0] for segment in self.segments]
        start, seconds, x0, x1 = self.segments[max(bisect.bisect_right(starts, moment) - 1, 0)]
        offset = min(max((moment - start).total_seconds(), 0.0), seconds)
        return round(x0 + offset / seconds * (x1 - x0), 2)

    def ticks(self, plot_width: float) -> list[ChartTick]:
        """Per stretch, 1-2-5 spaced offsets from its start; a stretch after a break starts
        with its clock time so the reader knows where it sits."""
        ticks = []
        for index, (start, seconds, x0, x1) in enumerate(self.segments):
            most = max(1, round(MAX_TICKS * (x1 - x0) / plot_width))
            step = next((s for s in _TICK_STEPS if seconds / s <= most), _TICK_STEPS[-1])
            offset = 0.0
            last = index + 1 == len(self.segments)
            while offset <= seconds + 1e-9:
                x = round(x0 + offset / seconds * (x1 - x0), 2)
                if not last and offset and x > x1 - BREAK_WIDTH:
                    break  # its label would run into the next stretch's clock time
                label = (clock_text(start)[:8] if index and offset == 0
                         else _tick_label(offset, step))
                ticks.append(ChartTick(x, label))
                offset += step
        return ticks


def build_chart(report: IncidentReport) -> Chart | None:
    """Lanes and marks of the timeline chart; None when no entry has a usable time."""
    timed = [(r.ts, r) for r in report.rows if r.ts is not None]
    if not timed:
        return None
    moments = [ts for ts, _ in timed]
    start, end = min(moments), max(moments)
    # A zero span (one entry, or all within a microsecond) still gets a readable axis.
    span = max((end - start).total_seconds(), 0.001)
    axis = TimeAxis(moments, PLOT_LEFT, PLOT_RIGHT)

    lanes: list[ChartLane] = []
    marks: list[ChartMark] = []
    for index, step in enumerate(report.steps):
        y = AXIS_HEIGHT + index * LANE_HEIGHT + LANE_HEIGHT / 2
        x0 = axis.x(step.first) if step.first else PLOT_LEFT
        x1 = axis.x(step.last) if step.last else x0
        lanes.append(ChartLane(step.step, y, x0, max(x1, x0 + 4), step.summary(), step.worst))
        for ts, row in timed:
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
            marks.append(ChartMark(axis.x(ts), y, row.status, shape, row))
    height = AXIS_HEIGHT + len(lanes) * LANE_HEIGHT + 8
    caption = (
        f"Time from {utc_text(start)} to {clock_text(end)} UTC ({duration_text(span)}). "
        "One lane per playbook step; each mark is an entry of the signed timeline."
        + (" Long pauses are cut out of the axis and labelled with their length."
           if axis.breaks else "")
    )
    return Chart(CHART_WIDTH, height, tuple(lanes), tuple(marks),
                 tuple(axis.ticks(PLOT_RIGHT - PLOT_LEFT)), caption, tuple(axis.breaks))


def html_chunks(report: IncidentReport) -> Iterator[str]:
    """``report.html`` piece by piece, as the template produces it."""
    env = environment(html=True)
    return env.get_template("report.html.j2").generate(report=report, chart=build_chart(report))


def render_html(report: IncidentReport) -> str:
    return "".join(html_chunks(report))
