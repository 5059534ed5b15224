"""The function transformations: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp, trace."""

from __future__ import annotations

import collections
import math
from typing import Any, NamedTuple, Sequence, TypedDict, cast

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.testing.strategies import Expression, ParamTree, expressions, floats, param_trees


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in leaves(v)]
    if isinstance(tree, (list, tuple)):
        return [x for v in tree for x in leaves(v)]
    return [tree]


def shape(tree: Any) -> Any:
    """The tree with every leaf replaced by None, keeping container types."""
    if isinstance(tree, dict):
        return (type(tree), [(k, shape(v)) for k, v in tree.items()])
    if isinstance(tree, (list, tuple)):
        return (type(tree), [shape(v) for v in tree])
    return None


def sum_of_squares(params: object) -> Scalar:
    total: Scalar = 0.0
    ps: list[Scalar] = leaves(params)
    for p in ps:
        total = total + p * p
    return total


def vectors(n: int) -> st.SearchStrategy[list[float]]:
    return st.lists(floats(), min_size=n, max_size=n)


class Point(NamedTuple):
    x: Scalar
    y: Scalar


class Mixed(TypedDict):
    pt: Point
    l: list[Scalar]
    t: tuple[Scalar, dict[str, Scalar]]


# -- grad and value_and_grad on trees ----------------------------------------------------


@settings(max_examples=40)
@given(tree=param_trees())
def test_grad_has_the_structure_of_params_with_float_leaves(tree: ParamTree) -> None:
    value, g = tg.value_and_grad(sum_of_squares)(tree)
    assert type(value) is float
    assert close(value, math.fsum(x * x for x in leaves(tree)))
    assert shape(g) == shape(tree)
    assert all(type(v) is float for v in leaves(g))
    assert leaves(g) == [2.0 * x for x in leaves(tree)]
    assert tg.grad(sum_of_squares)(tree) == g


def test_grad_on_lists_tuples_dicts_and_namedtuples() -> None:
    def f(p: Mixed) -> Scalar:
        return p["pt"].x * p["pt"].y + p["l"][0] * p["l"][1] + tg.sin(p["t"][1]["z"])

    params: Mixed = {"pt": Point(2.0, 3.0), "l": [4.0, 5.0], "t": (1.0, {"z": 0.5})}
    g = tg.grad(f)(params)
    assert g == {"pt": Point(3.0, 2.0), "l": [5.0, 4.0], "t": (0.0, {"z": math.cos(0.5)})}
    assert type(g["pt"]) is Point and type(g["l"]) is list and type(g["t"]) is tuple


def test_ints_are_treated_as_floats() -> None:
    def f(p: Sequence[Scalar]) -> Scalar:
        return p[0] * p[1] * p[1]

    value, g = tg.value_and_grad(f)([2, 3])
    assert value == 18.0 and type(value) is float
    assert g == [9.0, 12.0] and all(type(v) is float for v in g)
    assert type(tg.grad(lambda x: x * 3)(2)) is float


def test_functions_that_ignore_their_input_have_zero_gradient() -> None:
    def const(p: list[Scalar]) -> Scalar:
        return 3.0

    def int_const(p: list[Scalar]) -> Scalar:
        return 3

    assert tg.value_and_grad(const)([1.0, 2.0]) == (3.0, [0.0, 0.0])
    value, g = tg.value_and_grad(int_const)([1.0, 2.0])
    assert type(value) is float and g == [0.0, 0.0]


def test_dict_subclasses_keep_their_type() -> None:
    od = collections.OrderedDict([("b", 1.0), ("a", 2.0)])
    g = tg.grad(sum_of_squares)(od)
    assert type(g) is collections.OrderedDict and list(g.items()) == [("b", 2.0), ("a", 4.0)]


def test_defaultdict_params() -> None:
    dd: collections.defaultdict[str, float] = collections.defaultdict(float, {"a": 1.0, "b": 2.0})
    g = tg.grad(sum_of_squares)(dd)
    assert g == {"a": 2.0, "b": 4.0}
    assert isinstance(g, collections.defaultdict)


# -- argnums and kwargs -----------------------------------------------------------------


def three(x: Scalar, y: Sequence[Scalar], z: Scalar, *, scale: float = 1.0) -> Scalar:
    return scale * x * y[0] * y[1] + z * z


def test_argnums_int_and_tuple() -> None:
    assert tg.grad(three)(2.0, [3.0, 4.0], 5.0) == 12.0
    assert tg.grad(three, argnums=1)(2.0, [3.0, 4.0], 5.0) == [8.0, 6.0]
    assert tg.grad(three, argnums=2)(2.0, [3.0, 4.0], 5.0) == 10.0
    assert tg.grad(three, argnums=(0, 2))(2.0, [3.0, 4.0], 5.0) == (12.0, 10.0)
    assert tg.grad(three, argnums=(2, 1))(2.0, [3.0, 4.0], 5.0) == (10.0, [8.0, 6.0])
    value, grads = tg.value_and_grad(three, argnums=(0, 1, 2))(2.0, [3.0, 4.0], 5.0)
    assert value == 49.0 and grads == (12.0, [8.0, 6.0], 10.0)
    assert tg.grad(three, argnums=-1)(2.0, [3.0, 4.0], 5.0) == 10.0


def test_kwargs_pass_through_and_are_not_differentiated() -> None:
    assert tg.grad(three)(2.0, [3.0, 4.0], 5.0, scale=10.0) == 120.0
    assert tg.value_and_grad(three, argnums=(0, 1))(2.0, [3.0, 4.0], 5.0, scale=0.5) == (37.0, (6.0, [4.0, 3.0]))
    jac = tg.jacobian(three)(2.0, [3.0, 4.0], 5.0, scale=2.0)
    assert jac == 24.0


# -- has_aux -----------------------------------------------------------------------------


class Marker:
    pass


def test_has_aux_turns_traced_scalars_into_floats_and_keeps_other_objects() -> None:
    marker = Marker()
    label = "a label"

    def f(x: Scalar, y: Scalar) -> tuple[Scalar, dict[str, object]]:
        z = x * y
        return z * z, {"z": z, "pair": (x, Point(y, 2.0)), "obj": marker, "text": label, "n": [1, z]}

    (value, aux_obj), g = tg.value_and_grad(f, has_aux=True)(2.0, 3.0)
    aux = cast(dict[str, Any], aux_obj)
    assert value == 36.0 and g == 2.0 * 6.0 * 3.0
    assert aux == {"z": 6.0, "pair": (2.0, Point(3.0, 2.0)), "obj": marker, "text": label, "n": [1, 6.0]}
    assert type(aux["z"]) is float and type(aux["pair"][1]) is Point
    assert aux["obj"] is marker and aux["text"] is label and type(aux["n"][0]) is int

    g2, aux2 = tg.grad(f, argnums=(0, 1), has_aux=True)(2.0, 3.0)
    assert g2 == (36.0, 24.0) and aux2 == aux


def test_has_aux_leaves_aux_dict_subclasses_untouched() -> None:
    counts = collections.Counter({"a": 3, "b": 1})
    dd: collections.defaultdict[str, int] = collections.defaultdict(int, {"a": 1})

    def f(x: Scalar) -> tuple[Scalar, dict[str, object]]:
        return x * x, {"counts": counts, "dd": dd}

    _, aux = tg.grad(f, has_aux=True)(3.0)
    assert aux["counts"] == counts, aux["counts"]
    assert aux["dd"] == dd


# -- vjp -----------------------------------------------------------------------------------


def test_vjp_scalar_output_and_cotangent_scaling() -> None:
    def f(x: Scalar, y: Scalar) -> Scalar:
        return x * tg.sin(y)

    out, vjp_fn = tg.vjp(f, 2.0, 0.5)
    assert out == 2.0 * math.sin(0.5)
    gx, gy = vjp_fn(1.0)
    assert close(gx, math.sin(0.5)) and close(gy, 2.0 * math.cos(0.5))
    assert vjp_fn(3.0) == (3.0 * gx, 3.0 * gy)


def test_vjp_tree_output_is_reusable_without_rerunning_f() -> None:
    calls = 0

    def f(p: dict[str, Scalar]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"prod": p["a"] * p["b"], "pair": [tg.exp(p["a"]), p["b"] * p["b"]]}

    out, vjp_fn = tg.vjp(f, {"a": 1.0, "b": 2.0})
    assert calls == 1
    assert out == {"prod": 2.0, "pair": [math.e, 4.0]}
    (e1,) = vjp_fn({"prod": 1.0, "pair": [0.0, 0.0]})
    (e2,) = vjp_fn({"prod": 0.0, "pair": [1.0, 0.0]})
    (e3,) = vjp_fn({"prod": 0.0, "pair": [0.0, 1.0]})
    (mix,) = vjp_fn({"prod": 2.0, "pair": [-1.0, 0.5]})
    assert calls == 1
    assert e1 == {"a": 2.0, "b": 1.0}
    assert e2 == {"a": math.e, "b": 0.0}
    assert e3 == {"a": 0.0, "b": 4.0}
    assert close(mix["a"], 2.0 * 2.0 - math.e) and close(mix["b"], 2.0 * 1.0 + 0.5 * 4.0)
    with pytest.raises(ValueError):
        vjp_fn([1.0, 2.0])


@settings(max_examples=30)
@given(expr=expressions(n_vars=2), xs=vectors(2), w=floats())
def test_vjp_agrees_with_grad(expr: Expression, xs: list[float], w: float) -> None:
    out, vjp_fn = tg.vjp(expr, xs)
    assert out == tg.value_and_grad(expr)(xs)[0]
    (pulled,) = vjp_fn(w)
    g = tg.grad(expr)(xs)
    assert all(close(p, w * float(gi)) for p, gi in zip(pulled, g))


# -- jvp -------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(expr=expressions(n_vars=3), xs=vectors(3), v=vectors(3))
def test_jvp_matches_central_differences(expr: Expression, xs: list[float], v: list[float]) -> None:
    value, tangent = tg.jvp(expr, (xs,), (v,))
    assert close(value, expr.float_fn(xs))
    h = 1e-6
    plus = [x + h * d for x, d in zip(xs, v)]
    minus = [x - h * d for x, d in zip(xs, v)]
    numeric = (expr.float_fn(plus) - expr.float_fn(minus)) / (2 * h)
    assert math.isclose(tangent, numeric, rel_tol=1e-5, abs_tol=1e-5), (expr, xs, v, tangent, numeric)


def test_jvp_with_several_primals_and_tree_outputs() -> None:
    def f(x: Scalar, p: dict[str, Scalar]) -> list[Scalar]:
        return [x * p["a"], p["b"], 2.0]

    out, tan = tg.jvp(f, (2.0, {"a": 3.0, "b": 4.0}), (1.0, {"a": 10.0, "b": 100.0}))
    assert out == [6.0, 4.0, 2.0]
    assert tan == [3.0 + 2.0 * 10.0, 100.0, 0.0]
    with pytest.raises(ValueError):
        tg.jvp(f, (2.0, {"a": 3.0, "b": 4.0}), (1.0, [1.0, 2.0]))


@settings(max_examples=30)
@given(expr=expressions(n_vars=2), xs=vectors(2), v=vectors(2))
def test_jvp_of_grad_is_hessian_vector_product(expr: Expression, xs: list[float], v: list[float]) -> None:
    _, hv = tg.jvp(tg.grad(expr), (xs,), (v,))
    h = tg.hessian(expr)(xs)
    expected = [math.fsum(h[i][j] * v[j] for j in range(2)) for i in range(2)]
    assert all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-10) for a, b in zip(hv, expected)), (hv, expected)


# -- jacobian ------------------------------------------------------------------------------------


def polar(p: Sequence[Scalar]) -> list[Scalar]:
    r, theta = p
    return [r * tg.cos(theta), r * tg.sin(theta)]


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
@pytest.mark.parametrize("r,theta", [(2.0, 0.5), (1.0, -2.0), (0.5, 3.0)])
def test_jacobian_polar_to_cartesian(mode: str, r: float, theta: float) -> None:
    jac = tg.jacobian(polar, mode=mode)([r, theta])
    expected = [[math.cos(theta), -r * math.sin(theta)], [math.sin(theta), r * math.cos(theta)]]
    for i in range(2):
        for j in range(2):
            assert close(jac[i][j], expected[i][j])
    det = jac[0][0] * jac[1][1] - jac[0][1] * jac[1][0]
    assert close(det, r)


def cubic_map(p: Sequence[Scalar]) -> list[Scalar]:
    # three outputs, two inputs
    x, y = p
    return [x * y, x + 2.0 * y, tg.exp(x) * y * y]


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_jacobian_rows_are_outputs_and_columns_are_inputs(mode: str) -> None:
    x, y = 0.5, -1.5
    jac = tg.jacobian(cubic_map, mode=mode)([x, y])
    expected = [[y, x], [1.0, 2.0], [math.exp(x) * y * y, 2.0 * math.exp(x) * y]]
    assert len(jac) == 3 and all(len(row) == 2 for row in jac)
    for i in range(3):
        for j in range(2):
            assert close(jac[i][j], expected[i][j])


@settings(max_examples=20)
@given(exprs=st.lists(expressions(n_vars=3), min_size=1, max_size=4), xs=vectors(3))
def test_jacobian_modes_agree(exprs: list[Expression], xs: list[float]) -> None:
    def f(p: Sequence[Scalar]) -> list[Scalar]:
        return [e(p) for e in exprs]

    fwd = tg.jacobian(f, mode="fwd")(xs)
    rev = tg.jacobian(f, mode="rev")(xs)
    auto = tg.jacobian(f, mode="auto")(xs)
    for i, e in enumerate(exprs):
        g = tg.grad(e)(xs)
        for j in range(3):
            gj = float(g[j])
            assert close(fwd[i][j], gj) and close(rev[i][j], gj) and close(auto[i][j], gj)


def test_jacobian_with_tree_inputs_outputs_and_argnums() -> None:
    def f(x: Scalar, p: dict[str, Scalar]) -> dict[str, Scalar]:
        return {"u": x * p["a"], "v": p["b"] - x}

    for mode in ("fwd", "rev", "auto"):
        jac = tg.jacobian(f, argnums=1, mode=mode)(2.0, {"a": 3.0, "b": 4.0})
        assert jac == {"u": {"a": 2.0, "b": 0.0}, "v": {"a": 0.0, "b": 1.0}}
        both = tg.jacobian(f, argnums=(0, 1), mode=mode)(2.0, {"a": 3.0, "b": 4.0})
        assert both == {"u": (3.0, {"a": 2.0, "b": 0.0}), "v": (-1.0, {"a": 0.0, "b": 1.0})}
    with pytest.raises(ValueError):
        tg.jacobian(f, mode="sideways")


# -- hessian and hvp -------------------------------------------------------------------------------


def rosenbrock(p: Sequence[Scalar]) -> Scalar:
    x, y = p
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def rosenbrock_hessian(x: float, y: float) -> list[list[float]]:
    return [[1200.0 * x * x - 400.0 * y + 2.0, -400.0 * x], [-400.0 * x, 200.0]]


@pytest.mark.parametrize("point", [(1.0, 1.0), (0.0, 0.0), (-1.2, 1.0), (0.5, -0.3), (2.0, 3.5)])
def test_rosenbrock_hessian(point: tuple[float, float]) -> None:
    h = tg.hessian(rosenbrock)(list(point))
    expected = rosenbrock_hessian(*point)
    for i in range(2):
        for j in range(2):
            assert close(h[i][j], expected[i][j])
            assert type(h[i][j]) is float


@settings(max_examples=30)
@given(expr=expressions(n_vars=3), xs=vectors(3))
def test_hessian_is_symmetric(expr: Expression, xs: list[float]) -> None:
    h = tg.hessian(expr)(xs)
    for i in range(3):
        for j in range(i):
            assert math.isclose(h[i][j], h[j][i], rel_tol=1e-9, abs_tol=1e-12), (expr, xs, h)


def test_hessian_with_argnums_tuple() -> None:
    def f(x: Scalar, y: Scalar) -> Scalar:
        return x * x * y + tg.sin(y)

    h = tg.hessian(f, argnums=(0, 1))(2.0, 3.0)
    assert h[0] == (6.0, 4.0)
    assert h[1][0] == 4.0 and close(h[1][1], -math.sin(3.0))


@pytest.mark.parametrize("point", [(1.0, 1.0), (-1.2, 1.0), (0.5, -0.3)])
@pytest.mark.parametrize("v", [(1.0, 0.0), (0.0, 1.0), (0.3, -2.0)])
def test_hvp_equals_jvp_of_grad_and_hessian_times_v(point: tuple[float, float], v: tuple[float, float]) -> None:
    x = list(point)
    hv = tg.hvp(rosenbrock, (x,), (list(v),))
    assert hv == tg.jvp(tg.grad(rosenbrock), (x,), (list(v),))[1]
    h = rosenbrock_hessian(*point)
    for i in range(2):
        assert close(hv[i], h[i][0] * v[0] + h[i][1] * v[1])


@settings(max_examples=20)
@given(expr=expressions(n_vars=2), xs=vectors(2), v=vectors(2))
def test_hvp_on_random_expressions(expr: Expression, xs: list[float], v: list[float]) -> None:
    hv = tg.hvp(expr, (xs,), (v,))
    h = tg.hessian(expr)(xs)
    for i in range(2):
        assert math.isclose(hv[i], h[i][0] * v[0] + h[i][1] * v[1], rel_tol=1e-9, abs_tol=1e-10)


# -- stop_gradient ------------------------------------------------------------------------------------


def test_stop_gradient_passes_the_value_but_no_derivative() -> None:
    assert tg.stop_gradient(2.5) == 2.5

    def f(x: Scalar) -> Scalar:
        return x * tg.stop_gradient(x * x)

    value, g = tg.value_and_grad(f)(3.0)
    assert value == 27.0 and g == 9.0  # d/dx x * c = c
    assert tg.jvp(f, (3.0,), (1.0,)) == (27.0, 9.0)
    assert tg.grad(tg.grad(f))(3.0) == 0.0  # no derivative at the second level either
    assert tg.grad(tg.stop_gradient)(3.0) == 0.0
    assert tg.hessian(f)(3.0) == 0.0


def test_stop_gradient_inside_nested_grads() -> None:
    # the inner derivative is stop_gradient(x * y) = x * y as a value, but
    # the outer grad must see it as a constant
    def outer(x: Scalar) -> Scalar:
        def inner(y: Scalar) -> Scalar:
            return y * tg.stop_gradient(x * y)

        return tg.grad(inner)(2.0)

    assert tg.value_and_grad(outer)(3.0) == (6.0, 0.0)

    # stopping the outer variable only: the inner derivative still flows
    def outer2(x: Scalar) -> Scalar:
        sx = tg.stop_gradient(x)

        def inner(y: Scalar) -> Scalar:
            return y * y * sx + y * x

        return tg.grad(inner)(2.0)

    # d/dy = 2 y sx + x = 4 sx + x, so d/dx = 1
    assert tg.value_and_grad(outer2)(3.0) == (15.0, 1.0)


# -- trace ----------------------------------------------------------------------------------------------


def test_trace_returns_a_tape_of_frozen_records() -> None:
    def f(x: Sequence[Scalar], b: dict[str, Scalar]) -> Scalar:
        return tg.sin(x[0] * x[1]) + b["bias"]

    tape = tg.trace(f)([1.0, 2.0], {"bias": 0.5})
    assert isinstance(tape, tg.Tape) and tape.closed
    records = tape.records
    assert [r.label for r in records[:3]] == ["x[0]", "x[1]", "b['bias']"]
    assert [r.primitive.name for r in records] == ["input", "input", "input", "mul", "sin", "add"]
    assert tape.inputs == (0, 1, 2)
    assert records[3].args == (tg.Var(0), tg.Var(1)) and records[3].inputs == (0, 1)
    assert records[4].value == math.sin(2.0)
    assert tape.outputs == (tg.Var(5),)
    assert all(isinstance(r, tg.Record) for r in tape) and len(tape) == 6
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        records[3].value = 0.0  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        records[0].label = "y"  # type: ignore[misc]
    assert tape.records == records  # reading them again gives the same records
    text = str(tape)
    assert "input x[0]" in text and "mul(v0, v1)" in text


def test_trace_records_constants_inline() -> None:
    def f(x: Scalar) -> Scalar:
        return x * 2.5 + 1.0

    tape = tg.trace(f)(3.0)
    mul, add = tape.records[1:]
    assert mul.args == (tg.Var(0), tg.Lit(2.5))
    assert add.args == (tg.Var(1), tg.Lit(1.0)) and add.value == 8.5
