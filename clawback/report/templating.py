"""The jinja2 environment both report templates share, with the filters they both use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clawback.report.model import clock_text, duration_text, size_text, utc_text

if TYPE_CHECKING:
    from jinja2 import Environment


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
