"""The CPython 3.11 bytecode back end: :mod:`tapegrad.compiler.assembler` in 3.11's dialect.

Layer 3 of tapegrad (``tapegrad/compiler``). Only the back-end dispatch,
:func:`tapegrad.compiler.backends.make_replay`, imports this module, and
only on CPython 3.11: it reads that interpreter's ``opcode`` and ``dis``
internals (``_inline_cache_entries``, ``_nb_ops``), whose form changes
between versions. 3.11 is the first version with BINARY_OP and inline
caches; it still calls with PRECALL and CALL, names its forward jumps
POP_JUMP_FORWARD_IF_*, has no RETURN_CONST, and its COMPARE_OP takes the
comparison's plain index.
"""

from __future__ import annotations

import dis
import opcode
import sys

from tapegrad.compiler.assembler import Dialect, assemble as _assemble
from tapegrad.compiler.program import Program, Replay

VERSION = (3, 11)


def dialect() -> Dialect:
    """3.11's spelling, read from the running interpreter's tables."""
    table = list(getattr(opcode, "_inline_cache_entries", []))
    caches = {name: table[op] for name, op in dis.opmap.items() if op < len(table) and table[op]}
    return Dialect(
        caches=caches,
        binary_op={name: k for k, (name, _) in enumerate(getattr(dis, "_nb_ops", []))},
        compare_arg=dis.cmp_op.index,
        null_first=True,
        precall=True,
        jump_prefix="POP_JUMP_FORWARD_",
        return_const=False,
    )


def assemble(program: Program) -> Replay:
    """Build ``replay`` as a CPython 3.11 code object, without the compiler."""
    if not (sys.implementation.name == "cpython" and sys.version_info[:2] == VERSION):
        raise RuntimeError("the bytecode assembler targets CPython 3.11; use backend='source'")
    return _assemble(program, dialect())
