"""What a primitive is, and the registry that holds every primitive's rules.

Layer 1 of tapegrad (``tapegrad/core``); it imports nothing else of tapegrad.

A :class:`Primitive` is one row of the rule table: a name, a float forward
function, how many scalar arguments it takes, and, for built-ins, the same
forward rule as a Python expression over ``x`` and ``y`` (which the jit
pastes into the code it writes) and the text of each partial derivative for
the textbook tables. The built-in rows are in :mod:`tapegrad.core.rule_table`.

Derivative rules are kept in :data:`RULES`, indexed by the primitive's id,
so that :func:`tapegrad.defvjp` can give rules to a primitive after it
exists. A rule has the signature ``rule(g, ans, *args)``: ``g`` is the
incoming cotangent (or tangent), ``ans`` the primitive's output and ``args``
its inputs; it returns ``g`` times the partial derivative with respect to
its argument. That is linear in ``g``, so the same rule serves the reverse
sweep (``g`` is an adjoint) and the forward sweep (``g`` is a tangent).
``None`` means the derivative is identically zero.

A built-in's rule is an expression string such as ``"g * cos(x)"``. The
names it calls are primitives; which function a name means is up to each
interpreter (traced operations in the general sweep, float functions in the
float-only one), so this module keeps the text and compiles nothing. A
custom primitive's rule is a Python callable.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import attrs

Rule = Callable[..., Any]
RuleSpec = Union[str, Rule, None]

ARG_NAMES = ("x", "y", "z", "w")

VARIADIC = -1
"""The arity of a primitive that takes any number (at least one) of arguments.

Its forward rule is an expression over ``xs``, the tuple of arguments, and
it has a single derivative rule that serves every argument alike: the
variadic built-ins (``sum``, ``mean``) are symmetric, so all their partial
derivatives are equal, and the sweeps compute the rule once per record
instead of once per argument. Its rules read ``g``, ``ans``, ``xs`` and
``n``, the number of arguments.
"""


@attrs.frozen(eq=False)
class Primitive:
    """A primitive operation: one row of the rule table.

    Only its forward rule lives here; the derivative rules are in
    :data:`RULES` under :attr:`id`. Apply a primitive with
    :func:`tapegrad.core.traced.bind` (or the public functions such as
    ``tg.exp``), which records it when an argument is traced.
    """

    name: str
    impl: Callable[..., float] = attrs.field(repr=False)
    arity: int  # VARIADIC (-1) for any number of arguments
    id: int = attrs.field(repr=False)
    # The forward rule as an expression over x, y (built-ins only).
    forward: Optional[str] = attrs.field(default=None, repr=False)
    # Said after the error when impl rejects its argument.
    domain: Optional[str] = attrs.field(default=None, repr=False)
    builtin: bool = attrs.field(default=False, repr=False)
    # How the textbook tables write each partial derivative: {x}, {y} are
    # the arguments and {ans} the record's own variable (built-ins only).
    partials: tuple[str, ...] = attrs.field(default=(), repr=False)
    # False if the forward rule is defined for every float (never raises).
    # The jit keeps every record that can raise, even one whose value no
    # output needs, so that a replay raises where eager evaluation does.
    can_raise: bool = attrs.field(default=True, repr=False)
    # True if the forward rule takes whole batches as they are (the sums over a
    # batch, its size, spread); every other primitive applies example by example.
    reduces: bool = attrs.field(default=False, repr=False)
    # The functions the forward expression calls, by name (built-ins only):
    # back ends that rewrite the expression evaluate it with these.
    namespace: Optional[Mapping[str, Any]] = attrs.field(default=None, repr=False)

    def evaluate(self, args: Sequence[Any]) -> float:
        """Run the float forward rule (on floats, or on a whole batch for a sum over it), naming the primitive if it fails."""
        try:
            return self.impl(*args)
        except (ValueError, ArithmeticError) as exc:
            shown = ", ".join(repr(a) for a in args)
            if isinstance(exc, OverflowError):
                hint = " (the result is too large for a float)"
            else:
                hint = f" ({self.domain})" if self.domain else ""
            raise type(exc)(f"{self.name}({shown}): {exc}{hint}") from None


PRIMITIVES: list[Primitive] = []
# The built-in primitives by name (``mod``, ``floor``, ``asin``): how operators
# on batches and NumPy's ufuncs find the row they mean.
BUILTIN_NAMED: dict[str, Primitive] = {}
# The rules as they were given, one tuple per primitive: strings for the
# built-ins, callables (or None) for custom primitives.
RULES: list[tuple[RuleSpec, ...]] = []
# Forward-mode rules that differ from the reverse ones, by primitive id. A
# rule is linear in g, so normally one rule serves both modes; a primitive
# that is not its own transpose (broadcasting, whose transpose is a sum)
# gives its forward rules here, and tapegrad.defjvp puts a custom
# primitive's forward rules here too.
TANGENT_RULES: dict[int, tuple[RuleSpec, ...]] = {}


class MissingRuleError(NotImplementedError):
    """A primitive was differentiated with respect to an argument it has no rule for."""


def missing_rule(prim: Primitive, argnum: int) -> Rule:
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


def _lambda(params: Sequence[str], expression: str, namespace: Mapping[str, Any]) -> Callable[..., Any]:
    fn: Callable[..., Any] = eval(f"lambda {', '.join(params)}: {expression}", dict(namespace))  # noqa: S307 - our own table
    return fn


def float_function(expression: str, arity: int, namespace: Mapping[str, Any]) -> Callable[..., float]:
    """The float function of a forward expression over ``x``, ``y``.

    An expression that only calls one function on the arguments in order
    (``exp(x)``, ``pow(x, y)``) is that function itself, which saves a Python
    call on every eager operation; any other becomes a lambda.

    A variadic forward expression reads ``xs``, the tuple of all arguments.
    """
    if arity == VARIADIC:
        return _lambda(("*xs",), expression, namespace)
    params = ARG_NAMES[:arity]
    tree = ast.parse(expression, mode="eval").body
    if (
        isinstance(tree, ast.Call)
        and isinstance(tree.func, ast.Name)
        and not tree.keywords
        and [a.id for a in tree.args if isinstance(a, ast.Name)] == list(params)
        and len(tree.args) == arity
        and callable(namespace.get(tree.func.id))
    ):
        fn: Callable[..., float] = namespace[tree.func.id]
        return fn
    return _lambda(params, expression, namespace)


def register(
    name: str,
    impl: Callable[..., float],
    arity: int,
    *,
    forward: Optional[str] = None,
    domain: Optional[str] = None,
    builtin: bool = False,
    partials: tuple[str, ...] = (),
    can_raise: bool = True,
    reduces: bool = False,
    namespace: Optional[Mapping[str, Any]] = None,
) -> Primitive:
    """Create a primitive, give it the next id, and add it to the table.

    Until :func:`set_rules` is called, differentiating the primitive raises
    :class:`MissingRuleError` naming it and the argument.
    """
    prim = Primitive(
        name=name, impl=impl, arity=arity, id=len(PRIMITIVES), forward=forward, domain=domain, builtin=builtin, partials=partials, can_raise=can_raise, reduces=reduces, namespace=namespace
    )
    PRIMITIVES.append(prim)
    RULES.append(tuple(missing_rule(prim, k) for k in range(rule_count(arity))))
    if builtin:
        BUILTIN_NAMED[name] = prim
    return prim


def rule_count(arity: int) -> int:
    """How many derivative rules a primitive of this arity has: one per argument, or one if variadic."""
    return 1 if arity == VARIADIC else arity


def set_rules(prim: Primitive, rules: Sequence[RuleSpec]) -> None:
    """Install the derivative rules of ``prim``, one per argument.

    The number of rules must equal the primitive's arity (``None`` declares
    a derivative that is identically zero), so that a forgotten rule is an
    error now rather than when that derivative is first needed.
    """
    if prim.arity == VARIADIC:
        if len(rules) != 1:
            raise TypeError(f"{prim.name} takes any number of arguments, so it needs exactly one rule (for all of them)")
    elif len(rules) != prim.arity:
        raise TypeError(
            f"{prim.name} takes {prim.arity} argument(s), so it needs {prim.arity} rule(s), one per argument "
            f"(None for an argument whose derivative is zero); {len(rules)} were given"
        )
    for k, rule in enumerate(rules):
        if rule is not None and not callable(rule) and not (prim.builtin and isinstance(rule, str)):
            raise TypeError(f"rule {k} of {prim.name} must be callable or None, got {rule!r:.60}")
    RULES[prim.id] = tuple(rules)


def set_jvp_rules(prim: Primitive, rules: Sequence[Optional[Rule]]) -> None:
    """Install forward-mode rules for ``prim``, one per argument (``rule(t, ans, *args)``, or None)."""
    if len(rules) != rule_count(prim.arity):
        raise TypeError(
            f"{prim.name} takes {prim.arity} argument(s), so it needs {prim.arity} forward rule(s), one per "
            f"argument (None for an argument whose derivative is zero); {len(rules)} were given"
        )
    for k, rule in enumerate(rules):
        if rule is not None and not callable(rule):
            raise TypeError(f"forward rule {k} of {prim.name} must be callable or None, got {rule!r:.60}")
    TANGENT_RULES[prim.id] = tuple(rules)
