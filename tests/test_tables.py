"""Evaluation-trace tables: the numbers come from the tape and the sweep, the text explains them.

The reference values are derived by hand for the survey's example
f(x1, x2) = ln(x1) + x1 * x2 - sin(x2) at (2, 5):
df/dx1 = 1/x1 + x2 and df/dx2 = x1 - cos(x2).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.core.functions import step
from tapegrad.core.primitive import PRIMITIVES, RULES, VARIADIC
from tapegrad.core.rule_table import BATCH_PRIMITIVES, BUILTINS, log_p
from tapegrad.interpret.sweep import reverse_sweep
from tapegrad.tables import (
    Row,
    adjoint_table,
    forward_table,
    local_partial,
    normalize_adjoints,
    output_adjoints,
    reverse_adjoints,
    side_by_side,
    table_rows,
    wengert_table,
)

ROOT = Path(__file__).resolve().parent.parent
BAR = "\u0304"


def f(x1: tg.Scalar, x2: tg.Scalar) -> tg.Scalar:
    return tg.log(x1) + x1 * x2 - tg.sin(x2)


def survey_rows() -> list[Row]:
    return table_rows(tg.trace(f)(2.0, 5.0))


# -- the worked example ------------------------------------------------------------------


def test_rows_follow_the_tape_record_by_record() -> None:
    rows = survey_rows()
    # ln, *, + come first (Python's order), then sin; "- sin" is "+ (sin * -1)".
    assert [r.primitive for r in rows] == ["input", "input", "log", "mul", "add", "sin", "mul", "add"]
    assert [r.index for r in rows] == list(range(8))
    assert [r.name for r in rows] == [f"v{i}" for i in range(8)]
    assert [r.expression for r in rows] == [
        "x1", "x2", "ln(v0)", "v0 * v1", "v2 + v3", "sin(v1)", "v5 * (-1)", "v4 + v6",
    ]


def test_primal_values_are_the_hand_computed_ones() -> None:
    rows = survey_rows()
    assert rows[0].value == 2.0 and rows[1].value == 5.0
    assert rows[2].value == math.log(2.0)
    assert rows[3].value == 10.0
    assert rows[4].value == math.log(2.0) + 10.0
    assert rows[5].value == math.sin(5.0)
    assert rows[6].value == -math.sin(5.0)
    assert rows[7].value == pytest.approx(math.log(2.0) + 10.0 - math.sin(5.0), rel=1e-15)
    assert rows[7].value == pytest.approx(11.652071455223084, rel=1e-15)


def test_adjoints_are_the_hand_derived_partials() -> None:
    rows = survey_rows()
    assert rows[0].adjoint == pytest.approx(1.0 / 2.0 + 5.0, rel=1e-15)  # 1/x1 + x2 = 5.5
    assert rows[1].adjoint == pytest.approx(2.0 - math.cos(5.0), rel=1e-15)  # x1 - cos x2
    # Every intermediate on the path to y by additions only has adjoint 1;
    # sin(x2) enters with a factor -1.
    assert [rows[i].adjoint for i in (2, 3, 4, 6, 7)] == [1.0] * 5
    assert rows[5].adjoint == -1.0


def test_adjoint_expressions_list_every_use() -> None:
    rows = survey_rows()

    def v(i: int) -> str:
        return f"v{BAR}{i}"

    assert rows[0].adjoint_expression == f"{v(2)} * (1/v0) + {v(3)} * v1"
    assert rows[1].adjoint_expression == f"{v(3)} * v0 + {v(5)} * cos(v1)"
    assert rows[5].adjoint_expression == f"{v(6)} * (-1)"
    assert rows[2].adjoint_expression == rows[3].adjoint_expression == v(4)
    assert rows[7].adjoint_expression == f"y{BAR}"


def test_numbers_are_the_reverse_sweeps_not_recomputed() -> None:
    tape = tg.trace(f)(2.0, 5.0)
    out = tape.outputs[0]
    assert isinstance(out, tg.Var)
    swept = reverse_sweep(tape, [(out.index, 1.0)])
    assert [r.adjoint for r in table_rows(tape)] == swept
    assert [r.value for r in table_rows(tape)] == [rec.value for rec in tape.records]
    # Given a different seed, the table shows that sweep's numbers.
    doubled = reverse_sweep(tape, [(out.index, 2.0)])
    assert [r.adjoint for r in table_rows(tape, doubled)] == [2.0 * a for a in swept]


@given(st.floats(0.1, 10.0), st.floats(-10.0, 10.0))
def test_table_matches_the_gradient_formula_anywhere(x1: float, x2: float) -> None:
    rows = table_rows(tg.trace(f)(x1, x2))
    assert rows[0].adjoint == pytest.approx(1.0 / x1 + x2, rel=1e-12, abs=1e-12)
    assert rows[1].adjoint == pytest.approx(x1 - math.cos(x2), rel=1e-12, abs=1e-12)
    assert rows[-1].value == pytest.approx(math.log(x1) + x1 * x2 - math.sin(x2), rel=1e-12, abs=1e-12)


# -- the text is honest: evaluating it gives the sweep's numbers -------------------------

def _first_derivative(x: tg.Scalar, y: tg.Scalar) -> tg.Scalar:
    """d/dz of relu(z) sin(z) y / z at z = x: its tape holds the rules' own records (cos, step, ...)."""

    def h(z: tg.Scalar) -> tg.Scalar:
        return tg.relu(z) * tg.sin(z) * y / z

    return tg.grad(h)(x)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "arithmetic": lambda x, y: x * y + tg.sin(x) - tg.cos(y) + 2.0 - x,
    "division and ln": lambda x, y: x / y + 1.0 / x + tg.log(y),
    "powers": lambda x, y: x ** 3.0 + x ** y + 2.0 ** y,
    "unary": lambda x, y: tg.exp(x) * tg.tanh(y) + tg.sigmoid(x) + tg.sqrt(y) + abs(x - y) - tg.relu(x) + tg.softplus(y),
    "relu below zero": lambda x, y: tg.relu(x - y) + y,
    "used twice": lambda x, y: x * x + y,
    "stop_gradient": lambda x, y: tg.stop_gradient(x) * x + y,
    "second order": lambda x, y: _first_derivative(x, y),
    "trigonometric": lambda x, y: tg.tan(x) + tg.asin(x) + tg.acos(x) + tg.atan(y) + tg.sinh(x) + tg.cosh(y) + tg.asinh(x) + tg.acosh(y) + tg.atanh(x),
    "logs and exps": lambda x, y: tg.log2(y) + tg.log10(x) + tg.log1p(x) + tg.expm1(y) + tg.exp2(x) + tg.erf(x) + tg.erfc(y),
    "two arguments": lambda x, y: tg.atan2(x, y) + tg.hypot(x, y) + x % y + tg.fmod(y, x) + tg.logaddexp(x, y) + tg.floor(x * y),
    "ties and choices": lambda x, y: tg.maximum(x, y) + tg.minimum(x, x) + tg.where(x < y, x * y, y) + tg.clip(x, 0.0, y) + tg.clip(y, x, 1.0),
    "sum and mean": lambda x, y: tg.sum([x, y, x * y]) + tg.mean([x, y, 2.0]),
    "sinc and logaddexp2": lambda x, y: tg.sinc(x) * tg.logaddexp2(x, y),
    # the helper rows that derivative rules call, recorded by a traced gradient
    "derivative helpers": lambda x, y: tg.grad(lambda t: tg.tanh(t) + tg.asin(t) + tg.atan(t) + tg.atanh(t) + tg.sinc(t) + tg.hypot(t, y) + tg.logaddexp(t, y) + tg.logaddexp2(t, y))(x * 0.5) * y,
}

# The table text calls primitives by name (log as "ln", as the textbooks
# write it); evaluate it with the primitives' own float functions.
_MATH: dict[str, Any] = {p.name: p.impl for p in BUILTINS} | {"ln": log_p.impl, "pi": math.pi}


def _evaluate(text: str, rows: list[Row], seeds: dict[str, float]) -> float:
    """Evaluate a table expression, reading vi as values and v̄i as the sweep's adjoints."""
    env: dict[str, Any] = dict(_MATH)
    for r in rows:
        env[r.name] = r.value
        env[f"vbar{r.index}"] = 0.0 if r.adjoint is None else r.adjoint
    code = re.sub(rf"v{BAR}(\d+)", r"vbar\1", text)
    for name, value in seeds.items():
        env[name.replace(f"y{BAR}", "ybar")] = value
    code = code.replace(f"y{BAR}", "ybar")
    return float(eval(code, {"__builtins__": {}}, env))  # noqa: S307 - text we generated


@pytest.mark.parametrize("name", sorted(_FUNCTIONS))
def test_expressions_evaluate_to_the_recorded_numbers(name: str) -> None:
    tape = tg.trace(_FUNCTIONS[name])(0.7, 1.3)
    rows = table_rows(tape)
    assert rows[0].adjoint is not None  # every case depends on x
    for r in rows:
        if r.primitive != "input":
            assert _evaluate(r.expression, rows, {}) == pytest.approx(r.value, rel=1e-12), r
        adjoint = 0.0 if r.adjoint is None else r.adjoint
        assert _evaluate(r.adjoint_expression, rows, {f"y{BAR}": 1.0}) == pytest.approx(adjoint, rel=1e-12, abs=1e-15), r


def test_every_builtin_partial_is_spelled_out_and_exercised() -> None:
    # (The sums over a batch belong to vmap's tapes, which the tables refuse:
    # they follow one example.)
    builtins = [p for p in PRIMITIVES if p.builtin and p.arity > 0 and p.name not in BATCH_PRIMITIVES]
    seen = {r.primitive for fn in _FUNCTIONS.values() for r in table_rows(tg.trace(fn)(0.7, 1.3))}
    for prim in builtins:
        record = tg.Record(index=prim.arity, primitive=prim, args=tuple(tg.Var(k) for k in range(prim.arity)), value=1.0)
        for k in range(prim.arity):
            text = local_partial(record, k)
            if RULES[prim.id][k] is None:
                assert text is None, prim.name
            else:
                assert text is not None and "∂" not in text, (prim.name, text)
                # ... and the evaluation test above has checked it on a real tape.
                assert prim.name in seen, f"add a case using {prim.name} to _FUNCTIONS"
    for prim in (p for p in PRIMITIVES if p.builtin and p.arity == VARIADIC):
        record = tg.Record(index=3, primitive=prim, args=(tg.Var(0), tg.Var(1), tg.Var(2)), value=1.0)
        assert [local_partial(record, k) for k in range(3)] == [{"sum": "1", "mean": "1/3"}[prim.name]] * 3
        assert prim.name in seen, f"add a case using {prim.name} to _FUNCTIONS"


def test_a_stopped_gradient_is_a_constant_and_sends_no_term() -> None:
    rows = table_rows(tg.trace(_FUNCTIONS["stop_gradient"])(0.7, 1.3))
    # stop_gradient(x) records nothing: it enters the product as the constant
    # 0.7, so x's adjoint has one term only, from the product.
    assert rows[2].expression == "0.7 * v0"
    assert rows[0].adjoint_expression == f"v{BAR}2 * 0.7"
    assert rows[0].adjoint == pytest.approx(0.7)


def test_a_zero_derivative_sends_no_term() -> None:
    # step's derivative is identically zero: x reaches the output through
    # step(x) and through the product, but only the product sends a term.
    def f(x: tg.Scalar, y: tg.Scalar) -> tg.Scalar:
        jump: tg.Scalar = step(x)
        return jump + x * y

    rows = table_rows(tg.trace(f)(0.7, 1.3))
    assert rows[0].adjoint_expression == f"v{BAR}3 * v1"
    assert rows[0].adjoint == pytest.approx(1.3)


def test_unreached_records_have_zero_adjoint() -> None:
    def g(x: tg.Scalar, y: tg.Scalar) -> tg.Scalar:
        x * 3.0  # recorded, but the output does not depend on it
        return x * 2.0

    rows = table_rows(tg.trace(g)(1.5, 4.0))
    assert rows[1].adjoint is None and rows[1].adjoint_expression == "0"  # y is unused
    assert rows[2].adjoint is None and rows[2].adjoint_expression == "0"  # the dead product
    assert rows[0].adjoint == 2.0 and rows[0].adjoint_expression == f"v{BAR}3 * 2"


def test_several_outputs_get_numbered_seeds() -> None:
    tape = tg.trace(lambda x, y: [x * y, x + y])(3.0, 4.0)
    with pytest.raises(ValueError, match="2 outputs"):
        table_rows(tape)
    adj = reverse_sweep(tape, [(2, 2.0), (3, 5.0)])
    rows = table_rows(tape, adj)
    assert rows[2].adjoint_expression == f"y{BAR}0"
    assert rows[3].adjoint_expression == f"y{BAR}1"
    # d/dx (2 * x*y + 5 * (x + y)) = 2y + 5, d/dy = 2x + 5
    assert rows[0].adjoint == 2.0 * 4.0 + 5.0
    assert rows[1].adjoint == 2.0 * 3.0 + 5.0
    for r in rows:
        assert _evaluate(r.adjoint_expression, rows, {f"y{BAR}0": 2.0, f"y{BAR}1": 5.0}) == r.adjoint


def test_a_custom_primitive_is_named_generically() -> None:
    @tg.primitive
    def tables_test_double_first(x: float, y: float) -> float:
        return 2.0 * x  # does not depend on y, so its zero rule for y is exact

    tg.defvjp(tables_test_double_first, lambda g, ans, x, y: g * 2.0, None)
    rows = table_rows(tg.trace(lambda x, y: tables_test_double_first(x, y))(1.0, 2.0))
    assert rows[2].expression == "tables_test_double_first(v0, v1)"
    assert rows[0].adjoint_expression == f"v{BAR}2 * (∂tables_test_double_first/∂x(v0, v1))"
    assert rows[0].adjoint == 2.0
    assert rows[1].adjoint_expression == "0" and rows[1].adjoint is None


def test_normalize_adjoints_checks_lengths_and_accepts_dicts() -> None:
    tape = tg.trace(f)(2.0, 5.0)
    assert normalize_adjoints(tape, {0: 1.5}) == [1.5] + [None] * 7
    with pytest.raises(ValueError, match="8 records"):
        normalize_adjoints(tape, [1.0, 2.0])
    with pytest.raises(ValueError, match="record"):
        normalize_adjoints(tape, {9: 1.0})


def test_a_constant_output_has_zero_adjoints() -> None:
    tape = tg.trace(lambda x: 3.0)(2.0)
    assert output_adjoints(tape) == [None]
    assert "3 (constant)" in side_by_side(tape)


# -- layout ------------------------------------------------------------------------------------


def _display_width(text: str) -> int:
    return sum(0 if unicodedata.combining(c) else 1 for c in text)


def test_side_by_side_layout() -> None:
    text = wengert_table(f, 2.0, 5.0)
    lines = text.splitlines()
    assert "Forward primal trace" in lines[0] and "Reverse adjoint trace" in lines[0]
    body = lines[2:10]
    assert len(lines) == 11  # header, rule, 8 records, output line
    for i, line in enumerate(body):
        left, right = line.split(" | ")
        assert left.startswith(f"v{i} = ") and right.startswith(f"v{BAR}{i} = ")
    # The separator sits in the same terminal column on every line (the bar takes no column).
    columns = {_display_width(line.split(" | ")[0]) for line in lines if " | " in line}
    assert len(columns) == 1
    assert all(line == line.rstrip() for line in lines)
    assert lines[-1].startswith("y = v7") and f"seed y{BAR} = 1" in lines[-1]


def test_forward_and_adjoint_tables() -> None:
    tape = tg.trace(f)(2.0, 5.0)
    fwd = forward_table(tape).splitlines()
    assert [line.split(" = ")[0].strip() for line in fwd[2:10]] == [f"v{i}" for i in range(8)]
    assert fwd[4].split(" = ")[2] == "0.693147"  # ln 2 to six significant digits
    assert fwd[-1] == "y = v7"
    adj = adjoint_table(tape).splitlines()
    body = [line for line in adj if line.startswith(f"v{BAR}")]
    # The sweep's order: from the output back to the inputs.
    assert [line.split(" = ")[0].strip() for line in body] == [f"v{BAR}{i}" for i in range(7, -1, -1)]
    assert body[-1].endswith("= 5.5")
    assert forward_table(tape, digits=12).splitlines()[4].endswith(f"{math.log(2.0):.12g}")


# -- the example script --------------------------------------------------------------------------


def _numbers_after(label: str, text: str) -> list[float]:
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(label))
    return [float(x) for x in re.findall(r"=\s*(-?\d+\.\d+(?:e-?\d+)?)", line)]


def test_wengert_example_prints_the_hand_checks() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "wengert_table.py")], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "subtraction" in out  # the note explaining the extra records
    expected: list[tuple[str, Optional[float]]] = [
        ("f(2, 5)", math.log(2.0) + 10.0 - math.sin(5.0)),
        ("df/dx1", 0.5 + 5.0),
        ("df/dx2", 2.0 - math.cos(5.0)),
    ]
    for label, value in expected:
        numbers = _numbers_after(label, out)
        assert numbers and all(n == pytest.approx(value, rel=1e-15) for n in numbers), (label, numbers)


# -- reverse_adjoints: the sweep's adjoints through the public API ----------------------


def test_reverse_adjoints_are_the_hand_derived_partials_and_grads() -> None:
    tape = tg.trace(f)(2.0, 5.0)
    adj = reverse_adjoints(tape)
    assert len(adj) == len(tape)
    assert adj[0] == 1 / 2.0 + 5.0 and adj[1] == 2.0 - math.cos(5.0)  # df/dx1, df/dx2 by hand
    assert (adj[0], adj[1]) == tg.grad(f, argnums=(0, 1))(2.0, 5.0)
    assert adj == reverse_sweep(tape, [(len(tape) - 1, 1.0)])
    # An explicit seed scales every adjoint linearly.
    doubled = reverse_adjoints(tape, [(len(tape) - 1, 2.0)])
    assert doubled[:2] == [2.0 * adj[0], 2.0 * adj[1]]


def test_reverse_adjoints_skip_zeros_only_when_asked() -> None:
    def g(x: tg.Scalar) -> tg.Scalar:
        return tg.relu(x * -1.0 * 2.0) * 3.0 + x  # the relu is off at x = 2: its input's adjoint is 0.0

    tape = tg.trace(g)(2.0)
    skipped = reverse_adjoints(tape)
    kept = reverse_adjoints(tape, skip_zeros=False)
    relu = next(r.index for r in tape.records if r.primitive.name == "relu")
    assert skipped[relu - 1] == kept[relu - 1] == 0.0  # what the relu sends back
    # The record only that zero reaches (x * -1) gets nothing when zeros are skipped.
    assert skipped[relu - 2] is None and kept[relu - 2] == 0.0
    assert skipped[0] == kept[0] == 1.0 == tg.grad(g)(2.0)


def test_reverse_adjoints_under_vmap_are_per_example_batches() -> None:
    X = tg.batch([1.0, 2.0, 3.0], "python")
    tape = tg.trace(lambda w, X: tg.mean(tg.vmap(lambda w, x: w * x, in_axes=(None, 0))(w, X)))(2.0, X)
    adj = reverse_adjoints(tape)
    broadcast = next(r.index for r in tape.records if r.primitive.name == "broadcast")
    assert isinstance(adj[broadcast], tg.Batch)
    assert [round(v, 12) for v in adj[broadcast].values()] == [round(x / 3, 12) for x in (1.0, 2.0, 3.0)]
    assert adj[0] == pytest.approx(2.0, rel=1e-15)  # the mean of the x values: d/dw mean(w x)


def test_reverse_adjoints_refuses_ambiguous_or_wrong_seeds() -> None:
    two = tg.trace(lambda x: [x * 2.0, x * 3.0])(1.0)
    with pytest.raises(ValueError, match="2 outputs; pass seeds"):
        reverse_adjoints(two)
    assert reverse_adjoints(two, [(1, 1.0), (2, 1.0)])[0] == 5.0
    with pytest.raises(ValueError, match=r"record\(s\) \[7\].*records 0 to 2"):
        reverse_adjoints(two, [(7, 1.0)])
    with pytest.raises(ValueError, match=r"record\(s\) \[-1\]"):
        reverse_adjoints(two, [(-1, 1.0)])
    constant = tg.trace(lambda x: 4.0)(1.0)
    assert reverse_adjoints(constant) == [None] * len(constant)
