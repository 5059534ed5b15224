"""Explorer pages for micrograd's two classic graphs and for one step of the moons network.

Each page is one HTML file that steps through the forward sweep and then
the reverse sweep one record at a time (open it in any browser; it fetches
nothing). The pages:

1. ``expression.html``: micrograd's first graph, ``y = relu(x * 2 + 1)`` at ``x = 1``;
2. ``neuron.html``: one ReLU neuron with two inputs at ``x = [1.0, -2.0]``,
   weights drawn as micrograd's ``Neuron(2)`` draws them after
   ``random.seed(1337)``, the pre-activation named with ``tg.name``;
3. ``moons.html``: the hinge loss of the moons demo's 2-16-16-1 network on a
   few points, each example in its own ``tg.name_scope``. Its tape has
   thousands of records, so the graph is collapsed to one box per example
   and per primitive, while the table lists every record.

    python examples/explore.py                 # writes the pages into explorer-pages/
    python examples/explore.py --out DIR --points 4
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Optional, Sequence, TypedDict

import tapegrad as tg
from tapegrad import nn
from tapegrad.datasets import make_moons


class NeuronParams(TypedDict):
    """A neuron's weights (one per input) and bias."""

    w: list[tg.Scalar]
    b: tg.Scalar


def expression(x: tg.Scalar) -> tg.Scalar:
    """micrograd's first example: ``(x * 2 + 1).relu()``."""
    return tg.relu(x * 2.0 + 1.0)


def init_neuron(rng: random.Random, n_in: int) -> NeuronParams:
    """Weights as micrograd's ``Neuron(n_in)`` draws them: ``uniform(-1, 1)`` each, then bias 0."""
    return {"w": [rng.uniform(-1.0, 1.0) for _ in range(n_in)], "b": 0.0}


def neuron(params: NeuronParams, x: Sequence[tg.Scalar]) -> tg.Scalar:
    """``relu(b + w0 * x0 + w1 * x1)``, summed in micrograd's order (bias first)."""
    act = params["b"]
    for wi, xi in zip(params["w"], x):
        act = act + wi * xi
    return tg.relu(tg.name(act, "act"))


def moons_loss(params: nn.MLPParams, points: Sequence[Sequence[float]], labels: Sequence[float]) -> tuple[tg.Scalar, tg.Scalar]:
    """The moons demo's hinge loss (without its L2 term), one named scope per example; returns (loss, accuracy)."""
    scores = []
    for k, x in enumerate(points):
        with tg.name_scope(f"example {k}"):
            scores.append(tg.name(nn.mlp(params, x), f"score {k}"))
    return nn.svm_hinge_loss(scores, labels), nn.accuracy(scores, labels)


def write_pages(out: Path, points: int = 4) -> list[Path]:
    """Write the three pages into ``out`` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    pages = [
        tg.explore(expression, title="micrograd's expression: y = relu(x * 2 + 1)")(1.0).save(out / "expression.html"),
        tg.explore(neuron, title="micrograd's neuron: relu(b + w0 x0 + w1 x1)")(init_neuron(random.Random(1337), 2), [1.0, -2.0]).save(
            out / "neuron.html"
        ),
    ]
    xs, ys = make_moons(points, 0.1, random.Random(1337))
    params = nn.init_mlp(random.Random(1337), [2, 16, 16, 1])
    moons = tg.explore(moons_loss, argnums=0, has_aux=True, title=f"One step of the moons network: the hinge loss on {points} points")
    pages.append(moons(params, xs, ys).save(out / "moons.html"))
    return pages


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="explorer-pages", help="the directory to write the pages into")
    parser.add_argument("--points", type=int, default=4, help="how many moons points the loss page uses")
    args = parser.parse_args(argv)
    for path in write_pages(Path(args.out), args.points):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
