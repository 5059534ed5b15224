"""The moons training step written by hand: plain floats and lists, no autodiff objects.

This is the speed of light for the benchmark: what a careful programmer gets
by deriving the backward pass on paper and writing it in idiomatic Python.
It computes the same thing as micrograd's demo and as
``tapegrad.value_and_grad`` of the demo's loss:

    loss = mean_i relu(1 - y_i * mlp(x_i)) + alpha * sum(p * p for every parameter)

for a ReLU network with two inputs, two hidden layers and one linear output
(``MLP(2, [h1, h2, 1])``), with parameters in :func:`tapegrad.nn.init_mlp`'s
layout: ``[{"w": rows, "b": biases}, ...]``.

Two things make it faster than a generic tape, and a person writing it by
hand would do both:

* points whose hinge is inactive (margin <= 0) contribute nothing to the
  gradient, so their backward pass is skipped entirely;
* the weight gradients are sums over points of outer products, so they are
  computed at the end as dot products over the active points
  (``sum(map(mul, a, b))`` runs its loop in C), instead of being accumulated
  point by point with Python-level loops.
"""

from __future__ import annotations

from operator import mul
from typing import Sequence

from tapegrad.nn import Layer
from tapegrad.core.tree import leaves

from harness.checks import check_close
from harness.timing import Competitor
from workloads.common import ALPHA, LR, Problem
from workloads.eager_nn import Reference

Matrix = list[list[float]]
Params = Sequence[Layer]


def _unpack(params: Params) -> tuple[Matrix, list[float], Matrix, list[float], list[float], float]:
    """The weights of a 2-h1-h2-1 network as plain lists: W1, b1, W2, b2, w3 (one row), b3."""
    if len(params) != 3 or len(params[2]["w"]) != 1 or any(len(row) != 2 for row in params[0]["w"]):
        raise ValueError("the hand-written step only handles MLP(2, [h1, h2, 1])")
    l1, l2, l3 = params
    # The layers hold plain floats here; the casts to list are free copies of references.
    w1 = [list(map(float, row)) for row in l1["w"]]
    w2 = [list(map(float, row)) for row in l2["w"]]
    return w1, list(map(float, l1["b"])), w2, list(map(float, l2["b"])), list(map(float, l3["w"][0])), float(l3["b"][0])


def _columns(rows: list[list[float]], width: int) -> list[list[float]]:
    """The transpose of ``rows`` (one list per column), also when there are no rows."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(col) for col in zip(*rows)]


def value_and_grad(
    params: Params, points: Sequence[Sequence[float]], labels: Sequence[float], alpha: float = 1e-4
) -> tuple[float, list[Layer]]:
    """The loss and its gradient, shaped like ``params``."""
    w1, b1, w2, b2, w3, b3 = _unpack(params)
    inv_n = 1.0 / len(points)

    # Forward pass, point by point. Only points with an active hinge are
    # kept for the backward pass, with the activations it needs.
    data_loss = 0.0
    xs0: list[float] = []  # inputs of the active points
    xs1: list[float] = []
    acts1: list[list[float]] = []  # first hidden layer's outputs, per active point
    acts2: list[list[float]] = []
    dss: list[float] = []  # d loss / d score, per active point
    d2s: list[list[float]] = []  # d loss / d pre-activation of layer 2, per active point
    d1s: list[list[float]] = []
    w1_pairs = [(a, b, c) for (a, b), c in zip(w1, b1)]
    w2_cols = list(zip(*w2))  # column k: the weights reading hidden unit k
    w2_rows = list(zip(w2, b2))
    for (x0, x1), y in zip(points, labels):
        z1 = [c + a * x0 + b * x1 for a, b, c in w1_pairs]
        a1 = [z if z > 0.0 else 0.0 for z in z1]
        z2 = [c + sum(map(mul, row, a1)) for row, c in w2_rows]
        a2 = [z if z > 0.0 else 0.0 for z in z2]
        score = b3 + sum(map(mul, w3, a2))
        margin = 1.0 + -y * score
        if margin <= 0.0:
            continue  # relu'(margin) = 0: this point sends no gradient back
        data_loss += margin
        ds = -y * inv_n
        d2 = [ds * w if z > 0.0 else 0.0 for w, z in zip(w3, z2)]
        da1 = [sum(map(mul, d2, col)) for col in w2_cols]
        d1 = [d if z > 0.0 else 0.0 for d, z in zip(da1, z1)]
        xs0.append(x0)
        xs1.append(x1)
        acts1.append(a1)
        acts2.append(a2)
        dss.append(ds)
        d2s.append(d2)
        d1s.append(d1)

    # Weight gradients: dot products over the active points (columns of the
    # per-point lists), plus the L2 term's 2 * alpha * p.
    two_alpha = 2.0 * alpha
    reg = 0.0
    for row in (*w1, *w2, w3):
        reg += sum(map(mul, row, row))
    reg += sum(map(mul, b1, b1)) + sum(map(mul, b2, b2)) + b3 * b3
    a1_cols = _columns(acts1, len(w1))
    a2_cols = _columns(acts2, len(w2))
    d2_cols = _columns(d2s, len(w2))
    d1_cols = _columns(d1s, len(w1))
    g_w3 = [sum(map(mul, dss, col)) + two_alpha * w for col, w in zip(a2_cols, w3)]
    g_b3 = sum(dss) + two_alpha * b3
    g_w2 = [[sum(map(mul, dcol, acol)) + two_alpha * w for acol, w in zip(a1_cols, row)] for dcol, row in zip(d2_cols, w2)]
    g_b2 = [sum(dcol) + two_alpha * b for dcol, b in zip(d2_cols, b2)]
    g_w1 = [
        [sum(map(mul, dcol, xs0)) + two_alpha * wa, sum(map(mul, dcol, xs1)) + two_alpha * wb]
        for dcol, (wa, wb) in zip(d1_cols, w1)
    ]
    g_b1 = [sum(dcol) + two_alpha * b for dcol, b in zip(d1_cols, b1)]
    loss = data_loss * inv_n + alpha * reg
    grads: list[Layer] = [{"w": g_w1, "b": g_b1}, {"w": g_w2, "b": g_b2}, {"w": [g_w3], "b": [g_b3]}]
    return loss, grads


def sgd(params: Params, grads: Params, lr: float) -> list[Layer]:
    """New parameters ``p - lr * g``, layer by layer, with list comprehensions."""
    return [
        {
            "w": [[p - lr * g for p, g in zip(prow, grow)] for prow, grow in zip(pl["w"], gl["w"])],
            "b": [p - lr * g for p, g in zip(pl["b"], gl["b"])],
        }
        for pl, gl in zip(params, grads)
    ]


def step(
    params: Params, points: Sequence[Sequence[float]], labels: Sequence[float], lr: float, alpha: float = 1e-4
) -> tuple[float, list[Layer]]:
    """One full training step: the loss at ``params`` and the updated parameters."""
    loss, grads = value_and_grad(params, points, labels, alpha)
    return loss, sgd(params, grads, lr)



def competitor(problem: Problem, ref: Reference, checks: dict[str, float]) -> Competitor:
    """Check the hand-written loss and gradient against ``ref``, then return its step (10 a block)."""
    params, points, labels = problem.params, problem.points, problem.labels
    loss, grads = value_and_grad(params, points, labels, ALPHA)
    checks["handwritten loss"] = check_close("hand-written loss", [loss], [ref.loss])
    checks["handwritten grads"] = check_close("hand-written gradient", leaves(grads), ref.flat_grads)
    return Competitor("handwritten", "hand-written Python", lambda: step(params, points, labels, LR, ALPHA), 10)
