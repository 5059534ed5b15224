"""The public math functions: one typed function per built-in primitive.

Layer 2 of tapegrad (``tapegrad/core``), beside :mod:`tapegrad.core.traced`.

Each function takes a float (and returns one) or a traced scalar (and
records one operation on its tape). They are thin: all they do is bind the
primitive of :mod:`tapegrad.core.rule_table`. :data:`RULE_FUNCTIONS` maps every
name that a derivative rule of the table may call to the function here that
computes it on traced values, which is what the general reverse sweep, the
forward sweep and the reference interpreter evaluate rules with.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, Callable, Iterable, Protocol, Sequence, cast, overload

from tapegrad.core.primitive import Primitive
from tapegrad.core.rule_table import (
    BUILTINS,
    acos_p,
    acosh_p,
    asin_p,
    asinh_p,
    atan2_p,
    atan_p,
    atanh_p,
    batch_count_p,
    ceil_p,
    clip_p,
    cos_p,
    cosh_p,
    erf_p,
    erfc_p,
    exp2_p,
    exp_p,
    expm1_p,
    floor_p,
    fmod_p,
    hypot_p,
    log1p_p,
    log2_p,
    log10_p,
    log_p,
    logaddexp_p,
    logaddexp2_p,
    maximum_p,
    mean_p,
    minimum_p,
    relu_p,
    round_p,
    sigmoid_p,
    sign_p,
    sin_p,
    sinc_p,
    sinh_p,
    softplus_p,
    spread_p,
    sqrt_p,
    step_p,
    stop_gradient_p,
    sum_p,
    tan_p,
    tanh_p,
    trunc_p,
    undefined,
    where_p,
)
from tapegrad.core.batch import BoolBatch, batch_count
from tapegrad.core.tape import Tape, value_of
from tapegrad.core.traced import Scalar, Traced, bind, bind_unary, closed_error, holds_batch, make_traced


class UnaryFunction(Protocol):
    """A one-argument primitive's function: float to float, traced to traced."""

    __name__: str

    @overload
    def __call__(self, x: float, /) -> float: ...
    @overload
    def __call__(self, x: Traced, /) -> Traced: ...


class BinaryFunction(Protocol):
    """A two-argument primitive's function: floats to a float; a traced argument gives a traced result."""

    __name__: str

    @overload
    def __call__(self, x: float, y: float, /) -> float: ...
    @overload
    def __call__(self, x: Traced, y: Scalar, /) -> Traced: ...
    @overload
    def __call__(self, x: Scalar, y: Traced, /) -> Traced: ...


def binary(prim: Primitive, doc: str) -> BinaryFunction:
    """The public function of a two-argument primitive (its name, its docstring)."""

    def fn(x: Any, y: Any) -> Any:
        return bind(prim, (x, y))

    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = doc
    return cast(BinaryFunction, fn)


def unary(prim: Primitive, doc: str) -> UnaryFunction:
    """The public function of a one-argument primitive (its name, its docstring)."""

    def fn(x: Any) -> Any:
        return bind_unary(prim, x)

    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = doc
    return cast(UnaryFunction, fn)


exp = unary(exp_p, "e raised to ``x``.")
log = unary(log_p, "Natural logarithm; raises ValueError for x <= 0, like math.log.")
sqrt = unary(sqrt_p, "Square root; raises ValueError for x < 0, like math.sqrt.")
sin = unary(sin_p, "Sine (radians).")
cos = unary(cos_p, "Cosine (radians).")
tanh = unary(tanh_p, "Hyperbolic tangent.")
sigmoid = unary(sigmoid_p, "The logistic function 1 / (1 + exp(-x)), computed without overflow.")
softplus = unary(softplus_p, "log(1 + exp(x)), computed without overflow; its derivative is sigmoid(x).")
relu = unary(relu_p, "max(x, 0); its derivative at 0 is taken to be 0, as in PyTorch.")
sign = unary(sign_p, "-1.0, 0.0 or 1.0 by the sign of ``x``; its derivative is zero (where it exists).")
step = unary(step_p, "1.0 where x > 0, else 0.0 (the derivative of relu); its own derivative is zero.")

tan = unary(tan_p, "Tangent (radians); its derivative is 1 + tan(x) ** 2.")
asin = unary(asin_p, "Arc sine; raises ValueError outside [-1, 1], like math.asin. No derivative at -1 and 1.")
acos = unary(acos_p, "Arc cosine; raises ValueError outside [-1, 1], like math.acos. No derivative at -1 and 1.")
atan = unary(atan_p, "Arc tangent, in (-pi/2, pi/2).")
sinh = unary(sinh_p, "Hyperbolic sine; raises OverflowError for |x| > 710.47, like math.sinh.")
cosh = unary(cosh_p, "Hyperbolic cosine; raises OverflowError for |x| > 710.47, like math.cosh.")
asinh = unary(asinh_p, "Inverse hyperbolic sine.")
acosh = unary(acosh_p, "Inverse hyperbolic cosine; raises ValueError for x < 1, like math.acosh. No derivative at 1.")
atanh = unary(atanh_p, "Inverse hyperbolic tangent; raises ValueError unless -1 < x < 1, like math.atanh.")
log2 = unary(log2_p, "Base-2 logarithm; raises ValueError for x <= 0, like math.log2.")
log10 = unary(log10_p, "Base-10 logarithm; raises ValueError for x <= 0, like math.log10.")
log1p = unary(log1p_p, "log(1 + x), accurate for small x; raises ValueError for x <= -1, like math.log1p.")
expm1 = unary(expm1_p, "exp(x) - 1, accurate for small x.")
exp2 = unary(exp2_p, "2 raised to ``x``.")
erf = unary(erf_p, "The error function; its derivative is 2/sqrt(pi) * exp(-x ** 2).")
erfc = unary(erfc_p, "The complementary error function 1 - erf(x), accurate for large x.")
floor = unary(floor_p, "The largest whole number <= x, as a float (inf and nan pass through); derivative 0.")
ceil = unary(ceil_p, "The smallest whole number >= x, as a float (inf and nan pass through); derivative 0.")
trunc = unary(trunc_p, "``x`` rounded toward zero, as a float (inf and nan pass through); derivative 0.")
round = unary(round_p, "``x`` rounded to the nearest whole number, halves to even as Python's round, as a float; derivative 0.")
sinc = unary(
    sinc_p,
    "numpy's normalized sinc, sin(pi x) / (pi x), with sinc(0) = 1; derivatives of every order (up to 16) are exact at 0. "
    "sinc(inf) is 0.0, the limit.",
)

atan2 = binary(atan2_p, "math.atan2(y, x): the angle of the point (x, y), in [-pi, pi]. No derivative at the origin.")
hypot = binary(hypot_p, "sqrt(x ** 2 + y ** 2) without overflow; at the origin its derivative is taken to be 0 (as abs'(0)).")
fmod = binary(fmod_p, "C's remainder, math.fmod(x, y): the sign of x. Raises ValueError for y == 0 or infinite x.")
maximum = binary(maximum_p, "The larger of ``x`` and ``y`` (nan if either is). At a tie each gets half the gradient.")
minimum = binary(minimum_p, "The smaller of ``x`` and ``y`` (nan if either is). At a tie each gets half the gradient.")
logaddexp = binary(logaddexp_p, "log(exp(x) + exp(y)), computed without overflow or underflow.")
logaddexp2 = binary(logaddexp2_p, "log2(2 ** x + 2 ** y), computed without overflow or underflow, as numpy.logaddexp2.")

pi = math.pi
e = math.e


@overload
def where(cond: object, a: float, b: float) -> float: ...
@overload
def where(cond: object, a: Traced, b: Scalar) -> Traced: ...
@overload
def where(cond: object, a: Scalar, b: Traced) -> Traced: ...
def where(cond: object, a: Scalar, b: Scalar) -> Scalar:
    """``a`` if ``cond`` is true, else ``b``; the gradient flows only to the one chosen.

    ``cond`` is a bool, usually a comparison such as ``x > 0`` (which, under
    :func:`tapegrad.jit`, becomes a guard); under :func:`tapegrad.vmap` a
    comparison of batched values chooses example by example. Unlike ``a if cond else b``, it
    records one ``where`` record, so the tape shows the choice. The other
    value gets no gradient at all, not even a zero times an infinite
    derivative: ``where(x > 0, sqrt(x), 0.0)`` has derivative 0 at x = 0.
    """
    if isinstance(cond, BoolBatch):
        # A comparison of batched values (under vmap): one choice per example.
        return bind(where_p, (cond.mask, a, b))  # type: ignore[no-any-return]
    if cond.__class__ is Traced:
        if holds_batch(cond):
            # The same, recorded: under jit the comparison is replayed, not frozen.
            return bind(where_p, (cond, a, b))  # type: ignore[no-any-return]
        raise TypeError(
            "where: the condition is a traced scalar; pass a comparison such as x > 0 "
            "(a plain bool) instead"
        )
    return bind(where_p, (1.0 if cond else 0.0, a, b))  # type: ignore[no-any-return]


@overload
def clip(x: float, lo: float, hi: float) -> float: ...
@overload
def clip(x: Traced, lo: Scalar, hi: Scalar) -> Traced: ...
@overload
def clip(x: Scalar, lo: Traced, hi: Scalar) -> Traced: ...
@overload
def clip(x: Scalar, lo: Scalar, hi: Traced) -> Traced: ...
def clip(x: Scalar, lo: Scalar, hi: Scalar) -> Scalar:
    """``min(max(x, lo), hi)``, as PyTorch's clamp (if lo > hi the answer is hi).

    The gradient goes to whichever of the three is the answer. On a
    boundary (``x == lo`` or ``x == hi``) that is ``x``: the derivative with
    respect to ``x`` is 1 on the closed interval [lo, hi] and 0 outside it,
    PyTorch's convention.
    """
    return bind(clip_p, (x, lo, hi))  # type: ignore[no-any-return]


@overload
def sum(xs: Iterable[float]) -> float: ...
@overload
def sum(xs: Iterable[Traced]) -> Traced: ...
@overload
def sum(xs: Iterable[Scalar]) -> Scalar: ...
def sum(xs: Iterable[Scalar]) -> Scalar:
    """The sum of a sequence of scalars (floats, traced scalars or both), recorded as ONE record.

    Adds left to right, as ``x0 + x1 + ...`` does, so the value equals that
    chain of additions bit for bit; but the tape holds one ``sum`` record
    rather than n - 1 additions, and the reverse sweep sends the adjoint to
    every argument at once. The sum of nothing is 0.0.
    """
    args = xs if xs.__class__ is list or xs.__class__ is tuple else list(xs)
    if not args:
        return 0.0
    return _variadic(SUM_ID, args, False)  # type: ignore[no-any-return]


@overload
def mean(xs: Iterable[float]) -> float: ...
@overload
def mean(xs: Iterable[Traced]) -> Traced: ...
@overload
def mean(xs: Iterable[Scalar]) -> Scalar: ...
def mean(xs: Iterable[Scalar]) -> Scalar:
    """The mean of a non-empty sequence of scalars, recorded as ONE record (see :func:`sum`).

    Raises ValueError for an empty sequence.
    """
    args = xs if xs.__class__ is list or xs.__class__ is tuple else list(xs)
    if not args:
        raise ValueError("mean() of an empty sequence: there is no value to return (tapegrad.sum([]) is 0.0)")
    return _variadic(MEAN_ID, args, True)  # type: ignore[no-any-return]


SUM_ID = sum_p.id
MEAN_ID = mean_p.id
_add = operator.add
_reduce = functools.reduce


def _variadic(prim_id: int, args: Sequence[Any], divide: bool) -> Any:
    """``bind`` for sum and mean, with the common case inlined.

    That case is a list of scalars traced on one open tape that no outer
    tape traces (a flat tape, so every value is a float). Its record is
    appended here directly, as ``Traced.__add__`` does for ``+``: the point
    of one record is to be cheaper than n - 1 additions.
    """
    first = args[0]
    if first.__class__ is Traced:
        t = first._t
        ops = t._live
        if ops is not None and t._flat:
            try:
                refs = tuple([a._i for a in args if a._t is t])
                values = [a._v for a in args]
            except AttributeError:  # a float among them
                refs = ()
            n = len(refs)
            if n == len(args):
                value = _reduce(_add, values)
                if divide:
                    value = value / n
                out = Traced()
                out._t = t
                out._i = index = len(ops)
                out._v = value
                ops.append(prim_id)
                t._lhs.append(refs[0])
                t._rhs.append(refs[1] if n > 1 else 0)
                t._wide[index] = refs
                t._vals.append(value)
                return out
    return bind(mean_p if divide else sum_p, args)


@overload
def stop_gradient(x: float) -> float: ...
@overload
def stop_gradient(x: Traced) -> Traced: ...
def stop_gradient(x: float | Traced) -> float | Traced:
    """``x`` unchanged, but no derivative flows through it, at any nesting level.

    On the tapes of grad and the other transforms nothing is recorded: the
    result is the value underneath, a constant there, so no rule is ever
    called for it (not even one that would fail, as pow's rule for the
    exponent does at a negative base). Only a jit tape records it, as an
    identity, because a replay must still compute the value from its inputs.
    """
    if x.__class__ is not Traced:
        return x
    t: Tape = x._t
    if t._live is None:
        raise closed_error(x)
    beneath: float | Traced = stop_gradient(x._v)
    if not t.jit:
        return beneath
    return make_traced(t, t.append(stop_gradient_p.id, (x._i,), beneath), beneath)


def constant(v: Any) -> bool:
    """True unless ``v`` is traced by an (outer) tape: used by rules that special-case constants."""
    return v.__class__ is not Traced


def _examples(v: Any) -> Any:
    """How many examples the value under ``v`` holds (1.0 unless it is a batch).

    Recorded when ``v`` is traced: under jit the count is the replayed batch's, not the traced one's.
    """
    if v.__class__ is Traced and holds_batch(v):
        return bind(batch_count_p, (v,))
    return batch_count(value_of(v))


def _spread(g: Any, like: Any) -> Any:
    """``g`` once per example of ``like``: the cotangent of a batch sum.

    Recorded when either is traced, so that a jit replay makes as many copies
    as the batch it is given has examples.
    """
    if not holds_batch(like) or holds_batch(g):
        return g
    return bind(spread_p, (g, value_of(like) if like.__class__ is not Traced else like))


def _binder(prim: Primitive) -> Callable[..., Any]:
    if prim.arity == 1:
        return lambda x: bind_unary(prim, x)
    return lambda *args: bind(prim, args)


# What each name a rule calls means in the sweeps over (possibly) traced values.
RULE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{p.name: _binder(p) for p in BUILTINS if p.arity},
    **{f.__name__: f for f in (exp, log, sqrt, sin, cos, tanh, sigmoid, softplus, relu, sign, step)},
    **{f.__name__: f for f in (tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, log2, log10, log1p, expm1, exp2, erf, erfc)},
    **{f.__name__: f for f in (floor, ceil, trunc, round, sinc)},
    "constant": constant,
    "undefined": undefined,
    "batch_count": _examples,
    "spread": _spread,
}
