"""The main scenario: one training step of the moons demo, every competitor, in paired rounds."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from harness.stats import PairedTimings
from harness.timing import Competitor, Log, run_paired_rounds
from workloads import eager_nn, eager_user, handwritten, micrograd_demo, tapegrad_jit
from workloads.common import Problem

# The ratios the targets are about: (slower, faster).
RATIOS = [("micrograd", "eager_user"), ("micrograd", "eager_nn"), ("micrograd", "jit"), ("jit", "handwritten")]

# Every competitor, in the report's column order.
ALL = ("micrograd", "eager_user", "eager_nn", "jit", "handwritten")


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


def bench_step(
    n: int, rounds: int, micrograd_per_round: int, log: Log, only: Sequence[str] = ALL
) -> StepResults:
    """Verify the competitors in ``only`` against each other at ``n`` points, then time them in paired rounds.

    The jit competitor is always prepared (its one-time cost is part of the
    results) and ``micrograd`` is the middle of every round when included.
    """
    problem = Problem.make(n)
    checks: dict[str, float] = {}
    ref = eager_nn.reference(problem)  # tapegrad eager with nn: the reference for every check

    outer: list[Competitor] = []
    if "eager_user" in only:
        outer.append(eager_user.competitor(problem, ref, checks))
    if "eager_nn" in only:
        outer.append(eager_nn.competitor(problem))
    jit = tapegrad_jit.prepare(problem, ref, checks)
    if "jit" in only:
        outer.append(jit.competitor)
    if "handwritten" in only:
        outer.append(handwritten.competitor(problem, ref, checks))
    middle: Optional[Competitor] = None
    limit = 0
    if "micrograd" in only:
        middle, limit = micrograd_demo.competitor(problem, ref, checks, micrograd_per_round)

    run_paired_rounds(outer, middle, rounds, log, label=f"{n} points, ")
    replay_only = tapegrad_jit.replay_only_seconds(jit, problem.params)
    tapegrad_jit.check_single_trace(jit)

    by_key = {c.key: c for c in [*outer, *([middle] if middle is not None else [])]}
    ordered = {k: by_key[k] for k in ALL if k in by_key}
    return StepResults(
        n,
        PairedTimings(ordered),
        jit.first_call_s,
        jit.trace_s,
        jit.compile_s,
        jit.instructions,
        jit.records,
        jit.backend,
        statistics.median(replay_only),
        limit,
        checks,
    )
