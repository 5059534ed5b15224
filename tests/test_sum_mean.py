"""tg.sum and tg.mean: one variadic record each, under every transform and the jit."""

from __future__ import annotations

import functools
import operator
from typing import Any, Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.core.tape import Tape
from tapegrad.compiler.backends import ASSEMBLER_AVAILABLE
from tapegrad.interpret.sweep import reference_reverse_sweep, reverse_sweep
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import floats


def chain(xs: Sequence[float]) -> float:
    return functools.reduce(operator.add, xs)


@settings(max_examples=30, deadline=None)
@given(st.lists(floats(-1e6, 1e6), min_size=1, max_size=12))
def test_values_equal_the_chain_of_additions(xs: list[float]) -> None:
    # Bit for bit: left to right, as x0 + x1 + ... adds.
    assert tg.sum(xs) == chain(xs)
    assert tg.mean(xs) == chain(xs) / len(xs)
    assert tg.value_and_grad(tg.sum)(xs) == (chain(xs), [1.0] * len(xs))
    assert tg.value_and_grad(tg.mean)(xs) == (chain(xs) / len(xs), [1.0 / len(xs)] * len(xs))


def test_one_record_each() -> None:
    tape = tg.trace(lambda xs: tg.sum(xs) + tg.mean(xs))([1.0, 2.0, 3.0, 4.0])
    assert [r.primitive.name for r in tape.records] == ["input"] * 4 + ["sum", "mean", "add"]
    assert "v4 = sum(v0, v1, v2, v3)" in str(tape) and "v5 = mean(v0, v1, v2, v3)" in str(tape)
    assert tape.records[4].inputs == (0, 1, 2, 3)
    # one and two arguments are records of the same primitive too
    one = tg.trace(lambda xs: tg.sum(xs))([5.0])
    assert str(one.records[-1].primitive.name) == "sum" and one.refs(1) == (0,)
    two = tg.trace(lambda xs: tg.mean(xs))([5.0, 6.0])
    assert two.refs(2) == (0, 1) and two.records[-1].value == 5.5


def test_empty_sequences() -> None:
    assert tg.sum([]) == 0.0 and type(tg.sum([])) is float
    with pytest.raises(ValueError, match=r"mean\(\) of an empty sequence"):
        tg.mean([])


def test_floats_ints_mixtures_and_iterables() -> None:
    assert tg.sum([1, 2.5]) == 3.5 and type(tg.sum([1, 2])) is float
    assert tg.sum(x for x in (1.0, 2.0)) == 3.0 and tg.mean((1.0, 2.0, 6.0)) == 3.0

    def f(x: Scalar, y: Scalar) -> Scalar:
        return tg.sum([x, 2.0, y * y, 3]) * tg.mean([x, 1.0])

    value, grads = tg.value_and_grad(f, argnums=(0, 1))(1.5, 2.0)
    assert value == (1.5 + 2.0 + 4.0 + 3) * 1.25
    assert grads == (1.25 + 10.5 * 0.5, 2.0 * 2.0 * 1.25)
    check_grads(f, (1.5, 2.0), order=2)
    with pytest.raises(TypeError, match="argument 1 must be a float or a traced scalar"):
        tg.grad(lambda x: tg.sum([x, "2"]))(1.0)  # type: ignore[list-item]


def _f(xs: Sequence[Scalar]) -> Scalar:
    s = tg.sum([x * x for x in xs])
    m = tg.mean([tg.sin(x) for x in xs])
    return s * m + tg.mean(xs)


def test_grad_of_grad_jvp_and_hessian() -> None:
    xs = [0.3, -1.2, 2.0]
    check_grads(_f, (xs,), order=2, modes=("fwd", "rev"))
    # the same as the chain of additions, derivative by derivative
    def chained(ys: Sequence[Scalar]) -> Scalar:
        s = functools.reduce(operator.add, [y * y for y in ys])
        m = functools.reduce(operator.add, [tg.sin(y) for y in ys]) / 3.0
        return s * m + functools.reduce(operator.add, ys) / 3.0

    assert tg.grad(_f)(xs) == pytest.approx(tg.grad(chained)(xs), rel=1e-14)
    for row, expected in zip(tg.hessian(_f)(xs), tg.hessian(chained)(xs)):
        assert row == pytest.approx(expected, rel=1e-13)
    _, t = tg.jvp(_f, (xs,), ([1.0, 0.5, -1.0],))
    _, t2 = tg.jvp(chained, (xs,), ([1.0, 0.5, -1.0],))
    assert t == pytest.approx(t2, rel=1e-14)


def test_nested_tapes_with_values_from_both() -> None:
    # the list mixes a value of the outer tape (x) and of the inner one (y)
    def inner(x: Scalar) -> Any:
        return tg.grad(lambda y: tg.sum([x * y, y * y, x]) * tg.mean([x, y]))(2.0)

    # d/dy at y = 2: (x + 2y) * (x + y)/2 + (xy + y^2 + x)/2; its derivative in x
    def expected(x: float) -> float:
        return 0.5 * (x + 2.0) + 0.5 * (x + 4.0) + 0.5 * (2.0 + 1.0)

    assert tg.grad(inner)(1.5) == pytest.approx(expected(1.5), rel=1e-14)
    check_grads(inner, (1.5,), order=1)


def test_generated_and_reference_sweeps_agree() -> None:
    with Tape() as tape:
        xs = [tg.Traced.input(tape, v) for v in (1.0, 2.0, 3.0)]
        out = tg.mean([tg.sum(xs), xs[0] * xs[1], 2.0])
    assert isinstance(out, tg.Traced)  # a mixed list is typed Scalar: mypy cannot tell
    assert reverse_sweep(tape, [(out.index, 1.0)]) == reference_reverse_sweep(tape, [(out.index, 1.0)])


@pytest.mark.parametrize("backend", ["source", "bytecode"])
def test_jit(backend: str) -> None:
    if backend == "bytecode" and not ASSEMBLER_AVAILABLE:
        pytest.skip("the bytecode back end is for CPython 3.11")
    xs = [0.3, -1.2, 2.0]
    jf = tg.jit(_f, backend=backend)
    jg = tg.jit(tg.grad(_f), backend=backend)
    jh = tg.jit(tg.hessian(_f), backend=backend)
    for ys in (xs, [1.0, 2.0, 3.0]):
        assert jf(ys) == _f(ys)
        assert jg(ys) == tg.grad(_f)(ys)
        assert jh(ys) == tg.hessian(_f)(ys)
    # a single argument and constants among them
    g = tg.jit(lambda ys: tg.sum([ys[0]]) + tg.mean([ys[1], 2.0, ys[0]]), backend=backend)
    assert g([1.0, 4.0]) == 1.0 + (4.0 + 2.0 + 1.0) / 3.0


def test_the_jit_source_writes_additions() -> None:
    from tapegrad.compiler.backends import to_source
    from tapegrad.compiler.program import build_program

    tape = tg.trace(lambda xs: tg.sum(xs) * tg.mean(xs))([1.0, 2.0, 3.0])
    source, _ = to_source(build_program(tape, [tape.outputs[0].index]))  # type: ignore[union-attr]
    assert " + " in source and "/ 3.0" in source and "_p" not in source


def test_the_tables_and_the_graph_show_one_term_per_argument() -> None:
    from tapegrad.dot import tape_to_dot
    from tapegrad.tables import adjoint_table

    tape = tg.trace(lambda xs: tg.mean([xs[0], xs[1], xs[0]]))([1.0, 2.0])
    text = adjoint_table(tape)
    assert "1/3" in text
    dot = tape_to_dot(tape)
    assert dot.count("-> ") >= 3


def test_one_record_where_builtin_sum_appends_one_per_term() -> None:
    # The point of tg.sum on a long traced list: the tape grows by one record,
    # not by n - 1 additions (speed itself is for benchmarks, not tests).
    def records(fn: Callable[[list[Scalar]], Any]) -> int:
        with Tape() as tape:
            xs: list[Scalar] = [tg.Traced.input(tape, float(k)) for k in range(1000)]
            before = len(tape)
            fn(xs)
            return len(tape) - before

    assert records(tg.sum) == 1
    assert records(sum) == 999  # one addition per term after the first (adding the start value 0 records nothing)
