"""Accuracy and labels: the binary convention {-1, +1}, class indices, NumPy label arrays, logsumexp at -inf.

- ``nn.accuracy`` checks its labels as the margin losses do (0/1 labels
  raise, with the conversion in the message).
- ``nn.multiclass_accuracy`` is the argmax of the logits against class
  indices, compared with a plain Python argmax on random data.
- The margin losses and binary cross-entropy take NumPy integer arrays.
- ``nn.logsumexp`` of all -inf is -inf, eagerly, traced, jitted and vmapped.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

import tapegrad as tg
from tapegrad import nn


def test_accuracy_counts_signs_with_labels_in_minus_one_plus_one() -> None:
    assert nn.accuracy([0.3, -0.2, 0.5], [1, -1, 1]) == 1.0
    assert nn.accuracy([0.3, -0.2, 0.5], [-1, -1, 1]) == pytest.approx(2 / 3)
    assert nn.accuracy([0.0], [1.0]) == 0.0  # a score of 0 counts as wrong
    assert tg.jit(nn.accuracy)([0.3, -0.2], [1.0, 1.0]) == 0.5


def test_accuracy_refuses_zero_one_labels_and_says_how_to_convert() -> None:
    # Label 0 would make every example with it count as wrong: 0.667 for three right answers.
    with pytest.raises(ValueError, match=r"accuracy: expected labels in \{-1, \+1\} .*found labels \{0\.0, 1\.0\}\. For 0/1 labels pass \[2 \* y - 1 for y in labels\]"):
        nn.accuracy([0.3, -0.2, 0.5], [1, 0, 1])
    with pytest.raises(ValueError, match=r"nn\.multiclass_accuracy"):
        nn.accuracy([0.3, -0.2, 0.5], [2, 0, 1])
    with pytest.raises(TypeError, match=r"accuracy: labels\[1\] must be a number, got str"):
        nn.accuracy([0.3, -0.2], [1, "b"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="accuracy needs at least one example"):
        nn.accuracy([], [])


def test_accuracy_and_the_losses_take_numpy_label_arrays() -> None:
    np = pytest.importorskip("numpy")
    scores, signed, zero_one = [0.3, -0.2, 0.5], np.array([1, -1, 1]), np.array([1, 0, 1])
    assert nn.accuracy(scores, signed) == 1.0
    assert nn.accuracy(scores, np.array([1.0, -1.0, -1.0])) == pytest.approx(2 / 3)
    plain_signed, plain_01 = [1.0, -1.0, 1.0], [1.0, 0.0, 1.0]
    assert nn.svm_hinge_loss(scores, signed) == nn.svm_hinge_loss(scores, plain_signed)
    assert nn.logistic_loss(scores, signed) == nn.logistic_loss(scores, plain_signed)
    assert nn.binary_cross_entropy(scores, zero_one) == nn.binary_cross_entropy(scores, plain_01)
    # gradients through them stay on the tape (a NumPy label times a traced score is a traced scalar)
    g = tg.grad(lambda s: nn.logistic_loss(s, signed))(scores)
    assert g == tg.grad(lambda s: nn.logistic_loss(s, plain_signed))(scores) and all(type(v) is float for v in g)
    assert tg.grad(lambda s: nn.binary_cross_entropy(s, zero_one))(scores) == tg.grad(lambda s: nn.binary_cross_entropy(s, plain_01))(scores)
    with pytest.raises(ValueError, match=r"logistic_loss: expected labels in \{-1, \+1\}, found labels \{0\.0, 1\.0\}"):
        nn.logistic_loss(scores, zero_one)
    with pytest.raises(TypeError, match=r"svm_hinge_loss: labels\[0\] must be a number, got bool"):
        nn.svm_hinge_loss(scores, np.array([True, False, True]))


def _argmax(row: list[float]) -> int:
    best = 0
    for j, z in enumerate(row):
        if z > row[best]:
            best = j
    return best  # the first largest, as numpy.argmax


def test_multiclass_accuracy_is_argmax_against_class_indices() -> None:
    rng = random.Random(5)
    for _ in range(20):
        k, n = rng.randint(2, 5), rng.randint(1, 12)
        # a coarse grid of logits, so ties happen
        logits = [[float(rng.randint(-2, 2)) for _ in range(k)] for _ in range(n)]
        classes = [rng.randrange(k) for _ in range(n)]
        expected = sum(_argmax(row) == c for row, c in zip(logits, classes)) / n
        assert nn.multiclass_accuracy(logits, classes) == pytest.approx(expected, rel=1e-15)
        assert tg.jit(nn.multiclass_accuracy)(logits, [float(c) for c in classes]) == pytest.approx(expected, rel=1e-15)
    assert nn.multiclass_accuracy([[1.0, 1.0, 0.0]], [0]) == 1.0 and nn.multiclass_accuracy([[1.0, 1.0, 0.0]], [1]) == 0.0  # ties: first
    assert tg.grad(lambda z: nn.multiclass_accuracy([z], [1]))([0.1, 0.4]) == [0.0, 0.0]


def test_multiclass_accuracy_under_vmap_and_with_numpy_classes() -> None:
    logits = [[0.1, 0.9, 0.0], [2.0, 1.0, 3.0], [0.5, 0.4, 0.3]]
    classes = [1, 2, 1]
    mapped = tg.vmap(lambda row, c: nn.multiclass_accuracy([row], [c]))(logits, [float(c) for c in classes])
    assert list(mapped) == [1.0, 1.0, 0.0]
    assert nn.multiclass_accuracy(logits, classes) == pytest.approx(2 / 3)
    np = pytest.importorskip("numpy")
    assert nn.multiclass_accuracy(logits, np.array(classes)) == pytest.approx(2 / 3)


def test_multiclass_accuracy_checks_its_input() -> None:
    with pytest.raises(ValueError, match=r"multiclass_accuracy: labels must be class indices in \{0, \.\.\., 2\}.*found labels outside that: \{3\}"):
        nn.multiclass_accuracy([[0.1, 0.2, 0.3]], [3])
    with pytest.raises(ValueError, match=r"multiclass_accuracy: batch_logits must be a sequence of examples.*nn\.accuracy"):
        nn.multiclass_accuracy([0.1, 0.2], [1, 0])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"multiclass_accuracy: got 2 examples of logits but 1 classes"):
        nn.multiclass_accuracy([[0.1, 0.2], [0.3, 0.4]], [1])
    with pytest.raises(ValueError, match="multiclass_accuracy needs at least one example"):
        nn.multiclass_accuracy([], [])


def test_logsumexp_of_minus_infinities_is_minus_infinity() -> None:
    inf = math.inf
    assert nn.logsumexp([-inf, -inf]) == -inf
    assert nn.logsumexp([inf, 1.0]) == inf
    assert nn.logsumexp([-inf, 0.0]) == 0.0
    assert tg.grad(nn.logsumexp)([-inf, 2.0]) == [0.0, 1.0]
    assert tg.value_and_grad(nn.logsumexp)([-inf, -inf]) == (-inf, [0.0, 0.0])
    jitted = tg.jit(lambda a, b: nn.logsumexp([a, b]))
    assert jitted(-inf, -inf) == -inf and jitted(1.0, 2.0) == nn.logsumexp([1.0, 2.0]) and jitted(-inf, -inf) == -inf


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_logsumexp_of_minus_infinities_under_vmap(backend: str) -> None:
    if backend == "numpy":
        pytest.importorskip("numpy")
    inf = math.inf
    rows = [[-inf, -inf], [1.0, 2.0], [inf, 0.0], [-inf, 3.0]]
    out = tg.vmap(nn.logsumexp, backend=backend)(rows)
    assert list(out) == [-inf, nn.logsumexp([1.0, 2.0]), inf, 3.0]
    grads: Any = tg.vmap(tg.grad(nn.logsumexp), backend=backend)([[-inf, -inf], [1.0, 2.0]])
    assert [list(map(float, g)) for g in grads] == [[0.0, 0.0], tg.grad(nn.logsumexp)([1.0, 2.0])]
