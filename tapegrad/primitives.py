"""The primitive table: every built-in operation, its forward rule and its derivatives.

Read it like a cheat sheet. Each rule returns ``g * d(output)/d(argument)``
given the incoming cotangent ``g``, the output ``ans`` and the arguments.
The rules are written with tapegrad's own operations (Python operators on
traced scalars, and the primitives below), so when the sweep runs on values
traced by an outer tape, the derivative computation is itself recorded:
that is what makes grad of grad work.

Operations that are not here are derived from these: ``x - y`` is
``x + (-y)``, ``-x`` is ``x * -1``, ``x / y`` is ``x * y ** -1``.
"""

from __future__ import annotations

import math
from typing import Any, overload

from tapegrad.primitive import register, safe_float_pow, set_rules
from tapegrad.tape import INPUT_ID
from tapegrad.traced import ABS_ID, ADD_ID, MUL_ID, POW_ID, Traced


def _sigmoid(x: float) -> float:
    # Two branches so that exp never overflows, whatever the sign of x.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _relu(x: float) -> float:
    return x if x > 0.0 else 0.0


def _step(x: float) -> float:
    return 1.0 if x > 0.0 else 0.0


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


def _input(*args: float) -> float:
    raise TypeError("'input' marks a tape's independent variables; it cannot be called")


# --- forward rules --------------------------------------------------------
# Registration order fixes the ids that the Traced operators use.

input_ = register("input", _input, 0)
add = register("add", lambda x, y: x + y, 2, source="({0} + {1})")
mul = register("mul", lambda x, y: x * y, 2, source="({0} * {1})")
pow_ = register("pow", safe_float_pow, 2, domain="pow needs x > 0, or a whole-number y, and y >= 0 when x is 0")
abs_ = register("abs", abs, 1)
exp_ = register("exp", math.exp, 1, domain="exp overflows for x > 709.78")
log_ = register("log", math.log, 1, domain="log is defined for x > 0")
sqrt_ = register("sqrt", math.sqrt, 1, domain="sqrt is defined for x >= 0")
sin_ = register("sin", math.sin, 1)
cos_ = register("cos", math.cos, 1)
tanh_ = register("tanh", math.tanh, 1)
sigmoid_ = register("sigmoid", _sigmoid, 1)
relu_ = register("relu", _relu, 1, source="({0} if {0} > 0.0 else 0.0)")
step_ = register("step", _step, 1, source="(1.0 if {0} > 0.0 else 0.0)")
sign_ = register("sign", _sign, 1)
stop_gradient_ = register("stop_gradient", lambda x: x, 1, source="{0}")

if (input_.id, add.id, mul.id, pow_.id, abs_.id) != (INPUT_ID, ADD_ID, MUL_ID, POW_ID, ABS_ID):
    raise ImportError("tapegrad's primitive table was registered out of order; the operator ids are wrong")


# --- derivative rules -------------------------------------------------------


def _d_pow_dx(g: Any, ans: Any, x: Any, y: Any) -> Any:
    return g * y * pow_(x, y - 1.0)


def _d_pow_dy(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # d/dy x**y = x**y * log(x). At x == 0 (with y > 0, or the forward
    # pass would have failed) the limit is 0; for x < 0 it does not exist.
    if x > 0.0:
        return g * ans * log_(x)
    if x == 0.0:
        return g * 0.0
    raise ValueError(f"pow: the derivative with respect to the exponent does not exist for a negative base (x = {x!r})")


set_rules(add, [lambda g, ans, x, y: g, lambda g, ans, x, y: g])
set_rules(mul, [lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x])
set_rules(pow_, [_d_pow_dx, _d_pow_dy])
set_rules(abs_, [lambda g, ans, x: g * sign_(x)])  # abs'(0) = 0, as in PyTorch
set_rules(exp_, [lambda g, ans, x: g * ans])
set_rules(log_, [lambda g, ans, x: g / x])
set_rules(sqrt_, [lambda g, ans, x: g / (2.0 * ans)])
set_rules(sin_, [lambda g, ans, x: g * cos_(x)])
set_rules(cos_, [lambda g, ans, x: -(g * sin_(x))])
set_rules(tanh_, [lambda g, ans, x: g * (1.0 - ans * ans)])
set_rules(sigmoid_, [lambda g, ans, x: g * (ans * (1.0 - ans))])
set_rules(relu_, [lambda g, ans, x: g * step_(x)])  # relu'(0) = 0, as in PyTorch
set_rules(step_, [None])  # flat on both sides of the jump; the jump itself is not differentiated
set_rules(sign_, [None])
set_rules(stop_gradient_, [None])  # the point of stop_gradient: no derivative at any level


# --- the public functions -----------------------------------------------------
# Thin typed wrappers, so that mypy knows float -> float and Traced -> Traced.


@overload
def exp(x: float) -> float: ...
@overload
def exp(x: Traced) -> Traced: ...
def exp(x: float | Traced) -> float | Traced:
    """e raised to ``x``."""
    return exp_(x)  # type: ignore[no-any-return]


@overload
def log(x: float) -> float: ...
@overload
def log(x: Traced) -> Traced: ...
def log(x: float | Traced) -> float | Traced:
    """Natural logarithm; raises ValueError for x <= 0, like math.log."""
    return log_(x)  # type: ignore[no-any-return]


@overload
def sqrt(x: float) -> float: ...
@overload
def sqrt(x: Traced) -> Traced: ...
def sqrt(x: float | Traced) -> float | Traced:
    """Square root; raises ValueError for x < 0, like math.sqrt."""
    return sqrt_(x)  # type: ignore[no-any-return]


@overload
def sin(x: float) -> float: ...
@overload
def sin(x: Traced) -> Traced: ...
def sin(x: float | Traced) -> float | Traced:
    """Sine (radians)."""
    return sin_(x)  # type: ignore[no-any-return]


@overload
def cos(x: float) -> float: ...
@overload
def cos(x: Traced) -> Traced: ...
def cos(x: float | Traced) -> float | Traced:
    """Cosine (radians)."""
    return cos_(x)  # type: ignore[no-any-return]


@overload
def tanh(x: float) -> float: ...
@overload
def tanh(x: Traced) -> Traced: ...
def tanh(x: float | Traced) -> float | Traced:
    """Hyperbolic tangent."""
    return tanh_(x)  # type: ignore[no-any-return]


@overload
def sigmoid(x: float) -> float: ...
@overload
def sigmoid(x: Traced) -> Traced: ...
def sigmoid(x: float | Traced) -> float | Traced:
    """The logistic function 1 / (1 + exp(-x)), computed without overflow."""
    return sigmoid_(x)  # type: ignore[no-any-return]


@overload
def relu(x: float) -> float: ...
@overload
def relu(x: Traced) -> Traced: ...
def relu(x: float | Traced) -> float | Traced:
    """max(x, 0); its derivative at 0 is taken to be 0."""
    return relu_(x)  # type: ignore[no-any-return]


@overload
def stop_gradient(x: float) -> float: ...
@overload
def stop_gradient(x: Traced) -> Traced: ...
def stop_gradient(x: float | Traced) -> float | Traced:
    """``x`` unchanged, but no derivative flows through it, at any nesting level."""
    return stop_gradient_(x)  # type: ignore[no-any-return]
