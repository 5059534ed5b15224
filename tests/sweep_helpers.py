"""Helpers shared by the sweep tests (tests/test_sweep.py, tests/test_generated.py); not a test module."""

from __future__ import annotations

from typing import Any, Sequence

from hypothesis import assume

import tapegrad as tg
from tapegrad.core.tape import Tape
from tapegrad.testing.strategies import Expression


def record(expr: Expression, xs: Sequence[float]) -> tuple[Tape, int]:
    """The tape of ``expr`` on inputs ``xs``, and its output's index (a constant formula is skipped)."""
    with Tape() as tape:
        out = expr([tg.Traced.input(tape, x) for x in xs])
    assume(isinstance(out, tg.Traced))  # a constant formula has nothing to sweep
    assert isinstance(out, tg.Traced)
    return tape, out.index


def zero(a: Any) -> Any:
    """An adjoint with None read as 0.0 (a sweep that skips zeros leaves None where another sends 0.0)."""
    return 0.0 if a is None else a
