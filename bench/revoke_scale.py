"""Revoke at scale: 50, 500 and 2,000 keys, the growth exponent, and a plain thread fan-out.

The real ``keys.revoke_all`` step (runner, redaction, fan-out within each responder's declared
rate limit, signed timeline with its syncs) against 10 stand-in providers that each answer in
200 ms, next to a plain thread fan-out (one thread per key, one shared httpx client, nothing
recorded) over the same servers, measured in the same run. Goals (issue 20): the engine's
growth exponent (least-squares slope of log time over log keys) <= 1.1, and 2,000 keys within
2x the plain fan-out.

    .venv/bin/python bench/revoke_scale.py [--sizes 50 500 2000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from revoke import credentials, engine_revoke_phase, responder_class, start_providers


def plain_fan_out(urls: list[str], keys: int, providers: int) -> float:
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=keys))
    creds = credentials(keys, providers)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=keys) as pool:
        list(pool.map(lambda i: client.delete(f"{urls[i % providers]}/keys/{creds[i].key_id}"),
                      range(keys)))
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum(
        (a - mx) ** 2 for a in lx
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 500, 2000])
    parser.add_argument("--providers", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    servers = start_providers(args.providers, args.delay)
    urls = [url for _, url in servers]
    classes = [responder_class(i, url) for i, url in enumerate(urls)]
    httpx.delete(f"{urls[0]}/warm-up", timeout=10)
    engine: dict[int, float] = {}
    plain: dict[int, float] = {}
    for keys in args.sizes:
        creds = credentials(keys, args.providers)
        runs, baseline = [], []
        for _ in range(args.repeat):  # interleaved, so load hits both alike
            with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
                runs.append(engine_revoke_phase(Path(tmp), classes, creds))
            baseline.append(plain_fan_out(urls, keys, args.providers))
        engine[keys], plain[keys] = statistics.median(runs), statistics.median(baseline)
        print(f"{keys:>5} keys: engine {engine[keys]:6.3f} s   plain fan-out "
              f"{plain[keys]:6.3f} s   ratio {engine[keys] / plain[keys]:.2f}", flush=True)
    sizes = list(engine)
    print(f"growth exponent, engine: {slope(sizes, [engine[k] for k in sizes]):.2f} "
          f"(goal <= 1.1); plain fan-out: {slope(sizes, [plain[k] for k in sizes]):.2f}")
    largest = sizes[-1]
    print(f"{largest} keys: engine / plain fan-out = {engine[largest] / plain[largest]:.2f} "
          "(goal <= 2)")
    print(f"load average while running: {os.getloadavg()[0]:.2f}")
    for server, _ in servers:
        server.shutdown()


if __name__ == "__main__":
    main()
