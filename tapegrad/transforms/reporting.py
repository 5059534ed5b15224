"""What jit shows the user: a guard as readable text, and the frame that a warning points at.

Layer 4 of tapegrad (``tapegrad/transforms``), used by :mod:`tapegrad.transforms.jit`.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Optional

from tapegrad.core.primitive import PRIMITIVES
from tapegrad.core.records import Guard, Record, Var, format_arg, format_expression
from tapegrad.core.tape import Tape, primal_of

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first frame outside tapegrad: the user's call.

    Counted rather than fixed, because how many of tapegrad's frames lie
    between (the typed ``__call__`` of jit(grad(f)), a trace, a fallback)
    depends on the path taken.
    """
    frame: Optional[types.FrameType] = sys._getframe(1)  # the caller of warnings.warn (level 1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
        frame = frame.f_back
        level += 1
    return level


def _record(tape: Tape, index: int) -> Record:
    """Record ``index`` of a closed tape, as ``tape.records[index]`` would give it."""
    return Record(
        index=index,
        primitive=PRIMITIVES[tape._ops[index]],
        args=tuple(tape._arg(r) for r in tape.refs(index)),
        value=primal_of(tape._vals[index]),
        label=tape._labels.get(index),
        name=tape._names.get(index),
    )


def guard_text(tape: Tape, guard: Guard) -> str:
    """A guard as the user can recognise it: ``v12 > 0`` where ``v12 = add(v10, v11)``."""
    a, b = guard.args
    shown = f"{format_arg(a)} {guard.op} {format_arg(b)}"
    # One record at a time: ``tape.records`` would build a view of the whole
    # tape (a second or more for a large step) to show two of its lines.
    defined = [f"{format_arg(x)} = {format_expression(_record(tape, x.index))}" for x in (a, b) if isinstance(x, Var)]
    return f"`{shown}`" + (f" (where {', '.join(defined)})" if defined else "")
