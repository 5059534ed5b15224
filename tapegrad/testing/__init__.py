"""Helpers for testing derivatives: :func:`check_grads`, :func:`taylor_test`, per-example checks, strategies.

* :func:`check_grads` compares forward and reverse mode with central
  differences and with each other (the exact dot-product test of
  :mod:`tapegrad.testing.checks`), to any order.
* :func:`taylor_test` (:mod:`tapegrad.testing.taylor`) tests a gradient,
  tapegrad's or a hand-derived one, by the convergence order of the Taylor
  remainder, with no step size to tune.
* :func:`check_per_example_grads` (:mod:`tapegrad.testing.per_example`)
  compares ``vmap(grad(f))`` with the loop of ``grad(f)``.

These need nothing beyond tapegrad. The random formulas are in
:mod:`tapegrad.testing.formulas`; the strategies live in
:mod:`tapegrad.testing.strategies`, which imports hypothesis; importing
``tapegrad`` or ``tapegrad.testing`` does not.
"""

from __future__ import annotations

import inspect
import math
import random
from typing import Any, Callable, Optional, Sequence, Union

from tapegrad.core.tree import BatchedResult, flatten, unflatten
from tapegrad.testing.checks import dot_test, localize_forward, localize_reverse, passed_line
from tapegrad.testing.per_example import check_per_example_grads
from tapegrad.testing.taylor import TaylorResult, taylor_test
from tapegrad.transforms.grad import jvp, vjp

__all__ = ["TaylorResult", "check_grads", "check_per_example_grads", "numerical_jvp", "taylor_test"]


def _random_like(tree: Any, rng: random.Random) -> Any:
    lv, td, _ = flatten(tree, "args", with_paths=False)
    return unflatten(td, [rng.gauss(0.0, 1.0) for _ in lv])


def _axpy(args: tuple[Any, ...], scale: float, direction: tuple[Any, ...]) -> tuple[Any, ...]:
    out = []
    for a, d in zip(args, direction):
        lv, td, _ = flatten(a, "args", with_paths=False)
        dv, _, _ = flatten(d, "direction", with_paths=False)
        out.append(unflatten(td, [x + scale * y for x, y in zip(lv, dv)]))
    return tuple(out)


def numerical_jvp(f: Callable[..., Any], args: Sequence[Any], direction: Sequence[Any], eps: float = 1e-4) -> list[float]:
    """Central difference ``(f(x + eps*u) - f(x - eps*u)) / (2*eps)``, leaf by leaf of the output."""
    plus, _, _ = flatten(_stepped(f, args, eps, direction), "output")
    minus, _, _ = flatten(_stepped(f, args, -eps, direction), "output")
    return [(p - m) / (2.0 * eps) for p, m in zip(plus, minus)]


def _stepped(f: Callable[..., Any], args: Sequence[Any], step: float, direction: Sequence[Any]) -> Any:
    """``f(x + step * u)``; an error there is reported as the finite difference's, which f at x itself did not raise."""
    try:
        return f(*_axpy(tuple(args), step, tuple(direction)))
    except (ValueError, ArithmeticError) as exc:
        kind = ValueError if isinstance(exc, ValueError) else ArithmeticError  # (a subclass may need other arguments)
        raise kind(
            f"check_grads: f raised {type(exc).__name__} at a central-difference point, args + ({step:g}) * u, a step "
            f"of eps={abs(step):g} along a random direction u: {exc}. The point is within eps of the edge of f's domain "
            "(a log or sqrt near 0, a kink): check at a point farther from it, or pass a smaller eps"
        ) from exc


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b))


def _close(analytic: float, numeric: float, rtol: float, atol: float) -> bool:
    return abs(analytic - numeric) <= atol + rtol * abs(numeric)


def _fail(what: str, order: int, analytic: Any, numeric: Any, args: Any, rtol: float, atol: float, details: Sequence[str] = ()) -> AssertionError:
    return AssertionError(
        f"check_grads: {what} of order {order} disagrees with central differences\n"
        f"  analytic: {analytic!r}\n  numeric:  {numeric!r}\n"
        + "".join(line + "\n" for line in details)
        + f"  at args {args!r}\n  (tolerance: atol={atol}, rtol={rtol})"
    )


def _is_int_leaf(x: Any) -> bool:
    """An integer that is not a float: a Python int, or a NumPy integer (duck-typed, no import)."""
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return True
    dtype = getattr(x, "dtype", None)
    return getattr(dtype, "kind", None) in ("i", "u")


def _has_int_leaf(tree: Any) -> bool:
    """Whether an integer sits at a leaf (flatten would already have made it a float)."""
    if isinstance(tree, dict):
        return any(_has_int_leaf(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return any(_has_int_leaf(v) for v in tree)
    return _is_int_leaf(tree)


def _is_float_tree(tree: Any) -> bool:
    """True for a tree of numbers none of whose leaves is an integer (an int label is not perturbed)."""
    try:
        flatten(tree, "args", with_paths=False)
    except (TypeError, ValueError, OverflowError):
        return False
    return not _has_int_leaf(tree)


def _select(args: Sequence[Any], argnums: Optional[Union[int, Sequence[int]]]) -> tuple[int, ...]:
    """The positions of the arguments to perturb."""
    if argnums is None:
        nums = tuple(k for k, a in enumerate(args) if _is_float_tree(a))
        if not nums:
            raise ValueError(
                "check_grads: no argument is a tree of floats, so there is nothing to perturb; "
                "pass argnums to name the arguments to check (ints are then treated as floats)"
            )
        return nums
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or any(isinstance(n, bool) or not isinstance(n, int) or not -len(args) <= n < len(args) for n in nums):
        raise ValueError(f"check_grads: argnums must name positional arguments 0..{len(args) - 1}, got {argnums!r}")
    normal = tuple(n % len(args) for n in nums)
    if len(set(normal)) != len(normal):
        raise ValueError(f"check_grads: argnums {argnums!r} names an argument twice")
    return normal


def check_grads(
    f: Callable[..., Any],
    args: Sequence[Any],
    order: int = 2,
    modes: Sequence[str] = ("fwd", "rev"),
    eps: float = 1e-4,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    seed: int = 0,
    argnums: Optional[Union[int, Sequence[int]]] = None,
) -> None:
    """Check f's derivatives at ``args`` against central finite differences.

    Along a random direction ``u`` (from ``random.Random(seed)``, so the check
    is deterministic): forward mode (``"fwd"``) must match the numerical
    directional derivative; reverse mode (``"rev"``) must satisfy
    ``<vjp(w), u> == <w, jvp(u)>`` for a random output cotangent ``w``.
    With both modes, the dot-product test then compares ``<w, jvp(u)>``
    with ``<vjp(w), u>`` exactly: they are the same sum of products of
    partial derivatives, so they must agree to rounding (a bound computed
    from the absolute values of the partials), which catches a forward rule
    and a reverse rule that disagree far below any finite-difference
    tolerance. A failure says which check failed, along which argument, by
    how much, and which checks passed before it.

    For ``order > 1`` the same checks run on the derivative functions
    themselves, recursively, and those are functions of the tangent ``u``
    (or the cotangent ``w``) as well as of ``args``: both are perturbed.
    A derivative rule is a function of its incoming cotangent too, and a rule
    that differentiates that dependence wrongly (a helper primitive with a
    wrong rule applied to the cotangent) would otherwise go unnoticed, while
    still making ``grad(grad(...))`` of a product wrong.

    ``argnums`` (an int or a sequence of ints) picks the arguments to
    perturb; the others are passed through unchanged, as they are. By
    default every argument that is a tree of numbers without an integer
    leaf is perturbed, so an int class label is left alone. Raises
    AssertionError with the analytic and numeric values on a mismatch.
    """
    _check_options(args, order, eps, rtol, atol)
    bad = [m for m in modes if m not in ("fwd", "rev")]
    if bad or not modes:
        raise ValueError(f"check_grads: modes must be a non-empty selection of 'fwd' and 'rev', got {tuple(modes)!r}")
    full = tuple(args)
    nums = _select(full, argnums)
    if len(nums) == len(full):
        g = f
    else:
        def g(*moving: Any) -> Any:
            call = list(full)
            for n, a in zip(nums, moving):
                call[n] = a
            return f(*call)

    _check(_rows(g), tuple(full[n] for n in nums), order, order, tuple(modes), eps, rtol, atol, random.Random(seed), _labels(f, nums), [])


def _rows(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` with a vmapped result returned as the list of per-example outputs that it compares equal to.

    A :class:`~tapegrad.core.tree.BatchedResult` of numbers holds batches,
    which the checks' comparisons of plain numbers cannot order.
    """

    def rows(*args: Any) -> Any:
        out = f(*args)
        return list(out) if isinstance(out, BatchedResult) else out

    return rows


def _labels(f: Callable[..., Any], nums: Sequence[int]) -> list[str]:
    """How a report names the checked arguments: ``argument 1 (y)``."""
    try:
        params = [p.name for p in inspect.signature(f).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [f"argument {n} ({params[n]})" if n < len(params) else f"argument {n}" for n in nums]


def _check_options(args: Any, order: Any, eps: Any, rtol: Any, atol: Any) -> None:
    """Refuse check_grads options that would crash inside it or check nothing, naming the option."""
    if not isinstance(args, (tuple, list)):
        raise TypeError(
            f"check_grads: args must be a tuple (or list) of f's positional arguments, got {type(args).__name__} {args!r:.60}; "
            f"for a function of one argument write args=({args!r:.30},)"
        )
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"check_grads: order must be a whole number >= 1 (1 for first derivatives, 2 for second), got {order!r:.60}")
    for name, value, low in (("eps", eps, None), ("rtol", rtol, 0.0), ("atol", atol, 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"check_grads: {name} must be a finite number, got {value!r:.60}")
        if low is None and not value > 0.0:
            raise ValueError(f"check_grads: eps, the finite-difference step, must be > 0, got {value!r}")
        if low is not None and value < low:
            raise ValueError(f"check_grads: {name} must be >= 0, got {value!r}")


def _check(
    f: Callable[..., Any],
    args: tuple[Any, ...],
    order: int,
    top: int,
    modes: tuple[str, ...],
    eps: float,
    rtol: float,
    atol: float,
    rng: random.Random,
    labels: Sequence[str],
    passed: list[str],
) -> None:
    level = top - order + 1
    u = tuple(_random_like(a, rng) for a in args)
    numeric = numerical_jvp(f, args, u, eps)

    def along(direction: tuple[Any, ...]) -> list[float]:
        return numerical_jvp(f, args, direction, eps)

    tangent: Any = None
    if "fwd" in modes:
        _, tangent = jvp(f, args, u)
        analytic, _, _ = flatten(tangent, "tangent", with_paths=False)
        for a, n in zip(analytic, numeric):
            if not _close(a, n, rtol, atol):
                details = localize_forward(f, args, u, along, rtol, atol, labels) + [passed_line(passed)]
                raise _fail("forward-mode derivative (jvp)", level, analytic, numeric, args, rtol, atol, details)
        passed.append(f"jvp against central differences (order {level})")
    if "rev" in modes:
        out, vjp_fn = vjp(f, *args)
        w = _random_like(out, rng)
        pulled = vjp_fn(w)
        wl, _, _ = flatten(w, "w", with_paths=False)
        lhs = _dot(flatten(pulled, "vjp", with_paths=False)[0], flatten(u, "u", with_paths=False)[0])
        rhs = _dot(wl, numeric)
        if not _close(lhs, rhs, rtol, atol):
            details = localize_reverse(pulled, u, wl, along, rtol, atol, labels) + [passed_line(passed)]
            raise _fail("reverse-mode derivative <vjp(w), u> vs <w, jvp(u)>", level, lhs, rhs, args, rtol, atol, details)
        passed.append(f"vjp against central differences (order {level})")
        if "fwd" in modes:
            dot_test(f, args, u, w, tangent, pulled, level, labels, passed)
            passed.append(f"dot-product test <w, jvp(u)> = <vjp(w), u> (order {level})")
    if order > 1:
        n = len(args)
        if "fwd" in modes:
            # The directional derivative as a function of the point and the tangent.
            def tangent_of(*a: Any) -> Any:
                return jvp(f, a[:n], a[n:])[1]

            tangent_labels = list(labels) + [f"the tangent of {label}" for label in labels]
            _check(tangent_of, args + u, order - 1, top, modes, eps, rtol, atol, rng, tangent_labels, passed)
        if "rev" in modes:
            # The pulled-back cotangent as a function of the point and the cotangent.
            def pullback(*a: Any) -> Any:
                return vjp(f, *a[:n])[1](a[n])

            out = f(*args)
            w = _random_like(out, rng)
            _check(pullback, args + (w,), order - 1, top, modes, eps, rtol, atol, rng, list(labels) + ["the output cotangent"], passed)
