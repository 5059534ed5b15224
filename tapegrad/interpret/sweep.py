"""The two interpreters over a tape: the reverse sweep and the forward sweep.

Layer 3 of tapegrad (``tapegrad/interpret``).

Both are single loops over the records with a list as their environment;
neither sorts nor recurses, so a tape of any length is fine. They apply each
record's rules from the rule table with tapegrad's own operations, so when
the values on the tape are themselves traced (nested differentiation),
whatever the sweep computes is recorded on the outer tape.

The file starts with :func:`reference_reverse_sweep`, the reverse sweep as a
reader would write it. The sweep that runs is the same algorithm generated
from the table into ``reverse_loops.py`` (rules pasted inline, and a
float-only variant for flat tapes); the reference is its test oracle, and
setting the environment variable ``TAPEGRAD_SWEEP=reference`` makes every
reverse sweep use it, for debugging.

Zero adjoints and tangents are ``None`` rather than ``0.0``. That lets the
sweeps skip whole records, and it matters for nesting: a traced adjoint that
happens to equal 0 can still have a non-zero derivative, so only a true
structural zero may be skipped. On a flat tape, which no outer tape traces,
an adjoint of exactly 0.0 is also skipped: there it is only a number.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Sequence

from tapegrad.core.batch import Batch, BoolBatch, batch_of
from tapegrad.core.gaps import present_of, restricted
from tapegrad.core.functions import RULE_FUNCTIONS
from tapegrad.core.primitive import PRIMITIVES, VARIADIC
from tapegrad.core.rule_table import input_p, where_p
from tapegrad.core.tape import Tape, primal_of, value_of
from tapegrad.core.traced import Traced, bind
from tapegrad.interpret.branches import restrict_p
from tapegrad.interpret.reverse_loops import flat_reverse_loop, general_reverse_loop
from tapegrad.interpret.rules import AtRecord, NotFlat, adjoint_where_present, apply_rule, checked, in_record, per_argument, rule_functions, tangent_functions, under_jit


SweepTerm = tuple[int, int, int, Any, Any]
"""One term of the reverse sweep: record ``i``, its argument ``k`` (record ``r``), the
cotangent ``d`` it sends, and ``r``'s adjoint after adding it."""


def reference_reverse_sweep(tape: Tape, seeds: Iterable[tuple[int, Any]], log: Optional[list[SweepTerm]] = None) -> list[Any]:
    """The reverse sweep, written plainly: the oracle for the generated loops.

    Returns each record's adjoint (None where no cotangent reaches it); a ``log``
    list gets one :data:`SweepTerm` per term added, in order (the explorer's steps).
    """
    adj: list[Any] = [None] * len(tape)
    for ref, ct in seeds:  # the cotangents of the outputs (constants, ref < 0, have none)
        if ref >= 0:
            adj[ref] = ct if adj[ref] is None else adj[ref] + ct
    for i in range(len(tape) - 1, -1, -1):  # last record first: every use of v_i is already swept
        g = adjoint_where_present(adj[i], tape._vals[i])  # (a record of some examples only keeps those)
        if g is None:  # no cotangent reached this record
            continue
        refs = tape.refs(i)  # the records (>= 0) and constants (< 0) it read
        args = [tape._value(r) for r in refs]
        rules = per_argument(rule_functions(tape._ops[i]), tape._ops[i], len(refs))  # one rule per argument
        for k, r in enumerate(refs):
            rule = rules[k]
            if r < 0 or rule is None:  # a constant, or a derivative that is identically 0
                continue
            try:
                d = checked(apply_rule(rule, g, tape._vals[i], args, tape._ops[i], k), tape._ops[i], k)  # g * d v_i / d arg_k
            except Exception as exc:
                raise in_record(exc, tape, i, "derivative") from exc
            if d is not None:  # None: nothing flows along this argument
                adj[r] = d if adj[r] is None else adj[r] + d  # accumulate: v_r may have several uses
                if log is not None:
                    log.append((i, k, r, d, adj[r]))
    return adj


def reverse_sweep(tape: Tape, seeds: Iterable[tuple[int, Any]], *, skip_zeros: bool = True, inputs_only: bool = False) -> list[Any]:
    """Adjoints of every record, given cotangents for some of them.

    ``seeds`` pairs record indices with their cotangents (seeding the same
    index twice adds). Returns a list indexed like the records: the adjoint
    of each, or None where no cotangent reaches it.

    On a flat tape (:attr:`Tape.flat`) with plain-number seeds, a record whose adjoint is exactly 0.0
    sends nothing back either, so the records that only it reaches stay None
    too; in a ReLU network that skips about half the sweep. Gradients are the
    same, except that a zero adjoint is never multiplied by an infinite or
    undefined partial derivative (which would give nan, or raise). Pass
    ``skip_zeros=False`` to propagate every zero, as the Wengert tables do
    so that each adjoint's full sum can be read.

    With ``inputs_only=True`` the caller wants only the adjoints of the
    input records (grad, vjp and jacobian do): the others may be dropped as
    soon as their record is swept. On a vmapped tape that frees each
    batched adjoint's memory at once instead of at the end, which makes the
    sweep about 15% faster at 2,000 examples; the inputs' adjoints are the same.
    """
    seeds = list(seeds)
    if os.environ.get("TAPEGRAD_SWEEP") == "reference":
        return reference_reverse_sweep(tape, seeds)
    # The float-only loop needs plain numbers in the seeds too: a cotangent
    # traced by an outer tape (vjp_fn called under grad) must be swept with
    # tapegrad's operations, and there a zero is not just a zero.
    if skip_zeros and tape._flat and all(isinstance(ct, (int, float)) for _, ct in seeds):
        try:
            return _sweep(tape, seeds, flat=True, release=False)
        except NotFlat:
            pass  # a custom rule brought in a traced value: start again, in general
    return _sweep(tape, seeds, flat=False, release=inputs_only)


def _sweep(tape: Tape, seeds: list[tuple[int, Any]], flat: bool, release: bool) -> list[Any]:
    n = len(tape._ops)
    # A flat sweep also gives each constant a (discarded) slot; see generate.py.
    adj: list[Any] = [None] * (n + len(tape._consts) if flat else n)
    last = -1
    for ref, ct in seeds:
        if ref < 0:  # a constant output: nothing to propagate
            continue
        old = adj[ref]
        adj[ref] = ct if old is None else old + ct
        last = max(last, ref)
    try:
        if flat:
            flat_reverse_loop(tape, adj, last)
        else:
            general_reverse_loop(tape, adj, last, release)
    except AtRecord as failed:
        cause = failed.__cause__
        if cause is None:  # pragma: no cover - AtRecord is only raised "from" the error
            raise
        raise in_record(cause, tape, failed.index, "derivative") from cause
    del adj[n:]
    return adj


def needed_by(tape: Tape, outputs: Iterable[int]) -> tuple[bytearray, dict[int, list[bool]]]:
    """Which records the given outputs depend on (one backward pass over the refs).

    A ``where`` record depends only on the value it chose: the tangent of
    the other is never used, and computing it could fail (the derivative of
    ``sqrt`` at 0 in ``where(x > 0, sqrt(x), 0.0)``). Under vmap the choice
    is made example by example, so a record may be needed for some examples
    only: the second result maps such a record to the examples (True) that
    need it; a needed record not in it is needed by every example.
    """
    needed = bytearray(len(tape._ops))
    some: dict[int, list[bool]] = {}
    for o in outputs:
        if o >= 0:
            needed[o] = 1
    ops = tape._ops
    where_id, restrict_id = where_p.id, restrict_p.id
    for i in range(len(needed) - 1, -1, -1):
        if needed[i]:
            refs = tape.refs(i)
            mine = some.get(i)
            if under_jit(tape._vals[i]):
                # A jit records this sweep: the examples each record is needed for may differ
                # from one replay to the next, so every record is needed whole. (Under any other
                # outer tape the values are fixed, and read beneath the tracing.)
                for r in refs:
                    _need(needed, some, r, None)
                continue
            under: Any = value_of(tape._vals[i])
            if isinstance(under, Batch) and under.gapped:
                # A value computed on some examples only (a branch of a rule): its inputs are needed by those alone.
                present = present_of(under)
                mine = present if mine is None else [a and b for a, b in zip(mine, present)]
            if ops[i] == restrict_id:
                # A branch of a derivative rule (tapegrad.interpret.branches): only its examples read the value.
                mask: Any = value_of(tape._value(refs[1]))
                keep = [m != 0.0 for m in mask.values()]
                _need(needed, some, refs[0], [a and b for a, b in zip(mine or keep, keep)])
                continue
            if ops[i] == where_id:
                cond: Any = value_of(tape._value(refs[0]))
                if isinstance(cond, BoolBatch):
                    cond = cond.mask
                if isinstance(cond, Batch):
                    chosen = [c != 0.0 for c in cond.values()]
                    upto = mine or [True] * len(chosen)
                    _need(needed, some, refs[1], [m and c for m, c in zip(upto, chosen)])
                    _need(needed, some, refs[2], [m and not c for m, c in zip(upto, chosen)])
                    continue
                refs = (refs[1] if cond else refs[2],)
            for r in refs:
                _need(needed, some, r, mine)
    return needed, some


def _need(needed: bytearray, some: dict[int, list[bool]], r: int, mask: Optional[list[bool]]) -> None:
    """Mark record ``r`` needed by the examples of ``mask`` (None: by all of them)."""
    if r < 0 or (mask is not None and not any(mask)):
        return
    if mask is None:
        needed[r] = 1
        some.pop(r, None)
    elif not needed[r]:
        needed[r] = 1
        some[r] = mask
    elif r in some:
        some[r] = [a or b for a, b in zip(some[r], mask)]


def forward_sweep(tape: Tape, tangents: dict[int, Any], outputs: Optional[Iterable[int]] = None) -> list[Any]:
    """Tangents of every record, given tangents for some input records.

    Each record's tangent is the sum over its arguments of
    ``rule(tangent_of_argument, ans, *args)``: the same per-argument rules as
    the reverse sweep, read as directional derivatives, unless
    :func:`tapegrad.defjvp` gave the primitive forward rules of its own.
    A variadic record (sum, mean) adds its arguments' tangents with the
    same primitive and applies its single rule once. Given ``outputs``,
    only the records they depend on are swept (a record the outputs never
    read must not be able to fail, as its rule might at a singular point).
    """
    ops = tape._ops
    vals = tape._vals
    tan: list[Any] = [None] * len(ops)
    for ref, t in tangents.items():
        # A plain 0.0 tangent is a structural zero: nothing flows from it.
        if not (t.__class__ is float and t == 0.0):
            tan[ref] = t
    needed, some = (None, {}) if outputs is None else needed_by(tape, outputs)
    input_id = input_p.id
    variadic = VARIADIC_IDS
    i = 0
    try:
        for i, op in enumerate(ops):
            if op == input_id or (needed is not None and not needed[i]):
                continue
            refs = tape.refs(i)
            out: Optional[Any] = None
            args: Optional[list[Any]] = None
            op_rules = tangent_functions(op)
            saved = _restrict(tan, refs, some[i], vals[i]) if i in some else ()  # some examples only (where, under vmap)
            if op in variadic:
                tans = [tan[r] for r in refs if r >= 0 and tan[r] is not None]
                rule = op_rules[0]
                if tans and rule is not None:
                    total = tans[0] if len(tans) == 1 else variadic_sum(*tans)
                    out = checked(rule(total, vals[i], *[tape._value(q) for q in refs]), op, 0)
            else:
                for k, r in enumerate(refs):
                    if r < 0:
                        continue
                    t = tan[r]
                    rule = op_rules[k]
                    if t is None or rule is None:
                        continue
                    if args is None:
                        args = [tape._value(q) for q in refs]
                    c = checked(apply_rule(rule, t, vals[i], args, op, k), op, k)
                    if c is not None:
                        out = c if out is None else out + c
            for r, t in saved:
                tan[r] = t
            tan[i] = out
    except Exception as exc:
        raise in_record(exc, tape, i, "tangent") from exc
    return tan


def _restrict(tan: list[Any], refs: Sequence[int], mask: list[bool], like: Any) -> list[tuple[int, Any]]:
    """Restrict the tangents a record reads to the examples of ``mask``; return what to put back after it.

    Only that record may see the restriction: another record reading the
    same tangents for other examples must get them whole.
    """
    saved = []
    for r in refs:
        if r >= 0 and tan[r] is not None:
            saved.append((r, tan[r]))
            t = tan[r]
            under: Any = value_of(like)
            if t.__class__ is Traced and isinstance(under, Batch):  # recorded on the outer tape; its derivative is the same restriction
                tan[r] = bind(restrict_p, (t, batch_of([1.0 if m else 0.0 for m in mask], under.backend)))
            else:
                tan[r] = restricted(t, mask, like)
    return saved


# The built-in variadic primitives. (Custom primitives have a fixed arity.)
VARIADIC_IDS = frozenset(p.id for p in PRIMITIVES if p.arity == VARIADIC)
# Adds tangents (floats, or values traced by an outer tape) as one sum record.
variadic_sum = RULE_FUNCTIONS["sum"]
