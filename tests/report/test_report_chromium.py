"""report.html as a person sees it: rendered by headless Chromium at a laptop's and a phone's
size, screenshots kept in artifacts/ at the repository root for a human to look at. Where each
part of the first screen lies comes from Chromium's own layout (report_layout.py)."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import png
import pytest
from report_incidents import ContainIncident
from report_layout import measure, pixels_in
from report_layout import screenshot as layout_screenshot

from clawback.report import write_reports
from tests.conftest import require_binary

WINDOW = (1280, 2000)
FIRST_SCREEN_ROWS = 800
# The integrity banner's backgrounds (report.html.j2): red when not intact, yellow unanchored.
RED = (0xCF, 0x22, 0x2E)
YELLOW = (0xFF, 0xF8, 0xC5)


def screenshot(html: Path, png_path: Path, profile: Path) -> None:
    chromium = require_binary("chromium", "chromium")
    profile.mkdir(parents=True, exist_ok=True)
    png_path.unlink(missing_ok=True)
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png_path}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", html.resolve().as_uri(),
        ],
        check=True, capture_output=True, timeout=90, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def decode(png_path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and RGBA rows of a PNG."""
    width, height, rows, _ = png.Reader(filename=str(png_path)).asRGBA8()
    return width, height, [bytes(row) for row in rows]


def sample(rows: list[bytes], *, every: int) -> list[tuple[int, int, int]]:
    """Every ``every``-th pixel of every ``every``-th row: plenty to judge a page by, and fast."""
    out = []
    for row in rows[::every]:
        for x in range(0, len(row), 4 * every):
            out.append((row[x], row[x + 1], row[x + 2]))
    return out


def near(colour: tuple[int, int, int], target: tuple[int, int, int], slack: int = 12) -> bool:
    """Whether ``colour`` is ``target`` give or take ``slack`` per channel."""
    return all(abs(a - b) <= slack for a, b in zip(colour, target, strict=True))


def first_screen_share(rows: list[bytes], target: tuple[int, int, int]) -> float:
    top = sample(rows[:FIRST_SCREEN_ROWS], every=2)
    return sum(near(p, target) for p in top) / len(top)


def test_report_renders_in_chromium(
    contain_incident: ContainIncident, artifacts: Path, tmp_path: Path
) -> None:
    (html,) = write_reports(contain_incident.directory, formats=["html"])
    text = html.read_text()
    # self-contained: nothing to fetch, nothing to run
    assert not re.search(r"<script|<link|<iframe|<img|@import|url\(|\bsrc=", text, re.I)
    shot = artifacts / "report.png"
    screenshot(html, shot, tmp_path / "chromium")

    assert shot.stat().st_size > 30_000
    width, height, rows = decode(shot)
    assert (width, height) == WINDOW
    colours = Counter(sample(rows, every=3))
    assert len(colours) > 200, "the page rendered (nearly) blank"
    background = colours.most_common(1)[0][1] / colours.total()
    assert background < 0.9
    # unanchored: the integrity line is yellow, and compact: a line, not most of the screen
    assert 0.002 < first_screen_share(rows, YELLOW) < 0.08
    assert first_screen_share(rows, RED) < 0.02  # no red alarm strip: nothing was tampered


def test_tampered_report_is_red_on_the_first_screen(
    contain_incident: ContainIncident, artifacts: Path, tmp_path: Path
) -> None:
    timeline = contain_incident.directory / "timeline.jsonl"
    lines = timeline.read_bytes().splitlines(keepends=True)
    timeline.write_bytes(b"".join(lines[:-1]))  # the close entry is gone
    (html,) = write_reports(contain_incident.directory, formats=["html"])
    layout = measure(html, 1280, 800, tmp_path)
    alarm = layout.boxes["alarm"]
    assert layout.on_first_screen(alarm) and alarm[1] < 150, "the alarm is not at the top"
    rows = layout_screenshot(html, 1280, 800, artifacts / "report-tampered.png", tmp_path)
    inside = pixels_in(rows, alarm)
    assert sum(near(p, RED) for p in inside) / len(inside) > 0.6
    # and the integrity block is open with its failures, still above the checklist
    assert layout.boxes["integrity"][3] < layout.boxes["todo"][1]


# The screens the first screen must work on: a laptop, and a phone (iPhone 12-15: 390 x 844).
SCREENS = [(1280, 800), (390, 844)]


@pytest.mark.parametrize(("width", "height"), SCREENS, ids=["1280px", "390px"])
def test_first_screen_shows_the_live_keys_and_the_checklist(
    contain_incident: ContainIncident, artifacts: Path, tmp_path: Path, width: int, height: int
) -> None:
    (html,) = write_reports(contain_incident.directory, formats=["html"])
    layout = measure(html, width, height, tmp_path)
    assert (layout.width, layout.height) == (width, height)
    boxes = layout.boxes
    # in the order an incident commander asks: stopped? keys? what is left? can I trust it?
    order = ["agent-line", "keys-line", "todo-line", "integrity", "todo"]
    tops = [boxes[name][1] for name in order]
    assert tops == sorted(tops), dict(zip(order, tops, strict=True))
    for name in order[:-1]:
        assert layout.on_first_screen(boxes[name]), (name, boxes[name])
    # every live key is named on the first screen (the fixture has 8, in 4 groups)
    live = layout.items["live_keys"]
    assert len(live) == 4
    assert all(layout.on_first_screen(box) for box in live), live
    # the checklist starts on the first screen: its heading and its first item's headline
    first_item = layout.items["todo_items"][0]
    assert first_item[1] + 40 < height, (first_item, height)
    assert layout.scroll_width <= width, "the page scrolls sideways"

    rows = layout_screenshot(html, width, height, artifacts / f"report-{width}px.png", tmp_path)
    # the live keys are drawn in red: the groups' headings are bold text in the failed colour
    reds = [p for p in pixels_in(rows, boxes["live-keys"]) if near(p, RED, slack=40)]
    assert len(reds) > 200, len(reds)


def test_no_sideways_overflow_at_360px(contain_incident: ContainIncident, tmp_path: Path) -> None:
    (html,) = write_reports(contain_incident.directory, formats=["html"])
    layout = measure(html, 360, 740, tmp_path)
    assert layout.width == 360
    assert layout.scroll_width <= 360, layout.scroll_width


def test_tampered_report_lays_out_at_phone_width_too(
    contain_incident: ContainIncident, tmp_path: Path
) -> None:
    timeline = contain_incident.directory / "timeline.jsonl"
    timeline.write_bytes(b"[" + timeline.read_bytes()[1:])
    (html,) = write_reports(contain_incident.directory, formats=["html"])
    layout = measure(html, 390, 844, tmp_path)
    assert layout.on_first_screen(layout.boxes["alarm"])
    assert layout.scroll_width <= 390
