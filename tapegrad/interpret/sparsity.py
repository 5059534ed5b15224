"""Sparsity patterns from a tape: which outputs depend on which inputs, and which inputs interact.

Layer 3 of tapegrad (``tapegrad/interpret``). It reads a closed tape's
structure (primitive ids and argument references) and the rule table, never
its numbers: the one exception is the constant condition of a ``where``
record, which says which of its two values was chosen.

Index sets are Python ints used as bit sets (bit ``p`` is input ``p``):
a union is one ``|`` done in C, and a tape's sets are plain ints, which the
garbage collector never scans.

- The Jacobian pattern propagates each record's dependency set forward:
  a record depends on the union of its arguments' sets, leaving out any
  argument whose derivative rule is ``None`` (identically zero).
- The Hessian pattern is Walther's forward propagation of nonlinear
  interactions: besides the dependency sets, each record that the output
  needs and whose second partial derivative in arguments ``k`` and ``j`` is not
  identically zero adds ``dep(arg_k) x dep(arg_j)`` to the pattern. Linear
  records (``add``, ``sum``, ``abs``, ``relu``...) add nothing.

Which second partials can be nonzero is read off each rule's text (see
:func:`interaction`), so the classification follows the table as it
changes. A custom primitive's rules are Python functions, which cannot be
read: every pair of its arguments is taken to interact.

A pattern is that of the branch the traced run took: Python control flow
on traced values (``if x > 0``) records only the branch taken, and a
``where`` contributes only the value it chose.
"""

from __future__ import annotations

import ast
import functools
from typing import Sequence

import attrs

from tapegrad.core.primitive import ARG_NAMES, BUILTIN_NAMED, PRIMITIVES, RULES, TANGENT_RULES, VARIADIC, RuleSpec
from tapegrad.core.rule_table import input_p, where_p
from tapegrad.core.tape import Tape, primal_of

# Names a rule may call whose result does not depend differentiably on
# their arguments (besides the flat primitives found in the table below):
# ``constant(y)`` asks whether y is traced, ``undefined`` raises.
_NOT_DIFFERENTIABLE_CALLS = frozenset({"constant", "undefined"})


@attrs.frozen
class Interaction:
    """What the rule table says about one primitive's derivatives.

    ``flows[k]`` is False when the derivative with respect to argument ``k``
    is identically zero (its rule is ``None``). ``pairs`` lists the
    ``(k, j)``, ``k <= j``, whose second partial derivative may be nonzero. A variadic
    primitive has one entry in ``flows`` for all its arguments, and
    ``variadic_nonlinear`` says whether its rule reads the arguments at all.
    """

    flows: tuple[bool, ...]
    pairs: tuple[tuple[int, int], ...]
    variadic_nonlinear: bool = False


def _flat_primitive(name: str) -> bool:
    """True for a built-in whose every derivative rule is None (step, sign, floor, comparisons)."""
    prim = BUILTIN_NAMED.get(name)
    return prim is not None and all(spec is None for spec in RULES[prim.id])


@functools.lru_cache(maxsize=None)
def rule_reads(rule: str) -> frozenset[str]:
    """The argument names (``x``, ``y``, ``z``, ``ans``, ``xs``) a rule's value depends on differentiably.

    A name read only in a condition (the test of ``a if c else b``, a
    comparison) or inside a call to a flat primitive (``sign(x)``,
    ``floor(x / y)``) does not count: the rule is piecewise constant in it.
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.IfExp):
            visit(node.body)
            visit(node.orelse)
        elif isinstance(node, (ast.Compare, ast.BoolOp)):
            return
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in _NOT_DIFFERENTIABLE_CALLS or _flat_primitive(node.func.id):
                return
            for arg in node.args:
                visit(arg)
        else:
            for child in ast.iter_child_nodes(node):
                visit(child)

    visit(ast.parse(rule, mode="eval").body)
    return frozenset(found & {*ARG_NAMES, "ans", "xs"})


def _spec_is_zero(op: int, k: int) -> bool:
    """True if both the reverse and (if any) the forward rule of argument ``k`` are None."""
    tangents = TANGENT_RULES.get(op)
    return RULES[op][k] is None and (tangents is None or tangents[k] is None)


def interaction(op: int) -> Interaction:
    """How primitive ``op``'s arguments flow to its output and interact, from its rules."""
    specs: tuple[RuleSpec, ...] = RULES[op]
    arity = PRIMITIVES[op].arity
    flows = tuple(not _spec_is_zero(op, k) for k in range(len(specs)))
    if arity == VARIADIC:
        spec = specs[0]
        nonlinear = not isinstance(spec, str) or bool(rule_reads(spec) & {"xs", "ans"})
        return Interaction(flows, (), spec is not None and nonlinear)
    pairs: set[tuple[int, int]] = set()
    for k, spec in enumerate(specs):
        if not flows[k]:
            continue
        if isinstance(spec, str):
            reads = rule_reads(spec)
            partners = set(range(arity)) if "ans" in reads else set()
            partners |= {j for j, name in enumerate(ARG_NAMES[:arity]) if name in reads}
        else:
            partners = set(range(arity))  # a Python function: it may read anything
        # The pattern is symmetric, so (k, j) and (j, k) are one pair.
        pairs.update((min(k, j), max(k, j)) for j in partners if flows[j])
    return Interaction(flows, tuple(sorted(pairs)))


def members(bits: int) -> list[int]:
    """The positions of the set bits of ``bits``, lowest first."""
    out: list[int] = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out


class _Structure:
    """A tape's records as the pattern sees them: each one's flowing arguments, read once.

    The table is consulted once per primitive, and each record's references
    once, however many passes use them.
    """

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.by_op: dict[int, Interaction] = {}
        ops = tape._ops
        self.refs: list[tuple[int, ...]] = [() if op == _INPUT_ID else tape.refs(i) for i, op in enumerate(ops)]
        self.flowing: list[list[int]] = [self._flowing(i, op, refs) for i, (op, refs) in enumerate(zip(ops, self.refs))]

    def of(self, op: int) -> Interaction:
        found = self.by_op.get(op)
        if found is None:
            found = self.by_op[op] = interaction(op)
        return found

    def _flowing(self, i: int, op: int, refs: Sequence[int]) -> list[int]:
        """The references of record ``i`` that its derivative flows to (records only, not constants)."""
        if op == _INPUT_ID:
            return []
        if op == _WHERE_ID:
            # Only the chosen value: the condition is a constant 1.0 or 0.0.
            chosen = refs[1] if primal_of(self.tape._value(refs[0])) else refs[2]
            return [chosen] if chosen >= 0 else []
        flows = self.of(op).flows
        if PRIMITIVES[op].arity == VARIADIC:
            return [r for r in refs if r >= 0] if flows[0] else []
        return [r for r, f in zip(refs, flows) if f and r >= 0]

    def pairs(self, i: int) -> list[tuple[int, int]]:
        """Pairs of references of record ``i`` whose second partial derivative may be nonzero."""
        op = self.tape._ops[i]
        if op == _WHERE_ID or op == _INPUT_ID:
            return []
        info = self.of(op)
        refs = self.refs[i]
        if PRIMITIVES[op].arity == VARIADIC:
            if not info.variadic_nonlinear:
                return []
            args = [r for r in refs if r >= 0]
            return [(a, b) for n, a in enumerate(args) for b in args[n:]]
        return [(refs[k], refs[j]) for k, j in info.pairs if refs[k] >= 0 and refs[j] >= 0]


def dependencies(structure: _Structure, inputs: Sequence[int]) -> list[int]:
    """Every record's dependency set: bit ``p`` set if it depends on ``inputs[p]``."""
    dep = [0] * len(structure.flowing)
    for p, i in enumerate(inputs):
        dep[i] |= 1 << p
    for i, flowing in enumerate(structure.flowing):
        if flowing:
            d = 0
            for r in flowing:
                d |= dep[r]
            dep[i] = d
    return dep


def jacobian_rows(tape: Tape, inputs: Sequence[int], outputs: Sequence[int]) -> list[int]:
    """For each output reference (-1 or below: a constant), the set of inputs it depends on."""
    dep = dependencies(_Structure(tape), inputs)
    return [dep[r] if r >= 0 else 0 for r in outputs]


def _needed(structure: _Structure, output: int) -> bytearray:
    """Which records the output's derivative reaches (along arguments whose derivative can be nonzero)."""
    needed = bytearray(len(structure.flowing))
    if output >= 0:
        needed[output] = 1
    flowing = structure.flowing
    for i in range(len(needed) - 1, -1, -1):
        if needed[i]:
            for r in flowing[i]:
                needed[r] = 1
    return needed


def hessian_rows(tape: Tape, inputs: Sequence[int], output: int) -> list[int]:
    """The Hessian pattern of a scalar output, one bit set per input: row ``p`` holds the inputs that interact with ``p``."""
    structure = _Structure(tape)
    dep = dependencies(structure, inputs)
    needed = _needed(structure, output)
    rows = [0] * len(inputs)
    for i in range(len(needed)):
        if not needed[i]:
            continue
        for a, b in structure.pairs(i):
            da, db = dep[a], dep[b]
            if not (da and db):
                continue
            # The pattern is symmetric: d2/dp dq and d2/dq dp are the same entry.
            for p in members(da):
                rows[p] |= db
            for q in members(db):
                rows[q] |= da
    return rows


_INPUT_ID = input_p.id
_WHERE_ID = where_p.id
