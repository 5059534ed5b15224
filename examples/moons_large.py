"""The moons classifier on 20,000 points: vmap runs one example's program on the whole batch.

The per-example loss is written for one point, as in examples/moons.py;
``tg.vmap`` maps it over the batch, ``tg.jit`` compiles the step once (one
example's program, whatever the number of points), and Adam trains it. Each
step's time is printed: with NumPy installed (``pip install 'tapegrad[numpy]'``)
every record of the program is one vectorized operation; without it the
batches are Python lists, which is slower but needs nothing.

    python examples/moons_large.py                      # 20,000 points, 150 steps
    python examples/moons_large.py --points 50000 --backend python
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any, Sequence

import tapegrad as tg
from tapegrad import nn
from tapegrad.datasets import make_moons


def hinge(params: nn.MLPParams, x: Sequence[tg.Scalar], y: tg.Scalar) -> tuple[tg.Scalar, tg.Scalar]:
    """One example's hinge loss, and 1.0 if the example is classified right."""
    score = nn.mlp(params, x)
    return tg.relu(1.0 - y * score), tg.step(y * score)


def batch_loss(params: nn.MLPParams, points: Any, labels: Any) -> tuple[tg.Scalar, tg.Scalar]:
    """Mean hinge loss plus a small L2 penalty, and the accuracy (as aux)."""
    losses, hits = tg.vmap(hinge, in_axes=(None, 0, 0))(params, points, labels).columns
    return tg.mean(losses) + 1e-4 * nn.l2_penalty(params), tg.mean(hits)


def train(n_points: int, steps: int, backend: str, seed: int = 0, verbose: bool = True) -> tuple[float, float, list[float]]:
    """Train; return the final loss and accuracy and the seconds of each step."""
    points, labels = make_moons(n_points, 0.1, random.Random(seed))
    X, Y = tg.batch(points, backend), tg.batch(labels, backend)  # columns: one jit input each
    params: nn.MLPParams = nn.init_mlp(random.Random(seed), [2, 16, 16, 1])
    step = tg.jit(tg.value_and_grad(batch_loss, has_aux=True))
    opt = nn.adam(nn.cosine_decay(0.02, steps, final=0.002))
    state = opt.init(params)
    times: list[float] = []
    value = acc = 0.0
    for k in range(steps):
        t0 = time.perf_counter()
        (value, acc), grads = step(params, X, Y)
        params, state = opt.update(params, grads, state)
        times.append(time.perf_counter() - t0)
        if verbose and (k % 25 == 0 or k == steps - 1):
            print(f"step {k:3d}  loss {value:.4f}  accuracy {acc:.1%}  step time {times[-1] * 1e3:.1f} ms")
    return value, acc, times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--backend", choices=["auto", "numpy", "python"], default="auto")
    args = parser.parse_args(argv)
    backend = args.backend
    if backend == "auto":
        backend = "numpy" if tg.core.batch.numpy_available() else "python"
    print(f"{args.points} points, backend {backend!r}")
    _, acc, times = train(args.points, args.steps, backend)
    later = sorted(times[1:])
    print(f"first step (trace and compile included) {times[0]:.2f} s; median step after it {later[len(later) // 2] * 1e3:.1f} ms")
    print(f"training accuracy {acc:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
