"""Derivative rules as functions, and what every sweep does with one record.

Layer 3 of tapegrad (``tapegrad/interpret``), below the sweeps.

The table keeps a built-in's rules as expression text; here they become
functions over (possibly traced) values, with the names they call bound to
:data:`tapegrad.core.functions.RULE_FUNCTIONS`. A custom primitive's rules
are already functions. The reference interpreter, the forward sweep and the
generated loops' fallback all take rules from :func:`rule_functions`.
"""

from __future__ import annotations

from typing import Any, Optional

from tapegrad.core.functions import RULE_FUNCTIONS
from tapegrad.core.primitive import ARG_NAMES, JVP_RULES, PRIMITIVES, RULES, VARIADIC, Rule, RuleSpec
from tapegrad.core.tape import Tape, primal_of
from tapegrad.core.traced import Traced

# Compiled expression rules, by the spec tuple they were compiled from (a
# defvjp never changes a built-in, but keying by the specs keeps this honest).
_COMPILED: dict[int, tuple[tuple[RuleSpec, ...], tuple[Optional[Rule], ...]]] = {}


def _compile(spec: RuleSpec, arity: int) -> Optional[Rule]:
    if not isinstance(spec, str):
        return spec
    if arity == VARIADIC:
        # A variadic rule reads the arguments as the tuple xs, and their count as n.
        body: Rule = eval(f"lambda g, ans, xs, n: {spec}", dict(RULE_FUNCTIONS))  # noqa: S307 - our own table
        return lambda g, ans, *xs: body(g, ans, xs, len(xs))
    params = ", ".join(("g", "ans") + ARG_NAMES[:arity])
    rule: Rule = eval(f"lambda {params}: {spec}", dict(RULE_FUNCTIONS))  # noqa: S307 - our own table
    return rule


def rule_functions(op: int) -> tuple[Optional[Rule], ...]:
    """The derivative rules of primitive ``op`` as functions (None for a zero derivative)."""
    specs = RULES[op]
    cached = _COMPILED.get(op)
    if cached is not None and cached[0] is specs:
        return cached[1]
    arity = PRIMITIVES[op].arity
    rules = tuple(_compile(s, arity) for s in specs)
    _COMPILED[op] = (specs, rules)
    return rules


def tangent_rule_functions(op: int) -> tuple[Optional[Rule], ...]:
    """The rules the forward sweep uses: those given by ``defjvp`` if any, else the derivative rules."""
    custom = JVP_RULES.get(op)
    return custom if custom is not None else rule_functions(op)


def per_argument(rules: tuple[Optional[Rule], ...], op: int, n: int) -> tuple[Optional[Rule], ...]:
    """One rule for each of a record's ``n`` arguments (a variadic primitive has one rule for all)."""
    return rules * n if PRIMITIVES[op].arity == VARIADIC else rules


def checked(c: Any, op: int, k: int) -> Any:
    """A rule's result, if it is a scalar; a rule of a custom primitive might return anything.

    A rule may also return None, for "nothing flows back along this
    argument" (``where`` does for the value it did not choose); callers skip it.
    """
    if c is None or c.__class__ is float or c.__class__ is Traced or (isinstance(c, (int, float)) and not isinstance(c, bool)):
        return c
    raise TypeError(
        f"the derivative rule for argument {k} of {PRIMITIVES[op].name} returned "
        f"{type(c).__name__} {c!r:.60}; a rule must return a scalar (g times the partial derivative)"
    )


class NotFlat(Exception):
    """A rule returned a traced value in the float-only loop, which only handles numbers."""


class AtRecord(Exception):
    """Carries the index of the record whose rule raised (the error is its cause)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def generic_record(tape: Tape, adj: list[Any], i: int, g: Any, flat: bool = False) -> None:
    """Propagate the adjoint ``g`` of record ``i`` through its rules (any primitive, any arity).

    The generated loops call this for the primitives they have no branch
    for: custom primitives, and any built-in with more than two arguments.
    """
    refs = tape.refs(i)
    args = [tape.value_of(r) for r in refs]
    op = tape._ops[i]
    rules = rule_functions(op)
    ans = tape._vals[i]
    if PRIMITIVES[op].arity == VARIADIC:
        # One rule for every argument, and (sum and mean being symmetric)
        # the same result for each: compute it once.
        rule = rules[0]
        if rule is None:
            return
        c = checked(rule(g, ans, *args), op, 0)
        if c is None:
            return
        if flat and c.__class__ is Traced:
            raise NotFlat
        for r in refs:
            if r >= 0:
                old = adj[r]
                adj[r] = c if old is None else old + c
        return
    for k, r in enumerate(refs):
        rule = rules[k]
        if r >= 0 and rule is not None:
            c = checked(rule(g, ans, *args), op, k)
            if c is None:
                continue
            if flat and c.__class__ is Traced:
                # A custom rule that reads a value traced by an outer tape
                # (through a closure, say): the sweep must record on that
                # tape, and a zero there is not just a zero.
                raise NotFlat
            old = adj[r]
            adj[r] = c if old is None else old + c


def in_record(exc: BaseException, tape: Tape, i: int, what: str) -> BaseException:
    """The same kind of error, saying which record's rule failed and where."""
    prim = PRIMITIVES[tape._ops[i]]
    args = ", ".join(repr(primal_of(tape.value_of(r))) for r in tape.refs(i))
    message = f"while computing the {what} of record v{i} = {prim.name}({args}): {exc}"
    try:
        return type(exc)(message)
    except TypeError:  # an exception type that does not take one message
        return ValueError(message)


# Inputs and the built-ins whose every derivative is zero send nothing back.
NO_ADJOINTS = frozenset(p.id for p in PRIMITIVES if p.builtin and all(s is None for s in RULES[p.id]))
