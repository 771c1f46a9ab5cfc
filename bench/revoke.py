"""Revoke phase: 50 keys over 10 stand-in providers that each answer after 200 ms.

Prints the wall time of the real ``keys.revoke_all`` step (the engine's runner, its fan-out and
its timeline, fsync included) next to a serial loop over the same servers, measured in the same
run. Goal (design section 9): revoke phase <= 0.3 s; a serial loop takes about 10 s.

    .venv/bin/python bench/revoke.py [--keys 50] [--providers 10] [--delay 0.2]
"""

from __future__ import annotations

import argparse
import http.server
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import httpx

from clawback.incident import create_incident_dir
from clawback.playbook import load_playbook
from clawback.registry import load_registry
from clawback.runner import WHEN_VARIABLES, Runner, RunOptions, known_actions
from clawback.signing import Signer
from clawback.timeline import Timeline
from responders.interface import Credential, Failed, Outcome, Responder, Revoked


class SlowProvider(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    delay = 0.2


class SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_DELETE(self) -> None:
        time.sleep(self.server.delay)  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def start_providers(count: int, delay: float) -> list[tuple[SlowProvider, str]]:
    servers = []
    for _ in range(count):
        server = SlowProvider(("127.0.0.1", 0), SlowHandler)
        server.delay = delay
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, f"http://127.0.0.1:{server.server_address[1]}"))
    return servers


def responder_class(index: int, url: str) -> type[Responder]:
    class BenchResponder(Responder):
        name: ClassVar[str] = f"bench{index}"
        providers: ClassVar[frozenset[str]] = frozenset({f"bench{index}"})

        # One client per responder, as the real ones keep: building a client per call costs
        # an SSL context each time.
        client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=100))

        def revoke(self, cred: Credential) -> Outcome:
            answer = self.client.delete(f"{url}/keys/{cred.key_id}")
            return Revoked() if answer.status_code == 204 else Failed(error=str(answer))

    return BenchResponder


def credentials(keys: int, providers: int) -> list[Credential]:
    return [
        Credential.from_secret(
            f"bench{i % providers}", "bench:key", f"bench-secret-{i:05d}-abcdefgh", key_id=f"k{i}"
        )
        for i in range(keys)
    ]


def engine_revoke_phase(workdir: Path, classes: Sequence[type[Responder]],
                        creds: list[Credential]) -> float:
    registry = load_registry(classes)
    playbook = workdir / "revoke.yaml"
    playbook.write_text("name: bench\nsteps:\n  - id: revoke\n    uses: keys.revoke_all\n"
                        "    with: {verify: false}\n")
    os.chmod(playbook, 0o600)
    loaded = load_playbook(playbook, actions=known_actions(registry), variables=WHEN_VARIABLES)
    incident_dir = create_incident_dir(workdir / "incidents", "2026-11-21T0203Z-b3c4")
    timeline = Timeline.create(incident_dir, "2026-11-21T0203Z-b3c4", Signer.generate("bench"),
                               header={})
    runner = Runner(
        registry=registry, playbook=loaded, settings={}, provider_config=lambda name: {},
        credentials=creds, secrets=None, options=RunOptions(yes=True), timeline=timeline,
        incident_id="2026-11-21T0203Z-b3c4", incident_dir=incident_dir,
    )
    step = loaded.playbook.steps[0]
    started = time.perf_counter()
    results = runner._run_keys_step(step, loaded.params[step.id])
    elapsed = time.perf_counter() - started
    failed = [r for r in results if not r.outcome.succeeded]
    if failed:
        raise SystemExit(f"{len(failed)} revocations failed: {failed[0].outcome}")
    return elapsed


def serial_loop(urls: list[str], creds: list[Credential], providers: int) -> float:
    client = httpx.Client(timeout=10)
    started = time.perf_counter()
    for i, cred in enumerate(creds):
        client.delete(f"{urls[i % providers]}/keys/{cred.key_id}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--providers", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-serial", action="store_true")
    args = parser.parse_args(argv)

    servers = start_providers(args.providers, args.delay)
    urls = [url for _, url in servers]
    classes = [responder_class(i, url) for i, url in enumerate(urls)]
    creds = credentials(args.keys, args.providers)
    httpx.delete(f"{urls[0]}/warm-up", timeout=10)  # import and first-connection costs
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(engine_revoke_phase(Path(tmp), classes, creds))
    best, median = min(runs), sorted(runs)[len(runs) // 2]
    print(f"revoke phase, {args.keys} keys over {args.providers} providers at "
          f"{args.delay * 1000:.0f} ms each (engine, timeline + fsync included):")
    print(f"  median {median:.3f} s, best {best:.3f} s over {args.repeat} runs "
          f"(goal <= 0.3 s)")
    if not args.skip_serial:
        serial = serial_loop(urls, creds, args.providers)
        print(f"serial loop over the same servers: {serial:.3f} s "
              f"({serial / median:.0f}x slower than the engine)")
    for server, _ in servers:
        server.shutdown()


if __name__ == "__main__":
    main()
