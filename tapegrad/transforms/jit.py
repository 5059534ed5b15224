"""Trace once, replay many times: ``jit(f)`` compiles f's tape to straight-line Python.

Layer 4 of tapegrad (``tapegrad/transforms``).

On the first call for a given input structure, ``jit`` runs ``f`` on a tape
opened with ``jit=True``: every operation is recorded, including everything
that transforms such as :func:`tapegrad.grad` do inside ``f`` (their reverse
sweeps run on traced values, so the gradient computation lands on the jit
tape as ordinary records). :mod:`tapegrad.interpret.program` and :mod:`tapegrad.interpret.codegen` then turn the records
the outputs need into one straight-line Python function, an operation per
record (``r7 = r3 * r5``). Later calls with the same structure run that
function on the new numbers without running ``f`` again.

Python control flow that depends on traced values cannot be replayed
blindly, so comparisons made while tracing are recorded as guards. The
generated code re-checks each guard; if one comes out differently, the call
traces ``f`` again for the new values (keeping a few variants per
structure). Reading a value out of the trace (``float(x)``,
:func:`tapegrad.primal`) raises under jit, because the number would be
frozen into the replay.
"""

from __future__ import annotations

import contextlib
import gc
import time
from typing import Any, Callable, Generic, Hashable, Iterator, Optional, ParamSpec, TypeVar, Union

import attrs

from tapegrad.core.tape import Tape
from tapegrad.core.traced import Traced
from tapegrad.core.tree import TreeDef, flatten, unflatten
from tapegrad.interpret.codegen import make_replay, to_source
from tapegrad.interpret.program import Const, GuardFailed, Program, Replay, build_program
from tapegrad.transforms.grad import TracedInputs, _arg_names

P = ParamSpec("P")
R = TypeVar("R")

# How many traced variants (different guard outcomes) to keep per input
# structure before the oldest is dropped.
MAX_VARIANTS = 8


@attrs.define
class JitStats:
    """What a jitted function has done so far (for benchmarks and curiosity)."""

    traces: int = 0
    replays: int = 0
    guard_failures: int = 0
    trace_seconds: float = 0.0
    compile_seconds: float = 0.0
    records: int = 0  # size of the last traced tape
    instructions: int = 0  # operations and guards in the last program, after dead-code removal
    registers: int = 0  # local variables the last program needed


@attrs.frozen
class _Compiled:
    """One traced variant: the generated function and how to rebuild outputs."""

    fn: Replay
    out_treedef: TreeDef
    program: Program


class Jitted(Generic[P, R]):
    """A function that records its tape once per input structure and replays it."""

    def __init__(self, f: Callable[P, R], backend: str = "auto") -> None:
        self._f = f
        self._backend = backend
        self._cache: dict[Hashable, list[_Compiled]] = {}
        self._last: Optional[_Compiled] = None
        self.stats = JitStats()
        self.__name__ = getattr(f, "__name__", "jitted")
        self.__doc__ = getattr(f, "__doc__", None)
        self.__wrapped__ = f
        self._names = _arg_names(f)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        flat: list[Any] = []
        treedefs = []
        for k, a in enumerate(args):
            lv, td, _ = flatten(a, f"args[{k}]", with_paths=False)
            flat.extend(lv)
            treedefs.append(td)
        if any(v.__class__ is Traced for v in flat):
            # Called inside another transform (grad of a jitted function):
            # the outer tape must see every operation, so run f directly.
            return self._f(*args, **kwargs)
        try:
            # The type goes into the key too: 1, 1.0 and True are equal and
            # hash alike, but a function may treat them differently.
            key: Hashable = (tuple(treedefs), tuple(sorted((k, type(v), v) for k, v in kwargs.items())))
            hash(key)
        except TypeError as exc:
            raise TypeError(f"jit({self.__name__}): keyword arguments are treated as constants and must be hashable") from exc
        variants = self._cache.get(key)
        if variants:
            for k, compiled in enumerate(variants):
                try:
                    out = compiled.fn(flat)
                except GuardFailed:
                    self.stats.guard_failures += 1
                    continue
                except (ValueError, ArithmeticError):
                    # Replay met a domain error. Run f eagerly so the error
                    # names the primitive and the values, exactly as without jit.
                    return self._f(*args, **kwargs)
                if k:  # move the variant that matched to the front
                    variants.insert(0, variants.pop(k))
                self.stats.replays += 1
                return unflatten(compiled.out_treedef, out)  # type: ignore[no-any-return]
        return self._trace(key, args, kwargs)

    def _trace(self, key: Hashable, args: Any, kwargs: Any) -> R:
        t0 = time.perf_counter()
        with Tape(jit=True, name=f"the jit tape of {self.__name__}") as tape:
            inputs = TracedInputs(tape, args, range(len(args)), self._names, "jit", self._f)
            result = self._f(*inputs.args, **kwargs)
            leaves, out_treedef, _ = flatten(result, "output", allow=lambda _: True, with_paths=False)
        outputs: list[Union[int, Const]] = []
        values: list[Any] = []
        for leaf in leaves:
            if leaf.__class__ is Traced and leaf._t is tape:
                outputs.append(leaf._i)
                values.append(leaf._v)
            else:
                outputs.append(Const(leaf))
                values.append(leaf)
        t1 = time.perf_counter()
        with _collector_paused():
            program = build_program(tape, outputs)
            fn, _ = make_replay(program, self._backend)
        t2 = time.perf_counter()
        compiled = _Compiled(fn, out_treedef, program)
        self._last = compiled
        if any(c.__class__ is Traced for c in tape._consts):
            # f read a value traced by an enclosing transform (through a
            # closure or a global) rather than from its arguments. That value
            # is a constant of this trace and would be frozen into every
            # replay, so this trace is used once and not kept.
            return unflatten(out_treedef, values)  # type: ignore[no-any-return]
        variants = self._cache.setdefault(key, [])
        variants.insert(0, compiled)
        del variants[MAX_VARIANTS:]
        self.stats.traces += 1
        self.stats.trace_seconds += t1 - t0
        self.stats.compile_seconds += t2 - t1
        self.stats.records = len(tape)
        self.stats.instructions = len(program.body)
        self.stats.registers = program.registers
        return unflatten(out_treedef, values)  # type: ignore[no-any-return]

    def source(self) -> Optional[str]:
        """Python source equivalent to the most recently traced variant (None before the first call)."""
        return None if self._last is None else to_source(self._last.program)[0]


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while our own code runs, then restore it.

    Compiling creates a few small tuples per record, all of which survive:
    for a tape of a million records the collector would keep rescanning
    millions of live objects, which doubled the compile time or worse. Only
    tapegrad's compiler runs inside (never the function being traced), it
    creates no reference cycles, and the collector's state is restored even
    if it fails. The switch is process-wide: code in other threads runs
    without collections meanwhile, and a gc.enable() or gc.disable() another
    thread makes during the compile is overridden when it ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def jit(f: Callable[P, R], backend: str = "auto") -> Jitted[P, R]:
    """Compile ``f`` by tracing it once per input structure; replay for new values.

    Positional arguments are trees of floats and become the inputs; keyword
    arguments are constants (part of the cache key, so they must be
    hashable). Works on any function of scalars, including
    ``grad(f)`` and ``value_and_grad(f)``. See the module docstring for
    what happens with control flow. ``backend`` picks how the tape becomes
    code (see :mod:`tapegrad.interpret.codegen`): ``"bytecode"`` (CPython 3.11),
    ``"source"``, or ``"auto"`` for the fastest available.
    """
    return Jitted(f, backend)
