"""The main scenario: one training step of the moons demo, every competitor, in paired rounds."""

from __future__ import annotations

import statistics
from typing import Optional, Sequence

from harness.results import StepResults
from harness.stats import PairedTimings
from harness.timing import Competitor, Log, run_paired_rounds
from workloads import eager_nn, eager_user, handwritten, micrograd_demo, tapegrad_jit
from workloads.common import Problem

# Every competitor, in the report's column order.
ALL = ("micrograd", "eager_user", "eager_nn", "jit", "handwritten")



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
