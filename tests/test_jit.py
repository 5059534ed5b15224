"""jit: a replay must equal an eager run exactly, and control flow must never replay a wrong branch."""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Sequence, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import nn
from tapegrad.compiler.backends import ASSEMBLER_AVAILABLE, compile_source
from tapegrad.compiler.program import build_program
from tapegrad.datasets import make_moons
from tapegrad.core.tree import leaves as tree_leaves

BACKENDS = ["source"] + (["bytecode"] if ASSEMBLER_AVAILABLE else [])

# A random program is a list of steps; each step appends one value computed
# from earlier ones. "branch" steps use Python control flow on traced values,
# which jit must guard.
UNARY = ["exp_tanh", "log1p_sq", "sqrt1p_sq", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "neg"]
BINARY = ["add", "sub", "mul", "div_safe", "pow_safe", "branch", "max"]


def _unary(name: str, a: tg.Scalar) -> tg.Scalar:
    if name == "exp_tanh":
        return tg.exp(tg.tanh(a))
    if name == "log1p_sq":
        return tg.log(1.0 + a * a)
    if name == "sqrt1p_sq":
        return tg.sqrt(1.0 + a * a)
    if name == "sin":
        return tg.sin(a)
    if name == "cos":
        return tg.cos(a)
    if name == "tanh":
        return tg.tanh(a)
    if name == "sigmoid":
        return tg.sigmoid(a)
    if name == "relu":
        return tg.relu(a)
    if name == "abs":
        return cast(tg.Scalar, abs(a))  # mypy joins abs() over the union to object
    return -a


def _binary(name: str, a: tg.Scalar, b: tg.Scalar) -> tg.Scalar:
    if name == "add":
        return a + b
    if name == "sub":
        return a - b
    if name == "mul":
        return a * b
    if name == "div_safe":
        return a / (1.0 + b * b)
    if name == "pow_safe":
        return (1.0 + a * a) ** tg.tanh(b)
    if name == "branch":
        return a * b if a > b else a - 2.0 * b
    return a if a >= b else b


Step = tuple[str, int, int]


def make_program(steps: Sequence[Step]) -> Callable[[Sequence[tg.Scalar]], list[tg.Scalar]]:
    def program(xs: Sequence[tg.Scalar]) -> list[tg.Scalar]:
        vals = list(xs)
        for name, i, j in steps:
            a, b = vals[i % len(vals)], vals[j % len(vals)]
            vals.append(_unary(name, a) if name in UNARY else _binary(name, a, b))
        return vals[-3:]

    return program


steps_strategy = st.lists(
    st.tuples(st.sampled_from(UNARY + BINARY), st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=25
)
inputs_strategy = st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=3, max_size=3)


@settings(max_examples=40)
@given(steps_strategy, inputs_strategy, inputs_strategy, st.sampled_from(BACKENDS))
def test_jit_equals_eager_on_random_programs(steps: list[Step], x1: list[float], x2: list[float], backend: str) -> None:
    program = make_program(steps)
    jitted = tg.jit(program, backend=backend)
    assert jitted(x1) == program(x1)  # the tracing call
    assert jitted(x2) == program(x2)  # a replay, or a retrace if a guard failed
    assert jitted(x1) == program(x1)
    assert jitted.stats.traces >= 1


@settings(max_examples=25)
@given(steps_strategy, inputs_strategy, inputs_strategy, st.sampled_from(BACKENDS))
def test_jit_of_value_and_grad_equals_eager(steps: list[Step], x1: list[float], x2: list[float], backend: str) -> None:
    program = make_program(steps)

    def loss(xs: Sequence[tg.Scalar]) -> tg.Scalar:
        return sum(program(xs))

    vg = tg.value_and_grad(loss)
    jitted = tg.jit(vg, backend=backend)
    for x in (x1, x2, x1):
        assert jitted(x) == vg(x)


def _moons_loss(params: nn.MLPParams, points: list[list[float]], labels: list[float]) -> tuple[tg.Scalar, tg.Scalar]:
    # The data are arguments: closed over, jit would freeze them (and warn).
    scores = [nn.mlp(params, x) for x in points]
    return nn.svm_hinge_loss(scores, labels) + 1e-4 * nn.l2_penalty(params), nn.accuracy(scores, labels)


@pytest.mark.parametrize("backend", BACKENDS)
def test_jit_training_step_matches_eager_bit_for_bit(backend: str) -> None:
    points, labels = make_moons(20, 0.1, random.Random(3))
    step = tg.value_and_grad(_moons_loss, has_aux=True)
    jitted = tg.jit(step, backend=backend)
    params: nn.MLPParams = nn.init_mlp(random.Random(5), [2, 8, 8, 1])
    for k in range(4):
        expected = step(params, points, labels)
        assert jitted(params, points, labels) == expected
        params = nn.sgd_step(params, expected[1], 0.5)
    # One trace; the rest were replays (accuracy is recorded, not guarded;
    # the labels' check is a guard that holds while they stay the same).
    assert jitted.stats.traces == 1
    assert jitted.stats.replays == 3


def test_backends_agree_and_source_is_readable() -> None:
    points, labels = make_moons(10, 0.1, random.Random(0))
    params = nn.init_mlp(random.Random(1), [2, 4, 1])
    j = tg.jit(tg.value_and_grad(_moons_loss, has_aux=True))
    j(params, points, labels)
    source = j.source()
    assert source is not None and source.startswith("def replay(x):")
    assert " * " in source and " + " in source


def test_bytecode_handles_many_registers_and_constants() -> None:
    # More than 256 live values and constants forces EXTENDED_ARG prefixes.
    if not ASSEMBLER_AVAILABLE:
        pytest.skip("the bytecode back end exists on CPython 3.11 only")

    def f(xs: Sequence[tg.Scalar]) -> list[tg.Scalar]:
        ys: list[tg.Scalar] = [x * (1.0 + k / 1000.0) + k for k, x in enumerate(xs)]
        return [tg.relu(y) * tg.sin(y) for y in ys]

    xs = [math.sin(k) for k in range(600)]
    src = tg.jit(f, backend="source")
    byte = tg.jit(f, backend="bytecode")
    src(xs)
    byte(xs)
    xs2 = [math.cos(k) for k in range(600)]
    assert byte(xs2) == src(xs2) == f(xs2)


def test_a_failed_guard_retraces_instead_of_replaying_the_wrong_branch() -> None:
    def f(x: tg.Scalar) -> tg.Scalar:
        return x * x if x > 0 else -x

    j = tg.jit(f)
    assert j(2.0) == 4.0
    assert j(-3.0) == 3.0  # the guard x > 0 fails: traced again
    assert j.stats.guard_failures == 1 and j.stats.traces == 2
    assert j(5.0) == 25.0  # both variants are kept: no new trace
    assert j(-1.5) == 1.5
    assert j.stats.traces == 2


def test_guard_on_grad_inside_jit() -> None:
    def f(x: tg.Scalar) -> tg.Scalar:
        magnitude = cast(tg.Scalar, abs(x))  # mypy joins abs() over the union to object
        return magnitude * x if x < 1.0 else tg.sin(x)

    gj = tg.jit(tg.grad(f))
    for x in (0.5, -0.5, 2.0, 0.25, 3.0):
        assert gj(x) == tg.grad(f)(x)


def test_reading_a_value_inside_jit_raises() -> None:
    def f(x: tg.Scalar) -> tg.Scalar:
        return x * tg.primal(x)

    with pytest.raises(TypeError, match="jit"):
        tg.jit(f)(2.0)
    assert tg.grad(f)(2.0) == 2.0  # outside jit, primal() is a constant


def test_domain_error_during_replay_names_the_primitive() -> None:
    j = tg.jit(tg.log)
    assert j(1.0) == 0.0
    with pytest.raises(ValueError, match="log"):
        j(-1.0)


def test_keyword_arguments_are_constants() -> None:
    def f(x: tg.Scalar, *, scale: float) -> tg.Scalar:
        return x * scale

    j = tg.jit(f)
    assert j(2.0, scale=3.0) == 6.0
    assert j(2.0, scale=4.0) == 8.0
    assert j.stats.traces == 2

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

    with pytest.raises(TypeError, match="hashable"):
        j(2.0, scale=Unhashable())  # type: ignore[arg-type]


def test_list_and_dict_constants_are_keyed_by_their_contents() -> None:
    def f(x: tg.Scalar, *, weights: list[float]) -> tg.Scalar:
        return x * sum(weights)

    j = tg.jit(f)
    w = [1.0, 2.0]
    assert j(2.0, weights=w) == 6.0
    w.append(3.0)  # mutated: a new key, so a new trace
    assert j(2.0, weights=w) == 12.0
    assert j(2.0, weights=[1.0, 2.0, 3.0]) == 12.0  # the same contents: replayed
    assert (j.stats.traces, j.stats.replays) == (2, 1)


def test_new_structure_means_new_trace_and_outputs_keep_their_shape() -> None:
    def f(p: Any) -> dict[str, Any]:
        leaves = tree_leaves(p)
        return {"sum": sum(leaves), "name": "constant text", "zero": 0.0}

    j = tg.jit(f)
    assert j([1.0, 2.0]) == {"sum": 3.0, "name": "constant text", "zero": 0.0}
    assert j([1.0, 2.0, 3.0])["sum"] == 6.0
    assert j({"a": 1.0})["sum"] == 1.0
    assert j.stats.traces == 3


def test_jit_inside_grad_falls_back_to_tracing_through() -> None:
    def cube(x: tg.Scalar) -> tg.Scalar:
        return x * x * x

    j = tg.jit(cube)
    assert tg.grad(j)(2.0) == 12.0


def test_custom_primitive_replays() -> None:
    @tg.primitive
    def cube(x: float) -> float:
        return x**3

    tg.defvjp(cube, lambda g, ans, x: g * 3.0 * x * x)
    grad_f = tg.grad(lambda x: cube(x) + x)
    j = tg.jit(grad_f)
    assert j(2.0) == 13.0
    assert j(1.0) == 4.0


def test_program_drops_dead_records_but_keeps_domain_checks() -> None:
    def f(x: tg.Scalar) -> tg.Scalar:
        unused = tg.tanh(x) * 3.0  # never reaches the output, and cannot raise
        checked = tg.exp(x)  # never reaches the output, but raises for x > 709.78
        del unused, checked
        return x + 1.0

    with tg.Tape(jit=True) as tape:
        out = f(tg.Traced.input(tape, 1.0))
    assert isinstance(out, tg.Traced)
    program = build_program(tape, [out.index])
    assert len(program.body) == 2  # exp and add; tanh and the product are gone
    fn, source = compile_source(program)
    assert fn([41.0]) == [42.0]
    assert "tanh" not in source and "* 3.0" not in source
    with pytest.raises(OverflowError):
        fn([1000.0])


def test_a_trace_that_read_an_outer_traced_value_is_not_reused() -> None:
    # f reads y from the enclosing grad through a closure, not an argument:
    # freezing it into a replay would give the old y's value and gradient.
    box: list[tg.Scalar] = [0.0]

    def times_box(x: tg.Scalar) -> tg.Scalar:
        return x * box[0]

    jitted = tg.jit(times_box)

    def outer(y: tg.Scalar) -> tg.Scalar:
        box[0] = y
        a = jitted(2.0)
        box[0] = y * y
        b = jitted(2.0)
        return a + b

    assert tg.value_and_grad(outer)(3.0) == (2.0 * 3.0 + 2.0 * 9.0, 2.0 + 4.0 * 3.0)
    assert tg.value_and_grad(outer)(3.0) == (24.0, 14.0)  # and again, with a new tape


def test_jit_of_a_function_without_inputs() -> None:
    def three() -> float:
        return 3.0

    assert tg.jit(three)() == 3.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_jit_of_a_five_argument_primitive(backend: str) -> None:
    @tg.primitive
    def total(a: float, b: float, c: float, d: float, e: float) -> float:
        return a + 2 * b + 3 * c + 4 * d + 5 * e

    tg.defvjp(total, *[(lambda k: lambda g, ans, *args: g * k)(k) for k in (1.0, 2.0, 3.0, 4.0, 5.0)])

    def f(x: tg.Scalar) -> tg.Scalar:
        return total(x, x, x, x * x, x)  # type: ignore[no-any-return]

    j = tg.jit(tg.grad(f), backend=backend)
    assert j(1.0) == tg.grad(f)(1.0) == 19.0
    assert j(2.0) == tg.grad(f)(2.0) == 27.0


def test_formatting_a_traced_value_inside_jit_raises() -> None:
    def f(x: tg.Scalar) -> tuple[tg.Scalar, str]:
        return x * 2.0, f"{x:.1f}"

    with pytest.raises(TypeError, match="jit"):
        tg.jit(f)(1.0)
    assert tg.grad(lambda x: f(x)[0])(1.0) == 2.0  # outside jit it is fine


def test_keyword_constants_of_different_types_are_different_traces() -> None:
    def f(x: tg.Scalar, *, k: Any) -> tg.Scalar:
        return x * 2.0 if k is True else x * 3.0

    j = tg.jit(f)
    assert j(1.0, k=1) == 3.0
    assert j(1.0, k=True) == 2.0
    assert j.stats.traces == 2


def test_compiling_restores_the_garbage_collector_as_it_found_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import sys

    jit_module = sys.modules["tapegrad.transforms.jit"]

    def cube(x: tg.Scalar) -> tg.Scalar:
        return x * x * x

    was = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            assert tg.jit(tg.grad(cube))(2.0) == 12.0
            assert gc.isenabled() is state

        def broken(*args: Any) -> Any:
            assert not gc.isenabled()  # paused while compiling...
            raise RuntimeError("compiler bug")

        gc.enable()
        monkeypatch.setattr(jit_module, "build_program", broken)
        with pytest.raises(RuntimeError, match="compiler bug"):
            tg.jit(cube)(2.0)
        assert gc.isenabled()  # ...and back on after the failure
    finally:
        (gc.enable if was else gc.disable)()
