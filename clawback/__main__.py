"""``python -m clawback`` is the ``clawback`` command."""

from clawback.cli import main

main()
