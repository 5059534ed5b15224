"""The back-end dispatch: which back end each Python gets, and that every one agrees with the portable source."""

from __future__ import annotations

import random
import struct
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import nn
from tapegrad.datasets import make_moons
from tapegrad.compiler import backends
from tapegrad.compiler.program import GuardFailed, build_program

from test_program_paste import OPS, _make, _trace


def test_auto_assembles_bytecode_exactly_on_the_versions_with_an_assembler() -> None:
    known = sys.implementation.name == "cpython" and sys.version_info[:2] in ((3, 10), (3, 11), (3, 12), (3, 13))
    assert backends.ASSEMBLER_AVAILABLE == known
    tape, outs = _trace(_make([("mul", 0, 1), ("add", 3, 2)], 1), [1.0, 2.0, 3.0])
    _, description = backends.make_replay(build_program(tape, outs))
    assert (description == "bytecode") == known


def test_a_python_without_an_assembler_compiles_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a version this code has never seen (3.14, 3.15) gets: the portable path.
    monkeypatch.setattr(backends, "ASSEMBLER_AVAILABLE", False)
    points, labels = make_moons(8, 0.1, random.Random(1))
    params = nn.init_mlp(random.Random(2), [2, 4, 1])

    def loss(p: Any, xs: Any, ys: Any) -> Any:
        return nn.svm_hinge_loss([nn.mlp(p, x) for x in xs], ys)

    step = tg.jit(tg.value_and_grad(loss))
    assert step(params, points, labels) == step(params, points, labels) == tg.value_and_grad(loss)(params, points, labels)
    assert step.stats.replays == 1
    tape, outs = _trace(_make([("mul", 0, 1)], 1), [1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="no bytecode assembler"):
        backends.make_replay(build_program(tape, outs), "bytecode")


def _run(fn: Any, x: list[float]) -> tuple[str, Any]:
    try:
        return "ok", [struct.pack("<d", v) for v in fn(list(x))]
    except GuardFailed as failed:
        return "guard", failed.args[0]
    except (ValueError, ArithmeticError) as exc:
        return "raised", type(exc).__name__


inputs = st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=3, max_size=3)


@pytest.mark.skipif(not backends.ASSEMBLER_AVAILABLE, reason="no bytecode assembler for this Python")
@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(sorted(OPS)), st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=40),
    st.integers(1, 4),
    inputs,
    st.lists(inputs, min_size=1, max_size=3),
)
def test_the_assembled_bytecode_equals_the_compiled_source(
    steps: list[tuple[str, int, int]], outputs: int, at: list[float], others: list[list[float]]
) -> None:
    try:
        tape, outs = _trace(_make(steps, outputs), at)
    except (ValueError, ArithmeticError):
        return
    program = build_program(tape, outs)
    source, _ = backends.make_replay(program, "source")
    assembled, _ = backends.make_replay(program, "bytecode")
    for x in [at, *others]:
        assert _run(assembled, x) == _run(source, x)
