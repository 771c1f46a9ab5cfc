"""``inv <task>`` in a checkout runs the same tasks as the installed ``clawback`` command."""

from clawback.commands import namespace as ns

__all__ = ["ns"]
