"""Speed and scale: tapegrad against micrograd 0.1.0 and a hand-written reference.

Times one full-batch training step of micrograd's moons demo (an
``MLP(2, [16, 16, 1])``, mean SVM hinge loss, 1e-4 * L2 penalty, backward,
SGD update) for five competitors, checks the issue's targets, pushes
tapegrad to a million operations and bigger networks, and compares memory
per recorded operation. See benchmarks/README.md for what every number means.

    PYTHONPATH=. python3 benchmarks/bench.py              # the full run (a few minutes)
    PYTHONPATH=. python3 benchmarks/bench.py --quick      # smoke run, about a minute
    PYTHONPATH=. python3 benchmarks/bench.py --points 100 --rounds 5 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import random
import shlex
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Optional, Sequence

import tapegrad as tg
from tapegrad import nn
from tapegrad.datasets import make_moons
from tapegrad.core.tree import leaves, tree_map

import handwritten  # benchmarks/handwritten.py: this script's directory is on sys.path

try:
    from micrograd.engine import Value
    from micrograd.nn import MLP
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("this benchmark needs micrograd 0.1.0: pip install micrograd==0.1.0 (or pip install -e '.[bench]')")

ROOT = Path(__file__).resolve().parent.parent
SEED = 1337
NOISE = 0.1
ALPHA = 1e-4  # weight of the L2 penalty, as in micrograd's demo
SIZES = [2, 16, 16, 1]  # micrograd's demo network: MLP(2, [16, 16, 1])
LR = 1.0  # the demo's learning rate at step 0
TOL = 1e-9  # how closely every competitor's loss and gradients must agree

# The targets.
EAGER_TARGET = 25.0  # eager step at least 25x faster than micrograd
JIT_TARGET = 300.0  # jit step at least 300x faster than micrograd
HANDWRITTEN_TARGET = 1.5  # jit step within 1.5x of the hand-written step
TRAINING_TARGET = 3.0  # 100-step training with jit at least 3x faster than eager
CHAIN_TARGET_S = 10.0  # grad through a million operations in under 10 s

# The ratios the targets are about: (slower, faster).
RATIOS = [("micrograd", "eager_user"), ("micrograd", "eager_nn"), ("micrograd", "jit"), ("jit", "handwritten")]

Params = list[nn.Layer]
Points = list[list[float]]
Labels = list[float]


class BenchmarkError(Exception):
    """A competitor computed something different from the others."""


def check_close(what: str, got: Sequence[float], want: Sequence[float], tol: float = TOL) -> float:
    """Raise unless ``got`` and ``want`` agree to ``tol`` everywhere; return the largest difference.

    An explicit check rather than ``assert``, so that ``python -O`` cannot
    turn the verification off.
    """
    if len(got) != len(want):
        raise BenchmarkError(f"{what}: {len(got)} numbers, expected {len(want)}")
    worst = max((abs(a - b) for a, b in zip(got, want)), default=0.0)
    if not worst <= tol:  # also catches NaN
        raise BenchmarkError(f"{what}: differs by {worst:.3g} (tolerance {tol:g})")
    return worst


# -- timing -----------------------------------------------------------------------


def time_once(fn: Callable[[], object], reset: Optional[Callable[[], None]] = None) -> float:
    """Seconds taken by one call of ``fn``, with the garbage collector on and at its default settings.

    Before the clock starts, garbage left by earlier runs is collected, so
    no competitor pays for collecting another's leftovers (in particular
    micrograd's cyclic graphs). Nothing else is changed: the objects the
    timed call creates are collected exactly as Python normally would
    (``timeit`` is not used because it switches the collector off). The
    collection at the start is generous to micrograd: in a real training
    loop its uncollected cycles from earlier steps make later steps slower
    still.
    """
    if reset is not None:
        reset()
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_once_in_loop(fn: Callable[[], object]) -> float:
    """Seconds taken by one call of ``fn``, as one step of a loop: no collection before it."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@contextlib.contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    """Raise the interpreter's recursion limit to at least ``limit`` for a block."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def fmt_ms(seconds: float) -> str:
    """A duration in milliseconds with three significant digits."""
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_s(seconds: float) -> str:
    """A duration in seconds."""
    return f"{seconds:.2f} s"


def fmt_ratio(r: float) -> str:
    """A speed ratio such as ``123x`` or ``1.4x``."""
    return f"{r:,.0f}x" if r >= 10 else f"{r:.2f}x"


# -- the problem and its five competitors -------------------------------------------


@dataclass
class Problem:
    """The moons data set of one size and the demo network's initial parameters."""

    n: int
    points: Points
    labels: Labels
    params: Params

    @staticmethod
    def make(n: int, sizes: Sequence[int] = SIZES) -> Problem:
        """Seeded data (noise 0.1) and weights drawn as micrograd draws them."""
        points, labels = make_moons(n, NOISE, random.Random(SEED))
        return Problem(n, points, labels, nn.init_mlp(random.Random(SEED), sizes))


def micrograd_order(grads: Sequence[nn.Layer]) -> list[float]:
    """A gradient tree flattened in the order of micrograd's ``model.parameters()``.

    micrograd lists each neuron's weights followed by its bias; tapegrad's
    layout keeps all of a layer's weights, then all of its biases.
    """
    out: list[float] = []
    for layer in grads:
        for row, b in zip(layer["w"], layer["b"]):
            out.extend(float(w) for w in row)
            out.append(float(b))
    return out


class MicrogradDemo:
    """micrograd 0.1.0 exactly as its demo notebook trains the moons classifier."""

    def __init__(self, problem: Problem, sizes: Sequence[int] = SIZES) -> None:
        random.seed(SEED)  # micrograd draws its weights from the global random module
        self.model: Any = MLP(sizes[0], list(sizes[1:]))
        self.points = problem.points
        self.labels = problem.labels
        self.initial = [p.data for p in self.model.parameters()]
        self.last_loss = math.nan

    def reset(self) -> None:
        """Put the initial weights back, so that every timed step starts from the same point."""
        for p, v in zip(self.model.parameters(), self.initial):
            p.data = v

    def loss(self) -> Any:
        """The demo's ``loss()``: inputs wrapped in Values, hinge loss, L2 term (accuracy left out)."""
        inputs = [list(map(Value, xrow)) for xrow in self.points]
        scores = list(map(self.model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(self.labels, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum((p * p for p in self.model.parameters()))
        return data_loss + reg_loss

    def step(self, lr: float = LR) -> None:
        """One step of the demo's training loop."""
        total_loss = self.loss()
        self.model.zero_grad()
        total_loss.backward()
        for p in self.model.parameters():
            p.data -= lr * p.grad
        self.last_loss = total_loss.data

    def grads(self) -> list[float]:
        """The gradients the last step computed, in ``model.parameters()`` order."""
        return [float(p.grad) for p in self.model.parameters()]


# A network written by a user, the way micrograd's Neuron is written, out of
# scalar tapegrad operations. Parameters are nested lists: one list per
# layer, one ``[weights, bias]`` pair per neuron.
UserParams = list[list[list[Any]]]


def user_params(params: Sequence[nn.Layer]) -> UserParams:
    """The same numbers as ``params``, in the user network's layout."""
    return [[[list(row), b] for row, b in zip(layer["w"], layer["b"])] for layer in params]


def user_grads_as_layers(grads: UserParams) -> list[nn.Layer]:
    """A gradient in the user network's layout, back in :mod:`tapegrad.nn`'s layout."""
    return [{"w": [neuron[0] for neuron in layer], "b": [neuron[1] for neuron in layer]} for layer in grads]


def user_neuron(neuron: list[Any], x: Sequence[tg.Scalar], nonlin: bool) -> tg.Scalar:
    """``b + w . x``, then ReLU: micrograd's Neuron.__call__ with tapegrad scalars."""
    w, b = neuron
    act: tg.Scalar = sum((wi * xi for wi, xi in zip(w, x)), b)
    return tg.relu(act) if nonlin else act


def user_net(params: UserParams, x: Sequence[tg.Scalar]) -> tg.Scalar:
    """ReLU hidden layers and a linear output neuron."""
    h = list(x)
    last = len(params) - 1
    for k, layer in enumerate(params):
        h = [user_neuron(neuron, h, k != last) for neuron in layer]
    return h[0]


def make_user_loss(points: Points, labels: Labels) -> Callable[[UserParams], tg.Scalar]:
    """The demo's loss, written with the user network and plain Python sums."""
    inv_n = 1.0 / len(points)

    def loss(params: UserParams) -> tg.Scalar:
        scores = [user_net(params, x) for x in points]
        data_loss: tg.Scalar = sum(tg.relu(1.0 + -y * s) for s, y in zip(scores, labels)) * inv_n
        reg_loss: tg.Scalar = sum(p * p for layer in params for w, b in layer for p in (*w, b))
        return data_loss + ALPHA * reg_loss

    return loss


def make_nn_loss(points: Points, labels: Labels) -> Callable[[Params], tg.Scalar]:
    """The demo's loss, built from :mod:`tapegrad.nn`."""

    def loss(params: Params) -> tg.Scalar:
        scores = [nn.mlp(params, x) for x in points]
        return nn.svm_hinge_loss(scores, labels) + ALPHA * nn.l2_penalty(params)

    return loss


def sgd_tree(params: Any, grads: Any, lr: float) -> Any:
    """The SGD update a user would write for any parameter tree."""
    return tree_map(lambda p, g: p - lr * g, params, grads)


# -- part 1: one training step ------------------------------------------------------


@dataclass
class Competitor:
    """One way of running a training step, and its timings, round by round."""

    key: str
    label: str
    step: Callable[[], object]
    per_block: int  # consecutive timed steps each time it runs
    reset: Optional[Callable[[], None]] = None
    rounds: list[list[float]] = field(default_factory=list)  # the seconds of each timed step, per round
    first: list[float] = field(default_factory=list)  # micrograd: its untimed step on a freshly collected heap, per round

    @property
    def samples(self) -> list[float]:
        """Every timed step, all rounds together."""
        return [t for r in self.rounds for t in r]

    @property
    def median(self) -> float:
        """Median seconds per step."""
        return statistics.median(self.samples)


@dataclass
class StepResults:
    """Everything measured at one data-set size."""

    n: int
    competitors: dict[str, Competitor]
    jit_first_call_s: float
    jit_trace_s: float
    jit_compile_s: float
    jit_instructions: int
    jit_records: int
    jit_replay_only_s: float  # median of jitted(params) without the SGD update
    micrograd_recursion_limit: int  # the limit micrograd needed (the default if it sufficed)
    checks: dict[str, float]

    def round_ratios(self, a: str, b: str) -> list[float]:
        """For each round, ``a``'s median step time over ``b``'s in that same round."""
        ca, cb = self.competitors[a], self.competitors[b]
        return [statistics.median(ra) / statistics.median(rb) for ra, rb in zip(ca.rounds, cb.rounds)]

    def ratio(self, a: str, b: str) -> float:
        """How many times slower ``a`` is than ``b``: the median over rounds of the paired ratios.

        This machine's speed shifts by up to 1.8x for seconds at a time (a
        pure-Python loop shows it too), so times taken minutes apart are not
        comparable; times taken in the same round, seconds apart, are.
        """
        return statistics.median(self.round_ratios(a, b))

    def ratio_of_medians(self, a: str, b: str) -> float:
        """Median time of ``a`` over median time of ``b``, all rounds pooled (reported, not judged)."""
        return self.competitors[a].median / self.competitors[b].median

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "points": self.n,
            "median_ms": {k: c.median * 1e3 for k, c in self.competitors.items()},
            "min_ms": {k: min(c.samples) * 1e3 for k, c in self.competitors.items()},
            "samples_ms_per_round": {k: [[s * 1e3 for s in r] for r in c.rounds] for k, c in self.competitors.items()},
            "micrograd_first_step_ms_per_round": [t * 1e3 for t in self.competitors["micrograd"].first],
            "ratios": {f"{a}/{b}": self.ratio(a, b) for a, b in RATIOS},
            "ratios_per_round": {f"{a}/{b}": self.round_ratios(a, b) for a, b in RATIOS},
            "ratios_of_pooled_medians": {f"{a}/{b}": self.ratio_of_medians(a, b) for a, b in RATIOS},
            "jit": {
                "first_call_s": self.jit_first_call_s,
                "trace_s": self.jit_trace_s,
                "compile_s": self.jit_compile_s,
                "instructions": self.jit_instructions,
                "records": self.jit_records,
                "replay_only_ms": self.jit_replay_only_s * 1e3,
            },
            "micrograd_recursion_limit": self.micrograd_recursion_limit,
            "max_abs_difference": self.checks,
        }


def micrograd_limit(n: int) -> int:
    """The recursion limit micrograd's recursive topological sort needs for ``n`` points.

    The mean of the per-point losses is a chain of ``n`` additions, and
    build_topo recurses once per node along it, plus about 50 levels for the
    network itself. Below the default limit nothing changes; above it, a
    thousand frames more covers the network and the harness.
    """
    default = sys.getrecursionlimit()
    return default if n + 100 < default else n + 1000


def bench_step(n: int, rounds: int, micrograd_per_round: int, log: Callable[[str], None]) -> StepResults:
    """Verify the five competitors against each other at ``n`` points, then time them."""
    problem = Problem.make(n)
    params, points, labels = problem.params, problem.points, problem.labels
    checks: dict[str, float] = {}

    # c. tapegrad eager with tapegrad.nn: the reference for every check.
    nn_vg = tg.value_and_grad(make_nn_loss(points, labels))
    ref_loss, ref_grads = nn_vg(params)
    ref_flat = leaves(ref_grads)

    # b. tapegrad eager with the user-written network.
    uparams = user_params(params)
    user_vg = tg.value_and_grad(make_user_loss(points, labels))
    u_loss, u_grads = user_vg(uparams)
    checks["eager_user loss"] = check_close("eager (user net) loss", [u_loss], [ref_loss])
    checks["eager_user grads"] = check_close("eager (user net) gradient", leaves(user_grads_as_layers(u_grads)), ref_flat)

    # d. tapegrad jit. The first call traces and compiles; time it on its own.
    jitted = tg.jit(tg.value_and_grad(make_nn_loss(points, labels)))
    t0 = time.perf_counter()
    j_loss, j_grads = jitted(params)
    jit_first = time.perf_counter() - t0
    stats = jitted.stats
    trace_s, compile_s, instructions, records = stats.trace_seconds, stats.compile_seconds, stats.instructions, stats.records
    j_loss, j_grads = jitted(params)  # one replay, also the warm-up for the timings
    checks["jit loss"] = check_close("jit loss", [j_loss], [ref_loss])
    checks["jit grads"] = check_close("jit gradient", leaves(j_grads), ref_flat)

    # e. the hand-written reference.
    h_loss, h_grads = handwritten.value_and_grad(params, points, labels, ALPHA)
    checks["handwritten loss"] = check_close("hand-written loss", [h_loss], [ref_loss])
    checks["handwritten grads"] = check_close("hand-written gradient", leaves(h_grads), ref_flat)

    # a. micrograd.
    demo = MicrogradDemo(problem)
    limit = micrograd_limit(n)

    def micrograd_step() -> None:
        with recursion_limit(limit):
            demo.step()

    # micrograd's loss and gradients at the initial weights, checked before
    # its timed steps (which train, and so move away from them).
    micrograd_step()
    checks["micrograd loss"] = check_close("micrograd loss", [demo.last_loss], [ref_loss])
    checks["micrograd grads"] = check_close("micrograd gradient", demo.grads(), micrograd_order(ref_grads))
    demo.reset()

    micrograd = Competitor("micrograd", "micrograd 0.1.0", micrograd_step, micrograd_per_round, reset=demo.reset)
    others = [
        Competitor("eager_user", "tapegrad eager (user net)", lambda: sgd_tree(uparams, user_vg(uparams)[1], LR), 3),
        Competitor("eager_nn", "tapegrad eager (nn)", lambda: nn.sgd_step(params, nn_vg(params)[1], LR), 3),
        Competitor("jit", "tapegrad jit", lambda: nn.sgd_step(params, jitted(params)[1], LR), 10),
        Competitor("handwritten", "hand-written Python", lambda: handwritten.step(params, points, labels, LR, ALPHA), 10),
    ]
    competitors = [micrograd, *others]
    # Paired rounds. This machine's speed shifts by up to 1.8x for seconds at
    # a time, so each round times micrograd between two blocks of every
    # other competitor, and the ratios compare times from the same round.
    # Each block runs its steps back to back, as a training loop does, with
    # the collector at its defaults; the heap is collected (untimed) before
    # each block, so nobody pays for another's garbage. micrograd's block
    # starts with one untimed step: its later steps pay for collecting the
    # reference cycles of the steps before them, which is how it runs in a
    # training loop, and the first step on a clean heap would not.
    demo.reset()
    for r in range(rounds):
        for c in competitors:
            c.rounds.append([])
        order = others[r % len(others):] + others[: r % len(others)]  # rotate who goes first
        for c in order:
            gc.collect()
            c.rounds[r].extend(time_once_in_loop(c.step) for _ in range(c.per_block))
        gc.collect()
        micrograd.first.append(time_once_in_loop(micrograd.step))
        micrograd.rounds[r].extend(time_once_in_loop(micrograd.step) for _ in range(micrograd.per_block))
        for c in reversed(order):
            gc.collect()
            c.rounds[r].extend(time_once_in_loop(c.step) for _ in range(c.per_block))
        log(
            f"  {n} points, round {r + 1}/{rounds}: "
            + ", ".join(f"{c.key} {fmt_ms(statistics.median(c.rounds[r]))}" for c in competitors)
        )
    jit_replay_only = [time_once(lambda: jitted(params)) for _ in range(11)]

    if stats.traces != 1 or stats.guard_failures:
        raise BenchmarkError(f"jit traced {stats.traces} times with {stats.guard_failures} guard failures; expected one trace")
    default_limit = sys.getrecursionlimit()
    return StepResults(
        n,
        {c.key: c for c in competitors},
        jit_first,
        trace_s,
        compile_s,
        instructions,
        records,
        statistics.median(jit_replay_only),
        limit if limit > default_limit else default_limit,
        checks,
    )


# -- part 2: the whole 100-step training ----------------------------------------------


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
    """Two complete 100-step trainings of the moons example, eager and jit."""

    steps: int
    n: int
    eager_s: list[float]
    jit_s: list[float]
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
        return statistics.median(self.round_ratios)

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


def bench_training(repeats: int, log: Callable[[str], None], steps: int = 100, n: int = 100) -> TrainingResults:
    """Time examples/moons.py's ``train`` with and without jit (trace and compile included)."""
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
    step_fn = tg.jit(tg.value_and_grad(moons.make_loss(points, labels), has_aux=True))
    params = nn.init_mlp(random.Random(SEED), SIZES)
    t0 = time.perf_counter()
    step_fn(params)
    first = time.perf_counter() - t0
    st = step_fn.stats
    final_loss, final_acc = histories[True][-1]
    return TrainingResults(
        steps, n, times[False], times[True], first, st.trace_seconds, st.compile_seconds, st.instructions, final_loss, final_acc
    )


# -- part 3: scale ----------------------------------------------------------------------


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


CHAIN_ITERATIONS = 500_000  # two operations each: a chain of 1,000,000
CHAIN_RATE = 0.999999


def bench_scale(big_steps: int, log: Callable[[str], None]) -> ScaleResults:
    """grad through a 1,000,000-operation chain; a 2-64-64-1 network; micrograd on a 2-30-30-1."""
    tape_length = 0

    def chain(x: Any) -> Any:
        nonlocal tape_length
        for _ in range(CHAIN_ITERATIONS):
            x = x * CHAIN_RATE + 1e-7
        tape_length = x.index + 1  # the last record's index, plus one: the tape's length
        return x

    d = 0.0
    grad_chain: Callable[[float], float] = tg.grad(chain)

    def run_chain() -> None:
        nonlocal d
        d = grad_chain(1.0)

    chain_s = time_once(run_chain)
    check_close("gradient of the chain", [d], [CHAIN_RATE**CHAIN_ITERATIONS], tol=1e-9 * CHAIN_RATE**CHAIN_ITERATIONS)
    chain_ops = tape_length - 1  # one record is the input
    log(f"  chain of {chain_ops:,} operations: {fmt_s(chain_s)}")

    # A bigger network trains: a few eager steps, the loss must go down.
    big_sizes = [2, 64, 64, 1]
    big = Problem.make(100, big_sizes)
    vg = tg.value_and_grad(make_nn_loss(big.points, big.labels))
    params: Params = big.params
    losses: list[float] = []
    step_s: list[float] = []
    for k in range(big_steps):
        out: list[Any] = []
        step_s.append(time_once(lambda: out.extend(vg(params))))
        losses.append(out[0])
        params = nn.sgd_step(params, out[1], 0.05)  # smaller steps than the demo's lr 1.0: a wider network
        log(f"  MLP(2, [64, 64, 1]) step {k}: loss {out[0]:.6f} ({fmt_s(step_s[-1])})")

    # micrograd on MLP(2, [30, 30, 1]) with the demo's L2 term, at the default
    # recursion limit: the L2 sum is a chain of 1,051 additions, deeper than
    # build_topo can recurse.
    mg_sizes = [2, 30, 30, 1]
    demo = MicrogradDemo(Problem.make(100, mg_sizes), mg_sizes)
    limit = sys.getrecursionlimit()
    error = "none: backward() succeeded"
    try:
        demo.step()
    except RecursionError as exc:
        error = f"RecursionError: {exc}"
    log(f"  micrograd MLP(2, [30, 30, 1]): {error}")
    return ScaleResults(
        chain_ops, chain_s, d, big_sizes, losses, step_s, mg_sizes, len(demo.model.parameters()), error, limit
    )


# -- part 4: memory --------------------------------------------------------------------


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
            "tapegrad": {"peak_bytes": self.tapegrad_peak, "records": self.tapegrad_records, "bytes_per_record": self.tapegrad_peak / self.tapegrad_records},
            "micrograd": {"peak_bytes": self.micrograd_peak, "nodes": self.micrograd_nodes, "bytes_per_node": self.micrograd_peak / self.micrograd_nodes},
        }


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


def count_nodes(root: Any) -> int:
    """Number of Values in a micrograd graph, walking ``_prev`` with an explicit stack."""
    seen = {id(root)}
    stack = [root]
    while stack:
        v = stack.pop()
        for child in v._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


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


# -- reporting ------------------------------------------------------------------------


@dataclass
class Target:
    """One of the issue's targets and how this run did."""

    name: str
    detail: str
    met: bool


def evaluate_targets(steps: list[StepResults], training: TrainingResults, scale: ScaleResults) -> list[Target]:
    """Compare every measured ratio with the issue's targets (a target must hold at every size)."""
    out = []

    def per_size(f: Callable[[StepResults], float]) -> str:
        return ", ".join(f"{s.n} pts: {fmt_ratio(f(s))}" for s in steps)

    for key, label in (("eager_user", "eager (user net)"), ("eager_nn", "eager (nn)")):
        ratios = [s.ratio("micrograd", key) for s in steps]
        out.append(Target(f"{label} step >= {EAGER_TARGET:.0f}x faster than micrograd", per_size(lambda s: s.ratio("micrograd", key)), min(ratios) >= EAGER_TARGET))
    ratios = [s.ratio("micrograd", "jit") for s in steps]
    out.append(Target(f"jit step >= {JIT_TARGET:.0f}x faster than micrograd", per_size(lambda s: s.ratio("micrograd", "jit")), min(ratios) >= JIT_TARGET))
    ratios = [s.ratio("jit", "handwritten") for s in steps]
    out.append(Target(f"jit step within {HANDWRITTEN_TARGET}x of hand-written", "jit / hand-written: " + per_size(lambda s: s.ratio("jit", "handwritten")), max(ratios) <= HANDWRITTEN_TARGET))
    out.append(
        Target(
            f"{training.steps}-step training with jit >= {TRAINING_TARGET:.0f}x faster than eager",
            f"eager {fmt_s(statistics.median(training.eager_s))}, jit {fmt_s(statistics.median(training.jit_s))}: {fmt_ratio(training.ratio)}",
            training.ratio >= TRAINING_TARGET,
        )
    )
    out.append(Target(f"grad through {scale.chain_ops:,} operations in < {CHAIN_TARGET_S:.0f} s", fmt_s(scale.chain_s), scale.chain_s < CHAIN_TARGET_S and scale.chain_ops >= 1_000_000))
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


COLUMNS = [
    ("micrograd", "micrograd 0.1.0"),
    ("eager_user", "tapegrad eager (user net)"),
    ("eager_nn", "tapegrad eager (nn)"),
    ("jit", "tapegrad jit"),
    ("handwritten", "hand-written"),
]


def text_table(steps: list[StepResults]) -> str:
    """The per-step timings as a fixed-width table."""
    lines = []
    header = f"{'points':>7} | " + " | ".join(f"{label:>30}" for _, label in COLUMNS)
    lines.append(header)
    lines.append("-" * len(header))
    for s in steps:
        cells = [
            f"{fmt_ms(s.competitors[k].median)} (min {fmt_ms(min(s.competitors[k].samples))}, n={len(s.competitors[k].samples)})"
            for k, _ in COLUMNS
        ]
        lines.append(f"{s.n:>7} | " + " | ".join(f"{c:>30}" for c in cells))
    lines.append("")
    lines.append("Ratios: the median over rounds of the ratio within each round [lowest-highest round]; pooled: ratio of the medians above")
    lines.append(f"{'points':>7} | {'ratio':>22} | {'paired (median)':>15} | {'rounds':>17} | {'pooled':>8}")
    for s in steps:
        for a, b in RATIOS:
            per_round = s.round_ratios(a, b)
            lines.append(
                f"{s.n:>7} | {a + '/' + b:>22} | {fmt_ratio2(s.ratio(a, b)):>15} | "
                f"{fmt_ratio2(min(per_round)) + '-' + fmt_ratio2(max(per_round)):>17} | {fmt_ratio2(s.ratio_of_medians(a, b)):>8}"
            )
    return "\n".join(lines)


def fmt_ratio2(r: float) -> str:
    """A ratio with two decimals below 10 (jit / hand-written), whole numbers above."""
    return f"{r:.2f}x" if r < 10 else fmt_ratio(r)


def markdown_table(steps: list[StepResults], training: TrainingResults, command: str) -> str:
    """The README's table: median time per step, the ratios, and the full-training line."""
    lines = [
        "| points | micrograd 0.1.0 | tapegrad eager (user net) | tapegrad eager (`nn`) | tapegrad jit | hand-written Python "
        "| micrograd / eager (user net, `nn`) | micrograd / jit | jit / hand-written |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in steps:
        c = s.competitors
        lines.append(
            f"| {s.n:,} | {fmt_ms(c['micrograd'].median)} | {fmt_ms(c['eager_user'].median)} | {fmt_ms(c['eager_nn'].median)} "
            f"| {fmt_ms(c['jit'].median)} | {fmt_ms(c['handwritten'].median)} "
            f"| {fmt_ratio(s.ratio('micrograd', 'eager_user'))}, {fmt_ratio(s.ratio('micrograd', 'eager_nn'))} "
            f"| {fmt_ratio(s.ratio('micrograd', 'jit'))} | {s.ratio('jit', 'handwritten'):.2f}x |"
        )
    lowest = "; ".join(
        f"{s.n:,} points {', '.join(fmt_ratio2(min(s.round_ratios(a, b))) for a, b in RATIOS)}" for s in steps
    )
    lines.append("")
    lines.append(
        "Ratios are the median over paired rounds of the ratio within a round (timed seconds apart); the lowest "
        f"round, in the table's order: {lowest}."
    )
    lines.append(
        f"Median time of one full-batch training step of micrograd's moons demo (`MLP(2, [16, 16, 1])`, hinge loss, "
        f"L2 penalty, backward, SGD update). The whole {training.steps}-step training at {training.n} points takes "
        f"{fmt_s(statistics.median(training.eager_s))} eager and {fmt_s(statistics.median(training.jit_s))} with jit "
        f"({fmt_ratio(training.ratio)} faster; jit's one-time trace and compile: "
        f"{fmt_s(training.jit_trace_s)} + {fmt_s(training.jit_compile_s)})."
    )
    lines.append(f"Produced by `{command}` (Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores).")
    return "\n".join(lines)


def print_report(
    steps: list[StepResults],
    training: TrainingResults,
    scale: ScaleResults,
    memory: MemoryResults,
    targets: list[Target],
    command: str,
    notes: list[str],
) -> None:
    """Everything, in the order of the issue: step table, targets, scale, memory, README table."""
    print()
    print("One training step: median time over n timed runs (and the fastest run, to show the noise)")
    print(text_table(steps))
    print()
    for s in steps:
        print(
            f"jit at {s.n} points: first call {fmt_s(s.jit_first_call_s)} (trace {fmt_s(s.jit_trace_s)}, "
            f"compile {fmt_s(s.jit_compile_s)}), {s.jit_records:,} records -> {s.jit_instructions:,} instructions; "
            f"replay alone {fmt_ms(s.jit_replay_only_s)}, with the SGD update {fmt_ms(s.competitors['jit'].median)}"
        )
    worst = max(v for s in steps for v in s.checks.values())
    print(f"All competitors agree on the loss and every gradient (largest difference {worst:.1e}, tolerance {TOL:g}).")
    for s_ in steps:
        mg = s_.competitors["micrograd"]
        first = statistics.median(mg.first)
        print(
            f"micrograd's untimed first step of each round, on a freshly collected heap, at {s_.n} points: median {fmt_ms(first)} "
            f"(against it: eager (user net) {first / s_.competitors['eager_user'].median:.0f}x, "
            f"eager (nn) {first / s_.competitors['eager_nn'].median:.0f}x, jit {first / s_.competitors['jit'].median:.0f}x); "
            "its later steps pay for collecting the reference cycles of the earlier ones."
        )
    for note in notes:
        print(f"Note: {note}")
    print()
    print(f"Full {training.steps}-step moons training at {training.n} points (examples/moons.py train(), trace and compile included):")
    print(f"  eager: {', '.join(fmt_s(t) for t in training.eager_s)} -> median {fmt_s(statistics.median(training.eager_s))}")
    print(f"  jit:   {', '.join(fmt_s(t) for t in training.jit_s)} -> median {fmt_s(statistics.median(training.jit_s))}")
    print(f"  eager / jit per round: {', '.join(f'{r:.2f}x' for r in training.round_ratios)}")
    print(f"  eager / jit: {fmt_ratio(training.ratio)} (median over rounds); final loss {training.final_loss:.6f}, accuracy {training.final_accuracy:.0%}")
    print(
        f"  jit one-time cost: first call {fmt_s(training.jit_first_call_s)} = trace {fmt_s(training.jit_trace_s)} "
        f"+ compile {fmt_s(training.jit_compile_s)} ({training.jit_instructions:,} instructions)"
    )
    print()
    print("Targets from the issue:")
    for t in targets:
        print(f"  [{'MET' if t.met else 'MISSED'}] {t.name}: {t.detail}")
    print()
    print("Scale:")
    print(f"  tapegrad.grad through a chain of {scale.chain_ops:,} operations (x = x * {CHAIN_RATE} + 1e-7): {fmt_s(scale.chain_s)}, no recursion")
    print(
        f"  tapegrad MLP(2, [64, 64, 1]), {len(scale.big_losses)} eager steps at 100 points: loss {scale.big_losses[0]:.6f} -> "
        f"{scale.big_losses[-1]:.6f}, median {fmt_s(statistics.median(scale.big_step_s))} per value_and_grad"
    )
    print(
        f"  micrograd MLP(2, [30, 30, 1]) ({scale.micrograd_params:,} parameters) with the L2 term, "
        f"recursion limit {scale.micrograd_recursion_limit}: {scale.micrograd_error}"
    )
    print()
    print(f"Memory (tracemalloc peak during one step at {memory.n} points):")
    print(
        f"  tapegrad value_and_grad: {memory.tapegrad_peak / 1e6:.1f} MB for {memory.tapegrad_records:,} records "
        f"= {memory.tapegrad_peak / memory.tapegrad_records:.0f} bytes per record"
    )
    print(
        f"  micrograd forward + backward: {memory.micrograd_peak / 1e6:.1f} MB for {memory.micrograd_nodes:,} Value nodes "
        f"= {memory.micrograd_peak / memory.micrograd_nodes:.0f} bytes per node"
    )
    print()
    print("README table:")
    print()
    print(markdown_table(steps, training, command))


# -- main -----------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run every part of the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke run of about a minute")
    parser.add_argument("--points", type=int, nargs="+", default=[100, 1000], help="data-set sizes (default: 100 1000)")
    parser.add_argument("--rounds", type=int, help="paired timing rounds below 1,000 points (default 7, 2 with --quick); 3 (1) at >= 1,000")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--verbose", action="store_true", help="print every timed run")
    args = parser.parse_args(argv)
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    command = "PYTHONPATH=. python3 benchmarks/bench.py" + "".join(" " + shlex.quote(a) for a in raw_argv)

    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 7)
    if rounds < 1 or any(n < 2 for n in args.points):
        parser.error("--rounds must be at least 1 and every --points at least 2")
    # A micrograd step at 1,000 points takes seconds: fewer rounds there, one timed step each.
    big_rounds = min(rounds, 1 if args.quick else 3)
    training_repeats = 1 if args.quick else 5
    big_steps = 5

    def log(msg: str) -> None:
        if args.verbose:
            print(msg, flush=True)

    def progress(msg: str) -> None:
        print(msg, flush=True)

    if gc.get_threshold() != (700, 10, 10) or not gc.isenabled():
        progress(f"warning: the garbage collector is not at Python's defaults: enabled={gc.isenabled()}, thresholds={gc.get_threshold()}")
    progress(f"command: {command}")
    progress(
        f"Python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} cores), "
        f"tapegrad {tg.__version__}, micrograd {importlib.metadata.version('micrograd')}, "
        f"gc enabled with thresholds {gc.get_threshold()}"
    )

    notes = [
        f"{rounds} paired rounds below 1,000 points and {big_rounds} at >= 1,000. A round runs each tapegrad and "
        "hand-written competitor (3 consecutive steps for eager, 10 for jit and hand-written), then micrograd "
        "(one untimed step, then 2 timed below 1,000 points and 1 at >= 1,000), then the others again in reverse "
        "order. Ratios are taken within a round and the median over rounds is reported: this machine's speed "
        "shifts by up to 1.8x for seconds at a time, so only times taken close together compare.",
        "Every block runs its steps back to back, as a training loop does, with the garbage collector at its "
        "default settings; the heap is collected (untimed) before each block, so nobody pays for another's garbage. "
        "micrograd trains from its initial weights; the tapegrad and hand-written steps repeat the step at the "
        "initial weights (their cost does not depend on the values).",
        "The hand-written step skips the backward pass of points whose hinge is inactive, as anyone writing it by hand would.",
    ]
    steps: list[StepResults] = []
    for n in args.points:
        progress(f"timing one training step at {n} points...")
        result = bench_step(n, big_rounds if n >= 1000 else rounds, 1 if n >= 1000 else 2, log)
        steps.append(result)
        if result.micrograd_recursion_limit > 1000:
            notes.append(
                f"at {n} points micrograd's recursive topological sort is deeper than Python's default recursion limit "
                f"of 1000 (the sum of {n} per-point losses is a chain of {n} additions), so its steps there ran with "
                f"sys.setrecursionlimit({result.micrograd_recursion_limit}); with the default it raises RecursionError."
            )
    progress("timing the full 100-step training, eager and jit...")
    training = bench_training(training_repeats, log)
    progress("scale: a 1,000,000-operation chain, MLP(2, [64, 64, 1]), micrograd on MLP(2, [30, 30, 1])...")
    scale = bench_scale(big_steps, log)
    progress("memory: tracemalloc peaks...")
    memory = bench_memory()
    targets = evaluate_targets(steps, training, scale)
    print_report(steps, training, scale, memory, targets, command, notes)

    if args.json:
        payload = {
            "command": command,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "micrograd": importlib.metadata.version("micrograd"),
            "tapegrad": tg.__version__,
            "rounds": rounds,
            "rounds_at_1000_points": big_rounds,
            "steps": [s.to_json() for s in steps],
            "training": training.to_json(),
            "scale": scale.to_json(),
            "memory": memory.to_json(),
            "targets": [{"name": t.name, "detail": t.detail, "met": t.met} for t in targets],
            "notes": notes,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
