"""Playbooks: YAML files validated whole, before anything runs.

Every problem is reported as ``file:line:column`` plus what was expected. pydantic does the
validating; the YAML node graph (``yaml.compose``) maps each error location back to the node
that caused it. PyYAML silently keeps the last of two equal mapping keys, so duplicates are
looked for on the node graph before anything is constructed.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clawback.checked_inputs import LoadedPlaybook as LoadedPlaybook
from clawback.checked_inputs import validate_params
from clawback.errors import BadInput
from clawback.trusted_files import read_trusted_file
from clawback.when import WhenError, WhenExpr, compile_when

if TYPE_CHECKING:
    import yaml

STEP_ID_PATTERN = r"^[a-z][a-z0-9_-]*$"
MAX_RETRIES = 10


class Step(BaseModel):
    # strict: YAML already gives typed values, and lax mode would read approve: "no" as False.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Annotated[str, Field(pattern=STEP_ID_PATTERN)]
    uses: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = None
    approve: bool = False
    timeout: Annotated[float, Field(gt=0)] | None = None
    retries: Annotated[int, Field(ge=0, le=MAX_RETRIES)] | None = None
    description: str = ""

    @field_validator("with_", mode="before")
    @classmethod
    def _empty_with_is_no_params(cls, value: object) -> object:
        # A bare `with:` line is YAML null; the operator meant "no parameters".
        return {} if value is None else value


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    steps: Annotated[list[Step], Field(min_length=1)]


# --------------------------------------------------------------------------------------------
# Errors located on the YAML node graph
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class _Problem:
    line: int  # 1-based
    column: int  # 1-based
    message: str


def _raise_problems(path: Path, problems: Sequence[_Problem]) -> None:
    if not problems:
        return
    first, *rest = sorted(problems)
    message = first.message
    if rest:
        also = "\n".join(f"  also {path}:{p.line}:{p.column}: {p.message}" for p in rest)
        message = f"{message}\n{also}"
    raise BadInput(message, path=path, line=first.line, column=first.column)


def _problem_at(node: yaml.Node, message: str) -> _Problem:
    return _Problem(node.start_mark.line + 1, node.start_mark.column + 1, message)


def _describe_node(node: yaml.Node) -> str:
    """What the operator wrote, by kind only: a value is never echoed (it could be a secret)."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    kinds = {
        "tag:yaml.org,2002:str": "a string",
        "tag:yaml.org,2002:int": "an integer",
        "tag:yaml.org,2002:float": "a decimal number",
        "tag:yaml.org,2002:bool": "a boolean",
        "tag:yaml.org,2002:null": "nothing (null)",
    }
    return kinds.get(node.tag, f"a value tagged {node.tag}")


class _NodeMap:
    """Finds the YAML node behind a pydantic error location."""

    def __init__(self, root: yaml.Node, loader: yaml.SafeLoader) -> None:
        self.root = root
        self._loader = loader

    def key_value(self, key: yaml.Node) -> object:
        import yaml

        if not isinstance(key, yaml.ScalarNode):
            return None
        try:
            # `yes:` / `1:` are bool / int keys in YAML 1.1, and pydantic reports them as such.
            return self._loader.construct_object(key)
        except yaml.YAMLError:  # a merge key `<<` or an unknown tag: compare as written
            return key.value

    def walk(
        self, loc: Iterable[str | int], start: yaml.Node | None = None
    ) -> tuple[yaml.Node, yaml.Node | None, bool]:
        """(deepest node reached, its key node if a mapping value, whether loc was used up)."""
        import yaml

        node = start if start is not None else self.root
        key_node: yaml.Node | None = None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                # Last match: after a merge (`<<: *anchor`) the mapping's own keys come last
                # and win.
                for key, value in reversed(node.value):
                    name = self.key_value(key)
                    if name == part and type(name) is type(part):
                        node, key_node = value, key
                        break
                else:
                    return node, key_node, False
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    return node, key_node, False
                node, key_node = node.value[part], None
            else:
                return node, key_node, False
        return node, key_node, True


def _field_name(loc: Sequence[str | int]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "the document"


_HINTS = {
    "id": "a step id like 'stop_agent'",
    "uses": "the action to run, e.g. 'uses: host.snapshot'",
    "name": "the playbook's name, e.g. 'name: contain'",
    "steps": "a list of steps, each with id: and uses:",
}


def _expected(error: Mapping[str, Any], field: str) -> str:
    kind = error["type"]
    if kind == "string_pattern_mismatch" and field == "id":
        return (
            "expected a step id made of lowercase letters, digits, '_' and '-', starting "
            f"with a letter ({STEP_ID_PATTERN})"
        )
    if kind == "too_short" and field == "steps":
        return "expected at least one step"
    if kind in ("bool_type", "bool_parsing"):
        return "expected true or false"
    if kind == "string_type" and field == "when":
        return 'expected a string: quote the condition, e.g. when: "{{ cut_network }}"'
    if kind == "dict_type":
        return "expected a mapping (key: value lines)"
    if kind == "list_type":
        return "expected a list (lines starting with '- ')"
    if kind == "model_type":
        return "expected a mapping (key: value lines)"
    msg: str = error["msg"]
    return msg.replace("Input should be", "expected", 1)


def _pydantic_problems(
    exc: ValidationError,
    nodes: _NodeMap,
    *,
    base: Sequence[str | int] = (),
    start: yaml.Node | None = None,
    owner: str = "",
    allowed_keys: Mapping[tuple[str | int, ...], Collection[str]],
    step_ids: Mapping[int, str] = MappingProxyType({}),
) -> list[_Problem]:
    """Translate pydantic errors, located relative to ``start`` (at ``base`` in the document)."""
    problems = []
    for error in exc.errors():
        loc: tuple[str | int, ...] = tuple(error["loc"])
        node, key_node, complete = nodes.walk(loc, start)
        field = str(loc[-1]) if loc else ""
        label = _field_name(loc[-1:]) if loc else "the document"
        where = f" in {owner}" if owner else ""
        if not owner and len(loc) > 1:
            where = f" in {_field_name(loc[:-1])}"
            if loc[0] == "steps" and isinstance(loc[1], int) and loc[1] in step_ids:
                where += f" (step {step_ids[loc[1]]!r})"
        if error["type"] == "value_error" and not loc:
            # A dataclass's own check (__post_init__) names its field in the message.
            said = str(error["msg"]).removeprefix("Value error, ")
            message = f"{owner or 'the document'}: {said}"
            problems.append(_problem_at(node, message))
        elif error["type"] in ("missing", "missing_argument"):
            hint = _HINTS.get(field, "")
            message = f"missing required key {field!r}{where}" + (f": {hint}" if hint else "")
            problems.append(_problem_at(node, message))
        elif error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            allowed = sorted(allowed_keys.get(loc[:-1], ()))
            message = f"unknown key {field!r}{where}"
            if allowed:
                close = difflib.get_close_matches(field, allowed, n=1)
                message += f"; allowed keys: {', '.join(allowed)}"
                message += f". Did you mean {close[0]!r}?" if close else ""
            problems.append(_problem_at(key_node or node, message))
        else:
            shown = complete and error["type"] != "too_short"
            got = f", got {_describe_node(node)}" if shown else ""
            message = f"{label}{where}: {_expected(error, field)}{got}"
            problems.append(_problem_at(node, message))
    return problems


def _model_keys(model: type[Any]) -> list[str]:
    if dataclasses.is_dataclass(model):
        return [spec.name for spec in dataclasses.fields(model)]
    return [info.alias or name for name, info in model.model_fields.items()]


def _key_problems(root: yaml.Node, nodes: _NodeMap) -> list[_Problem]:
    """Duplicate keys (PyYAML keeps the last silently) and keys YAML 1.1 reads as non-strings."""
    import yaml

    problems = []
    pending = [root]
    seen_nodes: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in seen_nodes:  # aliases share nodes
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_seen: dict[object, yaml.Node] = {}
            for key, value in node.value:
                pending.append(value)
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                name = nodes.key_value(key)
                if not isinstance(name, str):
                    problems.append(
                        _problem_at(
                            key,
                            f"the key {key.value!r} is read by YAML as {_describe_node(key)}, "
                            f"but keys must be strings: quote it ('{key.value}':) or rename it",
                        )
                    )
                identity = (type(name), name)
                if identity in first_seen:
                    first = first_seen[identity].start_mark
                    problems.append(
                        _problem_at(
                            key,
                            f"duplicate key {key.value!r} (first at line {first.line + 1}, "
                            f"column {first.column + 1}); YAML would silently keep only the "
                            "last one: remove or rename one of them",
                        )
                    )
                else:
                    first_seen[identity] = key
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return problems


def _yaml_error(path: Path, exc: Exception, text: str) -> BadInput:
    import yaml

    if not isinstance(exc, yaml.MarkedYAMLError):
        return BadInput(f"invalid YAML: {exc}", path=path)
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "syntax error"
    detail = f"invalid YAML: {problem}"
    if exc.context:
        context_mark = exc.context_mark
        at = f" (line {context_mark.line + 1})" if context_mark is not None else ""
        detail += f", {exc.context}{at}"
    if mark is not None:
        line_text = text.splitlines()[mark.line] if mark.line < len(text.splitlines()) else ""
        if "\t" in line_text[: mark.column + 1] or "'\\t'" in problem:
            detail += "; YAML indentation must use spaces, not tabs"
        if "{{" in line_text:
            # Unquoted, `{{ x }}` is a mapping inside a mapping to YAML.
            detail += '; a {{ ... }} condition is not YAML: quote it: when: "{{ ... }}"'
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return BadInput(detail, path=path, line=line, column=column)


def _when_column(node: yaml.Node, text_lines: Sequence[str], offset: int | None) -> int:
    """The file column of character ``offset`` of a ``when:`` string, or the string's start."""
    mark, end = node.start_mark, node.end_mark
    start_column = mark.column + 1
    if offset is None or mark.line != end.line or mark.line >= len(text_lines):
        return start_column
    value = str(node.value)
    written = text_lines[mark.line][mark.column : end.column]
    # Skip an opening quote; escapes would shift offsets, so then point at the string's start.
    inner = written[1:] if written[:1] in ("'", '"') else written
    if not inner.startswith(value):
        return start_column
    return start_column + (len(written) - len(inner)) + offset


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_playbook(
    path: Path,
    *,
    actions: Mapping[str, type[Any]],
    variables: Collection[str],
) -> LoadedPlaybook:
    """Read, parse and validate the whole playbook at ``path``; no side effects.

    ``actions`` maps every known ``uses:`` name to the model validating its ``with:`` block;
    ``variables`` are the names a ``when:`` condition may read. Raises :class:`BadInput` with
    the file, line and column of the first problem (and lists the others it found).
    """
    path = Path(path)
    return playbook_from_bytes(path, read_trusted_file(path, what="playbook"), actions=actions,
                               variables=variables)


def playbook_from_bytes(
    path: Path,
    raw: bytes,
    *,
    actions: Mapping[str, type[Any]],
    variables: Collection[str],
) -> LoadedPlaybook:
    """Validate ``raw``, the bytes read from ``path`` (after its owner and mode were checked)."""
    import yaml

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput("the playbook is not UTF-8 text", path=path, line=line) from None

    loader = yaml.SafeLoader(text)
    try:
        return _load(path, raw, text, loader, actions, variables)
    except RecursionError:
        # YAML is composed, checked and validated recursively: a document nested thousands of
        # levels deep is bad input, not a bug.
        raise BadInput(
            "the playbook is nested too deeply to read (lists or mappings inside one another "
            "thousands of levels deep); a playbook needs a few levels",
            path=path,
        ) from None
    finally:
        loader.dispose()


def _load(
    path: Path,
    raw: bytes,
    text: str,
    loader: Any,
    actions: Mapping[str, type[Any]],
    variables: Collection[str],
) -> LoadedPlaybook:
    import yaml

    try:
        root = loader.get_single_node()
        if root is None:
            raise BadInput(
                "the playbook is empty: expected a mapping with name: and steps:",
                path=path,
                line=1,
                column=1,
            )
        _refuse_alias_bombs(path, root)
        nodes = _NodeMap(root, loader)
        _raise_problems(path, _key_problems(root, nodes))
        document = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc, text) from None

    try:
        playbook = Playbook.model_validate(document)
    except ValidationError as exc:
        allowed: dict[tuple[str | int, ...], Collection[str]] = {(): _model_keys(Playbook)}
        step_ids: dict[int, str] = {}
        steps = document.get("steps") if isinstance(document, dict) else None
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            allowed[("steps", index)] = _model_keys(Step)
            if isinstance(step, dict) and isinstance(step.get("id"), str):
                step_ids[index] = step["id"]
        _raise_problems(
            path, _pydantic_problems(exc, nodes, allowed_keys=allowed, step_ids=step_ids)
        )
        raise  # unreachable: pydantic never raises without errors

    problems, params, conditions = _check_steps(playbook, nodes, text, actions, variables)
    _raise_problems(path, problems)
    return LoadedPlaybook(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        playbook=playbook,
        params=MappingProxyType(params),
        when=MappingProxyType(conditions),
    )


# Nodes a playbook may expand to once its aliases are followed: a few hundred are typical.
MAX_EXPANDED_NODES = 100_000


def _refuse_alias_bombs(path: Path, root: yaml.Node) -> None:
    """Refuse a document whose aliases expand to more than MAX_EXPANDED_NODES nodes (the
    "billion laughs"): validating it would take time and memory without bound. Counted once
    per node, so the count itself stays linear."""
    import yaml

    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in visiting:
            raise BadInput("the playbook contains itself through a YAML alias (*name)",
                           path=path, line=node.start_mark.line + 1)
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            sizes[id(node)] = 1
            continue
        if not children_done:
            visiting.add(id(node))
            pending.append((node, True))
            pending.extend((child, False) for child in children if id(child) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(child), 1) for child in children)
        if total > MAX_EXPANDED_NODES:
            raise BadInput(
                f"the playbook expands to more than {MAX_EXPANDED_NODES} values once its YAML "
                "aliases (*name) are followed; write the steps out",
                path=path,
                line=node.start_mark.line + 1,
            )
        sizes[id(node)] = total
        visiting.discard(id(node))


def _check_steps(
    playbook: Playbook,
    nodes: _NodeMap,
    text: str,
    actions: Mapping[str, type[Any]],
    variables: Collection[str],
) -> tuple[list[_Problem], dict[str, Any], dict[str, WhenExpr]]:
    problems: list[_Problem] = []
    params: dict[str, Any] = {}
    conditions: dict[str, WhenExpr] = {}
    text_lines = text.splitlines()
    all_ids = [step.id for step in playbook.steps]
    first_index: dict[str, int] = {}

    for index, step in enumerate(playbook.steps):
        step_node, _, _ = nodes.walk(("steps", index))
        owner = f"step {step.id!r}"

        if step.id in first_index:
            id_node, _, _ = nodes.walk(("id",), step_node)
            first_node, _, _ = nodes.walk(("steps", first_index[step.id], "id"))
            problems.append(
                _problem_at(
                    id_node,
                    f"duplicate step id {step.id!r} (first used at line "
                    f"{first_node.start_mark.line + 1}): step ids must be unique",
                )
            )
        else:
            first_index[step.id] = index

        model = actions.get(step.uses)
        if model is None:
            # Listing every action loads every responder: only worth it to explain a mistake.
            known_actions = sorted(actions)
            uses_node, _, _ = nodes.walk(("uses",), step_node)
            close = difflib.get_close_matches(step.uses, known_actions, n=1)
            problems.append(
                _problem_at(
                    uses_node,
                    f"unknown action {step.uses!r} in {owner}"
                    + (f". Did you mean {close[0]!r}?" if close else "")
                    + f" Known actions: {', '.join(known_actions) or '(none installed)'}",
                )
            )
        else:
            with_node, _, found = nodes.walk(("with",), step_node)
            try:
                params[step.id] = validate_params(model, step.with_)
            except ValidationError as exc:
                problems.extend(
                    _pydantic_problems(
                        exc,
                        nodes,
                        base=("steps", index, "with"),
                        start=with_node if found else step_node,
                        owner=f"with: of {owner} ({step.uses})",
                        allowed_keys={(): _model_keys(model)},
                    )
                )

        if step.when is not None:
            try:
                conditions[step.id] = compile_when(
                    step.when,
                    variables=variables,
                    earlier_steps=all_ids[:index],
                    all_steps=all_ids,
                    this_step=step.id,
                )
            except WhenError as exc:
                when_node, _, _ = nodes.walk(("when",), step_node)
                problems.append(
                    _Problem(
                        when_node.start_mark.line + 1,
                        _when_column(when_node, text_lines, exc.offset),
                        f"bad when: in {owner}: {exc.message}",
                    )
                )
    return problems, params, conditions
