"""linearize: record a function once, then evaluate its derivative along any tangent.

Layer 4 of tapegrad (``tapegrad/transforms``).

``tg.linearize(f, *primals)`` runs ``f`` once on a tape and asks every
record's forward rule for its partial derivatives at the recorded values
(a rule is linear in its tangent, so ``rule(1.0, ans, *args)`` is the
partial). What is kept is a :class:`LinearProgram`: for each record the
outputs need, the records it reads and the partial along each. Evaluating
the linearization along a tangent is then one pass of multiply-adds over
those numbers; no primitive of ``f`` is evaluated again, and the tape
itself is released.

The same program, swept with the absolute values of the partials and the
tangents, bounds the size of every product that a forward or reverse sweep
adds up; :mod:`tapegrad.testing` uses that bound to tell rounding from a
wrong rule.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import attrs

from tapegrad.core.rule_table import input_p
from tapegrad.core.tape import Tape
from tapegrad.core.tree import TreeDef, flatten, unflatten
from tapegrad.interpret.rules import apply_rule, checked, in_record, tangent_functions
from tapegrad.interpret.sweep import VARIADIC_IDS, needed_by
from tapegrad.transforms.checkpoint import CALL_IDS, OUTPUT_P, output_entries
from tapegrad.transforms.arguments import _fname, _optional_argnums, _trace_all


@attrs.frozen
class _Failed:
    """A partial derivative whose rule raised: raised again, naming the record, if a tangent reaches it."""

    error: BaseException


@attrs.frozen
class LinearProgram:
    """The linearization of a tape: per record the outputs need, its partials along the records it reads.

    ``rows[j]`` is ``(i, ((r, partial), ...))``: record ``i``'s tangent is
    the sum of ``partial * tangent(r)`` over its entries. Constants and
    arguments with an identically zero derivative have no entry.
    ``inputs`` lists the input records, ``outputs`` the output references
    (``-1`` for an output that is a constant).
    """

    size: int
    rows: tuple[tuple[int, tuple[tuple[int, Any], ...]], ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    @classmethod
    def of(cls, tape: Tape, inputs: Sequence[int], outputs: Sequence[int]) -> LinearProgram:
        """The program of ``tape``'s records that ``outputs`` depend on, with every partial computed now."""
        needed, partly = needed_by(tape, outputs)
        if partly:
            # Under vmap a where/maximum/clip record may need a side for some examples only;
            # partials computed at the other examples could fail where the loop never looks.
            raise NotImplementedError(
                "linearize: a branching record (where, maximum, clip, ...) chooses differently across the examples of a batch;"
                " use tg.jvp under vmap, which follows each example's choice"
            )
        input_id = input_p.id
        rows: list[tuple[int, tuple[tuple[int, Any], ...]]] = []
        jacobians: dict[int, list[list[Any]]] = {}
        for i, op in enumerate(tape._ops):
            if op == input_id or not needed[i] or op in CALL_IDS:
                continue
            if op == OUTPUT_P.id:
                # A checkpointed call hands tangents from its call record to its outputs as a
                # whole, not argument by argument: its outputs read the traced leaves directly here.
                rows.append((i, output_entries(tape, i, jacobians)))
                continue
            refs = tape.refs(i)
            args = [tape._value(r) for r in refs]
            rules = tangent_functions(op)
            entries: list[tuple[int, Any]] = []
            for k, r in enumerate(refs):
                rule = rules[0] if op in VARIADIC_IDS else rules[k]
                if r < 0 or rule is None:
                    continue
                try:
                    # Rules are linear in their first argument: at 1.0 they give the partial.
                    p = checked(apply_rule(rule, 1.0, tape._vals[i], args, op, k), op, k)
                except Exception as exc:  # kept, and raised only if a tangent needs it
                    p = _Failed(in_record(exc, tape, i, "tangent"))
                if p is not None:
                    entries.append((r, p))
            if entries:
                rows.append((i, tuple(entries)))
        return cls(len(tape._ops), tuple(rows), tuple(inputs), tuple(outputs))

    def apply(self, seeds: dict[int, Any]) -> list[Any]:
        """The tangent of every output given tangents at input records (None: a structural zero)."""
        tan: list[Any] = [None] * self.size
        for i, t in seeds.items():
            if not (t.__class__ is float and t == 0.0):  # a plain 0.0 sends nothing, as in forward_sweep
                tan[i] = t
        for i, entries in self.rows:
            acc: Any = None
            for r, p in entries:
                t = tan[r]
                if t is None:
                    continue
                if p.__class__ is _Failed:
                    raise p.error
                c = t * p
                acc = c if acc is None else acc + c
            tan[i] = acc
        return [tan[o] if o >= 0 else None for o in self.outputs]

    def magnitudes(self, seeds: dict[int, float]) -> list[float]:
        """:meth:`apply` with every partial and seed replaced by its absolute value (plain floats only).

        Each output's result is the sum, over every path from an input to
        it, of the absolute value of the product of the partials along the
        path times the input's seed: an upper bound on every term that a
        forward or a reverse sweep adds up to get that derivative.
        """
        tan = [0.0] * self.size
        for i, t in seeds.items():
            tan[i] = abs(float(t))
        for i, entries in self.rows:
            acc = 0.0
            for r, p in entries:
                if tan[r] == 0.0:
                    continue  # nothing reaches this partial (a rule that failed here is never used)
                if p.__class__ is _Failed:
                    return [float("inf")] * len(self.outputs)
                acc += abs(float(p)) * tan[r]
            tan[i] = acc
        return [tan[o] if o >= 0 else 0.0 for o in self.outputs]


def linearize(f: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """Run ``f(*primals)`` once and return ``(out, f_jvp)``, as JAX's ``linearize``.

    ``f_jvp(*tangents)``, with one tangent tree per primal shaped like it,
    returns the directional derivative of ``f`` at ``primals`` along the
    tangents, shaped like ``out``: the same as ``tg.jvp(f, primals,
    tangents)[1]``. The partial derivatives of every record are computed
    once, here; ``f_jvp`` only multiplies and adds them, so it can be called
    any number of times without running ``f`` or any of its primitives again.
    """
    nums, _ = _optional_argnums(None, len(primals), "linearize")
    tape, inputs, refs, out_treedef, out_value, _ = _trace_all(f, primals, nums, False, "linearize")
    flat_inputs = [i for idx in inputs.indices for i in idx]
    program = LinearProgram.of(tape, flat_inputs, refs)
    treedefs: list[TreeDef] = list(inputs.treedefs)
    indices = [list(idx) for idx in inputs.indices]
    name = _fname(f)
    del tape, inputs  # the partials are all f_jvp needs

    def f_jvp(*tangents: Any) -> Any:
        if len(tangents) != len(treedefs):
            raise TypeError(f"f_jvp of linearize({name}): expected {len(treedefs)} tangent(s), one per primal, got {len(tangents)}")
        seeds: dict[int, Any] = {}
        for k, (treedef, idx, tangent) in enumerate(zip(treedefs, indices, tangents)):
            leaves, ttreedef, _ = flatten(tangent, f"tangents[{k}]", with_paths=False)
            if ttreedef != treedef:
                raise ValueError(f"f_jvp of linearize({name}): tangents[{k}] has shape {ttreedef}, but primals[{k}] has shape {treedef}")
            seeds.update(zip(idx, leaves))
        out_tan = program.apply(seeds)
        return unflatten(out_treedef, [0.0 if t is None else t for t in out_tan])

    f_jvp.__name__ = f_jvp.__qualname__ = f"linearize({name})"
    return out_value, f_jvp


def magnitude_program(f: Callable[..., Any], args: Sequence[Any]) -> tuple[LinearProgram, Optional[TreeDef]]:
    """The linear program of ``f`` at ``args`` (every argument traced), for bounds on rounding."""
    nums = tuple(range(len(args)))
    tape, inputs, refs, out_treedef, _, _ = _trace_all(f, args, nums, False, "check_grads")
    return LinearProgram.of(tape, [i for idx in inputs.indices for i in idx], refs), out_treedef
