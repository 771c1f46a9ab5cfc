"""DEEPSEEK_API_KEY has no revoke API: it is recognised by name and becomes a clear manual step
(a dry run predicts it, the real run sends nothing)."""

from __future__ import annotations

from pathlib import Path

from clawback.registry import load_registry
from responders.interface import ManualRequired, ResponderContext, fingerprint
from responders.manual import ManualResponder
from responders.openclaw.discovery import discover

KEY = "sk-6c1f0e9d8b7a45f3a2c1d0e9f8b7a6c5"


def test_a_deepseek_key_is_found_by_name_and_left_as_a_manual_step(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    (state / ".env").write_text(f"DEEPSEEK_API_KEY={KEY}\nDEEPSEEK_API_KEY_EXAMPLE=<your key>\n")
    (found,) = discover(user_home=tmp_path, system_service_dirs=()).credentials
    assert (found.provider, found.kind, found.fingerprint) == (
        "deepseek", "deepseek:api_key", fingerprint(KEY))

    assert load_registry().responder_for_provider("deepseek") is ManualResponder
    responder = ManualResponder(ResponderContext())
    (_, planned), = responder.plan([found])
    step = responder.revoke(found)
    assert planned == step and isinstance(step, ManualRequired)
    assert step.url == "https://platform.deepseek.com/api_keys"
    assert "DeepSeek" in step.instructions and found.fingerprint in step.instructions
    assert str(state / ".env") in step.instructions and KEY not in step.instructions
