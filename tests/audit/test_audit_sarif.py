"""SARIF output validates against the SARIF 2.1.0 schema (see SOURCES.md for the copy used)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from clawback.audit import render_sarif
from tests.audit.conftest import AuditedHome

SCHEMA_PATH = Path(__file__).with_name("sarif-schema-2.1.0.json")
SCHEMA_SHA256 = "1c49a0f2b60444c71bb14878e21e0d882198eff4c539861b133093ad89ed798c"


@pytest.fixture(scope="module")
def validator() -> Any:
    raw = SCHEMA_PATH.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "the vendored schema was changed"
    schema = json.loads(raw)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _errors(validator: Any, document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_sarif_of_the_weak_home_validates(validator: Any, weak: AuditedHome) -> None:
    report = weak.audit()
    sarif = render_sarif(report)
    assert _errors(validator, sarif) == []
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(rules) == len(report.specs) >= 40
    assert len(run["results"]) == len(report.findings)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["gateway.tailscale_funnel"] == "error"
    assert levels["docker.read_only_missing"] == "note"
    reverse = next(r for r in run["results"] if r["ruleId"] == "skills.reverse_shell")
    region = reverse["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"].startswith("file:///")
    assert region["region"] == {"startLine": 9}


def test_sarif_of_the_hardened_home_validates(validator: Any, hardened: AuditedHome) -> None:
    sarif = render_sarif(hardened.audit())
    assert _errors(validator, sarif) == []
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["contain.manual_only"]


def test_the_schema_rejects_a_broken_document(validator: Any, hardened: AuditedHome) -> None:
    # The validator is real: a result without a message, or a wrong level, is refused.
    sarif = render_sarif(hardened.audit())
    result = sarif["runs"][0]["results"][0]
    del result["message"]
    result["level"] = "fatal"
    errors = _errors(validator, sarif)
    assert any("'message' is a required property" in e for e in errors)
    assert any("'fatal' is not one of" in e for e in errors)
