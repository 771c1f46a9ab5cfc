"""Google API keys are found wherever the agent keeps them, by fingerprint, and the example key
Google's documentation prints is never reported as a secret."""

from __future__ import annotations

import json
from pathlib import Path

from responders.interface import fingerprint
from responders.openclaw.discovery import discover

PLANTED = "AIzaSyC" + "q7Rw2Xk9Lm4Nb8Vt1Zp3Hs6Jd0Fg5Ye2"  # 39 characters, as Google makes them
EXAMPLES = ("AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "AIzaSy-your-api-key-here", "AIza...")


def test_a_planted_key_is_found_by_fingerprint_and_the_doc_example_is_not(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    lines = [f"TRANSLATE_KEY={PLANTED}", *(f"GEMINI_API_KEY_{i}={v}" for i, v in
                                            enumerate(EXAMPLES)), f"GEMINI_API_KEY={EXAMPLES[0]}"]
    (state / ".env").write_text("\n".join(lines) + "\n")
    (state / "notes.md").write_text("curl -H 'x-goog-api-key: " + EXAMPLES[0] + "' …\n")

    inventory = discover(user_home=tmp_path, system_service_dirs=())

    (found,) = inventory.credentials
    assert (found.provider, found.kind) == ("google", "google:api_key")
    assert found.fingerprint == fingerprint(PLANTED)
    assert PLANTED not in json.dumps(inventory.as_dict())
