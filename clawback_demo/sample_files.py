"""How the sample host's files are written: private (0600 files, 0700 folders) like everything
clawback writes, without fsync (a sandbox rebuilt each run need not survive a power cut).

Its own module so that the sample home (``home``) and the attack it has been through
(``attack_story``) both write with it without importing each other.
"""

from __future__ import annotations

from pathlib import Path

from responders.kit.private_files import make_private_dir, write_private


def write_sample_file(path: Path, content: str | bytes) -> Path:
    make_private_dir(path.parent)
    return write_private(path, content, fsync=False)
