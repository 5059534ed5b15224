"""Random compositions of primitives, drawn by tapegrad.testing.strategies.

The main property: every smooth random expression passes check_grads to
second order in both modes, and its forward value equals an evaluation of
the same formula with the math module alone. The strategies themselves are
checked here too, since users rely on what they promise.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any, Callable

from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import Expression, ParamTree, expressions, floats, param_trees, positive_floats


def vectors(n: int) -> st.SearchStrategy[list[float]]:
    return st.lists(floats(), min_size=n, max_size=n)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# -- the properties --------------------------------------------------------------


@settings(max_examples=40)
@given(expr=expressions(n_vars=2), xs=vectors(2))
def test_forward_values_match_math(expr: Expression, xs: list[float]) -> None:
    reference = expr.float_fn(xs)
    on_floats = expr(xs)
    assert type(on_floats) is float
    assert close(on_floats, reference), (expr, xs, on_floats, reference)
    traced_value, _ = tg.value_and_grad(expr)(xs)
    assert close(traced_value, reference), (expr, xs, traced_value, reference)


@settings(max_examples=40)
@given(expr=expressions(n_vars=2), xs=vectors(2))
def test_check_grads_second_order_two_vars(expr: Expression, xs: list[float]) -> None:
    check_grads(expr, (xs,), order=2, modes=("fwd", "rev"))


@settings(max_examples=30)
@given(expr=expressions(n_vars=3, max_depth=5), xs=vectors(3))
def test_check_grads_second_order_three_vars_deeper(expr: Expression, xs: list[float]) -> None:
    check_grads(expr, (xs,), order=2, modes=("fwd", "rev"))


@settings(max_examples=30)
@given(expr=expressions(n_vars=2), xs=vectors(2))
def test_gradient_matches_central_differences_of_math_reference(expr: Expression, xs: list[float]) -> None:
    g = tg.grad(expr)(xs)
    assert isinstance(g, list) and len(g) == 2 and all(type(v) is float for v in g)
    h = 1e-6
    for i in range(2):
        plus = list(xs)
        minus = list(xs)
        plus[i] += h
        minus[i] -= h
        numeric = (expr.float_fn(plus) - expr.float_fn(minus)) / (2.0 * h)
        assert math.isclose(g[i], numeric, rel_tol=1e-5, abs_tol=1e-5), (expr, xs, i, g, numeric)


@settings(max_examples=30)
@given(expr=expressions(n_vars=2), xs=vectors(2), v=vectors(2))
def test_forward_and_reverse_mode_agree(expr: Expression, xs: list[float], v: list[float]) -> None:
    g = tg.grad(expr)(xs)
    _, t = tg.jvp(expr, (xs,), (v,))
    dot = math.fsum(a * b for a, b in zip(g, v))
    assert math.isclose(t, dot, rel_tol=1e-9, abs_tol=1e-9), (expr, xs, t, dot)


@settings(max_examples=30)
@given(expr=expressions(n_vars=2, smooth=False), xs=vectors(2))
def test_nonsmooth_expressions_forward_values_and_gradients_run(expr: Expression, xs: list[float]) -> None:
    assert close(float(expr(xs)), expr.float_fn(xs))
    value, g = tg.value_and_grad(expr)(xs)
    assert close(value, expr.float_fn(xs))
    assert all(type(v) is float and math.isfinite(v) for v in g)


# -- the strategies keep their promises ----------------------------------------------

NAMESPACE: dict[str, Any] = {
    "sin": math.sin,
    "cos": math.cos,
    "tanh": math.tanh,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
    "relu": lambda x: max(x, 0.0),
}


@settings(max_examples=40)
@given(expr=expressions(n_vars=3, smooth=False), xs=vectors(3))
def test_expression_repr_is_the_formula(expr: Expression, xs: list[float]) -> None:
    text = repr(expr)
    assert text.startswith("Expression(lambda x: ") and text.endswith(")")
    fn: Callable[[list[float]], float] = eval(f"lambda x: {expr.formula}", NAMESPACE)  # noqa: S307
    assert close(fn(xs), expr.float_fn(xs)), (text, xs)


@settings(max_examples=40)
@given(expr=expressions(n_vars=2, smooth=True))
def test_smooth_expressions_avoid_kinks(expr: Expression) -> None:
    allowed = {"add", "mul", "pow", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid"}
    assert expr.primitives <= allowed
    assert "relu" not in expr.formula and "abs" not in expr.formula


@settings(max_examples=40)
@given(expr=expressions(n_vars=2, smooth=True), xs=vectors(2))
def test_expression_values_stay_moderate(expr: Expression, xs: list[float]) -> None:
    # The generator bounds every subexpression, so values never explode.
    assert abs(expr.float_fn(xs)) <= 20.0


def test_expressions_cover_every_primitive() -> None:
    seen: set[str] = set()

    @settings(max_examples=200, database=None)
    @given(expr=expressions(n_vars=2, smooth=False))
    def collect(expr: Expression) -> None:
        seen.update(expr.primitives)

    collect()
    expected = {"add", "mul", "pow", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs"}
    assert expected <= seen, expected - seen


@settings(max_examples=40)
@given(x=floats(), y=floats(-0.5, 0.25), z=floats(min_magnitude=0.5), p=positive_floats())
def test_float_strategies(x: float, y: float, z: float, p: float) -> None:
    for v in (x, y, z, p):
        assert type(v) is float and math.isfinite(v)
        assert v == 0.0 or abs(v) >= sys.float_info.min  # no subnormals
    assert -3.0 <= x <= 3.0 and -0.5 <= y <= 0.25
    assert abs(z) >= 0.5
    assert 0.1 <= p <= 5.0


def count_leaves(tree: Any) -> int:
    if isinstance(tree, dict):
        return sum(count_leaves(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(count_leaves(v) for v in tree)
    return 1


def depth(tree: Any) -> int:
    if isinstance(tree, dict):
        return 1 + max(depth(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return 1 + max(depth(v) for v in tree)
    return 0


def all_keys_are_str(tree: Any) -> bool:
    if isinstance(tree, dict):
        return all(isinstance(k, str) for k in tree) and all(all_keys_are_str(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return all(all_keys_are_str(v) for v in tree)
    return type(tree) is float


@settings(max_examples=40)
@given(tree=param_trees(max_depth=3, max_leaves=6))
def test_param_trees_shape(tree: Any) -> None:
    assert 1 <= count_leaves(tree) <= 6
    assert depth(tree) <= 3
    assert all_keys_are_str(tree)


@settings(max_examples=40)
@given(tree=param_trees(leaves=positive_floats()))
def test_param_trees_with_custom_leaves_and_grad(tree: ParamTree) -> None:
    # grad of the sum of logs is 1/x at every leaf, in the same structure.
    def total(params: ParamTree) -> Scalar:
        out: Scalar = sum(tg.log(p) for p in _leaves(params))
        return out

    g = tg.grad(total)(tree)
    expected = tg.tree_map(lambda a: 1.0 / a, tree)
    assert _leaves(g) == _leaves(expected)
    assert tg.tree_map(lambda a: 0.0, g) == tg.tree_map(lambda a: 0.0, tree)  # same structure


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _leaves(v)]
    if isinstance(tree, (list, tuple)):
        return [x for v in tree for x in _leaves(v)]
    return [tree]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root, env=env)


def test_importing_tapegrad_does_not_import_hypothesis() -> None:
    code = "import sys, tapegrad, tapegrad.testing; assert 'hypothesis' not in sys.modules, 'hypothesis imported'"
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    code2 = "import sys, tapegrad.testing.strategies; assert 'hypothesis' in sys.modules"
    result2 = run_python(code2)
    assert result2.returncode == 0, result2.stderr
