"""Moved to ``responders.kit.redaction`` (issue 16); this name stays only until the demo
(issue 16b) imports the kit directly."""

from responders.kit.redaction import Redactor

__all__ = ["Redactor"]
