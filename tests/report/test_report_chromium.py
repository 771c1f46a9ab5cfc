"""report.html as a person sees it: rendered by headless Chromium, screenshots kept in
artifacts/ at the repository root for a human to look at."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import png
from report_incidents import ContainIncident

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
    # unanchored: the banner is yellow, and nothing on the first screen is a red banner
    assert first_screen_share(rows, YELLOW) > 0.2
    assert first_screen_share(rows, RED) < 0.02


def test_tampered_report_is_red_on_the_first_screen(
    contain_incident: ContainIncident, artifacts: Path, tmp_path: Path
) -> None:
    timeline = contain_incident.directory / "timeline.jsonl"
    lines = timeline.read_bytes().splitlines(keepends=True)
    timeline.write_bytes(b"".join(lines[:-1]))  # the close entry is gone
    (html,) = write_reports(contain_incident.directory, formats=["html"])
    shot = artifacts / "report-tampered.png"
    screenshot(html, shot, tmp_path / "chromium")
    _, _, rows = decode(shot)
    assert first_screen_share(rows, RED) > 0.2
    assert first_screen_share(rows, YELLOW) < 0.05
