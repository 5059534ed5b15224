"""tapegrad eager with :mod:`tapegrad.nn`; also the reference every other competitor is checked against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import tapegrad as tg
from tapegrad import nn
from tapegrad.core.tree import leaves

from harness.timing import Competitor
from workloads.common import ALPHA, LR, Labels, Params, Points, Problem


def nn_loss(params: Params, points: Points, labels: Labels) -> tg.Scalar:
    """The demo's loss, built from :mod:`tapegrad.nn`, with the data as arguments (as jit wants them)."""
    scores = [nn.mlp(params, x) for x in points]
    return nn.svm_hinge_loss(scores, labels) + ALPHA * nn.l2_penalty(params)


def make_nn_loss(points: Points, labels: Labels) -> Callable[[Params], tg.Scalar]:
    """The demo's loss as a function of the parameters alone, closing over the data (eager use)."""

    def loss(params: Params) -> tg.Scalar:
        return nn_loss(params, points, labels)

    return loss


@dataclass
class Reference:
    """The loss and gradient at the initial weights, as ``tapegrad.value_and_grad`` computes them."""

    loss: float
    grads: Params

    @property
    def flat_grads(self) -> list[float]:
        """The gradient's leaves in :mod:`tapegrad.nn`'s order (each layer's weights, then its biases)."""
        return [float(g) for g in leaves(self.grads)]


def reference(problem: Problem) -> Reference:
    """The numbers every competitor must reproduce."""
    loss, grads = tg.value_and_grad(make_nn_loss(problem.points, problem.labels))(problem.params)
    return Reference(loss, grads)


def competitor(problem: Problem) -> Competitor:
    """A training step: ``value_and_grad`` of the ``nn`` loss, then ``nn.sgd_step`` (3 steps a block)."""
    params = problem.params
    vg = tg.value_and_grad(make_nn_loss(problem.points, problem.labels))
    return Competitor("eager_nn", "tapegrad eager (nn)", lambda: nn.sgd_step(params, vg(params)[1], LR), 3)
