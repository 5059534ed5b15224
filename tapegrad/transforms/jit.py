"""Trace once, replay many times: ``jit(f)`` compiles f's tape to straight-line Python.

Layer 4 of tapegrad (``tapegrad/transforms``).

On the first call for a given input structure, ``jit`` runs ``f`` on a tape
opened with ``jit=True``: every operation is recorded, including everything
that transforms such as :func:`tapegrad.grad` do inside ``f`` (their reverse
sweeps run on traced values, so the gradient computation lands on the jit
tape as ordinary records). :mod:`tapegrad.compiler.program` and :mod:`tapegrad.compiler.backends` then turn the records
the outputs need into one straight-line Python function (``r9 = r4 + r7 * r8``:
a value read once is pasted into its reader). Later calls with the same structure run that
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

import inspect
import time
import warnings
from collections import OrderedDict
from typing import Any, Callable, Generic, Hashable, Optional, ParamSpec, Sequence, TypeVar, Union, overload

import attrs

from tapegrad.core.batch import Batch
from tapegrad.core.tape import Tape
from tapegrad.core.traced import Traced
from tapegrad.core.tree import TreeDef, any_leaf, flatten, unflatten
from tapegrad.compiler.backends import make_replay, to_source
from tapegrad.compiler.program import Const, GuardFailed, Program, Replay, build_program
from tapegrad.transforms.captures import captured_numbers, computed_attributes, frozen_containers, unwrap_transforms
from tapegrad.transforms.collector import collector_paused as _collector_paused
from tapegrad.transforms.keys import captured_key as _captured_key
from tapegrad.transforms.reporting import guard_text as _guard_text
from tapegrad.transforms.reporting import user_stacklevel as _user_stacklevel
from tapegrad.transforms.keys import constant_key as _constant_key
from tapegrad.core.traced import Scalar
from tapegrad.transforms.grad import (
    Gradient,
    GradientWithAux,
    TracedInputs,
    ValueAndGradient,
    ValueAndGradientWithAux,
    _arg_names,
)

P = ParamSpec("P")
R = TypeVar("R")
T_contra = TypeVar("T_contra", contravariant=True)
A_co = TypeVar("A_co", covariant=True)
X = TypeVar("X")
S = TypeVar("S", bound=Sequence[Scalar])

# How many traced variants (different guard outcomes) to keep per input
# structure before the oldest is dropped, and how many structures to keep.
MAX_VARIANTS = 8
MAX_ENTRIES = 32
# How many calls in a row may be answered eagerly before jit warns that it is not replaying.
FALLBACKS_BEFORE_WARNING = 3
_TRACE_FIX = (
    "Positional arguments are traced: if the function needs one's number itself (a label used as an index, a "
    "count, a size), pass that argument as a keyword argument or name it in static_argnums"
)
_SINGULAR_FIX = (
    "A trace or a replay multiplies zero adjoints through where eager evaluation skips them (0 * inf is nan): keep the "
    "singular point out of the computation with tg.where, or do not jit the function"
)


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
    eager_fallbacks: int = 0  # calls answered by running f eagerly (a replay raised or gave nan/inf)
    backend: str = ""  # what compiled the last program: "bytecode" (an assembler) or "source"


class JitWarning(UserWarning):
    """jit met something that makes its replays slow or possibly stale; the message says what to do."""


@attrs.frozen
class _Compiled:
    """One traced variant: the generated function, how to rebuild outputs, and its guards as text."""

    fn: Replay
    out_treedef: TreeDef
    program: Program
    guards: tuple[str, ...]


class Jitted(Generic[P, R]):
    """A function that records its tape once per input structure and replays it.

    The cache holds up to :data:`MAX_ENTRIES` argument structures (with
    their constants), each with up to :data:`MAX_VARIANTS` traced variants;
    :meth:`clear_cache` empties it.
    """

    def __init__(self, f: Callable[P, R], backend: str = "auto", static_argnums: tuple[int, ...] = ()) -> None:
        self._f = f
        self._backend = backend
        self._static = static_argnums
        self._cache: OrderedDict[Hashable, list[_Compiled]] = OrderedDict()
        self._last: Optional[_Compiled] = None
        # How often each guard (by its text) failed, to name the worst one.
        self._failures: dict[str, int] = {}
        self._warned: set[str] = set()
        self._fallbacks_in_a_row = 0
        # Per call shape (positional count and keyword names): how to read the
        # numbers f takes from outside its arguments (see captures.captured_numbers).
        self._readers: dict[tuple[Any, ...], list[tuple[str, Callable[[], Any]]]] = {}
        # The captured numbers of the last trace per argument structure, to say which one changed.
        self._captured: dict[Hashable, tuple[Hashable, ...]] = {}
        self.stats = JitStats()
        self.__name__ = getattr(f, "__name__", "jitted")
        self.__doc__ = getattr(f, "__doc__", None)
        self.__wrapped__ = f
        self._names = _arg_names(f)

    def clear_cache(self) -> None:
        """Forget every trace; the next call traces again."""
        self._cache.clear()
        self._failures.clear()
        self._captured.clear()
        self._last = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        static = self._static
        flat: list[Any] = []
        shape: list[Hashable] = []
        for k, a in enumerate(args):
            if k in static:
                continue
            lv, td = _flatten_argument(self.__name__, self._arg_name(k), k, a)
            flat.extend(lv)
            # The shape, and the order of any dict's keys: a function that
            # iterates over .values() computes something else in another order.
            shape.append((td, td.key_orders()) if td.has_dict else td)
        if Traced in set(map(type, flat)):
            # Called inside another transform (grad of a jitted function):
            # the outer tape must see every operation, so run f directly.
            return self._f(*args, **kwargs)
        readers = self._readers.get((len(args), *kwargs))
        if readers is None:
            readers = self._readers[(len(args), *kwargs)] = captured_numbers(self._f, len(args), frozenset(kwargs))
        try:
            key: Hashable = (
                tuple(shape),
                tuple((k, _constant_key(args[k])) for k in static if k < len(args)),
                tuple(sorted((name, _constant_key(v)) for name, v in kwargs.items())),
                # The numbers f reads from outside its arguments: a changed one traces again.
                _captured_values(readers),
            )
        except TypeError as exc:
            raise TypeError(
                f"jit({self.__name__}): keyword arguments and static arguments are constants of the trace "
                f"and must be hashable: {exc}"
            ) from exc
        variants = self._cache.get(key)
        if variants:
            self._cache.move_to_end(key)
            for k, compiled in enumerate(variants):
                try:
                    out = compiled.fn(flat)
                except GuardFailed as failed:
                    self.stats.guard_failures += 1
                    text = compiled.guards[failed.args[0]]
                    self._failures[text] = self._failures.get(text, 0) + 1
                    continue
                except Exception as exc:
                    # The replay raised (a domain error, a division by zero
                    # that the eager sweep would have skipped). Eager
                    # evaluation decides: it raises the error naming the
                    # primitive and the values, or gives its answer.
                    return self._eagerly(args, kwargs, f"a replay raised {type(exc).__name__}: {exc}", _SINGULAR_FIX)
                if not _all_finite(out):
                    # A nan or an infinity: the eager sweep skips zero
                    # adjoints that a replay multiplies through (0 * inf is
                    # nan), so only eager evaluation can say what it is.
                    return self._eagerly(args, kwargs, "a replay gave nan or inf", _SINGULAR_FIX)
                if k:  # move the variant that matched to the front
                    variants.insert(0, variants.pop(k))
                self.stats.replays += 1
                self._fallbacks_in_a_row = 0
                return unflatten(compiled.out_treedef, out)  # type: ignore[no-any-return]
        self._note_changed_captures(key, readers)
        return self._trace(key, args, kwargs, readers)

    def _arg_name(self, k: int) -> str:
        return self._names[k] if k < len(self._names) else f"args[{k}]"

    def _trace(self, key: Any, args: Any, kwargs: Any, readers: list[tuple[str, Callable[[], Any]]]) -> R:
        self._warn_about_captures(len(args), frozenset(kwargs))
        t0 = time.perf_counter()
        dynamic = [k for k in range(len(args)) if k not in self._static]
        try:
            # The collector is paused while f is traced too: the trace keeps
            # every traced value of the nested sweeps alive until it ends, and
            # full collections rescanning them made the first call grow faster
            # than the tape (5-20% more per record at 1,000 points than at 100).
            # Reference counting still frees everything that is not a cycle.
            with _collector_paused(), Tape(jit=True, name=f"the jit tape of {self.__name__}") as tape:
                inputs = TracedInputs(tape, args, dynamic, self._names, "jit", self._f)
                result = self._f(*inputs.args, **kwargs)
                leaves, out_treedef, _ = flatten(result, "output", allow=any_leaf, with_paths=False)
        except (ValueError, ArithmeticError) as exc:
            # Tracing swept zero adjoints that the eager sweep skips (0 times
            # an infinite derivative), or f failed: eager evaluation decides,
            # exactly as without jit. Nothing is cached for these inputs.
            fix = _SINGULAR_FIX if isinstance(exc, ArithmeticError) else f"{_TRACE_FIX}. {_SINGULAR_FIX}"
            return self._eagerly(args, kwargs, f"tracing raised {type(exc).__name__}: {exc}", fix)
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
            fn, description = make_replay(program, self._backend)
        t2 = time.perf_counter()
        compiled = _Compiled(fn, out_treedef, program, tuple(_guard_text(tape, g) for g in tape.guards))
        self._last = compiled
        if any(c.__class__ is Traced for c in tape._consts):
            # f read a value traced by an enclosing transform (through a
            # closure or a global) rather than from its arguments. That value
            # is a constant of this trace and would be frozen into every
            # replay, so this trace is used once and not kept.
            return unflatten(out_treedef, values)  # type: ignore[no-any-return]
        if readers:
            # Read anew: an object bound to a name since the last trace has attributes of its own.
            readers = self._readers[(len(args), *kwargs)] = captured_numbers(self._f, len(args), frozenset(kwargs))
            # Keyed by the captured numbers as f left them: a function that updates
            # one while it runs (a call counter) replays afterwards, rather than tracing every call.
            key = (*key[:-1], _captured_values(readers))
            self._captured[key[:-1]] = key[-1]
        variants = self._cache.setdefault(key, [])
        self._cache.move_to_end(key)
        variants.insert(0, compiled)
        if len(variants) > MAX_VARIANTS:
            del variants[MAX_VARIANTS:]
            self._warn_about_retracing()
        if len(self._cache) > MAX_ENTRIES:
            self._cache.popitem(last=False)  # the least recently used structure
            self._warn_once(
                "entries",
                f"jit({self.__name__}) has been called with more than {MAX_ENTRIES} different argument "
                "structures or constants; the oldest traces are dropped. Keep list lengths and keyword "
                "constants fixed (pass changing numbers as positional arguments), or call clear_cache().",
            )
        self.stats.traces += 1
        self.stats.trace_seconds += t1 - t0
        self.stats.compile_seconds += t2 - t1
        self.stats.records = len(tape)
        self.stats.instructions = len(program.body)
        self.stats.registers = program.registers
        self.stats.backend = "bytecode" if description == "bytecode" else "source"
        if not _all_finite(values):
            # The tracing sweep multiplies zero adjoints through, as a replay
            # does; a nan or infinity there is for eager evaluation to confirm.
            return self._eagerly(args, kwargs, "the traced values held nan or inf", _SINGULAR_FIX)
        self._fallbacks_in_a_row = 0
        return unflatten(out_treedef, values)  # type: ignore[no-any-return]

    def _eagerly(self, args: Any, kwargs: Any, cause: str, fix: str) -> R:
        """Answer this call by running f eagerly; warn once if that keeps happening.

        Only answers count: where eager evaluation raises too, its error says what is wrong.
        """
        self.stats.eager_fallbacks += 1
        result = self._f(*args, **kwargs)
        self._fallbacks_in_a_row += 1
        if self._fallbacks_in_a_row == FALLBACKS_BEFORE_WARNING:
            self._warn_once(
                "fallbacks",
                f"jit({self.__name__}) ran the function eagerly on its last {FALLBACKS_BEFORE_WARNING} calls instead "
                f"of replaying a trace, which is slower than no jit at all: {cause}. {fix}",
            )
        return result

    def _warn_once(self, topic: str, message: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            warnings.warn(message, JitWarning, stacklevel=_user_stacklevel())

    def _note_changed_captures(self, key: Any, readers: list[tuple[str, Callable[[], Any]]]) -> None:
        """Warn (once) when a trace is due to a changed number that f reads from outside its arguments."""
        structure, captured = key[:-1], key[-1]
        before = self._captured.get(structure)
        self._captured[structure] = captured
        if before is None or before == captured:
            return
        changed = [what for (what, _), old, new in zip(readers, before, captured) if old != new]
        self._warn_once(
            "captured numbers changed",
            f"jit({self.__name__}): {', '.join(changed) or 'a number read from outside the arguments'} changed "
            "since the last trace, so jit traced again (a replay would have used the old value). If it changes "
            "often, pass it to the jitted function as an argument: a positional argument is an input, and "
            "changing it costs no trace.",
        )

    def _warn_about_retracing(self) -> None:
        worst = max(self._failures.items(), key=lambda item: item[1], default=None)
        comparison = f"the comparison {worst[0]} (failed {worst[1]} times)" if worst else "a comparison"
        self._warn_once(
            "variants",
            f"jit({self.__name__}) traced more than {MAX_VARIANTS} variants for the same argument structure: "
            f"{comparison} keeps coming out differently, so most calls trace again instead of replaying. "
            "Python control flow on traced values (if, while, min, max) becomes guards; use tg.relu, abs "
            "or other primitives instead of branches, pass the value that decides the branch as a keyword "
            "argument (a constant), or do not jit this function.",
        )

    def _warn_about_captures(self, n_args: int, passed: frozenset[str]) -> None:
        for name, where in computed_attributes(self._f, n_args, passed):
            self._warn_once(
                f"property {name}",
                f"jit({self.__name__}): {where} reads {name}, a property: jit does not run it again, so if the "
                "numbers it gives change, the replays keep the traced ones. Pass them to the jitted function as "
                "arguments instead.",
            )
        for kind, name, where in frozen_containers(self._f, n_args, passed):
            self._warn_once(
                f"capture {kind} {name}",
                f"jit({self.__name__}): {where} reads the {kind} {name!r}, which holds numbers. Its numbers "
                f"are frozen into the trace: binding {name!r} to another container traces again, but changing "
                "it in place (a new minibatch written into it, say) is not seen by the replays. Pass it to the jitted function as an "
                "argument instead (a positional argument is an input; a keyword argument is part of the cache key).",
            )

    def source(self) -> Optional[str]:
        """Python source equivalent to the most recently traced variant (None before the first call)."""
        return None if self._last is None else to_source(self._last.program)[0]


def _captured_values(readers: list[tuple[str, Callable[[], Any]]]) -> tuple[Hashable, ...]:
    """The numbers f reads from outside its arguments, as they are now, for the cache key."""
    return tuple(_captured_key(read()) for _, read in readers) if readers else ()


def _all_finite(values: list[Any]) -> bool:
    """True unless a float or a batch among ``values`` holds a nan or an infinity (one sum in the common case)."""
    try:
        total = sum(values)
    except TypeError:  # an output that is not a number (aux data): test the rest one by one
        total = None
    if total.__class__ is float:
        return bool(total - total == 0.0)
    return all(v.all_finite() if isinstance(v, Batch) else v - v == 0.0 for v in values if v.__class__ is float or isinstance(v, Batch))


# jit of grad(f) or value_and_grad(f) keeps their types: these are Jitted
# objects that are also Gradient (and so on), with the same __call__
# overloads (see tapegrad/transforms/signatures.py for why they are overloads).
# Without them, mypy would turn the overloaded __call__ into a single
# signature, its first (a float argument), when matching Callable[P, R].


class JittedGradient(Jitted[..., Any], Gradient[T_contra, P]):
    """``jit(grad(f))``: a jitted function that is typed like ``grad(f)``."""

    @overload
    def __call__(self: JittedGradient[float, P], x: float, /, *args: P.args, **kwargs: P.kwargs) -> float: ...
    @overload
    def __call__(self: JittedGradient[Traced, P], x: Traced, /, *args: P.args, **kwargs: P.kwargs) -> Traced: ...
    @overload
    def __call__(self: JittedGradient[Sequence[Scalar], P], x: S, /, *args: P.args, **kwargs: P.kwargs) -> S: ...
    @overload
    def __call__(self: JittedGradient[X, P], x: X, /, *args: P.args, **kwargs: P.kwargs) -> X: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return Jitted.__call__(self, x, *args, **kwargs)


class JittedGradientWithAux(Jitted[..., Any], GradientWithAux[T_contra, P, A_co]):
    """``jit(grad(f, has_aux=True))``, typed like what it jits."""

    @overload
    def __call__(self: JittedGradientWithAux[float, P, A_co], x: float, /, *args: P.args, **kwargs: P.kwargs) -> tuple[float, A_co]: ...
    @overload
    def __call__(self: JittedGradientWithAux[Traced, P, A_co], x: Traced, /, *args: P.args, **kwargs: P.kwargs) -> tuple[Traced, A_co]: ...
    @overload
    def __call__(self: JittedGradientWithAux[Sequence[Scalar], P, A_co], x: S, /, *args: P.args, **kwargs: P.kwargs) -> tuple[S, A_co]: ...
    @overload
    def __call__(self: JittedGradientWithAux[X, P, A_co], x: X, /, *args: P.args, **kwargs: P.kwargs) -> tuple[X, A_co]: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return Jitted.__call__(self, x, *args, **kwargs)


class JittedValueAndGradient(Jitted[..., Any], ValueAndGradient[T_contra, P]):
    """``jit(value_and_grad(f))``, typed like what it jits."""

    @overload
    def __call__(self: JittedValueAndGradient[float, P], x: float, /, *args: P.args, **kwargs: P.kwargs) -> tuple[float, float]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]  # as in ValueAndGradient
        self: JittedValueAndGradient[Traced, P], x: Traced, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[Scalar, Traced]: ...
    @overload
    def __call__(self: JittedValueAndGradient[Sequence[Scalar], P], x: S, /, *args: P.args, **kwargs: P.kwargs) -> tuple[float, S]: ...
    @overload
    def __call__(self: JittedValueAndGradient[X, P], x: X, /, *args: P.args, **kwargs: P.kwargs) -> tuple[float, X]: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return Jitted.__call__(self, x, *args, **kwargs)


class JittedValueAndGradientWithAux(Jitted[..., Any], ValueAndGradientWithAux[T_contra, P, A_co]):
    """``jit(value_and_grad(f, has_aux=True))``, typed like what it jits."""

    @overload
    def __call__(
        self: JittedValueAndGradientWithAux[float, P, A_co], x: float, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[tuple[float, A_co], float]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]  # as in ValueAndGradient
        self: JittedValueAndGradientWithAux[Traced, P, A_co], x: Traced, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[tuple[Scalar, A_co], Traced]: ...
    @overload
    def __call__(
        self: JittedValueAndGradientWithAux[Sequence[Scalar], P, A_co], x: S, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[tuple[float, A_co], S]: ...
    @overload
    def __call__(
        self: JittedValueAndGradientWithAux[X, P, A_co], x: X, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[tuple[float, A_co], X]: ...
    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        return Jitted.__call__(self, x, *args, **kwargs)


@overload
def jit(
    f: Gradient[T_contra, P], backend: str = "auto", static_argnums: Union[int, Sequence[int]] = ()
) -> JittedGradient[T_contra, P]: ...
@overload
def jit(
    f: GradientWithAux[T_contra, P, A_co], backend: str = "auto", static_argnums: Union[int, Sequence[int]] = ()
) -> JittedGradientWithAux[T_contra, P, A_co]: ...
@overload
def jit(
    f: ValueAndGradient[T_contra, P], backend: str = "auto", static_argnums: Union[int, Sequence[int]] = ()
) -> JittedValueAndGradient[T_contra, P]: ...
@overload
def jit(
    f: ValueAndGradientWithAux[T_contra, P, A_co], backend: str = "auto", static_argnums: Union[int, Sequence[int]] = ()
) -> JittedValueAndGradientWithAux[T_contra, P, A_co]: ...
@overload
def jit(f: Callable[P, R], backend: str = "auto", static_argnums: Union[int, Sequence[int]] = ()) -> Jitted[P, R]: ...
def jit(f: Callable[..., Any], backend: str = "auto", static_argnums: Union[int, Sequence[int]] = ()) -> Jitted[..., Any]:
    """Compile ``f`` by tracing it once per input structure; replay for new values.

    Positional arguments are trees of floats and become the inputs; keyword
    arguments are constants (part of the cache key, so they must be
    hashable). Works on any function of scalars, including
    ``grad(f)`` and ``value_and_grad(f)``. See the module docstring for
    what happens with control flow. ``backend`` picks how the tape becomes
    code (see :mod:`tapegrad.compiler.backends`): ``"bytecode"`` (CPython 3.10 to 3.13),
    ``"source"``, or ``"auto"`` for the fastest available.

    ``static_argnums`` names positional arguments that are constants, like
    keyword arguments: part of the cache key (so they must be hashable) and
    never traced, so they may be anything (a label list, a flag, a count).
    """
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in nums):
        raise TypeError(f"jit: static_argnums must be non-negative ints, got {static_argnums!r}")
    _check_static_argnums(f, nums)
    # The class only adds types; every one of them runs Jitted.__call__.
    cls: type[Jitted[..., Any]] = Jitted
    for wrapped, jitted in _JITTED_CLASSES:
        if isinstance(f, wrapped):
            cls = jitted
    return cls(f, backend, nums)


def _flatten_argument(name: str, label: str, k: int, a: Any) -> tuple[list[Any], TreeDef]:
    """The leaves and shape of positional argument ``k``; if it is not numbers, say how to pass it instead."""
    try:
        lv, td, _ = flatten(a, label, with_paths=False)
    except TypeError as exc:
        raise TypeError(
            f"jit({name}): positional argument {k} cannot be traced ({exc}); jit traces the numbers in its positional "
            f"arguments: pass anything else as a keyword argument, or mark it static with jit(..., static_argnums=({k},)), "
            f"which makes it a constant of the trace (a new value traces again)"
        ) from None
    return lv, td


def _check_static_argnums(f: Callable[..., Any], nums: tuple[int, ...]) -> None:
    """Refuse a static argument number that names no parameter of ``f`` (a typo, or a miscount)."""
    try:
        # The call's own signature: through tapegrad's transforms (they pass every
        # argument on), but not through a user's decorator, which may take others.
        params = list(inspect.signature(unwrap_transforms(f), follow_wrapped=False).parameters.values())
    except (TypeError, ValueError):
        return  # no signature to check against (some builtins)
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return  # *args: any position may exist
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for k in nums:
        if k >= len(positional):
            raise ValueError(
                f"jit: static_argnums names argument {k}, but {getattr(f, '__name__', 'the function')} takes "
                f"{len(positional)} positional argument(s) ({', '.join(positional) or 'none'})"
            )


_JITTED_CLASSES: tuple[tuple[type, type[Jitted[..., Any]]], ...] = (
    (Gradient, JittedGradient),
    (GradientWithAux, JittedGradientWithAux),
    (ValueAndGradient, JittedValueAndGradient),
    (ValueAndGradientWithAux, JittedValueAndGradientWithAux),
)
