"""The sparse benchmark's problems: a chain-coupled objective and a banded residual."""

from __future__ import annotations

import random
from typing import Sequence

import tapegrad as tg
from tapegrad import Scalar


def chain(x: Sequence[Scalar]) -> Scalar:
    """Chained Rosenbrock with a sine coupling of neighbours: its Hessian is tridiagonal."""
    return tg.sum([(1.0 - x[i]) ** 2 + 10.0 * (x[i + 1] - x[i] * x[i]) ** 2 + tg.sin(x[i] * x[i + 1]) for i in range(len(x) - 1)])


def banded(x: Sequence[Scalar]) -> list[Scalar]:
    """A residual coupling each unknown to two neighbours on each side: a Jacobian of half-bandwidth 2."""
    n = len(x)
    out: list[Scalar] = []
    for i in range(n):
        near = [x[j] for j in (i - 2, i - 1, i + 1, i + 2) if 0 <= j < n]
        out.append(tg.sum(near) * 0.25 - 2.0 * x[i] + tg.exp(0.1 * x[i]))
    return out


def start(n: int, seed: int = 0) -> list[float]:
    """A seeded point in [-1, 1]^n."""
    rng = random.Random(seed)
    return [rng.uniform(-1.0, 1.0) for _ in range(n)]
