"""Evidence snapshot throughput and memory, side by side with ``tar cf - … | sha256sum``.

Generates SIZE bytes of log-like files (deterministic; mixed compressibility: gateway JSONL,
session transcripts with base64 blobs, SQLite-like random pages) laid out as an OpenClaw home,
then, in the same run and on the same warm page cache, times:

- ``tar cf - FILES | sha256sum`` (the reference: one read, one hash of the stream);
- ``host.snapshot`` (full) in a child process: copy + per-file SHA-256 + gzip + archive SHA-256
  + fsync, reading each file once; peak RSS from the child's rusage.

Prints the figures and the ratio; asserts nothing. Design target: ratio >= 0.9, RSS <= 100 MB.

    .venv/bin/python bench/evidence.py            # 1 GiB
    .venv/bin/python bench/evidence.py --size 256M --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024
INCIDENT = "2026-11-21T0203Z-b3nc"

CHILD = r"""
import json, sys, time
from pathlib import Path
from responders.interface import ResponderContext
from responders.openclaw.keeper import OpenClawKeeper
from responders.host import snapshot
from responders.host.snapshot import SnapshotAction, SnapshotParams
if sys.argv[4] != "default":
    snapshot.COMPRESS_LEVEL = int(sys.argv[4])
if sys.argv[5] != "default":
    snapshot.COMPRESS_THREADS = int(sys.argv[5])
root = Path(sys.argv[1]); incident_dir = Path(sys.argv[2])
ctx = ResponderContext(
    incident_id=sys.argv[3], incident_dir=incident_dir,
    settings={"agent": {"state_dirs": [str(root / "home/.openclaw")],
                        "user_home": str(root / "home"), "tmp_dirs": [str(root / "tmp")]}},
    agent_keeper=OpenClawKeeper,
)
action = SnapshotAction(ctx, SnapshotParams(system_artifacts=False))
start = time.perf_counter()
result = action.execute("localhost")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "items": len(result.items),
                  "stored": result.facts["stored_bytes"], "archive": result.facts["archive_size"]}))
"""


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": MiB, "G": 1024 * MiB}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _log_pool(rng: random.Random) -> bytes:
    """4 MiB of gateway-style JSONL lines: the compressible bulk of real logs."""
    subsystems = ["gateway", "agent", "telegram", "tools", "cron", "ws", "sessions"]
    levels = ["INFO", "DEBUG", "WARN", "ERROR"]
    words = ["tool_call", "exec", "browser", "fetched", "reply", "queued", "compaction", "token",
             "paired", "device", "approve", "skill", "memory", "retry", "timeout", "ok"]
    lines = []
    size = 0
    while size < 4 * MiB:
        msg = " ".join(rng.choice(words) for _ in range(rng.randint(4, 18)))
        line = (
            f'{{"time":"2026-11-21T02:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.'
            f'{rng.randint(0, 999):03d}Z","level":"{rng.choice(levels)}","subsystem":'
            f'"{rng.choice(subsystems)}","runId":"{rng.getrandbits(64):016x}","msg":"{msg}"}}\n'
        )
        lines.append(line.encode())
        size += len(line)
    return b"".join(lines)


def _write_mixed(path: Path, size: int, rng: random.Random, pool: bytes, kind: str) -> None:
    """``kind``: "log" (~10:1), "transcript" (~2:1, base64 blobs), "random" (incompressible)."""
    import base64

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            n = min(MiB, size - written)
            if kind == "random":
                block = rng.randbytes(n)
            elif kind == "transcript":
                text = base64.b64encode(rng.randbytes(n // 2))
                start = rng.randrange(0, len(pool) - n)
                block = (pool[start : start + n // 2] + text)[:n]
            else:
                start = rng.randrange(0, len(pool) - n)
                block = pool[start : start + n]
            fh.write(block)
            written += n


def generate(root: Path, total: int, seed: int = 2026) -> list[Path]:
    rng = random.Random(seed)
    pool = _log_pool(rng)
    state = root / "home" / ".openclaw"
    plan: list[tuple[Path, float, str]] = [
        (root / "tmp" / "openclaw" / "openclaw-2026-11-20.log", 0.30, "log"),
        (root / "tmp" / "openclaw" / "openclaw-2026-11-21.log", 0.25, "log"),
        (state / "logs" / "gateway.log", 0.05, "log"),
        (state / "logs" / "config-audit.jsonl", 0.01, "log"),
        (state / "state" / "openclaw.sqlite", 0.06, "random"),
        (state / "state" / "openclaw.sqlite-wal", 0.02, "random"),
        (state / "agents" / "main" / "agent" / "openclaw-agent.sqlite", 0.03, "random"),
    ]
    used = sum(share for _, share, _ in plan)
    sessions = 200
    for i in range(sessions):
        path = state / "agents" / "main" / "sessions" / f"{i:08x}-session.jsonl"
        plan.append((path, (1 - used) / sessions, "transcript"))
    files = []
    for path, share, kind in plan:
        _write_mixed(path, max(1, int(total * share)), rng, pool, kind)
        files.append(path)
    (state / "openclaw.json").write_text('{"gateway": {"port": 18789}}\n')
    files.append(state / "openclaw.json")
    return files


def _drop_to_warm_cache(files: list[Path]) -> None:
    for path in files:
        with open(path, "rb") as fh:
            while fh.read(8 * MiB):
                pass


def time_baseline(files: list[Path], workdir: Path) -> float:
    listing = workdir / "files.txt"
    listing.write_text("".join(f"{p}\n" for p in files))
    start = time.perf_counter()
    subprocess.run(
        f"tar cf - -P -T {listing} | sha256sum > /dev/null",
        shell=True,
        check=True,
        executable="/bin/bash",
    )
    return time.perf_counter() - start


def time_snapshot(
    root: Path, workdir: Path, run: int, level: str, threads: str
) -> tuple[dict[str, float], int]:
    incident_dir = workdir / f"incident-{run}"
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(incident_dir), INCIDENT, level, threads],
        stdout=subprocess.PIPE,
        cwd=repo,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"snapshot child failed with exit code {proc.returncode}")
    shutil.rmtree(incident_dir)
    return json.loads(out), usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="bytes of evidence to generate (1G, 256M)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (median)")
    parser.add_argument("--dir", help="where to generate (default: a temporary directory)")
    parser.add_argument("--level", default="default", help="override the ISA-L level (0-3)")
    parser.add_argument("--threads", default="default", help="override compression threads")
    args = parser.parse_args()
    total = parse_size(args.size)

    workdir = Path(tempfile.mkdtemp(prefix="clawback-bench-", dir=args.dir))
    try:
        root = workdir / "data"
        t = time.perf_counter()
        files = generate(root, total)
        size = sum(p.stat().st_size for p in files)
        elapsed = time.perf_counter() - t
        print(f"generated {len(files)} files, {size / MiB:.0f} MiB in {elapsed:.1f} s")
        _drop_to_warm_cache(files)

        baseline, snapshot, rss = [], [], []
        result: dict[str, float] = {}
        for run in range(args.repeat):
            baseline.append(time_baseline(files, workdir))
            result, peak = time_snapshot(root, workdir, run, args.level, args.threads)
            snapshot.append(result["seconds"])
            rss.append(peak)
        base_s = statistics.median(baseline)
        snap_s = statistics.median(snapshot)
        base_tp = size / base_s / MiB
        snap_tp = size / snap_s / MiB
        print(f"tar cf - | sha256sum : {base_s:6.2f} s  {base_tp:7.1f} MiB/s  "
              f"(runs: {', '.join(f'{s:.2f}' for s in baseline)})")
        print(f"host.snapshot (full) : {snap_s:6.2f} s  {snap_tp:7.1f} MiB/s  "
              f"(runs: {', '.join(f'{s:.2f}' for s in snapshot)})")
        print(f"  items {int(result['items'])}, stored {result['stored'] / MiB:.0f} MiB, "
              f"archive {result['archive'] / MiB:.0f} MiB "
              f"({result['archive'] / max(result['stored'], 1):.2f} of stored)")
        print(f"peak RSS of the snapshot process: {max(rss) / MiB:.1f} MiB (target <= 100 MB)")
        print(f"ratio snapshot/baseline throughput: {snap_tp / base_tp:.2f} (target >= 0.9)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
