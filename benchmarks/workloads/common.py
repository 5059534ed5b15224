"""The benchmark problem every competitor solves: micrograd's moons demo."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from tapegrad import nn
from tapegrad.datasets import make_moons

SEED = 1337
NOISE = 0.1
ALPHA = 1e-4  # weight of the L2 penalty, as in micrograd's demo
SIZES = [2, 16, 16, 1]  # micrograd's demo network: MLP(2, [16, 16, 1])
LR = 1.0  # the demo's learning rate at step 0

Params = list[nn.Layer]
Points = list[list[float]]
Labels = list[float]


@dataclass
class Problem:
    """The moons data set of one size and the demo network's initial parameters."""

    n: int
    points: Points
    labels: Labels
    params: Params

    @staticmethod
    def make(n: int, sizes: Sequence[int] = SIZES) -> Problem:
        """Seeded data (noise 0.1) and weights drawn as micrograd draws them."""
        points, labels = make_moons(n, NOISE, random.Random(SEED))
        return Problem(n, points, labels, nn.init_mlp(random.Random(SEED), sizes))
