"""The tape's public view: frozen records, and how they read as text.

Layer 1 of tapegrad (``tapegrad/core``); it imports only
:mod:`tapegrad.core.primitive` and :mod:`tapegrad.core.batch`.

The tape itself stores plain lists of ints and floats (see
:mod:`tapegrad.core.tape`); :attr:`Tape.records` turns them into these
frozen objects, named as in autodidax: a :class:`Record` reads
``v{index} = primitive(*args)`` where each argument is a :class:`Var` (another
record's output) or a :class:`Lit` (a constant stored in the record).
Printing is kept apart from the data: the functions at the end turn records
into text, giving each variable the name ``v{index}``.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import attrs

from tapegrad.core.batch import Batch
from tapegrad.core.primitive import Primitive


@attrs.frozen
class Var:
    """A reference to the variable produced by record ``index``."""

    index: int


@attrs.frozen
class Lit:
    """A constant operand, stored inline in the record that uses it."""

    value: float


Arg = Union[Var, Lit]


@attrs.frozen
class Record:
    """One line of the tape: ``v{index} = primitive(*args)``, which gave ``value``.

    ``value`` is the plain float the operation produced (when tapes are
    nested it is the number underneath the outer tapes' tracing). Input
    records have the primitive named ``input`` and no args; ``label`` then
    says which leaf of the arguments they came from. ``name`` is the name a
    user gave the value with :func:`tapegrad.name` (None if none): the
    views print it beside ``v{index}``, as ``v5 (h1)``.
    """

    index: int
    primitive: Primitive
    args: tuple[Arg, ...]
    value: Union[float, Batch]  # a Batch under vmap: one number per example
    label: Optional[str] = None
    name: Optional[str] = None

    @property
    def inputs(self) -> tuple[int, ...]:
        """Indices of the records this one reads (constants left out)."""
        return tuple(a.index for a in self.args if isinstance(a, Var))


@attrs.frozen
class Guard:
    """A comparison that jit recorded, and the answer it gave when traced."""

    op: str
    args: tuple[Arg, ...]
    outcome: bool


# -- as text ---------------------------------------------------------------------


def format_number(x: Union[float, Batch]) -> str:
    """A float as the trace shows it: up to 6 significant digits; a batch shows its first values."""
    if isinstance(x, Batch):
        values = x.values()
        shown = ", ".join(format(v, ".6g") for v in values[:3])
        return f"batch of {len(values)}: [{shown}{', ...' if len(values) > 3 else ''}]"
    return format(x, ".6g")


def record_name(record: Record) -> str:
    """``v5``, or ``v5 (h1)`` for a record the user named ``h1``."""
    return f"v{record.index}" if record.name is None else f"v{record.index} ({record.name})"


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


def format_trace(
    name: str, inputs: int, records: Sequence[Record], guards: Sequence[Guard], outputs: Sequence[Arg], batched: Sequence[int] = ()
) -> str:
    """A whole tape as text: a header, one line per record, the guards, then the outputs."""
    lines = [f"{name}: {_count(inputs, 'input')}, {_count(len(records), 'record')}"]
    width = max((len(f"{record_name(r)} = {format_expression(r)}") for r in records), default=0)
    for r in records:
        left = f"{record_name(r)} = {format_expression(r)}"
        lines.append(f"  {left:<{width}}   # {format_number(r.value)}")
    for guard in guards:
        a, b = guard.args
        lines.append(f"  guard: {format_arg(a)} {guard.op} {format_arg(b)} was {guard.outcome}")
    if outputs:
        outs = ", ".join(format_arg(o) if isinstance(o, Var) else f"{format_arg(o)} (constant)" for o in outputs)
        lines.append(f"  out: {outs}")
    return "\n".join(lines)
