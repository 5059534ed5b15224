"""Scale: a million-operation chain, a bigger network, and where micrograd breaks."""

from __future__ import annotations

import sys
from typing import Any, Callable

import tapegrad as tg
from tapegrad import nn

from harness.checks import check_close
from harness.fmt import fmt_s
from harness.results import CHAIN_RATE, ScaleResults
from harness.timing import Log, time_once
from workloads.common import Params, Problem
from workloads.eager_nn import make_nn_loss
from workloads.micrograd_demo import MicrogradDemo

CHAIN_ITERATIONS = 500_000  # two operations each: a chain of 1,000,000
BIG_SIZES = [2, 64, 64, 1]
MICROGRAD_SIZES = [2, 30, 30, 1]



def bench_scale(big_steps: int, log: Log) -> ScaleResults:
    """grad through a 1,000,000-operation chain; a 2-64-64-1 network; micrograd on a 2-30-30-1."""
    tape_length = 0

    def chain(x: Any) -> Any:
        nonlocal tape_length
        for _ in range(CHAIN_ITERATIONS):
            x = x * CHAIN_RATE + 1e-7
        # The last record's index plus one is the tape's length: it proves
        # the chain really was recorded as one tape of that many operations.
        tape_length = x.index + 1
        return x

    d = 0.0
    grad_chain: Callable[[float], float] = tg.grad(chain)

    def run_chain() -> None:
        nonlocal d
        d = grad_chain(1.0)

    chain_s = time_once(run_chain)
    check_close("gradient of the chain", [d], [CHAIN_RATE**CHAIN_ITERATIONS], tol=1e-9 * CHAIN_RATE**CHAIN_ITERATIONS)
    chain_ops = tape_length - 1  # one record is the input
    log(f"  chain of {chain_ops:,} operations: {fmt_s(chain_s)}")

    # A bigger network trains: a few eager steps, the loss must go down.
    big = Problem.make(100, BIG_SIZES)
    vg = tg.value_and_grad(make_nn_loss(big.points, big.labels))
    params: Params = big.params
    losses: list[float] = []
    step_s: list[float] = []
    for k in range(big_steps):
        out: list[Any] = []
        step_s.append(time_once(lambda: out.extend(vg(params))))
        losses.append(out[0])
        params = nn.sgd_step(params, out[1], 0.05)  # smaller steps than the demo's lr 1.0: a wider network
        log(f"  MLP(2, [64, 64, 1]) step {k}: loss {out[0]:.6f} ({fmt_s(step_s[-1])})")

    # micrograd on MLP(2, [30, 30, 1]) with the demo's L2 term, at the default
    # recursion limit: the L2 sum is a chain of 1,051 additions, deeper than
    # build_topo can recurse.
    demo = MicrogradDemo(Problem.make(100, MICROGRAD_SIZES), MICROGRAD_SIZES)
    limit = sys.getrecursionlimit()
    error = "none: backward() succeeded"
    try:
        demo.step()
    except RecursionError as exc:
        error = f"RecursionError: {exc}"
    log(f"  micrograd MLP(2, [30, 30, 1]): {error}")
    return ScaleResults(
        chain_ops, chain_s, d, BIG_SIZES, losses, step_s, MICROGRAD_SIZES, len(demo.model.parameters()), error, limit
    )
