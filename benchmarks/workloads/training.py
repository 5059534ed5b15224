"""The full 100-step training of ``examples/moons.py``, eager and with jit."""

from __future__ import annotations

import importlib.util
import random
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import tapegrad as tg
from tapegrad import nn
from tapegrad.datasets import make_moons

from harness.checks import BenchmarkError, check_close
from harness.fmt import fmt_s
from harness.results import TrainingResults
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
