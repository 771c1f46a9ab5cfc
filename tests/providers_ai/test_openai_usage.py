"""``usage``: OpenAI's own ``last_used_at`` of a key, through the responder contract, against the
loopback organization whose every request and answer is checked against OpenAI's description
(tests/contracts/openai.json: ``AdminApiKey`` and ``ProjectApiKey`` both carry ``last_used_at``).

OpenAI forgets a key when it is deleted, so the revoke step keeps the time the listing gave just
before the delete in its facts, and the investigation carries it into investigation.json."""

from __future__ import annotations

import importlib.util
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawback.investigate.provider_usage import ask
from clawback.runner import outcome_fields
from responders.interface import Capability, Credential, Revoked, Skipped, UsageReport
from responders.openai import KIND_ADMIN_KEY, KIND_PROJECT_KEY, OpenAIResponder
from tests.providers_ai.conftest import found_at, openai_responder
from tests.providers_ai.served_orgs import OpenAIOrg

USED = 1_764_990_000  # 2025-12-06T03:00:00Z
# The stand-in validates every request and answer against OpenAI's description: on a busy
# machine its first answer can take longer than the 2 s the other tests allow.
PATIENT: dict[str, Any] = {"timeout_seconds": 30}
USED_ISO = datetime.fromtimestamp(USED, UTC).isoformat().replace("+00:00", "Z")


def _looked_up(cred: Credential, key_id: str, account: str | None) -> Credential:
    """The credential as the investigation has it: no secret, the ids the revoke recorded."""
    return Credential(cred.provider, cred.kind, cred.fingerprint, key_id=key_id, account=account)


def test_openai_declares_the_usage_capability() -> None:
    assert Capability.USAGE in OpenAIResponder.capabilities


def test_a_live_keys_last_use_is_openais_answer(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    used, never = openai_org.add_user_key(project), openai_org.add_user_key(project)
    openai_org.keys[used].last_used_at = USED
    admin = openai_org.add_admin_key()
    responder, _ = openai_responder(openai_org.url, admin.value, projects=[project], **PATIENT)

    cred = found_at("openai", KIND_PROJECT_KEY, openai_org.keys[used].value)
    outcome = responder.usage(_looked_up(cred, used, project))
    assert isinstance(outcome, UsageReport), outcome
    assert outcome.last_used == USED_ISO
    assert outcome.sources == (f"openai:GET /organization/projects/{project}/api_keys/{used}",)
    assert "last use only" in outcome.caveat

    cred = found_at("openai", KIND_PROJECT_KEY, openai_org.keys[never].value)
    outcome = responder.usage(_looked_up(cred, never, project))
    assert isinstance(outcome, UsageReport) and outcome.last_used == ""
    assert "never used" in outcome.detail
    assert {used, never} <= set(openai_org.keys)  # read-only


def test_an_admin_keys_last_use(openai_org: OpenAIOrg) -> None:
    acting = openai_org.add_admin_key()
    other = openai_org.add_admin_key()
    other.last_used_at = USED
    responder, _ = openai_responder(openai_org.url, acting.value, **PATIENT)
    cred = found_at("openai", KIND_ADMIN_KEY, other.value)
    outcome = responder.usage(_looked_up(cred, other.key_id, None))
    assert isinstance(outcome, UsageReport) and outcome.last_used == USED_ISO


def test_a_deleted_key_is_no_clean_bill_and_no_guess(openai_org: OpenAIOrg) -> None:
    project = openai_org.add_project()
    target = openai_org.add_user_key(project)
    admin = openai_org.add_admin_key()
    responder, _ = openai_responder(openai_org.url, admin.value, projects=[project], **PATIENT)
    cred = found_at("openai", KIND_PROJECT_KEY, openai_org.keys[target].value)
    del openai_org.keys[target]
    outcome = responder.usage(_looked_up(cred, target, project))
    assert isinstance(outcome, Skipped) and "deleted" in outcome.reason
    # Without the id the revoke recorded nothing is looked up by a redacted form.
    outcome = responder.usage(_looked_up(cred, "", None))
    assert isinstance(outcome, Skipped) and "no OpenAI key id" in outcome.reason


def test_the_revoke_keeps_openais_last_use_and_the_investigation_reports_it(
    openai_org: OpenAIOrg, tmp_path: Path
) -> None:
    """End to end through the contract: the real revoke's facts go into a signed timeline,
    the investigation reads them from there, asks OpenAI again (gone: said so) and records
    both, with their sources, in investigation.json and a signed entry."""
    from clawback.investigate import investigate_incident

    project = openai_org.add_project()
    target = openai_org.add_user_key(project)
    openai_org.keys[target].last_used_at = USED
    value = openai_org.keys[target].value
    admin = openai_org.add_admin_key()
    responder, _ = openai_responder(openai_org.url, admin.value, projects=[project], **PATIENT)
    ((_, revoked),) = responder.revoke_all([found_at("openai", KIND_PROJECT_KEY, value)])
    assert isinstance(revoked, Revoked), revoked
    assert revoked.facts["last_used_at"] == USED_ISO
    assert revoked.facts["account"] == project
    assert revoked.facts["last_used_source"] == (
        f"openai:GET /organization/projects/{project}/api_keys")

    bench = _bench()
    home = tmp_path / "home"
    bench.write_transcripts(home / ".openclaw" / "agents" / "main" / "sessions", 64 * 1024,
                            bench.secrets(random.Random(1)))
    incident = bench.seal_incident(tmp_path, home, {"openai": value},
                                   kinds={"openai": (KIND_PROJECT_KEY, "")},
                                   results={"openai": outcome_fields(revoked)})
    result = investigate_incident(incident,
                                  usage=lambda creds: ask(creds, {"openai": responder}))
    (cred,) = result.document["credentials"]
    assert cred["key_id"] == target and cred["account"] == project
    assert cred["provider_last_used"]["at"] == USED_ISO
    assert cred["provider_last_used"]["source"].startswith("openai:GET /organization/projects/")
    (said,) = result.document["provider_usage"]
    assert said["outcome"] == "Skipped" and "deleted" in said["reason"]
    entries = [json.loads(line) for line in (incident / "timeline.jsonl").read_text()
               .splitlines()]
    (recorded,) = [e for e in entries if e["action"] == "investigation.provider_usage"]
    assert recorded["target"]["key_id"] == target
    # The report's Impact says it, with the API that said it.
    from clawback.report import build_report, write_report_files

    md, html, _ = (p.read_text() for p in write_report_files(build_report(incident)))
    impact = md[md.index("## 2. Impact"):md.index("## 3. Detection")]
    assert f"last used {USED_ISO} (read before the key was deleted)" in impact
    assert f"openai:GET /organization/projects/{project}/api_keys" in impact
    assert "not said: OpenAI no longer has key" in impact
    assert f"last used {USED_ISO}" in html
    written = (incident / "timeline.jsonl").read_text() + result.sealed.document.read_text()  # type: ignore[union-attr]
    assert value not in written + md + html


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_investigate", Path(__file__).resolve().parents[2] / "bench" / "investigate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
