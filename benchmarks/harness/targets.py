"""The issue's targets, each judged MET or MISSED for one run.

Targets are checked here and printed, never asserted in tests/: timings on
a shared 2-core machine are too noisy to fail a test suite on.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable, Sequence

from harness.fmt import fmt_ratio, fmt_s
from harness.results import ScaleResults, StepResults, TrainingResults

EAGER_TARGET = 25.0  # eager step at least 25x faster than micrograd
JIT_TARGET = 300.0  # jit step at least 300x faster than micrograd
HANDWRITTEN_TARGET = 1.5  # jit step within 1.5x of the hand-written step
TRAINING_TARGET = 3.0  # 100-step training with jit at least 3x faster than eager
CHAIN_TARGET_S = 10.0  # grad through a million operations in under 10 s


@dataclass
class Target:
    """One of the issue's targets and how this run did."""

    name: str
    detail: str
    met: bool

    def line(self) -> str:
        """``[MET] name: detail`` (or ``[MISSED]``)."""
        return f"[{'MET' if self.met else 'MISSED'}] {self.name}: {self.detail}"


def evaluate_targets(steps: Sequence[StepResults], training: TrainingResults, scale: ScaleResults) -> list[Target]:
    """Compare every measured ratio with the issue's targets; a per-step target must hold at every size timed."""
    out: list[Target] = []

    def per_size(slow: str, fast: str) -> str:
        return ", ".join(f"{s.n} pts: {fmt_ratio(s.ratio(slow, fast))}" for s in steps)

    def worst(slow: str, fast: str, pick: Callable[[list[float]], float]) -> float:
        return pick([s.ratio(slow, fast) for s in steps])

    for key, label in (("eager_user", "eager (user net)"), ("eager_nn", "eager (nn)")):
        out.append(
            Target(
                f"{label} step >= {EAGER_TARGET:.0f}x faster than micrograd",
                per_size("micrograd", key),
                worst("micrograd", key, min) >= EAGER_TARGET,
            )
        )
    out.append(
        Target(
            f"jit step >= {JIT_TARGET:.0f}x faster than micrograd",
            per_size("micrograd", "jit"),
            worst("micrograd", "jit", min) >= JIT_TARGET,
        )
    )
    out.append(
        Target(
            f"jit step within {HANDWRITTEN_TARGET}x of hand-written",
            "jit / hand-written: " + per_size("jit", "handwritten"),
            worst("jit", "handwritten", max) <= HANDWRITTEN_TARGET,
        )
    )
    out.append(
        Target(
            f"{training.steps}-step training with jit >= {TRAINING_TARGET:.0f}x faster than eager",
            f"eager {fmt_s(statistics.median(training.eager_s))}, jit {fmt_s(statistics.median(training.jit_s))}: "
            f"{fmt_ratio(training.ratio)}",
            training.ratio >= TRAINING_TARGET,
        )
    )
    out.append(
        Target(
            f"grad through {scale.chain_ops:,} operations in < {CHAIN_TARGET_S:.0f} s",
            fmt_s(scale.chain_s),
            scale.chain_s < CHAIN_TARGET_S and scale.chain_ops >= 1_000_000,
        )
    )
    out.append(
        Target(
            "MLP(2, [64, 64, 1]) trains with tapegrad (loss goes down)",
            f"loss {scale.big_losses[0]:.4f} -> {scale.big_losses[-1]:.4f} in {len(scale.big_losses)} steps",
            len(scale.big_losses) >= 2 and scale.big_losses[-1] < scale.big_losses[0],
        )
    )
    out.append(
        Target(
            "micrograd fails on MLP(2, [30, 30, 1]) with its L2 term",
            scale.micrograd_error.split(" (")[0][:60],
            scale.micrograd_error.startswith("RecursionError"),
        )
    )
    return out
