"""Discovery of free text (logs, transcripts): MB/s and peak RSS, new scanner vs the old one.

Builds the sample home once, pads its transcripts and logs with generated OpenClaw-style JSONL
(tool calls, environment dumps, a token every few hundred lines) up to ``--size`` MB in files of
at most 8 MB (discovery reads at most the last 16 MB of a text file), then runs the whole
discovery in fresh processes, alternating: the current scanner, and the scanner as it was before
issue 20 (one regex of named groups, an index of every line start), kept below as the baseline.
Both must find the same inventory. Goal (design section 9): at least 3x the old MB/s.

    .venv/bin/python bench/discovery.py [--size 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from clawback_demo.home import build_sample_home
from responders.kit import secret_patterns as sp
from responders.openclaw.discovery import MAX_TEXT_BYTES, Location, discover
from responders.openclaw.scan_driver import Discovery

FILE_MB = 8


# -- the baseline: the scanner before issue 20 ------------------------------------------------

_OLD_REGEX = None
_OLD_ASSIGNMENT_RE = re.compile(
    r"(?<![A-Za-z0-9_])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*[\"']?([^\s\"'\\;&|`]+)"
)


def old_find_in_text(text: str) -> Iterator[sp.TextMatch]:
    global _OLD_REGEX
    if _OLD_REGEX is None:
        _OLD_REGEX = re.compile(
            r"(?<![A-Za-z0-9_\-])(?:"
            + "|".join(f"(?P<p{i}>{p.regex.pattern})" for i, p in enumerate(sp._TEXT_PATTERNS))
            + r")(?![A-Za-z0-9_\-])"
        )
    for match in _OLD_REGEX.finditer(text):
        group = match.lastgroup
        if group is None:
            continue
        pattern = sp._TEXT_PATTERNS[int(group[1:])]
        value = match.group(0)
        key_id = (
            value if pattern.identifier else (pattern.key_id(value) if pattern.key_id else None)
        )
        yield sp.TextMatch(match.start(), match.end(), value,
                           sp.Recognition(pattern.provider, pattern.kind, pattern.confidence,
                                          key_id))


def old_scan_text(self: Discovery, path: Path) -> None:
    if not self.first_visit(path, "text"):
        return
    text = self.read_text(path, MAX_TEXT_BYTES, tail=True)
    if not text:
        return
    line_starts = [0, *(m.end() for m in re.finditer("\n", text))]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(line_starts, offset)

    for match in old_find_in_text(text):
        line = line_of(match.start)
        self.consider(match.value, Location(str(path), f"line {line}"), name="",
                      group=(str(path), str(line)), hints=(match.recognition,))
    for match in _OLD_ASSIGNMENT_RE.finditer(text):
        name, value = match.group(1), match.group(2)
        hint = sp.recognize_env_name(name.upper())
        if hint is None and not sp.looks_like_secret_name(name):
            continue
        if not sp.plausible_secret_value(value) and sp.recognize_value(value) is None:
            continue
        line = line_of(match.start(2))
        self.consider(value, Location(str(path), f"line {line}"), name=name,
                      group=(str(path), str(line)), hints=(hint,), force=hint is not None)


# -- the home ---------------------------------------------------------------------------------


def _transcript_lines(seed: int) -> Iterator[str]:
    i = seed
    while True:
        i += 1
        if i % 400 == 0:
            text = f"GITHUB_TOKEN=ghp_{i:036d}\\nOPENAI_API_KEY=sk-proj-{'Ab1' * 10}{i}"
        elif i % 7 == 0:
            text = "total 48\\ndrwx------ 5 agent agent 4096 Nov 21 02:03 .openclaw\\n" * 3
        else:
            text = (f"Checked the calendar for meeting {i}: nothing before noon; the user asked "
                    "for a summary of yesterday's mail, three threads, one about the invoice.")
        yield json.dumps({"type": "message", "id": f"m{i}", "parentId": f"m{i - 1}",
                          "timestamp": "2026-11-21T02:03:04.567Z",
                          "message": {"role": "assistant" if i % 2 else "toolResult",
                                      "content": [{"type": "text", "text": text}]}}) + "\n"


def build_home(root: Path, megabytes: int) -> tuple[Path, int]:
    home = build_sample_home(root / "host")
    sessions = home.state_dir / "agents" / "main" / "sessions"
    logs = home.state_dir / "logs"
    logs.mkdir(exist_ok=True)
    total, index = 0, 0
    lines = _transcript_lines(0)
    while total < megabytes * 1024 * 1024:
        target = (sessions if index % 2 else logs) / f"bench-{index:03d}.jsonl"
        size = 0
        with open(target, "w") as out:
            while size < FILE_MB * 1024 * 1024:
                line = next(lines)
                out.write(line)
                size += len(line)
        total += size
        index += 1
    (root / "settings.json").write_text(json.dumps(home.agent_settings()))
    return root / "settings.json", total


# -- one measured run, in its own process -----------------------------------------------------


def run_once(settings_path: Path, which: str) -> dict[str, float | int | str]:
    if which == "old":
        Discovery.scan_text = old_scan_text  # type: ignore[method-assign]
    settings = json.loads(settings_path.read_text())
    started, cpu = time.perf_counter(), time.process_time()
    found = discover(user_home=Path(settings["user_home"]),
                     state_dirs=[Path(p) for p in settings["state_dirs"]],
                     tmp_dirs=[Path(p) for p in settings["tmp_dirs"]], system_service_dirs=())
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "inventory": json.dumps(found.as_dict(), sort_keys=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="MB of text to add")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--run", nargs=2, metavar=("SETTINGS", "WHICH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_once(Path(args.run[0]), args.run[1])))
        return
    with tempfile.TemporaryDirectory(prefix="clawback-bench-discovery-", dir=Path.cwd()) as tmp:
        settings_path, text_bytes = build_home(Path(tmp), args.size)
        results: dict[str, list[dict]] = {"new": [], "old": []}
        for _ in range(args.runs):
            for which in ("new", "old"):  # interleaved: load on the machine hits both alike
                done = subprocess.run(
                    [sys.executable, __file__, "--run", str(settings_path), which],
                    capture_output=True, text=True, check=True,
                )
                results[which].append(json.loads(done.stdout))
        same = {r["inventory"] for r in results["new"] + results["old"]}
        mb = text_bytes / 1e6
        print(f"discovery of a sample home with {mb:.0f} MB of logs and transcripts "
              f"({args.runs} runs each, interleaved, fresh processes)")
        medians = {}
        for which, label in (("new", "this scanner"), ("old", "before issue 20")):
            wall = statistics.median(r["seconds"] for r in results[which])
            cpu = statistics.median(r["cpu"] for r in results[which])
            rss = max(r["peak_rss_mib"] for r in results[which])
            medians[which] = cpu
            print(f"  {label:<16} {wall:6.2f} s wall, {cpu:6.2f} s CPU: {mb / cpu:6.1f} MB/s "
                  f"of CPU, peak RSS {rss:.0f} MiB")
        print(f"  speed-up (CPU): {medians['old'] / medians['new']:.2f}x (goal >= 3x); "
              f"same inventory: {'yes' if len(same) == 1 else 'NO'}")
        print(f"load average while running: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
