"""The generated reverse loops: current with the table, and equal to the reference interpreter.

``tapegrad/interpret/reverse_loops.py`` is written from the rule table by
``python -m tapegrad.interpret.generate``. These tests regenerate it in
memory and compare, and check both generated loops against
:func:`reference_reverse_sweep`, the plain loop at the top of sweep.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.core.tape import Tape
from tapegrad.interpret import generate
from tapegrad.interpret.sweep import reference_reverse_sweep, reverse_sweep
from tapegrad.testing.strategies import Expression, expressions, floats

from sweep_helpers import record, zero


def test_the_generated_file_is_current() -> None:
    on_disk = generate.TARGET.read_text(encoding="utf-8")
    assert on_disk == generate.reverse_loops_source(), "run: python -m tapegrad.interpret.generate"


def test_the_generate_command_checks_and_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(generate.__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "tapegrad.interpret.generate", "--check"], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    # Writing goes to TARGET; point it at a scratch file to see it written and then current.
    target = tmp_path / "reverse_loops.py"
    target.write_text("stale\n", encoding="utf-8")
    monkeypatch.setattr(generate, "TARGET", target)
    assert generate.main(["--check"]) == 1
    assert generate.main([]) == 0
    assert target.read_text(encoding="utf-8") == generate.reverse_loops_source()
    assert generate.main(["--check"]) == 0


def test_each_generated_branch_names_its_rule() -> None:
    text = generate.TARGET.read_text(encoding="utf-8")
    assert "# mul: d/dx = g * y, d/dy = g * x" in text
    assert "# relu: d/dx = g * step(x)" in text




@settings(max_examples=60)
@given(expressions(n_vars=3, smooth=False), st.lists(floats(), min_size=3, max_size=3), floats())
def test_generated_loops_equal_the_reference(expr: Expression, xs: list[float], seed: float) -> None:
    tape, out = record(expr, xs)
    reference = reference_reverse_sweep(tape, [(out, seed)])
    # The general loop computes exactly what the reference does, in the same order.
    tape._flat = False
    try:
        general = reverse_sweep(tape, [(out, seed)])
    finally:
        tape._flat = True
    assert general == reference
    # The flat loop may leave None where a zero would only have sent zeros on.
    flat = reverse_sweep(tape, [(out, seed)])
    assert [zero(a) for a in flat] == [zero(a) for a in reference]


def test_grad_of_grad_through_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    def f(x: tg.Scalar) -> tg.Scalar:
        return x**3.0 * tg.sin(x) + tg.relu(x) / (1.0 + x * x)

    fast = tg.grad(tg.grad(f))(0.8)
    monkeypatch.setenv("TAPEGRAD_SWEEP", "reference")
    assert tg.grad(tg.grad(f))(0.8) == fast


def test_the_environment_variable_selects_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    import tapegrad.interpret.sweep as sweep_module

    original = sweep_module.reference_reverse_sweep

    def counting(tape: Tape, seeds: Any) -> list[Any]:
        calls.append(len(tape))
        return original(tape, seeds)

    monkeypatch.setattr(sweep_module, "reference_reverse_sweep", counting)
    assert tg.grad(lambda x: x * x)(3.0) == 6.0
    assert calls == []
    monkeypatch.setenv("TAPEGRAD_SWEEP", "reference")
    assert tg.grad(lambda x: x * x)(3.0) == 6.0
    assert calls == [2]


def test_the_reference_names_the_failingrecord() -> None:
    with Tape() as tape:
        x = tg.Traced.input(tape, 0.0)
        out = tg.sqrt(x)
    with pytest.raises(ZeroDivisionError, match=r"record v1 = sqrt\(0\.0\)"):
        reference_reverse_sweep(tape, [(out.index, 1.0)])


def test_the_reference_fits_on_one_screen() -> None:
    import inspect

    lines = inspect.getsource(reference_reverse_sweep).splitlines()
    assert len(lines) <= 30
