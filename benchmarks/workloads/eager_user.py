"""tapegrad eager on a network a user writes the way micrograd's ``Neuron`` is written.

Parameters are nested lists: one list per layer, one ``[weights, bias]``
pair per neuron. Everything is scalar tapegrad operations and plain Python
``sum``; nothing from :mod:`tapegrad.nn` except the initial weights.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import tapegrad as tg
from tapegrad import nn
from tapegrad.core.tree import leaves
from tapegrad.core.tree_utils import tree_map

from harness.checks import check_close
from harness.timing import Competitor
from workloads.common import ALPHA, LR, Labels, Points, Problem
from workloads.eager_nn import Reference

UserParams = list[list[list[Any]]]


def user_params(params: Sequence[nn.Layer]) -> UserParams:
    """The same numbers as ``params``, in the user network's layout."""
    return [[[list(row), b] for row, b in zip(layer["w"], layer["b"])] for layer in params]


def user_grads_as_layers(grads: UserParams) -> list[nn.Layer]:
    """A gradient in the user network's layout, back in :mod:`tapegrad.nn`'s layout."""
    return [{"w": [neuron[0] for neuron in layer], "b": [neuron[1] for neuron in layer]} for layer in grads]


def user_neuron(neuron: list[Any], x: Sequence[tg.Scalar], nonlin: bool) -> tg.Scalar:
    """``b + w . x``, then ReLU: micrograd's Neuron.__call__ with tapegrad scalars."""
    w, b = neuron
    act: tg.Scalar = sum((wi * xi for wi, xi in zip(w, x)), b)
    return tg.relu(act) if nonlin else act


def user_net(params: UserParams, x: Sequence[tg.Scalar]) -> tg.Scalar:
    """ReLU hidden layers and a linear output neuron."""
    h = list(x)
    last = len(params) - 1
    for k, layer in enumerate(params):
        h = [user_neuron(neuron, h, k != last) for neuron in layer]
    return h[0]


def make_user_loss(points: Points, labels: Labels) -> Callable[[UserParams], tg.Scalar]:
    """The demo's loss, written with the user network and plain Python sums."""
    inv_n = 1.0 / len(points)

    def loss(params: UserParams) -> tg.Scalar:
        scores = [user_net(params, x) for x in points]
        data_loss: tg.Scalar = sum(tg.relu(1.0 + -y * s) for s, y in zip(scores, labels)) * inv_n
        reg_loss: tg.Scalar = sum(p * p for layer in params for w, b in layer for p in (*w, b))
        return data_loss + ALPHA * reg_loss

    return loss


def sgd_tree(params: Any, grads: Any, lr: float) -> Any:
    """The SGD update a user would write for any parameter tree."""
    return tree_map(lambda p, g: p - lr * g, params, grads)


def competitor(problem: Problem, ref: Reference, checks: dict[str, float]) -> Competitor:
    """Check the user network's loss and gradient against ``ref``, then return its step (3 a block)."""
    uparams = user_params(problem.params)
    vg = tg.value_and_grad(make_user_loss(problem.points, problem.labels))
    loss, grads = vg(uparams)
    checks["eager_user loss"] = check_close("eager (user net) loss", [loss], [ref.loss])
    checks["eager_user grads"] = check_close("eager (user net) gradient", leaves(user_grads_as_layers(grads)), ref.flat_grads)
    return Competitor("eager_user", "tapegrad eager (user net)", lambda: sgd_tree(uparams, vg(uparams)[1], LR), 3)
