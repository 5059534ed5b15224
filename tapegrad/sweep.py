"""The two interpreters over a tape: the reverse sweep and the forward sweep.

Both are single loops over the records with a list as their environment;
neither sorts nor recurses, so a tape of any length is fine. They apply each
record's rules from the primitive table with tapegrad's own operations, so
when the values on the tape are themselves traced (nested differentiation),
whatever the sweep computes is recorded on the outer tape. A *flat* tape,
which no outer tape traces, is swept by a variant of the reverse loop that
calls the primitives' float functions instead (see ``reverse_sweep``). The reverse
loop is written out from the table when tapegrad is imported, with the
expression rules pasted into one branch per built-in primitive
(``REVERSE_LOOP_SOURCE`` shows it); other primitives look their rules up in
:data:`tapegrad.primitive.RULES`.

Zero adjoints and tangents are ``None`` rather than ``0.0``. That lets the
sweeps skip whole records, and it matters for nesting: a traced adjoint that
happens to equal 0 can still have a non-zero derivative, so only a true
structural zero may be skipped. On a flat tape, which no outer tape traces,
an adjoint of exactly 0.0 is also skipped: there it is only a number.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Optional

import tapegrad.primitives  # noqa: F401  (the table must be complete before the loop is generated)
from tapegrad.primitive import ARG_NAMES, PRIMITIVES, RULE_NAMESPACE, RULE_SPECS, RULES, Primitive
from tapegrad.tape import INPUT_ID, Tape, primal_of
from tapegrad.traced import Traced


def _needed_by(tape: Tape, outputs: Iterable[int]) -> bytearray:
    """Which records the given outputs depend on (one backward pass over the refs)."""
    needed = bytearray(len(tape._ops))
    for o in outputs:
        if o >= 0:
            needed[o] = 1
    for i in range(len(needed) - 1, -1, -1):
        if needed[i]:
            for r in tape.refs(i):
                if r >= 0:
                    needed[r] = 1
    return needed


def _checked(c: Any, op: int, k: int) -> Any:
    """A rule's result, if it is a scalar; a rule of a custom primitive might return anything."""
    if c.__class__ is float or c.__class__ is Traced or (isinstance(c, (int, float)) and not isinstance(c, bool)):
        return c
    raise TypeError(
        f"the derivative rule for argument {k} of {PRIMITIVES[op].name} returned "
        f"{type(c).__name__} {c!r:.60}; a rule must return a scalar (g times the partial derivative)"
    )


class _NotFlat(Exception):
    """A rule returned a traced value in the flat loop, which only handles numbers."""


def _generic_record(tape: Tape, adj: list[Any], i: int, g: Any, flat: bool = False) -> None:
    """Propagate the adjoint ``g`` of record ``i`` through its rules (any arity)."""
    refs = tape.refs(i)
    args = [tape.value_of(r) for r in refs]
    op = tape._ops[i]
    rules = RULES[op]
    ans = tape._vals[i]
    for k, r in enumerate(refs):
        rule = rules[k]
        if r >= 0 and rule is not None:
            c = _checked(rule(g, ans, *args), op, k)
            if flat and c.__class__ is Traced:
                # A custom rule that reads a value traced by an outer tape
                # (through a closure, say): the sweep must record on that
                # tape, and a zero there is not just a zero.
                raise _NotFlat
            old = adj[r]
            adj[r] = c if old is None else old + c


def _reverse_loop_source(flat: bool = False) -> str:
    """Python source of the reverse sweep's loop, one branch per built-in primitive.

    Expression rules from the table are pasted into their branch, so a
    record of ``mul`` costs two multiplications and no function call (that
    halves the sweep's time). Primitives whose rules are functions (custom
    primitives, or rules with branches such as pow's) go to
    :func:`_generic_record`. Print ``REVERSE_LOOP_SOURCE`` to read the result.

    With ``flat=True`` the loop is for tapes whose values are all plain
    numbers (see :attr:`Tape.flat`). Its value list has the constants
    appended in reverse, so a constant's negative reference indexes it
    directly, and ``adj`` has a spare slot at the same negative index: a
    binary record then needs no "is this a constant?" test, and what a rule
    sends to a constant lands in a slot that is thrown away. Rules call the
    float functions of the primitives they name instead of binding them.
    """
    lines = [
        "def reverse_loop(tape, adj, start):",
        "    ops, lhs, rhs = tape._ops, tape._lhs, tape._rhs",
        "    vals = tape._vals + tape._consts[::-1]" if flat else "    vals, consts = tape._vals, tape._consts",
        "    i = start",
        "    try:",
        "        for i in range(start, -1, -1):",
        "            g = adj[i]",
        # On a flat tape an adjoint of exactly 0.0 (below a ReLU that is off,
        # say: half the records of a typical network) can send nothing but
        # zeros back, so it is skipped like None; ``not g`` tests both. On a
        # traced adjoint that test would itself be an operation (see the
        # module docstring), so the general loop skips only None.
        "            if not g:" if flat else "            if g is None:",
        "                continue",
        "            p = ops[i]",
    ]
    keyword = "if"
    for prim in _by_frequency(PRIMITIVES):
        specs = RULE_SPECS[prim.id]
        if prim.arity == 0 or prim.arity > 2 or not all(s is None or isinstance(s, str) for s in specs):
            continue
        if all(s is None for s in specs):
            continue  # nothing flows back: the record needs no branch
        lines.append(f"            {keyword} p == {prim.id}:  # {prim.name}")
        keyword = "elif"
        refs = ("a", "b")[: prim.arity]
        lines.append("                a = lhs[i]")
        if prim.arity == 2:
            lines.append("                b = rhs[i]")
        # A unary record never reads a constant; a binary one may, unless
        # the flat layout makes constants ordinary negative indices.
        guarded = prim.arity > 1 and not flat
        used = " ".join(s for s in specs if isinstance(s, str))
        for ref, name in zip(refs, ARG_NAMES):
            if re.search(rf"\b{name}\b", used):
                if guarded:
                    lines.append(f"                {name} = vals[{ref}] if {ref} >= 0 else consts[~{ref}]")
                else:
                    lines.append(f"                {name} = vals[{ref}]")
        if re.search(r"\bans\b", used):
            lines.append("                ans = vals[i]")
        for ref, spec in zip(refs, specs):
            if spec is None:
                continue
            indent = "                "
            if guarded:
                lines.append(f"{indent}if {ref} >= 0:")
                indent += "    "
            lines.append(f"{indent}d = {spec}")
            lines.append(f"{indent}old = adj[{ref}]")
            lines.append(f"{indent}adj[{ref}] = d if old is None else old + d")
    lines.append("            elif p not in _NO_ADJOINTS:")
    lines.append(f"                _generic_record(tape, adj, i, g{', True' if flat else ''})")
    lines.append("    except (ValueError, ArithmeticError) as exc:")
    lines.append("        raise _AtRecord(i) from exc")
    return "\n".join(lines) + "\n"


# Networks are mostly sums of products with a ReLU per neuron: testing for
# these first saves a dozen comparisons per record in the loop.
_COMMON = ("add", "mul", "relu")


def _by_frequency(prims: list[Primitive]) -> list[Primitive]:
    return sorted(prims, key=lambda p: _COMMON.index(p.name) if p.name in _COMMON else len(_COMMON))


class _AtRecord(Exception):
    """Carries the index of the record whose rule raised (the error is its cause)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


REVERSE_LOOP_SOURCE = _reverse_loop_source()
FLAT_REVERSE_LOOP_SOURCE = _reverse_loop_source(flat=True)
# Inputs and the zero-derivative built-ins send nothing back.
_NO_ADJOINTS = frozenset(p.id for p in PRIMITIVES if p.builtin and all(s is None for s in RULE_SPECS[p.id]))


def _compile_loop(source: str, namespace: dict[str, Any], filename: str) -> Callable[..., None]:
    env = dict(namespace, _generic_record=_generic_record, _AtRecord=_AtRecord, _NO_ADJOINTS=_NO_ADJOINTS)
    exec(compile(source, filename, "exec"), env)  # noqa: S102 - generated from our own table
    loop: Callable[..., None] = env["reverse_loop"]
    return loop


# On a flat tape every rule argument is a number, so a primitive named in a
# rule (``step`` in relu's) can be its float function: one call instead of
# binding it.
_FLOAT_RULE_NAMESPACE = dict(RULE_NAMESPACE, **{p.name: p.impl for p in PRIMITIVES if p.builtin and p.name in RULE_NAMESPACE})
_reverse_loop = _compile_loop(REVERSE_LOOP_SOURCE, RULE_NAMESPACE, "<tapegrad reverse sweep>")
_flat_reverse_loop = _compile_loop(FLAT_REVERSE_LOOP_SOURCE, _FLOAT_RULE_NAMESPACE, "<tapegrad flat reverse sweep>")


def reverse_sweep(tape: Tape, seeds: Iterable[tuple[int, Any]], *, skip_zeros: bool = True) -> list[Any]:
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
    """
    seeds = list(seeds)
    # The float-only loop needs plain numbers in the seeds too: a cotangent
    # traced by an outer tape (vjp_fn called under grad) must be swept with
    # tapegrad's operations, and there a zero is not just a zero.
    if skip_zeros and tape._flat and all(isinstance(ct, (int, float)) for _, ct in seeds):
        try:
            return _sweep(tape, seeds, flat=True)
        except _NotFlat:
            pass  # a custom rule brought in a traced value: start again, in general
    return _sweep(tape, seeds, flat=False)


def _sweep(tape: Tape, seeds: list[tuple[int, Any]], flat: bool) -> list[Any]:
    n = len(tape._ops)
    # A flat sweep also gives each constant a (discarded) slot; see _reverse_loop_source.
    adj: list[Any] = [None] * (n + len(tape._consts) if flat else n)
    last = -1
    for ref, ct in seeds:
        if ref < 0:  # a constant output: nothing to propagate
            continue
        old = adj[ref]
        adj[ref] = ct if old is None else old + ct
        last = max(last, ref)
    try:
        (_flat_reverse_loop if flat else _reverse_loop)(tape, adj, last)
    except _AtRecord as failed:
        cause = failed.__cause__
        assert cause is not None  # _AtRecord is only raised "from" the error
        raise _in_record(cause, tape, failed.index, "derivative") from cause
    del adj[n:]
    return adj


def forward_sweep(tape: Tape, tangents: dict[int, Any], outputs: Optional[Iterable[int]] = None) -> list[Any]:
    """Tangents of every record, given tangents for some input records.

    Each record's tangent is the sum over its arguments of
    ``rule(tangent_of_argument, ans, *args)``: the same per-argument rules as
    the reverse sweep, read as directional derivatives. Given ``outputs``,
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
    needed = None if outputs is None else _needed_by(tape, outputs)
    rules = RULES
    i = 0
    try:
        for i, op in enumerate(ops):
            if op == INPUT_ID or (needed is not None and not needed[i]):
                continue
            refs = tape.refs(i)
            out: Optional[Any] = None
            args: Optional[list[Any]] = None
            op_rules = rules[op]
            for k, r in enumerate(refs):
                if r < 0:
                    continue
                t = tan[r]
                rule = op_rules[k]
                if t is None or rule is None:
                    continue
                if args is None:
                    args = [tape.value_of(q) for q in refs]
                c = _checked(rule(t, vals[i], *args), op, k)
                out = c if out is None else out + c
            tan[i] = out
    except (ValueError, ArithmeticError) as exc:
        raise _in_record(exc, tape, i, "tangent") from exc
    return tan


def _in_record(exc: BaseException, tape: Tape, i: int, what: str) -> BaseException:
    """The same kind of error, saying which record's rule failed and where."""
    prim = PRIMITIVES[tape._ops[i]]
    args = ", ".join(repr(primal_of(tape.value_of(r))) for r in tape.refs(i))
    message = f"while computing the {what} of record v{i} = {prim.name}({args}): {exc}"
    try:
        return type(exc)(message)
    except TypeError:  # an exception type that does not take one message
        return ValueError(message)
