"""Hypothesis strategies for property-testing code built on tapegrad.

This is the only tapegrad module that imports hypothesis, so ``import
tapegrad`` and ``import tapegrad.testing`` work without it installed.

* :func:`floats` and :func:`positive_floats` draw inputs in ranges where
  every primitive is defined and central differences are reliable.
* :func:`param_trees` draws nested lists, tuples and dicts of floats, the
  shapes :func:`tapegrad.grad` accepts as parameters.
* :func:`expressions` draws random differentiable formulas over tapegrad's
  primitives. Each one is callable on plain floats and on traced scalars,
  prints as a readable formula, and has a ``float_fn`` that evaluates the
  same formula with the :mod:`math` module alone, so tapegrad's forward
  values can be compared with an implementation that does not share code
  with it. The formulas themselves are in :mod:`tapegrad.testing.formulas`.

Example::

    from hypothesis import given
    from tapegrad.testing import check_grads
    from tapegrad.testing.strategies import expressions, floats

    @given(expressions(n_vars=2), floats(), floats())
    def test_second_derivatives(expr, a, b):
        check_grads(expr, ([a, b],), order=2)
"""

from __future__ import annotations

import math
from typing import Optional, Union

from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from tapegrad.testing.formulas import (
    _BINARY,
    _SMOOTH_UNARY,
    _VALUE_LIMIT,
    Expression as Expression,
    _Binary,
    _Const,
    _fits,
    _Node,
    _squash,
    _Unary,
    _Var,
)

__all__ = [
    "Expression",
    "ParamTree",
    "expressions",
    "floats",
    "param_trees",
    "positive_floats",
]

ParamTree = Union[float, list["ParamTree"], tuple["ParamTree", ...], dict[str, "ParamTree"]]
"""A parameter tree as :func:`param_trees` draws it: floats nested in lists, tuples and dicts."""


# -- numbers ---------------------------------------------------------------------


def _check_range(name: str, min_value: float, max_value: float) -> None:
    if not (math.isfinite(min_value) and math.isfinite(max_value)):
        raise ValueError(f"{name}: the bounds must be finite, got [{min_value!r}, {max_value!r}]")
    if min_value > max_value:
        raise ValueError(f"{name}: min_value {min_value!r} is larger than max_value {max_value!r}")


def floats(min_value: float = -3.0, max_value: float = 3.0, *, min_magnitude: float = 0.0) -> SearchStrategy[float]:
    """Finite, well-conditioned floats in ``[min_value, max_value]``.

    No NaN, no infinities and no subnormals. The default range keeps
    ``exp`` and products of a few inputs moderate, so central differences
    with a step of about 1e-4 are accurate. Values with an absolute value
    below ``min_magnitude`` are left out: pass e.g. ``min_magnitude=1e-3``
    to stay clear of the kink of ``relu`` and ``abs`` at zero, where a
    finite difference straddles the kink and is meaningless.
    """
    _check_range("floats", min_value, max_value)
    if min_magnitude < 0.0 or not math.isfinite(min_magnitude):
        raise ValueError(f"floats: min_magnitude must be a finite number >= 0, got {min_magnitude!r}")
    base = st.floats(
        min_value=min_value,
        max_value=max_value,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
    )
    if min_magnitude == 0.0:
        return base
    if max(abs(min_value), abs(max_value)) < min_magnitude or (-min_magnitude < min_value and max_value < min_magnitude):
        raise ValueError(f"floats: no value in [{min_value!r}, {max_value!r}] has magnitude >= {min_magnitude!r}")
    return base.filter(lambda x: abs(x) >= min_magnitude)


def positive_floats(min_value: float = 0.1, max_value: float = 5.0) -> SearchStrategy[float]:
    """Floats in ``[min_value, max_value]`` for the domains of ``log``, ``sqrt`` and ``x ** y``.

    The lower bound stays away from zero, where ``log`` and ``sqrt`` have
    singular derivatives and central differences would step out of the
    domain.
    """
    _check_range("positive_floats", min_value, max_value)
    if min_value <= 0.0:
        raise ValueError(f"positive_floats: min_value must be > 0, got {min_value!r}")
    return floats(min_value, max_value)


# -- parameter trees --------------------------------------------------------------

_KEYS = ("a", "b", "w", "bias", "x", "layer", "scale")


def param_trees(
    leaves: Optional[SearchStrategy[float]] = None,
    max_depth: int = 3,
    max_leaves: int = 8,
    max_children: int = 3,
) -> SearchStrategy[ParamTree]:
    """Nested lists, tuples and dicts (with ``str`` keys) of floats.

    ``leaves`` draws the leaves (default :func:`floats`). Containers nest at
    most ``max_depth`` levels deep (0 gives a bare leaf), hold between 1 and
    ``max_children`` entries, and the whole tree has between 1 and
    ``max_leaves`` leaves: there is never an empty container, so every tree
    has at least one leaf. Trees shrink towards a single leaf.
    """
    if max_depth < 0:
        raise ValueError(f"param_trees: max_depth must be >= 0, got {max_depth!r}")
    if max_leaves < 1:
        raise ValueError(f"param_trees: max_leaves must be >= 1, got {max_leaves!r}")
    if max_children < 1:
        raise ValueError(f"param_trees: max_children must be >= 1, got {max_children!r}")
    leaf_strategy = floats() if leaves is None else leaves

    @st.composite
    def trees(draw: DrawFn) -> ParamTree:
        def node(depth: int, budget: int) -> tuple[ParamTree, int]:
            # Returns the subtree and how many leaves it used (1 <= used <= budget).
            kinds = ("leaf", "list", "tuple", "dict") if depth < max_depth else ("leaf",)
            kind = draw(st.sampled_from(kinds))
            if kind == "leaf":
                return draw(leaf_strategy), 1
            n = draw(st.integers(1, min(max_children, budget)))
            children: list[ParamTree] = []
            used = 0
            for k in range(n):
                # Keep one leaf for each child still to come.
                child, c = node(depth + 1, budget - used - (n - k - 1))
                children.append(child)
                used += c
            if kind == "list":
                return children, used
            if kind == "tuple":
                return tuple(children), used
            keys = draw(st.lists(st.sampled_from(_KEYS), min_size=n, max_size=n, unique=True))
            return dict(zip(keys, children)), used

        return node(0, max_leaves)[0]

    return trees()


# -- expressions --------------------------------------------------------------------




def expressions(
    n_vars: int = 2,
    max_depth: int = 4,
    smooth: bool = True,
    *,
    input_bound: float = 3.0,
) -> SearchStrategy[Expression]:
    """Random differentiable expressions in ``n_vars`` variables.

    The expressions combine ``+ - * / **``, ``exp``, ``log``, ``sqrt``,
    ``sin``, ``cos``, ``tanh`` and ``sigmoid`` (and, with ``smooth=False``,
    ``relu`` and ``abs``) in forms that are defined for every real input:
    ``log(1.0 + e * e)``, ``sqrt(1.0 + e * e)``, ``exp(tanh(e))``,
    ``a / (1.0 + b * b)``, ``(1.0 + a * a) ** tanh(b)`` and so on. For inputs
    with absolute value at most ``input_bound`` (the range of
    :func:`floats`), every subexpression and its slope stay moderate, so
    :func:`tapegrad.testing.check_grads` can check them with its default
    tolerances. Smooth expressions are infinitely differentiable; with
    ``smooth=False`` they may have kinks, so check them away from those.

    The result is an :class:`Expression`: call it as ``expr(xs)`` on floats
    or traced scalars, print it to read the formula, and compare with
    ``expr.float_fn(xs)``, which uses the math module only. Expressions
    shrink towards a single variable.
    """
    if n_vars < 1:
        raise ValueError(f"expressions: n_vars must be >= 1, got {n_vars!r}")
    if max_depth < 0:
        raise ValueError(f"expressions: max_depth must be >= 0, got {max_depth!r}")
    if not (0.0 < input_bound <= _VALUE_LIMIT):
        raise ValueError(f"expressions: input_bound must be in (0, {_VALUE_LIMIT}], got {input_bound!r}")
    unary = _SMOOTH_UNARY if smooth else _SMOOTH_UNARY + ("relu", "abs")
    constants = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False, allow_subnormal=False).map(
        lambda c: round(c, 3) + 0.0  # + 0.0 turns -0.0 into 0.0
    )

    @st.composite
    def build(draw: DrawFn) -> Expression:
        def leaf() -> _Node:
            # Mostly variables: constants make duller expressions.
            if draw(st.integers(0, 4)) < 4:
                return _Var(draw(st.integers(0, n_vars - 1)), input_bound)
            return _Const(draw(constants))

        def node(depth: int) -> _Node:
            # Leaves come first so that expressions shrink towards them;
            # listing the operations twice makes deeper formulas more common.
            shapes = ("leaf", "unary", "binary", "unary", "binary") if depth > 0 else ("leaf",)
            shape = draw(st.sampled_from(shapes))
            if shape == "leaf":
                return leaf()
            made: _Node
            first: _Node
            if shape == "unary":
                kind = draw(st.sampled_from(unary))
                first = node(depth - 1)
                made = _Unary(kind, first)
                if not _fits(made):
                    made = _Unary(kind, _squash(first))
            else:
                kind = draw(st.sampled_from(_BINARY))
                first = node(depth - 1)
                second = node(depth - 1)
                made = _Binary(kind, first, second)
                if not _fits(made):
                    made = _Binary(kind, _squash(first), _squash(second))
            # Squashing bounds values but not slopes; if the node is still
            # too steep, keep its first operand (which fits) instead.
            return made if _fits(made) else first

        return Expression(node(max_depth), n_vars, smooth)

    return build()
