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
from typing import Any

import pytest

import tapegrad as tg
from tapegrad.core.batch import numpy_available

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
