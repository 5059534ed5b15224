"""Derivative rules as functions, and what every sweep does with one record.

Layer 3 of tapegrad (``tapegrad/interpret``), below the sweeps.

The table keeps a built-in's rules as expression text; here they become
functions over (possibly traced) values, with the names they call bound to
:data:`tapegrad.core.functions.RULE_FUNCTIONS`. A custom primitive's rules
are already functions. The reference interpreter, the forward sweep and the
generated loops' fallback all take rules from :func:`rule_functions`.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from tapegrad.core.batch import Batch, BatchBranchError, BoolBatch, batch_size
from tapegrad.interpret.branches import run_branches
from tapegrad.core.gaps import GAPPED_CLASSES, absent_like, gathered, per_example, present_of, renumbered, restricted, scattered
from tapegrad.core.functions import RULE_FUNCTIONS
from tapegrad.core.rule_table import batch_mean_p, batch_sum_p, broadcast_p
from tapegrad.core.primitive import ARG_NAMES, PRIMITIVES, RULES, TANGENT_RULES, VARIADIC, MissingRuleError, Primitive, Rule, RuleSpec, register, rule_count, set_rules
from tapegrad.core.tape import Tape, primal_of
from tapegrad.core.traced import Traced, bind

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
    _SPECS[rule] = spec
    return rule


# The text each compiled rule came from: a rule that branches on traced batches is run from it.
_SPECS: dict[Rule, str] = {}


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


_TANGENTS_COMPILED: dict[int, tuple[tuple[RuleSpec, ...], tuple[Optional[Rule], ...]]] = {}


def tangent_functions(op: int) -> tuple[Optional[Rule], ...]:
    """The rules the forward sweep uses: the primitive's tangent rules (a row's, or ``defjvp``'s) if any, else its derivative rules."""
    specs = TANGENT_RULES.get(op)
    if specs is None:
        return rule_functions(op)
    cached = _TANGENTS_COMPILED.get(op)
    if cached is not None and cached[0] is specs:
        return cached[1]
    rules = tuple(_compile(s, rule_count(PRIMITIVES[op].arity)) for s in specs)
    _TANGENTS_COMPILED[op] = (specs, rules)
    return rules


def apply_rule(rule: Rule, g: Any, ans: Any, args: Sequence[Any], op: int, k: int) -> Any:
    """``rule(g, ans, *args)``; a rule that branches on batched values runs example by example.

    A rule with a condition (pow's, at a zero base) cannot take one branch
    for a whole batch; on plain batches each example is then computed on
    its own, with floats. On batches a jit tape traces, the rule becomes one
    record of its own, which the replay applies example by example. (Under
    any other outer transform that would need a record per example, so it
    raises, saying so.)

    A rule may send nothing to some examples (``where``'s to the value it did
    not choose): the result is then a gapped batch (:mod:`tapegrad.core.gaps`),
    and a rule whose ``g`` is gapped runs on the present examples only, as
    the loop over examples would run it.
    """
    if g.__class__ in MAYBE_GAPPED and op not in _WHOLE_BATCH and holds_gaps(g):
        return _on_present_examples(rule, g, ans, args, op, k)
    return _apply(rule, g, ans, args, op, k)


def _apply(rule: Rule, g: Any, ans: Any, args: Sequence[Any], op: int, k: int) -> Any:
    """``rule(g, ans, *args)``, one branch per example where a condition differs between examples."""
    try:
        return rule(g, ans, *args)
    except BatchBranchError:
        values = [g, ans, *args]
        traced = [v for v in values if v.__class__ is Traced]
        if traced and all(v._t.jit and v._v.__class__ is not Traced for v in traced):
            return bind(_rule_primitive(op, k, rule), values)
        spec = _SPECS.get(rule)
        if traced and spec is not None and not any(under_jit(v) for v in traced):
            # Recorded on the outer tape, branch by branch. (Under jit the examples' branches are
            # chosen anew by every replay, which these records could not do: that case is refused.)
            return run_branches(spec, len(args), values)
        if traced:
            if spec is None:
                raise BatchBranchError(
                    f"the derivative rule of custom primitive {PRIMITIVES[op].name!r} branches on its values, and met "
                    "batches that an outer transform traces (a second derivative of a vmapped function, say); write the "
                    "rule without a Python condition (with tapegrad.where), or compute this derivative outside vmap"
                ) from None
            raise BatchBranchError(
                "a derivative rule that branches on its values (where, maximum, clip, pow...) met batches that "
                "nested transforms under jit trace (a second derivative of a vmapped function inside jit): each "
                "replay would need its own choice of branch per example. Compute this derivative without jit, "
                "or jit the per-example function's derivative and vmap it outside the jit"
            ) from None
        return per_example(rule, values)  # (None if the rule sends nothing to any example)


def under_jit(x: Any) -> bool:
    """True if ``x`` or a value under it belongs to a jit tape."""
    while x.__class__ is Traced:
        if x._t.jit:
            return True
        x = x._v
    return False


def holds_gaps(x: Any) -> bool:
    """True if ``x``, under any levels of tracing, is a gapped batch (an adjoint present for some examples only)."""
    while x.__class__ is Traced:
        x = x._v
    return x.__class__ in GAPPED_CLASSES


# A broadcast's rule sums its adjoint over the examples, and a batch sum's tangent rule sums the
# tangents: a gap there adds nothing, as in the loop, so these run on the whole batch.
_WHOLE_BATCH = frozenset([broadcast_p.id, batch_sum_p.id, batch_mean_p.id])
# The classes a gapped adjoint can have: a gapped batch, or a traced value holding one.
MAYBE_GAPPED = frozenset([*GAPPED_CLASSES, Traced])


def _on_present_examples(rule: Rule, g: Any, ans: Any, args: Sequence[Any], op: int, k: int) -> Any:
    """``apply_rule`` for a gapped ``g``: the rule runs on the examples ``g`` is present for."""
    values = [g, ans, *args]
    traced = [v for v in values if v.__class__ is Traced]
    if traced and all(v._t.jit and v._v.__class__ is not Traced for v in traced):
        # A jit replay runs the rule example by example, skipping the absent ones.
        return bind(_rule_primitive(op, k, rule), values)
    if traced:
        # An outer tape traces the batches: the rule runs on all of them, and the gapped g
        # keeps each operation on its present examples (a branching rule restricts each branch).
        return _apply(rule, g, ans, args, op, k)
    n, kind = batch_size(values)
    where, compact = gathered(values, g)
    if not where:
        return None
    try:
        out = apply_rule(rule, compact[0], compact[1], compact[2:], op, k)
    except Exception as exc:
        raise renumbered(exc, where) from None
    return scattered(out, where, n, kind.backend)


def _present_as_impl(g: Any, like: Any) -> Any:
    """``g`` for the examples a gapped ``like`` is present for, absent for the others (it takes whole batches)."""
    if like.__class__ not in GAPPED_CLASSES:
        return g
    return restricted(g, present_of(like), like)


# present_as(g, v): the adjoint g, kept only for the examples that v (a record's gapped
# value) exists for. Linear in g, so its derivative is the same restriction; v only
# says which examples, so nothing flows back to it. Reading v itself (not a mask
# taken from it) lets a jit replay restrict to the examples of the batch it is given.
present_as_p = register("present_as", _present_as_impl, 2, reduces=True)
set_rules(present_as_p, (lambda g, ans, x, like: bind(present_as_p, (g, like)), None))


def adjoint_where_present(g: Any, ans: Any) -> Any:
    """The adjoint ``g`` of a record whose value ``ans`` is gapped, kept for the examples the record exists for.

    In the loop over examples a record computed from an adjoint that reached
    only some examples (a rule's result below a ``where``) exists for those
    examples alone, so no adjoint ever reaches it for the others; a sweep
    that differentiates it (the outer sweep of a second derivative) must not
    run its rules there either: they could divide by zero, or give nan, at
    an example the loop never differentiates. ``g`` may be present
    everywhere: a sum over the batch, or an ``add`` of such values,
    sends its adjoint to every example. (None, no adjoint, stays None.)
    """
    if g is None or not holds_gaps(ans):
        return g
    if g.__class__ is Traced or ans.__class__ is Traced:
        return bind(present_as_p, (g, ans))  # recorded on the outer tape (and follows a jit replay's examples)
    return _present_as_impl(g, ans)


_RULE_PRIMITIVES: dict[tuple[int, int], Primitive] = {}


def _rule_primitive(op: int, k: int, rule: Rule) -> Primitive:
    """Rule ``k`` of primitive ``op`` as a primitive of its own (never differentiated: it lives on jit tapes)."""
    found = _RULE_PRIMITIVES.get((op, k))
    if found is None:
        prim = PRIMITIVES[op]
        def impl(*values: Any) -> Any:
            # It takes whole batches (reduces=True): example by example, a None result
            # (nothing flows back to that example) leaves a gap, and so does a gap in g.
            if any(isinstance(v, (Batch, BoolBatch)) for v in values):
                found = per_example(rule, values)
                return found if found is not None else absent_like(values)
            out = rule(*values)
            return 0.0 if out is None else out

        found = _RULE_PRIMITIVES[(op, k)] = register(f"{prim.name}_rule{k}", impl, prim.arity + 2, reduces=True)
    return found


def per_argument(rules: tuple[Optional[Rule], ...], op: int, n: int) -> tuple[Optional[Rule], ...]:
    """One rule for each of a record's ``n`` arguments (a variadic primitive has one rule for all)."""
    return rules * n if PRIMITIVES[op].arity == VARIADIC else rules


def checked(c: Any, op: int, k: int) -> Any:
    """A rule's result, if it is a scalar; a rule of a custom primitive might return anything.

    A rule may also return None, for "nothing flows back along this
    argument" (``where`` does for the value it did not choose); callers skip it.
    """
    if c is None or c.__class__ is float or c.__class__ is Traced or (isinstance(c, (int, float, Batch)) and not isinstance(c, bool)):
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
    args = [tape._value(r) for r in refs]
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
            c = checked(apply_rule(rule, g, ans, args, op, k), op, k)
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
    args = ", ".join(repr(primal_of(tape._value(r))) for r in tape.refs(i))
    message = f"while computing the {what} of record v{i} = {prim.name}({args}): {exc}"
    if not prim.builtin and not isinstance(exc, MissingRuleError):
        # Say whose code raised: a KeyError from a user's rule is not tapegrad's.
        # (A missing rule is tapegrad's own message, which already names the primitive.)
        message = (
            f"while computing the {what} of record v{i} = {prim.name}({args}): the {what} rule of the custom primitive "
            f"{prim.name!r} (given with defvjp or defjvp) raised {type(exc).__name__}: {exc}"
        )
    if isinstance(exc, KeyError):
        return RuleKeyError(message)
    try:
        return type(exc)(message)
    except TypeError:  # an exception type that does not take one message
        return ValueError(message)


class RuleKeyError(KeyError):
    """A KeyError raised while a rule ran, with a message that prints as text (KeyError's own str quotes it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# Inputs and the built-ins whose every derivative is zero send nothing back.
NO_ADJOINTS = frozenset(p.id for p in PRIMITIVES if p.builtin and all(s is None for s in RULES[p.id]))
