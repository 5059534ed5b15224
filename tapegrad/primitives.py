"""The primitive table: every built-in operation, its forward rule and its derivatives.

Read it like a cheat sheet. Each rule returns ``g * d(output)/d(argument)``
given the incoming cotangent ``g``, the output ``ans`` and the arguments.
The rules are written with tapegrad's own operations (Python operators on
traced scalars, and the primitives below), so when the sweep runs on values
traced by an outer tape, the derivative computation is itself recorded:
that is what makes grad of grad work.

Operations that are not here are derived from these: ``x - y`` is
``x + (-y)`` and ``-x`` is ``x * -1``, both exact in floating point.
Division is a primitive rather than ``x * y ** -1``: that product rounds
twice, so a traced ``x / y`` would differ from the float ``x / y`` in the
last bit, and ``value_and_grad(f)(x)[0]`` would not equal ``f(x)``.
"""

from __future__ import annotations

import math
from typing import Any, overload

from tapegrad.primitive import FLOAT_NAMESPACE, RULE_NAMESPACE, register, set_rules
from tapegrad.tape import INPUT_ID
from tapegrad.tape import Tape, primal_of
from tapegrad.traced import ABS_ID, ADD_ID, DIV_ID, MUL_ID, POW_ID, Traced, bind_unary, closed_error, make_traced


def _sigmoid(x: float) -> float:
    # Two branches so that exp never overflows, whatever the sign of x.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _softplus(x: float) -> float:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): the exponent is never positive.
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


def _input(*args: float) -> float:
    raise TypeError("'input' marks a tape's independent variables; it cannot be called")


FLOAT_NAMESPACE.update(_sigmoid=_sigmoid, _softplus=_softplus, _sign=_sign)


def _d_pow_dx(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # d/dx x**y = y * x**(y - 1). For y == 0 that is 0 everywhere, but the
    # formula would evaluate 0 ** -1 at x == 0, and overflow for tiny x in
    # higher derivatives. A constant exponent 0 therefore answers 0 directly;
    # a traced one only at x == 0, because elsewhere the formula's dependence
    # on y is what gives the mixed second derivative.
    if y == 0.0 and (y.__class__ is float or x == 0.0):
        return g * 0.0
    return g * y * pow_(x, y - 1.0)


def _d_pow_dy(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # d/dy x**y = x**y * log(x). At x == 0 (with y > 0, or the forward
    # pass would have failed) the limit is 0; for x < 0 it does not exist.
    if x > 0.0:
        return g * ans * log_(x)
    if x == 0.0:
        return g * 0.0
    raise ValueError(f"pow: the derivative with respect to the exponent does not exist for a negative base (x = {primal_of(x)!r})")


def _prim(name: str, forward: str, *rules: Any, domain: str | None = None) -> Any:
    """Register a built-in: one derivative rule per argument, so len(rules) is the arity."""
    prim = register(name, forward, len(rules), domain=domain, builtin=True)
    set_rules(prim, rules)
    RULE_NAMESPACE[name] = prim
    return prim


# --- the table ----------------------------------------------------------------
# Registration order fixes the ids that the Traced operators use.
#
#   name             forward (floats)            d/dx                         d/dy

input_ = register("input", _input, 0, builtin=True)
add = _prim("add", "x + y",                      "g",                         "g")
mul = _prim("mul", "x * y",                      "g * y",                     "g * x")
pow_ = _prim("pow", "_pow(x, y)",                _d_pow_dx,                   _d_pow_dy,
             domain="pow needs x > 0, or a whole-number y, and y >= 0 when x is 0")
abs_ = _prim("abs", "abs(x)",                    "g * sign(x)")              # abs'(0) = 0, as in PyTorch
div = _prim("div", "x / y",                      "g / y",                     "-(g * ans) / y")
exp_ = _prim("exp", "_exp(x)",                   "g * ans", domain="exp overflows for x > 709.78")
log_ = _prim("log", "_log(x)",                   "g / x", domain="log is defined for x > 0")
sqrt_ = _prim("sqrt", "_sqrt(x)",                "g / (2.0 * ans)", domain="sqrt is defined for x >= 0")
sin_ = _prim("sin", "_sin(x)",                   "g * cos(x)")
cos_ = _prim("cos", "_cos(x)",                   "-(g * sin(x))")
tanh_ = _prim("tanh", "_tanh(x)",                "g * (1.0 - ans * ans)")
sigmoid_ = _prim("sigmoid", "_sigmoid(x)",       "g * (ans * (1.0 - ans))")
softplus_ = _prim("softplus", "_softplus(x)",    "g * sigmoid(x)")
relu_ = _prim("relu", "0.0 if x <= 0.0 else x",   "g * step(x)")              # relu'(0) = 0, as in PyTorch; relu(nan) is nan
step_ = _prim("step", "1.0 if x > 0.0 else 0.0", None)   # flat on both sides; the jump is not differentiated
sign_ = _prim("sign", "_sign(x)",                None)
stop_gradient_ = _prim("stop_gradient", "x",     None)   # recorded only on jit tapes: see stop_gradient()

if (input_.id, add.id, mul.id, pow_.id, abs_.id, div.id) != (INPUT_ID, ADD_ID, MUL_ID, POW_ID, ABS_ID, DIV_ID):
    raise ImportError("tapegrad's primitive table was registered out of order; the operator ids are wrong")


# --- the public functions -----------------------------------------------------
# Thin typed wrappers, so that mypy knows float -> float and Traced -> Traced.


@overload
def exp(x: float) -> float: ...
@overload
def exp(x: Traced) -> Traced: ...
def exp(x: float | Traced) -> float | Traced:
    """e raised to ``x``."""
    return bind_unary(exp_, x)  # type: ignore[no-any-return]


@overload
def log(x: float) -> float: ...
@overload
def log(x: Traced) -> Traced: ...
def log(x: float | Traced) -> float | Traced:
    """Natural logarithm; raises ValueError for x <= 0, like math.log."""
    return bind_unary(log_, x)  # type: ignore[no-any-return]


@overload
def sqrt(x: float) -> float: ...
@overload
def sqrt(x: Traced) -> Traced: ...
def sqrt(x: float | Traced) -> float | Traced:
    """Square root; raises ValueError for x < 0, like math.sqrt."""
    return bind_unary(sqrt_, x)  # type: ignore[no-any-return]


@overload
def sin(x: float) -> float: ...
@overload
def sin(x: Traced) -> Traced: ...
def sin(x: float | Traced) -> float | Traced:
    """Sine (radians)."""
    return bind_unary(sin_, x)  # type: ignore[no-any-return]


@overload
def cos(x: float) -> float: ...
@overload
def cos(x: Traced) -> Traced: ...
def cos(x: float | Traced) -> float | Traced:
    """Cosine (radians)."""
    return bind_unary(cos_, x)  # type: ignore[no-any-return]


@overload
def tanh(x: float) -> float: ...
@overload
def tanh(x: Traced) -> Traced: ...
def tanh(x: float | Traced) -> float | Traced:
    """Hyperbolic tangent."""
    return bind_unary(tanh_, x)  # type: ignore[no-any-return]


@overload
def sigmoid(x: float) -> float: ...
@overload
def sigmoid(x: Traced) -> Traced: ...
def sigmoid(x: float | Traced) -> float | Traced:
    """The logistic function 1 / (1 + exp(-x)), computed without overflow."""
    return bind_unary(sigmoid_, x)  # type: ignore[no-any-return]


@overload
def softplus(x: float) -> float: ...
@overload
def softplus(x: Traced) -> Traced: ...
def softplus(x: float | Traced) -> float | Traced:
    """log(1 + exp(x)), computed without overflow; its derivative is sigmoid(x)."""
    return bind_unary(softplus_, x)  # type: ignore[no-any-return]


@overload
def relu(x: float) -> float: ...
@overload
def relu(x: Traced) -> Traced: ...
def relu(x: float | Traced) -> float | Traced:
    """max(x, 0); its derivative at 0 is taken to be 0."""
    return bind_unary(relu_, x)  # type: ignore[no-any-return]


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
    return make_traced(t, t.append(stop_gradient_.id, (x._i,), beneath), beneath)
