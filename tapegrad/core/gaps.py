"""Gapped batches: an adjoint or tangent that reaches only some examples of a batch.

Layer 1 of tapegrad (``tapegrad/core``); it imports only
:mod:`tapegrad.core.batch` and :mod:`tapegrad.core.primitive`.

In the loop over examples, ``where(c, a, b)`` sends its cotangent to the
value it chose and nothing at all to the other: the records only the
unchosen value reads are never swept, so a nan or a division by zero there
cannot reach the gradient. Under vmap one record serves every example, so
the adjoint that reaches it may be present for some examples and absent
(the loop's ``None``) for others. A :class:`ListGaps` or :class:`ArrayGaps`
says which: ``present[k]`` is true where the adjoint exists, and ``data``
holds 0.0 elsewhere, so that code which ignores the gaps (a sum over the
batch, the values given back to the caller) sees the loop's zeros.

Every operation on a gapped batch runs only on the present examples, as the
loop would: a product or a primitive is computed on those and is absent
where any gapped operand is, and a sum (adjoints accumulating) is present
where either operand is, taking the present one unchanged. An error names
the example by its place in the whole batch.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional, Sequence

from tapegrad.core import batch as _batch
from tapegrad.core.batch import ArrayBatch, Batch, BoolBatch, ListBatch, batch_size
from tapegrad.core.primitive import BUILTIN_NAMED, Primitive


class ListGaps(ListBatch):
    """A Python-list batch present only where ``present[k]`` is true (0.0 elsewhere)."""

    __slots__ = ("present",)
    gapped = True

    def __init__(self, data: list[float], present: list[bool]) -> None:
        self.data = data
        self.present = present

    def _binary(self, op: str, other: Any, reflected: bool) -> Any:
        return _binary(op, self, other, reflected)

    def __abs__(self) -> Batch:
        return ListGaps([abs(v) for v in self.data], self.present)

    def on_present(self, prim: Primitive, args: Sequence[Any]) -> Batch:
        """``prim`` applied to ``args`` (this batch among them) on the present examples only."""
        return evaluate_gapped(prim, args)

    def __repr__(self) -> str:
        shown = ", ".join(f"{v:.6g}" if p else "-" for v, p in zip(self.data[:6], self.present))
        return f"ListGaps([{shown}{', ...' if len(self.data) > 6 else ''}], {sum(self.present)} of {len(self.data)} examples)"


class ArrayGaps(ArrayBatch):
    """A NumPy batch present only where the boolean array ``present`` is true (0.0 elsewhere)."""

    __slots__ = ("present",)
    gapped = True

    def __init__(self, data: Any, present: Any) -> None:
        self.data = data
        self.present = present

    def _binary(self, op: str, other: Any, reflected: bool) -> Any:
        return _binary(op, self, other, reflected)

    def __abs__(self) -> Batch:
        np = _batch._load_numpy()
        return ArrayGaps(np.abs(self.data), self.present)

    def on_present(self, prim: Primitive, args: Sequence[Any]) -> Batch:
        """``prim`` applied to ``args`` (this batch among them) on the present examples only."""
        return evaluate_gapped(prim, args)

    def __repr__(self) -> str:
        shown = ", ".join(f"{v:.6g}" if p else "-" for v, p in zip(self.data[:6].tolist(), self.present[:6].tolist()))
        return f"ArrayGaps([{shown}{', ...' if len(self.data) > 6 else ''}], {int(self.present.sum())} of {len(self.data)} examples)"


GAPPED_CLASSES = frozenset([ListGaps, ArrayGaps])


def with_gaps(values: Sequence[Optional[float]], backend: str) -> Optional[Batch]:
    """A batch of ``values`` where None means "absent for this example"; None if every one is absent."""
    present = [v is not None for v in values]
    if not any(present):
        return None
    data = [0.0 if v is None else float(v) for v in values]
    return _make(data, present, backend)


def _make(data: list[float], present: list[bool], backend: str) -> Batch:
    """A gapped batch of ``data`` (a plain one if every example is present)."""
    if backend == "numpy":
        np = _batch._load_numpy()
        arr = np.asarray(data, dtype=float)
        return ArrayBatch(arr) if all(present) else ArrayGaps(arr, np.asarray(present, dtype=bool))
    return ListBatch(data) if all(present) else ListGaps(data, present)


def _present(x: Any, n: int) -> list[bool]:
    """Which examples ``x`` is present for, as a list (a plain batch or a number is present everywhere)."""
    if isinstance(x, ListGaps):
        return x.present
    if isinstance(x, ArrayGaps):
        return [bool(p) for p in x.present.tolist()]
    return [True] * n


def present_of(x: Batch) -> list[bool]:
    """Which examples a batch is present for (every one, for a batch without gaps)."""
    return list(_present(x, len(x)))


def _column(x: Any, n: int) -> list[Any]:
    if isinstance(x, BoolBatch):
        x = x.mask
    return x.values() if isinstance(x, Batch) else [x] * n


_EXAMPLE = re.compile(r"example (\d+) of the batch")


def renumbered(exc: BaseException, where: Sequence[int]) -> BaseException:
    """The error of a computation on the examples ``where``, naming its example by its place in the whole batch."""
    text = _EXAMPLE.sub(lambda m: f"example {where[int(m.group(1))]} of the batch", str(exc), count=1)
    try:
        return type(exc)(text)
    except TypeError:  # an exception type that does not take one message
        return ValueError(text)


def _on_present(args: Sequence[Any], compute: Callable[[list[Any]], Any]) -> Batch:
    """``compute`` on the examples every gapped argument is present for; absent (0.0) elsewhere."""
    n, kind = batch_size(args)
    present = [all(ps) for ps in zip(*(_present(a, n) for a in args))]
    where = [k for k, p in enumerate(present) if p]
    data = [0.0] * n
    if where:
        compact = [_batch.batch_of([col[k] for k in where], kind.backend) if isinstance(a, (Batch, BoolBatch)) else a for a, col in ((a, _column(a, n)) for a in args)]
        try:
            out = compute(compact)
        except Exception as exc:
            raise renumbered(exc, where) from None
        if isinstance(out, BoolBatch):
            out = out.mask
        values = out.values() if isinstance(out, Batch) else [float(out)] * len(where)
        inner = _present(out, len(where))
        for j, k in enumerate(where):
            data[k] = values[j]
            present[k] = inner[j]
    return _make(data, present, kind.backend)


def _union(op: str, a: Any, b: Any, n: int, backend: str) -> Batch:
    """``a + b`` or ``a - b`` where a missing operand is no term at all: present where either is."""
    pa, pb = _present(a, n), _present(b, n)
    va, vb = _column(a, n), _column(b, n)
    data: list[float] = []
    for x, y, p, q in zip(va, vb, pa, pb):
        if p and q:
            data.append(x + y if op == "+" else x - y)
        elif p:
            data.append(x)
        elif q:
            data.append(y if op == "+" else -y)
        else:
            data.append(0.0)
    return _make(data, [p or q for p, q in zip(pa, pb)], backend)


def _binary(op: str, gapped: Batch, other: Any, reflected: bool) -> Any:
    """``gapped op other`` (or ``other op gapped``), on the present examples."""
    if not isinstance(other, (Batch, int, float)) or isinstance(other, bool):
        return NotImplemented
    x, y = (other, gapped) if reflected else (gapped, other)
    n, kind = batch_size([x, y])
    if op in ("+", "-"):
        return _union(op, x, y, n, kind.backend)
    if op in _batch.COMPARE_OPS:  # (an adjoint is never compared; the zeros stand in for the gaps)
        dense = _batch.batch_of(gapped.values(), gapped.backend)
        return _batch.COMPARE_OPS[op](dense if x is gapped else x, dense if y is gapped else y)
    return _on_present([x, y], lambda xy: _batch._OPS[op](xy[0], xy[1]))


def evaluate_gapped(prim: Primitive, args: Sequence[Any]) -> Batch:
    """``prim`` on arguments among which a gapped batch: an add is a union, anything else runs on the present examples."""
    if prim is BUILTIN_NAMED.get("add"):
        n, kind = batch_size(args)
        return _union("+", args[0], args[1], n, kind.backend)
    return _on_present(args, lambda compact: _batch.evaluate_batch(prim, compact))


def per_example(fn: Callable[..., Any], values: Sequence[Any]) -> Optional[Batch]:
    """``fn`` run on floats, example by example, over ``values`` (some of them batches).

    Only the examples every gapped value is present for are run; a None
    result means nothing for that example (the batch is absent there), and
    None is returned if that is every example. An error names the example.

    ``fn`` is a derivative rule here, and a result of exactly 0.0 is absent
    too: the loop over examples skips an adjoint of 0.0 (a flat tape's
    sweep does), so ``maximum(sqrt(x), 1.0)`` at x = 0 sends nothing on to
    sqrt's rule, which would divide by zero.
    """
    values = [v.mask if isinstance(v, BoolBatch) else v for v in values]
    n, kind = batch_size(values)
    present = [all(ps) for ps in zip(*(_present(v, n) for v in values))]
    columns = [_column(v, n) for v in values]
    out: list[Optional[float]] = [None] * n
    for k, example in enumerate(zip(*columns)):
        if present[k]:
            try:
                v = fn(*example)
            except Exception as exc:
                raise _batch._at_example(exc, k, "") from None
            out[k] = None if v == 0.0 else v
    return with_gaps(out, kind.backend)


def absent_like(values: Sequence[Any]) -> Batch:
    """A batch of the size and back end of the batches among ``values``, absent for every example."""
    n, kind = batch_size([v.mask if isinstance(v, BoolBatch) else v for v in values])
    return _make([0.0] * n, [False] * n, kind.backend)


def gathered(values: Sequence[Any], g: Batch) -> tuple[list[int], list[Any]]:
    """The examples ``g`` is present for, and each of ``values`` restricted to them (numbers stay numbers)."""
    n, kind = batch_size(values)
    where = [k for k, p in enumerate(_present(g, n)) if p]
    out = []
    for v in values:
        if isinstance(v, (Batch, BoolBatch)):
            col = _column(v, n)
            out.append(_batch.batch_of([col[k] for k in where], kind.backend))
        else:
            out.append(v)
    return where, out


def scattered(out: Any, where: Sequence[int], n: int, backend: str) -> Optional[Batch]:
    """A result computed on the examples ``where``, put back in a batch of ``n`` that is absent elsewhere."""
    if out is None:
        return None
    values = out.values() if isinstance(out, Batch) else [float(out)] * len(where)
    inner = _present(out, len(where))
    full: list[Optional[float]] = [None] * n
    for j, k in enumerate(where):
        full[k] = values[j] if inner[j] else None
    return with_gaps(full, backend)


def restricted(t: Any, mask: Sequence[bool], like: Any) -> Any:
    """Tangent ``t`` present only for the examples of ``mask`` (a number is spread over ``like``'s examples).

    A value traced by an outer transform is returned as it is: its examples
    cannot be told apart here.
    """
    if isinstance(t, Batch):
        n = len(t)
        keep = [p and m for p, m in zip(_present(t, n), mask)]
        if all(keep):
            return t
        return _make([v if k else 0.0 for v, k in zip(_column(t, n), keep)], keep, t.backend)  # 0.0 in the gaps
    if isinstance(t, (int, float)) and isinstance(like, Batch):
        return _make([float(t) if m else 0.0 for m in mask], list(mask), like.backend)
    return t
