"""vmap gives the Python loop's answer example by example, or raises where the loop raises.

Each test compares a vmapped computation with the loop over the same
per-example function, on both back ends ("python", and "numpy" when NumPy is
installed), including examples that hold nan or inf. Where the loop raises,
the batch raises the same kind of error and names the example.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import pytest

import tapegrad as tg
from tapegrad.core.batch import numpy_available

BACKENDS = [
    "python",
    pytest.param("numpy", marks=pytest.mark.skipif(not numpy_available(), reason="NumPy is an optional extra")),
]
NAN = math.nan
INF = math.inf


def same(a: Sequence[float], b: Sequence[float], backend: str) -> bool:
    """Equal example by example (nan equals nan): bit for bit on Python, to 1e-12 on NumPy."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if math.isnan(x) or math.isnan(y):
            if not (math.isnan(x) and math.isnan(y)):
                return False
        elif backend == "python" and x != y:
            return False
        elif x != pytest.approx(y, rel=1e-12, abs=1e-300):
            return False
    return True


def loop_or_error(f: Callable[[float], Any], xs: Sequence[float]) -> Any:
    """``[f(x) for x in xs]``, or the type of the first error it raises."""
    try:
        return [float(f(x)) for x in xs]
    except (ValueError, ArithmeticError) as exc:
        return type(exc)


# -- a list of arrays is a list of examples ---------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_list_of_arrays_is_a_list_of_examples(backend: str) -> None:
    np = pytest.importorskip("numpy")
    f: Callable[[Any], Any] = lambda x: x[0] - 10.0 * x[1]
    rows = [[1.0, 2.0], [3.0, 5.0], [7.0, 11.0]]
    expected = [f(r) for r in rows]
    assert len(expected) == 3
    as_arrays = [np.array(r) for r in rows]
    assert list(tg.vmap(f, backend=backend)(as_arrays)) == expected
    assert list(tg.vmap(f, backend=backend)(tuple(as_arrays))) == expected
    assert list(tg.vmap(f, backend=backend)(tg.batch(as_arrays, backend))) == expected
    # nested inside per-example dicts, still one example each
    assert list(tg.vmap(lambda d: f(d["u"]), backend=backend)([{"u": a} for a in as_arrays])) == expected
    # a dict of 1-D arrays is one example's shape with a column per key (unchanged)
    cols = {"a": np.array([r[0] for r in rows]), "b": np.array([r[1] for r in rows])}
    assert list(tg.vmap(lambda d: d["a"] - 10.0 * d["b"], backend=backend)(cols)) == expected
    # per-example gradients of a list of arrays, against the loop
    g = tg.vmap(tg.grad(lambda x: x[0] * x[1] * x[1]), backend=backend)(as_arrays)
    assert [list(v) for v in g] == [[r[1] * r[1], 2.0 * r[0] * r[1]] for r in rows]


def test_columns_mixed_with_examples_are_refused_with_the_way_to_write_them() -> None:
    with pytest.raises(ValueError, match=r"x mixes batch columns .* pass either the list of examples .* or tapegrad.batch"):
        tg.vmap(lambda x: x[0] + x[1], backend="python")([tg.batch([1.0, 2.0], "python"), [3.0, 4.0]])
    np = pytest.importorskip("numpy")
    with pytest.raises(ValueError, match=r"example 1 of x has shape array\(shape=\(3,\)\) but example 0 has shape array\(shape=\(2,\)\)"):
        tg.vmap(lambda x: x[0], backend="python")([np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0])])


# -- the float code's errors and nans -----------------------------------------------------------


POWERS: list[tuple[str, Callable[[Any], Any], list[float]]] = [
    ("x ** 0.5", lambda x: x**0.5, [4.0, -1.0]),
    ("2.0 ** x", lambda x: 2.0**x, [1.0, 2000.0]),
    ("x ** -1.0", lambda x: x**-1.0, [2.0, 0.0]),
    ("sin(x)", tg.sin, [1.0, INF]),
    ("cos(x)", tg.cos, [1.0, -INF]),
    ("1e10 / x", lambda x: 1e10 / x, [2.0, 0.0]),
    ("x / 0.0", lambda x: x / 0.0, [INF]),
    ("nan / 0.0", lambda x: x / 0.0, [NAN]),
    ("x % 0.0", lambda x: x % 0.0, [NAN]),
    ("log(x)", tg.log, [1.0, NAN, -INF]),
    ("sqrt(x)", tg.sqrt, [1.0, -INF]),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, f, xs", POWERS, ids=[p[0] for p in POWERS])
def test_batches_raise_where_the_traced_loop_raises(backend: str, name: str, f: Callable[[Any], Any], xs: list[float]) -> None:
    # The loop runs on traced values (a record each), as a per-example function under grad does.
    expected = loop_or_error(lambda x: tg.value_and_grad(lambda t: f(t))(x)[0], xs)
    assert isinstance(expected, type), f"{name}: the loop should raise on {xs}"
    bad = next(k for k, x in enumerate(xs) if loop_or_error(lambda t: tg.value_and_grad(lambda s: f(s))(t)[0], [x]) is expected)
    with pytest.raises(expected, match=rf"example {bad} of the batch"):
        tg.vmap(f, backend=backend)(xs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_nan_where_the_float_code_gives_nan(backend: str) -> None:
    cases: list[tuple[Callable[[Any], Any], list[float]]] = [
        (tg.sin, [NAN, 1.0]),
        (lambda x: x * 0.0, [INF, 1.0]),
        (lambda x: x - x, [INF, -INF]),
        (tg.exp, [NAN, -INF]),
        (lambda x: x**2.0, [NAN, INF]),
        (tg.tanh, [NAN, INF]),
    ]
    for f, xs in cases:
        assert same(list(tg.vmap(f, backend=backend)(xs)), [float(f(x)) for x in xs], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_mean_over_both_infinities_is_nan_as_in_the_loop(backend: str) -> None:
    xs = [INF, 1.0, -INF]
    per_example = tg.vmap(lambda x: x * 1.0, backend=backend)(xs)
    assert math.isnan(tg.mean(xs))
    assert math.isnan(tg.mean(per_example))
    assert math.isnan(tg.sum(per_example))
    assert tg.sum(tg.vmap(lambda x: x * 1.0, backend=backend)([INF, 1.0])) == INF
    # an overflowing partial sum is inf, as the left-to-right sum gives
    assert tg.sum(tg.vmap(lambda x: x * 1.0, backend=backend)([1.7e308, 1.7e308])) == INF


# -- where, clip, maximum: only the chosen side is swept, example by example --------------------


def loop_grads(f: Callable[[Any], Any], xs: Sequence[float]) -> Any:
    """``[grad(f)(x) for x in xs]``, or the type of the first error it raises."""
    return loop_or_error(tg.grad(f), xs)


BRANCHES: list[tuple[str, Callable[[Any], Any], list[float]]] = [
    ("where sqrt at 0", lambda x: tg.where(x > 0.0, tg.sqrt(x), 0.0), [4.0, 0.0, 1.0]),
    ("where pow at a zero base", lambda x: tg.where(x > 0.0, x**0.5, 0.0), [4.0, 0.0, 1.0]),
    ("where hides nan and inf", lambda x: tg.where(x < 10.0, (0.5 - x) ** 2, 0.0), [1.0, NAN, 3.0, INF]),
    ("where atan2 at the origin", lambda x: tg.where(x != 0.0, tg.atan2(x, x), 0.0), [1.0, 0.0, 3.0]),
    ("nested where", lambda x: tg.where(x > 0.0, tg.where(x > 1.0, tg.sqrt(abs(x - 1.0)), tg.sqrt(x)), 0.0), [2.0, 1.0, 0.0, 0.25]),
    ("maximum above sqrt", lambda x: tg.maximum(tg.sqrt(x), 1.0), [4.0, 0.0, 1.0]),
    ("minimum with nan", lambda x: tg.minimum(x, 1.0) * 3.0, [0.5, NAN, 1.0, 2.0]),
    ("clip above sqrt", lambda x: tg.clip(tg.sqrt(x), 0.5, 1.5), [4.0, 0.0, 1.0, 0.25]),
    ("clip with infinite bounds", lambda x: tg.clip(x * x, -INF, 4.0), [1.0, 3.0, INF]),
    ("hypot at the origin", lambda x: tg.hypot(x, 0.0) + tg.hypot(x, x), [0.0, 1.0, -2.0]),
    ("pow with exponent 0", lambda x: x**0.0 + x**2.0, [0.0, 1.0, -3.0]),
    ("a zero base to a traced power", lambda x: tg.where(x > 0.0, (x - x) ** x, 1.0), [2.0, 0.0, 3.0]),
    ("relu", lambda x: tg.relu(x) * x, [-1.0, 0.0, 2.0, INF]),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, f, xs", BRANCHES, ids=[b[0] for b in BRANCHES])
def test_per_example_gradients_through_branches_equal_the_loop(backend: str, name: str, f: Callable[[Any], Any], xs: list[float]) -> None:
    expected = loop_grads(f, xs)
    assert isinstance(expected, list), f"{name}: the loop raised {expected}"
    assert same(list(tg.vmap(tg.grad(f), backend=backend)(xs)), expected, backend)
    assert same(list(tg.jit(tg.vmap(tg.grad(f), backend=backend))(tg.batch(xs, backend))), expected, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, f, xs", BRANCHES, ids=[b[0] for b in BRANCHES])
def test_tangents_through_branches_equal_the_loop(backend: str, name: str, f: Callable[[Any], Any], xs: list[float]) -> None:
    expected = loop_or_error(lambda x: tg.jvp(f, (x,), (1.0,))[1], xs)
    if not isinstance(expected, list):  # forward mode has no zero to skip: sqrt's tangent at 0 divides by zero
        with pytest.raises(expected, match=r"example \d+ of the batch"):
            tg.vmap(lambda x: tg.jvp(f, (x,), (1.0,))[1], backend=backend)(xs)
        return
    assert same(list(tg.vmap(lambda x: tg.jvp(f, (x,), (1.0,))[1], backend=backend)(xs)), expected, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_masked_nan_example_does_not_reach_the_gradient_of_the_mean(backend: str) -> None:
    X = [1.0, NAN, 3.0, INF]
    mask = [1.0, 0.0, 1.0, 0.0]

    def per_example(p: Any, x: Any, m: Any) -> Any:
        return tg.where(m > 0.0, (p - x) ** 2, 0.0)

    def batched(p: Any) -> Any:
        return tg.mean(tg.vmap(per_example, in_axes=(None, 0, 0), backend=backend)(p, X, mask))

    expected = tg.grad(lambda p: tg.mean([per_example(p, x, m) for x, m in zip(X, mask)]))(0.5)
    assert expected == pytest.approx(((0.5 - 1.0) + (0.5 - 3.0)) * 2.0 / 4.0, rel=1e-15)
    assert tg.grad(batched)(0.5) == pytest.approx(expected, rel=1e-12)
    grads = tg.vmap(tg.grad(per_example), in_axes=(None, 0, 0), backend=backend)(0.5, X, mask)
    assert same(list(grads), [tg.grad(per_example)(0.5, x, m) for x, m in zip(X, mask)], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_error_on_a_chosen_example_still_names_it(backend: str) -> None:
    f: Callable[[Any], Any] = lambda x: tg.where(x > -1.0, tg.sqrt(x * x), 0.0)
    assert loop_grads(f, [-2.0, 0.0]) is ZeroDivisionError
    with pytest.raises(ZeroDivisionError, match=r"record v\d+ = sqrt.*example 1 of the batch"):
        tg.vmap(tg.grad(f), backend=backend)([-2.0, 0.0, 1.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_issue_pattern_of_a_guarded_sqrt(backend: str) -> None:
    f: Callable[[Any], Any] = lambda x: tg.where(x > 0, tg.sqrt(x), 0)
    assert [tg.grad(f)(float(x)) for x in [4, 0, 1]] == [0.25, 0.0, 0.5]
    assert list(tg.vmap(tg.grad(f), backend=backend)([4, 0, 1])) == [0.25, 0.0, 0.5]


# -- label errors under vmap name only the wrong labels ------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_label_error_under_vmap_lists_only_the_wrong_labels(backend: str) -> None:
    from tapegrad import nn

    scores = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6]
    signed = [1.0, -1.0, 2.0, 1.0, -1.0, 7.0]
    with pytest.raises(ValueError, match=r"svm_hinge_loss: expected labels in \{-1, \+1\}, found labels \{2\.0, 7\.0\}\.$"):
        tg.vmap(lambda s, y: nn.svm_hinge_loss([s], [y]), backend=backend)(scores, signed)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: expected labels in \{0, 1\}, found labels \{-1\.0\}\. For -1/\+1 labels"):
        tg.vmap(lambda s, y: nn.binary_cross_entropy([s], [y]), backend=backend)(scores, [1.0, -1.0, 1.0, 0.0, 0.0, 1.0])
    logits = [[0.1, 0.2, 0.3] for _ in range(4)]
    with pytest.raises(ValueError, match=r"cross_entropy: expected class labels in 0\.\.2, found labels \{5\.0\}$"):
        tg.vmap(lambda z, y: nn.cross_entropy([z], [y]), backend=backend)(logits, [0.0, 5.0, 1.0, 2.0])
    # the right labels still pass
    good = [0.0, 2.0, 1.0, 2.0]
    per_example = tg.vmap(lambda z, y: nn.cross_entropy([z], [y]), backend=backend)(logits, good)
    assert same(list(per_example), [float(nn.cross_entropy([z], [int(y)])) for z, y in zip(logits, good)], backend)


# -- issue 19: vmap as complete as JAX's --------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_axis_size_with_nothing_mapped_repeats_the_output(backend: str) -> None:
    f: Callable[[Any], Any] = lambda a: tg.sin(a) * a
    assert list(tg.vmap(f, in_axes=None, axis_size=3, backend=backend)(0.5)) == [f(0.5)] * 3
    # the mean of three equal examples, differentiated, is the loop's
    loss = lambda p: tg.mean(tg.vmap(f, in_axes=None, axis_size=3, backend=backend)(p))
    assert tg.grad(loss)(0.5) == pytest.approx(tg.grad(lambda p: tg.mean([f(p) for _ in range(3)]))(0.5), rel=1e-15)
    assert list(tg.vmap(tg.grad(f), in_axes=None, axis_size=2, backend=backend)(0.5)) == [tg.grad(f)(0.5)] * 2
    # with mapped arguments it must agree with their length
    assert list(tg.vmap(lambda a, x: a * x, in_axes=(None, 0), axis_size=2, backend=backend)(1.5, [1.0, 2.0])) == [1.5, 3.0]
    with pytest.raises(ValueError, match=r"x has 2 examples but axis_size is 3"):
        tg.vmap(lambda a, x: a * x, in_axes=(None, 0), axis_size=3, backend=backend)(1.5, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"nothing is mapped over; mark the batched arguments with 0, or give axis_size"):
        tg.vmap(f, in_axes=None, backend=backend)(0.5)
    with pytest.raises(ValueError, match=r"axis_size must be a positive int"):
        tg.vmap(f, in_axes=None, axis_size=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_of_vmap_equals_the_double_loop(backend: str) -> None:
    M = [[1.0, -2.0, 0.5], [3.0, 4.0, -1.5]]
    C = [10.0, -20.0]

    def f(v: Any, c: Any) -> Any:
        return tg.sin(v) * c + v * v

    inner = tg.vmap(f, in_axes=(0, None), backend=backend)
    outer = tg.vmap(inner, in_axes=(0, None), backend=backend)
    assert same([v for row in outer(M, 2.0) for v in row], [float(f(v, 2.0)) for row in M for v in row], backend)
    # the inner vmap over a constant list, the outer over data
    grid = tg.vmap(lambda x: tg.vmap(lambda c: f(x, c), backend=backend)(C), backend=backend)([0.5, 1.5, 2.5])
    assert same([v for row in grid for v in row], [float(f(x, c)) for x in [0.5, 1.5, 2.5] for c in C], backend)
    # gradients: per-row gradients of a row sum, and the gradient of the mean of row means
    def row_sum(row: Any) -> Any:
        return tg.sum(tg.vmap(lambda v: f(v, 3.0), backend=backend)(row))

    per_row = tg.vmap(tg.grad(row_sum), backend=backend)(M)
    assert same([g for row in per_row for g in row], [tg.grad(lambda v: f(v, 3.0))(v) for row in M for v in row], backend)

    def loss(p: Any) -> Any:
        return tg.mean(tg.vmap(lambda row: tg.mean(tg.vmap(lambda v: f(v, p), backend=backend)(row)), backend=backend)(M))

    expected = tg.grad(lambda p: tg.mean([tg.mean([f(v, p) for v in row]) for row in M]))(2.0)
    assert tg.grad(loss)(2.0) == pytest.approx(expected, rel=1e-12)
    # under jit, with the rows as columns
    jitted = tg.jit(tg.vmap(row_sum, backend=backend))
    assert same(list(jitted(tg.batch(M, backend))), [float(row_sum(row)) for row in M], backend)
    with pytest.raises(TypeError, match=r"inside another vmap: y is mapped over \(in_axes 0\) but is a (ListBatch|ArrayBatch), not a sequence"):
        tg.vmap(lambda x: tg.vmap(lambda y: y)(x), backend=backend)([1.0, 2.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_axes_shaped_like_the_argument(backend: str) -> None:
    def f(batch: Any, scale: Any) -> Any:
        return (batch["w"] * batch["x"][0] + batch["x"][1]) * scale[0] + scale[1]

    W = 1.5
    X = [[1.0, 2.0], [3.0, -4.0], [0.5, 0.25]]
    expected = [float(f({"w": W, "x": x}, (2.0, s))) for x, s in zip(X, [10.0, 20.0, 30.0])]
    mapped = tg.vmap(f, in_axes=({"w": None, "x": 0}, (None, 0)), backend=backend)
    out = mapped({"w": W, "x": X}, (2.0, [10.0, 20.0, 30.0]))
    assert same(list(out), expected, backend)
    # gradients with respect to the broadcast part sum over the examples, as the loop's
    loss = lambda w: tg.mean(mapped({"w": w, "x": X}, (2.0, [10.0, 20.0, 30.0])))
    loop = lambda w: tg.mean([f({"w": w, "x": x}, (2.0, s)) for x, s in zip(X, [10.0, 20.0, 30.0])])
    assert tg.grad(loss)(W) == pytest.approx(tg.grad(loop)(W), rel=1e-12)
    # per-example gradients with respect to the mapped part
    per_example = tg.vmap(tg.grad(f), in_axes=({"w": None, "x": 0}, None), backend=backend)({"w": W, "x": X}, (2.0, 1.0))
    assert [g["x"] for g in per_example] == [tg.grad(f)({"w": W, "x": x}, (2.0, 1.0))["x"] for x in X]
    assert all(g["w"] == tg.grad(f)({"w": W, "x": x}, (2.0, 1.0))["w"] for g, x in zip(per_example, X))
    # the caller's dict is not changed
    arg = {"w": W, "x": X}
    mapped(arg, (2.0, [10.0, 20.0, 30.0]))
    assert arg == {"w": W, "x": [[1.0, 2.0], [3.0, -4.0], [0.5, 0.25]]}
    with pytest.raises(ValueError, match=r"in_axes entry for batch is a dict with keys 'w', 'x', but batch has keys 'w';"):
        mapped({"w": W}, (2.0, [1.0]))
    with pytest.raises(ValueError, match=r"in_axes entry for scale has 2 entries, but scale is a tuple of 3"):
        mapped({"w": W, "x": X}, (2.0, [1.0, 2.0, 3.0], 4.0))
    with pytest.raises(ValueError, match=r"in_axes\[1\]\[0\] is 2; an axis is 0 .*, 1 .* or None"):
        tg.vmap(f, in_axes=(0, (2, 0)))(X, X)


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_axes_1_maps_over_the_second_axis(backend: str) -> None:
    f: Callable[[Any], Any] = lambda col: col[0] * 2.0 - col[1] * col[2]
    rows = [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]
    columns = [[r[j] for r in rows] for j in range(4)]
    expected = [float(f(c)) for c in columns]
    assert list(tg.vmap(f, in_axes=1, backend=backend)(rows)) == expected
    per_column = tg.vmap(tg.grad(f), in_axes=1, backend=backend)(rows)
    assert [list(g) for g in per_column] == [tg.grad(f)(c) for c in columns]
    if backend == "numpy":
        np = pytest.importorskip("numpy")
        A = np.array(rows)
        assert list(tg.vmap(f, in_axes=1, backend=backend)(A)) == expected
        assert A.tolist() == rows  # not changed
    with pytest.raises(ValueError, match=r"x is mapped over its second axis \(in_axes 1\), so it must be an array of at least 2 dimensions"):
        tg.vmap(lambda x: x, in_axes=1, backend=backend)([1.0, 2.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_axes_1_puts_the_examples_along_the_second_axis(backend: str) -> None:
    f: Callable[[Any], Any] = lambda x: [x * 2.0, tg.sin(x), x * x]
    X = [0.5, 1.5, -2.0, 3.0]
    loop = [[float(v) for v in f(x)] for x in X]
    turned = tg.vmap(f, out_axes=1, backend=backend)(X)
    assert turned == [[row[j] for row in loop] for j in range(3)]
    assert tg.vmap(lambda x: (x, x + 1.0), out_axes=1, backend=backend)(X) == (X, [x + 1.0 for x in X])
    assert tg.vmap(lambda x: {"a": [x, -x]}, out_axes=1, backend=backend)(X) == {"a": [X, [-x for x in X]]}
    # under a transform the turned output is one batched value per position, which mean reduces
    loss = lambda w: tg.mean(tg.vmap(lambda w, x: [w * x, w * w], in_axes=(None, 0), out_axes=1, backend=backend)(w, X)[0])
    assert tg.grad(loss)(2.0) == pytest.approx(tg.grad(lambda w: tg.mean([w * x for x in X]))(2.0), rel=1e-12)
    if backend == "numpy":
        np = pytest.importorskip("numpy")
        out = tg.vmap(lambda x: np.array([x * 2.0, x * 3.0]), out_axes=1, backend=backend)(X)
        assert out.shape == (2, 4) and out.tolist() == [[x * 2.0 for x in X], [x * 3.0 for x in X]]
    with pytest.raises(ValueError, match=r"out_axes=1\): each example's output is a float, which has no axis"):
        tg.vmap(lambda x: x * 2.0, out_axes=1, backend=backend)(X)
    with pytest.raises(ValueError, match=r"out_axes must be 0, 1 or None, got 2"):
        tg.vmap(f, out_axes=2)  # type: ignore[call-overload]


SECOND_ORDER: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("where", lambda p, x: tg.where(x > 0.0, p * p * x, tg.sin(p) * x)),
    ("where over sqrt", lambda p, x: tg.where(x > 0.0, tg.sqrt(p * abs(x)), p * p)),
    ("where hides nan", lambda p, x: tg.where(x < 2.0, (p - x) ** 3, p)),
    ("maximum", lambda p, x: tg.maximum(p * x, p * p) * p),
    ("minimum", lambda p, x: tg.minimum(p * x, 0.5) ** 2),
    ("clip", lambda p, x: tg.clip(p * x, -1.0, 1.0) * p),
    ("hypot", lambda p, x: tg.hypot(p * x, p - 0.7) * p),
    ("pow", lambda p, x: tg.where(x > 0.0, (p * abs(x)) ** 1.5, p**3.0)),
]
SECOND_X = [1.0, -2.0, 0.5, 3.0, NAN, 0.0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, f", SECOND_ORDER, ids=[s[0] for s in SECOND_ORDER])
def test_second_derivatives_through_branches_under_vmap_equal_the_loop(backend: str, name: str, f: Callable[[Any, Any], Any]) -> None:
    def loop(p: Any) -> Any:
        return tg.mean([f(p, x) for x in SECOND_X])

    def batched(p: Any) -> Any:
        return tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(p, SECOND_X))

    for p in (0.7, 1.3):
        expected = tg.hessian(loop)(p)
        for got in (tg.hessian(batched)(p), tg.grad(tg.grad(batched))(p), tg.jvp(tg.grad(batched), (p,), (1.0,))[1]):
            assert same([got], [expected], "numpy"), (name, p, got, expected)
        per_example = tg.vmap(tg.grad(tg.grad(f)), in_axes=(None, 0), backend=backend)(p, SECOND_X)
        assert same(list(per_example), [tg.grad(tg.grad(f))(p, x) for x in SECOND_X], backend)


GAPPED_X = [1.0, -2.0, 0.5, 3.0, NAN, 0.0, -math.inf]
Fn = Callable[[Callable[[Any], Any]], Callable[[Any], Any]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_outer_sweep_never_differentiates_an_unchosen_example(backend: str) -> None:
    # sqrt's rule at x = 0 (example 5) divides by zero, and its records only exist for the chosen
    # examples; a sum over the batch (the broadcast p) sends the outer sweep's adjoint to every example.
    f: Callable[[Any, Any], Any] = lambda p, x: tg.where(x > 0.0, tg.sqrt(p * abs(x)), p * p)
    loop = lambda p: tg.mean([f(p, x) for x in GAPPED_X])
    batched = lambda p: tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(p, GAPPED_X))
    second: Fn = lambda h: tg.grad(tg.grad(h))
    third: Fn = lambda h: tg.grad(tg.grad(tg.grad(h)))
    third_through_tangents: Fn = lambda h: tg.grad(tg.hessian(h))  # a forward sweep under an outer tape
    # The inner sweep's seed traced by the outer tape (p times the loss): d/dp (p * loss'(p)).
    seeded: Fn = lambda h: (lambda p: tg.grad(lambda q: p * h(q))(p))
    for p in (0.7, 1.3):
        for order in (second, third, third_through_tangents):
            expected = order(loop)(p)
            assert math.isfinite(expected)  # (so that nan == nan cannot pass)
            assert same([order(batched)(p)], [expected], "numpy"), (p, expected)
        assert same([tg.grad(seeded(batched))(p)], [tg.grad(seeded(loop))(p)], "numpy")
        assert same([tg.grad(seeded(loop))(p)], [tg.grad(loop)(p) + p * tg.grad(tg.grad(loop))(p)], "numpy")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_jitted_gradient_differentiated_again_follows_each_batch(backend: str) -> None:
    f: Callable[[Any, Any], Any] = lambda p, x: tg.where(x > 0.0, tg.sqrt(p * abs(x)), p * p)
    step = tg.jit(tg.grad(lambda p, X: tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(p, X))))
    for X in (GAPPED_X, [0.0, 2.0], [-1.0, 0.0, 4.0, 0.25], [0.0, 0.0, -3.0]):
        expected = tg.grad(tg.grad(lambda p: tg.mean([f(p, x) for x in X])))(0.7)
        got = tg.grad(lambda p: step(p, tg.batch(X, backend)))(0.7)
        assert same([got], [expected], "numpy"), (X, got, expected)
    # jit of the second derivative itself would need a branch per example at every replay: refused.
    with pytest.raises(tg.BatchBranchError, match=r"inside jit"):
        tg.jit(tg.grad(tg.grad(lambda p, X: tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(p, X)))))(0.7, tg.batch(GAPPED_X, backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_tangent_of_a_mean_through_where_counts_only_the_chosen_examples(backend: str) -> None:
    X = [1.0, -2.0, 4.0]
    f: Callable[[Any, Any], Any] = lambda p, x: tg.where(x > 0.0, p * x, tg.sqrt(p) * 100.0)
    batched = lambda p: tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(p, X))
    loop = lambda p: tg.mean([f(p, x) for x in X])
    assert tg.jvp(batched, (0.5,), (1.0,))[1] == pytest.approx(tg.jvp(loop, (0.5,), (1.0,))[1], rel=1e-12)


def test_second_derivatives_through_branches_under_jit_are_refused_not_frozen() -> None:
    # Every replay would need its own choice of branch per example; a frozen choice would be wrong.
    f: Callable[[Any, Any], Any] = lambda p, x: tg.where(x > 0.0, p * p * x, tg.sin(p) * x)
    batched = lambda p, X: tg.mean(tg.vmap(f, in_axes=(None, 0), backend="python")(p, X))
    with pytest.raises(tg.BatchBranchError, match=r"second derivative of a vmapped function inside jit.*without jit"):
        tg.jit(tg.hessian(batched))(0.7, tg.batch([1.0, -2.0], "python"))
    with pytest.raises(tg.BatchBranchError, match=r"inside jit"):
        tg.jit(tg.vmap(tg.grad(tg.grad(f)), in_axes=(None, 0), backend="python"))(0.7, tg.batch([1.0, -2.0], "python"))
    # the first derivative under jit replays each example's branch
    step = tg.jit(tg.vmap(tg.grad(f), in_axes=(None, 0), backend="python"))
    for X in ([1.0, -2.0], [-1.0, 2.0], [3.0, 4.0]):
        assert list(step(0.7, tg.batch(X, "python"))) == [tg.grad(f)(0.7, x) for x in X]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy's inf - inf in the unchosen side
def test_jit_replays_of_a_masked_mean_choose_each_examples_side_again(backend: str) -> None:
    def per_example(p: Any, x: Any, m: Any) -> Any:
        return tg.where(m > 0.0, (p - x) ** 2, tg.sqrt(x - x))

    step = tg.jit(tg.grad(lambda p, X, M: tg.mean(tg.vmap(per_example, in_axes=(None, 0, 0), backend=backend)(p, X, M))))
    for X, M in (([1.0, NAN, 3.0], [1.0, 0.0, 1.0]), ([INF, 2.0, 0.0], [0.0, 1.0, 1.0]), ([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])):
        expected = tg.grad(lambda p: tg.mean([per_example(p, x, m) for x, m in zip(X, M)]))(0.5)
        assert step(0.5, tg.batch(X, backend), tg.batch(M, backend)) == pytest.approx(expected, rel=1e-12)
