"""``usage``: what IAM and CloudTrail say of an access key's use, read-only, through the
responder contract; and the engine recording the answers in the incident.

moto records ``LastUsedDate`` when a key signs a request, but does not implement CloudTrail's
``LookupEvents`` (it answers HTTP 500): against moto the answer says so in its caveat. The
CloudTrail reading itself is tested with botocore's Stubber, which checks both the request and
the scripted answer against AWS's own CloudTrail service model.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clawback.investigate.provider_usage import ask
from responders.aws import KIND_ACCESS_KEY
from responders.interface import Capability, Credential, Failed, UsageReport, fingerprint
from tests.keys.standins import MotoAccount
from tests.keys.test_aws import agent_key, make_responder


def test_aws_declares_the_usage_capability() -> None:
    from responders.aws import AWSResponder

    assert Capability.USAGE in AWSResponder.capabilities


def test_a_used_key_has_its_last_use_and_an_honest_caveat(moto: MotoAccount) -> None:
    key = moto.user_with_key("openclaw-agent")
    moto.client("sts", key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
    responder, _ = make_responder(moto.url)
    before = moto.keys("openclaw-agent")
    outcome = responder.usage(agent_key(key))
    assert isinstance(outcome, UsageReport), outcome
    used = datetime.fromisoformat(outcome.last_used)
    assert abs(used - datetime.now(UTC)) < timedelta(minutes=10)
    assert outcome.last_service == "sts" and outcome.last_region == "us-east-1"
    assert outcome.sources == ("iam:GetAccessKeyLastUsed", "cloudtrail:LookupEvents")
    # moto has no CloudTrail event history: said, not hidden.
    assert "CloudTrail's event history could not be read" in outcome.caveat
    assert outcome.uses == () and not outcome.complete
    assert moto.keys("openclaw-agent") == before  # read-only


def test_a_key_never_used_says_so(moto: MotoAccount) -> None:
    key = moto.user_with_key("openclaw-agent")
    responder, _ = make_responder(moto.url)
    outcome = responder.usage(agent_key(key))
    assert isinstance(outcome, UsageReport) and outcome.last_used == ""
    assert "never used" in outcome.detail


def test_an_unknown_key_is_a_failure_not_a_clean_bill(moto: MotoAccount) -> None:
    responder, _ = make_responder(moto.url)
    ghost = Credential("aws", KIND_ACCESS_KEY, fingerprint("x" * 40), key_id="AKIAGHOST00000000000")
    assert isinstance(responder.usage(ghost), Failed)


def _event(at: datetime, name: str, address: str) -> dict[str, Any]:
    record = {"eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": "eu-west-1",
              "sourceIPAddress": address, "userAgent": "aws-cli/2.15 Python/3.11"}
    return {"EventId": f"id-{name}", "EventName": name, "EventTime": at,
            "EventSource": "s3.amazonaws.com", "CloudTrailEvent": json.dumps(record)}


def test_cloudtrail_events_are_read_page_by_page(moto: MotoAccount) -> None:
    import boto3
    from botocore.stub import ANY, Stubber

    key = moto.user_with_key("openclaw-agent")
    responder, _ = make_responder(moto.url)
    client = boto3.client("cloudtrail", region_name="us-east-1", aws_access_key_id="a",
                          aws_secret_access_key="b")
    now = datetime.now(UTC)
    lookup = {"LookupAttributes": [{"AttributeKey": "AccessKeyId",
                                    "AttributeValue": key["AccessKeyId"]}],
              "StartTime": ANY, "MaxResults": 50}
    with Stubber(client) as stub:
        stub.add_response("lookup_events", {
            "Events": [_event(now, "ListBuckets", "198.51.100.77")], "NextToken": "page-2"},
            lookup)
        stub.add_response("lookup_events", {
            "Events": [_event(now - timedelta(hours=1), "GetObject", "198.51.100.77")]},
            {**lookup, "NextToken": "page-2"})
        responder._client_for = lambda service: client  # type: ignore[method-assign]
        outcome = responder.usage(agent_key(key))
        stub.assert_no_pending_responses()
    assert isinstance(outcome, UsageReport) and outcome.complete
    assert [(u.action, u.source_address, u.region) for u in outcome.uses] == [
        ("s3.amazonaws.com ListBuckets", "198.51.100.77", "eu-west-1"),
        ("s3.amazonaws.com GetObject", "198.51.100.77", "eu-west-1"),
    ]


def test_every_keys_cloudtrail_question_goes_through_one_client_of_the_admin(
    moto: MotoAccount,
) -> None:
    # A session per key's question cost ~30 ms of CPU each in contain's investigation.
    import threading

    first_key, second_key = moto.user_with_key("openclaw-agent"), moto.user_with_key("other")
    responder, _ = make_responder(moto.url, admin=("AKIAADMINSETUP000000", "not-checked"))
    seen: list[Any] = []
    real = responder._client_for

    def recording(service: str) -> Any:
        seen.append(real(service))
        return seen[-1]

    responder._client_for = recording  # type: ignore[method-assign]
    threads = [threading.Thread(target=responder.usage, args=(agent_key(k),))
               for k in (first_key, second_key, first_key)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(seen) == 3 and all(client is seen[0] for client in seen)
    signer = seen[0]._request_signer._credentials  # the admin's, not a found key's
    assert signer.access_key == "AKIAADMINSETUP000000"


def test_the_engine_records_what_the_provider_said(moto: MotoAccount, tmp_path: Path) -> None:
    """Through the contract only: investigation.json and a signed timeline entry per key."""
    import importlib.util

    from clawback.investigate import investigate_incident

    key = moto.user_with_key("openclaw-agent")
    moto.client("sts", key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
    responder, _ = make_responder(moto.url)
    spec = importlib.util.spec_from_file_location(
        "bench_investigate", Path(__file__).resolve().parents[2] / "bench" / "investigate.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    home = tmp_path / "home"
    bench.write_transcripts(home / ".openclaw" / "agents" / "main" / "sessions", 64 * 1024,
                            bench.secrets(random.Random(1)))
    incident = bench.seal_incident(tmp_path, home, {"aws": key["SecretAccessKey"]},
                                   kinds={"aws": (KIND_ACCESS_KEY, key["AccessKeyId"])})
    result = investigate_incident(
        incident, usage=lambda creds: ask(creds, {"aws": responder}))
    (said,) = result.document["provider_usage"]
    assert said["key_id"] == key["AccessKeyId"] and said["outcome"] == "UsageReport"
    assert said["last_service"] == "sts" and said["sources"] == [
        "iam:GetAccessKeyLastUsed", "cloudtrail:LookupEvents"]
    entries = [json.loads(line) for line in (incident / "timeline.jsonl").read_text()
               .splitlines()]
    (recorded,) = [e for e in entries if e["action"] == "investigation.provider_usage"]
    assert recorded["target"]["key_id"] == key["AccessKeyId"]
    assert recorded["extra"]["last_used"] == said["last_used"]
    assert key["SecretAccessKey"] not in (incident / "timeline.jsonl").read_text()
