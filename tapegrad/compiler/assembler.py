"""Writing a program as CPython bytecode, for the versions whose instruction sets are alike.

Layer 3 of tapegrad (``tapegrad/compiler``). CPython 3.11, 3.12 and 3.13
encode a straight-line float program almost identically: ``r7 = r3 * r5``
is LOAD_FAST, LOAD_FAST, BINARY_OP and its cache slot, STORE_FAST in all
three. They differ in a few details (how many cache slots an instruction
has, how COMPARE_OP spells its comparison, the names of the conditional
jumps, whether a call pushes NULL before or after the function and needs
PRECALL), which a :class:`Dialect` states. This module knows no version: it
reads no ``opcode`` internals and is never used alone. Each version's module
(:mod:`tapegrad.compiler.bytecode311`, :mod:`tapegrad.compiler.bytecode312`,
:mod:`tapegrad.compiler.bytecode313`) checks that it runs on its own
version, builds its dialect from that interpreter's tables, and calls
:func:`assemble`; only the back-end dispatch,
:func:`tapegrad.compiler.backends.make_replay`, imports those modules.

The code laid out is what CPython's compiler produces for the source back
end's text (:func:`tapegrad.compiler.backends.to_source`), without running
the compiler, which costs several microseconds per operation.
"""

from __future__ import annotations

import dis
import types
from typing import Any, Callable

import attrs

from tapegrad.compiler.lowering import Lowering, lowering
from tapegrad.compiler.program import Check, GuardFailed, Operand, Program, Replay
from tapegrad.core.primitive import PRIMITIVES

# The infix operators of forward rules, as BINARY_OP arguments (by name: the
# numbers are the interpreter's, read from ``dis._nb_ops`` by the dialect).
BINARY_OP_NAMES = {"+": "NB_ADD", "-": "NB_SUBTRACT", "*": "NB_MULTIPLY", "/": "NB_TRUE_DIVIDE", "%": "NB_REMAINDER", "**": "NB_POWER"}
_CO_OPTIMIZED_NEWLOCALS = 0x0001 | 0x0002


@attrs.frozen
class Dialect:
    """What one CPython version needs spelled its own way.

    - ``caches``: the inline cache slots after each instruction, by name;
    - ``binary_op``: BINARY_OP's argument for each ``NB_*`` name;
    - ``compare_arg``: COMPARE_OP's argument for ``<``, ``<=``, ...,
      giving a bool that the conditional jumps take as it is;
    - ``null_first``: a call of a constant function is ``PUSH_NULL,
      LOAD_CONST f`` (True) or ``LOAD_CONST f, PUSH_NULL`` (False);
    - ``precall``: CALL is preceded by PRECALL with the same argument (3.11);
    - ``jump_prefix``: the conditional jumps are ``<prefix>IF_FALSE``,
      ``IF_TRUE`` and ``IF_NOT_NONE``;
    - ``return_const``: RETURN_CONST exists (else LOAD_CONST, RETURN_VALUE).

    Jumps are relative and forward, counted in code units from the end of
    the jump's own cache slots; functions start with RESUME.
    """

    caches: dict[str, int]
    binary_op: dict[str, int]
    compare_arg: Callable[[str], int]
    null_first: bool
    precall: bool = False
    jump_prefix: str = "POP_JUMP_"
    return_const: bool = True

    def instr(self, name: str, arg: int = 0) -> bytes:
        """One instruction: EXTENDED_ARG prefixes for a large argument, then its inline cache slots."""
        out = bytearray()
        extended = dis.opmap["EXTENDED_ARG"]
        for shift in (24, 16, 8):
            if arg >> shift:
                out += bytes((extended, (arg >> shift) & 0xFF))
        out += bytes((dis.opmap[name], arg & 0xFF))
        out += bytes(2 * self.caches.get(name, 0))
        return bytes(out)


class Operands:
    """A program's constant pool and its register loads and stores, in one instruction set.

    Every version's assembler (this module's and 3.10's) starts from it:
    :meth:`load` pushes an operand (a register, or a constant of the
    program), :meth:`const` pushes any constant, ``stores[r]`` pops into
    register r. ``consts`` is the finished code object's constant tuple.
    """

    def __init__(self, program: Program, instr: Callable[..., bytes]) -> None:
        self.consts: list[Any] = [None]
        self._const_bytes: dict[tuple[str, Any], bytes] = {}
        self._instr = instr
        number = program.local_numbers()
        self.loads = [instr("LOAD_FAST", k) for k in number]
        self.stores = [instr("STORE_FAST", k) for k in number]
        self._program_consts = program.consts

    def const(self, value: Any) -> bytes:
        """LOAD_CONST of ``value``, adding it to the pool the first time."""
        # Key floats by repr so that 0.0 and -0.0 (equal, same hash) stay
        # distinct constants; other objects by identity.
        key = ("f", repr(value)) if value.__class__ is float else ("o", id(value))
        b = self._const_bytes.get(key)
        if b is None:
            self.consts.append(value)
            b = self._const_bytes[key] = self._instr("LOAD_CONST", len(self.consts) - 1)
        return b

    def load(self, a: Operand) -> bytes:
        """The code that pushes operand ``a``."""
        return self.loads[a] if a >= 0 else self.const(self._program_consts[~a])


@attrs.frozen
class _Codes:
    """The code of each primitive and of the fixed pieces, decided once per assembly from the rows.

    ``binary[pid]`` is the BINARY_OP of an operator, ``calls[pid]`` pushes a
    called function (and the NULL beside it), ``call[k]`` calls it with ``k``
    arguments; ``copies`` and ``selects`` are the copies and the choices by
    one comparison; ``compare[op]`` is the COMPARE_OP of ``op``.
    """

    binary: dict[int, bytes]
    copies: set[int]
    selects: dict[int, Lowering]
    calls: dict[int, bytes]
    call: list[bytes]
    compare: dict[str, bytes]
    if_false: str
    if_true: str

    @classmethod
    def of(cls, dialect: Dialect, ops: Operands) -> _Codes:
        """The codes in ``dialect``, with the called functions in ``ops``'s constant pool."""
        instr = dialect.instr
        lowered = [lowering(p) for p in PRIMITIVES]
        binary = {
            p.id: instr("BINARY_OP", dialect.binary_op[BINARY_OP_NAMES[low.op]])
            for p, low in zip(PRIMITIVES, lowered)
            if low.kind == "binary"
        }
        copies = {p.id for p, low in zip(PRIMITIVES, lowered) if low.kind == "copy"}
        selects = {p.id: low for p, low in zip(PRIMITIVES, lowered) if low.kind == "select"}
        calls = {p.id: _callee(dialect, ops, low.fn) for p, low in zip(PRIMITIVES, lowered) if p.arity and low.kind in ("call", "general")}
        most_args = max(p.arity for p in PRIMITIVES) + 1
        call = [(instr("PRECALL", k) if dialect.precall else b"") + instr("CALL", k) for k in range(most_args)]
        compare = {op: instr("COMPARE_OP", dialect.compare_arg(op)) for op in ("<", "<=", "==", "!=", ">", ">=")}
        return cls(binary, copies, selects, calls, call, compare, dialect.jump_prefix + "IF_FALSE", dialect.jump_prefix + "IF_TRUE")


def _callee(dialect: Dialect, ops: Operands, fn: Any) -> bytes:
    """Push the function ``fn`` for a CALL: with its NULL before or after, as the dialect says."""
    push_null = dialect.instr("PUSH_NULL")
    return push_null + ops.const(fn) if dialect.null_first else ops.const(fn) + push_null


def _units(code: bytes) -> int:
    """The length of ``code`` in code units (two bytes each), as jumps count."""
    return len(code) // 2


def assemble(program: Program, dialect: Dialect) -> Replay:
    """Build ``replay`` as a code object of the running interpreter, in ``dialect``.

    Local 0 is the argument ``x``; register r is the local numbered by
    :meth:`Program.local_numbers`. A pasted value's code waits until its one
    reader, which pushes it where it would have loaded a register, so it
    passes on the stack (``r9 = r4 + r7 * r8``).
    """
    instr = dialect.instr
    ops = Operands(program, instr)
    codes = _Codes.of(dialect, ops)
    parts: list[bytes] = [instr("RESUME", 0)]
    # ``replay(None)`` returns at once: see backends._warm_up.
    return_none = instr("RETURN_CONST", 0) if dialect.return_const else instr("LOAD_CONST", 0) + instr("RETURN_VALUE")
    parts.append(instr("LOAD_FAST", 0) + instr(dialect.jump_prefix + "IF_NOT_NONE", _units(return_none)) + return_none)
    if program.inputs:
        parts.append(instr("LOAD_FAST", 0) + instr("UNPACK_SEQUENCE", len(program.inputs)))
        parts.extend(ops.stores[r] for r in program.inputs)
    max_depth = _emit_body(program, dialect, ops, codes, parts)
    parts.append(instr("BUILD_LIST", 0))
    for o in program.outputs:
        parts.append(ops.load(o) + instr("LIST_APPEND", 1))
    parts.append(instr("RETURN_VALUE"))
    return _function(program, b"".join(parts), tuple(ops.consts), max_depth)


def _emit_body(program: Program, dialect: Dialect, ops: Operands, codes: _Codes, parts: list[bytes]) -> int:
    """Append the code of the program's body to ``parts``; returns the deepest stack an expression needs."""
    load, stores = ops.load, ops.stores
    binary, copies, selects, calls, call = codes.binary, codes.copies, codes.selects, codes.calls, codes.call
    append = parts.append
    inline_base = program.inline_base
    pending: dict[int, tuple[bytes, int]] = {}  # a pasted value's code and the stack slots it needs
    take = pending.pop
    max_depth = 2

    def operand(a: Operand) -> tuple[bytes, int]:
        """The code that pushes operand ``a``, and how many stack slots it needs."""
        if a >= inline_base:
            return take(a)
        return load(a), 1

    for ins in program.body:
        if isinstance(ins, tuple):
            dest, pid, args = ins
            bin_code = binary.get(pid)
            if bin_code is not None:  # most records
                c0, d0 = operand(args[0])
                c1, d1 = operand(args[1])
                expr = c0 + c1 + bin_code
                depth = max(d0, d1 + 1)  # the second operand sits on the first
            elif pid in copies:
                expr, depth = operand(args[0])
            elif pid in selects:
                expr, depth = _select(selects[pid], args[0], dialect, ops, codes), 2
            else:
                expr = calls[pid]
                depth = 2
                for j, a in enumerate(args):
                    ca, da = operand(a)
                    expr += ca
                    depth = max(depth, 2 + j + da)
                expr += call[len(args)]
            if dest >= inline_base:
                pending[dest] = (expr, depth)
            else:
                append(expr + stores[dest])
                if depth > max_depth:
                    max_depth = depth
        else:
            append(_guard(ins, dialect, ops, codes))
    return max_depth


def _select(select: Lowering, x: Operand, dialect: Dialect, ops: Operands, codes: _Codes) -> bytes:
    """The code of ``A if x <op> C else B``, which reads x more than once (so x is never pasted)."""
    instr, load, load_const = dialect.instr, ops.load, ops.const
    taken = load(x) if select.when_true is None else load_const(select.when_true)
    other = load(x) if select.when_false is None else load_const(select.when_false)
    skip_other = instr("JUMP_FORWARD", _units(other))
    return (
        load(x) + load_const(select.threshold) + codes.compare[select.compare]
        + instr(codes.if_false, _units(taken + skip_other))
        + taken + skip_other + other
    )


def _guard(check: Check, dialect: Dialect, ops: Operands, codes: _Codes) -> bytes:
    """The code of a guard: compare, and raise GuardFailed(number) unless the outcome is as traced."""
    compared = ops.load(check.a) + ops.load(check.b) + codes.compare[check.op]
    raising = _callee(dialect, ops, GuardFailed) + ops.const(check.number) + codes.call[1] + dialect.instr("RAISE_VARARGS", 1)
    jump = codes.if_true if check.outcome else codes.if_false
    return compared + dialect.instr(jump, _units(raising)) + raising


def _function(program: Program, code_bytes: bytes, consts: tuple[Any, ...], max_depth: int) -> Replay:
    """The replay function around the assembled ``code_bytes``."""
    n_units = _units(code_bytes)
    # Every instruction maps to "no source position": one line-table entry
    # covers up to 8 code units (0x80 | code 15 << 3 | length - 1).
    linetable = bytes([0xFF]) * (n_units // 8) + (bytes([0xF8 | (n_units % 8 - 1)]) if n_units % 8 else b"")
    varnames = ("x",) + tuple(f"r{k}" for k in range(1, program.registers + 1))
    code = types.CodeType(
        1,  # argcount
        0,  # posonlyargcount
        0,  # kwonlyargcount
        len(varnames),
        max(len(program.inputs), max_depth) + 2,  # stacksize: the unpack, or the deepest expression
        _CO_OPTIMIZED_NEWLOCALS,
        code_bytes,
        consts,
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
