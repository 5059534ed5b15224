"""The explorer's model of a tape: its rows, and both sweeps cut into steps of one record each.

The rows are :func:`tapegrad.tables.table_rows` for the tape, so the page
shows the tables' own numbers. The steps come from running the reverse
sweep itself: :func:`tapegrad.interpret.sweep.reference_reverse_sweep`,
given a log, reports every term it adds (which record sends it, along
which argument, to which record, and the adjoint after the addition). The
explorer only groups those terms by the record that sends them; it
computes no derivative of its own. Before anything is shown, the adjoints
the reference sweep ends with are compared with the tables' (which come
from :func:`tapegrad.interpret.sweep.reverse_sweep`, the generated loop)
and a disagreement raises instead of drawing either.

A walk through the sweeps has ``2 n + 2`` states for a tape of ``n``
records: the start (nothing evaluated), one state after each record of the
forward sweep, the seed (``ȳ = 1`` at the output), and one state after each
record of the reverse sweep, last record first.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import attrs

from tapegrad.core.records import Record, Var
from tapegrad.core.tape import Tape, primal_of
from tapegrad.interpret.sweep import SweepTerm, reference_reverse_sweep, reverse_sweep
from tapegrad.tables import SEED, Row, _term, local_partial, normalize_adjoints, table_rows

BAR = "\u0304"  # the combining macron of v̄, as in tapegrad.tables


@attrs.frozen
class Term:
    """What one record sends back along one argument in the reverse sweep.

    Record ``source`` adds ``value`` (its adjoint times ``partial``, the
    local derivative written as in the tables) to the adjoint of record
    ``target``, which goes from ``before`` (None: nothing had reached it yet)
    to ``after``.
    """

    source: int
    target: int
    partial: str
    value: float
    before: Optional[float]
    after: float


@attrs.frozen
class Step:
    """One state of the walk: which record was just evaluated or swept, and what changed.

    ``phase`` is ``"start"``, ``"forward"``, ``"seed"`` or ``"reverse"``.
    ``reads`` are the records whose values (forward) or adjoint (reverse) the
    step reads; ``terms`` are what a reverse step adds to other adjoints.
    """

    phase: str
    record: Optional[int]
    reads: tuple[int, ...]
    terms: tuple[Term, ...]
    text: str


@attrs.frozen
class Sweeps:
    """The rows of the table, the seeded output, every state of the walk, and each record's depth and scope."""

    rows: tuple[Row, ...]
    output: Optional[int]
    steps: tuple[Step, ...]
    depths: tuple[int, ...]
    groups: tuple[Optional[str], ...]


def fmt(x: Optional[float], digits: int) -> str:
    """A number as the tables print it (``digits`` significant digits); None is a zero adjoint."""
    return format(0.0 if x is None else x, f".{digits}g")


def _same(a: Optional[float], b: Optional[float]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b or (math.isnan(a) and math.isnan(b))


class OutputChoiceError(ValueError):
    """The tape has several outputs and none (or one out of range) was chosen to seed the reverse sweep."""


def seeded_output(tape: Tape, output: Optional[int]) -> Optional[int]:
    """The record the reverse sweep is seeded at (None for a constant output).

    ``output`` picks one of several outputs (a gradient's tape has one per
    leaf); with several and no choice, this raises naming the count.
    """
    outs = tape.outputs
    if output is None:
        if len(outs) != 1:
            raise OutputChoiceError(
                f"{tape.name} has {len(outs)} outputs, and the reverse sweep is seeded at one: "
                f"pick it with tapegrad.explore(f, output=k) for k in 0..{len(outs) - 1}"
            )
        output = 0
    if not -len(outs) <= output < len(outs):
        raise OutputChoiceError(f"output={output}, but {tape.name} has {len(outs)} output(s)")
    chosen = outs[output]
    return chosen.index if isinstance(chosen, Var) else None


def _depths(records: Sequence[Record]) -> tuple[int, ...]:
    """Each record's layer: 0 for an input, else one more than its deepest argument."""
    depth: list[int] = []
    for r in records:
        parents = [depth[a] for a in r.inputs]
        depth.append(0 if r.primitive.name == "input" else 1 + max(parents, default=0))
    return tuple(depth)


def _groups(tape: Tape) -> tuple[Optional[str], ...]:
    """Each record's innermost named scope (:func:`tapegrad.name_scope`), or None."""
    best: list[Optional[tuple[int, str]]] = [None] * len(tape)
    for name, start, stop in tape.groups:
        span = stop - start
        for i in range(start, min(stop, len(tape))):
            old = best[i]
            if old is None or span < old[0]:
                best[i] = (span, name)
    return tuple(None if b is None else b[1] for b in best)


def _forward_steps(rows: Sequence[Row], records: Sequence[Record], digits: int) -> list[Step]:
    steps = []
    for row, rec in zip(rows, records):
        if rec.primitive.name == "input":
            text = f"v{row.index} is the input {row.expression} = {fmt(row.value, digits)}"
        else:
            text = f"v{row.index} = {row.expression} = {fmt(row.value, digits)}"
        steps.append(Step("forward", row.index, tuple(dict.fromkeys(rec.inputs)), (), text))
    return steps


def _terms(records: Sequence[Record], log: Sequence[SweepTerm], seed: Optional[int]) -> dict[int, list[Term]]:
    """The sweep's log grouped by the record that sent each term, each with its target's adjoint before it."""
    adjoint: dict[int, float] = {} if seed is None else {seed: 1.0}
    by_source: dict[int, list[Term]] = {}
    for i, k, r, d, after in log:  # in the order the sweep added them
        partial = local_partial(records[i], k) or "0"
        by_source.setdefault(i, []).append(Term(i, r, partial, primal_of(d), adjoint.get(r), primal_of(after)))
        adjoint[r] = primal_of(after)
    return by_source


def _reverse_steps(rows: Sequence[Row], records: Sequence[Record], by_source: dict[int, list[Term]], digits: int) -> list[Step]:
    steps = []
    for row in reversed(rows):
        i = row.index
        terms = tuple(by_source.get(i, ()))
        bar = f"v{BAR}{i}"
        if row.adjoint is None:
            text = f"{bar} = 0: no cotangent reaches v{i}, so the sweep skips it"
        elif records[i].primitive.name == "input":
            text = f"{bar} = {fmt(row.adjoint, digits)}: v{i} is the input {row.expression}, so this is ∂y/∂{row.expression}"
        elif not terms:
            text = f"{bar} = {fmt(row.adjoint, digits)}; nothing flows back from v{i} (constants, or zero derivatives)"
        else:
            sent = "; ".join(
                f"v{BAR}{t.target} += {_term(bar, t.partial)} = {fmt(t.value, digits)}, so v{BAR}{t.target} = {fmt(t.after, digits)}"
                for t in terms
            )
            text = f"{bar} = {fmt(row.adjoint, digits)} is complete; {sent}"
        steps.append(Step("reverse", i, (i,), terms, text))
    return steps


def build(tape: Tape, output: Optional[int] = None, digits: int = 6) -> Sweeps:
    """The rows and the steps of ``tape``, the reverse sweep seeded with 1 at the chosen output."""
    records = tape.records
    out = seeded_output(tape, output)
    log: list[SweepTerm] = []
    if out is None:
        rows = tuple(table_rows(tape, [None] * len(records)))
    else:
        # The tables' rows and adjoints: the generated sweep, with every zero
        # propagated (table_rows also refuses a tape of batches, from vmap).
        adjoints = normalize_adjoints(tape, reverse_sweep(tape, [(out, 1.0)], skip_zeros=False))
        rows = tuple(table_rows(tape, adjoints))
        reference = normalize_adjoints(tape, reference_reverse_sweep(tape, [(out, 1.0)], log))
        wrong = [i for i, (a, b) in enumerate(zip(adjoints, reference)) if not _same(a, b)]
        if wrong:
            raise RuntimeError(
                f"the reverse sweep and its reference disagree on {tape.name} at record(s) {wrong[:5]} "
                f"({adjoints[wrong[0]]!r} against {reference[wrong[0]]!r}); please report this as a bug"
            )
    start = Step("start", None, (), (), "Nothing is evaluated yet: press → to run the forward sweep one record at a time")
    steps = [start, *_forward_steps(rows, records, digits)]
    if out is None:
        steps.append(Step("seed", None, (), (), "The output is a constant: no cotangent reaches any record"))
    else:
        steps.append(Step("seed", out, (), (), f"Seed the reverse sweep: {SEED} = 1, so v{BAR}{out} = 1"))
    steps.extend(_reverse_steps(rows, records, _terms(records, log, out), digits))
    return Sweeps(rows, out, tuple(steps), _depths(records), _groups(tape))
