"""The Wengert tape: an append-only list of records, one per operation.

Layer 1 of tapegrad (``tapegrad/core``). It knows primitives and records,
and nothing about traced values' arithmetic, printing styles or graphs.

A record says which primitive ran, on which inputs, and what it produced. The
record for the operation that produced variable ``v5`` sits at position 5, so
the output reference of a record is its index and the list is already in
evaluation order: the reverse sweep simply walks it backwards.

Internally the tape is a structure of arrays: record ``i`` is
``ops[i]`` (the primitive's id), ``lhs[i]`` and ``rhs[i]`` (its first two
arguments; records with more arguments, and every record of a variadic
primitive such as ``sum``, keep all of them in ``wide[i]``) and
``vals[i]`` (its value). These lists hold only ints and floats, which the
cyclic garbage collector does not track, so a long tape creates no work for
it: in micrograd, collections of the per-node objects take most of the run
time. (A tuple per record would be tracked when created and cost about a
quarter of the eager run time in collections.) A reference ``r >= 0`` names
record ``r``; a reference ``r < 0`` names the constant ``consts[~r]``, so a
constant costs no record and never receives an adjoint. The public view,
:attr:`Tape.records`, turns all this into frozen :class:`Record` objects.

Tapes nest. Each open tape has an ``order`` drawn from a process-wide
counter; an operation whose operands belong to several tapes is recorded on
the one opened last (the innermost), and the operands from outer tapes are
constants there. Because the values stored on an inner tape may themselves
be traced by an outer tape, running the inner reverse sweep with tapegrad's
own operations records the derivative computation on the outer tape: that is
how grad of grad works, without levels ever being confused.
"""

from __future__ import annotations

import gc
import itertools
import sys
import threading
from typing import Any, Iterator, Optional, Union

from tapegrad.core.batch import Batch, BoolBatch, in_vmap
from tapegrad.core.primitive import PRIMITIVES, VARIADIC
from tapegrad.core.records import Arg, Guard, Lit, Record, Var, format_trace
from tapegrad.core.rule_table import input_p

# ``next()`` on itertools.count is atomic under the GIL, so tapes opened in
# different threads still get distinct orders.
_ORDER = itertools.count(1)


class _OpenTapes(threading.local):
    """The stack of tapes open in the current thread (innermost last)."""

    def __init__(self) -> None:
        self.stack: list[Tape] = []


_OPEN = _OpenTapes()


# The record lists of tapes that have died, for new tapes to reuse. Python's
# collector scans its youngest generation whenever 700 more container
# objects have been created than freed; a network's forward pass does that
# about once per step, and brand-new lists are young, so that collection would
# walk every entry of the tape so far (several milliseconds, an eighth of an
# eager step at 100 points). A reused list has usually survived a collection
# and sits in an older generation, which is scanned ten times less often.
_SPARE_LISTS: list[tuple[list[int], list[int], list[int], list[Any]]] = []
# Reference counts say when nobody else holds a list. Interpreters without
# them (PyPy has no getrefcount, and a moving collector besides) never reuse.
_refcount: Any = getattr(sys, "getrefcount", None)


class _Holder:
    __slots__ = ("held",)
    held: list[Any]


def _unshared_count() -> Optional[int]:
    """What getrefcount reports in Tape.__del__ for a list that only the tape holds.

    Measured rather than assumed, because how many references the
    interpreter's own calls add differs between CPython versions. It takes
    the same steps as __del__: read a slot into a local name, count it.
    """
    if _refcount is None:
        return None
    holder = _Holder()
    holder.held = []
    held = holder.held
    return int(_refcount(held))


_UNSHARED = _unshared_count()


class TapeClosedError(RuntimeError):
    """A traced value was used after the tape that recorded it had closed."""


class Handle:
    """What a tape hands out for one of its records: the tape, the record's index, its value.

    :class:`tapegrad.core.traced.Traced` adds arithmetic to it. The tape
    only needs to know that a value stored on it may itself be a handle of
    an outer tape (nested differentiation), so that :func:`primal_of` can
    find the number underneath.
    """

    __slots__ = ("_t", "_i", "_v")

    _t: Tape
    _i: int
    _v: Any


def primal_of(value: object) -> float:
    """The plain float under any number of levels of tracing.

    Under vmap a value may hold a whole batch; then that batch is returned
    (see :func:`value_of`, which says so in its type).
    """
    while isinstance(value, Handle):
        value = value._v
    if isinstance(value, (Batch, BoolBatch)):
        return value  # type: ignore[return-value]
    return float(value)  # type: ignore[arg-type]


def value_of(value: object) -> Union[float, Batch]:
    """The number, or the batch of numbers, under any number of levels of tracing."""
    while isinstance(value, Handle):
        value = value._v
    if isinstance(value, BoolBatch):
        return value.mask
    if isinstance(value, Batch):
        return value
    return float(value)  # type: ignore[arg-type]


def _unfrozen(value: object, tape: Tape) -> object:
    """``value``, unless a jit tape that is still open traced it: then reading its number raises.

    A tape nested under jit (the grad tape in ``jit(grad(f))``) holds values
    traced by the jit tape; their numbers are the trace's, and a replay
    would not update them.
    """
    v = value
    while isinstance(v, Handle):
        owner = v._t
        if owner.jit and owner._state == "open":
            raise TypeError(
                f"the values of {tape.name} are traced by {owner.name}, which is open: reading them "
                "inside the jitted function would freeze their numbers into every replay"
            )
        v = v._v
    return value


class Tape:
    """An explicit Wengert tape. Use it as a context manager.

    Entering makes it the innermost open tape of this thread; leaving
    restores the previous one (also when the body raises) and closes the
    tape for good: its records stay readable, but a traced value from it can
    no longer take part in new operations.
    """

    __slots__ = (
        "_ops",
        "_lhs",
        "_rhs",
        "_wide",
        "_vals",
        "_consts",
        "_live",
        "_labels",
        "_names",
        "_groups",
        "_inputs",
        "_outputs",
        "_guards",
        "_state",
        "_view",
        "_flat",
        "order",
        "in_vmap",
        "jit",
        "name",
        "__weakref__",
    )

    def __init__(self, *, jit: bool = False, name: str = "tape") -> None:
        self._ops: list[int]
        self._lhs: list[int]
        self._rhs: list[int]
        self._vals: list[Any]
        try:
            self._ops, self._lhs, self._rhs, self._vals = _SPARE_LISTS.pop()
        except IndexError:  # none to reuse
            self._ops, self._lhs, self._rhs, self._vals = [], [], [], []
        self._wide: dict[int, tuple[int, ...]] = {}
        self._consts: list[Any] = []
        # ``_live`` is the ops list while the tape is open and None
        # otherwise, so the hot path checks "open?" and finds where to
        # append with a single attribute load.
        self._live: Optional[list[int]] = None
        self._labels: dict[int, str] = {}
        # Names people gave records (tapegrad.name) and named ranges of
        # records (tapegrad.name_scope): side tables read only by the views.
        # Nothing that computes (sweeps, jit programs, vmap) looks at them,
        # so naming cannot change a number or a replay.
        self._names: dict[int, str] = {}
        self._groups: list[tuple[str, int, int]] = []
        self._inputs: list[int] = []
        self._outputs: list[int] = []
        self._guards: list[tuple[str, int, int, bool]] = []
        self._state = "new"
        self._view: Optional[tuple[Record, ...]] = None
        # True while every value and constant on the tape is a plain number
        # (no outer tape is tracing them); the reverse sweep then takes a
        # float-only loop. See ``flat``.
        self._flat = True
        self.order = 0
        # True if opened while a vmapped function runs: then the tape follows
        # one example, and its batched adjoints are per example (vmap of grad).
        # A tape opened outside sums them at its inputs (grad of vmap): that
        # sum is the transpose of vmap's broadcasting of unbatched values.
        self.in_vmap = False
        self.jit = jit
        self.name = name

    def __del__(
        self,
        _spare: list[Any] = _SPARE_LISTS,
        _count: Any = _refcount,
        _unshared: Optional[int] = _UNSHARED,
        _finalized: Any = gc.is_finalized,
    ) -> None:
        # Hand the four record lists on to the next tape (see _SPARE_LISTS),
        # unless something else still holds one of them. The defaults bind
        # what this needs now, so it still works while the interpreter shuts
        # down and module globals are being cleared.
        if _unshared is None or _finalized(self):
            # No reference counts; or the cycle collector is finalizing a
            # cycle the tape is part of, and other finalizers in it may still
            # read (or even keep) the tape: leave its lists alone.
            return
        ops, lhs, rhs, vals = self._ops, self._lhs, self._rhs, self._vals
        if (
            len(_spare) < 8
            and _count(ops) == _unshared
            and _count(lhs) == _unshared
            and _count(rhs) == _unshared
            and _count(vals) == _unshared
        ):
            ops.clear()
            lhs.clear()
            rhs.clear()
            vals.clear()
            _spare.append((ops, lhs, rhs, vals))

    # -- context management -------------------------------------------------

    def __enter__(self) -> Tape:
        if self._state != "new":
            raise RuntimeError(f"{self.name} was already {self._state}; a Tape can be entered only once")
        self.order = next(_ORDER)
        self._state = "open"
        # Under another open tape, values here may be traced by it.
        self._flat = not _OPEN.stack
        self.in_vmap = in_vmap()
        self._live = self._ops
        _OPEN.stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the tape and pop it off this thread's stack of open tapes."""
        if self._state != "open":
            return
        self._state = "closed"
        self._live = None
        stack = _OPEN.stack
        # Normally the tape is the innermost one; if a user closed tapes out
        # of order, remove it wherever it is rather than corrupting the stack.
        if stack and stack[-1] is self:
            stack.pop()
        elif self in stack:
            stack.remove(self)

    @property
    def flat(self) -> bool:
        """True if every value and constant on the tape is a plain number.

        A tape opened inside another (grad of grad), or holding a value that
        another tape traces, is not flat: its reverse sweep must run with
        tapegrad's operations so that the outer tape records it.
        """
        return self._flat

    @property
    def closed(self) -> bool:
        """True once the tape has been exited."""
        return self._state == "closed"

    # -- recording -----------------------------------------------------------

    def add_input(self, value: Any, label: Optional[str] = None) -> int:
        """Record a new independent variable with the given value; return its index.

        :meth:`tapegrad.Traced.input` wraps this and returns the traced scalar.
        """
        if self._live is None:
            raise TapeClosedError(f"cannot add an input to {self.name}: it is {self._state}, not open")
        index = self.append(INPUT_ID, (), value)
        self._inputs.append(index)
        if label is not None:
            self._labels[index] = label
        return index

    def append(self, prim_id: int, refs: tuple[int, ...], value: Any) -> int:
        """Append one record and return its index (the tape must be open)."""
        if self._live is None:
            raise TapeClosedError(f"cannot record on {self.name}: it is {self._state}, not open")
        index = len(self._ops)
        self._ops.append(prim_id)
        n = len(refs)
        self._lhs.append(refs[0] if n > 0 else 0)
        self._rhs.append(refs[1] if n > 1 else 0)
        if n > 2 or PRIMITIVES[prim_id].arity == VARIADIC:
            # A variadic record keeps its refs here even when it has one or
            # two, because its arity does not say how many there are.
            self._wide[index] = refs
        self._vals.append(value)
        if not isinstance(value, (float, int)):
            self._flat = False
        return index

    def refs(self, index: int) -> tuple[int, ...]:
        """The argument references of record ``index``."""
        arity = PRIMITIVES[self._ops[index]].arity
        if arity > 2 or arity < 0:  # more than two, or variadic
            return self._wide[index]
        return (self._lhs[index], self._rhs[index])[:arity]

    def const_ref(self, value: Any) -> int:
        """Store a constant operand and return its (negative) reference."""
        ref = ~len(self._consts)
        self._consts.append(value)
        if not isinstance(value, (float, int)):
            self._flat = False
        return ref

    def value_of(self, ref: int) -> Any:
        """The value behind a reference: a record's output or a constant.

        On an open jit tape the values are the trace's numbers, which a
        replay would not update: reading one raises, as reading its records does.
        """
        if self.jit and self._state == "open":
            raise TypeError(
                f"{self.name} is open: reading a value of it inside the jitted function would freeze "
                "that number into every replay; compute with the traced value instead"
            )
        return self._vals[ref] if ref >= 0 else self._consts[~ref]

    def _value(self, ref: int) -> Any:
        """``value_of`` for the interpreters: the stored value, which may itself be traced."""
        return self._vals[ref] if ref >= 0 else self._consts[~ref]

    def set_name(self, index: int, name: str) -> None:
        """Give record ``index`` a name for the views (see :func:`tapegrad.name`); the tape must be open."""
        if self._live is None:
            raise TapeClosedError(f"cannot name v{index} of {self.name}: it is {self._state}, not open")
        self._names[index] = name

    def add_group(self, name: str, start: int, stop: int) -> None:
        """Remember that records ``start`` to ``stop - 1`` were recorded under the scope ``name``."""
        if stop > start:
            self._groups.append((name, start, stop))

    @property
    def groups(self) -> tuple[tuple[str, int, int], ...]:
        """The named scopes as ``(name, start, stop)``: records ``start <= i < stop``, innermost scopes first."""
        return tuple(self._groups)

    def set_outputs(self, refs: list[int]) -> None:
        """Mark which references are the traced function's outputs."""
        self._outputs = list(refs)

    def add_guard(self, op: str, a: int, b: int, outcome: bool) -> None:
        """Remember that comparing refs ``a`` and ``b`` with ``op`` gave ``outcome``."""
        self._guards.append((op, a, b, outcome))

    # -- the public, immutable view -------------------------------------------

    def _arg(self, ref: int) -> Arg:
        return Var(ref) if ref >= 0 else Lit(primal_of(_unfrozen(self._consts[~ref], self)))

    @property
    def records(self) -> tuple[Record, ...]:
        """Every record, in evaluation order, as frozen attrs instances.

        Built on demand from the internal arrays; once the tape is closed it
        can no longer change, so the tuple is built once and kept.
        """
        if self._view is not None:
            return self._view
        if self.jit and self._state == "open":
            raise TypeError(
                f"{self.name} is open: reading its records inside the jitted function would freeze "
                "their numbers into every replay"
            )
        view = tuple(
            Record(
                index=i,
                primitive=PRIMITIVES[op],
                args=tuple(self._arg(r) for r in self.refs(i)),
                value=value_of(_unfrozen(self._vals[i], self)),
                label=self._labels.get(i),
                name=self._names.get(i),
            )
            for i, op in enumerate(self._ops)
        )
        if self._state == "closed":
            self._view = view
        return view

    @property
    def inputs(self) -> tuple[int, ...]:
        """Indices of the input records, in the order they were created."""
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[Arg, ...]:
        """The traced function's outputs: variables, or constants if it ignored its inputs."""
        return tuple(self._arg(r) for r in self._outputs)

    @property
    def guards(self) -> tuple[Guard, ...]:
        """Comparisons recorded under jit (empty for ordinary tapes)."""
        return tuple(Guard(op, (self._arg(a), self._arg(b)), out) for op, a, b, out in self._guards)

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __str__(self) -> str:
        return format_trace(self.name, len(self._inputs), self.records, self.guards, self.outputs)

    def __repr__(self) -> str:
        return f"<Tape {self.name!r} {self._state}: {len(self._ops)} records, {len(self._inputs)} inputs>"


def open_tapes() -> tuple[Tape, ...]:
    """Every tape open in this thread, outermost first."""
    return tuple(_OPEN.stack)


def current_tape() -> Optional[Tape]:
    """The innermost tape open in this thread, or None."""
    stack = _OPEN.stack
    return stack[-1] if stack else None


INPUT_ID = input_p.id

