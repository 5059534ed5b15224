"""micrograd's moons demo, redone with pure functions.

A 2-16-16-1 ReLU network learns to separate two interleaving half moons.
Everything is explicit: the data and the initial weights come from seeded
``random.Random`` objects, the loss is a plain function of the parameter
tree, and each step builds new parameters from ``grad(loss)(params)``.

    python examples/moons.py                 # train and print progress
    python examples/moons.py --jit           # the same, replaying one recorded tape
    python examples/moons.py --vmap          # one example's program, run on the whole batch
    python examples/moons.py --vmap --jit    # both: the jit compiles one example's program
    python examples/moons.py --plot moons.png --curve curve.png   # needs matplotlib
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any, Sequence

import tapegrad as tg
from tapegrad import nn
from tapegrad.datasets import make_moons

Point = Sequence[float]


def loss(params: nn.MLPParams, points: Sequence[Point], labels: Sequence[float], alpha: float = 1e-4) -> tuple[tg.Scalar, tg.Scalar]:
    """The demo's loss: mean SVM hinge loss plus ``alpha`` times the L2 penalty.

    It returns ``(loss, accuracy)``; use it with ``has_aux=True``. The data
    are arguments, not closure variables, so that under ``--jit`` a new
    batch is an input of the replay rather than a constant frozen into it.
    """
    scores = [nn.mlp(params, x) for x in points]
    total = nn.svm_hinge_loss(scores, labels) + alpha * nn.l2_penalty(params)
    return total, nn.accuracy(scores, labels)


def hinge(params: nn.MLPParams, x: Sequence[tg.Scalar], y: tg.Scalar) -> tuple[tg.Scalar, tg.Scalar]:
    """One example's hinge loss and whether it is classified right (1.0 or 0.0)."""
    score = nn.mlp(params, x)
    return tg.relu(1.0 - y * score), tg.step(y * score)


def vmapped_loss(params: nn.MLPParams, points: Any, labels: Any, alpha: float = 1e-4) -> tuple[tg.Scalar, tg.Scalar]:
    """The same loss as :func:`loss`, written per example and mapped over the batch with vmap.

    ``points`` and ``labels`` are columns (:func:`tapegrad.batch`), so the
    tape is one example's program whatever the number of points.
    """
    losses, hits = tg.vmap(hinge, in_axes=(None, 0, 0))(params, points, labels).columns
    return tg.mean(losses) + alpha * nn.l2_penalty(params), tg.mean(hits)


def train(
    steps: int = 100, n_points: int = 100, seed: int = 1337, use_jit: bool = False, verbose: bool = True, use_vmap: bool = False
) -> tuple[nn.MLPParams, list[tuple[float, float]]]:
    """Train the moons classifier; return the final params and (loss, accuracy) per step."""
    points, labels = make_moons(n_points, 0.1, random.Random(seed))
    data: tuple[Any, Any] = (points, labels)
    if use_vmap:
        data = (tg.batch(points), tg.batch(labels))  # columns: under jit each is one input
    params: nn.MLPParams = nn.init_mlp(random.Random(seed), [2, 16, 16, 1])
    step_fn = tg.value_and_grad(vmapped_loss if use_vmap else loss, has_aux=True)  # differentiates params, the first argument
    if use_jit:
        step_fn = tg.jit(step_fn)
    history: list[tuple[float, float]] = []
    for k in range(steps):
        (value, acc), grads = step_fn(params, *data)
        lr = 1.0 - 0.9 * k / steps
        params = nn.sgd_step(params, grads, lr)
        # has_aux already turned acc into a float; primal() only tells mypy so.
        history.append((tg.primal(value), tg.primal(acc)))
        if verbose and (k % 10 == 0 or k == steps - 1):
            print(f"step {k:3d}  loss {value:.6f}  accuracy {acc:.0%}")
    return params, history


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit("plotting needs matplotlib, an optional extra: pip install 'tapegrad[plot]' (or pip install matplotlib)")


def plot_boundary(params: nn.MLPParams, path: str, n_points: int = 100, seed: int = 1337) -> None:
    """Save the decision boundary and the training points as a PNG."""
    _require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, labels = make_moons(n_points, 0.1, random.Random(seed))
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    h = 0.05
    gx = [min(xs) - 1 + h * i for i in range(int((max(xs) - min(xs) + 2) / h))]
    gy = [min(ys) - 1 + h * j for j in range(int((max(ys) - min(ys) + 2) / h))]
    # Plain floats in, plain floats out: the network is just a function.
    zz = [[1.0 if nn.mlp(params, [x, y]) > 0 else 0.0 for x in gx] for y in gy]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(gx, gy, zz, cmap="Spectral", alpha=0.8)
    ax.scatter(xs, ys, c=labels, s=30, cmap="jet", edgecolors="k")
    ax.set_title("tapegrad MLP(2, [16, 16, 1]) on two moons")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curve(history: list[tuple[float, float]], path: str) -> None:
    """Save the loss and accuracy per step as a PNG."""
    _require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    (loss_line,) = ax.plot([h[0] for h in history], label="loss", color="tab:blue")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    (acc_line,) = ax2.plot([h[1] for h in history], label="accuracy", color="tab:orange")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1.05)
    # One legend for both axes, inside the plot, clear of the axis labels.
    ax.legend(handles=[loss_line, acc_line], loc="center right")
    ax.set_title("training the moons classifier")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--jit", action="store_true", help="replay one recorded tape instead of re-tracing each step")
    parser.add_argument("--vmap", action="store_true", help="write the loss per example and map it over the batch")
    parser.add_argument("--plot", metavar="FILE.png", help="save the decision boundary (needs matplotlib)")
    parser.add_argument("--curve", metavar="FILE.png", help="save the loss/accuracy curve (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.plot or args.curve:
        _require_matplotlib()  # fail before training, not after
    params, history = train(args.steps, args.points, args.seed, args.jit, use_vmap=args.vmap)
    if args.plot:
        plot_boundary(params, args.plot, args.points, args.seed)
        print(f"decision boundary saved to {args.plot}")
    if args.curve:
        plot_curve(history, args.curve)
        print(f"loss curve saved to {args.curve}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
