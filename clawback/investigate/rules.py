"""The rules of ``clawback investigate``: YAML data, shipped and user-extendable, not code.

The shipped file is ``clawback/investigate/rules.yaml`` (package data). A user file of the same
shape, given with ``--rules`` or kept at ``$XDG_CONFIG_HOME/clawback/investigate.yaml``, extends
it: a rule with a shipped id replaces it, a new id is added, ``disable: [id, ...]`` switches
shipped rules off, and list values (``paste_sites``, ``known_domains``, ...) are added to.

Every problem (bad YAML, an unknown key, a pattern that does not compile) is bad input naming
the file and line, before any evidence is read. User files are read only when owned by the user
or root and writable by nobody else: they decide what is flagged in an incident.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clawback.errors import BadInput
from clawback.investigate.parser_names import known_parsers

Severity = Literal["info", "low", "medium", "high"]
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high")
RULES_FILE_NAME = "investigate.yaml"
_LINE_KEY = "__line__"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRule(_Strict):
    parser: str
    paths: list[str] = Field(min_length=1)


class PatternRule(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    pattern: str
    severity: Severity = "medium"
    keywords: list[str] = Field(default_factory=list)
    only_non_ascii: bool = False
    why: str = ""


class LogEventRule(PatternRule):
    kind: str


class ExposureSettings(_Strict):
    min_secret_length: int = Field(default=8, ge=4, le=512)
    extra_sources: list[str] = Field(default_factory=list)


class RulesFile(_Strict):
    version: Literal[1] = 1
    sources: list[SourceRule] = Field(default_factory=list)
    exposure: ExposureSettings | None = None
    injection: list[PatternRule] = Field(default_factory=list)
    exfiltration: list[PatternRule] = Field(default_factory=list)
    persistence: list[PatternRule] = Field(default_factory=list)
    paste_sites: list[str] = Field(default_factory=list)
    known_domains: list[str] = Field(default_factory=list)
    log_events: list[LogEventRule] = Field(default_factory=list)
    expected_listen_ports: list[int] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class CompiledPattern:
    """A rule ready to match: its regex and, when given, its keyword pre-filter."""

    id: str
    severity: str
    regex: re.Pattern[str]
    keywords: tuple[str, ...]
    why: str
    kind: str = ""
    origin: str = ""  # "file:line", for a person asking why something was flagged
    only_non_ascii: bool = False

    def search(self, text: str, lowered: str | None = None) -> re.Match[str] | None:
        if self.keywords:
            folded = lowered if lowered is not None else text.lower()
            if not any(k in folded for k in self.keywords):
                return None
        return self.regex.search(text)


class RuleSet:
    """Rules searched together: one Aho-Corasick pass over the lower-cased text finds which
    rules' keywords occur, and only those rules' patterns run (rules without keywords always
    run). A 1 GB transcript set holds millions of texts; testing each keyword of each rule
    with ``in`` cost more than the patterns themselves."""

    def __init__(self, rules: Sequence[CompiledPattern]) -> None:
        self.rules = tuple(rules)
        self._always = tuple(r for r in self.rules if not r.keywords)
        self._automaton: Any = None
        keyed = [r for r in self.rules if r.keywords]
        if keyed:
            import ahocorasick

            automaton = ahocorasick.Automaton()
            owners: dict[str, list[int]] = {}
            for index, rule in enumerate(self.rules):
                for keyword in rule.keywords:
                    owners.setdefault(keyword, []).append(index)
            for keyword, indexes in owners.items():
                automaton.add_word(keyword, tuple(indexes))
            automaton.make_automaton()
            self._automaton = automaton

    def __iter__(self) -> Any:
        return iter(self.rules)

    def matching(self, text: str) -> list[tuple[CompiledPattern, re.Match[str]]]:
        """Every rule whose pattern matches ``text``, in the rules' order."""
        candidates: set[int] = set()
        if self._automaton is not None:
            for _end, indexes in self._automaton.iter(text.lower()):
                candidates.update(indexes)
                if len(candidates) == len(self.rules):
                    break
        hits = []
        ascii_only: bool | None = None
        for index, rule in enumerate(self.rules):
            if rule.keywords and index not in candidates:
                continue
            if rule.only_non_ascii:
                ascii_only = text.isascii() if ascii_only is None else ascii_only
                if ascii_only:
                    continue
            match = rule.regex.search(text)
            if match is not None:
                hits.append((rule, match))
        return hits


@dataclass(frozen=True)
class Rules:
    sources: tuple[tuple[str, tuple[str, ...]], ...]
    injection: tuple[CompiledPattern, ...]
    exfiltration: tuple[CompiledPattern, ...]
    persistence: tuple[CompiledPattern, ...]
    log_events: tuple[CompiledPattern, ...]
    paste_sites: frozenset[str]
    known_domains: frozenset[str]
    expected_listen_ports: frozenset[int]
    min_secret_length: int
    exposure_extra_sources: tuple[str, ...]
    files: tuple[str, ...] = field(default=())  # where they came from, in order

    def parser_for(self, source_path: str) -> str | None:
        """The parser for an evidence member collected from ``source_path`` (or its stored
        name, for generated items and command output)."""
        for parser, globs in self.sources:
            if any(fnmatch.fnmatchcase(source_path, g) for g in globs):
                return parser
        return None

    def counts_as_read(self, source_path: str) -> bool:
        return any(fnmatch.fnmatchcase(source_path, g) for g in self.exposure_extra_sources)

    def is_paste_site(self, host: str) -> bool:
        return _suffix_in(host, self.paste_sites)

    def is_known(self, host: str) -> bool:
        return _suffix_in(host, self.known_domains)

    def describe(self) -> dict[str, Any]:
        """What investigation.json records about the rules it ran with."""
        return {
            "files": list(self.files),
            "injection": [r.id for r in self.injection],
            "exfiltration": [r.id for r in self.exfiltration],
            "persistence": [r.id for r in self.persistence],
            "log_events": [r.id for r in self.log_events],
        }


def _suffix_in(host: str, names: frozenset[str]) -> bool:
    """Whether ``host`` is one of ``names`` or below one (``api.openai.com`` in openai.com)."""
    labels = host.lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in names for i in range(len(labels)))


def default_user_rules() -> Path:
    """``$XDG_CONFIG_HOME/clawback/investigate.yaml``: read by every investigate when present."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "clawback" / RULES_FILE_NAME


def load_rules(extra: Sequence[Path] = (), *, user_default: bool = True) -> Rules:
    """The shipped rules, extended by the user's default file (if it exists) and ``extra``."""
    shipped = resources.files("clawback.investigate").joinpath("rules.yaml")
    layers: list[tuple[str, RulesFile, dict[tuple[Any, ...], int]]] = [
        _parse(shipped.read_text(encoding="utf-8"), "clawback/investigate/rules.yaml")
    ]
    paths = list(extra)
    default = default_user_rules()
    if user_default and default.is_file() and default not in paths:
        paths.insert(0, default)
    for path in paths:
        from clawback.trusted_files import read_trusted_file

        raw = read_trusted_file(Path(path), what="rules file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise BadInput("the rules file is not UTF-8 text", path=path, line=line) from None
        layers.append(_parse(text, str(path)))
    return _merge(layers)


class _LineLoader:
    """A SafeLoader whose mappings carry the line they start on (removed before validation)."""

    @staticmethod
    def load(text: str) -> Any:
        import yaml

        # libyaml's parser when PyYAML has it (~10x faster on the shipped rules, which every
        # investigation reads, contain's included); the same safe constructors either way.
        # Its own subclass, so the constructor below changes no other loader.
        Loader: Any = type("Loader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})

        def construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = loader.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {seen[key]})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line + 1
            mapping = loader.construct_mapping(node, deep=True)
            mapping[_LINE_KEY] = node.start_mark.line + 1
            return mapping

        Loader.add_constructor(
            yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping
        )
        return yaml.load(text, Loader=Loader)  # safe constructors only


def _strip_lines(value: Any, lines: dict[tuple[Any, ...], int], path: tuple[Any, ...] = ()) -> Any:
    """Remove the line markers, remembering the line of each mapping by its position."""
    if isinstance(value, dict):
        line = value.pop(_LINE_KEY, None)
        if line is not None:
            lines[path] = line
        return {k: _strip_lines(v, lines, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_lines(v, lines, (*path, i)) for i, v in enumerate(value)]
    return value


def _line_of(lines: dict[tuple[Any, ...], int], loc: Sequence[Any]) -> int | None:
    for cut in range(len(loc), -1, -1):
        found = lines.get(tuple(loc[:cut]))
        if found is not None:
            return found
    return None


def _parse(text: str, origin: str) -> tuple[str, RulesFile, dict[tuple[Any, ...], int]]:
    import yaml

    try:
        data = _LineLoader.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInput(f"not valid YAML: {problem}", path=origin,
                       line=mark.line + 1 if mark is not None else None) from None
    if not isinstance(data, dict):
        raise BadInput("a rules file is a YAML mapping (version, sources, injection, ...)",
                       path=origin, line=1)
    lines: dict[tuple[Any, ...], int] = {}
    data = _strip_lines(data, lines)
    try:
        parsed = RulesFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"{where}: {first['msg']}", path=origin,
                       line=_line_of(lines, first["loc"])) from None
    for section in ("injection", "exfiltration", "persistence", "log_events"):
        for index, rule in enumerate(getattr(parsed, section)):
            try:
                re.compile(rule.pattern)
            except re.error as exc:
                raise BadInput(f"{section}[{index}] ({rule.id}): the pattern does not compile: "
                               f"{exc}", path=origin,
                               line=_line_of(lines, (section, index))) from None
    parsers = known_parsers()
    for index, source in enumerate(parsed.sources):
        if source.parser not in parsers:
            import difflib

            close = difflib.get_close_matches(source.parser, sorted(parsers), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise BadInput(f"sources[{index}]: unknown parser {source.parser!r}{hint} (known: "
                           f"{', '.join(sorted(parsers))})", path=origin,
                           line=_line_of(lines, ("sources", index)))
    for index, rule in enumerate(parsed.log_events):
        if not re.fullmatch(r"[a-z][a-z0-9_.]*", rule.kind):
            raise BadInput(f"log_events[{index}] ({rule.id}): kind must be a dotted lower-case "
                           "name like gateway.auth_failure", path=origin,
                           line=_line_of(lines, ("log_events", index)))
    return origin, parsed, lines


def _compile(rule: PatternRule, origin: str, line: int | None) -> CompiledPattern:
    return CompiledPattern(
        id=rule.id,
        severity=rule.severity,
        regex=re.compile(rule.pattern),
        keywords=tuple(k.lower() for k in rule.keywords),
        why=rule.why,
        kind=getattr(rule, "kind", ""),
        origin=f"{origin}:{line}" if line else origin,
        only_non_ascii=rule.only_non_ascii,
    )


def _merge(layers: Sequence[tuple[str, RulesFile, dict[tuple[Any, ...], int]]]) -> Rules:
    sections: dict[str, dict[str, CompiledPattern]] = {
        "injection": {}, "exfiltration": {}, "persistence": {}, "log_events": {},
    }
    sources: list[tuple[str, tuple[str, ...]]] = []
    lists: dict[str, set[Any]] = {"paste_sites": set(), "known_domains": set(),
                                  "expected_listen_ports": set()}
    exposure = ExposureSettings()
    extra_sources: list[str] = []
    for origin, parsed, lines in layers:
        for rule_id in parsed.disable:
            for section in sections.values():
                section.pop(rule_id, None)
        for name, section in sections.items():
            for index, rule in enumerate(getattr(parsed, name)):
                section[rule.id] = _compile(rule, origin, _line_of(lines, (name, index)))
        # A user's sources come first: they can route a path to another parser.
        sources[:0] = [(s.parser, tuple(s.paths)) for s in parsed.sources]
        for name, values in lists.items():
            values.update(v.lower() if isinstance(v, str) else v for v in getattr(parsed, name))
        if parsed.exposure is not None:
            exposure = parsed.exposure
            extra_sources += parsed.exposure.extra_sources
    return Rules(
        sources=tuple(sources),
        injection=tuple(sections["injection"].values()),
        exfiltration=tuple(sections["exfiltration"].values()),
        persistence=tuple(sections["persistence"].values()),
        log_events=tuple(sections["log_events"].values()),
        paste_sites=frozenset(lists["paste_sites"]),
        known_domains=frozenset(lists["known_domains"]),
        expected_listen_ports=frozenset(lists["expected_listen_ports"]),
        min_secret_length=exposure.min_secret_length,
        exposure_extra_sources=tuple(dict.fromkeys(extra_sources)),
        files=tuple(origin for origin, _, _ in layers),
    )


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
