"""Memory: peak bytes per tape record (tapegrad) against peak bytes per graph node (micrograd)."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any, Callable

import tapegrad as tg

from harness.results import MemoryResults

from workloads.common import Problem
from workloads.eager_nn import make_nn_loss
from workloads.micrograd_demo import MicrogradDemo, count_nodes



def traced_peak(fn: Callable[[], object]) -> tuple[int, Any]:
    """Bytes allocated at the peak of ``fn()`` beyond what was alive before, and its result."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base, result


def bench_memory(n: int = 100) -> MemoryResults:
    """tracemalloc peaks for one tapegrad value_and_grad step and one micrograd forward + backward."""
    problem = Problem.make(n)
    loss = make_nn_loss(problem.points, problem.labels)
    records = len(tg.trace(loss)(problem.params))
    tg_peak, _ = traced_peak(lambda: tg.value_and_grad(loss)(problem.params))

    demo = MicrogradDemo(problem)

    def forward_backward() -> Any:
        total = demo.loss()
        demo.model.zero_grad()
        total.backward()
        return total  # keep the graph alive to count it afterwards

    mg_peak, total = traced_peak(forward_backward)
    return MemoryResults(n, tg_peak, records, mg_peak, count_nodes(total))
