"""The ``when:`` language: ``{{ expr }}`` conditions on playbook steps.

``expr`` is parsed with :mod:`ast` and checked node by node against a tiny grammar; it is never
handed to ``eval``. It can read:

- the run's variables (``cut_network``, ``dry_run``, ``yes``, ...), by name;
- ``steps.<step_id>.<status>``: true when that earlier step ended in that status;
- ``true`` / ``false`` (Jinja spelling) and string, bool and int literals;

and combine them with ``not``, ``and``, ``or``, parentheses and ``==`` / ``!=``.

This module sits on the panic-button path, so it imports nothing heavier than :mod:`ast`.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from clawback.errors import BadInput

STATUSES: tuple[str, ...] = ("ok", "failed", "skipped", "manual", "refused")

_Evaluator = Callable[[Mapping[str, object], Mapping[str, str]], object]

_BOOL_WORDS = {"true": True, "false": False, "True": True, "False": False}
_WRAPPED = re.compile(r"\A\s*\{\{(?P<expr>.*)\}\}\s*\Z", re.DOTALL)
# Step ids may contain '-' and may be Python keywords, which ast would read as subtraction or
# reject, so step references are swapped for same-length placeholder names before parsing (same
# length keeps ast's column offsets true to the original text). String literals are matched
# first so that a reference-like string stays a string.
_STEP_REF_OR_STRING = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"""|(?<![\w.])steps\.(?P<step>[a-z][a-z0-9_-]*)\.(?P<status>[A-Za-z_][A-Za-z0-9_]*)"""
)
_PLACEHOLDER_PREFIX = "_s"  # short: the shortest reference, steps.a.ok, is 10 characters


class WhenError(BadInput):
    """A ``when:`` expression is invalid.

    ``offset`` is the 0-based character offset of the problem inside the ``when:`` text, so the
    playbook loader can turn it into a file column.
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class WhenExpr:
    """A compiled ``when:`` condition."""

    text: str
    variables_used: frozenset[str]
    steps_used: frozenset[str]
    _evaluate: _Evaluator = field(repr=False, compare=False)

    def evaluate(self, variables: Mapping[str, object], step_status: Mapping[str, str]) -> bool:
        """True when the step should run. A step missing from ``step_status`` has no status."""
        missing = self.variables_used - variables.keys()
        if missing:
            # compile_when already proved these names are declared, so the caller forgot them.
            raise KeyError(f"when: {self.text!r} needs variables {sorted(missing)}")
        return bool(self._evaluate(variables, step_status))


def compile_when(
    text: str,
    *,
    variables: Collection[str],
    earlier_steps: Collection[str],
    all_steps: Collection[str] = (),
    this_step: str | None = None,
) -> WhenExpr:
    """Parse and check ``text``; raise :class:`WhenError` saying what was expected.

    ``earlier_steps`` are the ids a reference may name. ``all_steps`` and ``this_step`` only make
    the message sharper: a reference to the step itself is a cycle, one to a later step a forward
    reference.
    """
    wrapped = _WRAPPED.match(text)
    if wrapped is None:
        raise WhenError(
            "a when: condition must be wrapped in double braces, e.g. "
            '"{{ cut_network }}" or "{{ steps.stop.ok and not dry_run }}"',
            offset=0,
        )
    expr_start = wrapped.start("expr")
    expr_text = wrapped["expr"]
    if not expr_text.strip():
        raise WhenError("empty when: condition: write an expression between {{ and }}", offset=0)

    step_refs: dict[str, tuple[str, str, int]] = {}

    def swap_reference(match: re.Match[str]) -> str:
        if match["string"] is not None:
            return match[0]
        placeholder = f"{_PLACEHOLDER_PREFIX}{len(step_refs)}".ljust(len(match[0]), "_")
        step_refs[placeholder] = (match["step"], match["status"], expr_start + match.start())
        return placeholder

    parseable = _STEP_REF_OR_STRING.sub(swap_reference, expr_text)
    # A newline inside the braces would make ast's (line, column) disagree with a flat offset.
    parseable = parseable.replace("\n", " ").replace("\r", " ")
    source = f"({parseable})"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(source, exc, expr_start - 1) from None

    checker = _Checker(
        variables=frozenset(variables),
        earlier_steps=frozenset(earlier_steps),
        all_steps=frozenset(all_steps),
        this_step=this_step,
        step_refs=step_refs,
        source=source,
        expr_start=expr_start - 1,  # ast columns count the '(' we added
    )
    evaluate = checker.compile(tree.body, top_level=True)
    return WhenExpr(
        text=text,
        variables_used=frozenset(checker.variables_used),
        steps_used=frozenset(checker.steps_used),
        _evaluate=evaluate,
    )


_OPERATOR_ADVICE = {
    "&": "write 'and'",
    "|": "write 'or'",
    "!": "write 'not'",
    "=": "write '==' to compare",
    "<": "only == and != are supported",
    ">": "only == and != are supported",
}
_GRAMMAR = "expected names, steps.<id>.<status>, literals, not/and/or, ==/!= and parentheses"


def _syntax_error(source: str, exc: SyntaxError, shift: int) -> WhenError:
    """Point at the first token the grammar cannot have; Python's own guess is often vaguer."""
    import io
    import tokenize

    allowed = {"(", ")", "==", "!="}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            operator = token.type in (tokenize.OP, tokenize.ERRORTOKEN)
            if operator and token.string.strip() and token.string not in allowed:
                advice = _OPERATOR_ADVICE.get(token.string[0], _GRAMMAR)
                return WhenError(
                    f"unexpected {token.string!r} in the when: condition: {advice}",
                    offset=shift + token.start[1],
                )
    except (tokenize.TokenError, SyntaxError):
        pass  # fall back on the parser's own position
    index = (exc.offset or 1) - 1
    if index < 1:
        # Index 0 is the '(' added around the expression: blame the expression's first token.
        body = source[1:]
        index = 1 + len(body) - len(body.lstrip())
    return WhenError(
        f"cannot parse the when: condition ({exc.msg}); {_GRAMMAR}", offset=shift + index
    )


def _strict_equal(left: object, right: object) -> bool:
    # Python says True == 1; a condition like `retries == 1` must not match a bool.
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return left == right


def _did_you_mean(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


@dataclass
class _Checker:
    variables: frozenset[str]
    earlier_steps: frozenset[str]
    all_steps: frozenset[str]
    this_step: str | None
    step_refs: Mapping[str, tuple[str, str, int]]
    source: str
    expr_start: int
    variables_used: set[str] = field(default_factory=set)
    steps_used: set[str] = field(default_factory=set)

    def _offset(self, node: ast.AST) -> int:
        return self._offset_of_byte_column(getattr(node, "col_offset", 0))

    def _operator_offset(self, node: ast.Compare) -> int:
        """Offset of a comparison's operator: the first non-blank after its left operand."""
        end = self._offset_of_byte_column(node.left.end_col_offset or 0)
        gap = self.source[end - self.expr_start :]
        return end + (len(gap) - len(gap.lstrip()))

    def _offset_of_byte_column(self, byte_column: int) -> int:
        # ast counts UTF-8 bytes; the operator reads characters.
        prefix = self.source.encode()[:byte_column].decode("utf-8", "ignore")
        return self.expr_start + len(prefix)

    def _fail(self, message: str, node: ast.AST) -> WhenError:
        return WhenError(message, offset=self._offset(node))

    def compile(self, node: ast.expr, *, top_level: bool = False) -> _Evaluator:
        if isinstance(node, ast.BoolOp):
            parts = [self.compile(value) for value in node.values]
            if isinstance(node.op, ast.And):
                return lambda v, s: all(part(v, s) for part in parts)
            return lambda v, s: any(part(v, s) for part in parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.compile(node.operand)
            return lambda v, s: not inner(v, s)
        if isinstance(node, ast.Compare):
            return self._compile_compare(node)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                value = node.value
                return lambda v, s: value
            raise self._fail(
                'a literal on its own is not a condition: compare it, e.g. mode == "fast"', node
            )
        return self._compile_operand(node)

    def _compile_compare(self, node: ast.Compare) -> _Evaluator:
        if len(node.ops) != 1:
            raise self._fail("chained comparisons are not supported: join them with 'and'", node)
        op = node.ops[0]
        if not isinstance(op, ast.Eq | ast.NotEq):
            raise WhenError(
                "only == and != comparisons are supported", offset=self._operator_offset(node)
            )
        left = self._compile_operand(node.left, allow_literal=True)
        right = self._compile_operand(node.comparators[0], allow_literal=True)
        if isinstance(op, ast.Eq):
            return lambda v, s: _strict_equal(left(v, s), right(v, s))
        return lambda v, s: not _strict_equal(left(v, s), right(v, s))

    def _compile_operand(self, node: ast.expr, *, allow_literal: bool = False) -> _Evaluator:
        if isinstance(node, ast.Name):
            return self._compile_name(node)
        if (
            allow_literal
            and isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) is int
        ):
            negative = -node.operand.value
            return lambda v, s: negative
        if isinstance(node, ast.Constant) and allow_literal:
            value = node.value
            if isinstance(value, str | bool | int):
                return lambda v, s: value
            raise self._fail(
                f"unsupported literal of type {type(value).__name__}: "
                "expected a string, true/false or an integer",
                node,
            )
        if isinstance(node, ast.Attribute):
            raise self._fail(self._attribute_advice(node), node)
        raise self._fail(f"unsupported syntax ({type(node).__name__}): {_GRAMMAR}", node)

    def _compile_name(self, node: ast.Name) -> _Evaluator:
        name = node.id
        if name in self.step_refs:
            return self._compile_step_ref(name)
        if name in _BOOL_WORDS:
            value = _BOOL_WORDS[name]
            return lambda v, s: value
        if name not in self.variables:
            if name == "steps":
                raise self._fail(
                    "'steps' needs a step id and a status: steps.<id>.<status>, status one of "
                    + ", ".join(STATUSES),
                    node,
                )
            known = ", ".join(sorted(self.variables)) or "(none)"
            raise self._fail(
                f"unknown name {name!r} in when:; known variables: {known}, "
                f"or steps.<id>.<status>.{_did_you_mean(name, self.variables)}",
                node,
            )
        self.variables_used.add(name)
        return lambda v, s: v[name]

    def _compile_step_ref(self, placeholder: str) -> _Evaluator:
        step, status, offset = self.step_refs[placeholder]
        if status not in STATUSES:
            raise WhenError(
                f"unknown status {status!r} in steps.{step}.{status}: expected one of "
                + ", ".join(STATUSES)
                + "."
                + _did_you_mean(status, STATUSES),
                offset=offset,
            )
        if step not in self.earlier_steps:
            raise WhenError(self._step_advice(step), offset=offset)
        self.steps_used.add(step)
        return lambda v, s: s.get(step) == status

    def _step_advice(self, step: str) -> str:
        earlier = ", ".join(sorted(self.earlier_steps)) or "(none: this is the first step)"
        if step == self.this_step:
            return (
                f"steps.{step} refers to this step itself (a cycle): a when: condition can "
                f"only look at steps that ran before it: {earlier}"
            )
        if step in self.all_steps:
            return (
                f"steps.{step} is a forward reference: step {step!r} runs later, so its status "
                f"is not known yet. Earlier steps: {earlier}"
            )
        return (
            f"steps.{step} names no step of this playbook. Earlier steps: {earlier}."
            + _did_you_mean(step, self.earlier_steps)
        )

    def _attribute_advice(self, node: ast.Attribute) -> str:
        root: ast.expr = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id == "steps":
            return "a step reference is steps.<id>.<status>, status one of " + ", ".join(STATUSES)
        return "attribute access is only supported as steps.<id>.<status>"
