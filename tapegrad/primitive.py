"""What a primitive is, and the registry that holds every primitive's rules.

A :class:`Primitive` is a named record: its float forward function and how
many scalar arguments it takes. Built-in primitives also keep their forward
rule as a Python expression over ``x`` and ``y`` (for example ``"x * y"``),
which jit pastes into the code it generates.

Derivative rules are kept apart, in :data:`RULES`, indexed by the
primitive's id, so that the sweeps find a record's rules with one list
lookup and so that :func:`tapegrad.defvjp` can give rules to a primitive
after it exists. A rule has the signature ``rule(g, ans, *args)``: ``g`` is
the incoming cotangent (or tangent), ``ans`` the primitive's output and
``args`` its inputs; it returns ``g`` times the partial derivative with
respect to its argument. That is linear in ``g``, so the same rule serves the
reverse sweep (``g`` is an adjoint) and the forward sweep (``g`` is a
tangent). ``None`` means the derivative is identically zero.

A rule may be given as an expression string such as ``"g * y"``: it is
compiled into a function once, and the reverse sweep also pastes it inline
(see :mod:`tapegrad.sweep`), which saves a Python call per record.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence, Union

import attrs

Rule = Callable[..., Any]
RuleSpec = Union[str, Rule, None]

# Names that forward expressions may use. They are float functions; the
# same dictionary is the global namespace of jit's generated code, so a
# replay computes exactly what the eager forward rule computes.
FLOAT_NAMESPACE: dict[str, Any] = {
    "_exp": math.exp,
    "_log": math.log,
    "_sqrt": math.sqrt,
    "_sin": math.sin,
    "_cos": math.cos,
    "_tanh": math.tanh,
    "_pow": math.pow,
}

# Names that rule expressions may use: tapegrad's own differentiable
# operations, filled in by primitives.py once they exist. Rules look names
# up when they run, so the table may refer to primitives defined after it.
RULE_NAMESPACE: dict[str, Any] = {}

ARG_NAMES = ("x", "y", "z", "w")


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
    # The forward rule as an expression over x, y (built-ins only).
    forward: Optional[str] = attrs.field(default=None, repr=False)
    # Said after the error when impl rejects its argument.
    domain: Optional[str] = attrs.field(default=None, repr=False)
    builtin: bool = attrs.field(default=False, repr=False)

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
# The rules as they were given (strings for expression rules), for the
# reverse sweep's generated loop and for printing.
RULE_SPECS: list[tuple[RuleSpec, ...]] = []


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
    impl: Union[Callable[..., float], str],
    arity: int,
    *,
    domain: Optional[str] = None,
    builtin: bool = False,
) -> Primitive:
    """Create a primitive, give it the next id, and add it to the table.

    ``impl`` is a float function, or (for built-ins) an expression over
    ``x`` and ``y``. Until :func:`set_rules` is called, differentiating the
    primitive raises :class:`MissingRuleError` naming it and the argument.
    """
    forward = impl if isinstance(impl, str) else None
    if isinstance(impl, str):
        params = ", ".join(ARG_NAMES[:arity])
        fn: Callable[..., float] = eval(f"lambda {params}: {impl}", FLOAT_NAMESPACE)  # noqa: S307 - our own table
    else:
        fn = impl
    prim = Primitive(name=name, impl=fn, arity=arity, id=len(PRIMITIVES), forward=forward, domain=domain, builtin=builtin)
    PRIMITIVES.append(prim)
    missing = tuple(_missing(prim, k) for k in range(arity))
    RULES.append(missing)
    RULE_SPECS.append(missing)
    return prim


def compile_rule(prim: Primitive, spec: RuleSpec) -> Optional[Rule]:
    """A rule function from a spec: an expression string, a callable, or None."""
    if spec is None or callable(spec):
        return spec
    if isinstance(spec, str):
        params = ", ".join(("g", "ans") + ARG_NAMES[: prim.arity])
        rule: Rule = eval(f"lambda {params}: {spec}", RULE_NAMESPACE)  # noqa: S307 - our own table
        return rule
    raise TypeError(f"a rule of {prim.name} must be callable or None, got {spec!r}")


def set_rules(prim: Primitive, rules: Sequence[RuleSpec]) -> None:
    """Install the derivative rules of ``prim``, one per argument.

    Fewer rules than arguments leaves the rest missing (an error if ever
    needed); ``None`` declares a derivative that is identically zero.
    """
    if len(rules) > prim.arity:
        raise TypeError(f"{prim.name} takes {prim.arity} argument(s) but {len(rules)} rules were given")
    compiled: list[Optional[Rule]] = [compile_rule(prim, r) for r in rules]
    padding: list[Rule] = [_missing(prim, k) for k in range(len(rules), prim.arity)]
    RULES[prim.id] = (*compiled, *padding)
    RULE_SPECS[prim.id] = (*rules, *padding)
