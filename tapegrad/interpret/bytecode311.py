"""The CPython 3.11 bytecode assembler: a jit back end for one interpreter version.

Layer 3 of tapegrad (``tapegrad/interpret``). Only the back-end dispatch,
:func:`tapegrad.interpret.codegen.make_replay`, imports this module, and
only on CPython 3.11: it writes that version's instruction set and reads
``opcode`` and ``dis`` internals (``_inline_cache_entries``, ``_nb_ops``)
that change between versions. Every other version compiles the portable
Python source instead.

:func:`assemble` lays out exactly the instructions CPython's compiler would
produce for the source back end's text (``r7 = r3 * r5`` is LOAD_FAST,
LOAD_FAST, BINARY_OP with its cache slot, STORE_FAST), without running the
compiler, which costs several microseconds per line.
"""

from __future__ import annotations

import dis
import opcode
import sys
import types
from typing import Any

from tapegrad.core.primitive import PRIMITIVES
from tapegrad.interpret.program import GuardFailed, Operand, Program, Replay, lowering

_OP = dis.opmap
_CACHES: list[int] = list(getattr(opcode, "_inline_cache_entries", [0] * 256))
_NB = {name: k for k, (name, _) in enumerate(getattr(dis, "_nb_ops", []))}
_CMP = {op: k for k, op in enumerate(dis.cmp_op)}
# The infix operators of forward rules, as BINARY_OP arguments.
_BINARY_OP_NAMES = {"+": "NB_ADD", "-": "NB_SUBTRACT", "*": "NB_MULTIPLY", "/": "NB_TRUE_DIVIDE", "%": "NB_REMAINDER", "**": "NB_POWER"}
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


def assemble(program: Program) -> Replay:
    """Build ``replay`` as a CPython 3.11 code object, without the compiler.

    Each instruction is laid out exactly as the compiler lays out the
    equivalent source: ``r7 = r3 * r5`` is LOAD_FAST, LOAD_FAST, BINARY_OP
    (with its cache slot), STORE_FAST. Local 0 is the argument ``x``;
    register r is the local numbered by :meth:`Program.local_numbers`.
    """
    if not (sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11)):
        raise RuntimeError("the bytecode assembler targets CPython 3.11; use backend='source'")
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

    # How each primitive is emitted, decided once per primitive from its row.
    lowered = [lowering(p) for p in PRIMITIVES]
    binary = {p.id: _instr("BINARY_OP", _NB[_BINARY_OP_NAMES[low.op]]) for p, low in zip(PRIMITIVES, lowered) if low.kind == "binary"}
    copies = {p.id for p, low in zip(PRIMITIVES, lowered) if low.kind == "copy"}
    # "A if x <op> C else B" (relu, step) is emitted inline as a compare and
    # two jumps, with A and B either x or a number.
    conditional = {p.id: low for p, low in zip(PRIMITIVES, lowered) if low.kind == "select"}
    calls = {p.id: load_const(low.fn) for p, low in zip(PRIMITIVES, lowered) if p.arity and low.kind in ("call", "general")}
    push_null = _instr("PUSH_NULL")
    most_args = max(p.arity for p in PRIMITIVES) + 1
    precall = [_instr("PRECALL", k) for k in range(most_args)]
    call = [_instr("CALL", k) for k in range(most_args)]

    def raise_guard(number: int) -> bytes:
        # raise GuardFailed(number): the number says which comparison failed
        return push_null + load_const(GuardFailed) + load_const(number) + precall[1] + call[1] + _instr("RAISE_VARARGS", 1)


    parts: list[bytes] = [_instr("RESUME", 0)]
    append = parts.append
    # ``replay(None)`` returns at once: see _warm_up.
    append(_instr("LOAD_FAST", 0) + _instr("POP_JUMP_FORWARD_IF_NOT_NONE", 2) + _instr("LOAD_CONST", 0) + _instr("RETURN_VALUE"))
    if program.inputs:
        append(_instr("LOAD_FAST", 0) + _instr("UNPACK_SEQUENCE", len(program.inputs)))
        parts.extend(stores[r] for r in program.inputs)
    # A pasted value (see Program) is never stored: its code waits here until
    # its one reader, which pushes it where it would have loaded a register,
    # so it passes on the stack (``r9 = r4 + r7 * r8`` instead of
    # ``r5 = r7 * r8; r9 = r4 + r5``). Each entry also says how many stack
    # slots the code needs; nesting is bounded by program.MAX_NESTING.
    body = program.body
    inline_base = program.inline_base
    pending: dict[int, tuple[bytes, int]] = {}
    take = pending.pop
    max_depth = 2

    def operand(a: Operand) -> tuple[bytes, int]:
        """The code that pushes operand ``a``, and how many stack slots it needs."""
        if a >= inline_base:
            return take(a)
        return load(a), 1

    for ins in body:
        if isinstance(ins, tuple):
            dest, pid, args = ins
            bin_code = binary.get(pid)
            if bin_code is not None:  # most records: written out, operand() inlined
                a0, a1 = args
                if a0 >= inline_base:
                    c0, d0 = take(a0)
                else:
                    c0, d0 = (loads[a0] if a0 >= 0 else load_const(program_consts[~a0])), 1
                if a1 >= inline_base:
                    c1, d1 = take(a1)
                    d1 += 1  # on top of the first operand
                else:
                    c1, d1 = (loads[a1] if a1 >= 0 else load_const(program_consts[~a1])), 2
                expr = c0 + c1 + bin_code
                depth = d0 if d0 > d1 else d1
            elif pid in copies:
                expr, depth = operand(args[0])
            elif pid in conditional:
                # (A if x <op> C else B) reads x more than once, so x is never pasted
                select = conditional[pid]
                taken = load(args[0]) if select.when_true is None else load_const(select.when_true)
                other = load(args[0]) if select.when_false is None else load_const(select.when_false)
                expr = (
                    load(args[0]) + load_const(select.threshold) + _instr("COMPARE_OP", _CMP[select.compare])
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
            if dest >= inline_base:
                pending[dest] = (expr, depth)
            else:
                append(expr + stores[dest])
                if depth > max_depth:
                    max_depth = depth
        else:
            check = ins
            append(load(check.a) + load(check.b) + _instr("COMPARE_OP", _CMP[check.op]))
            # Jump over the two-instruction raise when the outcome is as traced.
            jump = "POP_JUMP_FORWARD_IF_TRUE" if check.outcome else "POP_JUMP_FORWARD_IF_FALSE"
            raising = raise_guard(check.number)
            append(_instr(jump, len(raising) // 2) + raising)
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
