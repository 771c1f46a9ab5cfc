"""report.html laid out by headless Chromium at a given screen size: where each element is, and
a screenshot of exactly that screen.

The report itself runs no script. The test wraps it in a page of its own: the report goes into
an ``<iframe srcdoc>`` of the screen's size (a phone's 390 × 844 too, which a desktop window
can't be made as narrow as), and the wrapper's script, allowed to read a srcdoc frame, writes
the frame's geometry into the page that ``--dump-dom`` prints.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import png

from tests.conftest import require_binary

_MEASURE = """
<script>
const frame = document.getElementById('report');
frame.addEventListener('load', () => {
  const w = frame.contentWindow, d = w.document;
  const box = (e) => { const r = e.getBoundingClientRect();
                       return [r.left, r.top, r.right, r.bottom]; };
  const out = {width: w.innerWidth, height: w.innerHeight,
               scroll_width: d.documentElement.scrollWidth, boxes: {}, items: {}};
  for (const e of d.querySelectorAll('[id]')) out.boxes[e.id] = box(e);
  for (const [name, sel] of Object.entries(SELECTORS))
    out.items[name] = [...d.querySelectorAll(sel)].map(box);
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""
SELECTORS = {"todo_items": "#todo ol.todo > li", "live_keys": "#live-keys > li",
             "standing_lines": "#standing > .line"}


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    scroll_width: int
    boxes: dict[str, list[float]]  # id -> [left, top, right, bottom], CSS px from the top
    items: dict[str, list[list[float]]]

    def on_first_screen(self, box: list[float]) -> bool:
        left, top, right, bottom = box
        return top >= 0 and bottom <= self.height and left >= 0 and right <= self.width + 0.5


def _wrapper(report_html: str, width: int, height: int, *, measure: bool) -> str:
    script = _MEASURE.replace("SELECTORS", json.dumps(SELECTORS)) if measure else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        '<body style="margin:0;background:#000">'
        f'<iframe id="report" width="{width}" height="{height}" style="border:0;display:block" '
        f'srcdoc="{html.escape(report_html, quote=True)}"></iframe>{script}</body></html>'
    )


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    chromium = require_binary("chromium", "chromium")
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", *args],
        check=True, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def measure(report: Path, width: int, height: int, work: Path) -> Layout:
    """The report laid out on a ``width`` × ``height`` screen."""
    page = work / f"measure-{width}.html"
    page.write_text(_wrapper(report.read_text(), width, height, measure=True))
    result = _chromium(["--virtual-time-budget=10000", f"--window-size={max(width, 800)},"
                        f"{height + 100}", "--dump-dom", page.resolve().as_uri()],
                       work / "chromium")
    found = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, re.S)
    assert found, "the wrapper page never measured the report"
    data = json.loads(html.unescape(found.group(1)))
    return Layout(**data)


def screenshot(report: Path, width: int, height: int, shot: Path, work: Path) -> list[bytes]:
    """A screenshot of the report's first ``width`` × ``height`` screen; its RGBA rows."""
    page = work / f"shot-{width}.html"
    page.write_text(_wrapper(report.read_text(), width, height, measure=False))
    shot.unlink(missing_ok=True)
    _chromium([f"--screenshot={shot}", f"--window-size={max(width, 800)},{height + 100}",
               "--virtual-time-budget=10000", page.resolve().as_uri()], work / "chromium")
    _, _, rows, _ = png.Reader(filename=str(shot)).asRGBA8()
    return [bytes(row[: width * 4]) for row in list(rows)[:height]]


def pixels_in(rows: list[bytes], box: list[float]) -> list[tuple[int, int, int]]:
    """The screenshot's pixels inside ``box`` (CSS px at a device scale of 1)."""
    left, top, right, bottom = (round(v) for v in box)
    out = []
    for row in rows[max(top, 0):max(bottom, 0)]:
        for x in range(max(left, 0), min(right, len(row) // 4)):
            out.append((row[4 * x], row[4 * x + 1], row[4 * x + 2]))
    return out
