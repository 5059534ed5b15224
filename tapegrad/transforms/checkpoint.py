"""checkpoint: keep a function's records off the tape, and recompute them in the reverse sweep.

Layer 4 of tapegrad (``tapegrad/transforms``).

``tg.checkpoint(f)`` behaves like ``f``. Called on values that a tape
traces, it runs ``f`` on the numbers underneath, so that nothing of ``f``
is recorded there, and puts on the tape one *call* record, reading every
traced leaf of the arguments, followed by one *output* record per leaf of
``f``'s result. A block of a thousand records then costs the tape
``1 + outputs`` of them (plus the inputs' records it shares with the rest).
When the reverse sweep reaches the block, the call record's rule runs
``f`` again, on a tape of its own, and pulls all of the block's output
cotangents back through it at once: the memory of the block's records is
held only while that one block is swept (JAX's ``jax.checkpoint``, or
"rematerialization").

How the records cooperate within the one-scalar-per-record sweeps: every
output record reads the call record, and its rule hands its cotangent to
the state of the call (a float subclass stored as a constant, so the tape
stays a tape of numbers) and sends a placeholder 1.0 back to the call
record. Every output record sits after the call record, and nothing else
reads the call record, so by the time the sweep reaches it each output's
cotangent is final; its rule then runs one vjp of ``f`` with all of them.
The forward sweep works the same way in the other direction: the call
record's rules collect the tangents of the inputs, and the first output
record to be swept runs one jvp of ``f``. (The placeholder is what a
Wengert table shows as the call record's adjoint and tangent.) Since the
rules recompute with tapegrad's own operations, checkpointing works under
grad of grad, in forward mode and under jit, which records the
recomputation on its own tape like any other derivative computation.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence, TypeVar

from tapegrad.core.primitive import Primitive, register, set_jvp_rules, set_rules
from tapegrad.core.tape import Tape
from tapegrad.core.traced import Traced, closed_error, holds_batch, make_traced
from tapegrad.core.tree import TreeDef, flatten, unflatten
from tapegrad.transforms.arguments import _fname
from tapegrad.transforms.grad import jacobian, jvp, vjp

F = TypeVar("F", bound=Callable[..., Any])


class _Call(float):
    """One checkpointed call: a float (its number of outputs) that carries what the rules need.

    ``moving`` are the values of the traced leaves (what the tape stores for
    them); :meth:`function` puts them back into the arguments of ``f``. The
    stashes hold the cotangents (or tangents) that one sweep has handed over
    so far, and the caches what the recomputation gave, until the next
    sweep starts.
    """

    __slots__ = ("fn", "kwargs", "args", "paths", "moving", "n_out", "cotangents", "adjoints", "tangents", "out_tangents", "last_out", "last_in")

    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    args: list[Any]  # the arguments, each tree that holds traced leaves as a _Held
    paths: list[tuple[int, int]]  # (argument, leaf) of each traced leaf
    moving: tuple[Any, ...]
    n_out: int
    cotangents: Optional[dict[int, Any]]
    adjoints: Optional[Sequence[Any]]
    tangents: Optional[dict[int, Any]]
    out_tangents: Optional[Sequence[Any]]
    last_out: int  # the output whose cotangent was handed in last
    last_in: int  # the input whose tangent was handed in last

    def __new__(cls, n_out: int) -> _Call:
        self = super().__new__(cls, float(n_out))
        self.n_out = n_out
        self.cotangents = self.adjoints = self.tangents = self.out_tangents = None
        self.last_out = self.last_in = 0
        return self

    def arguments(self, moving: Sequence[Any]) -> list[Any]:
        """The arguments of ``f``, with ``moving`` in place of the traced leaves."""
        return _arguments(self.args, self.paths, moving)

    def function(self) -> Callable[..., list[Any]]:
        """``f`` as a function of the traced leaves alone, returning its output's leaves."""

        def flat(*moving: Any) -> list[Any]:
            return _leaves(self.fn(*self.arguments(moving), **self.kwargs), self.fn)[0]

        return flat

    # -- reverse: the output records hand in cotangents, the call record pulls them back at once --

    def give_cotangent(self, k: int, g: Any) -> float:
        # One sweep visits the output records last first, each once; an output
        # at or after the last one seen means a new sweep (also after one that raised).
        if self.adjoints is not None or self.cotangents is None or k >= self.last_out:
            self.adjoints, self.cotangents = None, {}
        self.cotangents[k] = g
        self.last_out = k
        return 1.0  # a placeholder, so that the sweep reaches the call record

    def adjoint(self, j: int) -> Any:
        if self.adjoints is None:
            stash = self.cotangents or {}
            cts = [stash.get(k, 0.0) for k in range(self.n_out)]
            self.adjoints = vjp(self.function(), *self.moving)[1](cts)
            self.cotangents = None
        return self.adjoints[j]

    # -- forward: the call record collects tangents, the first output record pushes them through --

    def give_tangent(self, j: int, t: Any) -> float:
        # The forward sweep hands in the call's inputs first to last, each once.
        if self.out_tangents is not None or self.tangents is None or j <= self.last_in:
            self.out_tangents, self.tangents = None, {}
        self.tangents[j] = t
        self.last_in = j
        return 1.0

    def tangent(self, k: int) -> Any:
        if self.out_tangents is None:
            stash = self.tangents or {}
            ts = tuple(stash.get(j, 0.0) for j in range(len(self.moving)))
            self.out_tangents = jvp(self.function(), self.moving, ts)[1]
            self.tangents = None
        return self.out_tangents[k]

    def jacobian(self) -> list[list[Any]]:
        """d output k / d traced leaf j, by rows (for :class:`tapegrad.transforms.linearize.LinearProgram`)."""
        flat = self.function()
        rows: list[list[Any]] = jacobian(lambda xs: flat(*xs))(list(self.moving))
        return rows


class _Held:
    """An argument that holds traced leaves: its shape and its leaves (traced or not)."""

    __slots__ = ("treedef", "leaves")

    def __init__(self, treedef: TreeDef, leaves: list[Any]) -> None:
        self.treedef, self.leaves = treedef, leaves


class _Output(float):
    """The constant of output record ``k`` of a call: the float k, and the call it belongs to."""

    __slots__ = ("call", "k")

    call: _Call
    k: int

    def __new__(cls, call: _Call, k: int) -> _Output:
        self = super().__new__(cls, float(k))
        self.call, self.k = call, k
        return self


def _arguments(held: Sequence[Any], paths: Sequence[tuple[int, int]], moving: Sequence[Any]) -> list[Any]:
    """The arguments ``held`` stands for, with ``moving`` at ``paths`` (argument, leaf)."""
    leaves = {n: list(a.leaves) for n, a in enumerate(held) if isinstance(a, _Held)}
    for (n, k), value in zip(paths, moving):
        leaves[n][k] = value
    return [unflatten(a.treedef, leaves[n]) if isinstance(a, _Held) else a for n, a in enumerate(held)]


def _leaves(out: Any, fn: Callable[..., Any]) -> tuple[list[Any], TreeDef]:
    try:
        lv, td, _ = flatten(out, "output", allow=holds_batch, with_paths=False)
        return lv, td
    except TypeError as exc:
        raise TypeError(f"checkpoint({_fname(fn)}): the function must return a scalar or a tree of scalars: {exc}") from None


def _no_forward(*args: float) -> float:
    raise TypeError("a checkpoint record was evaluated as a float function; its value is computed when it is recorded")


OUTPUT_P = register("checkpoint_out", _no_forward, 2)
set_rules(OUTPUT_P, (lambda g, ans, call_value, out: out.call.give_cotangent(out.k, g), None))
set_jvp_rules(OUTPUT_P, (lambda t, ans, call_value, out: out.call.tangent(out.k), None))

# The call primitives, one per number of traced leaves (a primitive's arity is fixed).
_CALLS: dict[int, Primitive] = {}
CALL_IDS: set[int] = set()


def _call_primitive(n: int) -> Primitive:
    """The call primitive of a checkpoint whose arguments have ``n`` traced leaves (made once per n)."""
    prim = _CALLS.get(n)
    if prim is None:
        prim = _CALLS[n] = register("checkpoint", _no_forward, n + 1)
        CALL_IDS.add(prim.id)

        def reverse(j: int) -> Callable[..., Any]:
            return lambda g, ans, call, *moving: call.adjoint(j)

        def forward(j: int) -> Callable[..., Any]:
            return lambda t, ans, call, *moving: call.give_tangent(j, t)

        set_rules(prim, (None, *[reverse(j) for j in range(n)]))
        set_jvp_rules(prim, (None, *[forward(j) for j in range(n)]))
    return prim


def output_entries(tape: Tape, i: int, jacobians: dict[int, list[list[Any]]]) -> tuple[tuple[int, Any], ...]:
    """The partials of output record ``i`` along the traced leaves of its call (``jacobians`` caches by call)."""
    call_ref, out_ref = tape.refs(i)
    out = tape._value(out_ref)
    call = out.call
    rows = jacobians.get(id(call))
    if rows is None:
        rows = jacobians[id(call)] = call.jacobian()
    moving_refs = tape.refs(call_ref)[1:]
    return tuple((r, p) for r, p in zip(moving_refs, rows[out.k]) if p is not None)


def _innermost(leaves: Sequence[Any]) -> Optional[Tape]:
    top: Optional[Tape] = None
    for v in leaves:
        if v.__class__ is Traced:
            if v._t._live is None:
                raise closed_error(v)
            if top is None or v._t.order > top.order:
                top = v._t
    return top


def checkpoint(f: F) -> F:
    """Return ``f`` rematerialized: its records are not kept on the tape but recomputed in the reverse sweep.

    Derivatives are the same as without it, to rounding; a tape that
    differentiates a call keeps one record for the call and one per leaf of
    the result instead of ``f``'s records, and the reverse sweep runs ``f``
    again (once per call and sweep) to pull the cotangents back through it.
    Works under grad of grad (the outer tapes keep the recomputation, as
    they keep any derivative computation), forward mode, vmap and jit. ``f``
    takes trees of scalars (other arguments, and keyword arguments, are
    passed through as constants) and returns a scalar or a tree of them; it
    must read traced values only through its arguments, not through a
    closure (pass them as arguments).
    """
    name = _fname(f)

    @functools.wraps(f)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        held: list[Any] = []
        for a in args:
            try:
                lv, td, _ = flatten(a, "args", allow=holds_batch, with_paths=False)
            except (TypeError, ValueError):
                held.append(a)  # not a tree of numbers: passed through as a constant
                continue
            held.append(_Held(td, lv) if any(v.__class__ is Traced for v in lv) else a)
        top = _innermost([v for a in held if isinstance(a, _Held) for v in a.leaves])
        if top is None or top.jit:
            # Nothing to save: no tape, or a jit tape, whose replay is straight-line code anyway.
            return f(*args, **kwargs)
        paths = [(n, k) for n, a in enumerate(held) if isinstance(a, _Held) for k, v in enumerate(a.leaves) if v.__class__ is Traced and v._t is top]
        moving = [held[n].leaves[k] for n, k in paths]
        values = tuple(v._v for v in moving)
        # f runs one tape level down, on the numbers under the traced leaves (an outer tape, if
        # any, records that run: checkpointed again, so it keeps no more than this one).
        before = len(top._ops)
        leaves, out_td = _leaves(checkpointed(*_arguments(held, paths, values), **kwargs), f)
        if len(top._ops) != before or any(v.__class__ is Traced and v._t is top for v in leaves):
            raise TypeError(
                f"checkpoint({name}): the function reads a value that {top.name} traces through a closure or a global, "
                "not through its arguments, so its records cannot be left off that tape and recomputed later; "
                f"pass the value as an argument, e.g. checkpoint({name})(params, x)"
            )
        call = _Call(len(leaves))
        call.fn, call.kwargs, call.args, call.paths, call.moving = f, kwargs, held, paths, values
        refs = (top.const_ref(call), *[v._i for v in moving])
        index = top.append(_call_primitive(len(moving)).id, refs, 0.0)
        traced = [make_traced(top, top.append(OUTPUT_P.id, (index, top.const_ref(_Output(call, k))), v), v) for k, v in enumerate(leaves)]
        return unflatten(out_td, traced)

    return checkpointed  # type: ignore[return-value]
