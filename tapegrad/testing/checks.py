"""check_grads's exact test and its reports: the dot-product test, and failures traced to an argument.

Part of the library layer (``tapegrad/testing``). :func:`tapegrad.testing.check_grads`
calls in here; nothing in this module needs more than tapegrad itself.

The dot-product test compares ``<w, J u>`` (one forward sweep along ``u``)
with ``<J^T w, u>`` (one reverse sweep from ``w``). Both are the same sum
of products of the same partial derivatives, added up in different orders,
so they agree to rounding, whatever the step size of a finite difference
would be: a custom rule whose forward and reverse versions disagree by one
part in 10^9 shows, while central differences (truncation error about
eps^2, tolerance 1e-4) cannot see it.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Sequence

from tapegrad.core.tree import flatten, unflatten
from tapegrad.transforms.grad import jvp
from tapegrad.transforms.linearize import magnitude_program

EPS = sys.float_info.epsilon

# Central differences along a direction, one number per output leaf.
Numeric = Callable[[tuple[Any, ...]], list[float]]


def leaves(tree: Any, name: str = "tree") -> list[float]:
    """The leaves of a tree of numbers (no paths)."""
    return flatten(tree, name, with_paths=False)[0]


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    """An accurately rounded dot product (math.fsum), so the test's own sums add no error."""
    return math.fsum(x * y for x, y in zip(a, b))


def only(direction: tuple[Any, ...], k: int) -> tuple[Any, ...]:
    """``direction`` with every argument but the k-th set to zeros."""
    out = []
    for j, d in enumerate(direction):
        lv, td, _ = flatten(d, "direction", with_paths=False)
        out.append(d if j == k else unflatten(td, [0.0] * len(lv)))
    return tuple(out)


def rounding_tolerance(f: Callable[..., Any], args: tuple[Any, ...], u: tuple[Any, ...], w_leaves: Sequence[float]) -> float:
    """How far ``<w, J u>`` and ``<J^T w, u>`` may be apart from rounding alone.

    Both sides are sums, over every path from an input to an output, of
    ``w_out * (product of the partials along the path) * u_in``; only the
    order of the operations differs. Each path's term passes through at most
    one multiplication and one addition per record it crosses, plus the few
    operations of the rule that scales the incoming (co)tangent, and the
    final dot products add ``n + m`` terms: call the count ``K`` (bounded by
    ``4 * records + n + m + 4``). Standard forward error analysis of sums of
    products then bounds each side's error by ``gamma_K * S``, where
    ``gamma_K = K eps / (1 - K eps)`` and ``S`` is the sum of the absolute
    values of all the path terms, which one sweep over the absolute values
    of the partials computes (:meth:`LinearProgram.magnitudes`). Their
    difference is within twice that. The bound counts cancellation inside the
    sweeps correctly (``S`` is not the size of the answer, which can be much
    smaller), and for the tapes of check_grads it stays below 1e-11 relative
    to ``S``, far below a disagreement of 1e-9.
    """
    program, _ = magnitude_program(f, args)
    seeds: dict[int, float] = {}
    for i, t in zip(program.inputs, [x for d in u for x in leaves(d, "u")]):
        seeds[i] = seeds.get(i, 0.0) + abs(t)
    mags = program.magnitudes(seeds)
    total = math.fsum(abs(wi) * m for wi, m in zip(w_leaves, mags))
    k = 4 * len(program.rows) + len(program.inputs) + len(program.outputs) + 4
    gamma = k * EPS / (1.0 - k * EPS)
    return 2.0 * gamma * total


def _g(x: float) -> str:
    return format(x, ".17g")


def dot_test(
    f: Callable[..., Any],
    args: tuple[Any, ...],
    u: tuple[Any, ...],
    w: Any,
    tangent: Any,
    pulled: Sequence[Any],
    level: int,
    labels: Sequence[str],
    passed: Sequence[str],
) -> None:
    """Raise AssertionError unless ``<w, jvp(u)>`` equals ``<vjp(w), u>`` to rounding.

    ``tangent`` is f's jvp along ``u`` and ``pulled`` its vjp of ``w``
    (one tree per argument), both already computed by the caller.
    """
    w_leaves = leaves(w, "w")
    lhs = dot(w_leaves, leaves(tangent, "tangent"))
    rhs = math.fsum(dot(leaves(p, "vjp"), leaves(d, "u")) for p, d in zip(pulled, u))
    tol = rounding_tolerance(f, args, u, w_leaves)
    if math.isfinite(lhs) and math.isfinite(rhs) and abs(lhs - rhs) <= tol:
        return
    lines = [
        f"check_grads: the dot-product test of order {level} failed: forward and reverse mode disagree by more than rounding",
        f"  <w, jvp(u)> = {_g(lhs)}  (forward mode)",
        f"  <vjp(w), u> = {_g(rhs)}  (reverse mode)",
        f"  they differ by {abs(lhs - rhs):.3g}; rounding explains at most {tol:.3g}",
    ]
    if len(args) > 1:
        for k, label in enumerate(labels):
            uk = only(u, k)
            lk = dot(w_leaves, leaves(jvp(f, args, uk)[1], "tangent"))
            rk = dot(leaves(pulled[k], "vjp"), leaves(u[k], "u"))
            tk = rounding_tolerance(f, args, uk, w_leaves)
            verdict = "agrees" if abs(lk - rk) <= tk else f"DISAGREES by {abs(lk - rk):.3g} (rounding allows {tk:.3g})"
            lines.append(f"  along {label} alone: {_g(lk)} vs {_g(rk)}: {verdict}")
    lines.append(passed_line(passed))
    lines.append(
        "  A forward rule (defjvp) and a reverse rule (defvjp) of one primitive that do not match, or a rule "
        "that is not linear in its first argument, do this; central differences are too coarse to see it."
    )
    raise AssertionError("\n".join(lines))


def passed_line(passed: Sequence[str]) -> str:
    """The checks that passed before the one that failed, as one line of a report."""
    return "  passed before this: " + ("; ".join(passed) if passed else "none (this was the first check)")


def localize_forward(
    f: Callable[..., Any], args: tuple[Any, ...], u: tuple[Any, ...], numeric: Numeric, rtol: float, atol: float, labels: Sequence[str]
) -> list[str]:
    """For a failed jvp check of several arguments: which argument's derivatives disagree, and by how much."""
    if len(args) < 2:
        return []
    lines = []
    for k, label in enumerate(labels):
        uk = only(u, k)
        analytic = leaves(jvp(f, args, uk)[1], "tangent")
        num = numeric(uk)
        worst = max((abs(a - n) - (atol + rtol * abs(n)) for a, n in zip(analytic, num)), default=0.0)
        gap = max((abs(a - n) for a, n in zip(analytic, num)), default=0.0)
        lines.append(f"  along {label} alone: " + ("agrees" if worst <= 0.0 else f"DISAGREES by up to {gap:.3g}"))
    return lines


def localize_reverse(
    pulled: Sequence[Any], u: tuple[Any, ...], w_leaves: Sequence[float], numeric: Numeric, rtol: float, atol: float, labels: Sequence[str]
) -> list[str]:
    """For a failed vjp check of several arguments: which argument's part of the vjp is off."""
    if len(pulled) < 2:
        return []
    lines = []
    for k, label in enumerate(labels):
        lhs = dot(leaves(pulled[k], "vjp"), leaves(u[k], "u"))
        rhs = dot(w_leaves, numeric(only(u, k)))
        ok = abs(lhs - rhs) <= atol + rtol * abs(rhs)
        lines.append(f"  along {label} alone: {_g(lhs)} vs {_g(rhs)}: " + ("agrees" if ok else f"DISAGREES by {abs(lhs - rhs):.3g}"))
    return lines
