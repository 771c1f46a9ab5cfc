"""Azure OpenAI keys are found by their place, and `clawback drill --preflight` names the
action the ARM token's identity lacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clawback_demo.home import build_sample_home
from responders.interface import fingerprint
from responders.openclaw.discovery import discover
from tests.contract_server import ContractServer
from tests.providers_new.azure_openai.azure_standin import GROUP, SUBSCRIPTION, AzureOpenAI
from tests.providers_new.azure_openai.conftest import ARM_TOKEN

KEY = "3f9a1c7e5b2d4068a1e3c5b7d9f02468"


def test_a_planted_key_is_found_and_examples_are_not(tmp_path: Path) -> None:
    state = tmp_path / "home" / ".openclaw"
    state.mkdir(parents=True)
    (state / ".env").write_text(
        f"AZURE_OPENAI_API_KEY={KEY}\nAZURE_OPENAI_ENDPOINT=https://agent.openai.azure.com\n")
    examples = tmp_path / "examples" / ".openclaw"
    examples.mkdir(parents=True)
    # The placeholders of Microsoft's quickstarts and of OpenClaw's own docs.
    (examples / ".env").write_text(
        "AZURE_OPENAI_API_KEY=<your-api-key>\nAZURE_OPENAI_KEY=REPLACE_WITH_YOUR_KEY_VALUE_HERE\n")

    found = {c.fingerprint: c for c in discover(user_home=tmp_path / "home",
                                                system_service_dirs=()).credentials}
    planted = found[fingerprint(KEY)]
    assert (planted.provider, planted.kind) == ("azure_openai", "azure_openai:api_key")
    assert discover(user_home=tmp_path / "examples", system_service_dirs=()).credentials == ()


def test_drill_preflight_names_the_missing_action(
    tmp_path: Path, azure: AzureOpenAI, azure_contract: ContractServer
) -> None:
    azure.add()
    azure.forbid.add("listKeys")
    home = build_sample_home(tmp_path / "sample", era="both")
    agent = "\n".join(f"{k} = {json.dumps(v)}" for k, v in home.agent_settings().items())
    config = tmp_path / "clawback.toml"
    config.write_text(
        f"[agent]\n{agent}\n\n[providers.azure_openai]\n"
        f"management_url = {json.dumps(azure_contract.url)}\n"
        'token = "env:AZURE_PREFLIGHT_TOKEN"\n\n'
        "[[providers.azure_openai.accounts]]\n"
        f'subscription_id = "{SUBSCRIPTION}"\nresource_group = "{GROUP}"\n'
        f'name = "agent-aoai"\nendpoint = {json.dumps(azure_contract.url)}\n'
    )
    config.chmod(0o600)
    env = {**os.environ, "AZURE_PREFLIGHT_TOKEN": ARM_TOKEN,
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    run = subprocess.run(
        [sys.executable, "-m", "clawback", "drill", "--preflight", "--json", "--config",
         str(config)], capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode == 3, run.stderr
    (check,) = [c for c in json.loads(run.stdout)["checks"] if c["provider"] == "azure_openai"]
    assert check["ok"] is False
    assert check["missing_permission"] == "Microsoft.CognitiveServices/accounts/listKeys/action"
    assert azure.accounts["agent-aoai"].regenerations == []
    assert ARM_TOKEN not in run.stdout + run.stderr
