"""The agent clawback uploads to each fleet host: one zip runnable with ``python3 agent.pyz``.

``agent_zip()`` packs the agent with the discovery modules and the host probes
(``responders.hostprobes``) it shares with the local actions, read from this installed
clawback, so a fleet host runs exactly the discovery ``clawback discover`` runs here and reads
processes, lock files and supervisord as ``responders.host`` does. Every
module packed must import nothing outside the standard library at module level (tests/fleet
runs the zip with ``python3 -I -S``: no site-packages at all).
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from pathlib import Path

# Package-relative paths of what the far side imports (besides the standard library).
PACKED_MODULES: tuple[str, ...] = (
    "responders/openclaw/__init__.py",
    # OpenClaw discovery: its entry points and one module per role.
    "responders/openclaw/discovery.py",
    "responders/openclaw/agent_paths.py",
    "responders/openclaw/config_load.py",
    "responders/openclaw/hinters.py",
    "responders/openclaw/inventory.py",
    "responders/openclaw/kinds.py",
    "responders/openclaw/layout.py",
    "responders/openclaw/scan_base.py",
    "responders/openclaw/scan_config.py",
    "responders/openclaw/scan_driver.py",
    "responders/openclaw/scan_env.py",
    "responders/openclaw/scan_resolve.py",
    "responders/openclaw/scan_services.py",
    "responders/openclaw/scan_text.py",
    "responders/fleet_agent/__init__.py",
    "responders/fleet_agent/agent.py",
    "responders/fleet_agent/formats.py",
    "responders/__init__.py",
    "responders/agent_files.py",
    "responders/interface.py",
    "responders/kit/__init__.py",
    "responders/kit/secret_patterns.py",
    # The host probes the local and remote actions share: the whole package.
    "responders/hostprobes/__init__.py",
    "responders/hostprobes/archive.py",
    "responders/hostprobes/collection.py",
    "responders/hostprobes/gateway.py",
    "responders/hostprobes/supervisor.py",
    "responders/hostprobes/supervisord_config.py",
)

_MAIN = (
    "import sys\n"
    "from responders.fleet_agent.agent import main\n"
    "sys.exit(main(sys.argv))\n"
)
# Fixed member timestamps: the same clawback always builds the same zip (same sha256), which
# the timeline records for each host.
_EPOCH = (2020, 1, 1, 0, 0, 0)


@functools.cache
def agent_zip() -> bytes:
    """The zipapp's bytes (built once per process)."""
    root = Path(__file__).resolve().parents[2]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("__main__.py", _EPOCH), _MAIN)
        for relative in PACKED_MODULES:
            source = root / relative
            if not source.is_file():
                # responders/ and clawback/ are installed side by side (pyproject packages).
                raise FileNotFoundError(f"clawback is incompletely installed: {source} is missing")
            info = zipfile.ZipInfo(relative, _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes())
    return buffer.getvalue()


def agent_sha256() -> str:
    return hashlib.sha256(agent_zip()).hexdigest()
