"""Checks that competitors computed the same numbers, before anything is timed."""

from __future__ import annotations

from typing import Sequence

TOL = 1e-9  # how closely every competitor's loss and gradients must agree


class BenchmarkError(Exception):
    """A competitor computed something different from the others, or a workload misbehaved."""


def check_close(what: str, got: Sequence[float], want: Sequence[float], tol: float = TOL) -> float:
    """Raise unless ``got`` and ``want`` agree to ``tol`` everywhere; return the largest difference.

    An explicit check rather than ``assert``, so that ``python -O`` cannot
    turn the verification off.
    """
    if len(got) != len(want):
        raise BenchmarkError(f"{what}: {len(got)} numbers, expected {len(want)}")
    worst = max((abs(a - b) for a, b in zip(got, want)), default=0.0)
    if not worst <= tol:  # `not <=` also catches NaN
        raise BenchmarkError(f"{what}: differs by {worst:.3g} (tolerance {tol:g})")
    return worst
