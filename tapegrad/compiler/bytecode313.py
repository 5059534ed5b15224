"""The CPython 3.13 bytecode back end: :mod:`tapegrad.compiler.assembler` in 3.13's dialect.

Layer 3 of tapegrad (``tapegrad/compiler``). Only the back-end dispatch,
:func:`tapegrad.compiler.backends.make_replay`, imports this module, and
only on CPython 3.13: it reads that interpreter's ``opcode`` and ``dis``
internals (``_inline_cache_entries``, ``_nb_ops``), whose form changes
between versions. Every version without such a module compiles the
portable Python source instead.
"""

from __future__ import annotations

import dis
import opcode
import sys
from typing import Any

from tapegrad.compiler.assembler import Dialect, assemble as _assemble
from tapegrad.compiler.program import Program, Replay

VERSION = (3, 13)

# COMPARE_OP's argument is the comparison's index << 5, plus 16 (give an
# exact bool, as the conditional jumps of 3.13 require), plus a mask of the
# outcomes (unordered 1, less 2, greater 4, equal 8) that count as true.
_MASKS = {"<": 2, "<=": 2 | 8, "==": 8, "!=": 1 | 2 | 4, ">": 4, ">=": 4 | 8}


def dialect() -> Dialect:
    """3.13's spelling, read from the running interpreter's tables."""
    table: Any = getattr(opcode, "_inline_cache_entries", {})  # by name, since 3.13
    caches = {str(name): int(n) for name, n in dict(table).items() if n}
    return Dialect(
        caches=caches,
        binary_op={name: k for k, (name, _) in enumerate(getattr(dis, "_nb_ops", []))},
        compare_arg=lambda op: (dis.cmp_op.index(op) << 5) | 16 | _MASKS[op],
        null_first=False,
    )


def assemble(program: Program) -> Replay:
    """Build ``replay`` as a CPython 3.13 code object, without the compiler."""
    if not (sys.implementation.name == "cpython" and sys.version_info[:2] == VERSION):
        raise RuntimeError("this assembler targets CPython 3.13; use backend='source'")
    return _assemble(program, dialect())
