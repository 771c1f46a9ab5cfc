"""The when: language: truth tables, a property test against a reference evaluator, errors."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clawback.errors import BadInput
from clawback.when import STATUSES, WhenError, WhenExpr, compile_when

VARIABLES = ("a", "b", "c", "mode", "count")
STEPS = ("snap", "stop-agent", "revoke")


def compile_(text: str, earlier: tuple[str, ...] = STEPS) -> WhenExpr:
    return compile_when(text, variables=VARIABLES, earlier_steps=earlier)


def error_for(text: str, **kwargs: object) -> WhenError:
    options: dict[str, object] = {"variables": VARIABLES, "earlier_steps": STEPS, **kwargs}
    with pytest.raises(WhenError) as caught:
        compile_when(text, **options)  # type: ignore[arg-type]
    assert isinstance(caught.value, BadInput)
    return caught.value


BOOLS = (False, True)


@pytest.mark.parametrize(("a", "b"), list(itertools.product(BOOLS, BOOLS)))
def test_boolean_truth_tables(a: bool, b: bool) -> None:
    env = {"a": a, "b": b, "c": False, "mode": "", "count": 0}
    cases = {
        "{{ a }}": a,
        "{{ not a }}": not a,
        "{{ a and b }}": a and b,
        "{{ a or b }}": a or b,
        "{{ not a and b }}": (not a) and b,
        "{{ not (a and b) }}": not (a and b),
        "{{ a or b and c }}": a or (b and False),  # `and` binds tighter, as in Python/Jinja
        "{{ (a or b) and not c }}": a or b,
        "{{ a == b }}": a == b,
        "{{ a != b }}": a != b,
        "{{ a == true }}": a,
        "{{ b == False }}": not b,
    }
    for text, expected in cases.items():
        assert compile_(text).evaluate(env, {}) is expected, text


@pytest.mark.parametrize("status", STATUSES)
def test_step_status_table(status: str) -> None:
    for asked in STATUSES:
        expr = compile_(f"{{{{ steps.stop-agent.{asked} }}}}")
        assert expr.evaluate({}, {"stop-agent": status}) is (asked == status)
        assert expr.steps_used == {"stop-agent"}
    # A step that has not run (or was resumed past) has no status at all.
    assert compile_("{{ steps.revoke.ok }}").evaluate({}, {}) is False
    assert compile_("{{ not steps.revoke.failed }}").evaluate({}, {}) is True


def test_literal_comparisons() -> None:
    env = {"a": True, "b": False, "c": False, "mode": "fast", "count": 1}
    assert compile_('{{ mode == "fast" }}').evaluate(env, {}) is True
    assert compile_("{{ mode != 'fast' }}").evaluate(env, {}) is False
    assert compile_('{{ "fast" == mode }}').evaluate(env, {}) is True
    assert compile_("{{ count == 1 }}").evaluate(env, {}) is True
    # True == 1 in Python; here a bool never equals an int.
    assert compile_("{{ a == 1 }}").evaluate(env, {}) is False
    assert compile_("{{ count == true }}").evaluate(env, {}) is False
    assert compile_("{{ count != true }}").evaluate(env, {}) is True


def test_reference_like_string_stays_a_string() -> None:
    expr = compile_('{{ mode == "steps.nowhere.ok" }}')
    assert expr.steps_used == frozenset()
    assert expr.evaluate({"mode": "steps.nowhere.ok"}, {}) is True


def test_names_used_are_reported() -> None:
    expr = compile_("{{ (a or steps.snap.ok) and not steps.revoke.failed and mode == 'x' }}")
    assert expr.variables_used == {"a", "mode"}
    assert expr.steps_used == {"snap", "revoke"}


def test_missing_variable_at_evaluation_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="needs variables"):
        compile_("{{ a and b }}").evaluate({"a": True}, {})


def test_no_jinja2_import() -> None:
    probe = (
        "import sys, clawback.when as w;"
        "w.compile_when('{{ a }}', variables=['a'], earlier_steps=[]).evaluate({'a': 1}, {});"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jinja2', 'yaml')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# Property: any expression of the grammar means what a reference evaluator says it means
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    text: str

    def value(self, env: Mapping[str, object], status: Mapping[str, str]) -> object:
        raise NotImplementedError


@dataclass(frozen=True)
class Leaf(Node):
    kind: str
    name: str = ""
    literal: object = None

    def value(self, env: Mapping[str, object], status: Mapping[str, str]) -> object:
        if self.kind == "var":
            return env[self.name]
        if self.kind == "step":
            step, wanted = self.name.split(".")
            return status.get(step) == wanted
        return self.literal


@dataclass(frozen=True)
class Op(Node):
    op: str
    parts: tuple[Node, ...]

    def value(self, env: Mapping[str, object], status: Mapping[str, str]) -> object:
        values = [p.value(env, status) for p in self.parts]
        if self.op == "not":
            return not values[0]
        if self.op == "and":
            return bool(values[0]) and bool(values[1])
        if self.op == "or":
            return bool(values[0]) or bool(values[1])
        same = type(values[0]) is type(values[1]) and values[0] == values[1]
        return same if self.op == "==" else not same


literals = st.one_of(
    st.booleans().map(lambda v: Leaf(("true" if v else "false"), "lit", literal=v)),
    st.integers(-3, 3).map(lambda v: Leaf(str(v), "lit", literal=v)),
    st.sampled_from(["fast", "slow", ""]).map(lambda v: Leaf(repr(v), "lit", literal=v)),
)
variables = st.sampled_from(VARIABLES).map(lambda n: Leaf(n, "var", name=n))
step_refs = st.tuples(st.sampled_from(STEPS), st.sampled_from(STATUSES)).map(
    lambda t: Leaf(f"steps.{t[0]}.{t[1]}", "step", name=f"{t[0]}.{t[1]}")
)
comparisons = st.tuples(
    st.one_of(variables, step_refs), st.sampled_from(["==", "!="]), literals
).map(lambda t: Op(f"{t[0].text} {t[1]} {t[2].text}", t[1], (t[0], t[2])))
expressions = st.recursive(
    st.one_of(variables, step_refs, comparisons),
    lambda inner: st.one_of(
        inner.map(lambda n: Op(f"not ({n.text})", "not", (n,))),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: Op(f"({t[0].text}) {t[1]} ({t[2].text})", t[1], (t[0], t[2]))
        ),
    ),
    max_leaves=8,
)
environments = st.fixed_dictionaries(
    {
        "a": st.booleans(),
        "b": st.booleans(),
        "c": st.booleans(),
        "mode": st.sampled_from(["fast", "slow", ""]),
        "count": st.integers(-3, 3),
    }
)
statuses = st.dictionaries(st.sampled_from(STEPS), st.sampled_from(STATUSES))


@settings(max_examples=300, deadline=None)
@given(expressions, environments, statuses)
def test_evaluation_matches_reference(
    expression: Node, env: dict[str, object], status: dict[str, str]
) -> None:
    compiled = compile_(f"{{{{ {expression.text} }}}}")
    assert compiled.evaluate(env, status) is bool(expression.value(env, status))


# --------------------------------------------------------------------------------------------
# Errors name what was expected and where (offset inside the when: text)
# --------------------------------------------------------------------------------------------


def test_unknown_variable_lists_known_ones() -> None:
    error = error_for("{{ a and mdoe == 'x' }}")
    assert error.offset == 9
    assert "unknown name 'mdoe'" in error.message
    assert "known variables: a, b, c, count, mode" in error.message
    assert "Did you mean 'mode'?" in error.message


def test_forward_reference_and_cycle() -> None:
    forward = error_for(
        "{{ steps.later.ok }}", earlier_steps=["snap"], all_steps=["snap", "me", "later"],
        this_step="me",
    )  # fmt: skip
    assert forward.offset == 3
    assert "forward reference" in forward.message
    cycle = error_for(
        "{{ a or steps.me.ok }}", earlier_steps=["snap"], all_steps=["snap", "me"],
        this_step="me",
    )  # fmt: skip
    assert cycle.offset == 8
    assert "cycle" in cycle.message
    unknown = error_for("{{ steps.snp.ok }}", earlier_steps=["snap"])
    assert "names no step" in unknown.message
    assert "Did you mean 'snap'?" in unknown.message


@pytest.mark.parametrize(
    ("text", "offset", "expected"),
    [
        ("cut_network", 0, "double braces"),
        ("{{   }}", 0, "empty when"),
        ("{{ a && b }}", 5, "write 'and'"),
        ("{{ a || b }}", 5, "write 'or'"),
        ("{{ !a }}", 3, "write 'not'"),
        ("{{ a = b }}", 5, "write '=='"),
        ("{{ count > 1 }}", 9, "only == and !="),
        ("{{ a == b == c }}", 3, "chained comparisons"),
        ("{{ a + b }}", 3, "unsupported syntax (BinOp)"),
        ("{{ f(a) }}", 3, "unsupported syntax (Call)"),
        ("{{ __import__('os') }}", 3, "unsupported syntax (Call)"),
        ("{{ a.__class__ }}", 3, "only supported as steps.<id>.<status>"),
        ("{{ steps.snap }}", 3, "steps.<id>.<status>"),
        ("{{ steps }}", 3, "needs a step id and a status"),
        ("{{ steps.snap.done }}", 3, "unknown status 'done'"),
        ("{{ count == 1.5 }}", 12, "unsupported literal of type float"),
        ("{{ 'fast' }}", 3, "a literal on its own is not a condition"),
        ("{{ a if b else c }}", 3, "unsupported syntax (IfExp)"),
        ("{{ [a] }}", 3, "unsupported syntax (List)"),
        ("{{ (a }}", 3, "cannot parse"),
    ],
)
def test_errors_point_inside_the_text(text: str, offset: int, expected: str) -> None:
    error = error_for(text)
    assert expected in error.message
    assert error.offset == offset


def test_offsets_count_characters_not_bytes() -> None:
    error = error_for("{{ mode == 'héhé' and nope }}")
    assert error.offset == "{{ mode == 'héhé' and nope }}".index("nope")
