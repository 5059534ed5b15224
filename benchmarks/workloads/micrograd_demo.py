"""micrograd 0.1.0 exactly as its demo notebook trains the moons classifier.

micrograd is optional here so that the per-interpreter probe can still
report its tapegrad columns where micrograd could not be installed;
:data:`MICROGRAD_MISSING` says why it is unavailable (``None`` when it is).
The module is deliberately not named ``micrograd`` so it cannot shadow the
real package.
"""

from __future__ import annotations

import importlib.metadata
import math
import random
import sys
from typing import Any, Optional, Sequence

from tapegrad import nn

from harness.checks import BenchmarkError, check_close
from harness.timing import Competitor, recursion_limit
from workloads.common import ALPHA, LR, SEED, SIZES, Problem
from workloads.eager_nn import Reference

MICROGRAD_MISSING: Optional[str]
try:
    from micrograd.engine import Value
    from micrograd.nn import MLP

    MICROGRAD_MISSING = None
except ImportError as exc:  # depends on the environment
    MICROGRAD_MISSING = f"micrograd is not installed ({exc}); pip install micrograd==0.1.0"


def version() -> str:
    """The installed micrograd's version, or ``"missing"``."""
    if MICROGRAD_MISSING is not None:
        return "missing"
    return importlib.metadata.version("micrograd")


def require() -> None:
    """Raise :class:`BenchmarkError` unless micrograd can be imported."""
    if MICROGRAD_MISSING is not None:
        raise BenchmarkError(MICROGRAD_MISSING)


def micrograd_order(grads: Sequence[nn.Layer]) -> list[float]:
    """A gradient tree flattened in the order of micrograd's ``model.parameters()``.

    micrograd lists each neuron's weights followed by its bias; tapegrad's
    layout keeps all of a layer's weights, then all of its biases.
    """
    out: list[float] = []
    for layer in grads:
        for row, b in zip(layer["w"], layer["b"]):
            out.extend(float(w) for w in row)
            out.append(float(b))
    return out


def micrograd_limit(n: int) -> int:
    """The recursion limit micrograd's recursive topological sort needs for ``n`` points.

    The mean of the per-point losses is a chain of ``n`` additions, and
    build_topo recurses once per node along it, plus about 50 levels for the
    network itself. Below the default limit nothing changes; above it, a
    thousand frames more covers the network and the harness.
    """
    default = sys.getrecursionlimit()
    return default if n + 100 < default else n + 1000


class MicrogradDemo:
    """The demo notebook's model, loss and training step."""

    def __init__(self, problem: Problem, sizes: Sequence[int] = SIZES) -> None:
        require()
        random.seed(SEED)  # micrograd draws its weights from the global random module
        self.model: Any = MLP(sizes[0], list(sizes[1:]))
        self.points = problem.points
        self.labels = problem.labels
        self.initial = [p.data for p in self.model.parameters()]
        self.last_loss = math.nan

    def reset(self) -> None:
        """Put the initial weights back."""
        for p, v in zip(self.model.parameters(), self.initial):
            p.data = v

    def loss(self) -> Any:
        """The demo's ``loss()``: inputs wrapped in Values, hinge loss, L2 term (accuracy left out)."""
        inputs = [list(map(Value, xrow)) for xrow in self.points]
        scores = list(map(self.model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(self.labels, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum((p * p for p in self.model.parameters()))
        return data_loss + reg_loss

    def step(self, lr: float = LR) -> None:
        """One step of the demo's training loop."""
        total_loss = self.loss()
        self.model.zero_grad()
        total_loss.backward()
        for p in self.model.parameters():
            p.data -= lr * p.grad
        self.last_loss = total_loss.data

    def grads(self) -> list[float]:
        """The gradients the last step computed, in ``model.parameters()`` order."""
        return [float(p.grad) for p in self.model.parameters()]


def count_nodes(root: Any) -> int:
    """Number of Values in a micrograd graph, walking ``_prev`` with an explicit stack."""
    seen = {id(root)}
    stack = [root]
    while stack:
        v = stack.pop()
        for child in v._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def competitor(problem: Problem, ref: Reference, checks: dict[str, float], per_block: int) -> tuple[Competitor, int]:
    """Check micrograd's first step against ``ref``, then return its step and the recursion limit it runs at.

    The check comes first because micrograd's timed steps train, and so
    move away from the initial weights; the weights are put back afterwards.
    """
    demo = MicrogradDemo(problem)
    limit = micrograd_limit(problem.n)

    def micrograd_step() -> None:
        with recursion_limit(limit):
            demo.step()

    micrograd_step()
    checks["micrograd loss"] = check_close("micrograd loss", [demo.last_loss], [ref.loss])
    checks["micrograd grads"] = check_close("micrograd gradient", demo.grads(), micrograd_order(ref.grads))
    demo.reset()
    return Competitor("micrograd", "micrograd 0.1.0", micrograd_step, per_block), max(limit, sys.getrecursionlimit())
