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


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_derivatives_and_tangents_of_a_batch_mean_follow_the_batch(backend: str) -> None:
    def loss(p: tg.Scalar, X: Any) -> tg.Scalar:
        return tg.mean(tg.vmap(lambda p, x: tg.sin(p) * x + tg.cos(p), in_axes=(None, 0), backend=backend)(p, X))

    second = tg.jit(tg.grad(tg.grad(loss)))
    for n in SIZES:
        xs = _data(n)
        X = tg.batch(xs, backend=backend)
        expected = -math.sin(0.5) * math.fsum(xs) / n - math.cos(0.5)  # d2/dp2 of mean(sin(p) x + cos(p))
        assert math.isclose(second(0.5, X), expected, rel_tol=1e-12, abs_tol=1e-15)
        assert second(0.5, X) == tg.grad(tg.grad(loss))(0.5, X)
        value, tangent = tg.jvp(lambda p: loss(p, X), (0.5,), (1.0,))
        assert math.isclose(tangent, tg.grad(loss)(0.5, X), rel_tol=1e-15)
    assert (second.stats.traces, second.stats.replays, second.stats.eager_fallbacks) == (1, 2 * len(SIZES) - 1, 0)


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


def _agree(a: list[Any], b: list[Any], rel_tol: float = 0.0) -> bool:
    """Equal as numbers (0.0 == -0.0), nan matching nan, within ``rel_tol``."""
    flat_a, flat_b = tg.tree_leaves(a), tg.tree_leaves(b)
    return len(flat_a) == len(flat_b) and all(
        u == v or (u != u and v != v) or math.isclose(u, v, rel_tol=rel_tol, abs_tol=rel_tol) for u, v in zip(flat_a, flat_b)
    )


def _outcome(fn: Callable[[], Any]) -> Any:
    """What ``fn()`` gives: its numbers as a flat list, or the type of the error it raises."""
    try:
        out = fn()
    except (ValueError, ArithmeticError) as exc:
        return type(exc)
    return tg.tree_leaves(list(out) if isinstance(out, tg.BatchedResult) else out)


def _loop(fn: Callable[[tg.Scalar, tg.Scalar], Any], p: float, xs: list[float]) -> Any:
    """The per-example reference: ``fn`` on each example; an error in any example is the outcome."""
    return _outcome(lambda: [fn(p, x) for x in xs])


# Examples holding nan or inf: on the NumPy back end, sin(inf) and 1e10 / 0.0 give nan
# and inf where the loop raises (issue 16, item 7); switch it on with that fix.
NON_FINITE = {"python": True, "numpy": True}


@pytest.mark.filterwarnings("ignore::tapegrad.JitWarning")  # calls with nan fall back to eager evaluation, as they should
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=30, deadline=None)
@given(
    expr=expressions(n_vars=2, smooth=False, max_depth=3),
    p=floats(),
    data=st.lists(floats(), min_size=8, max_size=8),
    odd=st.lists(st.tuples(st.integers(0, 7), st.sampled_from([math.nan, math.inf, -math.inf])), max_size=2),
    sizes=st.lists(st.integers(1, 8), min_size=2, max_size=3),
)
def test_jit_of_vmap_equals_eager_equals_the_loop_at_every_batch_size(
    backend: str, expr: Expression, p: float, data: list[float], odd: list[tuple[int, float]], sizes: list[int]
) -> None:
    if NON_FINITE[backend]:
        for k, v in odd:
            data[k] = v
    f = _per_example(expr)
    mapped = tg.vmap(f, in_axes=(None, 0), backend=backend)
    per_grad = tg.vmap(tg.grad(f), in_axes=(None, 0), backend=backend)

    def loss(p: tg.Scalar, X: Any) -> tg.Scalar:
        return tg.mean(tg.vmap(f, in_axes=(None, 0), backend=backend)(p, X))

    cases: list[tuple[Callable[..., Any], Callable[..., Any], Callable[[tg.Scalar, tg.Scalar], Any]]] = [
        (mapped, tg.jit(mapped), f),
        (per_grad, tg.jit(per_grad), tg.grad(f)),
        (tg.grad(loss), tg.jit(tg.grad(loss)), tg.grad(f)),
    ]
    for n in sizes:
        xs = data[:n]
        X = tg.batch(xs, backend=backend)
        for eager, jitted, per_example in cases:
            expected = _outcome(lambda: eager(p, X))
            # A replay computes what eager evaluation computes, in the same order: bit for bit.
            replayed = _outcome(lambda: jitted(p, X))
            assert (_bits(replayed) if isinstance(replayed, list) else replayed) == (
                _bits(expected) if isinstance(expected, list) else expected
            )
            # Eager batches give the loop's answer, example by example (NumPy's exp, sin...
            # may differ in the last bit, and the mean of the gradients is summed differently).
            reference = _loop(per_example, p, xs)
            if eager is cases[2][0] and isinstance(reference, list):
                reference = [math.fsum(reference) / n]
            if isinstance(reference, list) and isinstance(expected, list):
                assert _agree(expected, reference, 0.0 if backend == "python" and eager is not cases[2][0] else 1e-12)
            else:
                assert expected == reference
    for _, jitted, _ in cases:
        assert isinstance(jitted, tg.Jitted)
        # One trace serves every batch size: a comparison of batched values is a record, not a guard,
        # and with finite data every later call is a replay (not an eager fallback).
        assert jitted.stats.traces <= 1
        if all(math.isfinite(x) for x in data[: max(sizes)]):
            assert (jitted.stats.traces, jitted.stats.replays, jitted.stats.eager_fallbacks) == (1, len(sizes) - 1, 0)
