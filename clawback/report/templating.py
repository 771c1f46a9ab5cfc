"""The jinja2 environment both report templates share, with the filters they both use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clawback.report.formatting import clock_text, duration_text, size_text, utc_text
from clawback.shown import printable

if TYPE_CHECKING:
    from jinja2 import Environment


def visible(value: Any) -> Any:
    """What every ``{{ … }}`` of a report prints, after its filters: no character that drives
    a terminal (``cat report.md``) or reorders what is read (a bidi override) reaches the
    file; each is written as its escape (``clawback.shown.printable``). Line breaks stay (a
    fenced checkpoint has them; Markdown cells have none left by then), and so do backslashes,
    which the Markdown filters have already escaped for Markdown. Markup (a macro's output)
    is made of values that went through here already."""
    from markupsafe import Markup

    if not isinstance(value, str) or isinstance(value, Markup) or value.isprintable():
        return value
    return "\n".join(
        line if line.isprintable() else "".join(c if c == "\\" else printable(c) for c in line)
        for line in value.split("\n"))


def environment(*, html: bool) -> Environment:
    """Templates from the package; HTML ones autoescape everything they insert."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("clawback.report", "templates"),
        # Every value in a report comes from files an attacker may have touched: the HTML
        # escapes all of them; Markdown escapes cell by cell with its own filters.
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        finalize=visible,
    )
    from clawback.report.standing import LIVE_SHOWN, RANK_WORDS, provider_counts

    env.globals.update(LIVE_SHOWN=LIVE_SHOWN, RANK_WORDS=RANK_WORDS,
                       provider_counts=provider_counts)
    env.filters.update(
        utc=utc_text,
        clock=clock_text,
        duration=duration_text,
        size=size_text,
    )
    return env
