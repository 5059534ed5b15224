"""Turning a recorded tape into a Python function (the back end of :mod:`tapegrad.jit`).

First the tape becomes a :class:`Program`: only the records that an output
or a guard needs, in tape order, with every value assigned to one of a small
set of *registers* (a register is reused once the value in it has been read
for the last time). Reusing registers matters for speed: a function with
200,000 distinct local variables runs several times slower than the same
code on a few hundred, because its frame no longer fits in the CPU caches.

Then a back end turns the program into a function ``replay(x)`` that takes
the flat list of input values and returns the flat list of outputs:

- :func:`to_source` writes Python source, one line per record
  (``r7 = r3 * r5``), and compiles it. It works on every Python version and
  is easy to read, but CPython's compiler needs about 5 microseconds per
  line, which for a training step of 200,000 records is a second.
- :func:`assemble` writes CPython 3.11 bytecode directly, the same
  instructions the compiler would produce for that source, in a fraction of
  the time. It is used on CPython 3.11 only; elsewhere jit uses the source.

Both back ends compute exactly what the eager forward rules compute (the
same float functions, in the same order), so a replay's values equal an
eager run's bit for bit. Its gradients equal the eager ones as numbers: the
eager sweep skips records whose adjoint is exactly zero, which the
straight-line replay multiplies through (see :func:`tapegrad.sweep.reverse_sweep`).
"""

from __future__ import annotations

import builtins
import dis
import math
import opcode
import re
import sys
import types
from typing import Any, Callable, NamedTuple, Union

import attrs

from tapegrad.primitive import FLOAT_NAMESPACE, PRIMITIVES, Primitive
from tapegrad.tape import Tape


class Const(NamedTuple):
    """A constant output of a traced function (one that did not depend on the inputs)."""

    value: Any


# An operand is a register number (>= 0) or ``~k`` for the program's
# constant ``consts[k]``: the same convention the tape uses for its refs.
Operand = int
# ``(dest, prim_id, args)`` means ``r{dest} = PRIMITIVES[prim_id](*args)``.
# Plain tuples, not objects: a program has one per record.
Op = tuple[int, int, tuple[int, ...]]


class GuardFailed(Exception):
    """Raised by generated code when a recorded comparison comes out differently."""


@attrs.frozen
class Check:
    """Stop with :class:`GuardFailed` unless ``a <op> b`` is ``outcome``."""

    op: str
    a: Operand
    b: Operand
    outcome: bool


@attrs.frozen
class Program:
    """A straight-line program over registers, ready for a back end."""

    inputs: tuple[int, ...]  # the register of each input, in order
    body: tuple[Union[Op, Check], ...]
    outputs: tuple[Operand, ...]
    consts: tuple[Any, ...]
    registers: int
    uses: tuple[int, ...]  # how many instructions read or write each register
    # For each body position: 1 if it is an operation whose value is read by
    # exactly one later operation (and is neither an output nor in a guard).
    single_use: bytes

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


def build_program(tape: Tape, outputs: list[Union[int, Const]]) -> Program:
    """The program computing ``outputs`` (record indices or constants) from the tape's inputs.

    Dead records are dropped; guards are kept and placed right after the
    later of their two operands, so a replay that takes another branch
    stops as early as possible. (The loops are written for speed: this runs
    once per trace, over every record.)
    """
    ops, lhs, rhs, wide = tape._ops, tape._lhs, tape._rhs, tape._wide
    n = len(ops)
    arity = [p.arity for p in PRIMITIVES]
    consts = list(tape._consts)

    # Guards, grouped by the record after which both operands exist.
    guards_at: dict[int, list[tuple[str, int, int, bool]]] = {}
    for g in tape._guards:
        guards_at.setdefault(max(g[1], g[2], 0), []).append(g)

    # Liveness: which records are needed, and where each value is read for
    # the last time. Positions are 2*i for record i and 2*i+1 for the guards
    # checked after it; outputs are read at the very end.
    needed = bytearray(n)
    last_use = [-1] * n
    # How often each value is read; outputs and guards count twice, so that
    # "read exactly once" means "read once, by one operation".
    reads = [0] * n
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
    for at, gs in guards_at.items():
        for _, a, b, _ in gs:
            for r in (a, b):
                if r >= 0:
                    needed[r] = 1
                    reads[r] += 2
                    last_use[r] = max(last_use[r], 2 * at + 1)
    for i in range(n - 1, -1, -1):
        if needed[i]:
            k = arity[ops[i]]
            if k == 0:
                continue
            at = 2 * i
            r = lhs[i]
            if r >= 0:
                needed[r] = 1
                reads[r] += 1
                if last_use[r] < at:
                    last_use[r] = at
            if k == 2:
                r = rhs[i]
                if r >= 0:
                    needed[r] = 1
                    reads[r] += 1
                    if last_use[r] < at:
                        last_use[r] = at
            elif k > 2:
                for r in wide[i][1:]:
                    if r >= 0:
                        needed[r] = 1
                        reads[r] += 1
                        if last_use[r] < at:
                            last_use[r] = at

    # Linear-scan register allocation over the needed records: a register
    # is freed right after the instruction that reads its value last.
    register = [-1] * n
    free: list[int] = []
    release = free.append
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
    single_use = bytearray()
    mark = single_use.append
    uses = [1] * max(1, len(inputs) + sum(needed))  # at most one register per value (and at least one)
    guarded = bytearray(n + 1)
    for at_record in guards_at:
        guarded[at_record] = 1
    # One- and two-argument records (nearly all) are written out; wider ones
    # take the general loop. A register is freed once, even if read twice (x * x).
    for i in range(n):
        if needed[i]:
            op = ops[i]
            k = arity[op]
            if k == 2:
                at = 2 * i
                a = lhs[i]
                b = rhs[i]
                if a >= 0:
                    ra = register[a]
                    uses[ra] += 1
                    if last_use[a] == at:
                        last_use[a] = -1
                        release(ra)
                else:
                    ra = a
                if b >= 0:
                    rb = register[b]
                    uses[rb] += 1
                    if last_use[b] == at:
                        last_use[b] = -1
                        release(rb)
                else:
                    rb = b
                args: tuple[int, ...] = (ra, rb)
            elif k == 1:
                a = lhs[i]
                if a >= 0:
                    ra = register[a]
                    uses[ra] += 1
                    if last_use[a] == 2 * i:
                        last_use[a] = -1
                        release(ra)
                else:
                    ra = a
                args = (ra,)
            elif k:
                at = 2 * i
                refs = wide[i]
                args = tuple([register[r] if r >= 0 else r for r in refs])
                for r in refs:
                    if r >= 0:
                        uses[register[r]] += 1
                        if last_use[r] == at:
                            last_use[r] = -1
                            release(register[r])
            if k:
                if free:
                    dest = free.pop()
                else:
                    dest = count
                    count += 1
                uses[dest] += 1
                register[i] = dest
                append((dest, op, args))
                mark(reads[i] == 1)
        if guarded[i]:
            at = 2 * i + 1
            for op_name, a, b, outcome in guards_at[i]:
                append(Check(op_name, register[a] if a >= 0 else a, register[b] if b >= 0 else b, outcome))
                mark(0)
            for _, a, b, _ in guards_at[i]:
                for r in (a, b):
                    if r >= 0 and last_use[r] == at:
                        last_use[r] = -1
                        free.append(register[r])
    out = tuple(register[r] if r >= 0 else r for r in out_refs)
    return Program(tuple(inputs), tuple(body), out, tuple(consts), max(count, 1), tuple(uses[: max(count, 1)]), bytes(single_use))


Replay = Callable[[list[float]], list[Any]]


# -- back end 1: Python source ---------------------------------------------------


def to_source(program: Program) -> tuple[str, dict[str, Any]]:
    """Python source of ``replay(x)`` and the global namespace it needs."""
    namespace: dict[str, Any] = dict(FLOAT_NAMESPACE, GuardFailed=GuardFailed)
    number = program.local_numbers()

    def text(a: Operand) -> str:
        if a >= 0:
            return f"r{number[a]}"
        v = program.consts[~a]
        if v.__class__ is float and math.isfinite(v):
            return repr(v)
        name = f"_k{len(namespace)}"
        namespace[name] = v
        return name

    lines = ["def replay(x):", "    if x is None:", "        return None  # see _warm_up"]
    if program.inputs:
        lines.append(f"    {', '.join(text(r) for r in program.inputs)}, = x")
    for ins in program.body:
        if isinstance(ins, tuple):
            dest, pid, operands = ins
            prim = PRIMITIVES[pid]
            args = [text(a) for a in operands]
            if prim.forward is not None:
                names = dict(zip(("x", "y"), args))
                expr = re.sub(r"\b([xy])\b", lambda m: names[m.group(1)], prim.forward)
            else:
                fname = f"_p{prim.id}"
                namespace[fname] = prim.impl
                expr = f"{fname}({', '.join(args)})"
            lines.append(f"    {text(dest)} = {expr}")
        else:
            test = f"{text(ins.a)} {ins.op} {text(ins.b)}"
            lines.append(f"    if {'not ' if ins.outcome else ''}({test}): raise GuardFailed")
    lines.append(f"    return [{', '.join(text(o) for o in program.outputs)}]")
    return "\n".join(lines) + "\n", namespace


def compile_source(program: Program, filename: str = "<tapegrad jit>") -> tuple[Replay, str]:
    """Compile the program through Python source; returns the function and the source."""
    source, namespace = to_source(program)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - generated from the tape
    fn: Replay = namespace["replay"]
    return fn, source


# -- back end 2: CPython 3.11 bytecode ----------------------------------------------

ASSEMBLER_AVAILABLE = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11)

_OP = dis.opmap
_CACHES: list[int] = list(getattr(opcode, "_inline_cache_entries", [0] * 256))
_NB = {name: k for k, (name, _) in enumerate(getattr(dis, "_nb_ops", []))}
_CMP = {op: k for k, op in enumerate(dis.cmp_op)}
# Forward rules of the form ``f(x)`` or ``f(x, y)`` become one call of f.
_CALL_FORM = re.compile(r"^([A-Za-z_]\w*)\((x|x, y)\)$")
_NUMBER = r"-?\d+\.\d+"
_CONDITIONAL = re.compile(rf"^(?P<a>x|{_NUMBER}) if x (?P<op><=|>=|<|>) (?P<c>{_NUMBER}) else (?P<b>x|{_NUMBER})$")
_BINARY = {"x + y": "NB_ADD", "x * y": "NB_MULTIPLY"}
_CO_OPTIMIZED_NEWLOCALS = 0x0001 | 0x0002


def _instr(name: str, arg: int = 0) -> bytes:
    """One instruction: EXTENDED_ARG prefixes for a large argument, then its inline cache slots."""
    op = _OP[name]
    out = bytearray()
    for shift in (24, 16, 8):
        if arg >> shift:
            out += bytes((_OP["EXTENDED_ARG"], (arg >> shift) & 0xFF))
    out += bytes((op, arg & 0xFF))
    out += bytes(2 * _CACHES[op])
    return bytes(out)


def _function_for(prim: Primitive) -> Callable[..., Any]:
    """The float function a call-form forward rule names (``_exp(x)``), else the primitive's impl."""
    if prim.forward is not None:
        m = _CALL_FORM.match(prim.forward)
        if m:
            fn = FLOAT_NAMESPACE.get(m.group(1)) or getattr(builtins, m.group(1), None)
            if callable(fn):
                return fn  # type: ignore[no-any-return]
    return prim.impl


def assemble(program: Program) -> Replay:
    """Build ``replay`` as a CPython 3.11 code object, without the compiler.

    Each instruction is laid out exactly as the compiler lays out the
    equivalent source: ``r7 = r3 * r5`` is LOAD_FAST, LOAD_FAST, BINARY_OP
    (with its cache slot), STORE_FAST. Local 0 is the argument ``x``;
    register r is the local numbered by :meth:`Program.local_numbers`.
    """
    if not ASSEMBLER_AVAILABLE:
        raise RuntimeError("the bytecode assembler targets CPython 3.11; use compile_source")
    consts: list[Any] = [None]
    const_bytes: dict[tuple[str, Any], bytes] = {}

    def load_const(value: Any) -> bytes:
        # Key floats by repr so that 0.0 and -0.0 (equal, same hash) stay
        # distinct constants; other objects by identity.
        key = ("f", repr(value)) if value.__class__ is float else ("o", id(value))
        b = const_bytes.get(key)
        if b is None:
            consts.append(value)
            b = const_bytes[key] = _instr("LOAD_CONST", len(consts) - 1)
        return b

    number = program.local_numbers()
    loads = [_instr("LOAD_FAST", k) for k in number]
    stores = [_instr("STORE_FAST", k) for k in number]

    program_consts = program.consts

    def load(a: Operand) -> bytes:
        return loads[a] if a >= 0 else load_const(program_consts[~a])

    # How each primitive is emitted, decided once per primitive.
    binary = {p.id: _instr("BINARY_OP", _NB[_BINARY[p.forward]]) for p in PRIMITIVES if p.forward in _BINARY}
    copies = {p.id for p in PRIMITIVES if p.forward == "x"}
    # Forward rules of the form "A if x <op> C else B" (relu, step) are emitted
    # inline as a compare and two jumps, with A and B either x or a number.
    conditional = {}
    for p in PRIMITIVES:
        m = _CONDITIONAL.match(p.forward or "")
        if m:
            conditional[p.id] = (m.group("op"), float(m.group("c")), m.group("a"), m.group("b"))
    calls = {p.id: load_const(_function_for(p)) for p in PRIMITIVES if p.arity and p.id not in binary and p.id not in copies and p.id not in conditional}
    push_null = _instr("PUSH_NULL")
    most_args = max(p.arity for p in PRIMITIVES) + 1
    precall = [_instr("PRECALL", k) for k in range(most_args)]
    call = [_instr("CALL", k) for k in range(most_args)]
    raise_guard = load_const(GuardFailed) + _instr("RAISE_VARARGS", 1)

    parts: list[bytes] = [_instr("RESUME", 0)]
    append = parts.append
    # ``replay(None)`` returns at once: see _warm_up.
    append(_instr("LOAD_FAST", 0) + _instr("POP_JUMP_FORWARD_IF_NOT_NONE", 2) + _instr("LOAD_CONST", 0) + _instr("RETURN_VALUE"))
    if program.inputs:
        append(_instr("LOAD_FAST", 0) + _instr("UNPACK_SEQUENCE", len(program.inputs)))
        parts.extend(stores[r] for r in program.inputs)
    # A value read exactly once, by the very next operation, is never stored:
    # its code is pasted where that operation would load it, so it passes on
    # the stack (``r9 = r4 + r7 * r8`` instead of ``r5 = r7 * r8; r9 = r4 + r5``).
    # That removes a STORE_FAST and a LOAD_FAST per fused pair; chains nest
    # up to _MAX_NESTING deep, which bounds the stack.
    body = program.body
    single_use = program.single_use
    pending_reg = -1  # register whose value is held back as code, not stored
    pending_code = b""
    pending_depth = 0
    max_depth = 2

    def operand(a: Operand) -> tuple[bytes, int]:
        """The code that pushes operand ``a``, and how many stack slots it needs.

        Reads ``pending_*`` as the loop below leaves them: the value held
        back from the previous operation, if any, is pasted in place of its load.
        """
        if a >= 0 and a == pending_reg:  # (constants are negative, like "no pending value")
            return pending_code, pending_depth
        return load(a), 1

    for k, ins in enumerate(body):
        if isinstance(ins, tuple):
            dest, pid, args = ins
            if pending_reg >= 0 and pending_reg not in args:
                append(pending_code + stores[pending_reg])  # not consumed after all: store it
                pending_reg = -1
            bin_code = binary.get(pid)
            if bin_code is not None:  # most records: written out, operand() inlined
                a0, a1 = args
                if a0 == pending_reg and a0 >= 0:
                    c0, d0 = pending_code, pending_depth
                else:
                    c0, d0 = (loads[a0] if a0 >= 0 else load_const(program_consts[~a0])), 1
                if a1 == pending_reg and a1 >= 0:
                    c1, d1 = pending_code, pending_depth + 1
                else:
                    c1, d1 = (loads[a1] if a1 >= 0 else load_const(program_consts[~a1])), 2
                expr = c0 + c1 + bin_code
                depth = d0 if d0 > d1 else d1
            elif pid in copies:
                expr, depth = operand(args[0])
            elif pid in conditional:
                # (A if x <op> C else B), which reads x more than once: never fused
                cmp, c, a_text, b_text = conditional[pid]
                taken = load(args[0]) if a_text == "x" else load_const(float(a_text))
                other = load(args[0]) if b_text == "x" else load_const(float(b_text))
                expr = (
                    load(args[0]) + load_const(c) + _instr("COMPARE_OP", _CMP[cmp])
                    + _instr("POP_JUMP_FORWARD_IF_FALSE", len(taken) // 2 + 1)
                    + taken + _instr("JUMP_FORWARD", len(other) // 2) + other
                )
                depth = 2
            else:
                expr = push_null + calls[pid]
                depth = 2
                for j, a in enumerate(args):
                    ca, da = operand(a)
                    expr += ca
                    depth = max(depth, 2 + j + da)
                expr += precall[len(args)] + call[len(args)]
            pending_reg = -1
            nxt = body[k + 1] if k + 1 < len(body) else None
            if (
                single_use[k]
                and isinstance(nxt, tuple)
                and nxt[2].count(dest) == 1
                and nxt[1] not in conditional
                and depth < _MAX_NESTING
            ):
                pending_reg, pending_code, pending_depth = dest, expr, depth
            else:
                append(expr + stores[dest])
                if depth > max_depth:
                    max_depth = depth
        else:
            check = ins
            append(load(check.a) + load(check.b) + _instr("COMPARE_OP", _CMP[check.op]))
            # Jump over the two-instruction raise when the outcome is as traced.
            jump = "POP_JUMP_FORWARD_IF_TRUE" if check.outcome else "POP_JUMP_FORWARD_IF_FALSE"
            append(_instr(jump, len(raise_guard) // 2) + raise_guard)
    append(_instr("BUILD_LIST", 0))
    for o in program.outputs:
        append(load(o) + _instr("LIST_APPEND", 1))
    append(_instr("RETURN_VALUE"))
    code_bytes = b"".join(parts)

    units = len(code_bytes) // 2
    # Every instruction maps to "no source position": one line-table entry
    # covers up to 8 code units (0x80 | code 15 << 3 | length - 1).
    linetable = bytes([0xFF]) * (units // 8) + (bytes([0xF8 | (units % 8 - 1)]) if units % 8 else b"")
    varnames = ("x",) + tuple(f"r{k}" for k in range(1, program.registers + 1))
    code = types.CodeType(
        1,  # argcount
        0,  # posonlyargcount
        0,  # kwonlyargcount
        len(varnames),
        max(len(program.inputs), max_depth) + 2,  # stacksize: the unpack, or the deepest expression
        _CO_OPTIMIZED_NEWLOCALS,
        code_bytes,
        tuple(consts),
        (),  # names: no globals are read
        varnames,
        "<tapegrad jit>",
        "replay",
        "replay",
        1,
        linetable,
        b"",  # no exception handlers
    )
    fn: Replay = types.FunctionType(code, {})
    return fn


# How deeply fused expressions may nest (each level can take a stack slot).
_MAX_NESTING = 32

# CPython 3.11 rewrites a function's bytecode into its faster, specializing
# form once the function has been called this many times.
_WARMUP_CALLS = 8


def _warm_up(fn: Replay) -> None:
    """Get the interpreter's specialization of ``fn`` done before the first real replay.

    A generated function runs its straight line once per call, so without
    this the first eight replays (a good part of a short training run) would
    run about 40% slower. Called with None, the function returns at once.
    """
    for _ in range(_WARMUP_CALLS):
        fn(None)  # type: ignore[arg-type]


def make_replay(program: Program, backend: str = "auto") -> tuple[Replay, str]:
    """Compile ``program`` with the chosen back end ("auto", "bytecode" or "source").

    Returns the function and a description: the generated source for the
    source back end, or a note for the bytecode one (call :func:`to_source`
    to read the equivalent Python).
    """
    if backend not in ("auto", "bytecode", "source"):
        raise ValueError(f"backend must be 'auto', 'bytecode' or 'source', got {backend!r}")
    if backend == "bytecode" or (backend == "auto" and ASSEMBLER_AVAILABLE):
        fn, description = assemble(program), "bytecode"
    else:
        fn, description = compile_source(program)
    _warm_up(fn)
    return fn, description
