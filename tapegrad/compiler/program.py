"""A recorded tape as a straight-line program over registers: what jit compiles.

Layer 3 of tapegrad (``tapegrad/compiler``).

:func:`build_program` keeps the records that an output or a guard needs
(and those whose forward rule can raise: the replay's domain checks), in
tape order, pastes each value read once into its reader, and assigns every
stored value to one of a small set of
*registers* (a register is reused once the value in it has been read for the
last time). Reusing registers matters for speed: a function with 200,000
distinct local variables runs several times slower than the same code on a
few hundred, because its frame no longer fits in the CPU caches.

Which primitives may be pasted is read from their lowering
(:mod:`tapegrad.compiler.lowering`), the same reading of the rule the back
ends write code from.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence, Union

import attrs

from tapegrad.compiler.lowering import lowering
from tapegrad.core.batch import ArrayBatch, BoolBatch, ListBatch
from tapegrad.core.gaps import GAPPED_CLASSES
from tapegrad.core.primitive import PRIMITIVES
from tapegrad.core.tape import Tape


class Const(NamedTuple):
    """A constant output of a traced function (one that did not depend on the inputs)."""

    value: Any


# An operand is a register number (>= 0) or ``~k`` for the program's
# constant ``consts[k]``: the same convention the tape uses for its refs.
Operand = int
# ``(dest, prim_id, args)`` means ``r{dest} = PRIMITIVES[prim_id](*args)``.
# Plain tuples, not objects: a program has one per record.
Op = tuple[int, int, tuple[int, ...]]


# What a back end produces: a function from the flat input values to the flat outputs.
Replay = Callable[[list[float]], list[Any]]


class GuardFailed(Exception):
    """Raised by generated code when a recorded comparison comes out differently."""


@attrs.frozen
class Check:
    """Stop with :class:`GuardFailed` unless ``a <op> b`` is ``outcome``.

    ``number`` is the guard's position in the tape's guards, which the
    raised GuardFailed carries, so the jit can say which comparison failed.
    """

    op: str
    a: Operand
    b: Operand
    outcome: bool
    number: int = 0


@attrs.frozen
class Program:
    """A straight-line program over registers, ready for a back end.

    Operands at or above ``inline_base`` are *pasted* values: the operation
    whose ``dest`` is ``inline_base + k`` is not stored anywhere; its
    expression is written in place of the operand, inside the one operation
    that reads it (``r9 = r4 + r7 * r8``). Every pasted value is read by
    exactly one later operation, and no register it reads is overwritten in
    between, so evaluating it there gives the same float as evaluating it at
    its own place. A back end meets a pasted operation before its reader.
    """

    inputs: tuple[int, ...]  # the register of each input, in order
    body: tuple[Union[Op, Check], ...]
    outputs: tuple[Operand, ...]
    consts: tuple[Any, ...]
    registers: int
    uses: tuple[int, ...]  # how many instructions read or write each register
    inline_base: int  # operands >= this are pasted values (always > every register)
    statements: int  # what the source back end writes a line for: the body minus the pasted operations
    # For each body position: 1 if it is an operation whose value was a whole
    # batch when traced (under vmap); back ends then apply it to batches.
    batched: bytes = b""

    def local_numbers(self) -> list[int]:
        """A local-variable number for each register, the most used first.

        CPython encodes a local's number in one byte; a larger number costs
        an extra EXTENDED_ARG instruction on every access. Numbering by use
        keeps the hot registers (gradient accumulators, temporaries) below
        256. Local 0 is the argument ``x``.
        """
        order = sorted(range(self.registers), key=self.uses.__getitem__, reverse=True)
        number = [0] * self.registers
        for rank, r in enumerate(order):
            number[r] = rank + 1
        return number


# The classes of a batched value (see tapegrad.core.batch).
_BATCH_CLASSES = (ListBatch, ArrayBatch, BoolBatch, *GAPPED_CLASSES)

# How deeply pasted expressions may nest. Each level is a pair of
# parentheses for the source back end (CPython's tokenizer allows 200 and its
# compiler recurses per level) and up to a stack slot for the bytecode one.
# Past it, a value is stored as usual, which costs a statement and no more.
MAX_NESTING = 24


def _pastable_kinds() -> tuple[list[bool], list[bool]]:
    """Per primitive: may its value be pasted into its reader, and may it read a pasted operand?

    Pasted: operators, float-function calls, copies and selects, whose code
    depends on nothing but their operands. A primitive without such a rule
    (a custom one, computed by its own Python function) stays a statement
    at its own place in the tape's order. A select (``0.0 if x <= 0.0 else
    x``) reads its operand twice, so its operand is never a pasted expression
    (that would compute it twice).
    """
    lowered = [lowering(p) for p in PRIMITIVES]
    pastable = [p.arity > 0 and low.kind in ("binary", "call", "copy", "select") for p, low in zip(PRIMITIVES, lowered)]
    accepts = [low.kind != "select" for low in lowered]
    return pastable, accepts


def build_program(tape: Tape, outputs: Sequence[Union[int, Const]], paste: bool = True) -> Program:
    """The program computing ``outputs`` (record indices or constants) from the tape's inputs.

    Dead records are dropped, except those whose forward rule can raise (they
    are the replay's domain checks); guards are kept and placed right after the
    later of their two operands, so a replay that takes another branch
    stops as early as possible. With ``paste``, a value read by exactly one
    later operation (and by no guard or output) is pasted into it rather than
    stored (see :class:`Program`), which divides the number of statements
    several-fold.

    The work is three passes over the records: the reads of the outputs and
    the checks (:func:`_read_outputs`, :func:`_read_checks`), a backward pass
    that decides what is pasted and where each value is read last
    (:func:`_paste_and_read_operands`), and a forward pass that allocates
    registers and emits the body (:func:`_allocate_and_emit`).
    """
    pastable, accepts = _pastable_kinds()
    if not paste:
        pastable = [False] * len(pastable)
    guards_at = _guards_by_record(tape)
    consts = list(tape._consts)
    live = _Liveness.of(len(tape._ops))
    out_refs = _read_outputs(live, outputs, consts)
    _read_checks(live, tape, guards_at)
    _paste_and_read_operands(live, tape, pastable, accepts)
    emitted = _allocate_and_emit(tape, live, guards_at)
    register = emitted.register
    out = tuple(register[r] if r >= 0 else r for r in out_refs)
    registers = max(emitted.count, 1)
    return Program(
        tuple(emitted.inputs),
        tuple(emitted.body),
        out,
        tuple(consts),
        registers,
        tuple(emitted.uses[:registers]),
        emitted.inline_base,
        len(emitted.body) - emitted.pasted,
        bytes(emitted.batched),
    )


# A guard as build_program keeps it: (comparison, a, b, outcome, its number in the tape's guards).
_Guard = tuple[str, int, int, bool, int]


def _guards_by_record(tape: Tape) -> dict[int, list[_Guard]]:
    """The tape's guards, grouped by the record after which both their operands exist."""
    guards_at: dict[int, list[_Guard]] = {}
    for number, (op_name, a, b, outcome) in enumerate(tape._guards):
        guards_at.setdefault(max(a, b, 0), []).append((op_name, a, b, outcome, number))
    return guards_at


@attrs.define
class _Liveness:
    """What the liveness passes find out about each record, by record index.

    Positions count statements: ``2*i`` is the statement at record ``i`` and
    ``2*i+1`` the guards checked after it; outputs are read at the very end.
    A pasted record is evaluated inside the statement of its reader, so its
    operands are read at that statement's position (``at[i]``).
    """

    needed: bytearray  # does an output, a guard or a domain check need the record?
    last_use: list[int]  # the position of the value's last read (-1: none yet)
    # How often each value is read; outputs and guards count twice, so that
    # "read exactly once" means "read once, by one operation".
    reads: list[int]
    reader: list[int]  # the (last) operation that reads each value
    at: list[int]  # where each needed record is evaluated
    level: list[int]  # how deeply a pasted record sits inside its statement
    inline: bytearray  # 1 if the record is pasted into its reader

    @classmethod
    def of(cls, n: int) -> _Liveness:
        """Nothing read yet, for a tape of ``n`` records."""
        return cls(bytearray(n), [-1] * n, [0] * n, [0] * n, list(range(0, 2 * n, 2)), [0] * n, bytearray(n))


def _read_outputs(live: _Liveness, outputs: Sequence[Union[int, Const]], consts: list[Any]) -> list[int]:
    """Mark the outputs as read at the end; a constant output joins ``consts``. Returns their refs."""
    end = 2 * len(live.needed) + 2
    out_refs: list[int] = []
    for o in outputs:
        if isinstance(o, Const):
            consts.append(o.value)
            out_refs.append(~(len(consts) - 1))
        else:
            live.needed[o] = 1
            live.last_use[o] = end
            live.reads[o] += 2
            out_refs.append(o)
    return out_refs


def _read_checks(live: _Liveness, tape: Tape, guards_at: dict[int, list[_Guard]]) -> None:
    """Keep the records a domain check or a guard needs, and mark the guards' reads.

    A record whose forward rule can raise (log of a negative number, a
    division by zero) is kept even when no output reads it: eager
    evaluation would raise there, so a replay must too. Otherwise
    jit(grad(log)) would return -1.0 at x = -1.0, where grad(log) raises.
    (Pasted into its reader, it still raises, a little later: any exception
    makes jit ask eager evaluation, which raises the error at its place.)
    """
    ops, needed, reads, last_use = tape._ops, live.needed, live.reads, live.last_use
    checks_domain = [p.can_raise and p.arity != 0 for p in PRIMITIVES]
    for i in range(len(ops)):
        if checks_domain[ops[i]]:
            needed[i] = 1
    for g_at, gs in guards_at.items():
        for _, a, b, _, _ in gs:
            for r in (a, b):
                if r >= 0:
                    needed[r] = 1
                    reads[r] += 2
                    last_use[r] = max(last_use[r], 2 * g_at + 1)


def _paste_and_read_operands(live: _Liveness, tape: Tape, pastable: list[bool], accepts: list[bool]) -> None:
    """The backward pass: which records are pasted, and where each value is read for the last time.

    When record ``i`` is reached, every reader of ``i`` (all later) has been
    seen, so whether ``i`` is pasted, and where it is evaluated, is known.
    Its operands are then marked needed and read at ``i``'s position.
    """
    ops, lhs, rhs, wide = tape._ops, tape._lhs, tape._rhs, tape._wide
    needed, last_use, reads, reader = live.needed, live.last_use, live.reads, live.reader
    at, level, inline = live.at, live.level, live.inline
    arity = [p.arity for p in PRIMITIVES]
    for i in range(len(ops) - 1, -1, -1):
        if needed[i]:
            op = ops[i]
            k = arity[op]
            if k == 0:
                continue
            if reads[i] == 1 and pastable[op]:
                j = reader[i]
                if accepts[ops[j]] and level[j] < MAX_NESTING:
                    inline[i] = 1
                    level[i] = level[j] + 1
                    at[i] = at[j]
            pos = at[i]
            # One- and two-operand records (nearly all) keep their refs in
            # lhs and rhs; wider and variadic ones in ``wide``.
            for r in (lhs[i], rhs[i]) if k == 2 else (lhs[i],) if k == 1 else wide[i]:
                if r >= 0:
                    needed[r] = 1
                    reads[r] += 1
                    reader[r] = i
                    if last_use[r] < pos:
                        last_use[r] = pos


@attrs.define
class _Emitted:
    """What register allocation and emission produce, for :func:`build_program` to package."""

    inputs: list[int]
    body: list[Union[Op, Check]]
    register: list[int]  # the register of each stored record (-1: none)
    uses: list[int]
    count: int  # registers allocated
    pasted: int  # operations in the body that are pasted
    batched: bytearray
    inline_base: int


def _allocate_and_emit(tape: Tape, live: _Liveness, guards_at: dict[int, list[_Guard]]) -> _Emitted:
    """The forward pass: linear-scan register allocation over the needed records, and the body.

    A register is freed right after the statement that reads its value last
    (once, even if read twice, as in x * x). A read inside a pasted record
    happens in its reader's statement, so the register is freed only there:
    ``held`` keeps it until then. An operand is a pasted value by its id, a
    stored one by its register. (The loop is written for speed: it runs once
    per trace, over every record.)
    """
    ops, lhs, rhs, wide, vals = tape._ops, tape._lhs, tape._rhs, tape._wide, tape._vals
    needed, last_use, reads, inline, at = live.needed, live.last_use, live.reads, live.inline, live.at
    n = len(ops)
    arity = [p.arity for p in PRIMITIVES]
    inline_base = n + 1  # more than the number of registers, which is at most one per record
    register = [-1] * n
    free: list[int] = []
    release = free.append
    held: dict[int, list[int]] = {}
    inputs = _input_registers(tape, needed, register, free)
    count = len(inputs)  # registers allocated
    body: list[Union[Op, Check]] = []
    append = body.append
    uses = [1] * max(1, len(inputs) + sum(needed))  # at most one register per value (and at least one)
    pasted = 0
    batched = bytearray()
    mark_batched = batched.append

    def operand(r: int, pos: int, paste_i: int) -> int:
        """Operand ``r`` of the record evaluated at ``pos``, its register freed at its last read."""
        if r < 0:
            return r
        if inline[r]:
            return inline_base + r
        a = register[r]
        uses[a] += 1
        if last_use[r] == pos:
            last_use[r] = -1
            if paste_i:
                held.setdefault(pos, []).append(a)
            else:
                release(a)
        return a

    guarded = bytes(1 if i in guards_at else 0 for i in range(n))
    for i in range(n):
        op = ops[i]
        k = arity[op]
        if k and needed[i]:
            pos = at[i]
            paste_i = inline[i]
            if k == 2:
                args: tuple[int, ...] = (operand(lhs[i], pos, paste_i), operand(rhs[i], pos, paste_i))
            elif k == 1:
                args = (operand(lhs[i], pos, paste_i),)
            else:
                args = tuple([operand(r, pos, paste_i) for r in wide[i]])
            mark_batched(vals[i].__class__ in _BATCH_CLASSES)
            if paste_i:
                append((inline_base + i, op, args))
                pasted += 1
            else:
                if held:
                    free.extend(held.pop(pos, ()))
                if free:
                    dest = free.pop()
                else:
                    dest = count
                    count += 1
                uses[dest] += 1
                register[i] = dest
                append((dest, op, args))
                if not reads[i]:
                    # Kept only for its domain check (see _read_checks): its
                    # register is free again as soon as it is written.
                    release(dest)
        if guarded[i]:
            _emit_guards(guards_at[i], 2 * i + 1, register, last_use, body, batched, free)
    return _Emitted(inputs, body, register, uses, count, pasted, batched, inline_base)


def _input_registers(tape: Tape, needed: bytearray, register: list[int], free: list[int]) -> list[int]:
    """Registers 0, 1, ... for the inputs, in order; an input nothing reads leaves its register free."""
    for r, i in enumerate(tape._inputs):
        register[i] = r
        if not needed[i]:
            free.append(r)  # unpacked, never read
    return list(range(len(tape._inputs)))


def _emit_guards(
    guards: list[_Guard], pos: int, register: list[int], last_use: list[int], body: list[Union[Op, Check]], batched: bytearray, free: list[int]
) -> None:
    """Emit the checks of the guards at statement position ``pos``, and free what they read last."""
    for op_name, a, b, outcome, number in guards:
        body.append(Check(op_name, register[a] if a >= 0 else a, register[b] if b >= 0 else b, outcome, number))
        batched.append(0)
    for _, a, b, _, _ in guards:
        for r in (a, b):
            if r >= 0 and last_use[r] == pos:
                last_use[r] = -1
                free.append(register[r])
