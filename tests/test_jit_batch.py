"""jit of vmapped programs: a replay follows the batch it is given, and equals eager evaluation.

The batch size is an input of a replay, never a constant of the trace: an
output that does not read the mapped data (a parameter used by every
example, a count of examples, a per-example gradient of an unused
parameter) has as many examples as the batch of the call. Each test checks
values at several batch sizes against eager evaluation and the Python loop,
on both back ends.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.core.batch import numpy_available
from tapegrad.testing.strategies import Expression, expressions, floats

BACKENDS = ["python", pytest.param("numpy", marks=pytest.mark.skipif(not numpy_available(), reason="needs NumPy"))]
SIZES = (3, 5, 1, 8)


def _data(n: int) -> list[float]:
    return [0.25 * k - 0.6 for k in range(n)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_parameter_used_by_every_example_counts_every_example(backend: str) -> None:
    def loss(p: tg.Scalar, X: Any) -> tg.Scalar:
        return tg.sum(tg.vmap(lambda p, x: tg.sin(p), in_axes=(None, 0), backend=backend)(p, X))

    step = tg.jit(tg.value_and_grad(loss))
    for n in SIZES:
        value, grad = step(0.5, tg.batch(_data(n), backend=backend))
        assert math.isclose(value, n * math.sin(0.5), rel_tol=1e-15)
        assert math.isclose(grad, n * math.cos(0.5), rel_tol=1e-15)
    assert step.stats.traces == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_count_of_examples_is_the_call_s_count(backend: str) -> None:
    count = tg.jit(lambda X: tg.sum(tg.vmap(lambda x: 1.0, backend=backend)(X)))
    for n in SIZES:
        assert count(tg.batch(_data(n), backend=backend)) == float(n)
    assert count.stats.traces == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_sum_of_per_example_bias_gradients_is_the_batch_size(backend: str) -> None:
    def affine(w: tg.Scalar, b: tg.Scalar, x: tg.Scalar) -> tg.Scalar:
        return w * x + b

    per_example = tg.vmap(tg.grad(affine, argnums=1), in_axes=(None, None, 0), backend=backend)
    total = tg.jit(lambda w, b, X: tg.sum(per_example(w, b, X)))
    for n in SIZES:
        assert total(2.0, 1.0, tg.batch(_data(n), backend=backend)) == float(n)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_output_that_ignores_the_data_has_one_row_per_example(backend: str) -> None:
    doubled = tg.jit(tg.vmap(lambda p, x: 2.0 * p, in_axes=(None, 0), backend=backend))
    for n in SIZES:
        out = doubled(1.5, tg.batch(_data(n), backend=backend))
        assert len(out) == n
        assert list(out) == [3.0] * n


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_example_gradients_with_an_unused_parameter(backend: str) -> None:
    def f(p: list[tg.Scalar], x: tg.Scalar) -> tg.Scalar:
        return p[0] * x * x

    per = tg.jit(tg.vmap(tg.grad(f), in_axes=(None, 0), backend=backend))
    for n in SIZES:
        xs = _data(n)
        out = per([1.0, 2.0], tg.batch(xs, backend=backend))
        assert list(out) == [tg.grad(f)([1.0, 2.0], x) for x in xs] == [[x * x, 0.0] for x in xs]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradient_of_a_mean_divides_by_the_call_s_batch_size(backend: str) -> None:
    def loss(w: tg.Scalar, X: Any) -> tg.Scalar:
        return tg.mean(tg.vmap(lambda w, x: w * x, in_axes=(None, 0), backend=backend)(w, X))

    step = tg.jit(tg.value_and_grad(loss))
    eager = tg.value_and_grad(loss)
    for n in SIZES:
        X = tg.batch(_data(n), backend=backend)
        assert step(3.0, X) == eager(3.0, X)
        assert math.isclose(step(3.0, X)[1], math.fsum(_data(n)) / n, rel_tol=1e-14)
    assert step.stats.traces == 1 and step.stats.replays == len(SIZES) * 2 - 1


def _bits(values: Any) -> list[str]:
    """Each number by its exact bits (float.hex: -0.0 is told from 0.0, and nan equals nan)."""
    return [float(v).hex() for v in values]


def test_replays_equal_eager_bit_for_bit_on_the_python_back_end() -> None:
    # The per-example gradient is -1 * step(p) = -0.0 for p < 0 and does not read x: spread
    # copies it to every example, as eager evaluation does, rather than adding 0.0 (which gives +0.0).
    def f(p: tg.Scalar, x: tg.Scalar) -> tg.Scalar:
        return x - tg.relu(p)

    per = tg.vmap(tg.grad(f), in_axes=(None, 0), backend="python")
    jitted = tg.jit(per)
    for n in (3, 5):
        X = tg.batch(_data(n), backend="python")
        assert _bits(jitted(-1.0, X)) == _bits(per(-1.0, X)) == ["-0x0.0p+0"] * n


# -- the whole contract on random programs ------------------------------------------------------


def _per_example(expr: Expression) -> Callable[[tg.Scalar, tg.Scalar], tg.Scalar]:
    """A per-example program around a random expression, with a branch-free choice, clip, maximum and %."""

    def f(p: tg.Scalar, x: tg.Scalar) -> tg.Scalar:
        e = expr([p, x])
        chosen = tg.where(e > 0.5, e, 0.5 * e)
        return chosen + tg.clip(x, -1.0, 1.0) * tg.maximum(p, x) + (x % 1.5) * p

    return f


def _close(a: list[Any], b: list[Any]) -> bool:
    flat_a, flat_b = tg.tree_leaves(a), tg.tree_leaves(b)
    return len(flat_a) == len(flat_b) and all(math.isclose(u, v, rel_tol=1e-12, abs_tol=1e-12) for u, v in zip(flat_a, flat_b))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=15, deadline=None)
@given(
    expr=expressions(n_vars=2, smooth=False, max_depth=3),
    p=floats(),
    data=st.lists(floats(), min_size=8, max_size=8),
    sizes=st.lists(st.integers(1, 8), min_size=2, max_size=3),
)
def test_jit_of_vmap_equals_eager_equals_the_loop_at_every_batch_size(
    backend: str, expr: Expression, p: float, data: list[float], sizes: list[int]
) -> None:
    f = _per_example(expr)
    mapped = tg.vmap(f, in_axes=(None, 0), backend=backend)
    per_grad = tg.vmap(tg.grad(f), in_axes=(None, 0), backend=backend)

    def loss(p: tg.Scalar, X: Any) -> tg.Scalar:
        return tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(p, X))

    jitted: list[Callable[..., Any]] = [tg.jit(mapped), tg.jit(per_grad), tg.jit(tg.grad(loss))]
    for n in sizes:
        xs = data[:n]
        X = tg.batch(xs, backend=backend)
        eager: list[list[Any]] = [list(mapped(p, X)), list(per_grad(p, X)), [tg.grad(loss)(p, X)]]
        loop: list[list[Any]] = [[f(p, x) for x in xs], [tg.grad(f)(p, x) for x in xs], [math.fsum(tg.grad(f)(p, x) for x in xs) / n]]
        for j, e, ref in zip(jitted, eager, loop):
            out = j(p, X)
            replayed = list(out) if not isinstance(out, float) else [out]
            # A replay computes what eager evaluation computes, in the same order: bit for bit.
            assert _bits(replayed) == _bits(e)
            # Eager batches equal the loop (NumPy's exp, sin... may differ in the last bit; a mean is summed differently).
            if backend == "python" and j is not jitted[2]:
                assert e == ref
            else:
                assert _close(e, ref), (e, ref)
    for j in jitted:
        assert isinstance(j, tg.Jitted)
        # One trace for every batch size: a comparison of batched values is a record, not a guard.
        assert j.stats.traces == 1 and j.stats.replays == len(sizes) - 1
