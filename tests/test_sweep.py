"""The reverse sweep's two loops: the float-only one for flat tapes and the general one.

A tape that no outer tape traces is swept by a loop that indexes constants
like records, calls the primitives' float functions and skips records whose
adjoint is exactly zero. Both loops must give the same adjoints (the flat one
may leave None where the general one sends zeros on), and the flat one must
never be used when a value, a seed or a rule's result is traced. The record
lists that dead tapes hand on are tested here too.
"""

from __future__ import annotations

import inspect
import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.core.rule_table import input_p
from tapegrad.core.tape import Tape
from tapegrad.interpret.reverse_loops import flat_reverse_loop, general_reverse_loop
from tapegrad.interpret.sweep import reverse_sweep
from tapegrad.testing.strategies import Expression, expressions, floats

from sweep_helpers import record, zero



def _general_sweep(tape: Tape, seeds: list[tuple[int, Any]]) -> list[Any]:
    tape._flat = False  # force the general loop on the same records
    try:
        return reverse_sweep(tape, seeds)
    finally:
        tape._flat = True


@settings(max_examples=60)
@given(expressions(n_vars=3, smooth=False), st.lists(floats(), min_size=3, max_size=3), floats())
def test_flat_and_general_loops_give_identical_adjoints(expr: Expression, xs: list[float], seed: float) -> None:
    tape, out = record(expr, xs)
    assert tape.flat
    flat = reverse_sweep(tape, [(out, seed)])
    general = _general_sweep(tape, [(out, seed)])
    assert len(flat) == len(general) == len(tape)  # the constants' spare slots are gone
    # The flat loop also skips records whose adjoint is exactly 0.0, so it
    # may leave None where the general loop sent zeros on; every other
    # adjoint is the same float.
    assert [zero(a) for a in flat] == [zero(a) for a in general]
    assert all(a is None or isinstance(a, float) for a in flat)


@settings(max_examples=40)
@given(expressions(n_vars=3, smooth=False), st.lists(floats(), min_size=3, max_size=3), floats())
def test_inputs_only_keeps_the_inputs_adjoints_and_drops_the_rest(expr: Expression, xs: list[float], seed: float) -> None:
    tape, out = record(expr, xs)
    tape._flat = False  # the general loop is the one that drops adjoints
    try:
        full = reverse_sweep(tape, [(out, seed)])
        lean = reverse_sweep(tape, [(out, seed)], inputs_only=True)
    finally:
        tape._flat = True
    inputs = [i for i in range(len(tape)) if tape._ops[i] == input_p.id]
    assert len(inputs) == 3
    assert [lean[i] for i in inputs] == [full[i] for i in inputs]
    assert all(lean[i] is None for i in range(len(tape)) if i not in inputs)



def test_a_relu_that_is_off_cuts_the_sweep_on_a_flat_tape() -> None:
    with Tape() as tape:
        w = tg.Traced.input(tape, 2.0)
        x = tg.Traced.input(tape, -3.0)
        h = tg.relu(w * x)  # off: relu'(-6) = 0
        out = h + w
    adj = reverse_sweep(tape, [(out.index, 1.0)])
    assert adj[h.index] == 1.0
    assert adj[h.index - 1] == 0.0  # the product's adjoint is exactly zero...
    assert adj[x.index] is None  # ...so nothing was sent below it
    assert adj[w.index] == 1.0
    general = _general_sweep(tape, [(out.index, 1.0)])
    assert general[x.index] == 0.0 and general[w.index] == 1.0


def test_a_zero_adjoint_is_not_pushed_through_an_undefined_derivative() -> None:
    # sqrt'(0) is infinite. Only the sqrt's own adjoint (exactly 0, as the
    # relu is off) would be multiplied by it, so the flat sweep skips it and
    # the gradient is the exact 1.0; the general loop would divide by zero.
    def f(x: tg.Scalar) -> tg.Scalar:
        return tg.relu(-1.0 - x * x) * tg.sqrt(x) + x

    assert tg.grad(f)(0.0) == 1.0
    with Tape() as tape:
        x = tg.Traced.input(tape, 0.0)
        out = f(x)
    assert isinstance(out, tg.Traced)
    with pytest.raises(ZeroDivisionError, match="sqrt"):
        _general_sweep(tape, [(out.index, 1.0)])
    # As the README says: a tape opened inside another transform multiplies
    # the zero through, so there the same point raises, naming the record.
    with pytest.raises(ZeroDivisionError, match="sqrt"):
        tg.grad(tg.grad(f))(0.0)


def test_adjoints_sent_to_constants_are_dropped() -> None:
    # x * 3.0 + 2.0 * x: the rules also compute adjoints for 3.0 and 2.0,
    # which land in the discarded slots and never in a record's.
    with Tape() as tape:
        x = tg.Traced.input(tape, 1.5)
        out = x * 3.0 + 2.0 * x
    adj = reverse_sweep(tape, [(out.index, 1.0)])
    assert adj == [5.0, 1.0, 1.0, 1.0]
    assert len(tape._consts) == 2


def _branch(source: str, name: str) -> str:
    """The lines of a generated loop's branch for one primitive."""
    start = source.index(f"  # {name}:")
    return source[start : source.index("elif", start)]


def test_the_flat_loop_has_no_constant_tests_for_sums_and_products_and_calls_float_functions() -> None:
    general, flat = inspect.getsource(general_reverse_loop), inspect.getsource(flat_reverse_loop)
    for name in ("add", "mul"):
        assert "if a >= 0:" in _branch(general, name)
        assert ">= 0" not in _branch(flat, name)  # a constant's adjoint lands in a spare slot
    # pow's rules branch on their values (a zero base), so they are not pasted:
    # generic_record runs them, example by example if a batch needs both branches
    assert "# pow:" not in flat and "# pow:" not in general
    # div's rule for y can raise (y == 0), so it never runs for a constant's slot
    assert "if b >= 0:" in _branch(flat, "div")
    assert "vals = tape._vals + tape._consts[::-1]" in flat
    assert "f_step(x)" in flat and "f_step" not in general


def test_nested_tapes_are_not_flat_and_grad_of_grad_still_works() -> None:
    flags: list[bool] = []

    def f(x: tg.Scalar) -> tg.Scalar:
        assert isinstance(x, tg.Traced)
        flags.append(x.tape.flat)
        return x * x * x + tg.relu(x) * 2.0

    assert tg.grad(tg.grad(f))(1.5) == 6.0 * 1.5
    assert flags == [False]  # the inner tape, opened under the outer one
    flags.clear()
    assert tg.grad(f)(1.5) == 3.0 * 1.5 * 1.5 + 2.0
    assert flags == [True]


def test_a_tape_holding_another_threads_traced_value_is_not_flat() -> None:
    # A tape opened in another thread can reach this one only as a constant;
    # the tape must then stop calling itself flat.
    with Tape(name="outer") as outer:
        x = tg.Traced.input(outer, 2.0)
        box: list[Tape] = []

        def other_thread() -> None:
            with Tape(name="inner") as inner:
                y = tg.Traced.input(inner, 3.0)
                assert inner.flat  # nothing was open in this thread
                _ = y * x  # x is an older tape's value: a constant here
                box.append(inner)

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert not box[0].flat


def test_a_dead_tapes_lists_are_reused_by_the_next_tape() -> None:
    # Reused lists are old for the garbage collector, so its frequent
    # youngest-generation scans skip the records (see tapegrad/core/tape.py).
    from tapegrad.core import tape as tape_module

    tape_module._SPARE_LISTS.clear()
    with Tape() as first:
        tg.Traced.input(first, 1.0) * 2.0
    lists = (first._ops, first._lhs, first._rhs, first._vals)
    ids = [id(x) for x in lists]
    del lists, first
    assert [id(x) for x in tape_module._SPARE_LISTS[-1]] == ids
    assert all(len(x) == 0 for x in tape_module._SPARE_LISTS[-1])
    with Tape() as second:
        tg.Traced.input(second, 3.0)
    assert [id(second._ops), id(second._lhs), id(second._rhs), id(second._vals)] == ids
    assert second._vals == [3.0]


def test_lists_someone_still_holds_are_not_reused() -> None:
    from tapegrad.core import tape as tape_module

    tape_module._SPARE_LISTS.clear()
    tape = tg.trace(lambda x: x * x + 1.0)(2.0)
    kept = tape._vals
    del tape
    assert tape_module._SPARE_LISTS == []
    assert kept == [2.0, 4.0, 5.0]  # untouched
    other = tg.trace(lambda x: x * 3.0)(1.0)
    assert other._vals is not kept and kept == [2.0, 4.0, 5.0]


def test_a_closed_tape_keeps_its_records_while_others_come_and_go() -> None:
    tape = tg.trace(lambda x: tg.sin(x) * x)(0.5)
    before = [(r.primitive.name, r.value) for r in tape.records]
    for k in range(20):
        tg.grad(lambda x: x * x * float(k))(1.0)
    assert tape._view is not None  # built once; check the lists under it too
    assert [(r.primitive.name, r.value) for r in tape.records] == before
    assert tape._vals == [0.5, math.sin(0.5), math.sin(0.5) * 0.5]


def test_traced_cotangents_take_the_general_loop_even_on_a_flat_tape() -> None:
    # The vjp's tape is flat, but the cotangent is traced by grad's tape: a
    # zero cotangent must still carry its derivative, 2 * 3.0.
    _, vjp_fn = tg.vjp(lambda x: x * x, 3.0)
    for c in (0.0, 1.0):
        assert tg.grad(lambda c: vjp_fn(c)[0])(c) == 6.0


def test_a_custom_rule_that_returns_a_traced_value_falls_back_to_the_general_loop() -> None:
    # The rule reads a value that grad's tape traces; at a = 0 the adjoint it
    # returns is a traced zero, which the flat loop would have skipped.
    cell: dict[str, Any] = {}

    @tg.primitive
    def scale(x: float) -> float:
        return 2.0 * x

    tg.defvjp(scale, lambda g, ans, x: g * cell["a"])
    _, vjp_fn = tg.vjp(lambda x: scale(x * 5.0), 1.0)

    def outer(a: tg.Scalar) -> tg.Scalar:
        cell["a"] = a
        result: tg.Scalar = vjp_fn(1.0)[0]  # 5 * a
        return result

    for a in (1.0, 0.0):
        assert tg.grad(outer)(a) == 5.0


def test_a_tape_freed_by_the_cycle_collector_keeps_its_lists() -> None:
    # Finalizers of one garbage cycle may still read each other: a tape in a
    # cycle must not hand its lists on (here a finalizer even keeps it).
    import gc

    from tapegrad.core import tape as tape_module

    kept: list[Any] = []

    class Keeper:
        me: Any
        tape: Tape

        def __del__(self) -> None:
            kept.append(self.tape)

    def make() -> None:
        keeper = Keeper()
        keeper.me = keeper  # a cycle
        keeper.tape = tg.trace(lambda x: x * 3.0 + 1.0)(2.0)

    tape_module._SPARE_LISTS.clear()
    make()
    gc.collect()
    assert tape_module._SPARE_LISTS == []
    other = tg.trace(lambda x: tg.sin(x) * x)(0.5)
    assert other._vals is not kept[0]._vals
    assert kept[0]._vals == [2.0, 6.0, 7.0]
    assert [r.primitive.name for r in kept[0].records] == ["input", "mul", "add"]
