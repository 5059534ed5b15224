"""Multiclass classification: an MLP learns the three iris species with softmax cross-entropy and Adam.

The data is scikit-learn's bundled copy of Fisher's iris set (150 flowers,
4 measurements, 3 species; it ships inside the package, nothing is
downloaded). The flowers are shuffled with a seeded ``random.Random`` and
split into 105 for training and 45 for testing; features are standardised
with the training set's mean and deviation. A 4-16-3 ReLU network is
trained full-batch with ``nn.adam``, the loss written for one flower and mapped over
the training set with ``tg.vmap``, and the test accuracy is printed.

    pip install 'tapegrad[examples]'        # scikit-learn
    python examples/iris.py                 # 150 steps
    python examples/iris.py --jit           # the same, replaying one recorded tape
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from typing import Any, Sequence

import tapegrad as tg
from tapegrad import nn

Row = list[float]


def _require_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        sys.exit(
            "examples/iris.py needs scikit-learn (for its bundled iris data), an optional extra: "
            "pip install 'tapegrad[examples]' (or pip install scikit-learn)"
        )


def load_split(seed: int = 0, n_test: int = 45) -> tuple[list[Row], list[int], list[Row], list[int]]:
    """Standardised (train_x, train_y, test_x, test_y) from scikit-learn's iris data."""
    _require_sklearn()
    from sklearn.datasets import load_iris

    data = load_iris()
    xs: list[Row] = [[float(v) for v in row] for row in data.data]
    ys: list[int] = [int(y) for y in data.target]
    order = list(range(len(xs)))
    random.Random(seed).shuffle(order)
    test, train = order[:n_test], order[n_test:]
    # Standardise with the training statistics only, so the test set stays unseen.
    n_features = len(xs[0])
    mean = [math.fsum(xs[i][j] for i in train) / len(train) for j in range(n_features)]
    std = [math.sqrt(math.fsum((xs[i][j] - mean[j]) ** 2 for i in train) / len(train)) for j in range(n_features)]

    def scale(i: int) -> Row:
        return [(v - m) / s for v, m, s in zip(xs[i], mean, std)]

    return [scale(i) for i in train], [ys[i] for i in train], [scale(i) for i in test], [ys[i] for i in test]


def predict(params: nn.MLPParams, x: Sequence[float]) -> int:
    """The class with the largest logit."""
    logits = [tg.primal(v) for v in nn.mlp_outputs(params, x)]
    return max(range(len(logits)), key=logits.__getitem__)


def accuracy(params: nn.MLPParams, xs: Sequence[Row], ys: Sequence[int]) -> float:
    """Fraction of examples whose predicted class is the label."""
    return sum(predict(params, x) == y for x, y in zip(xs, ys)) / len(ys)


def per_example(params: nn.MLPParams, x: Sequence[tg.Scalar], y: tg.Scalar) -> tg.Scalar:
    """One flower's softmax cross-entropy (``y`` is its class index, as a float)."""
    return nn.cross_entropy([nn.mlp_outputs(params, x)], [y])


def batch_loss(params: nn.MLPParams, xs: Any, ys: Any) -> tg.Scalar:
    """The mean cross-entropy over the batch, mapped with vmap, plus a small L2 penalty."""
    return tg.mean(tg.vmap(per_example, in_axes=(None, 0, 0))(params, xs, ys)) + 1e-4 * nn.l2_penalty(params)


def train(
    steps: int = 150, lr: float = 0.01, seed: int = 0, use_jit: bool = False, verbose: bool = True
) -> tuple[nn.MLPParams, list[float], float]:
    """Train on the training split; return the params, the loss per step and the test accuracy."""
    train_x, train_y, test_x, test_y = load_split(seed)
    # Columns (one example's shape, the whole training set at each leaf): vmap
    # maps over them, and under jit each is one input of the compiled step.
    X, Y = tg.batch(train_x), tg.batch([float(y) for y in train_y])
    params: nn.MLPParams = nn.init_mlp(random.Random(seed), [4, 16, 3])
    step_fn = tg.value_and_grad(batch_loss)  # the gradient with respect to params, the first argument
    if use_jit:
        step_fn = tg.jit(step_fn)
    # Adam with a short warmup and a cosine decay to a tenth of the rate.
    opt = nn.adam(nn.linear_warmup(lr, 10, nn.cosine_decay(lr, max(steps - 10, 1), final=lr / 10)))
    state = opt.init(params)
    history: list[float] = []
    for k in range(steps):
        value, grads = step_fn(params, X, Y)
        params, state = opt.update(params, grads, state)
        history.append(tg.primal(value))
        if verbose and (k % 25 == 0 or k == steps - 1):
            print(f"step {k:3d}  loss {tg.primal(value):.4f}  train accuracy {accuracy(params, train_x, train_y):.0%}")
    test_acc = accuracy(params, test_x, test_y)
    return params, history, test_acc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit", action="store_true", help="replay one recorded tape instead of re-tracing each step")
    args = parser.parse_args(argv)
    _require_sklearn()  # fail before anything else
    _, _, test_acc = train(args.steps, args.lr, args.seed, args.jit)
    print(f"test accuracy {test_acc:.1%} (chance: 33%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
