"""Batches: one number per example, the value a record holds under vmap.

Layer 1 of tapegrad (``tapegrad/core``); it imports only
:mod:`tapegrad.core.primitive`.

Under :func:`tapegrad.vmap` the function runs once, on values that hold the
whole batch, and every operation records one record whose value is a
:class:`Batch`: the tape stays one example's program, whatever the batch
size. A batch behaves like a number, elementwise. It mixes with plain
floats (which are the same for every example: NumPy's broadcasting), and
its arithmetic and the primitives' forward rules give the same results as
the float code, example by example, and raise the same errors, naming the
example.

Two back ends store the numbers:

- :class:`ListBatch`, a Python list of floats: always available, and its
  results equal the float code's bit for bit.
- :class:`ArrayBatch`, a NumPy float64 array (the optional ``numpy``
  extra): one vectorized operation per record. NumPy's ``exp``, ``log``,
  ``sin``... may differ from :mod:`math`'s in the last bit.

Sums over the batch (:meth:`Batch.total`) are compensated on the Python
back end (``math.fsum``, exactly rounded) and pairwise on the NumPy one
(``numpy.sum``).

A comparison of batched values gives a :class:`BoolBatch` (1.0 where true,
0.0 where false), which :func:`tapegrad.where` accepts; using one in an
``if`` raises :class:`BatchBranchError`, because each example may want the
other branch.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import itertools
import math
import operator
import threading
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from tapegrad.core.numpy_math import numpy_helpers
from tapegrad.core.primitive import BUILTIN_NAMED, Primitive

# NumPy is optional, and imported only when a numpy batch is first made, so
# that ``import tapegrad`` stays fast and works without it.
_np: Any = None


def numpy_available() -> bool:
    """True if NumPy can be imported (the ``numpy`` back end is available)."""
    return importlib.util.find_spec("numpy") is not None


def _load_numpy() -> Any:
    global _np
    if _np is None:
        import numpy

        _np = numpy
        _NUMPY_NAMES.update(_numpy_namespace())
    return _np


class BatchBranchError(TypeError):
    """Python control flow tried to branch on a batched value."""


class BatchSizeError(ValueError):
    """Two batches of different sizes met in one operation."""


def _size_error(a: int, b: int) -> BatchSizeError:
    return BatchSizeError(f"batches of {a} and {b} examples met in one operation; every batched argument of vmap needs the same length")


class Batch:
    """One float per example. Arithmetic and comparisons work elementwise.

    Create batches with :func:`batch_of`; a back end subclass holds the
    numbers in ``data``.
    """

    __slots__ = ("data",)
    backend = "?"
    data: Any
    # True for a batch present only for some examples (tapegrad.core.gaps): an
    # adjoint that where() sent to some examples and not to others.
    gapped = False
    # Batches are values, not keys (like traced scalars).
    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self.data)

    def values(self) -> list[float]:
        """The numbers as a list of floats."""
        raise NotImplementedError

    def total(self) -> float:
        """The sum over the batch (compensated on the Python back end, pairwise on NumPy)."""
        raise NotImplementedError

    def all_finite(self) -> bool:
        """True if no example holds a nan or an infinity."""
        raise NotImplementedError

    def full(self, value: float) -> Batch:
        """A batch of the same size and back end holding ``value`` everywhere."""
        raise NotImplementedError

    def _binary(self, op: str, other: Any, reflected: bool) -> Any:
        raise NotImplementedError

    # -- arithmetic --------------------------------------------------------------------

    def __add__(self, other: Any) -> Any:
        return self._binary("+", other, False)

    def __radd__(self, other: Any) -> Any:
        return self._binary("+", other, True)

    def __sub__(self, other: Any) -> Any:
        return self._binary("-", other, False)

    def __rsub__(self, other: Any) -> Any:
        return self._binary("-", other, True)

    def __mul__(self, other: Any) -> Any:
        return self._binary("*", other, False)

    def __rmul__(self, other: Any) -> Any:
        return self._binary("*", other, True)

    def __truediv__(self, other: Any) -> Any:
        return self._binary("/", other, False)

    def __rtruediv__(self, other: Any) -> Any:
        return self._binary("/", other, True)

    # ** is the pow primitive (math.pow), as on a traced value: a negative base to a fractional
    # power raises, where float ** would give a complex number and NumPy a nan.
    def __pow__(self, other: Any) -> Any:
        return _by_primitive("pow", (self, other))

    def __rpow__(self, other: Any) -> Any:
        return _by_primitive("pow", (other, self))

    def __mod__(self, other: Any) -> Any:
        return _by_primitive("mod", (self, other))

    def __rmod__(self, other: Any) -> Any:
        return _by_primitive("mod", (other, self))

    def __floordiv__(self, other: Any) -> Any:
        raise TypeError(floordiv_message("a batch"))

    __rfloordiv__ = __floordiv__
    __divmod__ = __floordiv__
    __rdivmod__ = __floordiv__

    # round, math.floor, math.ceil and math.trunc: batches of floats, one per
    # example, as the traced versions give (an int per example is not a value).

    def __round__(self, ndigits: Optional[int] = None) -> Any:
        if ndigits is not None:
            raise TypeError("round(x, ndigits) of a batch is not supported, only round(x)")
        return _by_primitive("round", (self,))

    def __floor__(self) -> Any:
        return _by_primitive("floor", (self,))

    def __ceil__(self) -> Any:
        return _by_primitive("ceil", (self,))

    def __trunc__(self) -> Any:
        return _by_primitive("trunc", (self,))

    def __neg__(self) -> Batch:
        return self._binary("*", -1.0, False)  # type: ignore[no-any-return]

    def __pos__(self) -> Batch:
        return self

    def __abs__(self) -> Batch:
        raise NotImplementedError

    # -- comparisons: batched booleans -----------------------------------------------------

    def __lt__(self, other: Any) -> Any:
        return self._binary("<", other, False)

    def __le__(self, other: Any) -> Any:
        return self._binary("<=", other, False)

    def __gt__(self, other: Any) -> Any:
        return self._binary(">", other, False)

    def __ge__(self, other: Any) -> Any:
        return self._binary(">=", other, False)

    def __eq__(self, other: object) -> Any:
        return self._binary("==", other, False)

    def __ne__(self, other: object) -> Any:
        return self._binary("!=", other, False)

    def __bool__(self) -> bool:
        raise BatchBranchError(
            "the truth of a batched value was asked for (an if, a while, and, or, min or max on a value "
            "that differs from example to example, inside vmap): each example may need the other branch. "
            "Compute both sides and choose with tapegrad.where(cond, a, b); relu, abs, maximum and "
            "minimum need no branch at all"
        )

    def __float__(self) -> float:
        raise TypeError(f"float() of a batch of {len(self)} values: index it, or reduce it with tapegrad.sum or tapegrad.mean")

    def __repr__(self) -> str:
        shown = self.values()
        text = ", ".join(f"{v:.6g}" for v in shown[:6]) + (", ..." if len(shown) > 6 else "")
        return f"{type(self).__name__}([{text}], {len(shown)} examples)"


class BoolBatch:
    """The result of comparing batched values: 1.0 where true, 0.0 where false.

    Its truth cannot be asked for (:class:`BatchBranchError` names the
    comparison); :func:`tapegrad.where` takes it as a condition.
    """

    __slots__ = ("mask", "text")

    def __init__(self, mask: Batch, text: str) -> None:
        self.mask = mask
        self.text = text

    def __bool__(self) -> bool:
        raise BatchBranchError(
            f"`{self.text}` compares batched values, so its outcome differs from example to example, inside "
            "vmap, and Python cannot take one branch for all of them. Use tapegrad.where(cond, a, b) "
            "(it accepts this comparison as cond), or relu, abs, maximum, minimum, which need no branch"
        )

    def __repr__(self) -> str:
        return f"BoolBatch({self.text}: {self.mask.values()!r:.60})"


def floordiv_message(what: str) -> str:
    """Why ``//`` and ``divmod`` are refused on ``what`` (a traced value, a batch), and what to use."""
    return (
        f"x // y and divmod on {what} are not supported: Python's float // is not floor(x / y) in "
        "the last place (1.0 // 0.1 is 9.0, floor(1.0 / 0.1) is 10.0), and tapegrad will not give a "
        "number that differs from Python's. Use tapegrad.floor(x / y) if that is what you mean, or "
        "x % y (recorded as the 'mod' primitive, Python's float %)"
    )


def _by_primitive(name: str, args: tuple[Any, ...]) -> Any:
    """``args`` (at least one a batch) through the built-in primitive ``name``, example by example."""
    for a in args:
        if not isinstance(a, (Batch, int, float)) or isinstance(a, bool):
            return NotImplemented
    # Plain floats, as the traced path gives (an np.float64 would otherwise land in the batch's list).
    return evaluate_batch(BUILTIN_NAMED[name], [a if isinstance(a, Batch) else float(a) for a in args])


def _comparison_text(op: str, other: Any, reflected: bool) -> str:
    theirs = "a batch" if isinstance(other, Batch) else f"{other!r:.30}"
    return f"{theirs} {op} a batch" if reflected else f"a batch {op} {theirs}"


# -- the Python back end ----------------------------------------------------------------------

# Python's comparison operators by symbol (traced.compare uses them on plain numbers too).
COMPARE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    **COMPARE_OPS,
}
_COMPARISONS = frozenset(COMPARE_OPS)


# op -> (batch op number, number op batch), as list comprehensions.
_SCALAR_OPS: dict[str, tuple[Callable[[list[float], float], list[float]], Callable[[list[float], float], list[float]]]] = {
    "+": (lambda a, b: [x + b for x in a], lambda a, b: [b + x for x in a]),
    "-": (lambda a, b: [x - b for x in a], lambda a, b: [b - x for x in a]),
    "*": (lambda a, b: [x * b for x in a], lambda a, b: [b * x for x in a]),
    "/": (lambda a, b: [x / b for x in a], lambda a, b: [b / x for x in a]),
}


def _at_example(failed: BaseException, k: int, prefix: str) -> BaseException:
    """``failed``, of the same type, with its message saying which example of the batch it was."""
    message = f"example {k} of the batch: {prefix}{failed}"
    try:
        return type(failed)(message)
    except TypeError:  # an exception type that does not take one message
        return ValueError(message)


def _prefix(what: Optional[str], xs: Sequence[Any]) -> str:
    # A primitive's own error names it already; an operator's does not.
    return "" if what is None else f"{what}({', '.join(repr(x) for x in xs)}): "


def _fail_at(exc: BaseException, what: Optional[str], columns: Sequence[Any], fn: Callable[..., Any]) -> BaseException:
    """The error ``fn`` raises on the first example where it fails, naming that example (else ``exc``)."""
    for k, xs in enumerate(zip(*columns)):
        try:
            fn(*xs)
        except Exception as failed:
            return _at_example(failed, k, _prefix(what, xs))
    return exc


def _like_floats(what: Optional[str], fn: Callable[..., Any], raw: Sequence[Any], out: Any) -> Any:
    """``out`` with every non-finite example recomputed by the float code, which raises where it raises.

    NumPy returns inf or nan where Python raises (x / 0, log(-1), sin(inf),
    nan / 0, a negative base to a fractional power). Each example where
    NumPy's answer is not finite is run through ``fn`` on floats: an error
    is raised naming the first such example, and otherwise the float code's
    number is kept (an overflowing product is inf in both). Finite examples
    are NumPy's; only the non-finite ones cost a Python call each.
    """
    _load_numpy()
    bad = _np.nonzero(~_np.isfinite(out))[0].tolist()
    if not bad:
        return out
    out = _np.array(out, dtype=float)  # a copy: the caller's operands are never written
    for k in bad:
        xs = [float(a[k]) if not isinstance(a, float) else a for a in raw]
        try:
            out[k] = fn(*xs)
        except Exception as failed:
            raise _at_example(failed, k, _prefix(what, xs)) from None
    return out


def _columns(args: Sequence[Any], n: int) -> list[Iterable[Any]]:
    return [a.data if isinstance(a, Batch) else itertools.repeat(a, n) for a in args]


class ListBatch(Batch):
    """A batch stored as a Python list of floats."""

    __slots__ = ()
    backend = "python"

    def __init__(self, data: list[float]) -> None:
        self.data = data

    def values(self) -> list[float]:
        return list(self.data)

    def total(self) -> float:
        try:
            return math.fsum(self.data)
        except (ValueError, OverflowError):
            # fsum refuses inf + -inf and overflowing partial sums; the float code's
            # left-to-right sum gives nan or an infinity there, and so does this.
            total: float = functools.reduce(operator.add, self.data)
            return total

    def all_finite(self) -> bool:
        s = sum(self.data)  # finite unless some value is not (or the sum overflows: then look at each)
        return bool(s - s == 0.0) or all(map(math.isfinite, self.data))

    def full(self, value: float) -> Batch:
        return ListBatch([value] * len(self.data))

    def _binary(self, op: str, other: Any, reflected: bool) -> Any:
        n = len(self.data)
        if other.__class__ is float and op in _SCALAR_OPS:
            # A batch with one number (a parameter times a column): a comprehension
            # is about a third faster than mapping the operator over a repeat.
            try:
                return ListBatch(_SCALAR_OPS[op][reflected](self.data, other))
            except (ValueError, ArithmeticError):
                pass  # found again below, with the example named
        if isinstance(other, ListBatch):
            if other.gapped:
                return NotImplemented  # the gapped batch's own (reflected) operation runs
            if len(other.data) != n:
                raise _size_error(n, len(other.data))
            b: Iterable[Any] = other.data
        elif isinstance(other, (int, float)) and not isinstance(other, bool):
            b = itertools.repeat(float(other), n)
        else:
            return NotImplemented
        fn = _OPS[op]
        cols = [b, self.data] if reflected else [self.data, b]
        try:
            out = list(map(fn, *cols))
        except (ValueError, ArithmeticError) as exc:
            theirs = other.data if isinstance(other, ListBatch) else [float(other)] * n
            raise _fail_at(exc, op, [theirs, self.data] if reflected else [self.data, theirs], fn) from None
        if op in _COMPARISONS:
            return BoolBatch(ListBatch([1.0 if v else 0.0 for v in out]), _comparison_text(op, other, reflected))
        return ListBatch(out)

    def __abs__(self) -> Batch:
        return ListBatch(list(map(abs, self.data)))


# -- the NumPy back end ------------------------------------------------------------------------


class ArrayBatch(Batch):
    """A batch stored as a one-dimensional NumPy float64 array."""

    __slots__ = ()
    backend = "numpy"

    def __init__(self, data: Any) -> None:
        self.data = data

    def values(self) -> list[float]:
        return [float(v) for v in self.data.tolist()]

    def total(self) -> float:
        with _np.errstate(invalid="ignore", over="ignore"):  # inf + -inf is nan, without a warning
            return float(self.data.sum())

    def all_finite(self) -> bool:
        return bool(_np.isfinite(self.data).all()) if _np is not None else True

    def full(self, value: float) -> Batch:
        _load_numpy()
        return ArrayBatch(_np.full(len(self.data), value))

    def _binary(self, op: str, other: Any, reflected: bool) -> Any:
        _load_numpy()
        if isinstance(other, ArrayBatch):
            if other.gapped:
                return NotImplemented  # the gapped batch's own (reflected) operation runs
            if len(other.data) != len(self.data):
                raise _size_error(len(self.data), len(other.data))
            b = other.data
        elif isinstance(other, (int, float)) and not isinstance(other, bool):
            b = float(other)
        else:
            return NotImplemented
        a = self.data
        x, y = (b, a) if reflected else (a, b)
        if op == "/":
            # This can fail where Python raises (checked below); keep NumPy quiet meanwhile.
            with _np.errstate(all="ignore"):
                out = x / y
            if not _np.isfinite(out).all():
                # Python raises where NumPy returns inf or nan (x / 0, nan / 0); find the
                # first such example and raise what Python raises.
                out = _like_floats(op, operator.truediv, [x, y], out)
            return ArrayBatch(out)
        out = _OPS[op](x, y)
        if op in _COMPARISONS:
            return BoolBatch(ArrayBatch(out.astype(float)), _comparison_text(op, other, reflected))
        return ArrayBatch(out)

    def __abs__(self) -> Batch:
        _load_numpy()
        return ArrayBatch(_np.abs(self.data))


def _np_sigmoid(x: Any) -> Any:
    _load_numpy()
    e = _np.exp(-_np.abs(x))  # never overflows
    return _np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def _np_softplus(x: Any) -> Any:
    _load_numpy()
    return _np.maximum(x, 0.0) + _np.log1p(_np.exp(-_np.abs(x)))


def _np_sign(x: Any) -> Any:
    _load_numpy()
    return _np.where(x > 0.0, 1.0, _np.where(x < 0.0, -1.0, 0.0))  # 0 for nan, as the float rule


def _numpy_namespace() -> dict[str, Any]:
    if _np is None:
        return {}
    return {
        "exp": _np.exp,
        "log": _np.log,
        "sqrt": _np.sqrt,
        "sin": _np.sin,
        "cos": _np.cos,
        "tanh": _np.tanh,
        "pow": _np.power,
        "abs": _np.abs,
        "sigmoid": _np_sigmoid,
        "softplus": _np_softplus,
        "sign": _np_sign,
        "where": _np.where,
        **numpy_helpers(_np, _np_sigmoid),  # the helper rows that derivative rules call
    }


_NUMPY_NAMES: dict[str, Any] = {}


class _ToNumPy(ast.NodeTransformer):
    """``A if test else B`` becomes ``where(test, A, B)``; every call must have a NumPy version."""

    def __init__(self) -> None:
        self.ok = True

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        return ast.Call(func=ast.Name(id="where", ctx=ast.Load()), args=[node.test, node.body, node.orelse], keywords=[])

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if not (isinstance(node.func, ast.Name) and node.func.id in _NUMPY_NAMES):
            self.ok = False
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.ok = False  # `and`/`or` would ask an array for its truth
        return node


_VECTORIZED: dict[int, Optional[Callable[..., Any]]] = {}


def numpy_forward(prim: Primitive) -> Optional[Callable[..., Any]]:
    """The primitive's forward rule as a NumPy function, or None if it has no NumPy form.

    Read from the row's forward expression (``exp(x)`` calls ``numpy.exp``;
    ``0.0 if x <= 0.0 else x`` becomes ``numpy.where(x <= 0.0, 0.0, x)``),
    so the row stays the only place the rule is written.
    """
    if prim.id in _VECTORIZED:
        return _VECTORIZED[prim.id]
    fn: Optional[Callable[..., Any]] = None
    if prim.forward is not None and _load_numpy() is not None:
        tree = ast.parse(prim.forward, mode="eval")
        visitor = _ToNumPy()
        tree = ast.fix_missing_locations(visitor.visit(tree))
        if visitor.ok:
            params = ", ".join(("x", "y", "z", "w")[: prim.arity])
            fn = eval(f"lambda {params}: {ast.unparse(tree)}", dict(_NUMPY_NAMES))  # noqa: S307 - our own table
    _VECTORIZED[prim.id] = fn
    return fn


_OVER_LISTS: dict[tuple[int, tuple[bool, ...]], Optional[Callable[..., list[float]]]] = {}
_ARGS = ("x", "y", "z", "w")


def python_forward(prim: Primitive, batched: tuple[bool, ...]) -> Optional[Callable[..., list[float]]]:
    """The primitive's forward rule as a list comprehension over the batched arguments, or None.

    ``batched`` says which arguments are columns. ``x * y`` with only ``x``
    batched becomes ``lambda _x, y: [(x * y) for x in _x]``: the same
    expression, so the same floats, without a function call per example.
    """
    key = (prim.id, batched)
    if key not in _OVER_LISTS:
        fn: Optional[Callable[..., list[float]]] = None
        if prim.forward is not None and prim.namespace is not None and 0 < prim.arity == len(batched) <= len(_ARGS):
            names = _ARGS[: prim.arity]
            params = ", ".join(f"_{n}" if b else n for n, b in zip(names, batched))
            loop = [n for n, b in zip(names, batched) if b]
            source = f"[({prim.forward}) for {', '.join(loop)}{',' if len(loop) == 1 else ''} in zip({', '.join('_' + n for n in loop)})]"
            if len(loop) == 1:
                source = f"[({prim.forward}) for {loop[0]} in _{loop[0]}]"
            fn = eval(f"lambda {params}: {source}", dict(prim.namespace))  # noqa: S307 - our own table
        _OVER_LISTS[key] = fn
    return _OVER_LISTS[key]


# -- evaluating a primitive on batches ------------------------------------------------------------


def batch_size(args: Sequence[Any]) -> tuple[int, type[Batch]]:
    """The common size and back end class of the batches among ``args``."""
    n = -1
    kind: type[Batch] = Batch
    for a in args:
        if isinstance(a, Batch):
            if n < 0:
                n, kind = len(a), type(a)
            elif len(a) != n:
                raise _size_error(n, len(a))
            elif type(a) is not kind and a.backend != kind.backend:
                raise TypeError("batches of the python and numpy back ends met in one operation; give every vmap the same backend")
    return n, kind


def evaluate_batch(prim: Primitive, args: Sequence[Any]) -> Batch:
    """Apply ``prim`` to arguments of which at least one is a batch, example by example.

    A domain error names the example: ``example 3 of the batch: log(-1.0): math domain error``.
    A gapped batch among the arguments (an adjoint present for some examples
    only) computes on its present examples.
    """
    n = -1
    kind: type[Batch] = Batch
    for a in args:  # batch_size, with the test for a gapped batch in the same pass
        if isinstance(a, Batch):
            if a.gapped:
                return a.on_present(prim, args)  # type: ignore[attr-defined,no-any-return]
            if n < 0:
                n, kind = len(a), type(a)
            elif len(a) != n or type(a) is not kind:
                n, kind = batch_size(args)  # raises, saying which sizes or back ends met
    if kind is ArrayBatch:
        vectorized = numpy_forward(prim)
        if vectorized is not None:
            _load_numpy()
            raw = [a.data if isinstance(a, Batch) else float(a) for a in args]
            with _np.errstate(all="ignore"):
                out = vectorized(*raw)
            if not isinstance(out, _np.ndarray) or out.shape != (n,):
                out = _np.broadcast_to(_np.asarray(out, dtype=float), (n,)).copy()
            if prim.can_raise and not _np.isfinite(out).all():
                out = _like_floats(None, lambda *xs: prim.evaluate(xs), raw, out)
            return ArrayBatch(out.astype(float, copy=False))
    if kind is ListBatch:
        over_list = python_forward(prim, tuple(isinstance(a, Batch) for a in args))
        if over_list is not None:
            try:
                return ListBatch(over_list(*[a.data if isinstance(a, Batch) else a for a in args]))
            except Exception:
                pass  # found again below, with the example named
    cols = _columns(args, n)
    try:
        values = list(map(prim.impl, *cols))
    except Exception as exc:
        raise _fail_at(exc, None, _columns(args, n), lambda *xs: prim.evaluate(xs)) from None
    if kind is ArrayBatch:
        _load_numpy()
        return ArrayBatch(_np.array(values, dtype=float))
    return ListBatch(values)


def batch_of(values: Sequence[float], backend: str) -> Batch:
    """A batch holding ``values``, stored by ``backend`` ("python" or "numpy")."""
    if backend == "numpy":
        if not numpy_available():
            raise ImportError("vmap's numpy backend needs NumPy: pip install 'tapegrad[numpy]' (or use backend='python')")
        return ArrayBatch(_load_numpy().asarray(values, dtype=float).reshape(-1))
    return ListBatch([float(v) for v in values])


def is_batch(value: Any) -> bool:
    """True for a Batch or a BoolBatch."""
    return isinstance(value, (Batch, BoolBatch))


# -- the batch sums, as float functions of the rule table ---------------------------------------


def batch_total(x: Any) -> float:
    """The sum over the examples (a plain number is one example)."""
    return x.total() if isinstance(x, Batch) else float(x)


def batch_average(x: Any) -> float:
    """The mean over the examples."""
    return x.total() / len(x) if isinstance(x, Batch) else float(x)


def spread(g: Any, like: Any) -> Any:
    """``g`` for every example of ``like``: a batch of copies (``g`` itself if it is one already)."""
    if isinstance(g, Batch) or not isinstance(like, Batch):
        return g
    return like.full(float(g))


def batch_count(x: Any) -> float:
    """How many examples ``x`` holds, as a float (1.0 for a plain number)."""
    return float(len(x)) if isinstance(x, Batch) else 1.0


# -- which vmap is running -------------------------------------------------------------------------


class _Scopes(threading.local):
    def __init__(self) -> None:
        self.depth = 0


_SCOPES = _Scopes()


class vmap_scope:
    """While active, tapes opened are inside a vmap: their batched adjoints are per example."""

    def __enter__(self) -> None:
        if _SCOPES.depth:
            # A vmap inside another runs its examples one at a time (tapegrad.transforms.vmap), so
            # batches never nest; reaching here means that rule was broken.
            raise RuntimeError("a vmap tried to batch inside another vmap's batches; one batch axis at a time")
        _SCOPES.depth += 1

    def __exit__(self, *exc: object) -> None:
        _SCOPES.depth -= 1


def in_vmap() -> bool:
    """True while a vmapped function runs in this thread."""
    return _SCOPES.depth > 0


def iter_examples(b: Batch) -> Iterator[float]:
    """The numbers of a batch, example by example."""
    return iter(b.values())
