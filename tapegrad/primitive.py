"""What a primitive is, and the registry that holds every primitive's rules.

A :class:`Primitive` is a named record: its float forward function, how many
scalar arguments it takes, and (for jit) a Python expression that computes
it. Its derivative rules are kept apart, in :data:`RULES`, indexed by the
primitive's id, so that the reverse and forward sweeps find a record's rules
with one list lookup, and so that :func:`tapegrad.defvjp` can give rules to a
primitive after it exists.

A rule has the signature ``rule(g, ans, *args)``: ``g`` is the incoming
cotangent (or tangent), ``ans`` the primitive's output and ``args`` its
inputs. It returns ``g`` times the partial derivative with respect to its
argument. Because that is linear in ``g``, the same rule serves the reverse
sweep (``g`` is an adjoint) and the forward sweep (``g`` is a tangent). A
``None`` rule means "the derivative is identically zero".
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import attrs

Rule = Callable[..., Any]


@attrs.frozen(eq=False)
class Primitive:
    """A primitive operation: one float function plus its derivative rules.

    Calling a primitive on floats returns a float; calling it on traced
    scalars records it on their tape and returns a traced scalar.
    """

    name: str
    impl: Callable[..., float] = attrs.field(repr=False)
    arity: int
    id: int = attrs.field(repr=False)
    # A ``str.format`` template over the argument expressions that computes
    # the same float as ``impl``, e.g. ``"({0} * {1})"``; None means jit
    # calls ``impl`` itself.
    source: Optional[str] = attrs.field(default=None, repr=False)
    # Said after "math domain error" when impl rejects its argument.
    domain: Optional[str] = attrs.field(default=None, repr=False)

    def __call__(self, *args: Any) -> Any:
        if len(args) != self.arity:
            raise TypeError(f"{self.name} takes {self.arity} argument(s), got {len(args)}")
        for a in args:
            if a.__class__ is not float:
                return _BIND[0](self, args)
        return self.evaluate(args)

    def evaluate(self, args: Sequence[float]) -> float:
        """Run the float forward rule, naming the primitive if it fails."""
        try:
            return self.impl(*args)
        except (ValueError, ArithmeticError) as exc:
            shown = ", ".join(repr(a) for a in args)
            hint = f" ({self.domain})" if self.domain else ""
            raise type(exc)(f"{self.name}({shown}): {exc}{hint}") from None


# traced.py puts its ``bind`` here when it is imported; a direct import would
# be circular, and an import inside ``__call__`` would cost on every call.
_BIND: list[Callable[[Primitive, Sequence[Any]], Any]] = []

PRIMITIVES: list[Primitive] = []
RULES: list[tuple[Optional[Rule], ...]] = []


class MissingRuleError(NotImplementedError):
    """A primitive was differentiated with respect to an argument it has no rule for."""


def _missing(prim: Primitive, argnum: int) -> Rule:
    """A stand-in rule that explains which rule is missing when it is needed.

    Putting it in the table (instead of leaving a hole) keeps the sweeps free
    of a length check on their hot path.
    """

    def rule(g: Any, ans: Any, *args: Any) -> Any:
        raise MissingRuleError(
            f"primitive {prim.name!r} has no derivative rule for argument {argnum}; "
            f"give one with tapegrad.defvjp({prim.name}, ...), one rule per argument "
            f"(pass None for an argument whose derivative is zero)"
        )

    return rule


def register(
    name: str,
    impl: Callable[..., float],
    arity: int,
    *,
    source: Optional[str] = None,
    domain: Optional[str] = None,
) -> Primitive:
    """Create a primitive, give it the next id, and add it to the table.

    Until :func:`set_rules` is called, differentiating it raises
    :class:`MissingRuleError` naming the primitive and the argument.
    """
    prim = Primitive(name=name, impl=impl, arity=arity, id=len(PRIMITIVES), source=source, domain=domain)
    PRIMITIVES.append(prim)
    RULES.append(tuple(_missing(prim, k) for k in range(arity)))
    return prim


def set_rules(prim: Primitive, rules: Sequence[Optional[Rule]]) -> None:
    """Install the derivative rules of ``prim``, one per argument.

    Fewer rules than arguments leaves the rest missing (an error if ever
    needed); ``None`` declares a derivative that is identically zero.
    """
    if len(rules) > prim.arity:
        raise TypeError(f"{prim.name} takes {prim.arity} argument(s) but {len(rules)} rules were given")
    for k, rule in enumerate(rules):
        if rule is not None and not callable(rule):
            raise TypeError(f"rule {k} of {prim.name} must be callable or None, got {rule!r}")
    padded = list(rules) + [_missing(prim, k) for k in range(len(rules), prim.arity)]
    RULES[prim.id] = tuple(padded)


def safe_float_pow(x: float, y: float) -> float:
    """``x ** y`` that raises like ``math.pow`` instead of returning a complex number."""
    return math.pow(x, y)
