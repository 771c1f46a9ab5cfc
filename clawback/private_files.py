"""Moved to ``responders.kit.private_files`` (issue 16); this name stays only until the host
and fleet code (issue 16b) imports the kit directly."""

from responders.kit.private_files import (
    DIR_MODE,
    FILE_MODE,
    make_private_dir,
    open_private,
    write_private,
)

__all__ = ["DIR_MODE", "FILE_MODE", "make_private_dir", "open_private", "write_private"]
