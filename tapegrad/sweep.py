"""The two interpreters over a tape: the reverse sweep and the forward sweep.

Both are single loops over the records with a list as their environment;
neither sorts nor recurses, so a tape of any length is fine. They find each
record's rules in :data:`tapegrad.primitive.RULES` and apply them with
tapegrad's own operations, so when the values on the tape are themselves
traced (nested differentiation), whatever the sweep computes is recorded on
the outer tape.

Zero adjoints and tangents are ``None`` rather than ``0.0``. That lets the
sweeps skip whole records, and it matters for nesting: a traced adjoint that
happens to equal 0 can still have a non-zero derivative, so only a true
structural zero may be skipped.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from tapegrad.primitive import PRIMITIVES, RULES
from tapegrad.tape import Tape, primal_of


def reverse_sweep(tape: Tape, seeds: Iterable[tuple[int, Any]]) -> list[Any]:
    """Adjoints of every record, given cotangents for some of them.

    ``seeds`` pairs record indices with their cotangents (seeding the same
    index twice adds). Returns a list indexed like the records: the adjoint
    of each, or None where no cotangent reaches it.
    """
    records = tape._records
    vals = tape._vals
    consts = tape._consts
    adj: list[Any] = [None] * len(records)
    last = -1
    for ref, ct in seeds:
        if ref < 0:  # a constant output: nothing to propagate
            continue
        old = adj[ref]
        adj[ref] = ct if old is None else old + ct
        last = max(last, ref)
    rules_of = RULES
    i = last
    try:
        while i >= 0:
            g = adj[i]
            if g is not None:
                rec = records[i]
                n = len(rec)
                if n == 3:
                    _, a, b = rec
                    x = vals[a] if a >= 0 else consts[~a]
                    y = vals[b] if b >= 0 else consts[~b]
                    rules = rules_of[rec[0]]
                    if a >= 0:
                        rule = rules[0]
                        if rule is not None:
                            c = rule(g, vals[i], x, y)
                            old = adj[a]
                            adj[a] = c if old is None else old + c
                    if b >= 0:
                        rule = rules[1]
                        if rule is not None:
                            c = rule(g, vals[i], x, y)
                            old = adj[b]
                            adj[b] = c if old is None else old + c
                elif n == 2:
                    a = rec[1]
                    if a >= 0:
                        rule = rules_of[rec[0]][0]
                        if rule is not None:
                            c = rule(g, vals[i], vals[a])
                            old = adj[a]
                            adj[a] = c if old is None else old + c
                elif n > 3:
                    refs = rec[1:]
                    args = [vals[r] if r >= 0 else consts[~r] for r in refs]
                    rules = rules_of[rec[0]]
                    for k, r in enumerate(refs):
                        if r >= 0 and rules[k] is not None:
                            c = rules[k](g, vals[i], *args)
                            old = adj[r]
                            adj[r] = c if old is None else old + c
            i -= 1
    except (ValueError, ArithmeticError) as exc:
        raise _in_record(exc, tape, i, "derivative") from exc
    return adj


def forward_sweep(tape: Tape, tangents: dict[int, Any]) -> list[Any]:
    """Tangents of every record, given tangents for some input records.

    Each record's tangent is the sum over its arguments of
    ``rule(tangent_of_argument, ans, *args)``: the same per-argument rules as
    the reverse sweep, read as directional derivatives.
    """
    records = tape._records
    vals = tape._vals
    consts = tape._consts
    tan: list[Any] = [None] * len(records)
    for ref, t in tangents.items():
        tan[ref] = t
    rules_of = RULES
    i = 0
    try:
        for i, rec in enumerate(records):
            if len(rec) == 1:  # an input: its tangent was given (or is zero)
                continue
            refs = rec[1:]
            out: Optional[Any] = None
            args: Optional[list[Any]] = None
            rules = rules_of[rec[0]]
            for k, r in enumerate(refs):
                if r < 0:
                    continue
                t = tan[r]
                if t is None or rules[k] is None:
                    continue
                if args is None:
                    args = [vals[q] if q >= 0 else consts[~q] for q in refs]
                c = rules[k](t, vals[i], *args)
                out = c if out is None else out + c
            tan[i] = out
    except (ValueError, ArithmeticError) as exc:
        raise _in_record(exc, tape, i, "tangent") from exc
    return tan


def _in_record(exc: BaseException, tape: Tape, i: int, what: str) -> BaseException:
    """The same kind of error, saying which record's rule failed and where."""
    rec = tape._records[i]
    prim = PRIMITIVES[rec[0]]
    args = ", ".join(repr(primal_of(tape.value_of(r))) for r in rec[1:])
    message = f"while computing the {what} of record v{i} = {prim.name}({args}): {exc}"
    try:
        return type(exc)(message)
    except TypeError:  # an exception type that does not take one message
        return ValueError(message)
