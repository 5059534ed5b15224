"""The moons step written per example and mapped with vmap, against PyTorch batched and the loop.

The loss is the demo's (mean hinge loss + 1e-4 * L2 penalty of every
parameter), written for one example and mapped with ``tg.vmap``; the
reference implementations compute the same numbers: tapegrad's plain
per-example loop, and PyTorch with batched float64 tensors on one thread.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from typing import Any, Callable, Optional, Sequence

import tapegrad as tg
from tapegrad import nn
from tapegrad.core.tree import leaves

from harness.checks import check_close
from harness.timing import Competitor
from workloads.common import ALPHA, Problem


def hinge(params: Any, x: Sequence[tg.Scalar], y: tg.Scalar) -> tg.Scalar:
    """One example's hinge loss."""
    return tg.relu(1.0 - y * nn.mlp(params, x))


def vmapped_loss(params: Any, X: Any, Y: Any) -> tg.Scalar:
    """The batch loss: the mean of the mapped per-example loss, plus the L2 penalty."""
    return tg.mean(tg.vmap(hinge, in_axes=(None, 0, 0))(params, X, Y)) + ALPHA * nn.l2_penalty(params)


def loop_loss(params: Any, X: Sequence[Sequence[float]], Y: Sequence[float]) -> tg.Scalar:
    """The same loss as a plain Python loop over the examples (the eager baseline)."""
    return nn.svm_hinge_loss([nn.mlp(params, x) for x in X], Y) + ALPHA * nn.l2_penalty(params)


def jitted_step(problem: Problem, backend: str) -> tuple[Callable[[], Any], float, int]:
    """``jit(value_and_grad(vmapped_loss))`` on columns; returns the step, its first call's seconds, and its tape length."""
    X, Y = tg.batch(problem.points, backend), tg.batch(problem.labels, backend)
    step = tg.jit(tg.value_and_grad(vmapped_loss))
    t0 = time.perf_counter()
    step(problem.params, X, Y)
    first = time.perf_counter() - t0
    return (lambda: step(problem.params, X, Y)), first, step.stats.records


def eager_vmap_step(problem: Problem, backend: str) -> Callable[[], Any]:
    """``value_and_grad`` of the vmapped loss, without jit."""
    X, Y = tg.batch(problem.points, backend), tg.batch(problem.labels, backend)
    vg = tg.value_and_grad(vmapped_loss)
    return lambda: vg(problem.params, X, Y)


def eager_loop_step(problem: Problem) -> Callable[[], Any]:
    """``value_and_grad`` of the loop loss: one copy of the network's records per example."""
    vg = tg.value_and_grad(loop_loss)
    return lambda: vg(problem.params, problem.points, problem.labels)


def torch_step(problem: Problem) -> Optional[Callable[[], Any]]:
    """PyTorch on the same network and loss, batched float64 tensors, one thread (None without torch)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    W = [torch.tensor(layer["w"], dtype=torch.float64, requires_grad=True) for layer in problem.params]
    B = [torch.tensor(layer["b"], dtype=torch.float64, requires_grad=True) for layer in problem.params]
    X = torch.tensor(problem.points, dtype=torch.float64)
    Y = torch.tensor(problem.labels, dtype=torch.float64)
    params = [p for pair in zip(B, W) for p in pair]  # tapegrad's leaf order: each layer's b, then w

    def step() -> tuple[float, list[float]]:
        h = X
        for k, (w, b) in enumerate(zip(W, B)):
            h = h @ w.T + b
            if k < len(W) - 1:
                h = torch.relu(h)
        loss = torch.relu(1.0 - Y * h[:, 0]).mean() + ALPHA * sum((p * p).sum() for p in params)
        grads = torch.autograd.grad(loss, params)
        return float(loss.detach()), [float(v) for g in grads for v in g.reshape(-1).tolist()]

    return step


def check_against(problem: Problem, backend: str, torch_fn: Optional[Callable[[], Any]]) -> dict[str, float]:
    """The vmapped loss and gradient against the loop's (and PyTorch's): the largest relative differences."""
    X, Y = tg.batch(problem.points, backend), tg.batch(problem.labels, backend)
    value, grads = tg.value_and_grad(vmapped_loss)(problem.params, X, Y)
    loop_value, loop_grads = tg.value_and_grad(loop_loss)(problem.params, problem.points, problem.labels)
    out = {
        f"vmap ({backend}) loss vs loop": check_close("vmap loss", [value], [loop_value]),
        f"vmap ({backend}) grads vs loop": check_close("vmap gradient", leaves(grads), leaves(loop_grads)),
    }
    if torch_fn is not None:
        t_value, t_grads = torch_fn()
        out["vmap loss vs PyTorch"] = check_close("vmap loss vs PyTorch", [value], [t_value])
        out["vmap grads vs PyTorch"] = check_close("vmap gradient vs PyTorch", leaves(grads), t_grads)
    return out


def peak_bytes(fn: Callable[[], Any]) -> int:
    """The tracemalloc peak of one call (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def competitor(key: str, label: str, step: Callable[[], Any], per_block: int) -> Competitor:
    """A timed competitor for the paired-rounds protocol."""
    return Competitor(key, label, step, per_block)


def seeded_problem(n: int) -> Problem:
    """The benchmark's moons problem with ``n`` points."""
    random.seed(0)
    return Problem.make(n)
