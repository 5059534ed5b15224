"""Small synthetic data sets, made in pure Python from an explicit random source."""

from __future__ import annotations

import math
import random


def make_moons(n: int, noise: float, rng: random.Random) -> tuple[list[list[float]], list[float]]:
    """Two interleaving half circles, as in scikit-learn's ``make_moons``.

    Returns ``(points, labels)`` with labels -1 (upper moon) and +1 (lower
    moon). Gaussian noise with standard deviation ``noise`` is added to both
    coordinates, drawn from ``rng`` point by point.
    """
    if n < 2:
        raise ValueError(f"make_moons: need at least 2 points, got {n}")
    n_out = n // 2
    n_in = n - n_out
    points: list[list[float]] = []
    labels: list[float] = []
    for k in range(n_out):
        t = math.pi * k / (n_out - 1) if n_out > 1 else 0.0
        points.append([math.cos(t), math.sin(t)])
        labels.append(-1.0)
    for k in range(n_in):
        t = math.pi * k / (n_in - 1) if n_in > 1 else 0.0
        points.append([1.0 - math.cos(t), 0.5 - math.sin(t)])
        labels.append(1.0)
    noisy = [[x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)] for x, y in points]
    return noisy, labels
