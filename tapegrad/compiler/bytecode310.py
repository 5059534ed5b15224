"""The CPython 3.10 bytecode assembler: a jit back end for one interpreter version.

Layer 3 of tapegrad (``tapegrad/compiler``). Only the back-end dispatch,
:func:`tapegrad.compiler.backends.make_replay`, imports this module, and
only on CPython 3.10. Its instruction set differs from 3.11's and later
ones enough to stand alone: one opcode per infix operator (BINARY_ADD, ...),
CALL_FUNCTION, no inline caches, and conditional jumps to *absolute*
targets, counted in instructions from the start of the code.

Absolute targets decide one thing: code that holds a conditional jump cannot
be moved once written. So a select (``0.0 if x <= 0.0 else x``) that the
program pastes into its reader is written at its own place, into a scratch
local, and the reader loads that local; everything else is pasted as on
other versions (``r9 = r4 + r7 * r8`` passes ``r7 * r8`` on the stack).
"""

from __future__ import annotations

import dis
import sys
import types
from typing import Any

import attrs

from tapegrad.compiler.assembler import Operands
from tapegrad.compiler.lowering import Lowering, lowering
from tapegrad.compiler.program import Check, GuardFailed, Operand, Program, Replay
from tapegrad.core.primitive import PRIMITIVES

VERSION = (3, 10)

_OP = dis.opmap
_BINARY = {"+": "BINARY_ADD", "-": "BINARY_SUBTRACT", "*": "BINARY_MULTIPLY", "/": "BINARY_TRUE_DIVIDE", "%": "BINARY_MODULO", "**": "BINARY_POWER"}
_CMP = {op: k for k, op in enumerate(dis.cmp_op)}


def _instr(name: str, arg: int = 0) -> bytes:
    """One instruction, with EXTENDED_ARG prefixes for a large argument."""
    out = bytearray()
    for shift in (24, 16, 8):
        if arg >> shift:
            out += bytes((_OP["EXTENDED_ARG"], (arg >> shift) & 0xFF))
    out += bytes((_OP[name], arg & 0xFF))
    return bytes(out)


def _jump_to(name: str, here: int, after: int) -> bytes:
    """A jump written at unit ``here`` to the unit ``after`` code units past its own end.

    The jump's length (EXTENDED_ARG prefixes for a large target) moves the
    target, so the smallest length that fits is found by trying.
    """
    for length in (1, 2, 3, 4):
        code = _instr(name, here + length + after)
        if len(code) // 2 == length:
            return code
    raise AssertionError("unreachable: a 32-bit jump target always fits in four units")


@attrs.frozen
class _Codes:
    """The code of each primitive, decided once per assembly from the rows (see :func:`lowering`)."""

    binary: dict[int, bytes]  # the BINARY_* instruction of an operator
    copies: set[int]
    selects: dict[int, Lowering]
    calls: dict[int, bytes]  # pushes the called function
    call: list[bytes]  # CALL_FUNCTION with k arguments

    @classmethod
    def of(cls, ops: Operands) -> _Codes:
        """The codes, with the called functions in ``ops``'s constant pool."""
        lowered = [lowering(p) for p in PRIMITIVES]
        binary = {p.id: _instr(_BINARY[low.op]) for p, low in zip(PRIMITIVES, lowered) if low.kind == "binary"}
        copies = {p.id for p, low in zip(PRIMITIVES, lowered) if low.kind == "copy"}
        selects = {p.id: low for p, low in zip(PRIMITIVES, lowered) if low.kind == "select"}
        calls = {p.id: ops.const(low.fn) for p, low in zip(PRIMITIVES, lowered) if p.arity and low.kind in ("call", "general")}
        most_args = max(p.arity for p in PRIMITIVES) + 1
        return cls(binary, copies, selects, calls, [_instr("CALL_FUNCTION", k) for k in range(most_args)])


@attrs.define
class _Code:
    """The code written so far, and its length in code units (where the next part starts)."""

    parts: list[bytes] = attrs.Factory(list)
    offset: int = 0

    def emit(self, code: bytes) -> None:
        """Append ``code``."""
        self.parts.append(code)
        self.offset += len(code) // 2


def assemble(program: Program) -> Replay:
    """Build ``replay`` as a CPython 3.10 code object, without the compiler.

    Local 0 is the argument ``x``; register r is the local numbered by
    :meth:`Program.local_numbers`; scratch locals for selects follow them.
    """
    if not (sys.implementation.name == "cpython" and sys.version_info[:2] == VERSION):
        raise RuntimeError("this assembler targets CPython 3.10; use backend='source'")
    ops = Operands(program, _instr)
    codes = _Codes.of(ops)
    out = _Code()
    # ``replay(None)`` returns at once: see backends._warm_up.
    head = _instr("LOAD_FAST", 0) + ops.const(None) + _instr("IS_OP", 0)
    return_none = ops.const(None) + _instr("RETURN_VALUE")
    out.emit(head + _jump_to("POP_JUMP_IF_FALSE", len(head) // 2, len(return_none) // 2) + return_none)
    if program.inputs:
        out.emit(_instr("LOAD_FAST", 0) + _instr("UNPACK_SEQUENCE", len(program.inputs)))
        for r in program.inputs:
            out.emit(ops.stores[r])
    scratch_count, max_depth = _emit_body(program, ops, codes, out)
    out.emit(_instr("BUILD_LIST", 0))
    for o in program.outputs:
        out.emit(ops.load(o) + _instr("LIST_APPEND", 1))
    out.emit(_instr("RETURN_VALUE"))
    return _function(program, b"".join(out.parts), tuple(ops.consts), scratch_count, max_depth)


def _emit_body(program: Program, ops: Operands, codes: _Codes, out: _Code) -> tuple[int, int]:
    """Write the program's body; returns the scratch locals used and the deepest stack an expression needs.

    A select's code jumps, so it cannot wait on the stack inside its reader:
    a pasted select is written at its own place into a scratch local, which
    its reader loads. The scratch locals a pasted value's code loads are free
    again only once that code is written out inside a statement: until then
    it may still be pasted into another pasted value.
    """
    load, stores = ops.load, ops.stores
    binary, copies, selects, calls, call = codes.binary, codes.copies, codes.selects, codes.calls, codes.call
    inline_base = program.inline_base
    pending: dict[int, tuple[bytes, int]] = {}  # a pasted value's code and the stack slots it needs
    scratch_of: dict[int, list[int]] = {}
    scratch_free: list[int] = []
    scratch_count = 0
    taking: list[int] = []  # scratch locals read by the operation being built
    max_depth = 2

    def operand(a: Operand) -> tuple[bytes, int]:
        """The code that pushes operand ``a``, and how many stack slots it needs."""
        if a >= inline_base:
            held = scratch_of.pop(a, None)
            if held is not None:
                taking.extend(held)
            return pending.pop(a)
        return load(a), 1

    for ins in program.body:
        if not isinstance(ins, tuple):
            out.emit(_guard(ins, ops, codes, out.offset))
            continue
        dest, pid, args = ins
        if pid in selects:
            # (A if x <op> C else B) reads x more than once, so x is never pasted
            if dest >= inline_base:
                if scratch_free:
                    s = scratch_free.pop()
                else:
                    scratch_count += 1
                    s = program.registers + scratch_count
                scratch_of[dest] = [s]
                out.emit(_select(args[0], selects[pid], _instr("STORE_FAST", s), ops, out.offset))
                pending[dest] = (_instr("LOAD_FAST", s), 1)
            else:
                out.emit(_select(args[0], selects[pid], stores[dest], ops, out.offset))
            continue
        bin_code = binary.get(pid)
        if bin_code is not None:  # most records
            c0, d0 = operand(args[0])
            c1, d1 = operand(args[1])
            expr = c0 + c1 + bin_code
            depth = max(d0, d1 + 1)  # the second operand sits on the first
        elif pid in copies:
            expr, depth = operand(args[0])
        else:
            expr = calls[pid]
            depth = 1
            for j, a in enumerate(args):
                ca, da = operand(a)
                expr += ca
                depth = max(depth, 1 + j + da)
            expr += call[len(args)]
        if dest >= inline_base:
            pending[dest] = (expr, depth)
            if taking:
                scratch_of[dest] = taking[:]
        else:
            out.emit(expr + stores[dest])
            scratch_free.extend(taking)
            if depth > max_depth:
                max_depth = depth
        taking.clear()
    return scratch_count, max_depth


def _select(x: Operand, select: Lowering, store: bytes, ops: Operands, offset: int) -> bytes:
    """``A if x <op> C else B`` and its store, for writing at unit ``offset``."""
    load, load_const = ops.load, ops.const
    taken = load(x) if select.when_true is None else load_const(select.when_true)
    other = load(x) if select.when_false is None else load_const(select.when_false)
    test = load(x) + load_const(select.threshold) + _instr("COMPARE_OP", _CMP[select.compare])
    skip_other = _instr("JUMP_FORWARD", len(other) // 2)
    jump = _jump_to("POP_JUMP_IF_FALSE", offset + len(test) // 2, (len(taken) + len(skip_other)) // 2)
    return test + jump + taken + skip_other + other + store


def _guard(check: Check, ops: Operands, codes: _Codes, offset: int) -> bytes:
    """A guard written at unit ``offset``: raise GuardFailed(number) unless the outcome is as traced."""
    test = ops.load(check.a) + ops.load(check.b) + _instr("COMPARE_OP", _CMP[check.op])
    raising = ops.const(GuardFailed) + ops.const(check.number) + codes.call[1] + _instr("RAISE_VARARGS", 1)
    jump = _jump_to("POP_JUMP_IF_TRUE" if check.outcome else "POP_JUMP_IF_FALSE", offset + len(test) // 2, len(raising) // 2)
    return test + jump + raising


def _function(program: Program, code_bytes: bytes, consts: tuple[Any, ...], scratch_count: int, max_depth: int) -> Replay:
    """The replay function around the assembled ``code_bytes``."""
    # The line table maps every instruction to line 1: (bytes, line delta)
    # pairs of at most 254 bytes each.
    size = len(code_bytes)
    linetable = bytes([254, 0]) * (size // 254) + (bytes([size % 254, 0]) if size % 254 else b"")
    varnames = ("x",) + tuple(f"r{k}" for k in range(1, program.registers + scratch_count + 1))
    template = compile("def replay(x): pass", "<tapegrad jit>", "exec").co_consts[0]
    code = template.replace(
        co_code=code_bytes,
        co_consts=consts,
        co_names=(),
        co_varnames=varnames,
        co_nlocals=len(varnames),
        co_stacksize=max(len(program.inputs), max_depth) + 2,
        co_linetable=linetable,
        co_firstlineno=1,
    )
    fn: Replay = types.FunctionType(code, {})
    return fn
