"""vmap: one example's program run on whole batches, checked against the plain Python loop.

Every property is checked on both back ends: "python" (lists of floats,
always there; results equal the loop's bit for bit) and "numpy" (skipped
without NumPy; results equal the loop's to 1e-12 relative, since NumPy's
exp or log may differ from math's in the last bit). Reductions over the
batch round differently from a left-to-right sum, so batch losses and their
gradients are compared to 1e-12 relative on both.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import nn
from tapegrad.core.batch import ListBatch, numpy_available
from tapegrad.core.tree import flatten
from tapegrad.testing.strategies import Expression, expressions, floats

BACKENDS = [
    "python",
    pytest.param("numpy", marks=pytest.mark.skipif(not numpy_available(), reason="NumPy is an optional extra")),
]


def close(a: Any, b: Any, backend: str, rel: float = 1e-12) -> bool:
    """Trees equal leaf by leaf: exactly on the Python back end, to ``rel`` on NumPy."""
    la, ta, _ = flatten(a, "a", with_paths=False)
    lb, tb, _ = flatten(b, "b", with_paths=False)
    if ta != tb:
        return False
    if backend == "python":
        return la == lb
    return all(x == pytest.approx(y, rel=rel, abs=1e-300) or (math.isnan(x) and math.isnan(y)) for x, y in zip(la, lb))


def approx_tree(a: Any, b: Any, rel: float = 1e-12) -> bool:
    la, ta, _ = flatten(a, "a", with_paths=False)
    lb, tb, _ = flatten(b, "b", with_paths=False)
    return ta == tb and all(x == pytest.approx(y, rel=rel, abs=1e-14) for x, y in zip(la, lb))


# -- the moons network, per example --------------------------------------------------------


def hinge(params: nn.MLPParams, x: Sequence[tg.Scalar], y: tg.Scalar) -> tg.Scalar:
    return tg.relu(1.0 - y * nn.mlp(params, x))


def data(n: int, seed: int = 0) -> tuple[list[list[float]], list[float]]:
    rng = random.Random(seed)
    xs = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(n)]
    return xs, [rng.choice([-1.0, 1.0]) for _ in range(n)]


PARAMS = nn.init_mlp(random.Random(1), [2, 6, 5, 1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_equals_the_loop(backend: str) -> None:
    X, Y = data(40)
    out = tg.vmap(hinge, in_axes=(None, 0, 0), backend=backend)(PARAMS, X, Y)
    loop = [hinge(PARAMS, x, y) for x, y in zip(X, Y)]
    assert len(out) == 40 and close(list(out), loop, backend)
    if backend == "python":
        assert out == loop  # compares equal to the list, as documented
    assert close(out[3], loop[3], backend) and close(list(out)[-1], loop[-1], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_grad_of_the_mean_equals_the_loops_gradient(backend: str) -> None:
    X, Y = data(30)

    def batched(p: nn.MLPParams) -> tg.Scalar:
        return tg.mean(tg.vmap(hinge, in_axes=(None, 0, 0), backend=backend)(p, X, Y))

    def loop(p: nn.MLPParams) -> tg.Scalar:
        total: tg.Scalar = 0.0
        for x, y in zip(X, Y):
            total = total + hinge(p, x, y)
        return total * (1.0 / len(X))

    value, g = tg.value_and_grad(batched)(PARAMS)
    value_loop, g_loop = tg.value_and_grad(loop)(PARAMS)
    assert value == pytest.approx(value_loop, rel=1e-12)
    assert approx_tree(g, g_loop)
    # the tape is one example's program: its length does not depend on the batch size
    # (trace makes every argument an input; columns are one input each)
    record = tg.trace(lambda p, X, Y: tg.mean(tg.vmap(hinge, in_axes=(None, 0, 0), backend=backend)(p, X, Y)))
    small, large = data(3), data(300)
    assert len(record(PARAMS, tg.batch(small[0], backend), tg.batch(small[1], backend))) == len(
        record(PARAMS, tg.batch(large[0], backend), tg.batch(large[1], backend))
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_of_grad_gives_per_example_gradients(backend: str) -> None:
    X, Y = data(12)
    per_example = tg.vmap(tg.grad(hinge), in_axes=(None, 0, 0), backend=backend)(PARAMS, X, Y)
    assert len(per_example) == 12
    for k, (x, y) in enumerate(zip(X, Y)):
        assert close(per_example[k], tg.grad(hinge)(PARAMS, x, y), backend)
    # and with respect to the data: one input gradient per example
    saliency = tg.vmap(tg.grad(hinge, argnums=1), in_axes=(None, 0, 0), backend=backend)(PARAMS, X, Y)
    assert close(list(saliency), [tg.grad(hinge, argnums=1)(PARAMS, x, y) for x, y in zip(X, Y)], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_jit_composes_both_ways(backend: str) -> None:
    X, Y = data(25)
    Xb, Yb = tg.batch(X, backend), tg.batch(Y, backend)

    def loss(p: nn.MLPParams, X: Any, Y: Any) -> tg.Scalar:
        return tg.mean(tg.vmap(hinge, in_axes=(None, 0, 0), backend=backend)(p, X, Y)) + 1e-3 * nn.l2_penalty(p)

    eager = tg.value_and_grad(loss)
    step = tg.jit(eager)
    for k in range(3):
        assert step(PARAMS, Xb, Yb) == eager(PARAMS, Xb, Yb)
    assert (step.stats.traces, step.stats.replays) == (1, 2)
    # a batch of another size replays the same program: it is one example's
    X2, Y2 = data(7, seed=3)
    assert step(PARAMS, tg.batch(X2, backend), tg.batch(Y2, backend)) == eager(PARAMS, X2, Y2)
    assert step.stats.traces == 1

    per_example = tg.jit(tg.vmap(tg.grad(hinge), in_axes=(None, 0, 0), backend=backend))
    expected = tg.vmap(tg.grad(hinge), in_axes=(None, 0, 0), backend=backend)(PARAMS, X, Y)
    assert per_example(PARAMS, Xb, Yb) == expected == per_example(PARAMS, Xb, Yb)
    assert per_example.stats.replays == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_jvp_and_hessian_compose(backend: str) -> None:
    X, Y = data(6)
    w = [0.3, -0.7]

    def per_example(w: Sequence[tg.Scalar], x: Sequence[tg.Scalar], y: tg.Scalar) -> tg.Scalar:
        return tg.softplus(-y * (w[0] * x[0] + w[1] * x[1])) + tg.tanh(w[0] * w[1] * x[1])

    def batched(w: Sequence[tg.Scalar]) -> tg.Scalar:
        return tg.mean(tg.vmap(per_example, in_axes=(None, 0, 0), backend=backend)(w, X, Y))

    def loop(w: Sequence[tg.Scalar]) -> tg.Scalar:
        total: tg.Scalar = 0.0
        for x, y in zip(X, Y):
            total = total + per_example(w, x, y)
        return total * (1.0 / len(X))

    assert approx_tree(tg.hessian(batched)(w), tg.hessian(loop)(w), rel=1e-10)
    assert tg.jvp(batched, (w,), ([1.0, 0.5],))[1] == pytest.approx(tg.jvp(loop, (w,), ([1.0, 0.5],))[1], rel=1e-12)
    # jvp of the vmapped function itself: one tangent per example
    _, tangents = tg.jvp(lambda w: tg.vmap(per_example, in_axes=(None, 0, 0), backend=backend)(w, X, Y), (w,), ([1.0, 0.0],))
    assert close(list(tangents), [tg.jvp(lambda w: per_example(w, x, y), (w,), ([1.0, 0.0],))[1] for x, y in zip(X, Y)], backend)


# -- random programs -----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=25, deadline=None)
@given(expressions(n_vars=3), st.lists(st.lists(floats(), min_size=2, max_size=2), min_size=1, max_size=6), st.lists(floats(), min_size=1, max_size=1))
def test_random_programs_against_the_loop(backend: str, expr: Expression, rows: list[list[float]], shared: list[float]) -> None:
    def f(a: Sequence[tg.Scalar], row: Sequence[tg.Scalar]) -> tg.Scalar:
        return expr([a[0], row[0], row[1]])

    out = tg.vmap(f, in_axes=(None, 0), backend=backend)(shared, rows)
    assert close(list(out), [f(shared, r) for r in rows], backend)
    # grad of the mean, and per-example gradients, against the loop
    g = tg.grad(lambda a: tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(a, rows)))(shared)
    g_loop = tg.grad(lambda a: sum((f(a, r) for r in rows), 0.0) * (1.0 / len(rows)))(shared)
    assert approx_tree(g, g_loop, rel=1e-9)
    per = tg.vmap(tg.grad(f), in_axes=(None, 0), backend=backend)(shared, rows)
    assert close(list(per), [tg.grad(f)(shared, r) for r in rows], backend, rel=1e-11)
    # and jit of the gradient replays it
    step = tg.jit(tg.grad(lambda a, R: tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(a, R))))
    cols = tg.batch(rows, backend)
    assert step(shared, cols) == step(shared, cols) == tg.grad(lambda a, R: tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(a, R)))(shared, cols)
    # jit of the per-example gradients too: its replay equals the eager vmap(grad)
    per_step = tg.jit(lambda a, R: tg.vmap(tg.grad(f), in_axes=(None, 0), backend=backend)(a, R).columns)
    eager_cols = tg.vmap(tg.grad(f), in_axes=(None, 0), backend=backend)(shared, cols).columns
    for _ in range(2):  # the trace, then a replay
        assert [c.values() for c in flatten(per_step(shared, cols), "jit", with_paths=False)[0]] == [
            c.values() for c in flatten(eager_cols, "eager", with_paths=False, allow=lambda v: True)[0]
        ]


# -- the result ----------------------------------------------------------------------------


def test_the_result_is_a_sequence_of_per_example_outputs() -> None:
    out = tg.vmap(lambda x: {"double": x * 2.0, "pair": (x, x + 1.0)}, backend="python")([1.0, 2.0])
    assert out == [{"double": 2.0, "pair": (1.0, 2.0)}, {"double": 4.0, "pair": (2.0, 3.0)}]
    assert len(out) == 2 and out[1]["pair"] == (2.0, 3.0) and out[-1]["double"] == 4.0
    assert [o["double"] for o in out] == [2.0, 4.0]
    # an output that ignores the batch is the same for every example
    assert tg.vmap(lambda x: 5.0, backend="python")([1.0, 2.0, 3.0]) == [5.0, 5.0, 5.0]


def test_under_a_transform_the_result_stays_batched() -> None:
    def f(w: tg.Scalar) -> tg.Scalar:
        out = tg.vmap(lambda w, x: w * x, in_axes=(None, 0), backend="python")(w, [1.0, 2.0, 3.0])
        with pytest.raises(TypeError, match="reduce it with tapegrad.sum or tapegrad.mean"):
            out[0]
        return tg.sum(out)

    assert tg.grad(f)(2.0) == 6.0
    tape = tg.trace(f)(2.0)
    # w is used by every example: a broadcast record, whose transpose sums the examples' adjoints
    assert [r.primitive.name for r in tape.records] == ["input", "broadcast", "mul", "batch_sum"]
    assert "batch of 3: [2, 4, 6]" in str(tape)  # printing shows which values are batched


def test_an_unreduced_batch_is_not_a_gradient_target() -> None:
    with pytest.raises(TypeError, match=r"returned a batch of 3 values .* tapegrad.mean or tapegrad.sum"):
        tg.grad(lambda w: tg.vmap(lambda w, x: w * x, in_axes=(None, 0), backend="python")(w, [1.0, 2.0, 3.0]).leaves[0])(1.0)


# -- input forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_columns_arrays_and_dicts(backend: str) -> None:
    X = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    f: Callable[[Any], Any] = lambda x: x[0] * 10.0 + x[1]
    expected = [12.0, 34.0, 56.0]
    assert list(tg.vmap(f, backend=backend)(X)) == expected
    assert list(tg.vmap(f, backend=backend)(tg.batch(X, backend))) == expected
    rows = [{"a": 1.0, "b": [2.0]}, {"a": 3.0, "b": [4.0]}]
    assert list(tg.vmap(lambda r: r["a"] - r["b"][0], backend=backend)(rows)) == [-1.0, -1.0]
    if backend == "numpy":
        np = pytest.importorskip("numpy")
        assert list(tg.vmap(f, backend=backend)(np.array(X))) == expected
        assert list(tg.vmap(lambda x: x * 2.0, backend=backend)(np.array([1.0, 2.0]))) == [2.0, 4.0]
        assert list(tg.vmap(lambda d: d["u"] + d["v"], backend=backend)({"u": np.array([1.0, 2.0]), "v": np.array([3.0, 4.0])})) == [4.0, 6.0]


def test_data_traced_by_an_outer_grad_runs_example_by_example() -> None:
    X = [[1.0, 2.0], [3.0, 4.0]]

    def loss(X: Any) -> tg.Scalar:
        return tg.mean(tg.vmap(lambda w, x: w * x[0] * x[1], in_axes=(None, 0), backend="python")(2.0, X))

    assert tg.grad(loss)(X) == [[2.0, 1.0], [4.0, 3.0]]


# -- errors that say what and where ------------------------------------------------------------


def test_bad_batches_are_named() -> None:
    f = tg.vmap(lambda p, x, y: p * x[0] + y, in_axes=(None, 0, 0), backend="python")
    with pytest.raises(ValueError, match=r"example 2 of x has shape \[\*\] but example 0 has shape \[\*, \*\].*no leaf x\[2\]\[1\]"):
        f(1.0, [[1.0, 2.0], [3.0, 4.0], [5.0]], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"x is an empty batch"):
        f(1.0, [], [])
    with pytest.raises(ValueError, match=r"y has 2 examples but x has 3"):
        f(1.0, [[1.0], [2.0], [3.0]], [1.0, 2.0])
    with pytest.raises(TypeError, match=r"x is mapped over \(in_axes 0\) but is a float"):
        f(1.0, 2.0, [1.0])
    with pytest.raises(ValueError, match=r"in_axes has 2 entries but the function was called with 3"):
        tg.vmap(lambda a, b, c: a, in_axes=(0, None))(1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="backend must be"):
        tg.vmap(lambda a: a, backend="torch")


def test_branching_on_a_batched_value_says_to_use_where() -> None:
    def f(x: tg.Scalar) -> tg.Scalar:
        return x * 2.0 if x > 0.0 else -x

    with pytest.raises(tg.BatchBranchError, match=r"`a batch > 0.0` compares batched values.*tapegrad.where"):
        tg.vmap(f, backend="python")([1.0, -2.0])
    with pytest.raises(tg.BatchBranchError, match=r"`v\d+ > 0.0` compares batched values"):
        tg.grad(lambda w: tg.mean(tg.vmap(lambda w, x: f(w * x), in_axes=(None, 0), backend="python")(w, [1.0, -2.0])))(1.0)
    # relu and abs need no branch; branches on unbatched values work as usual
    assert list(tg.vmap(lambda x: tg.relu(x) + abs(x), backend="python")([1.0, -2.0])) == [2.0, 2.0]
    assert list(tg.vmap(lambda k, x: x * k if k > 0 else x, in_axes=(None, 0), backend="python")(3.0, [1.0, 2.0])) == [3.0, 6.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_domain_error_names_the_example(backend: str) -> None:
    with pytest.raises(ValueError, match=r"example 2 of the batch: log\(-1\.0\): math domain error"):
        tg.vmap(tg.log, backend=backend)([1.0, 2.0, -1.0])
    with pytest.raises(ZeroDivisionError, match=r"example 1 of the batch"):
        tg.vmap(lambda x: 1.0 / x, backend=backend)([1.0, 0.0])
    with pytest.raises(ZeroDivisionError, match=r"record v\d+ = sqrt.*example 1 of the batch"):
        tg.grad(lambda w: tg.mean(tg.vmap(lambda w, x: tg.sqrt(w * x), in_axes=(None, 0), backend=backend)(w, [1.0, 0.0])))(1.0)


def test_jit_asks_for_columns_instead_of_a_list_of_numbers() -> None:
    step = tg.jit(lambda w, X: tg.mean(tg.vmap(lambda w, x: w * x, in_axes=(None, 0), backend="python")(w, X)))
    with pytest.raises(TypeError, match=r"Pass the data as columns, tapegrad.batch\(X\)"):
        step(2.0, [1.0, 2.0])
    assert step(2.0, tg.batch([1.0, 2.0], "python")) == 3.0


def test_vmap_without_numpy_uses_python() -> None:
    out = tg.vmap(lambda x: x * 2.0, backend="python")([1.0, 2.0])
    assert all(isinstance(leaf, ListBatch) for leaf in out.leaves)


@pytest.mark.parametrize("backend", BACKENDS)
def test_where_chooses_example_by_example_and_is_replayed_by_jit(backend: str) -> None:
    def per_example(w: tg.Scalar, x: tg.Scalar) -> tg.Scalar:
        z = w * x
        return tg.where(z > 0.0, z * 2.0, -z)

    X = [1.0, -2.0, 0.5]
    assert close(list(tg.vmap(per_example, in_axes=(None, 0), backend=backend)(1.0, X)), [per_example(1.0, x) for x in X], backend)

    def loss(w: tg.Scalar, X: Any) -> tg.Scalar:
        return tg.mean(tg.vmap(per_example, in_axes=(None, 0), backend=backend)(w, X))

    def loop(w: tg.Scalar) -> tg.Scalar:
        return tg.mean([per_example(w, x) for x in X])

    step = tg.jit(tg.grad(loss))
    for w in (1.0, -1.0, 2.0):  # the comparison flips for every example between calls
        assert tg.grad(loss)(w, X) == pytest.approx(tg.grad(loop)(w), rel=1e-12)
        assert step(w, tg.batch(X, backend)) == pytest.approx(tg.grad(loop)(w), rel=1e-12)
    assert (step.stats.traces, step.stats.replays, step.stats.eager_fallbacks) == (1, 2, 0)


# -- %, round, floor, ceil, trunc on batches; // refused -------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_mod_and_rounding_on_batches_equal_the_loop(backend: str) -> None:
    def f(x: tg.Scalar) -> tuple[tg.Scalar, ...]:
        return (x % 1.5, 7.0 % x, round(x), math.floor(x), math.ceil(x), math.trunc(x))  # type: ignore[return-value]

    xs = [2.5, -1.5, 0.75, -3.25, 4.0]
    out = tg.vmap(f, backend=backend)(xs)
    assert close(list(out), [f(x) for x in xs], backend)
    assert [v for row in out for v in row] == [float(v) for x in xs for v in f(x)]  # floats, like the traced versions
    # mod's gradient, per example and of the mean, against the loop
    per = tg.vmap(tg.grad(lambda w, x: (w * x) % 1.5), in_axes=(None, 0), backend=backend)(1.25, xs)
    assert close(list(per), [tg.grad(lambda w: (w * x) % 1.5)(1.25) for x in xs], backend)
    with pytest.raises(ZeroDivisionError, match=r"example 1 of the batch: mod\(2\.0, 0\.0\)"):
        tg.vmap(lambda x, y: x % y, backend=backend)([1.0, 2.0], [1.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_floor_division_is_refused_on_batches_and_traced_values(backend: str) -> None:
    assert 1.0 // 0.1 != math.floor(1.0 / 0.1)  # why: floor(x / y) would not be Python's //
    for fn in (lambda x: x // 2.0, lambda x: 3.0 // x, lambda x: divmod(x, 2.0)):
        with pytest.raises(TypeError, match=r"x // y and divmod on a batch are not supported.*tapegrad.floor\(x / y\)"):
            tg.vmap(fn, backend=backend)([1.0, 2.0])
        with pytest.raises(TypeError, match=r"x // y and divmod on a traced scalar are not supported"):
            tg.grad(fn)(1.0)


# -- the back end and the batch's type ---------------------------------------------------------


def test_auto_takes_numpy_when_it_is_importable_and_python_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    from tapegrad.transforms import vmap as vmap_module

    kinds = {leaf.backend for leaf in tg.vmap(lambda x: x * 2.0)([1.0, 2.0]).leaves}
    assert kinds == {"numpy" if numpy_available() else "python"}
    monkeypatch.setattr(vmap_module, "numpy_available", lambda: False)
    assert {leaf.backend for leaf in tg.vmap(lambda x: x * 2.0)([1.0, 2.0]).leaves} == {"python"}
    with pytest.raises(ImportError, match=r"needs NumPy: pip install 'tapegrad\[numpy\]', or use backend='python'"):
        tg.vmap(lambda x: x * 2.0, backend="numpy")([1.0, 2.0])


@pytest.mark.parametrize("bad", ["ab", (v for v in [1.0]), {1.0, 2.0}, None])
def test_a_non_sequence_with_in_axes_0_is_named(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"x is mapped over \(in_axes 0\) but is a \w+, not a sequence of examples"):
        tg.vmap(lambda x: x * 2.0, backend="python")(bad)
