"""`clawback drill --preflight` lists what every provider's admin credential must be allowed to
do, the new providers of issue 17 included, even when no provider can be reached: the permission
a person has to grant is the one thing they need to know then."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from clawback.registry import load_registry
from clawback_demo.home import build_sample_home
from tests.engine.conftest import write_config

# What each new provider's preflight names when the permission is missing (their own tests,
# against stand-ins validated by the official descriptions), which the list must also say.
NEW = {
    "gitlab": "a GitLab token revokes itself",
    "sendgrid": "api_keys.delete",
    "matrix": "every access token may log itself out",
    "openrouter": "a management key",
    "google": "apikeys.keys.lookup",
    "xai": "Management Keys Read + Write",
    "elevenlabs": "workspace_write",
    "twilio": "a Main API key",
    "azure_openai": "Microsoft.CognitiveServices/accounts/listKeys/action",
}


def _service_account(token_uri: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": "agent-prod-4711",
                       "private_key": private, "token_uri": token_uri,
                       "client_email": "clawback@agent-prod-4711.iam.gserviceaccount.com"})


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_preflight_lists_every_providers_required_permission(tmp_path: Path) -> None:
    home = build_sample_home(tmp_path / "sample", era="file", seed=5)
    url = _closed_port()  # nothing listens: each probe fails to connect
    account = "AC" + "1a" * 16
    config = write_config(tmp_path / "clawback.toml", home, extra=f"""
[providers.gitlab]
base_url = "{url}"

[providers.sendgrid]
base_url = "{url}"
api_key = "env:PF_SENDGRID"

[providers.matrix]
homeserver = "{url}"

[providers.openrouter]
base_url = "{url}"
management_key = "env:PF_OPENROUTER"

[providers.google]
base_url = "{url}"
check_url = "{url}"
service_account = "env:PF_GOOGLE"

[providers.xai]
base_url = "{url}"
api_url = "{url}"
management_key = "env:PF_XAI"
team_id = "team-1"

[providers.elevenlabs]
base_url = "{url}"
admin_key = "env:PF_ELEVENLABS"

[providers.twilio]
base_url = "{url}"
accounts_url = "{url}"
account_sid = "{account}"
admin_key_id = "SK{'2b' * 16}"
admin_secret = "env:PF_TWILIO"

[providers.azure_openai]
management_url = "{url}"
token = "env:PF_AZURE"

[[providers.azure_openai.accounts]]
subscription_id = "00000000-0000-0000-0000-000000000001"
resource_group = "rg"
name = "agent-aoai"
endpoint = "{url}"
""")
    admin = {
        "PF_SENDGRID": "SG." + "Ab1" * 7 + "C." + "Xy2" * 14 + "Z",
        "PF_OPENROUTER": "sk-or-v1-" + "0a" * 32,
        "PF_GOOGLE": _service_account(f"{url}/token"),
        "PF_XAI": "xai-token-" + "Q1w2" * 10,
        "PF_ELEVENLABS": "sk_" + "3c" * 24,
        "PF_TWILIO": "Q1w2" * 8,
        "PF_AZURE": "eyJ0eXAiOiJKV1QifQ.e30.c2ln",
    }
    env = {**os.environ, **admin,
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "COLUMNS": "80"}
    command = [sys.executable, "-m", "clawback", "drill", "--preflight", "--config", str(config)]

    run = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env,
                         timeout=300)

    assert run.returncode == 3, run.stderr  # no provider reachable: contain could not finish
    report = json.loads(run.stdout)
    listed = {r["provider"]: r for r in report["permissions"]}
    api_responders = {cls.name for cls in load_registry().key_responders
                      if cls.providers and not cls.fallback and cls.needs_config}
    assert api_responders <= set(listed), api_responders - set(listed)
    assert len(api_responders) >= 15
    for name in api_responders:
        assert listed[name]["permissions"] and all(listed[name]["permissions"]), name
    for name, needed in NEW.items():
        assert listed[name]["configured"] is True, name
        assert any(needed in p for p in listed[name]["permissions"]), (name, listed[name])
        # The probe itself failed (nothing listens), and said so.
        assert any(c["provider"] == name and not c["ok"] for c in report["checks"]), name
    assert listed["aws"]["configured"] is False
    assert "iam:UpdateAccessKey" in listed["aws"]["permissions"]
    assert not any(value in run.stdout + run.stderr for value in admin.values())

    screen = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)

    assert screen.returncode == 3, screen.stderr
    assert "What each admin credential must be allowed to do:" in screen.stdout
    for name in NEW:
        assert f"  {name}: " in screen.stdout, name
    assert "Microsoft.CognitiveServices/accounts/listKeys/action" in screen.stdout
    assert max(len(line) for line in screen.stdout.splitlines()) <= 80
