"""Fixtures of the pressure suites: real hosts in sandboxes, contained through the real CLI.

moto serves the whole session (starting it costs more than a test); each sandbox gets its own
IAM user, so no test sees another's keys. Every process a fixture starts is stopped when it
ends, and every directory lives under a scratch root that is removed (tmpfs when there is one:
see ``scratch_root``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from clawback_demo.standins import start_moto

from .sandbox_host import (
    ContainedHost,
    DemoProcess,
    MotoAccount,
    Sandbox,
    build_sandbox,
    close_all,
    contain_and_follow_up,
    scratch_root,
)


@pytest.fixture(scope="session", autouse=True)
def _loopback_bypasses_proxies() -> Iterator[None]:
    """Session and module fixtures run outside each test's environment, where tests/conftest.py
    sets NO_PROXY for loopback. urllib's shared opener keeps whatever proxy was set when another
    test first used it (the dead proxy of tests/conftest.py), and moto's setup goes through it:
    loopback must bypass proxies here too."""
    with pytest.MonkeyPatch.context() as env:
        for var in ("NO_PROXY", "no_proxy"):
            env.setenv(var, "127.0.0.1,localhost,::1")
        yield


@pytest.fixture(scope="session")
def moto_account() -> Iterator[MotoAccount]:
    moto = start_moto()
    try:
        admin = moto.create_admin()
        moto.enforce_iam()
        yield MotoAccount(moto, admin)
    finally:
        moto.stop()


@pytest.fixture(scope="session")
def contained_hosts(moto_account: MotoAccount) -> Iterator[dict[str, ContainedHost]]:
    """Two hosts contained side by side: ``rich`` (live progress, after every read-only
    command ran on it untouched) and ``json`` (``contain --json``)."""
    from concurrent.futures import ThreadPoolExecutor

    boxes: list[Sandbox] = []
    with contextlib.ExitStack() as cleanup:
        root = cleanup.enter_context(scratch_root("contained"))
        cleanup.callback(close_all, boxes)
        boxes += [build_sandbox(root / name, moto_account) for name in ("rich", "json")]
        with ThreadPoolExecutor(max_workers=2) as pool:
            rich = pool.submit(contain_and_follow_up, boxes[0], json_output=False)
            as_json = pool.submit(contain_and_follow_up, boxes[1], json_output=True)
            hosts = {"rich": rich.result(), "json": as_json.result()}
        yield hosts


@pytest.fixture(scope="session")
def demo_process() -> Iterator[DemoProcess]:
    with scratch_root("demo") as tmp:
        demo = DemoProcess.start(tmp)
        try:
            yield demo
        finally:
            demo.stop()


@pytest.fixture(scope="session", autouse=True)
def _demo_starts_early(request: pytest.FixtureRequest) -> None:
    """When the session includes the demo's leak test, start the demo with the first test of
    this directory: it spends most of its ~15 s waiting (Prism, the stop step's re-check), so
    it overlaps the crash scenarios instead of adding to the suite's time."""
    if any("demo_process" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("demo_process")
