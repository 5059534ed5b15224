"""The measurement each interpreter of ``bench.py --python`` runs in its own subprocess.

It is a small slice of the full benchmark, on purpose: the moons step at
100 points (jit against micrograd, in paired rounds), the full 100-step
training, eager against jit, and the jit's first call at 1,000 points (ten
times the tape), which shows whether that one-time cost grows linearly. Its results travel back to the parent as one
line of JSON on standard output, after :data:`harness.interpreters.MARKER`.
"""

from __future__ import annotations

import platform
import statistics
import sys
from typing import Any

from harness.stats import paired_ratio
from harness.timing import Log
from workloads import eager_nn, micrograd_demo, tapegrad_jit
from workloads.common import Problem
from workloads.moons_step import bench_step
from workloads.training import bench_training

POINTS = 100
SCALED_POINTS = 1000  # the first call again, on a tape ten times longer


def first_call_at(n: int) -> tapegrad_jit.JitSetup:
    """A fresh jitted step at ``n`` points, its first call timed (and one replay checked against eager)."""
    problem = Problem.make(n)
    return tapegrad_jit.prepare(problem, eager_nn.reference(problem), {})


def run_probe(rounds: int, training_repeats: int, log: Log) -> dict[str, Any]:
    """Measure the jit's first call, jit against micrograd, and the 100-step training; return a JSON-friendly dict.

    Without micrograd the micrograd ratio is ``None`` and
    ``micrograd_missing`` says why; the tapegrad numbers are still measured.
    """
    missing = micrograd_demo.MICROGRAD_MISSING
    only = ("micrograd", "jit") if missing is None else ("jit",)
    log(f"python {platform.python_version()}: step at {POINTS} points, {rounds} paired rounds of {' and '.join(only)}")
    step = bench_step(POINTS, rounds, 2, log, only=only)
    ratio = None
    per_round: list[float] = []
    if missing is None:
        ratio = paired_ratio(step.timings["micrograd"], step.timings["jit"])
        per_round = step.timings.round_ratios("micrograd", "jit")
    log(f"python {platform.python_version()}: {training_repeats} round(s) of the 100-step training, eager and jit")
    training = bench_training(training_repeats, log)
    log(f"python {platform.python_version()}: the jit's first call at {SCALED_POINTS} points")
    scaled = first_call_at(SCALED_POINTS)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "micrograd": micrograd_demo.version(),
        "micrograd_missing": missing,
        "points": POINTS,
        "rounds": rounds,
        "jit_first_call_s": step.jit_first_call_s,
        "jit_trace_s": step.jit_trace_s,
        "jit_compile_s": step.jit_compile_s,
        "jit_records": step.jit_records,
        "jit_backend": step.jit_backend,
        "scaled_points": SCALED_POINTS,
        "scaled_first_call_s": scaled.first_call_s,
        "scaled_records": scaled.records,
        "jit_step_ms": step.timings["jit"].median * 1e3,
        "micrograd_step_ms": step.timings["micrograd"].median * 1e3 if missing is None else None,
        "micrograd_over_jit": ratio,
        "micrograd_over_jit_per_round": per_round,
        "training_steps": training.steps,
        "training_eager_s": statistics.median(training.eager_s),
        "training_jit_s": statistics.median(training.jit_s),
        "training_eager_over_jit": training.ratio,
        "training_rounds": training_repeats,
    }
