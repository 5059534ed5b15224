"""What the workloads measure, as data: the results the targets and the reports read.

The workloads fill these in; :mod:`harness.targets` and :mod:`harness.report`
read them. Keeping them here is what lets the harness know nothing about the
code being timed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from harness.stats import PairedTimings, paired_ratio_of_totals

# The ratios the targets are about: (slower, faster).
RATIOS = [("micrograd", "eager_user"), ("micrograd", "eager_nn"), ("micrograd", "jit"), ("jit", "handwritten")]

# The rate of the million-operation chain (its gradient is CHAIN_RATE ** operations).
CHAIN_RATE = 0.999999


@dataclass
class StepResults:
    """Everything measured at one data-set size."""

    n: int
    timings: PairedTimings
    jit_first_call_s: float
    jit_trace_s: float
    jit_compile_s: float
    jit_instructions: int
    jit_records: int
    jit_backend: str
    jit_replay_only_s: float  # median of jitted(params) without the SGD update
    micrograd_recursion_limit: int  # the limit micrograd needed (the default if it sufficed); 0 without micrograd
    checks: dict[str, float]

    def ratio(self, slow: str, fast: str) -> float:
        """The paired ratio: median over rounds of ``slow``'s time over ``fast``'s within each round."""
        return self.timings.ratio(slow, fast)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly summary, with every sample round by round."""
        comps = self.timings.competitors
        ratios = [(a, b) for a, b in RATIOS if a in comps and b in comps]
        return {
            "points": self.n,
            "median_ms": {k: c.median * 1e3 for k, c in comps.items()},
            "min_ms": {k: min(c.samples) * 1e3 for k, c in comps.items()},
            "samples_ms_per_round": {k: [[s * 1e3 for s in r] for r in c.rounds] for k, c in comps.items()},
            "micrograd_first_step_ms_per_round": [t * 1e3 for t in comps["micrograd"].first] if "micrograd" in comps else [],
            "ratios": {f"{a}/{b}": self.timings.ratio(a, b) for a, b in ratios},
            "ratios_per_round": {f"{a}/{b}": self.timings.round_ratios(a, b) for a, b in ratios},
            "ratios_of_pooled_medians": {f"{a}/{b}": self.timings.ratio_of_medians(a, b) for a, b in ratios},
            "jit": {
                "first_call_s": self.jit_first_call_s,
                "trace_s": self.jit_trace_s,
                "compile_s": self.jit_compile_s,
                "instructions": self.jit_instructions,
                "records": self.jit_records,
                "backend": self.jit_backend,
                "replay_only_ms": self.jit_replay_only_s * 1e3,
            },
            "micrograd_recursion_limit": self.micrograd_recursion_limit,
            "max_abs_difference": self.checks,
        }


@dataclass
class ScaleResults:
    """A million-operation chain, a bigger network, and where micrograd breaks."""

    chain_ops: int
    chain_s: float
    chain_grad: float
    big_sizes: list[int]
    big_losses: list[float]
    big_step_s: list[float]
    micrograd_sizes: list[int]
    micrograd_params: int
    micrograd_error: str
    micrograd_recursion_limit: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "chain": {"operations": self.chain_ops, "seconds": self.chain_s, "grad": self.chain_grad},
            "tapegrad_big_mlp": {"sizes": self.big_sizes, "losses": self.big_losses, "step_s": self.big_step_s},
            "micrograd_big_mlp": {
                "sizes": self.micrograd_sizes,
                "parameters": self.micrograd_params,
                "error": self.micrograd_error,
                "recursion_limit": self.micrograd_recursion_limit,
            },
        }


@dataclass
class TrainingResults:
    """Complete trainings of the moons example, eager and jit, one pair per round."""

    steps: int
    n: int
    eager_s: list[float]
    jit_s: list[float]  # each includes the jit's trace and compile
    jit_first_call_s: float
    jit_trace_s: float
    jit_compile_s: float
    jit_instructions: int
    final_loss: float
    final_accuracy: float

    @property
    def round_ratios(self) -> list[float]:
        """Eager over jit within each round (the two trainings ran back to back)."""
        return [e / j for e, j in zip(self.eager_s, self.jit_s)]

    @property
    def ratio(self) -> float:
        """How many times faster the jit training is: the median over rounds, as for the steps."""
        return paired_ratio_of_totals(self.eager_s, self.jit_s)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "steps": self.steps,
            "points": self.n,
            "eager_s": self.eager_s,
            "jit_s": self.jit_s,
            "eager_median_s": statistics.median(self.eager_s),
            "jit_median_s": statistics.median(self.jit_s),
            "eager/jit": self.ratio,
            "eager/jit_per_round": self.round_ratios,
            "jit_first_call_s": self.jit_first_call_s,
            "jit_trace_s": self.jit_trace_s,
            "jit_compile_s": self.jit_compile_s,
            "jit_instructions": self.jit_instructions,
            "final_loss": self.final_loss,
            "final_accuracy": self.final_accuracy,
        }


@dataclass
class MemoryResults:
    """Peak memory during one step, per recorded operation (tapegrad) or graph node (micrograd)."""

    n: int
    tapegrad_peak: int
    tapegrad_records: int
    micrograd_peak: int
    micrograd_nodes: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "points": self.n,
            "tapegrad": {
                "peak_bytes": self.tapegrad_peak,
                "records": self.tapegrad_records,
                "bytes_per_record": self.tapegrad_peak / self.tapegrad_records,
            },
            "micrograd": {
                "peak_bytes": self.micrograd_peak,
                "nodes": self.micrograd_nodes,
                "bytes_per_node": self.micrograd_peak / self.micrograd_nodes,
            },
        }
