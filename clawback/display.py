"""How much clawback prints, and in colour or not: ``-q``, ``-v``, ``--color`` and NO_COLOR.

Every human-readable output is printed through a rich Console made by ``Display.console``:
wrapped at word boundaries to the terminal (80 columns when there is none), so a path or URL
is never cut in two by the terminal, with no emoji codes or highlighting applied to text that
came from outside.
"""

from __future__ import annotations

from typing import IO, Any

COLOR_CHOICES = ("auto", "always", "never")


class Display:
    """The output settings of one command run."""

    __slots__ = ("color", "quiet", "verbose")

    def __init__(self, *, quiet: bool = False, verbose: bool = False,
                 color: str = "auto") -> None:
        if color not in COLOR_CHOICES:
            raise ValueError(f"color must be one of {COLOR_CHOICES}, not {color!r}")
        self.quiet = quiet
        self.verbose = verbose
        self.color = color

    def __repr__(self) -> str:
        return f"Display(quiet={self.quiet}, verbose={self.verbose}, color={self.color!r})"

    def console(self, stream: IO[str] | None = None) -> Any:
        """A rich Console on ``stream`` (default stdout) with these settings."""
        from rich.console import Console

        options: dict[str, Any] = {}
        if self.color == "never":
            options["color_system"] = None
            options["no_color"] = True
        elif self.color == "always":
            # A flag on the command line wins over NO_COLOR (no-color.org).
            options["force_terminal"] = True
            options["no_color"] = False
        return Console(file=stream, highlight=False, soft_wrap=False, emoji=False, **options)

    def animates(self, stream: IO[str]) -> bool:
        """Whether a spinner may redraw itself on ``stream``: a real terminal, not quiet."""
        try:
            return not self.quiet and stream.isatty()
        except (AttributeError, ValueError):
            return False
