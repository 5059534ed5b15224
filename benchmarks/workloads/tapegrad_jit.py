"""tapegrad jit: ``tapegrad.jit(tapegrad.value_and_grad(loss))`` replaying its compiled program."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import tapegrad as tg
from tapegrad import nn
from tapegrad.core.tree import leaves

from harness.checks import BenchmarkError, check_close
from harness.timing import Competitor, time_once
from workloads.common import LR, Problem
from workloads.eager_nn import Reference, nn_loss


@dataclass
class JitSetup:
    """The jitted step, its one-time cost (from ``Jitted.stats``), and its competitor."""

    jitted: Any
    competitor: Competitor
    first_call_s: float  # wall time of the first call: trace, compile and one run
    trace_s: float
    compile_s: float
    instructions: int
    records: int
    backend: str  # the back end jit chose on this Python: "bytecode" or "source"


def prepare(problem: Problem, ref: Reference, checks: dict[str, float]) -> JitSetup:
    """Jit the ``nn`` loss's ``value_and_grad``, time its first call, and check a replay against ``ref``."""
    params = problem.params
    # The data are arguments, as jit recommends (a closure's numbers would be frozen into the trace).
    step = tg.jit(tg.value_and_grad(nn_loss))
    points, labels = problem.points, problem.labels

    def jitted(p: Any) -> Any:
        return step(p, points, labels)

    jitted.stats = step.stats  # type: ignore[attr-defined]  # the same object, updated by every call

    # The first call traces and compiles; it is timed on its own.
    t0 = time.perf_counter()
    jitted(params)
    first = time.perf_counter() - t0
    stats = step.stats
    loss, grads = jitted(params)  # one replay, also the warm-up for the timings
    checks["jit loss"] = check_close("jit loss", [loss], [ref.loss])
    checks["jit grads"] = check_close("jit gradient", leaves(grads), ref.flat_grads)
    comp = Competitor("jit", "tapegrad jit", lambda: nn.sgd_step(params, jitted(params)[1], LR), 10)
    return JitSetup(
        jitted, comp, first, stats.trace_seconds, stats.compile_seconds, stats.instructions, stats.records, stats.backend
    )


def replay_only_seconds(setup: JitSetup, params: Any, runs: int = 11) -> list[float]:
    """Seconds of ``runs`` replays alone, without the SGD update, each on a freshly collected heap."""
    return [time_once(lambda: setup.jitted(params)) for _ in range(runs)]


def check_single_trace(setup: JitSetup) -> None:
    """Raise unless the jitted step traced once and every later call replayed."""
    stats = setup.jitted.stats
    if stats.traces != 1 or stats.guard_failures:
        raise BenchmarkError(f"jit traced {stats.traces} times with {stats.guard_failures} guard failures; expected one trace")
