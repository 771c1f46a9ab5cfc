"""Timeline figures (design §9): append+sign rate and verify time for 10,000 entries.

Run: .venv/bin/python bench/timeline.py   (prints figures, asserts nothing)

Appends are measured with fdatasync per entry (what `contain` does), from one thread and from 8
threads (the runner's fan-out, where concurrent appenders share a sync), and without fsync so the
cost of the disk flush is visible.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from clawback.signing import Signer
from clawback.timeline import Timeline
from clawback.verify import verify_incident

INCIDENT = "2026-11-21T0203Z-bench"
TARGET = {"provider": "aws", "kind": "aws:access_key", "fingerprint": "…WXYZ sha256:0123abcd"}


def _append_pairs(timeline: Timeline, pairs: int, step: str) -> None:
    for i in range(pairs):
        target = {**TARGET, "key_id": f"AKIA{step}{i:06d}"}
        timeline.append(step=step, action="keys.revoke", phase="intent", target=target)
        timeline.append(
            step=step,
            action="keys.revoke",
            phase="result",
            target=target,
            outcome="Revoked",
            detail="access key deleted",
            extra={"duration_ms": 12},
        )


def append_rate(root: Path, entries: int, *, threads: int, durable: bool) -> float:
    signer = Signer.generate("clawback/bench")
    timeline = Timeline.create(
        root / f"append-{threads}-{durable}", INCIDENT, signer, header={}, durable=durable
    )
    per_thread = entries // (2 * threads)
    workers = [
        threading.Thread(target=_append_pairs, args=(timeline, per_thread, f"t{n}"))
        for n in range(threads)
    ]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    timeline.release()
    return 2 * per_thread * threads / elapsed


def verify_seconds(root: Path, entries: int) -> tuple[float, float, int, list[str]]:
    signer = Signer.generate("clawback/bench")
    incident = root / "verify"
    timeline = Timeline.create(incident, INCIDENT, signer, header={}, durable=False)
    _append_pairs(timeline, (entries - 2) // 2, "v")
    timeline.close(manifest_sha256=None)
    checkpoint = incident / "checkpoint.txt"
    runs, cpu = [], []
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        report = verify_incident(incident, checkpoint=checkpoint)
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(runs), statistics.median(cpu), report.entry_count, report.codes()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="clawback-bench-", dir=Path.cwd()) as tmp:
        root = Path(tmp)
        n = 10_000
        print(f"timeline append+sign, {n} entries (target >= 5,000/s)")
        for threads, durable in ((1, True), (8, True), (1, False)):
            rate = append_rate(root, n, threads=threads, durable=durable)
            sync = "fdatasync per append" if durable else "no fsync"
            print(f"  {threads} thread(s), {sync:<21} {rate:>9,.0f} entries/s")
        seconds, cpu, count, codes = verify_seconds(root, n)
        print(
            f"verify {count} entries with checkpoint (target <= 2 s): {seconds:.2f} s wall, "
            f"{cpu:.2f} s CPU over {os.cpu_count()} cores  {codes}"
        )
        print(f"load average while running: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
