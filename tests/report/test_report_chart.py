"""The HTML report's time axis: to scale, except that a long pause (manual steps confirmed
hours later with ``--resume``) is cut out, so the seconds of the response stay readable."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from report_incidents import write_host_incident

from clawback.report import build_report
from clawback.report.html import (
    BREAK_WIDTH,
    PLOT_LEFT,
    PLOT_RIGHT,
    TimeAxis,
    build_chart,
    render_html,
)
from clawback.report.model import _steps
from clawback.signing import Signer

T0 = datetime(2026, 11, 21, 2, 3, 4, tzinfo=UTC)
LEFT, RIGHT = 100.0, 900.0


def at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_a_run_without_pauses_is_drawn_to_scale() -> None:
    axis = TimeAxis(at(0, 2.5, 5, 10), LEFT, RIGHT)
    assert axis.breaks == []
    assert axis.x(T0) == LEFT
    assert axis.x(T0 + timedelta(seconds=10)) == RIGHT
    assert axis.x(T0 + timedelta(seconds=5)) == (LEFT + RIGHT) / 2
    labels = [t.label for t in axis.ticks(RIGHT - LEFT)]
    assert labels[0] == "+0 s" and labels[-1] == "+10 s"


def test_a_pause_that_is_part_of_the_work_stays_to_scale() -> None:
    # A drill of ten minutes with a two-minute wait: the wait is drawn, not cut.
    axis = TimeAxis(at(0, 60, 180, 300, 600), LEFT, RIGHT)
    assert axis.breaks == []
    assert axis.x(T0 + timedelta(seconds=300)) == (LEFT + RIGHT) / 2


def test_a_resume_hours_later_is_cut_out_and_labelled() -> None:
    moments = at(0, 1, 3, 6, 3 * 3600 + 6, 3 * 3600 + 11)
    axis = TimeAxis(moments, LEFT, RIGHT)
    (cut,) = axis.breaks
    assert cut.label == "3 h 0 min later"
    xs = [axis.x(m) for m in moments]
    assert xs == sorted(xs) and xs[0] == LEFT and xs[-1] == RIGHT
    # The six seconds of the response get most of the width instead of a 0.05 % sliver...
    assert xs[3] - xs[0] > (RIGHT - LEFT) / 2
    # ... and the break sits between the two stretches, as wide as promised.
    assert xs[3] < cut.x < xs[4]
    assert xs[4] - xs[3] == pytest.approx(BREAK_WIDTH)
    ticks = axis.ticks(RIGHT - LEFT)
    assert [t.x for t in ticks] == sorted(t.x for t in ticks)
    # The stretch after the break starts with its clock time.
    assert "05:03:10" in [t.label for t in ticks]


def test_the_report_of_a_resumed_incident_shows_the_break(tmp_path: Path) -> None:
    write_host_incident(tmp_path / "incident", Signer.generate("clawback/web-01"))
    report = build_report(tmp_path / "incident")
    rows = list(report.rows)
    late = len(rows) // 2
    # The second half of the run, as if resumed three hours later (the signed file is not
    # touched: the chart is drawn from the report's rows). Entries evenly 10 ms apart, so the
    # geometry does not depend on how fast a loaded machine wrote them.
    start = rows[0].ts
    assert start is not None
    shifted = tuple(
        dataclasses.replace(
            r, ts=start + timedelta(milliseconds=10 * i, hours=3 if i >= late else 0)
        )
        for i, r in enumerate(rows)
    )
    resumed = dataclasses.replace(report, rows=shifted, steps=_steps(shifted))
    chart = build_chart(resumed)
    assert chart is not None and len(chart.breaks) == 1
    assert chart.breaks[0].label.startswith("3 h")
    early_marks = [m.x for m in chart.marks if m.x < chart.breaks[0].x]
    assert early_marks and max(early_marks) - PLOT_LEFT > (PLOT_RIGHT - PLOT_LEFT) / 4
    html = render_html(resumed)
    assert "3 h 0 min later" in html and "Long pauses are cut out" in html
    assert "Long pauses" not in render_html(report)
