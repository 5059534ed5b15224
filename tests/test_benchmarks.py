"""The benchmarks' own structure and correctness checks (no timing is asserted here).

The benchmarks are run by hand (they take minutes on a quiet machine); these
tests keep their code honest between runs: the harness stays independent of
the workloads, the paired-rounds protocol pairs what it says it pairs, and
the vmap workload computes the same loss and gradient as the loop it is
compared with.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Iterator

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(autouse=True)
def _benchmarks_on_path() -> Iterator[None]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_the_harness_imports_no_workload() -> None:
    # harness/ is the protocol, statistics, targets and reports; the code being
    # timed lives in workloads/, which may import the harness but not the reverse.
    offenders = []
    for path in sorted((BENCHMARKS / "harness").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n == "workloads" or n.startswith("workloads.")]
    assert offenders == []


def test_paired_rounds_time_every_competitor_in_every_round() -> None:
    from harness.stats import PairedTimings
    from harness.timing import Competitor, run_paired_rounds

    calls: list[str] = []

    def slow_step() -> int:
        calls.append("slow")
        return sum(range(20_000))

    fast = Competitor("fast", "fast", lambda: calls.append("fast"), per_block=2)
    slow = Competitor("slow", "slow", slow_step, per_block=1)
    run_paired_rounds([fast, slow], None, rounds=3, log=lambda _: None)
    # A round runs each outer block twice (before and after the middle's place), so 2 x per_block.
    assert [len(r) for r in fast.rounds] == [4, 4, 4]
    assert [len(r) for r in slow.rounds] == [2, 2, 2]
    assert calls.count("fast") == 12 and calls.count("slow") == 6
    timings = PairedTimings({"fast": fast, "slow": slow})
    ratios = timings.round_ratios("slow", "fast")
    assert len(ratios) == 3 and all(r > 0 for r in ratios)
    assert min(ratios) <= timings.ratio("slow", "fast") <= max(ratios)  # the median of the rounds


def test_the_vmap_workload_agrees_with_the_loop_on_the_python_back_end() -> None:
    # check_against raises BenchmarkError if the vmapped loss or gradient
    # differs from the per-example loop's by more than the harness tolerance.
    from workloads import vmap_moons

    checks = vmap_moons.check_against(vmap_moons.seeded_problem(24), "python", None)
    assert set(checks) == {"vmap (python) loss vs loop", "vmap (python) grads vs loop"}
    assert all(v <= 1e-12 for v in checks.values())
