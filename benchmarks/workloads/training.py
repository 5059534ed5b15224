"""The full 100-step training of ``examples/moons.py``, eager and with jit."""

from __future__ import annotations

import importlib.util
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import tapegrad as tg
from tapegrad import nn
from tapegrad.datasets import make_moons

from harness.checks import BenchmarkError, check_close
from harness.fmt import fmt_s
from harness.stats import paired_ratio_of_totals
from harness.timing import Log, time_once
from workloads.common import NOISE, SEED, SIZES

ROOT = Path(__file__).resolve().parent.parent.parent


def load_moons_example() -> ModuleType:
    """examples/moons.py as a module (examples/ is not a package)."""
    path = ROOT / "examples" / "moons.py"
    spec = importlib.util.spec_from_file_location("tapegrad_example_moons", path)
    if spec is None or spec.loader is None:
        raise BenchmarkError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def bench_training(repeats: int, log: Log, steps: int = 100, n: int = 100) -> TrainingResults:
    """Time examples/moons.py's ``train`` with and without jit (trace and compile included).

    Each round runs both trainings back to back, alternating which goes
    first, so the ratio is taken within a round like the steps' ratios.
    """
    moons = load_moons_example()
    train: Callable[..., tuple[Any, list[tuple[float, float]]]] = moons.train
    histories: dict[bool, list[tuple[float, float]]] = {}
    times: dict[bool, list[float]] = {False: [], True: []}

    def run(use_jit: bool) -> None:
        histories[use_jit] = train(steps=steps, n_points=n, seed=SEED, use_jit=use_jit, verbose=False)[1]

    for r in range(repeats):
        for use_jit in (False, True) if r % 2 == 0 else (True, False):
            times[use_jit].append(time_once(lambda: run(use_jit)))
        log(f"  training round {r + 1}/{repeats}: eager {fmt_s(times[False][-1])}, jit {fmt_s(times[True][-1])}")
    # Replays compute exactly what eager runs compute, so the two histories agree.
    check_close("jit training history", [v for h in histories[True] for v in h], [v for h in histories[False] for v in h])

    # The one-time cost inside the jit training: trace and compile of its step.
    points, labels = make_moons(n, NOISE, random.Random(SEED))
    step_fn = tg.jit(tg.value_and_grad(moons.loss, has_aux=True))
    params = nn.init_mlp(random.Random(SEED), SIZES)
    t0 = time.perf_counter()
    step_fn(params, points, labels)
    first = time.perf_counter() - t0
    st = step_fn.stats
    final_loss, final_acc = histories[True][-1]
    return TrainingResults(
        steps, n, times[False], times[True], first, st.trace_seconds, st.compile_seconds, st.instructions, final_loss, final_acc
    )
