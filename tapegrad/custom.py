"""User-defined primitives: wrap a float function and give it derivative rules.

``primitive(fn)`` turns a function of floats into a new primitive that joins
the same table as the built-in ones; ``defvjp(prim, *rules)`` gives it one
rule per argument, each ``rule(g, ans, *args)`` returning ``g`` times the
partial derivative. Write the rules with tapegrad operations and the new
primitive works under grad of grad, in forward mode and under jit.
"""

from __future__ import annotations

import inspect
from typing import Callable, Optional

from tapegrad.primitive import Primitive, Rule, register, set_rules


def primitive(fn: Callable[..., float]) -> Primitive:
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

    return register(name, impl, len(params))


def defvjp(prim: Primitive, *rules: Optional[Rule]) -> Primitive:
    """Give ``prim`` its derivative rules, one per argument, in order.

    Each rule is called as ``rule(g, ans, *args)`` and returns ``g`` times the
    partial derivative of the primitive with respect to that argument. Pass
    ``None`` for an argument with a zero derivative. Returns ``prim``.
    """
    if not isinstance(prim, Primitive):
        raise TypeError(f"defvjp: expected a primitive made with tapegrad.primitive, got {type(prim).__name__}")
    if prim.builtin:
        # The reverse sweep has the built-in rules pasted into its loop;
        # replacing them here would change forward mode but not reverse mode.
        raise ValueError(f"defvjp: {prim.name} is a built-in primitive; wrap your own function with tapegrad.primitive instead")
    set_rules(prim, rules)
    return prim

