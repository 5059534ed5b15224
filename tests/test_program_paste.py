"""Pasting single-use values into their reader (``build_program(paste=True)``).

The transform is checked against the program built without it, which is
what the back ends compiled before it existed: on random traced programs,
for every back end available here, both must give the same floats bit for
bit, fail the same guard, or both raise.
"""

from __future__ import annotations

import math
import random
import struct
from typing import Any, Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import nn
from tapegrad.core.tape import Tape
from tapegrad.core.traced import Traced
from tapegrad.datasets import make_moons
from tapegrad.compiler.backends import ASSEMBLER_AVAILABLE, make_replay, to_source
from tapegrad.compiler.program import MAX_NESTING, GuardFailed, Program, build_program

BACKENDS = ["source"] + (["bytecode"] if ASSEMBLER_AVAILABLE else [])

# Operations on two earlier values; several can raise (log, sqrt, division),
# one branches on traced values (a guard), relu is a select.
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "log": lambda a, b: tg.log(a),
    "sqrt": lambda a, b: tg.sqrt(b),
    "tanh": lambda a, b: tg.tanh(a),
    "relu": lambda a, b: tg.relu(a - b),
    "exp": lambda a, b: tg.exp(a),
    "pow": lambda a, b: (1.0 + a * a) ** tg.sin(b),
    "branch": lambda a, b: a * b if a > b else a + 2.0 * b,
    "stop": lambda a, b: tg.stop_gradient(a) * b,
}

Step = tuple[str, int, int]


def _make(steps: Sequence[Step], outputs: int) -> Callable[[Sequence[Any]], list[Any]]:
    def f(xs: Sequence[Any]) -> list[Any]:
        vals = list(xs)
        for name, i, j in steps:
            vals.append(OPS[name](vals[i % len(vals)], vals[j % len(vals)]))
        return vals[-outputs:]

    return f


def _trace(f: Callable[[Sequence[Any]], list[Any]], x: list[float]) -> tuple[Tape, list[int]]:
    """The tape of ``f`` at ``x`` and its outputs as record indices."""
    with Tape(jit=True, name="test") as tape:
        out = f([Traced.input(tape, v) for v in x])
    return tape, [o._i for o in out]


def _bits(values: list[Any]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def _outcome(program: Program, backend: str, x: list[float]) -> tuple[str, Any]:
    fn, _ = make_replay(program, backend)
    try:
        return "ok", _bits(fn(list(x)))
    except GuardFailed as failed:
        return "guard", failed.args[0]
    except (ValueError, ArithmeticError) as exc:
        return "raised", type(exc).__name__


steps_strategy = st.lists(st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=40)
inputs = st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=3, max_size=3)


@settings(max_examples=150, deadline=None)
@given(steps_strategy, st.integers(1, 4), inputs, st.lists(inputs, min_size=1, max_size=3), st.sampled_from(BACKENDS))
def test_pasted_programs_equal_the_unpasted_ones(
    steps: list[Step], outputs: int, at: list[float], others: list[list[float]], backend: str
) -> None:
    f = _make(steps, outputs)
    try:
        tape, outs = _trace(f, at)
    except (ValueError, ArithmeticError):
        return  # f itself fails at the tracing point: nothing to compile
    plain = build_program(tape, list(outs), paste=False)
    pasted = build_program(tape, list(outs), paste=True)
    assert pasted.statements <= plain.statements == len(plain.body)
    for x in [at, *others]:
        expected = _outcome(plain, backend, x)
        got = _outcome(pasted, backend, x)
        if expected[0] == "raised":
            # A pasted value is evaluated later, never earlier: the replay
            # still fails, perhaps at a guard checked before the error.
            assert got[0] in ("raised", "guard")
        else:
            assert got == expected


def test_the_moons_step_becomes_far_fewer_statements_with_equal_results() -> None:
    points, labels = make_moons(12, 0.1, random.Random(2))
    params = nn.init_mlp(random.Random(4), [2, 8, 8, 1])

    def loss(p: nn.MLPParams, points: list[list[float]], labels: list[float]) -> tg.Scalar:
        return nn.svm_hinge_loss([nn.mlp(p, x) for x in points], labels) + 1e-4 * nn.l2_penalty(p)

    step = tg.jit(tg.value_and_grad(loss))
    first = step(params, points, labels)
    program = step._last.program  # type: ignore[union-attr]
    assert program.statements * 5 < len(program.body)
    assert to_source(program)[0].count("\n") < program.statements + 10
    assert step(params, points, labels) == first == tg.value_and_grad(loss)(params, points, labels)


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_single_use_chains_are_cut_at_the_nesting_limit(backend: str) -> None:
    # Every partial sum and every tanh is read exactly once: unbounded
    # pasting would nest 3,000 levels deep, past the compiler's limits.
    def f(xs: list[Any]) -> Any:
        total = xs[0]
        for k in range(1500):
            total = tg.tanh(total + xs[1] * float(k % 7))
        return total

    jitted = tg.jit(f, backend=backend)
    x = [0.3, -0.7]
    assert jitted(x) == f(x)
    assert jitted([0.1, 0.2]) == f([0.1, 0.2])
    program = jitted._last.program  # type: ignore[union-attr]
    assert len(program.body) // (MAX_NESTING + 1) <= program.statements < len(program.body)


def test_a_register_read_by_a_pasted_value_is_not_reused_before_its_reader() -> None:
    # b is read by a product that is pasted into the last addition; many
    # short-lived values are written in between. If b's register were freed
    # at the product, one of them would overwrite it.
    def f(xs: list[Any]) -> Any:
        a, b = xs
        prod = a * b
        noise = [tg.sin(a + float(k)) for k in range(30)]
        acc = noise[0]
        for v in noise[1:]:
            acc = acc * 0.5 + v
        return acc + prod * 3.0

    for backend in BACKENDS:
        jitted = tg.jit(f, backend=backend)
        for x in ([0.5, 2.0], [1.5, -4.0]):
            assert jitted(x) == f(x)
    assert not math.isnan(f([0.5, 2.0]))
