"""User-defined primitives: wrap a float function and give it derivative rules.

Layer 4 of tapegrad (``tapegrad/transforms``).

``primitive(fn)`` turns a function of floats into a new primitive that joins
the same registry as the built-in ones, and returns a :class:`PrimitiveFunction`
that records it when called on traced scalars. ``defvjp(f, *rules)`` gives
it one rule per argument, each ``rule(g, ans, *args)`` returning ``g`` times
the partial derivative. Write the rules with tapegrad operations and the new
primitive works under grad of grad, in forward mode and under jit. Forward
mode uses the same rules (they are linear in ``g``) unless ``defjvp(f,
*rules)`` gives it rules of its own, each ``rule(t, ans, *args)`` returning
the tangent contribution of that argument.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Optional

from tapegrad.core.primitive import Primitive, Rule, register, set_jvp_rules, set_rules
from tapegrad.core.traced import bind


class PrimitiveFunction:
    """A float function made a primitive: call it on floats, or on traced scalars to record it.

    It keeps the wrapped function's ``__name__`` and ``__doc__``;
    :attr:`primitive` is its row in the registry.
    """

    primitive: Primitive
    # Set by functools.update_wrapper; declared so that typed code can read them.
    __name__: str
    __qualname__: str
    __wrapped__: Callable[..., float]

    def __init__(self, fn: Callable[..., float], prim: Primitive) -> None:
        functools.update_wrapper(self, fn)
        self.primitive = prim

    def __call__(self, *args: Any) -> Any:
        prim = self.primitive
        if len(args) != prim.arity:
            raise TypeError(f"{prim.name} takes {prim.arity} argument(s), got {len(args)}")
        return bind(prim, args)

    def __repr__(self) -> str:
        return f"<tapegrad primitive {self.primitive.name} ({self.primitive.arity} argument(s))>"


def primitive(fn: Callable[..., float]) -> PrimitiveFunction:
    """Make ``fn`` (positional float arguments, float result) a new primitive.

    Use it as a decorator. Until :func:`defvjp` gives it rules,
    differentiating it raises an error naming the primitive and argument.
    """
    name = getattr(fn, "__name__", "custom")
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError) as exc:
        raise TypeError(f"primitive({name}): cannot read the function's signature") from exc
    if any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is not p.empty for p in params):
        raise TypeError(
            f"primitive({name}): the function must take a fixed number of positional arguments "
            "without defaults (bind constants with functools.partial or a closure first)"
        )

    def impl(*args: float) -> float:
        out = fn(*args)
        if isinstance(out, bool) or not isinstance(out, (int, float)):
            raise TypeError(f"primitive {name} must return a float, but returned {type(out).__name__} {out!r:.60}")
        return float(out)

    return PrimitiveFunction(fn, register(name, impl, len(params)))


def defvjp(f: PrimitiveFunction, *rules: Optional[Rule]) -> PrimitiveFunction:
    """Give ``f`` its derivative rules, one per argument, in order.

    Each rule is called as ``rule(g, ans, *args)`` and returns ``g`` times the
    partial derivative of the primitive with respect to that argument. Pass
    ``None`` for an argument with a zero derivative. The number of rules must
    equal the number of arguments. Returns ``f``.
    """
    if not isinstance(f, PrimitiveFunction):
        raise TypeError(f"defvjp: expected a primitive made with tapegrad.primitive, got {type(f).__name__}")
    set_rules(f.primitive, rules)
    return f


def defjvp(f: PrimitiveFunction, *rules: Optional[Rule]) -> PrimitiveFunction:
    """Give ``f`` its own forward-mode rules, one per argument, in order.

    Each rule is called as ``rule(t, ans, *args)``, with ``t`` the tangent of
    that argument, and returns its contribution to the tangent of the
    output: ``t`` times the partial derivative. Pass ``None`` for an
    argument with a zero derivative. :func:`tapegrad.jvp` (and everything
    built on the forward sweep, such as :func:`tapegrad.hessian`'s
    forward-over-reverse) then uses these instead of the :func:`defvjp`
    rules; reverse mode keeps using the latter. Write the rules with
    tapegrad operations so that they can themselves be differentiated.
    Returns ``f``.
    """
    if not isinstance(f, PrimitiveFunction):
        raise TypeError(f"defjvp: expected a primitive made with tapegrad.primitive, got {type(f).__name__}")
    set_jvp_rules(f.primitive, rules)
    return f
