"""Stable softmax-family functions and classification losses in tapegrad.nn.

Values are checked against closed forms computed with ``math`` (and against
PyTorch in float64 when it is installed), derivatives with finite
differences (``check_grads``), stability at logits of +-1000, and every
label check against the message it must give.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import Scalar, nn
from tapegrad.core.batch import numpy_available
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import floats


def approx(a: Scalar, b: float, rel: float = 1e-12, abs_: float = 1e-12) -> bool:
    return math.isclose(tg.primal(a), b, rel_tol=rel, abs_tol=abs_)


def ref_logsumexp(xs: Sequence[float]) -> float:
    m = max(xs)
    return m + math.log(math.fsum(math.exp(x - m) for x in xs))


logit_rows = st.lists(floats(), min_size=1, max_size=5)


# -- logsumexp, softmax, log_softmax -----------------------------------------------------------------


@settings(max_examples=30)
@given(xs=logit_rows)
def test_softmax_family_values(xs: list[float]) -> None:
    lse = ref_logsumexp(xs)
    assert approx(nn.logsumexp(xs), lse)
    probs = nn.softmax(xs)
    assert all(approx(p, math.exp(x - lse)) for p, x in zip(probs, xs))
    assert approx(sum(probs), 1.0)
    assert all(approx(lp, x - lse) for lp, x in zip(nn.log_softmax(xs), xs))


@settings(max_examples=20)
@given(xs=logit_rows)
def test_softmax_family_derivatives(xs: list[float]) -> None:
    check_grads(nn.logsumexp, (xs,), order=2)
    check_grads(nn.softmax, (xs,), order=2)
    check_grads(nn.log_softmax, (xs,), order=1)
    # the gradient of logsumexp is softmax
    assert all(approx(g, tg.primal(p)) for g, p in zip(tg.grad(nn.logsumexp)(xs), nn.softmax(xs)))


@pytest.mark.parametrize("big", [1000.0, -1000.0])
def test_softmax_family_is_stable_at_1000(big: float) -> None:
    xs = [big, big - 1.0, big + 2.0]
    assert approx(nn.logsumexp(xs), big + ref_logsumexp([0.0, -1.0, 2.0]))
    expected = [math.exp(x) / (math.exp(0.0) + math.exp(-1.0) + math.exp(2.0)) for x in (0.0, -1.0, 2.0)]
    assert all(approx(p, e) for p, e in zip(nn.softmax(xs), expected))
    g = tg.grad(nn.logsumexp)(xs)
    assert all(approx(gi, e) for gi, e in zip(g, expected))
    # far apart: exact 1 and 0, and finite log-probabilities
    assert nn.softmax([1000.0, -1000.0]) == [1.0, 0.0]
    assert nn.log_softmax([1000.0, -1000.0]) == [0.0, -2000.0]
    assert tg.grad(nn.logsumexp)([1000.0, -1000.0]) == [1.0, 0.0]
    assert approx(nn.logsumexp([1000.0, 1000.0]), 1000.0 + math.log(2.0))


def test_softmax_family_under_jit_does_not_retrace_when_the_largest_logit_moves() -> None:
    # The shift is folded with relu, not compared, so no guard is recorded.
    step = tg.jit(tg.value_and_grad(nn.logsumexp))
    for xs in ([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1000.0, -1000.0, 0.0]):
        value, g = step(xs)
        expect_value, expect_g = tg.value_and_grad(nn.logsumexp)(xs)
        assert approx(value, tg.primal(expect_value)) and all(approx(a, tg.primal(b)) for a, b in zip(g, expect_g))
    assert step.stats.traces == 1


def test_softmax_family_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="non-empty sequence of logits"):
        nn.logsumexp([])
    with pytest.raises(TypeError, match=r"logits\[1\] must be a number, got list"):
        nn.softmax([1.0, [2.0]])  # type: ignore[list-item]


# -- cross_entropy -------------------------------------------------------------------------------------


def ref_cross_entropy(rows: Sequence[Sequence[float]], labels: Sequence[int]) -> float:
    return math.fsum(ref_logsumexp(r) - r[y] for r, y in zip(rows, labels)) / len(rows)


batches = st.integers(2, 4).flatmap(
    lambda k: st.lists(st.tuples(st.lists(floats(), min_size=k, max_size=k), st.integers(0, k - 1)), min_size=1, max_size=4)
)


@settings(max_examples=30)
@given(data=batches)
def test_cross_entropy_value_and_gradient(data: list[tuple[list[float], int]]) -> None:
    rows = [r for r, _ in data]
    labels = [y for _, y in data]
    n = len(rows)
    value, g = tg.value_and_grad(nn.cross_entropy)(rows, labels)
    assert approx(value, ref_cross_entropy(rows, labels))
    # d/dz_j = (softmax(z)_j - [j == y]) / n
    for row, y, grow in zip(rows, labels, g):
        lse = ref_logsumexp(row)
        for j, (z, gj) in enumerate(zip(row, grow)):
            assert approx(gj, (math.exp(z - lse) - (1.0 if j == y else 0.0)) / n)
    check_grads(lambda z: nn.cross_entropy(z, labels), (rows,), order=2)
    per = nn.cross_entropy_per_example(rows, labels)
    assert len(per) == n and approx(sum(per) * (1.0 / n), tg.primal(value))


def test_cross_entropy_is_stable_at_1000() -> None:
    rows = [[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]]
    value, g = tg.value_and_grad(nn.cross_entropy)(rows, [1, 2])
    assert approx(value, 1000.0)  # the first example pays 2000, the second nothing
    assert g == [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 3], r"class indices in \{0, \.\.\., 2\}, as ints or as floats holding one \(the logits have 3 entries\); found labels outside that: \{3\}"),
        ([-1, 0], r"found labels outside that: \{-1\}"),
        ([1.5, 0], r"found labels outside that: \{1\.5\}"),
        ([3.0, 0], r"found labels outside that: \{3\.0\}"),
        ([True, 0], r"found labels outside that: \{True\}"),
    ],
)
def test_cross_entropy_checks_its_labels(labels: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nn.cross_entropy([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], labels)


@pytest.mark.skipif(not numpy_available(), reason="NumPy is an optional extra")
def test_numpy_labels_are_class_indices_too() -> None:
    import numpy as np

    rows = [[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]
    expected = nn.cross_entropy(rows, [2, 0])
    labels: Any = np.array([2, 0])
    assert nn.cross_entropy(rows, labels) == expected
    labels = [np.float64(2.0), np.float32(0.0)]
    assert nn.cross_entropy(rows, labels) == expected
    labels = [np.bool_(True), 0]
    with pytest.raises(ValueError, match=r"found labels outside that: \{(np\.)?True_?\}"):
        nn.cross_entropy(rows, labels)


def test_a_float_holding_a_class_index_is_that_class() -> None:
    # As in vmap's label columns (floats), so one example's loss equals the mapped one's.
    rows = [[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]
    assert nn.cross_entropy(rows, [2.0, 0.0]) == nn.cross_entropy(rows, [2, 0])

    def per_example(z: Sequence[Scalar], y: Scalar) -> Scalar:
        return nn.cross_entropy([z], [y])

    mapped = tg.vmap(per_example, backend="python")(rows, [2.0, 0.0])
    assert list(mapped) == [per_example(r, y) for r, y in zip(rows, [2.0, 0.0])]


def test_cross_entropy_checks_its_shapes() -> None:
    with pytest.raises(ValueError, match=r"for one example write cross_entropy\(\[logits\], \[label\]\)"):
        nn.cross_entropy([0.0, 1.0], [1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="example 0 has 2 logits but example 1 has 3"):
        nn.cross_entropy([[0.0, 1.0], [0.0, 1.0, 2.0]], [0, 1])
    with pytest.raises(ValueError, match="got 2 examples of logits but 1 labels"):
        nn.cross_entropy([[0.0, 1.0], [0.0, 1.0]], [0])
    with pytest.raises(ValueError, match="at least one example"):
        nn.cross_entropy([], [])


# -- binary_cross_entropy -----------------------------------------------------------------------------


@settings(max_examples=30)
@given(data=st.lists(st.tuples(floats(), st.sampled_from([0, 1])), min_size=1, max_size=6))
def test_binary_cross_entropy(data: list[tuple[float, int]]) -> None:
    logits = [z for z, _ in data]
    labels = [float(y) for _, y in data]
    n = len(data)

    def sigmoid(z: float) -> float:
        return 1.0 / (1.0 + math.exp(-z))

    expected = -math.fsum(y * math.log(sigmoid(z)) + (1 - y) * math.log(1 - sigmoid(z)) for z, y in data) / n
    value, g = tg.value_and_grad(nn.binary_cross_entropy)(logits, labels)
    assert approx(value, expected, rel=1e-9)
    assert all(approx(gi, (sigmoid(z) - y) / n) for gi, (z, y) in zip(g, data))
    check_grads(lambda z: nn.binary_cross_entropy(z, labels), (logits,), order=2)
    # the same objective as logistic_loss with the labels mapped to -1/+1
    assert approx(nn.logistic_loss(logits, [2.0 * y - 1.0 for y in labels]), tg.primal(value))


def test_binary_cross_entropy_is_stable_at_1000() -> None:
    value, g = tg.value_and_grad(nn.binary_cross_entropy)([1000.0, -1000.0], [0.0, 1.0])
    assert value == 1000.0 and g == [0.5, -0.5]
    value, g = tg.value_and_grad(nn.binary_cross_entropy)([1000.0, -1000.0], [1.0, 0.0])
    assert value == 0.0 and g == [0.0, 0.0]


def test_binary_cross_entropy_checks_its_labels() -> None:
    with pytest.raises(ValueError, match=r"expected labels in \{0, 1\}, found labels \{-1\.0, 1\.0\}\. For -1/\+1 labels use nn\.logistic_loss"):
        nn.binary_cross_entropy([0.5, -0.5], [-1.0, 1.0])
    with pytest.raises(ValueError, match=r"expected labels in \{0, 1\}, found labels \{0\.0, 0\.5\}\.$"):
        nn.binary_cross_entropy([0.5, -0.5], [0.0, 0.5])
    with pytest.raises(TypeError, match=r"labels\[0\] must be a number, got str"):
        nn.binary_cross_entropy([0.5], ["1"])  # type: ignore[list-item]


# -- the margin losses refuse 0/1 labels -------------------------------------------------------------------


@pytest.mark.parametrize("loss", [nn.svm_hinge_loss, nn.logistic_loss])
def test_margin_losses_refuse_zero_one_labels(loss: Callable[[Sequence[Scalar], Sequence[float]], Scalar]) -> None:
    name = loss.__name__
    with pytest.raises(
        ValueError, match=rf"{name}: expected labels in \{{-1, \+1\}}, found labels \{{0\.0, 1\.0\}}\. For 0/1 labels use nn\.binary_cross_entropy"
    ):
        loss([0.5, -0.5, 2.0], [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=rf"{name}: expected labels in \{{-1, \+1\}}, found labels \{{-1\.0, 2\.0\}}\.$"):
        loss([0.5, -0.5], [-1.0, 2.0])
    loss([0.5, -0.5], [-1.0, 1.0])  # fine


def test_traced_labels_are_checked_under_grad_and_under_jit() -> None:
    # Under grad a traced label still has a value to check...
    with pytest.raises(ValueError, match="found labels"):
        tg.grad(nn.svm_hinge_loss, argnums=1)([0.5], [0.0])
    assert tg.grad(nn.svm_hinge_loss, argnums=1)([0.5], [1.0]) == [-0.5]
    # ...and under jit the check is a guard, so a replay checks new labels too.
    loss = tg.jit(nn.logistic_loss)
    assert loss([0.5], [1.0]) == nn.logistic_loss([0.5], [1.0])
    assert loss([0.5], [-1.0]) == nn.logistic_loss([0.5], [-1.0])
    with pytest.raises(ValueError, match=r"expected labels in \{-1, \+1\}, found labels \{0\.0\}"):
        loss([0.5], [0.0])
    bce = tg.jit(nn.binary_cross_entropy)
    assert bce([0.5, -1.0], [1.0, 0.0]) == nn.binary_cross_entropy([0.5, -1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"found labels \{-1\.0, 1\.0\}"):
        bce([0.5, -1.0], [1.0, -1.0])


def test_mse_loss_checks_its_inputs() -> None:
    with pytest.raises(TypeError, match=r"mse_loss: targets\[0\] must be a number, got list"):
        nn.mse_loss([1.0], [[1.0]])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"mse_loss: predictions\[1\] must be a number, got str"):
        nn.mse_loss([1.0, "2"], [1.0, 2.0])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="got 2 predictions but 1 targets"):
        nn.mse_loss([1.0, 2.0], [1.0])


# -- against PyTorch (optional) ---------------------------------------------------------------------------


def test_losses_match_torch() -> None:
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    rows = [[0.3, -1.2, 2.0, 0.0], [5.0, 4.5, -3.0, 1.0], [-0.7, 0.2, 0.1, 0.9]]
    labels = [2, 0, 3]
    t = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    ce = f.cross_entropy(t, torch.tensor(labels))
    ce.backward()
    value, g = tg.value_and_grad(nn.cross_entropy)(rows, labels)
    assert approx(value, ce.item())
    assert all(approx(a, b) for ga, gb in zip(g, t.grad.tolist()) for a, b in zip(ga, gb))
    for row in rows:
        tr = torch.tensor(row, dtype=torch.float64)
        assert approx(nn.logsumexp(row), float(torch.logsumexp(tr, 0)))
        assert all(approx(a, b) for a, b in zip(nn.softmax(row), torch.softmax(tr, 0).tolist()))
        assert all(approx(a, b) for a, b in zip(nn.log_softmax(row), torch.log_softmax(tr, 0).tolist()))
    logits = [0.3, -1.2, 2.0, 1000.0, -1000.0]
    ys = [1.0, 0.0, 1.0, 0.0, 0.0]
    tl = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    bce = f.binary_cross_entropy_with_logits(tl, torch.tensor(ys, dtype=torch.float64))
    bce.backward()
    value, gb = tg.value_and_grad(nn.binary_cross_entropy)(logits, ys)
    assert approx(value, bce.item())
    assert all(approx(a, b) for a, b in zip(gb, tl.grad.tolist()))


def test_losses_under_vmap_check_batched_labels() -> None:
    # A label under vmap is a batch: the loss still checks it, naming what it found,
    # and under jit the check is a guard that every replay repeats.
    X = [[0.5], [-1.0], [2.0]]

    def hinge(w: tg.Scalar, x: list[tg.Scalar], y: tg.Scalar) -> tg.Scalar:
        return nn.svm_hinge_loss([w * x[0]], [y])

    good = tg.vmap(hinge, in_axes=(None, 0, 0), backend="python")(1.5, X, [1.0, -1.0, 1.0])
    assert list(good) == [nn.svm_hinge_loss([1.5 * x[0]], [y]) for x, y in zip(X, [1.0, -1.0, 1.0])]
    with pytest.raises(ValueError, match=r"svm_hinge_loss: expected labels in \{-1, \+1\}, found labels \{0\.0\}\. For 0/1 labels"):
        tg.vmap(hinge, in_axes=(None, 0, 0), backend="python")(1.5, X, [1.0, 0.0, 1.0])
    step = tg.jit(tg.grad(lambda w, X, Y: tg.mean(tg.vmap(hinge, in_axes=(None, 0, 0), backend="python")(w, X, Y))))
    cols = tg.batch(X, "python")
    assert step(1.5, cols, tg.batch([1.0, -1.0, 1.0], "python")) == step(1.5, cols, tg.batch([1.0, -1.0, 1.0], "python"))
    with pytest.raises(ValueError, match="found labels"):
        step(1.5, cols, tg.batch([1.0, 0.0, 1.0], "python"))


def test_cross_entropy_under_vmap_picks_each_examples_class() -> None:
    rows = [[0.2, -1.0, 0.5], [1.5, 0.3, -0.2]]
    labels = [2, 0]
    per_example = tg.vmap(lambda z, y: nn.cross_entropy([z], [y]), backend="python")(rows, [2.0, 0.0])
    assert list(per_example) == pytest.approx(nn.cross_entropy_per_example(rows, labels), rel=1e-15)
    with pytest.raises(ValueError, match=r"expected class labels in 0\.\.2, found labels \{3\.0\}"):
        tg.vmap(lambda z, y: nn.cross_entropy([z], [y]), backend="python")(rows, [3.0, 0.0])
