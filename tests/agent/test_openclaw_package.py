"""The OpenClaw package's own names load their module on first use, and nothing else does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_importing_discovery_from_the_package_loads_discovery_alone() -> None:
    """The fleet agent and the panic path import discovery without the responder (pydantic):
    ``from responders.openclaw import discovery`` once loaded the responder first."""
    probe = (
        "import json, sys\n"
        "from responders.openclaw import discovery\n"
        "prefixes = ('responders.openclaw.', 'pydantic')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(prefixes))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    loaded = json.loads(done.stdout)
    assert "responders.openclaw.discovery" in loaded
    assert "responders.openclaw.responder" not in loaded
    assert not any(name.startswith("pydantic") for name in loaded), loaded


def test_the_package_names_come_from_their_role_modules() -> None:
    import responders.openclaw as package
    from responders.backups import BackupStore
    from responders.openclaw.lockdown import LockdownAction
    from responders.openclaw.responder import OpenClawResponder
    from responders.openclaw.switching import write_replacement

    assert package.OpenClawResponder is OpenClawResponder
    assert package.LockdownAction is LockdownAction
    assert package.write_replacement is write_replacement
    assert package.BackupStore is BackupStore
    assert OpenClawResponder.actions == {"openclaw.lockdown": LockdownAction}
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        package.nothing_here  # noqa: B018
