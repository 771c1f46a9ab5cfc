"""xAI keys are found wherever the agent keeps them, by fingerprint, and the placeholders of
xAI's documentation are never reported as secrets."""

from __future__ import annotations

import json
from pathlib import Path

from responders.interface import fingerprint
from responders.openclaw.discovery import discover

PLANTED = "xai-" + "Qm7Rt2Wx9Kp4Lz8Nv1Bc6Hd3Jf5Gs0Ya" * 2 + "Ue4Ti"
DOC_EXAMPLES = ("xai-your-api-key-here", "xai-<your key>", "xai-...", "xai-xxxxxxxxxxxxxxxx")


def test_a_planted_key_is_found_by_fingerprint_and_doc_examples_are_not(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    lines = [f"GROK_TOKEN={PLANTED}", *(f"XAI_API_KEY_{i}={v}" for i, v in
                                        enumerate(DOC_EXAMPLES)), f"XAI_API_KEY={DOC_EXAMPLES[0]}"]
    (state / ".env").write_text("\n".join(lines) + "\n")
    (state / "notes.md").write_text("export XAI_API_KEY=" + " ".join(DOC_EXAMPLES) + "\n")

    inventory = discover(user_home=tmp_path, system_service_dirs=())

    (found,) = inventory.credentials
    assert (found.provider, found.kind) == ("xai", "xai:api_key")
    assert found.fingerprint == fingerprint(PLANTED)
    assert PLANTED not in json.dumps(inventory.as_dict())
