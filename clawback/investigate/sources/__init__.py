"""One parser per evidence format. Each reads one member as a stream and yields ``Event``s.

A parser never decides what is suspicious: it says what happened and hands the texts involved
(with their role: inbound, outbound, command, logged) to the scanners. Which parser reads which
member is data (the rules' ``sources``). Every parser is defensive: the evidence was written by
the attacker's agent, so a line that does not parse is counted, never fatal.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO

from clawback.investigate.parser_names import PARSERS
from clawback.investigate.records import Event, MemberRef
from clawback.investigate.rules import Rules


@dataclass
class ParseContext:
    rules: Rules
    local: timezone  # the host's zone, for logs that write local time
    now: datetime  # fallback for a year when a file's mtime is unknown
    gateway_port: int | None = None
    unreadable: dict[str, int] = field(default_factory=dict)  # member -> lines that did not parse
    oversized: dict[str, int] = field(default_factory=dict)

    def bad_line(self, member: MemberRef) -> None:
        self.unreadable[member.member] = self.unreadable.get(member.member, 0) + 1

    def long_line(self, member: MemberRef) -> None:
        self.oversized[member.member] = self.oversized.get(member.member, 0) + 1


Parser = Callable[[MemberRef, IO[bytes], ParseContext], Iterator[Event]]


def parser(name: str) -> Parser:
    module, function = PARSERS[name].split(":")
    loaded = importlib.import_module(f"clawback.investigate.sources.{module}")
    found: Parser = getattr(loaded, function)
    return found
