"""OpenRouter keys are found wherever the agent keeps them, by fingerprint, and the examples in
OpenRouter's own documentation are never reported as secrets."""

from __future__ import annotations

import json
from pathlib import Path

from responders.interface import fingerprint
from responders.openclaw.discovery import discover

PLANTED = "sk-or-v1-" + "3f9a" * 16
# As they appear in openrouter.ai/docs (quickstart, management keys guide, SDK docs).
DOC_EXAMPLES = (
    "sk-or-v1-your-key-here",
    "sk-or-v1-<your-key>",
    "sk-or-v1-0e6...1c96",
    "sk-or-v1-abc...123",
    "sk-or-v1-...",
)


def test_a_planted_key_is_found_by_fingerprint_and_doc_examples_are_not(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    lines = [f"LLM_GATEWAY_KEY={PLANTED}"]
    lines += [f"OPENROUTER_API_KEY_{i}={v}" for i, v in enumerate(DOC_EXAMPLES)]
    lines += [f"OPENROUTER_API_KEY={DOC_EXAMPLES[0]}"]
    (state / ".env").write_text("\n".join(lines) + "\n")
    (state / "notes.md").write_text("export OPENROUTER_API_KEY=" + " ".join(DOC_EXAMPLES) + "\n")

    inventory = discover(user_home=tmp_path, system_service_dirs=())

    (found,) = inventory.credentials
    assert (found.provider, found.kind) == ("openrouter", "openrouter:api_key")
    assert found.fingerprint == fingerprint(PLANTED)
    assert PLANTED not in json.dumps(inventory.as_dict())
