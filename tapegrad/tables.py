"""Evaluation-trace tables: the forward primal trace beside the reverse adjoint trace.

The automatic-differentiation textbooks (Griewank and Walther's *Evaluating
Derivatives*; Table 2 of Baydin et al., "Automatic differentiation in
machine learning: a survey", 2018) explain reverse mode with a two-column
table. The left column is the evaluation trace, one intermediate variable per
line, read downwards; the right column is the adjoint trace, read upwards,
where each adjoint ``v̄i`` (the derivative of the output with respect to
``vi``) is the sum of what every later use of ``vi`` sends back.

This module prints that table for a real tape. The left column comes from
``tape.records``; every number in the right column is the adjoint that
:func:`tapegrad.interpret.sweep.reverse_sweep` computed. The adjoint *expressions*
(``v̄0 = v̄2 * (1/v0) + v̄3 * v1``) are explanation only: they are written
from the records, one term per use of a variable, with each primitive's
local partial derivative spelled out by name, but nothing is computed from
them. A use whose adjoint is zero (the sweep never reached it) or whose
primitive has an identically-zero derivative (``relu``'s ``step``,
``stop_gradient``) sends nothing back, so it gets no term, exactly as the
sweep skips it.

Names follow :mod:`tapegrad.core.records`: record ``i`` is ``vi`` (so the
inputs are ``v0, v1, ...`` where the textbooks number them ``v-1, v0``).

Usage: ``print(wengert_table(f, 2.0, 5.0))`` for a function, or
``table_rows(tape, adjoints)`` for the numbers as data
(``examples/wengert_table.py`` is the worked example);
``reverse_adjoints(tape)`` gives the adjoints themselves.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import attrs

from tapegrad.core.batch import Batch
from tapegrad.core.primitive import ARG_NAMES, RULES, VARIADIC
from tapegrad.core.records import Arg, Lit, Record, Var, record_name
from tapegrad.core.tape import Tape, primal_of
from tapegrad.interpret.sweep import reverse_sweep
from tapegrad.transforms.grad import trace

BAR = "\u0304"  # combining macron: "v" + BAR renders as v̄, the textbooks' adjoint
SEED = "y" + BAR  # the cotangent seeded at an output

Adjoints = Union[Sequence[Any], Mapping[int, Any]]
"""Adjoints per record: the list :func:`reverse_sweep` returns (None for zero), or a dict."""


@attrs.frozen
class Row:
    """One line of the table: a record's primal and its adjoint.

    ``value`` is the record's value and ``adjoint`` the reverse sweep's
    result for it; ``None`` means that no cotangent reaches the record (its
    adjoint is zero). ``expression`` and ``adjoint_expression`` are the text
    shown in the two columns. ``user_name`` is the name given with
    :func:`tapegrad.name` (None if none); the tables print it as ``v5 (h1)``.
    """

    index: int
    name: str
    primitive: str
    expression: str
    value: float
    adjoint: Optional[float]
    adjoint_expression: str
    user_name: Optional[str] = None


# -- how a record reads ------------------------------------------------------------

# Primitives the textbooks write as operators, and the ones given a familiar name.
_INFIX = {"add": "+", "mul": "*", "div": "/", "mod": "%", "pow": "**"}
_FUNCTION_NAMES = {"log": "ln"}


def _number(x: Union[float, Batch], digits: int) -> str:
    return format(_one(x), f".{digits}g")


def _one(x: Union[float, Batch]) -> float:
    """A record's number; the textbook tables follow one example, so a batch is refused."""
    if isinstance(x, Batch):
        raise ValueError(
            "the textbook tables follow one example, but this tape was recorded under vmap and holds "
            "batches; print the tape instead (str(tape)), or trace the function on one example"
        )
    return x


def _operand(arg: Arg) -> str:
    """``v3`` for a variable; a constant as a number, bracketed when negative.

    Constants are written in full (``repr``, without a trailing ``.0``) so
    that the text states exactly which number the tape used.
    """
    if isinstance(arg, Var):
        return f"v{arg.index}"
    text = repr(arg.value)
    if text.endswith(".0"):
        text = text[:-2]
    return f"({text})" if text.startswith("-") else text


def expression(record: Record) -> str:
    """The right-hand side of a record in textbook notation.

    ``v0 * v1``, ``v2 + v3``, ``ln(v0)``, ``v5 * (-1)``; an input shows the
    argument leaf it came from (``x1``, ``params['w'][0]``).
    """
    name = record.primitive.name
    if name == "input":
        return record.label or "input"
    ops = [_operand(a) for a in record.args]
    if record.primitive.builtin and name in _INFIX:
        return f"{ops[0]} {_INFIX[name]} {ops[1]}"
    shown = _FUNCTION_NAMES.get(name, name) if record.primitive.builtin else name
    return f"{shown}({', '.join(ops)})"


def _atomic(text: str) -> bool:
    """True if ``text`` needs no brackets after ``*``: a name, a call, or a plain number."""
    return re.fullmatch(r"[\w.\[\]']+|\w+\([^()]*\)|\(-[\d.e+-]+\)", text) is not None


def local_partial(record: Record, k: int) -> Optional[str]:
    """The partial derivative of ``record`` with respect to its argument ``k``, as text.

    Returns None when the derivative is identically zero (the primitive's
    rule for that argument is None, as for ``step`` or ``stop_gradient``):
    then nothing flows back along that argument. Built-in primitives are
    spelled out (``1/v0`` for ``ln(v0)``); any other primitive is written
    ``∂name/∂x(args)``.
    """
    prim = record.primitive
    if prim.arity == VARIADIC:
        k = 0  # one rule, and one partial, for every argument alike
    if RULES[prim.id][k] is None:
        return None
    ops = [_operand(a) for a in record.args]
    names = dict(zip(ARG_NAMES, ops), ans=f"v{record.index}", n=str(len(ops)))
    # A custom primitive may reuse a built-in's name, so look built-ins up only.
    # The text comes from the primitive's row in tapegrad/core/rule_table.py.
    template = prim.partials if prim.builtin else ()
    if k < len(template):
        y = record.args[1] if len(record.args) > 1 else None
        if prim.name == "pow" and k == 0 and isinstance(y, Lit):
            # A constant exponent: fold y - 1 into one number, as one would by hand.
            return f"{ops[1]} * {ops[0]} ** {_operand(Lit(y.value - 1.0))}"
        return template[k].format(**names)
    arg = ARG_NAMES[k] if k < len(ARG_NAMES) else f"arg{k}"
    return f"∂{prim.name}/∂{arg}({', '.join(ops)})"


def _bar(index: int) -> str:
    """The adjoint's name: ``v̄3`` (the bar sits on the v, as in the textbooks)."""
    return f"v{BAR}{index}"


def _term(adjoint_name: str, partial: str) -> str:
    if partial == "1":
        return adjoint_name
    return f"{adjoint_name} * {partial if _atomic(partial) else f'({partial})'}"


# -- adjoints --------------------------------------------------------------------------


def output_adjoints(tape: Tape) -> list[Optional[float]]:
    """Run the reverse sweep seeded with 1.0 at the tape's single output.

    Returns one adjoint per record (None where it is zero). Raises
    ValueError if the tape does not have exactly one output; pass your own
    adjoints to the table functions for other seeds.
    """
    outs = tape.outputs
    if len(outs) != 1:
        raise ValueError(
            f"{tape.name} has {len(outs)} outputs; the adjoint table needs a single scalar output "
            "(or pass adjoints=reverse_sweep(tape, seeds, skip_zeros=False) yourself)"
        )
    out = outs[0]
    if not isinstance(out, Var):  # the function ignored its inputs: every adjoint is zero
        return [None] * len(tape)
    # Every zero is propagated, so that each adjoint's sum lists all its terms.
    return normalize_adjoints(tape, reverse_sweep(tape, [(out.index, 1.0)], skip_zeros=False))


def reverse_adjoints(tape: Tape, seeds: Optional[Iterable[tuple[int, Any]]] = None, *, skip_zeros: bool = True) -> list[Any]:
    """The reverse sweep's adjoint of every record of ``tape``: what :func:`tapegrad.grad` computes, record by record.

    ``seeds`` pairs record indices with cotangents (the same index twice
    adds); by default the tape's single output is seeded with 1.0. Returns
    a list indexed like the records: each record's adjoint (a float, or a
    :class:`tapegrad.Batch` per example on a tape recorded under vmap), or
    None where no cotangent reaches it. On a tape no outer transform traces,
    an adjoint of exactly 0.0 sends nothing on, as in ``grad``; with
    ``skip_zeros=False`` every zero is propagated, so each sum in the
    adjoint table shows all its terms.
    """
    n = len(tape)
    if seeds is None:
        outs = tape.outputs
        if len(outs) != 1:
            raise ValueError(
                f"reverse_adjoints: {tape.name} has {len(outs)} outputs; pass seeds=[(record index, cotangent), ...] "
                "to say which to sweep back from"
            )
        if not isinstance(outs[0], Var):  # the function ignored its inputs: every adjoint is zero
            return [None] * n
        seeds = [(outs[0].index, 1.0)]
    pairs = list(seeds)
    bad = [i for i, _ in pairs if not (isinstance(i, int) and 0 <= i < n)]
    if bad:
        raise ValueError(f"reverse_adjoints: seeds name record(s) {bad}, but {tape.name} has records 0 to {n - 1}")
    return reverse_sweep(tape, pairs, skip_zeros=skip_zeros)


def normalize_adjoints(tape: Tape, adjoints: Adjoints) -> list[Optional[float]]:
    """One plain float (or None for zero) per record, from a sweep's list or a dict.

    Traced adjoints (from nested differentiation) are reduced to their
    numbers. A list must have one entry per record.
    """
    n = len(tape)
    if isinstance(adjoints, Mapping):
        bad = [k for k in adjoints if not 0 <= k < n]
        if bad:
            raise ValueError(f"adjoints given for record(s) {bad}, but {tape.name} has {n} records")
        raw: list[Any] = [adjoints.get(i) for i in range(n)]
    else:
        raw = list(adjoints)
        if len(raw) != n:
            raise ValueError(f"got {len(raw)} adjoints for {tape.name}, which has {n} records")
    return [None if a is None else primal_of(a) for a in raw]


def _seed_names(tape: Tape) -> dict[int, str]:
    """The seed symbol for each output record: ``ȳ``, or ``ȳ0, ȳ1, ...`` for several."""
    outs = [o.index for o in tape.outputs if isinstance(o, Var)]
    if len(tape.outputs) == 1:
        return {i: SEED for i in outs}
    names: dict[int, str] = {}
    for k, o in enumerate(tape.outputs):
        if isinstance(o, Var):
            # An output listed twice gets both seeds (the sweep adds them).
            names[o.index] = f"{names[o.index]} + {SEED}{k}" if o.index in names else f"{SEED}{k}"
    return names


def table_rows(tape: Tape, adjoints: Optional[Adjoints] = None) -> list[Row]:
    """The table as data: one :class:`Row` per record, in evaluation order.

    ``adjoints`` is what :func:`tapegrad.interpret.sweep.reverse_sweep` returned for
    this tape; by default the sweep is run from the single output with seed
    1.0. Each row's adjoint expression lists, in record order, one term per
    use of the variable that sends a non-zero cotangent back, plus the seed
    ``ȳ`` if the record is an output.
    """
    adj = output_adjoints(tape) if adjoints is None else normalize_adjoints(tape, adjoints)
    records = tape.records
    terms: list[list[str]] = [[] for _ in records]
    for i, name in _seed_names(tape).items():
        if adj[i] is not None:  # an output nobody seeded has no seed term
            terms[i].append(name)
    for rec in records:
        if adj[rec.index] is None:
            continue  # the sweep skips a record whose adjoint is zero
        bar = _bar(rec.index)
        for k, arg in enumerate(rec.args):
            if not isinstance(arg, Var):
                continue  # constants have no adjoint
            partial = local_partial(rec, k)
            if partial is not None:
                terms[arg.index].append(_term(bar, partial))
    return [
        Row(
            index=rec.index,
            name=f"v{rec.index}",
            primitive=rec.primitive.name,
            expression=expression(rec),
            value=_one(rec.value),
            adjoint=adj[rec.index],
            adjoint_expression=" + ".join(terms[rec.index]) if terms[rec.index] else "0",
            user_name=rec.name,
        )
        for rec in records
    ]


# -- layout -------------------------------------------------------------------------------


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: combining marks (the bar of v̄) take none."""
    return sum(0 if unicodedata.combining(c) else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _columns(cells: Sequence[tuple[str, str, str]]) -> list[str]:
    """``name = expression = value`` lines with the ``=`` signs aligned."""
    w0 = max((_width(c[0]) for c in cells), default=0)
    w1 = max((_width(c[1]) for c in cells), default=0)
    return [f"{_pad(a, w0)} = {_pad(b, w1)} = {c}" for a, b, c in cells]


def _adjoint_text(row: Row, digits: int) -> str:
    return _number(0.0 if row.adjoint is None else row.adjoint, digits)


def _forward_cells(rows: Sequence[Row], digits: int) -> list[tuple[str, str, str]]:
    return [(_shown_name(r), r.expression, _number(r.value, digits)) for r in rows]


def _shown_name(row: Row) -> str:
    return row.name if row.user_name is None else f"{row.name} ({row.user_name})"


def _adjoint_cells(rows: Sequence[Row], digits: int) -> list[tuple[str, str, str]]:
    return [(_bar(r.index), r.adjoint_expression, _adjoint_text(r, digits)) for r in rows]


def _output_line(tape: Tape, digits: int) -> str:
    parts = []
    for o in tape.outputs:
        parts.append(f"v{o.index}" if isinstance(o, Var) else f"{_number(o.value, digits)} (constant)")
    return "y = " + ", ".join(parts) if parts else ""


def forward_table(tape: Tape, *, digits: int = 6) -> str:
    """The forward primal trace: ``vi = expression = value``, one line per record.

    Values are shown with ``digits`` significant digits; the last line names
    the output(s).
    """
    lines = ["Forward primal trace (evaluated top to bottom)"]
    body = _columns([(record_name(r), expression(r), _number(r.value, digits)) for r in tape.records])
    lines.append("-" * max((_width(b) for b in body), default=len(lines[0])))
    lines.extend(body)
    out = _output_line(tape, digits)
    if out:
        lines.append(out)
    return "\n".join(line.rstrip() for line in lines)


def adjoint_table(tape: Tape, adjoints: Optional[Adjoints] = None, *, digits: int = 6) -> str:
    """The reverse adjoint trace, in the order the sweep visits the records (last first).

    Each line reads ``v̄i = how it accumulates = value``; the values are the
    sweep's. ``adjoints`` defaults to a sweep seeded with ``ȳ = 1`` at the
    single output.
    """
    rows = table_rows(tape, adjoints)
    lines = ["Reverse adjoint trace (evaluated bottom to top of the tape)"]
    if adjoints is None:
        lines.append(f"seed: {SEED} = 1")
    body = _columns(_adjoint_cells(list(reversed(rows)), digits))
    lines.append("-" * max((_width(b) for b in body), default=len(lines[0])))
    lines.extend(body)
    return "\n".join(line.rstrip() for line in lines)


def side_by_side(tape: Tape, adjoints: Optional[Adjoints] = None, *, digits: int = 6) -> str:
    """Both traces in one table, one row per record, as in the textbooks.

    Read the left column downwards (the forward pass) and the right column
    upwards (the reverse sweep): by the time the sweep reaches a row, every
    term of its adjoint has been sent back by a row below it.
    """
    rows = table_rows(tape, adjoints)
    left = _columns(_forward_cells(rows, digits))
    right = _columns(_adjoint_cells(rows, digits))
    head_l, head_r = "Forward primal trace  (read down)", "Reverse adjoint trace  (read up)"
    wl = max([_width(s) for s in left] + [_width(head_l)])
    lines = [f"{_pad(head_l, wl)} | {head_r}"]
    lines.append(f"{'-' * wl}-+-{'-' * max([_width(s) for s in right] + [_width(head_r)])}")
    lines.extend(f"{_pad(a, wl)} | {b}" for a, b in zip(left, right))
    out = _output_line(tape, digits)
    if out:
        if adjoints is not None:
            seed = "adjoints as given"
        elif any(isinstance(o, Var) for o in tape.outputs):
            seed = f"seed {SEED} = 1"
        else:
            seed = "a constant output: every adjoint is 0"
        lines.append(f"{_pad(out, wl)} | {seed}")
    return "\n".join(line.rstrip() for line in lines)


def wengert_table(f: Callable[..., Any], *args: Any, digits: int = 6) -> str:
    """Trace ``f(*args)``, sweep back from its output, and return both traces side by side as text.

    ``f`` must return one scalar. Every leaf of every argument is an input.
    """
    return side_by_side(trace(f)(*args), digits=digits)


__all__ = [
    "Adjoints",
    "Row",
    "adjoint_table",
    "expression",
    "forward_table",
    "local_partial",
    "normalize_adjoints",
    "output_adjoints",
    "reverse_adjoints",
    "side_by_side",
    "table_rows",
    "wengert_table",
]
