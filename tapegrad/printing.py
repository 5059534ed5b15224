"""Printing a tape as an evaluation trace: one line per record.

Printing is kept apart from the data: the tape only stores tuples, and this
module turns them into text, giving each variable the name ``v{index}``.
Constants are shown inline where they are used, input records show which
leaf of the arguments they came from, and the outputs are listed last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tapegrad.tape import Record, Var

if TYPE_CHECKING:
    from tapegrad.tape import Arg, Tape


def format_number(x: float) -> str:
    """A float as the trace shows it: up to 6 significant digits."""
    return format(x, ".6g")


def format_arg(arg: Arg) -> str:
    """``v3`` for a variable, the number itself for a constant."""
    return f"v{arg.index}" if isinstance(arg, Var) else format_number(arg.value)


def format_expression(record: Record) -> str:
    """The right-hand side of a record, e.g. ``mul(v0, v1)`` or ``input x[0]``."""
    if record.primitive.name == "input":
        return f"input {record.label}" if record.label else "input"
    return f"{record.primitive.name}({', '.join(format_arg(a) for a in record.args)})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def format_tape(tape: Tape) -> str:
    """The whole tape as text: a header, one line per record, then the outputs."""
    records = tape.records
    lines = [f"{tape.name}: {_count(len(tape.inputs), 'input')}, {_count(len(records), 'record')}"]
    width = max((len(f"v{r.index} = {format_expression(r)}") for r in records), default=0)
    for r in records:
        left = f"v{r.index} = {format_expression(r)}"
        lines.append(f"  {left:<{width}}   # {format_number(r.value)}")
    for guard in tape.guards:
        a, b = guard.args
        lines.append(f"  guard: {format_arg(a)} {guard.op} {format_arg(b)} was {guard.outcome}")
    if tape.outputs:
        outs = ", ".join(format_arg(o) if isinstance(o, Var) else f"{format_arg(o)} (constant)" for o in tape.outputs)
        lines.append(f"  out: {outs}")
    return "\n".join(lines)


__all__ = ["format_tape", "format_expression", "format_arg", "format_number"]
