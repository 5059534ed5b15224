"""Neural networks as pure functions of explicit parameters.

Nothing here holds state. :func:`init_mlp` draws a parameter tree from the
``random.Random`` you pass; :func:`mlp` evaluates the network on one input;
the losses and :func:`sgd` take and return plain trees, so a training step is
``params = sgd(params, grad(loss)(params), lr)`` and the old ``params`` are
left untouched.

A multilayer perceptron's parameters are a list of layers, each a dict
``{"w": [[...] one row per neuron], "b": [...]}``, so an error message or a
gradient can point at ``params[1]['w'][3][0]``.
"""

from __future__ import annotations

import random
from typing import Any, Sequence, TypedDict, TypeVar

from tapegrad.core.functions import relu, softplus, step
from tapegrad.core.traced import Scalar
from tapegrad.core.tree import leaves, tree_map

T = TypeVar("T")


class Layer(TypedDict):
    """One dense layer: ``w[j]`` are neuron j's input weights, ``b[j]`` its bias."""

    w: Sequence[Sequence[Scalar]]
    b: Sequence[Scalar]


MLPParams = Sequence[Layer]
"""The parameter tree of :func:`mlp`: one :class:`Layer` per layer."""


def init_mlp(rng: random.Random, sizes: Sequence[int]) -> list[Layer]:
    """Parameters for an MLP with layer sizes ``sizes = [n_in, hidden..., n_out]``.

    Numbers are drawn exactly as micrograd's ``MLP(n_in, sizes[1:])`` draws
    them: layer by layer, neuron by neuron, ``n_in`` weights from
    ``uniform(-1, 1)`` and then a bias of 0. So ``init_mlp(Random(1337),
    [2, 16, 16, 1])`` equals micrograd's network after ``random.seed(1337)``.
    """
    if not isinstance(rng, random.Random):
        raise TypeError(f"init_mlp: rng must be a random.Random, got {type(rng).__name__}")
    if len(sizes) < 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"init_mlp: sizes must be at least two positive ints, got {list(sizes)!r}")
    params: list[Layer] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        w = [[rng.uniform(-1.0, 1.0) for _ in range(n_in)] for _ in range(n_out)]
        params.append({"w": w, "b": [0.0] * n_out})
    return params


def mlp_outputs(params: MLPParams, x: Sequence[Scalar]) -> list[Scalar]:
    """All outputs of the network on input ``x``: ReLU hidden layers, linear last layer.

    Each neuron computes ``b + w[0]*x[0] + w[1]*x[1] + ...`` in that order,
    as micrograd's Neuron does, so the numbers agree with it exactly.
    """
    h: Sequence[Scalar] = x
    last = len(params) - 1
    for k, layer in enumerate(params):
        w, b = layer["w"], layer["b"]
        if w and len(w[0]) != len(h):
            raise ValueError(f"mlp: layer {k} expects {len(w[0])} inputs, got {len(h)}")
        out: list[Scalar] = []
        for row, bias in zip(w, b):
            act = bias
            for wi, xi in zip(row, h):
                act = act + wi * xi
            out.append(act if k == last else relu(act))
        h = out
    return list(h)


def mlp(params: MLPParams, x: Sequence[Scalar]) -> Scalar:
    """The single output of a network whose last layer has one neuron."""
    out = mlp_outputs(params, x)
    if len(out) != 1:
        raise ValueError(f"mlp: the network has {len(out)} outputs; use mlp_outputs for more than one")
    return out[0]


def _mean(terms: Sequence[Scalar]) -> Scalar:
    if not terms:
        raise ValueError("a loss needs at least one example")
    return sum(terms) * (1.0 / len(terms))


def _check_pairs(name: str, a: Sequence[Any], b: Sequence[Any]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name}: got {len(a)} predictions but {len(b)} targets")


def svm_hinge_loss(scores: Sequence[Scalar], labels: Sequence[float]) -> Scalar:
    """Mean of ``relu(1 - y * score)`` with labels in {-1, +1} (micrograd's demo loss)."""
    _check_pairs("svm_hinge_loss", scores, labels)
    return _mean([relu(1.0 + -y * s) for s, y in zip(scores, labels)])


def mse_loss(predictions: Sequence[Scalar], targets: Sequence[float]) -> Scalar:
    """Mean of ``(prediction - target) ** 2``."""
    _check_pairs("mse_loss", predictions, targets)
    return _mean([(p - t) * (p - t) for p, t in zip(predictions, targets)])


def logistic_loss(scores: Sequence[Scalar], labels: Sequence[float]) -> Scalar:
    """Mean of ``log(1 + exp(-y * score))`` with labels in {-1, +1}, computed without overflow."""
    _check_pairs("logistic_loss", scores, labels)
    # softplus is one primitive: written as relu(z) + log(1 + exp(-|z|)) it
    # would have derivative 0 at z = 0 (relu'(0) = abs'(0) = 0) instead of 1/2.
    return _mean([softplus(-y * s) for s, y in zip(scores, labels)])


def l2_penalty(params: Any) -> Scalar:
    """Sum of the squares of every leaf of ``params``."""
    total: Scalar = 0.0
    for p in leaves(params):
        total = total + p * p
    return total


def sgd(params: T, grads: T, lr: float) -> T:
    """One step of gradient descent: a new tree ``params - lr * grads``."""
    return tree_map(lambda p, g: p - lr * g, params, grads)


def accuracy(scores: Sequence[Scalar], labels: Sequence[float]) -> Scalar:
    """Fraction of examples whose score has the label's sign (a score of 0 counts as wrong).

    It is computed with the ``step`` primitive rather than with ``if``, so it
    is recorded like any other value: under :func:`tapegrad.jit` it is
    replayed instead of guarding on every example's sign. Its derivative is
    zero.
    """
    _check_pairs("accuracy", scores, labels)
    if not labels:
        raise ValueError("accuracy needs at least one example")
    hits: Scalar = 0.0
    for s, y in zip(scores, labels):
        hits = hits + step(y * s)
    return hits * (1.0 / len(labels))
