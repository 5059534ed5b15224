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

How a primitive's forward rule becomes code is read from its row in the
table, with Python's own parser: :func:`lowering` says whether the rule is an
infix operator, a call of one float function, a copy, or a choice between
two values by one comparison, which is all the back ends
(:mod:`tapegrad.compiler.backends` and the assemblers) need.
"""

from __future__ import annotations

import ast
import builtins
from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import attrs

from tapegrad.core.batch import ArrayBatch, BoolBatch, ListBatch
from tapegrad.core.gaps import GAPPED_CLASSES
from tapegrad.core.primitive import ARG_NAMES, PRIMITIVES, VARIADIC, Primitive
from tapegrad.core.rule_table import FLOAT_NAMESPACE
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
    several-fold. (The loops are written for speed: this runs once per
    trace, over every record.)
    """
    ops, lhs, rhs, wide = tape._ops, tape._lhs, tape._rhs, tape._wide
    n = len(ops)
    arity = [p.arity for p in PRIMITIVES]
    consts = list(tape._consts)
    pastable, accepts = _pastable_kinds()
    if not paste:
        pastable = [False] * len(pastable)

    # Guards, grouped by the record after which both operands exist.
    guards_at: dict[int, list[tuple[str, int, int, bool, int]]] = {}
    for number, (op_name, a, b, outcome) in enumerate(tape._guards):
        guards_at.setdefault(max(a, b, 0), []).append((op_name, a, b, outcome, number))

    # Liveness: which records are needed, and where each value is read for
    # the last time. Positions are 2*i for the statement at record i and
    # 2*i+1 for the guards checked after it; outputs are read at the very end.
    # A pasted record is evaluated inside the statement of its reader, so
    # its operands are read at that statement's position (``at[i]``).
    needed = bytearray(n)
    last_use = [-1] * n
    # How often each value is read; outputs and guards count twice, so that
    # "read exactly once" means "read once, by one operation".
    reads = [0] * n
    reader = [0] * n  # the (last) operation that reads each value
    at = list(range(0, 2 * n, 2))  # where each needed record is evaluated
    level = [0] * n  # how deeply a pasted record sits inside its statement
    inline = bytearray(n)
    end = 2 * n + 2
    out_refs: list[int] = []
    for o in outputs:
        if isinstance(o, Const):
            consts.append(o.value)
            out_refs.append(~(len(consts) - 1))
        else:
            needed[o] = 1
            last_use[o] = end
            reads[o] += 2
            out_refs.append(o)
    # A record whose forward rule can raise (log of a negative number, a
    # division by zero) is kept even when no output reads it: eager
    # evaluation would raise there, so a replay must too. Otherwise
    # jit(grad(log)) would return -1.0 at x = -1.0, where grad(log) raises.
    # (Pasted into its reader, it still raises, a little later: any exception
    # makes jit ask eager evaluation, which raises the error at its place.)
    checks_domain = [p.can_raise for p in PRIMITIVES]
    for i in range(n):
        if checks_domain[ops[i]] and arity[ops[i]]:
            needed[i] = 1
    for g_at, gs in guards_at.items():
        for _, a, b, _, _ in gs:
            for r in (a, b):
                if r >= 0:
                    needed[r] = 1
                    reads[r] += 2
                    last_use[r] = max(last_use[r], 2 * g_at + 1)
    # Backwards: when record i is reached, every reader of i (all later) has
    # been seen, so whether i is pasted, and where it is evaluated, is known.
    for i in range(n - 1, -1, -1):
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
            r = lhs[i]
            if r >= 0:
                needed[r] = 1
                reads[r] += 1
                reader[r] = i
                if last_use[r] < pos:
                    last_use[r] = pos
            if k == 2:
                r = rhs[i]
                if r >= 0:
                    needed[r] = 1
                    reads[r] += 1
                    reader[r] = i
                    if last_use[r] < pos:
                        last_use[r] = pos
            elif k > 2 or k < 0:  # wider, or variadic: lhs holds the first of the refs in wide
                for r in wide[i][1:]:
                    if r >= 0:
                        needed[r] = 1
                        reads[r] += 1
                        reader[r] = i
                        if last_use[r] < pos:
                            last_use[r] = pos

    # Linear-scan register allocation over the needed records: a register
    # is freed right after the statement that reads its value last. A read
    # inside a pasted record happens in its reader's statement, so the
    # register is freed only there: ``held`` keeps it until then.
    inline_base = n + 1  # more than the number of registers, which is at most one per record
    register = [-1] * n
    free: list[int] = []
    release = free.append
    held: dict[int, list[int]] = {}
    count = 0
    inputs = []
    for i in tape._inputs:
        inputs.append(count)
        register[i] = count
        if not needed[i]:
            free.append(count)  # unpacked, never read
        count += 1
    body: list[Union[Op, Check]] = []
    append = body.append
    uses = [1] * max(1, len(inputs) + sum(needed))  # at most one register per value (and at least one)
    guarded = bytearray(n + 1)
    for at_record in guards_at:
        guarded[at_record] = 1
    pasted = 0
    batched = bytearray()
    mark_batched = batched.append
    vals = tape._vals
    for i in range(n):
        if needed[i]:
            op = ops[i]
            k = arity[op]
            if k:
                pos = at[i]
                paste_i = inline[i]
                # Operands: a pasted value by its id, a stored one by its
                # register, freed (once, even if read twice, as in x * x)
                # when this is its last read: now for a statement, at the
                # reader's statement for a pasted record. One- and
                # two-operand records (nearly all) are written out.
                if k == 2:
                    a = lhs[i]
                    if a < 0:
                        pass
                    elif inline[a]:
                        a += inline_base
                    else:
                        r = a
                        a = register[r]
                        uses[a] += 1
                        if last_use[r] == pos:
                            last_use[r] = -1
                            if paste_i:
                                held.setdefault(pos, []).append(a)
                            else:
                                release(a)
                    b = rhs[i]
                    if b < 0:
                        pass
                    elif inline[b]:
                        b += inline_base
                    else:
                        r = b
                        b = register[r]
                        uses[b] += 1
                        if last_use[r] == pos:
                            last_use[r] = -1
                            if paste_i:
                                held.setdefault(pos, []).append(b)
                            else:
                                release(b)
                    args: tuple[int, ...] = (a, b)
                elif k == 1:
                    a = lhs[i]
                    if a < 0:
                        pass
                    elif inline[a]:
                        a += inline_base
                    else:
                        r = a
                        a = register[r]
                        uses[a] += 1
                        if last_use[r] == pos:
                            last_use[r] = -1
                            if paste_i:
                                held.setdefault(pos, []).append(a)
                            else:
                                release(a)
                    args = (a,)
                else:
                    args_list: list[int] = []
                    for r in wide[i]:
                        if r < 0:
                            args_list.append(r)
                        elif inline[r]:
                            args_list.append(inline_base + r)
                        else:
                            ra = register[r]
                            args_list.append(ra)
                            uses[ra] += 1
                            if last_use[r] == pos:
                                last_use[r] = -1
                                if paste_i:
                                    held.setdefault(pos, []).append(ra)
                                else:
                                    release(ra)
                    args = tuple(args_list)
                mark_batched(vals[i].__class__ in _BATCH_CLASSES)
                if paste_i:
                    append((inline_base + i, op, args))
                    pasted += 1
                else:
                    if held:
                        later = held.pop(pos, None)
                        if later is not None:
                            free.extend(later)
                    if free:
                        dest = free.pop()
                    else:
                        dest = count
                        count += 1
                    uses[dest] += 1
                    register[i] = dest
                    append((dest, op, args))
                    if not reads[i]:
                        # Kept only for its domain check (see above): its
                        # register is free again as soon as it is written.
                        release(dest)
        if guarded[i]:
            g_pos = 2 * i + 1
            for op_name, a, b, outcome, number in guards_at[i]:
                append(Check(op_name, register[a] if a >= 0 else a, register[b] if b >= 0 else b, outcome, number))
                mark_batched(0)
            for _, a, b, _, _ in guards_at[i]:
                for r in (a, b):
                    if r >= 0 and last_use[r] == g_pos:
                        last_use[r] = -1
                        free.append(register[r])
    out = tuple(register[r] if r >= 0 else r for r in out_refs)
    registers = max(count, 1)
    return Program(
        tuple(inputs), tuple(body), out, tuple(consts), registers, tuple(uses[:registers]), inline_base, len(body) - pasted, bytes(batched)
    )


# -- how a primitive's forward rule becomes code ---------------------------------


@attrs.frozen
class Lowering:
    """The shape of a forward rule, as the back ends need it.

    ``kind`` is one of:

    - ``"binary"``: ``x <op> y`` with ``op`` one of ``+ - * / % **``;
    - ``"call"``: ``fn(x)`` or ``fn(x, y)``, a float function;
    - ``"copy"``: ``x`` itself;
    - ``"select"``: ``A if x <compare> threshold else B``, where A and B are
      ``x`` (None) or a number;
    - ``"sum"``: a variadic ``add_all(xs)``, written ``a + b + c``;
    - ``"mean"``: a variadic ``add_all(xs) / len(xs)``, written ``(a + b + c) / 3.0``;
    - ``"general"``: anything else, computed by calling ``fn`` (the
      primitive's float function) with all the arguments.
    """

    kind: str
    op: str = ""
    fn: Optional[Callable[..., Any]] = None
    compare: str = ""
    threshold: float = 0.0
    when_true: Optional[float] = None
    when_false: Optional[float] = None


_BINARY_OPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%", ast.Pow: "**"}
_COMPARE_OPS: dict[type, str] = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_LOWERINGS: dict[int, Lowering] = {}


def _number(node: ast.expr) -> Optional[float]:
    """The float a node spells (``0.0``, ``-1.0``), or None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, float):
        return node.value
    return None


def _is_arg(node: ast.expr, k: int) -> bool:
    return isinstance(node, ast.Name) and node.id == ARG_NAMES[k]


def _is_call_of_xs(node: ast.expr, fn: str) -> bool:
    """True if ``node`` is ``fn(xs)``: a variadic forward rule's call on all its arguments."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == fn
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "xs"
        and not node.keywords
    )


def lowering(prim: Primitive) -> Lowering:
    """How ``prim``'s forward rule is written as code (computed once per primitive)."""
    found = _LOWERINGS.get(prim.id)
    if found is None:
        found = _LOWERINGS[prim.id] = _lower(prim)
    return found


def _lower(prim: Primitive) -> Lowering:
    general = Lowering("general", fn=prim.impl)
    if prim.forward is None:
        return general
    node = ast.parse(prim.forward, mode="eval").body
    if prim.arity == VARIADIC:
        if _is_call_of_xs(node, "add_all"):
            return Lowering("sum")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _is_call_of_xs(node.left, "add_all") and _is_call_of_xs(node.right, "len"):
            return Lowering("mean")
        return general
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS and _is_arg(node.left, 0) and _is_arg(node.right, 1):
        return Lowering("binary", op=_BINARY_OPS[type(node.op)])
    if prim.arity >= 1 and _is_arg(node, 0):
        return Lowering("copy")
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and not node.keywords
        and len(node.args) == prim.arity
        and all(_is_arg(a, k) for k, a in enumerate(node.args))
    ):
        fn = FLOAT_NAMESPACE.get(node.func.id) or getattr(builtins, node.func.id, None)
        if callable(fn):
            return Lowering("call", fn=fn)
    if (
        isinstance(node, ast.IfExp)
        and isinstance(node.test, ast.Compare)
        and _is_arg(node.test.left, 0)
        and len(node.test.ops) == 1
        and type(node.test.ops[0]) in _COMPARE_OPS
        and _number(node.test.comparators[0]) is not None
        and (_is_arg(node.body, 0) or _number(node.body) is not None)
        and (_is_arg(node.orelse, 0) or _number(node.orelse) is not None)
    ):
        threshold = _number(node.test.comparators[0])
        assert threshold is not None  # checked just above
        return Lowering(
            "select",
            compare=_COMPARE_OPS[type(node.test.ops[0])],
            threshold=threshold,
            when_true=_number(node.body),
            when_false=_number(node.orelse),
        )
    return general
