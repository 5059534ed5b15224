"""The CPython 3.12 bytecode back end: :mod:`tapegrad.compiler.assembler` in 3.12's dialect.

Layer 3 of tapegrad (``tapegrad/compiler``). Only the back-end dispatch,
:func:`tapegrad.compiler.backends.make_replay`, imports this module, and
only on CPython 3.12: it reads that interpreter's ``opcode`` and ``dis``
internals (``_inline_cache_entries``, ``_nb_ops``), whose form changes
between versions. Every version without such a module compiles the
portable Python source instead.
"""

from __future__ import annotations

import dis
import opcode
import sys

from tapegrad.compiler.assembler import Dialect, assemble as _assemble
from tapegrad.compiler.program import Program, Replay

VERSION = (3, 12)

# COMPARE_OP's argument is the comparison's index << 4, plus a mask of the
# outcomes (unordered 1, less 2, greater 4, equal 8) that count as true.
_MASKS = {"<": 2, "<=": 2 | 8, "==": 8, "!=": 1 | 2 | 4, ">": 4, ">=": 4 | 8}


def dialect() -> Dialect:
    """3.12's spelling, read from the running interpreter's tables."""
    table = list(getattr(opcode, "_inline_cache_entries", []))
    caches = {name: table[op] for name, op in dis.opmap.items() if op < len(table) and table[op]}
    return Dialect(
        caches=caches,
        binary_op={name: k for k, (name, _) in enumerate(getattr(dis, "_nb_ops", []))},
        compare_arg=lambda op: (dis.cmp_op.index(op) << 4) | _MASKS[op],
        null_first=True,
    )


def assemble(program: Program) -> Replay:
    """Build ``replay`` as a CPython 3.12 code object, without the compiler."""
    if not (sys.implementation.name == "cpython" and sys.version_info[:2] == VERSION):
        raise RuntimeError("this assembler targets CPython 3.12; use backend='source'")
    return _assemble(program, dialect())
