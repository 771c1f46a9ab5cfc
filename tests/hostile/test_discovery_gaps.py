"""Issue 17's discovery gaps, as root over a home the agent owns: docker compose files and the
``.env`` beside them, cron job messages, the script an ``exec`` SecretRef runs, the temp dirs'
logs for ``clawback discover``, the new prefixes and names; then all of it at once in a hard
multi-profile home.

Every planted secret is asserted found by its fingerprint at the place it was written; the
documentation examples planted beside them (``AKIAIOSFODNN7EXAMPLE``, Google's example key,
placeholders) must not be reported: the test compares what discovery finds with and without the
planted files, so any extra credential fails it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clawback import cli
from responders.interface import fingerprint
from responders.openclaw.discovery import Inventory, discover, discover_agent
from tests.hostile.conftest import HostileHome

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


def _rand(n: int, alphabet: str = ALNUM) -> str:
    # Never a run of one character, so no value looks like a documentation placeholder.
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(n))
        if len(set(value)) >= min(6, n // 2 + 1):
            return value


def _hex(n: int) -> str:
    return _rand(n, "0123456789abcdef")


def aws_pair() -> tuple[str, str]:
    return "AKIA" + _rand(16, UPPER), _rand(40, ALNUM + "/+")


def bedrock_long() -> str:
    return "ABSK" + base64.b64encode(
        f"BedrockAPIKey-{_rand(4)}-at-{_rand(12, string.digits)}:{_rand(40)}".encode()).decode()


def bedrock_short() -> str:
    url = ("bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256"
           f"&X-Amz-Credential=ASIA{_rand(16, UPPER)}%2F20261206%2Fus-east-1%2Fbedrock"
           f"&X-Amz-Signature={_hex(64)}&Version=1")
    return "bedrock-api-key-" + base64.b64encode(url.encode()).decode()


def slack_webhook() -> str:
    return (f"https://hooks.slack.com/services/T{_rand(9, UPPER)}/B{_rand(10, UPPER)}/"
            f"{_rand(24)}")


def slack_workflow() -> str:
    return (f"https://hooks.slack.com/workflows/T{_rand(9, UPPER)}/A{_rand(10, UPPER)}/"
            f"{_rand(18, string.digits)}/{_rand(24)}")


GOOGLE_EXAMPLE = "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"
SLACK_EXAMPLE = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


@dataclass
class Planted:
    """What a test wrote where: value -> every (path, key) it must be found at."""

    places: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def add(self, value: str, path: Path, key: str) -> str:
        self.places.setdefault(value, set()).add((str(path), key))
        return value

    def assert_found(self, inventory: Inventory, before: Inventory | None = None) -> None:
        for value, places in self.places.items():
            cred = inventory.find(fingerprint(value))
            assert cred is not None, f"not found: {sorted(places)}"
            found = {(loc.path, loc.key) for loc in cred.locations}
            assert places <= found, f"{cred.kind}: expected {places}, found at {found}"
        if before is not None:
            known = {c.fingerprint for c in before.credentials}
            new = {c.fingerprint: c for c in inventory.credentials if c.fingerprint not in known}
            planted = {fingerprint(v) for v in self.places}
            extra = [(c.kind, [str(loc) for loc in c.locations])
                     for fp, c in new.items() if fp not in planted]
            assert not extra, f"reported but never planted (a false positive): {extra}"


def write(hostile: HostileHome, path: Path, text: str, mode: int = 0o600) -> Path:
    """A file of the agent's: the directories made for it and the file handed to the agent."""
    top = path.parent
    while not top.parent.exists():
        top = top.parent
    created = None if top.exists() else top
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    os.chmod(path, mode)
    hostile.give_to_agent(created or path)
    return path


def run(hostile: HostileHome) -> Inventory:
    return discover(user_home=hostile.home, state_dirs=None, tmp_dirs=[hostile.tmp],
                    system_service_dirs=())


def values(inventory: Inventory) -> set[str]:
    return {c.secret.reveal() for c in inventory.credentials if c.secret is not None}


# --------------------------------------------------------------------------------------------
# One gap at a time
# --------------------------------------------------------------------------------------------


def test_compose_environment_lists_maps_an_inline_aws_pair_and_the_env_beside(
    hostile: HostileHome,
) -> None:
    before = run(hostile)
    planted = Planted()
    project = hostile.home / "openclaw"
    compose = project / "docker-compose.yml"
    rk = "rk_live_" + _rand(32)
    key_id, secret = aws_pair()
    gitlab = "glpat-" + _rand(20)
    gateway = _hex(48)
    twilio = _hex(32)
    write(hostile, compose, f"""\
        services:
          openclaw-gateway:
            image: ghcr.io/openclaw/openclaw:2026.2.26
            environment:
              - STRIPE_API_KEY={rk}
              - OPENCLAW_GATEWAY_TOKEN=${{OPENCLAW_GATEWAY_TOKEN}}
              - OPENAI_API_KEY=changeme
              - HOME=/home/node
            env_file:
              - path: ./twilio.env
                required: false
          backup:
            environment:
              AWS_ACCESS_KEY_ID: {key_id}
              AWS_SECRET_ACCESS_KEY: "{secret}"
              GITLAB_TOKEN: {gitlab}
          docs-example:
            environment:
              AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE
              AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
              GOOGLE_API_KEY: {GOOGLE_EXAMPLE}
        """)
    write(hostile, project / ".env",
          f"OPENCLAW_GATEWAY_TOKEN={gateway}\nGITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx\n")
    write(hostile, project / "twilio.env",
          f"TWILIO_ACCOUNT_SID=AC{_hex(32)}\nTWILIO_AUTH_TOKEN={twilio}\n")
    planted.add(rk, compose, "services.openclaw-gateway.environment.STRIPE_API_KEY")
    planted.add(secret, compose, "services.backup.environment.AWS_SECRET_ACCESS_KEY")
    planted.add(gitlab, compose, "services.backup.environment.GITLAB_TOKEN")
    planted.add(gateway, project / ".env", "OPENCLAW_GATEWAY_TOKEN")
    planted.add(twilio, project / "twilio.env", "TWILIO_AUTH_TOKEN")

    inventory = run(hostile)

    planted.assert_found(inventory, before)
    aws = inventory.find(fingerprint(secret))
    assert aws is not None and aws.key_id == key_id  # the pair, told apart from the example
    assert inventory.find(fingerprint(rk)).kind == "stripe:restricted_key"  # type: ignore[union-attr]
    assert inventory.find(fingerprint(gateway)).kind == "openclaw:gateway_token"  # type: ignore[union-attr]


def test_a_compose_file_that_is_a_link_or_not_yaml_is_noted_not_followed(
    hostile: HostileHome,
) -> None:
    outside = hostile.outside / "root-compose.yml"
    rk = "rk_live_" + _rand(32)
    outside.write_text(f"services:\n  x:\n    environment:\n      - STRIPE_API_KEY={rk}\n")
    os.chmod(outside, 0o644)  # readable by the agent: only the link rule keeps it out
    project = hostile.home / "bot"
    write(hostile, project / "compose.yaml", "services: [unclosed\n  - {a: ")
    link = project / "docker-compose.yml"
    link.symlink_to(outside)
    os.lchown(link, hostile.agent.uid, hostile.agent.gid)
    hostile.seal_outside()

    inventory = run(hostile)

    assert rk not in values(inventory)
    assert any(str(link) in n and "symbolic link" in n for n in inventory.notes)
    assert any(f"{project / 'compose.yaml'}:" in n and "not valid YAML" in n
               for n in inventory.notes)
    hostile.assert_untouched()


def test_a_webhook_url_inside_a_cron_jobs_message(hostile: HostileHome) -> None:
    before = run(hostile)
    planted = Planted()
    jobs = hostile.state / "cron" / "jobs.json"
    webhook, gitlab = slack_webhook(), "glpat-" + _rand(20)
    document = {"version": 1, "jobs": [
        {"jobId": "daily", "schedule": {"kind": "cron", "expr": "0 7 * * *"},
         "payload": {"kind": "agentTurn",
                     "message": f"Summarise the inbox and POST it to {webhook} as JSON."}},
        {"jobId": "mirror", "schedule": {"kind": "every", "everyMs": 3600000},
         "payload": {"kind": "agentTurn",
                     "message": f"git clone https://oauth2:{gitlab}@gitlab.com/a/b.git"}},
        {"jobId": "doc", "schedule": {"kind": "at", "at": "2026-12-24T08:00:00Z"},
         "payload": {"kind": "systemEvent", "text": f"the docs' example: {SLACK_EXAMPLE}"}},
    ]}
    write(hostile, jobs, json.dumps(document, indent=2))
    planted.add(webhook, jobs, "jobs[0].payload.message")
    planted.add(gitlab, jobs, "jobs[1].payload.message")

    inventory = run(hostile)

    planted.assert_found(inventory, before)
    assert inventory.find(fingerprint(webhook)).kind == "slack:webhook_url"  # type: ignore[union-attr]


def test_the_script_an_exec_secretref_runs_is_read_inside_the_tree_only(
    hostile: HostileHome,
) -> None:
    before = run(hostile)
    planted = Planted()
    profile = hostile.home / ".openclaw-vault"
    script = profile / "bin" / "resolve.sh"
    helper = profile / "bin" / "helper"
    openai = "sk-proj-" + _rand(64)
    notion = "ntn_" + _rand(11, string.digits) + _rand(35)
    anthropic = "sk-ant-admin01-" + _rand(80)
    write(hostile, script, f"""\
        #!/bin/sh
        # resolves the ids OpenClaw asks for
        export NOTION_TOKEN={notion}
        printf '{{"protocolVersion":1,"values":{{"openai":"%s"}}}}' "{openai}"
        """, mode=0o700)
    write(hostile, helper, f"#!/usr/bin/env python3\nprint('{anthropic}')\n", mode=0o700)
    # A link in place of a script: to root's own script, which holds root's key.
    root_script = hostile.outside / "root-resolver.sh"
    root_key = "sk-proj-" + _rand(64)
    root_script.write_text(f"#!/bin/sh\necho {root_key}\n")
    os.chmod(root_script, 0o755)
    linked = profile / "bin" / "linked.sh"
    linked.symlink_to(root_script)
    os.lchown(linked, hostile.agent.uid, hostile.agent.gid)
    config = write(hostile, profile / "openclaw.json", json.dumps({
        "secrets": {"providers": {
            "vault": {"source": "exec", "command": "/bin/sh", "args": [str(script)]},
            "helper": {"source": "exec", "command": str(helper), "jsonOnly": False},
            "linked": {"source": "exec", "command": str(linked)},
            "op": {"source": "exec", "command": "/usr/local/bin/op", "args": ["read", "op://x"]},
        }},
        "models": {"providers": {"openai": {
            "apiKey": {"source": "exec", "provider": "vault", "id": "openai"}}}},
    }))
    planted.add(openai, script, "line 4")
    planted.add(notion, script, "line 3")
    planted.add(anthropic, helper, "line 2")
    hostile.seal_outside()

    inventory = run(hostile)

    planted.assert_found(inventory, before)
    assert inventory.find(fingerprint(notion)).kind == "notion:integration_token"  # type: ignore[union-attr]
    assert root_key not in values(inventory)
    assert any(str(linked) in n and "symbolic link" in n for n in inventory.notes)
    assert any(str(config) in n and "'op' runs /usr/local/bin/op, outside the agent's tree"
               in n for n in inventory.notes)
    # /bin/sh is only the interpreter of a script that was read: no note sends a person there.
    assert not any("runs /bin/sh" in n for n in inventory.notes)
    hostile.assert_untouched()


def test_clawback_discover_reads_the_temp_dirs_logs_of_an_agent_owned_tmp(
    hostile: HostileHome, capsys: pytest.CaptureFixture[str]
) -> None:
    """``clawback discover`` as ``contain`` does: the configured temp dirs' rolling logs (both
    OpenClaw layouts), read as root from files the agent owns."""
    planted = Planted()
    shared_log = hostile.tmp / "openclaw" / "openclaw-2026-12-07.log"
    uid_log = hostile.tmp / f"openclaw-{hostile.agent.uid}" / "openclaw-2026-12-07.log"
    github, ya29 = "ghp_" + _rand(36), "ya29.a0" + _rand(120, ALNUM + "-_")
    write(hostile, shared_log, json.dumps({"msg": f"exec: git push https://{github}@github.com/a/b"})
          + "\n")
    write(hostile, uid_log, json.dumps({"msg": "tool gcloud", "out": ya29}) + "\n")
    planted.add(github, shared_log, "line 1")
    planted.add(ya29, uid_log, "line 1")
    config = hostile.box / "clawback.toml"
    config.write_text(f'[agent]\nuser_home = "{hostile.home}"\ntmp_dirs = ["{hostile.tmp}"]\n'
                      f"uid = {hostile.agent.uid}\n")

    assert cli.discover(json=True, config=str(config)) == 0

    out = capsys.readouterr().out
    listed = json.loads(out)
    by_fp = {c["fingerprint"]: c for c in listed["credentials"]}
    for value, places in planted.places.items():
        entry = by_fp[fingerprint(value)]
        assert {f"{path}:{key}" for path, key in places} <= set(entry["locations"]), entry
        assert value not in out
    assert by_fp[fingerprint(ya29)]["provider"] == "google_oauth"


# --------------------------------------------------------------------------------------------
# All of it: the hard multi-profile home
# --------------------------------------------------------------------------------------------


def test_the_hard_multi_profile_home(hostile: HostileHome) -> None:
    """The home issue 17 was measured on, rebuilt: 32 secrets of every kind above across three
    profiles, two compose projects, cron jobs, exec scripts and the temp dirs, beside
    documentation examples and placeholders. All found, at their places, and nothing else."""
    home, tmp = hostile.home, hostile.tmp
    before = discover_agent({"user_home": str(home), "tmp_dirs": [str(tmp)]})
    p = Planted()
    default, work = hostile.state, home / ".openclaw-work"
    staging = home / ".openclaw-staging"

    # ~/.openclaw: Bedrock keys in its .env, cron jobs with a webhook and keys in messages.
    bedrock, short = bedrock_long(), bedrock_short()
    with (default / ".env").open("a") as env:
        env.write(f"AWS_BEARER_TOKEN_BEDROCK={bedrock}\nBEDROCK_SESSION_KEY={short}\n"
                  "AZURE_OPENAI_API_KEY=<your-api-key>\nDEEPSEEK_API_KEY=your-deepseek-key\n")
    p.add(bedrock, default / ".env", "AWS_BEARER_TOKEN_BEDROCK")
    p.add(short, default / ".env", "BEDROCK_SESSION_KEY")
    webhook, google_in_job, gitlab_in_job = slack_webhook(), "AIza" + _rand(35), \
        "glpat-" + _rand(20)
    jobs = write(hostile, default / "cron" / "jobs.json", json.dumps({"version": 1, "jobs": [
        {"jobId": "a", "payload": {"kind": "agentTurn", "message": f"post to {webhook} daily"}},
        {"jobId": "b", "payload": {"kind": "agentTurn",
                                   "message": f"query maps with key={google_in_job} then "
                                              f"push with {gitlab_in_job}"}},
        {"jobId": "c", "payload": {"kind": "systemEvent",
                                   "text": f"example: {SLACK_EXAMPLE} and {GOOGLE_EXAMPLE}"}},
    ]}))
    p.add(webhook, jobs, "jobs[0].payload.message")
    p.add(google_in_job, jobs, "jobs[1].payload.message")
    p.add(gitlab_in_job, jobs, "jobs[1].payload.message")

    # ~/.openclaw-work: Cloudflare's three formats, a SendGrid key, Notion and DeepSeek.
    cfut, cfat, cfk = "cfut_" + _rand(48), "cfat_" + _rand(48), "cfk_" + _rand(48)
    sendgrid = f"SG.{_rand(22)}.{_rand(43)}"
    notion, deepseek = "ntn_" + _rand(11, string.digits) + _rand(35), "sk-" + _hex(32)
    azure_work = _hex(32)
    write(hostile, work / ".env", f"""\
        AZURE_OPENAI_KEY={azure_work}
        CLOUDFLARE_API_TOKEN={cfut}
        CF_ACCOUNT_TOKEN={cfat}
        CLOUDFLARE_API_KEY={cfk}
        SENDGRID_API_KEY={sendgrid}
        NOTION_TOKEN={notion}
        DEEPSEEK_API_KEY={deepseek}
        SENDGRID_API_KEY_DOCS=SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
        CLOUDFLARE_API_TOKEN_EXAMPLE=cfut_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
        NOTION_API_KEY=ntn_your_token_here
        """)
    for name, value in (("CLOUDFLARE_API_TOKEN", cfut), ("CF_ACCOUNT_TOKEN", cfat),
                        ("CLOUDFLARE_API_KEY", cfk), ("SENDGRID_API_KEY", sendgrid),
                        ("NOTION_TOKEN", notion), ("DEEPSEEK_API_KEY", deepseek),
                        ("AZURE_OPENAI_KEY", azure_work)):
        p.add(value, work / ".env", name)
    notion_in_job = "ntn_" + _rand(11, string.digits) + _rand(35)
    work_jobs = write(hostile, work / "cron" / "jobs.json", json.dumps({"jobs": [
        {"jobId": "n", "payload": {"kind": "agentTurn",
                                   "message": f"sync the wiki (token {notion_in_job})"}}]}))
    p.add(notion_in_job, work_jobs, "jobs[0].payload.message")

    # ~/.openclaw-staging: a new profile: Azure OpenAI in its config and .env, a Google OAuth
    # token, an exec SecretRef script with keys in it, a program outside the tree, a workflow
    # webhook in its cron jobs.
    azure_config, azure_env = _hex(32), _rand(84)
    ya29 = "ya29.a0" + _rand(150, ALNUM + "-_")
    script = staging / "bin" / "secrets.sh"
    script_openai, script_anthropic = "sk-proj-" + _rand(64), "sk-ant-api03-" + _rand(93)
    write(hostile, staging / "openclaw.json", json.dumps({
        "models": {"providers": {"azure-openai": {"apiKey": azure_config},
                                 "openai": {"apiKey": {"source": "exec", "provider": "local",
                                                       "id": "openai"}}}},
        "secrets": {"providers": {
            "local": {"source": "exec", "command": str(script)},
            "op": {"source": "exec", "command": "/opt/homebrew/bin/op", "args": ["read"]}}},
    }))
    p.add(azure_config, staging / "openclaw.json", "models.providers.azure-openai.apiKey")
    write(hostile, staging / ".env",
          f"AZURE_OPENAI_API_KEY={azure_env}\nGOOGLE_ACCESS_TOKEN={ya29}\n")
    p.add(azure_env, staging / ".env", "AZURE_OPENAI_API_KEY")
    p.add(ya29, staging / ".env", "GOOGLE_ACCESS_TOKEN")
    write(hostile, script, f"""\
        #!/bin/sh
        ANTHROPIC_API_KEY="{script_anthropic}"
        echo '{{"protocolVersion":1,"values":{{"openai":"{script_openai}"}}}}'
        """, mode=0o700)
    p.add(script_anthropic, script, "line 2")
    p.add(script_openai, script, "line 3")
    workflow = slack_workflow()
    staging_jobs = write(hostile, staging / "cron" / "jobs.json", json.dumps({"jobs": [
        {"jobId": "w", "delivery": {"mode": "webhook"},
         "payload": {"kind": "agentTurn", "message": f"trigger {workflow} when done"}}]}))
    p.add(workflow, staging_jobs, "jobs[0].payload.message")

    # ~/openclaw: the Docker install; its compose environment as a list and as a map, an AWS
    # pair inline, the .env beside it.
    project = home / "openclaw"
    compose = project / "docker-compose.yml"
    rk, (key_id, aws_secret) = "rk_live_" + _rand(32), aws_pair()
    openrouter, gitlab = "sk-or-v1-" + _hex(64), "glpat-" + _rand(20)
    compose_bedrock = bedrock_long()
    write(hostile, compose, f"""\
        services:
          openclaw-gateway:
            image: openclaw:local
            environment:
              - STRIPE_API_KEY={rk}
              - OPENCLAW_GATEWAY_TOKEN=${{OPENCLAW_GATEWAY_TOKEN}}
              - OPENAI_API_KEY=changeme
              - AWS_BEARER_TOKEN_BEDROCK={compose_bedrock}
          openclaw-cli:
            environment:
              AWS_ACCESS_KEY_ID: {key_id}
              AWS_SECRET_ACCESS_KEY: {aws_secret}
              OPENROUTER_API_KEY: {openrouter}
              GITLAB_TOKEN: {gitlab}
          example:
            environment:
              AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE
              AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
              GEMINI_API_KEY: {GOOGLE_EXAMPLE}
        """)
    p.add(rk, compose, "services.openclaw-gateway.environment.STRIPE_API_KEY")
    p.add(compose_bedrock, compose,
          "services.openclaw-gateway.environment.AWS_BEARER_TOKEN_BEDROCK")
    p.add(aws_secret, compose, "services.openclaw-cli.environment.AWS_SECRET_ACCESS_KEY")
    p.add(openrouter, compose, "services.openclaw-cli.environment.OPENROUTER_API_KEY")
    p.add(gitlab, compose, "services.openclaw-cli.environment.GITLAB_TOKEN")
    gateway, xai = _hex(48), "xai-" + _rand(80)
    write(hostile, project / ".env", f"OPENCLAW_GATEWAY_TOKEN={gateway}\nXAI_API_KEY={xai}\n")
    p.add(gateway, project / ".env", "OPENCLAW_GATEWAY_TOKEN")
    p.add(xai, project / ".env", "XAI_API_KEY")

    # ~/apps/matrix-bot: a compose project two levels down; build args and its own .env.
    bot = home / "apps" / "matrix-bot"
    matrix = f"syt_{_rand(8)}_{_rand(20)}_{_rand(6)}"
    gemini = "AIza" + _rand(35)
    twilio = _hex(32)
    bot_compose = write(hostile, bot / "compose.yaml", f"""\
        services:
          bot:
            build:
              context: .
              args:
                - MATRIX_ACCESS_TOKEN={matrix}
            environment:
              GEMINI_API_KEY: "{gemini}"
        """)
    p.add(matrix, bot_compose, "services.bot.build.args.MATRIX_ACCESS_TOKEN")
    p.add(gemini, bot_compose, "services.bot.environment.GEMINI_API_KEY")
    bot_deepseek = "sk-" + _hex(32)
    write(hostile, bot / ".env", f"TWILIO_AUTH_TOKEN={twilio}\n"
          f"TWILIO_AUTH_TOKEN_DOCS=your_auth_token\nDEEPSEEK_API_KEY={bot_deepseek}\n")
    p.add(twilio, bot / ".env", "TWILIO_AUTH_TOKEN")
    p.add(bot_deepseek, bot / ".env", "DEEPSEEK_API_KEY")

    # The temp dirs: both log layouts.
    log_github, log_sendgrid = "ghp_" + _rand(36), f"SG.{_rand(22)}.{_rand(43)}"
    shared_log = write(hostile, tmp / "openclaw" / "openclaw-2026-12-07.log",
                       json.dumps({"msg": f"git push https://{log_github}@github.com/a/b"}) + "\n")
    uid_log = write(hostile, tmp / f"openclaw-{hostile.agent.uid}" / "openclaw-2026-12-07.log",
                    "boot\n" + json.dumps({"msg": f"curl -H 'Authorization: {log_sendgrid}'"})
                    + "\n")
    p.add(log_github, shared_log, "line 1")
    p.add(log_sendgrid, uid_log, "line 2")

    assert len(p.places) == 32  # as many as issue 17 planted
    hostile.seal_outside()

    inventory = discover_agent({"user_home": str(home), "tmp_dirs": [str(tmp)]})

    p.assert_found(inventory, before)
    kinds = {v: inventory.find(fingerprint(v)).kind for v in p.places}  # type: ignore[union-attr]
    assert kinds[bedrock] == "aws:bedrock_api_key"
    assert kinds[short] == "aws:bedrock_short_term_key"
    assert kinds[azure_config] == kinds[azure_env] == "azure_openai:api_key"
    assert kinds[deepseek] == "deepseek:api_key"
    assert kinds[ya29] == "google_oauth:access_token"
    assert (kinds[cfut], kinds[cfat], kinds[cfk]) == (
        "cloudflare:api_token", "cloudflare:account_token", "cloudflare:global_api_key")
    assert kinds[webhook] == kinds[workflow] == "slack:webhook_url"
    aws = inventory.find(fingerprint(aws_secret))
    assert aws is not None and aws.key_id == key_id
    assert any("'op' runs /opt/homebrew/bin/op" in n for n in inventory.notes)
    assert not any(c.key_id == "AKIAIOSFODNN7EXAMPLE" for c in inventory.credentials)
    # Nothing the sample home held before was lost on the way.
    assert {c.fingerprint for c in before.credentials} <= {
        c.fingerprint for c in inventory.credentials}
    # No value in what `clawback discover --json` would print.
    dumped = json.dumps(inventory.as_dict())
    assert not any(value in dumped for value in p.places)
    hostile.assert_untouched()
