"""The public math functions: one typed function per built-in primitive.

Layer 2 of tapegrad (``tapegrad/core``), beside :mod:`tapegrad.core.traced`.

Each function takes a float (and returns one) or a traced scalar (and
records one operation on its tape). They are thin: all they do is bind the
primitive of :mod:`tapegrad.core.table`. :data:`RULE_FUNCTIONS` maps every
name that a derivative rule of the table may call to the function here that
computes it on traced values, which is what the general reverse sweep, the
forward sweep and the reference interpreter evaluate rules with.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, cast, overload

from tapegrad.core.primitive import Primitive
from tapegrad.core.table import (
    BUILTINS,
    add_p,
    cos_p,
    exp_p,
    log_p,
    relu_p,
    sigmoid_p,
    sign_p,
    sin_p,
    softplus_p,
    sqrt_p,
    step_p,
    stop_gradient_p,
    tanh_p,
    undefined,
)
from tapegrad.core.batch import Batch, batch_count
from tapegrad.core.tape import Tape, value_of
from tapegrad.core.traced import Traced, bind, bind_unary, closed_error, make_traced


class UnaryFunction(Protocol):
    """A one-argument primitive's function: float to float, traced to traced."""

    __name__: str

    @overload
    def __call__(self, x: float, /) -> float: ...
    @overload
    def __call__(self, x: Traced, /) -> Traced: ...


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


def _examples(v: Any) -> float:
    """How many examples the value under ``v`` holds (1.0 unless it is a batch); a constant."""
    return batch_count(value_of(v))


def _spread(g: Any, like: Any) -> Any:
    """``g`` once per example of ``like`` (recorded, if ``g`` is traced): the cotangent of a batch sum."""
    under = value_of(like)
    if not isinstance(under, Batch) or isinstance(value_of(g), Batch):
        return g
    if g.__class__ is Traced:
        return bind(add_p, (g, under.full(0.0)))  # a recorded broadcast: its own transpose is the sum again
    return under.full(float(g))


def _binder(prim: Primitive) -> Callable[..., Any]:
    if prim.arity == 1:
        return lambda x: bind_unary(prim, x)
    return lambda *args: bind(prim, args)


# What each name a rule calls means in the sweeps over (possibly) traced values.
RULE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{p.name: _binder(p) for p in BUILTINS if p.arity},
    **{f.__name__: f for f in (exp, log, sqrt, sin, cos, tanh, sigmoid, softplus, relu, sign, step)},
    "constant": constant,
    "undefined": undefined,
    "batch_count": _examples,
    "spread": _spread,
}
