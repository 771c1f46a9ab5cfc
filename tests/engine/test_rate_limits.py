"""The engine's fan-out keeps to what each provider documents, not to a fixed cap."""

from __future__ import annotations

import threading
from importlib.metadata import entry_points

import pytest

from clawback.registry import load_registry
from clawback.runner import RateLimitedFanOut, Runner, RunOptions, _TokenBucket
from responders.interface import UNDECLARED_RATE_LIMIT, RateLimit, Responder


def test_never_more_in_flight_than_the_declared_concurrency() -> None:
    limit = RateLimit(concurrent=3, source="test")
    in_flight, most = 0, 0
    lock = threading.Lock()
    # Every call waits for two others: with fewer than three at once the barrier breaks
    # (BrokenBarrierError becomes a Failed outcome), with more the count shows it.
    barrier = threading.Barrier(3, timeout=60)

    def call(item: int) -> int:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        barrier.wait()
        with lock:
            in_flight -= 1
        return item

    results = RateLimitedFanOut(limit)(call, list(range(30)))
    assert results == list(range(30))
    assert most == 3


def test_the_token_bucket_bursts_the_quota_then_paces_at_the_documented_rate() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    bucket = _TokenBucket(5, 10.0, clock=lambda: now[0], sleep=sleep)  # 5 per 10 s
    for _ in range(5):
        bucket.take()
    assert slept == []  # the documented quota goes at once
    bucket.take()
    bucket.take()
    # Each further start waits its turn: 2 s apart at 5 per 10 s, queued behind each other.
    assert slept == pytest.approx([2.0, 4.0])
    now[0] += 10.0  # ten quiet seconds bring back 5 starts, of which 2 were owed
    slept.clear()
    for _ in range(5):
        bucket.take()
    assert slept == pytest.approx([2.0, 4.0])
    now[0] += 1000.0  # a long pause refills it to the quota, never above
    slept.clear()
    for _ in range(6):
        bucket.take()
    assert slept == pytest.approx([2.0])


def test_every_provider_responder_declares_its_documented_limit_with_its_source() -> None:
    found = {ep.name: ep.load() for ep in entry_points(group="clawback.responders")}
    api_responders = ["aws", "github", "openai", "anthropic", "slack", "cloudflare", "stripe"]
    for name in api_responders:
        limit = found[name].rate_limit
        assert limit is not UNDECLARED_RATE_LIMIT, name
        assert limit.source and limit.concurrent >= 1, name
    # Where the provider documents a rate, the responder paces to it.
    assert found["cloudflare"].rate_limit.requests == 1200
    assert found["cloudflare"].rate_limit.per_seconds == 300
    assert found["slack"].rate_limit.requests == 50
    assert found["github"].rate_limit.concurrent == 100


def test_the_runner_gives_each_responder_a_fan_out_with_its_own_limit() -> None:
    class Paced(Responder):
        name = "paced"
        providers = frozenset({"paced"})
        rate_limit = RateLimit(concurrent=7, requests=9, per_seconds=3, source="test")

    runner = Runner(
        registry=load_registry([Paced]), playbook=None, settings={},
        provider_config=lambda name: {}, credentials=[], secrets=None, options=RunOptions(),
    )
    fan_out = runner._responder("paced").context.fan_out
    assert isinstance(fan_out, RateLimitedFanOut)
    assert fan_out.limit is Paced.rate_limit
    # One limiter per responder: revoke, verify and rotate share its bucket.
    assert runner._responder("paced").context.fan_out is fan_out


def test_a_rate_limit_allows_at_least_one_request() -> None:
    with pytest.raises(ValueError):
        RateLimit(concurrent=0)
    with pytest.raises(ValueError):
        RateLimit(concurrent=1, requests=0)
