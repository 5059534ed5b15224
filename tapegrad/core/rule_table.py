"""The rule table: every built-in primitive in one row.

Layer 1 of tapegrad (``tapegrad/core``); it imports only
:mod:`tapegrad.core.primitive`, :mod:`tapegrad.core.batch` and
:mod:`tapegrad.core.float_math` (the float functions math lacks).

Read it like a cheat sheet. Each row gives, for one primitive:

- its forward rule, an expression over the arguments ``x``, ``y`` (and
  ``z`` for the three-argument ``where`` and ``clip``) that computes the
  float result (the names it calls are in ``FLOAT_NAMESPACE``); a variadic
  row (``sum``, ``mean``) reads ``xs``, the tuple of all its arguments;
- one derivative rule per argument (one for all, if variadic), an expression over ``g`` (the incoming
  cotangent or tangent), ``ans`` (the output) and the arguments, returning
  ``g`` times the partial derivative. The names a rule calls are
  primitives, so when the values are traced by an outer tape the derivative
  computation is itself recorded (grad of grad). A rule may give ``None``
  for "nothing flows back" (``where``'s unchosen value, ``clip``'s bounds);
- how the textbook tables (:mod:`tapegrad.tables`) write each partial
  derivative;
- ``total=True`` when the forward rule is defined for every float, so that
  the jit may drop the record when no output needs it (a record that can
  raise is the replay's domain check and is always kept).

Everything else is derived from these rows: the eager float functions, the
generated reverse loops (``tapegrad/interpret/reverse_loops.py``), the
forward sweep, the jit's code, and the tables. Nothing here is executed
with traced values; this module only describes.

Operations that are not here are derived from these: ``x - y`` is
``x + (-y)`` and ``-x`` is ``x * -1``, both exact in floating point.
Division is a primitive rather than ``x * y ** -1``: that product rounds
twice, so a traced ``x / y`` would differ from the float ``x / y`` in the
last bit.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, Callable, Optional

from tapegrad.core import float_math
from tapegrad.core.batch import batch_average, batch_count, batch_total, spread
from tapegrad.core.primitive import PRIMITIVES, TANGENT_RULES, VARIADIC, Primitive, float_function, register, set_rules


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


def _integral(fn: Callable[[float], int]) -> Callable[[float], float]:
    # math.floor and friends return ints and raise on inf and nan; as
    # primitives they return floats, so inf and nan pass through unchanged
    # (as in PyTorch and NumPy) and the rule never raises.
    def rounded(x: float) -> float:
        return float(fn(x)) if math.isfinite(x) else x

    rounded.__name__ = fn.__name__
    return rounded


def _maximum(x: float, y: float) -> float:
    # NaN wins, as in PyTorch's maximum (Python's max would depend on the order).
    return x if x > y or x != x else y


def _minimum(x: float, y: float) -> float:
    return x if x < y or x != x else y


def _logaddexp(x: float, y: float) -> float:
    # log(e^x + e^y) = max + log1p(e^-|x - y|): no exponent is ever positive.
    # Equal arguments (including two equal infinities, where x - y is nan) are
    # answered directly.
    if x == y:
        return x + _LN2
    m = x if x > y else y
    return m + math.log1p(math.exp(-abs(x - y)))


def _clip(x: float, lo: float, hi: float) -> float:
    # min(max(x, lo), hi), as PyTorch's clamp: if lo > hi the answer is hi;
    # a nan x stays nan.
    t = lo if x < lo else x
    return hi if t > hi else t


def _exp2(x: float) -> float:
    return math.pow(2.0, x)


def _add_all(xs: tuple[float, ...]) -> float:
    # Left to right, exactly as x0 + x1 + ... + xn would add (and as the
    # jit's code writes it), so a sum record equals the chain of additions
    # bit for bit. (Python's builtin sum compensates since 3.12, fsum rounds
    # once: both differ from the chain in the last bits.)
    return functools.reduce(operator.add, xs)


_LN2 = math.log(2.0)


def _input(*args: float) -> float:
    raise TypeError("'input' marks a tape's independent variables; it cannot be called")


# The float functions that forward rules may call, by the names they use.
FLOAT_NAMESPACE: dict[str, Callable[..., float]] = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tanh": math.tanh,
    "pow": math.pow,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "sign": _sign,
    "batch_total": batch_total,
    "batch_average": batch_average,
    "spread": spread,
    "batch_count": batch_count,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "asinh": math.asinh,
    "acosh": math.acosh,
    "atanh": math.atanh,
    "log2": math.log2,
    "log10": math.log10,
    "log1p": math.log1p,
    "expm1": math.expm1,
    # math.exp2 is new in Python 3.11.
    "exp2": getattr(math, "exp2", _exp2),
    "erf": math.erf,
    "erfc": math.erfc,
    "atan2": math.atan2,
    "hypot": math.hypot,
    "fmod": math.fmod,
    "floor": _integral(math.floor),
    "ceil": _integral(math.ceil),
    "trunc": _integral(math.trunc),
    "round": _integral(round),
    "maximum": _maximum,
    "minimum": _minimum,
    "logaddexp": _logaddexp,
    "logaddexp2": float_math.logaddexp2,
    "sinc": float_math.sinc,
    "sinc_deriv": float_math.sinc_deriv,
    "sech2": float_math.sech2,
    "hypot_cos": float_math.hypot_cos,
    "mod_quotient": float_math.mod_quotient,
    "sigmoid_of_difference": float_math.sigmoid_of_difference,
    "sigmoid2_of_difference": float_math.sigmoid2_of_difference,
    "one_minus_square": float_math.one_minus_square,
    "recip_one_plus_square": float_math.recip_one_plus_square,
    "clip": _clip,
    "add_all": _add_all,
}


def _row(
    name: str,
    forward: str,
    rules: tuple[Optional[str], ...],
    partials: tuple[str, ...] = (),
    *,
    domain: Optional[str] = None,
    total: bool = False,
    reduces: bool = False,
    tangents: Optional[tuple[Optional[str], ...]] = None,
    variadic: bool = False,
) -> Primitive:
    """Register one built-in: its forward rule, one derivative rule per argument, and their text.

    ``total=True`` says the forward rule is defined for every float (it never raises).
    ``variadic=True`` makes a primitive of any number of arguments, with one rule for all.
    """
    arity = VARIADIC if variadic else len(rules)
    prim = register(
        name,
        float_function(forward, arity, FLOAT_NAMESPACE),
        arity,
        forward=forward,
        domain=domain,
        builtin=True,
        partials=partials,
        can_raise=not total,
        reduces=reduces,
        namespace=FLOAT_NAMESPACE,
    )
    set_rules(prim, rules)
    if tangents is not None:
        TANGENT_RULES[prim.id] = tangents
    return prim


# --- the table ----------------------------------------------------------------------
#
#    name          forward (floats)            d/dx, d/dy (times g)                         as the tables write them

input_p = register("input", _input, 0, builtin=True)
add_p = _row("add", "x + y",                   ("g", "g"),                                  ("1", "1"), total=True)
mul_p = _row("mul", "x * y",                   ("g * y", "g * x"),                          ("{y}", "{x}"), total=True)
div_p = _row("div", "x / y",                   ("g / y", "-(g * ans) / y"),                 ("1/{y}", "-{ans}/{y}"))
pow_p = _row("pow", "pow(x, y)",
             # d/dx x**y = y * x**(y - 1). For y == 0 that is 0 everywhere, but the
             # formula would evaluate 0 ** -1 at x == 0, and overflow for tiny x in
             # higher derivatives. A constant exponent 0 therefore answers 0
             # directly; a traced one only at x == 0, because elsewhere the
             # formula's dependence on y gives the mixed second derivative.
             ("g * 0.0 if y == 0.0 and (constant(y) or x == 0.0) else g * y * pow(x, y - 1.0)",
             # d/dy x**y = x**y * log(x). At x == 0 (with y > 0, or the forward
             # pass would have failed) the limit is 0; for x < 0 it does not exist.
              "g * ans * log(x) if x > 0.0 else g * 0.0 if x == 0.0 else "
              "undefined('pow: the derivative with respect to the exponent does not exist for a negative base', x)"),
             ("{y} * {x} ** ({y} - 1)", "{ans} * ln({x})"),
             domain="pow needs x > 0, or a whole-number y, and y >= 0 when x is 0")
abs_p = _row("abs", "abs(x)",                  ("g * sign(x)",),                            ("sign({x})",), total=True)  # abs'(0) = 0, as in PyTorch
exp_p = _row("exp", "exp(x)",                  ("g * ans",),                                ("{ans}",), domain="exp overflows for x > 709.78")
log_p = _row("log", "log(x)",                  ("g / x",),                                  ("1/{x}",), domain="log is defined for x > 0")
sqrt_p = _row("sqrt", "sqrt(x)",               ("g / (2.0 * ans)",),                        ("1/(2 * {ans})",), domain="sqrt is defined for x >= 0")
sin_p = _row("sin", "sin(x)",                  ("g * cos(x)",),                             ("cos({x})",))
cos_p = _row("cos", "cos(x)",                  ("-(g * sin(x))",),                          ("-sin({x})",))
# Derivative rules are differentiated again for second derivatives, so a
# rule must not cancel either as a value or in its own derivative. tanh' is
# sech2(x) = 1/cosh(x)**2 (a helper row below), not 1 - tanh(x)**2, which
# cancels once tanh(x) rounds to 1, nor 4 sigmoid(2x) sigmoid(-2x), whose
# derivative subtracts two numbers near 1/2 (tanh''(1e-300) came out 0).
tanh_p = _row("tanh", "tanh(x)",               ("g * sech2(x)",),                           ("1 - {ans} ** 2",), total=True)
# Likewise sigmoid'(x) = s(x) s(-x) = sech(x/2)**2 / 4; the product's own
# derivative would subtract s(-x) - s(x) near 0.
sigmoid_p = _row("sigmoid", "sigmoid(x)",      ("g * (0.25 * sech2(0.5 * x))",),            ("{ans} * (1 - {ans})",), total=True)
softplus_p = _row("softplus", "softplus(x)",   ("g * sigmoid(x)",),                         ("sigmoid({x})",), total=True)
relu_p = _row("relu", "0.0 if x <= 0.0 else x", ("g * step(x)",),                           ("step({x})",), total=True)  # relu'(0) = 0, as in PyTorch; relu(nan) is nan
step_p = _row("step", "1.0 if x > 0.0 else 0.0", (None,), total=True)   # flat on both sides; the jump is not differentiated
sign_p = _row("sign", "sign(x)",               (None,), total=True)
stop_gradient_p = _row("stop_gradient", "x",   (None,), total=True)     # recorded only on jit tapes: see functions.stop_gradient

# -- the rest of Python's math module ----------------------------------------------
#
# Written as "g * (...)" or "g / (...)" so that a rule stays linear in g. Where
# a formula has a more accurate form near an edge of its domain, the row uses
# it: one_minus_square(x) (a helper row) for 1 - x*x, which keeps every digit
# near |x| = 1 and whose own derivative -2x does not cancel near 0 as that of
# (1 - x)(1 + x) would; hypot(x, 1) instead of sqrt(x*x + 1) for large x; no
# x*x that overflows where the derivative itself is a normal number (acosh
# and atan2 at 1e200); and recip_one_plus_square(x) for atan, since the
# chain through 1 + x*x would underflow in the second derivative (an
# intermediate near 1/x**4) where the answer -2/x**3 is normal. At a point where the derivative is infinite
# (asin at 1, acosh at 1) the rule divides by zero, and the error names the record.
#    2/sqrt(pi) = 1.1283791670955126, ln 2 = 0.6931471805599453, ln 10 = 2.302585092994046

tan_p = _row("tan", "tan(x)",                  ("g * (1.0 + ans * ans)",),                  ("1 + {ans} ** 2",), domain="tan is defined for finite x")
asin_p = _row("asin", "asin(x)",               ("g / sqrt(one_minus_square(x))",),          ("1/sqrt(1 - {x} ** 2)",), domain="asin is defined for -1 <= x <= 1")
acos_p = _row("acos", "acos(x)",               ("-(g / sqrt(one_minus_square(x)))",),       ("-1/sqrt(1 - {x} ** 2)",), domain="acos is defined for -1 <= x <= 1")
atan_p = _row("atan", "atan(x)",               ("g * recip_one_plus_square(x)",),           ("1/(1 + {x} ** 2)",), total=True)
sinh_p = _row("sinh", "sinh(x)",               ("g * cosh(x)",),                            ("cosh({x})",), domain="sinh overflows for |x| > 710.47")
cosh_p = _row("cosh", "cosh(x)",               ("g * sinh(x)",),                            ("sinh({x})",), domain="cosh overflows for |x| > 710.47")
asinh_p = _row("asinh", "asinh(x)",            ("g / hypot(x, 1.0)",),                      ("1/sqrt({x} ** 2 + 1)",), total=True)
acosh_p = _row("acosh", "acosh(x)",            ("g / (sqrt(x - 1.0) * sqrt(x + 1.0))",),        ("1/sqrt({x} ** 2 - 1)",), domain="acosh is defined for x >= 1")
atanh_p = _row("atanh", "atanh(x)",            ("g / one_minus_square(x)",),                ("1/(1 - {x} ** 2)",), domain="atanh is defined for -1 < x < 1")
log2_p = _row("log2", "log2(x)",               ("g / (x * 0.6931471805599453)",),           ("1/({x} * ln(2))",), domain="log2 is defined for x > 0")
log10_p = _row("log10", "log10(x)",            ("g / (x * 2.302585092994046)",),            ("1/({x} * ln(10))",), domain="log10 is defined for x > 0")
log1p_p = _row("log1p", "log1p(x)",            ("g / (1.0 + x)",),                          ("1/(1 + {x})",), domain="log1p is defined for x > -1")
# exp(x) rather than ans + 1: for x < -37, ans + 1 rounds to 0.
expm1_p = _row("expm1", "expm1(x)",            ("g * exp(x)",),                             ("exp({x})",), domain="expm1 overflows for x > 709.78")
exp2_p = _row("exp2", "exp2(x)",               ("g * (ans * 0.6931471805599453)",),         ("{ans} * ln(2)",), domain="exp2 overflows for x >= 1024")
erf_p = _row("erf", "erf(x)",                  ("g * (1.1283791670955126 * exp(-(x * x)))",),
                                                                                            ("2/sqrt(pi) * exp(-{x} ** 2)",), total=True)
erfc_p = _row("erfc", "erfc(x)",               ("-(g * (1.1283791670955126 * exp(-(x * x))))",),
                                                                                            ("-2/sqrt(pi) * exp(-{x} ** 2)",), total=True)
# atan2(x, y) is math.atan2's (y, x): the angle of the point (y, x). No
# derivative at the origin (the rules divide by zero there).
atan2_p = _row("atan2", "atan2(x, y)",         ("g * (y / hypot(x, y)) / hypot(x, y)", "-(g * (x / hypot(x, y))) / hypot(x, y)"),
                                                                                            ("{y}/({x} ** 2 + {y} ** 2)", "-{x}/({x} ** 2 + {y} ** 2)"), total=True)
# At the origin hypot is |x| along each axis: the derivative taken there is 0, as abs'(0) is.
# The partials x/hypot and y/hypot are a helper row (hypot_cos), whose own
# derivative y**2/hypot**3 is a product: the chain through x / ans would
# subtract 1/h - x**2/h**3, which cancels when |y| << |x|.
hypot_p = _row("hypot", "hypot(x, y)",         ("g * hypot_cos(x, y)", "g * hypot_cos(y, x)"),
                                                                                            ("{x}/{ans}", "{y}/{ans}"), total=True)
# Python's float %: the result has y's sign, x % y = x - y * q for a whole q,
# so d/dy = -q. That q is the one the remainder was computed with, recovered
# from the result as round((x - ans) / y) (float_math.mod_quotient, a helper
# row, which also knows the limit for an infinite y): floor(x / y) can differ from it
# (1.0 % 0.1 is 1.0 - 9 * 0.1, while floor(1.0 / 0.1) is 10). PyTorch's
# remainder uses the same quotient.
mod_p = _row("mod", "x % y",                   ("g", "-(g * mod_quotient(x, y))"),          ("1", "-mod_quotient({x}, {y})"), domain="mod needs y != 0")
# C's fmod: the result has x's sign; x - y * q with q = trunc(x / y) taken
# exactly, which again is read back from the result.
fmod_p = _row("fmod", "fmod(x, y)",            ("g", "-(g * round((x - ans) / y))"),        ("1", "-round(({x} - {ans})/{y})"),
              domain="fmod needs a finite x and y != 0")
# Flat steps: the derivative is 0 wherever it exists, and taken to be 0 at the jumps.
floor_p = _row("floor", "floor(x)",            (None,), total=True)
ceil_p = _row("ceil", "ceil(x)",               (None,), total=True)
trunc_p = _row("trunc", "trunc(x)",            (None,), total=True)
round_p = _row("round", "round(x)",            (None,), total=True)      # halves to even, like Python's round
# At a tie each argument gets half the gradient, as in PyTorch and JAX.
maximum_p = _row("maximum", "maximum(x, y)",   ("g if x > y else g * 0.0 if x < y else g * 0.5", "g if y > x else g * 0.0 if y < x else g * 0.5"),
                                                                                            ("(1 + sign({x} - {y}))/2", "(1 + sign({y} - {x}))/2"), total=True)
minimum_p = _row("minimum", "minimum(x, y)",   ("g if x < y else g * 0.0 if x > y else g * 0.5", "g if y < x else g * 0.0 if y > x else g * 0.5"),
                                                                                            ("(1 - sign({x} - {y}))/2", "(1 - sign({y} - {x}))/2"), total=True)
# log(e^x + e^y): its partials are softmax weights, e^x / (e^x + e^y) =
# sigmoid(x - y), with x - y taken exactly (a helper row): rounded, it would
# cost |x - y| units in the last place for arguments far apart.
logaddexp_p = _row("logaddexp", "logaddexp(x, y)", ("g * sigmoid_of_difference(x, y)", "g * sigmoid_of_difference(y, x)"),
                                                                                            ("sigmoid({x} - {y})", "sigmoid({y} - {x})"), total=True)
# The same in base 2: log2(2^x + 2^y), whose partials are 2^x / (2^x + 2^y).
logaddexp2_p = _row("logaddexp2", "logaddexp2(x, y)", ("g * sigmoid2_of_difference(x, y)", "g * sigmoid2_of_difference(y, x)"),
                                                                                            ("sigmoid(({x} - {y}) * ln(2))", "sigmoid(({y} - {x}) * ln(2))"), total=True)
# numpy's normalized sinc, sin(pi x) / (pi x), with sinc(0) = 1. Its
# derivatives of every order are one helper row, sinc_deriv(x, n), which is
# exact at the removable singularity (see float_math.sinc_deriv); the order n is a constant.
sinc_p = _row("sinc", "sinc(x)",               ("g * sinc_deriv(x, 1.0)",),                 ("sinc_deriv({x}, 1)",), total=True)
# where(c, a, b) records the condition as a constant 1.0 or 0.0 (under jit the
# comparison that made it is a guard). Only the chosen value gets the gradient;
# the other gets nothing at all (None), not a zero that would still be swept.
where_p = _row("where", "y if x else z",       (None, "g if x else None", "None if x else g"),
                                                                                            ("", "{x}", "1 - {x}"), total=True)
# clip(x, lo, hi) = min(max(x, lo), hi). The gradient goes to whichever of the
# three is the answer; on a boundary (x == lo or x == hi) that is x, as in
# PyTorch's clamp, so the derivative is 1 on the closed interval [lo, hi].
clip_p = _row("clip", "clip(x, y, z)",         ("g if y <= x <= z else None", "g if x < y <= z else None", "g if x > z or y > z else None"),
                                                                                            ("({y} <= {x} <= {z})", "({x} < {y} <= {z})", "({x} > {z} or {y} > {z})"), total=True)
# Variadic: one record for any number of arguments (a forward rule over xs,
# one rule for every argument). Adding left to right cannot raise.
sum_p = _row("sum", "add_all(xs)",             ("g",),                                      ("1",), total=True, variadic=True)
mean_p = _row("mean", "add_all(xs) / len(xs)", ("g / n",),                                  ("1/{n}",), total=True, variadic=True)

# -- helpers that derivative rules call ------------------------------------------------
# Not public functions: each is the accurate form of a factor that several
# rules share, with a derivative rule that is a plain product, so that second
# derivatives keep every digit too (see tanh, asin, atan above).
sech2_p = _row("sech2", "sech2(x)",            ("-(g * (2.0 * (tanh(x) * ans)))",),         ("-2 * tanh({x}) * {ans}",), total=True)
one_minus_square_p = _row("one_minus_square", "one_minus_square(x)", ("-(g * (x + x))",),   ("-2 * {x}",), total=True)
# ((x + x) * ans) * ans, in that order: ans * ans would underflow for large x.
recip_one_plus_square_p = _row("recip_one_plus_square", "recip_one_plus_square(x)", ("-(g * ((x + x) * ans * ans))",),
                                                                                            ("-2 * {x} * {ans} ** 2",), total=True)
# hypot_cos(x, y) = x / hypot(x, y): d/dx = y**2 / h**3 = hypot_cos(y, x)**2 / h,
# d/dy = -x y / h**3. (No derivative at the origin; taken to be 0 there, as hypot's.)
hypot_cos_p = _row("hypot_cos", "hypot_cos(x, y)",
                   ("g * (hypot_cos(y, x) * hypot_cos(y, x)) / hypot(x, y) if x != 0.0 or y != 0.0 else g * 0.0",
                    "-(g * (hypot_cos(x, y) * hypot_cos(y, x))) / hypot(x, y) if x != 0.0 or y != 0.0 else g * 0.0"),
                   ("{y} ** 2 / hypot({x}, {y}) ** 3", "-{x} * {y} / hypot({x}, {y}) ** 3"), total=True)
# The softmax weight of x against y and its base-2 twin: s' = s(x, y) s(y, x) (times ln 2).
sigmoid_of_difference_p = _row("sigmoid_of_difference", "sigmoid_of_difference(x, y)",
                               ("g * (sigmoid_of_difference(x, y) * sigmoid_of_difference(y, x))",
                                "-(g * (sigmoid_of_difference(x, y) * sigmoid_of_difference(y, x)))"),
                               ("{ans} * sigmoid({y} - {x})", "-{ans} * sigmoid({y} - {x})"), total=True)
sigmoid2_of_difference_p = _row("sigmoid2_of_difference", "sigmoid2_of_difference(x, y)",
                                ("g * (0.6931471805599453 * (sigmoid2_of_difference(x, y) * sigmoid2_of_difference(y, x)))",
                                 "-(g * (0.6931471805599453 * (sigmoid2_of_difference(x, y) * sigmoid2_of_difference(y, x))))"),
                                ("ln(2) * {ans} * sigmoid(({y} - {x}) * ln(2))", "-ln(2) * {ans} * sigmoid(({y} - {x}) * ln(2))"), total=True)
# The quotient of Python's %: a step function, so its derivatives are zero.
mod_quotient_p = _row("mod_quotient", "mod_quotient(x, y)", (None, None), total=True)
sinc_deriv_p = _row("sinc_deriv", "sinc_deriv(x, y)", ("g * sinc_deriv(x, y + 1.0)", None),  ("sinc_deriv({x}, {y} + 1)", ""),
                    domain="sinc_deriv's order must be a whole number from 0 to 16")
HELPER_PRIMITIVES = frozenset(
    ["sech2", "one_minus_square", "recip_one_plus_square", "hypot_cos", "sigmoid_of_difference", "sigmoid2_of_difference", "mod_quotient", "sinc_deriv"]
)


# --- batches (vmap) ------------------------------------------------------------------------
# A value may hold a whole batch (tapegrad/core/batch.py); every primitive above
# then applies example by example. These two reduce a batch to one number: the
# batch loss of tg.mean(tg.vmap(per_example)(...)) is one record. Their
# cotangent g is the same for every example: spread(g, x) makes it one per example.
# In forward mode a sum's tangent is the sum of the tangents (their transpose again).
batch_sum_p = _row("batch_sum", "batch_total(x)", ("spread(g, x)",), ("1",), total=True, reduces=True, tangents=("batch_sum(spread(g, x))",))
batch_mean_p = _row(
    "batch_mean", "batch_average(x)", ("spread(g, x) / batch_count(x)",), ("1/N",), total=True, reduces=True, tangents=("batch_mean(spread(g, x))",)
)
# Where an unbatched value recorded outside vmap meets a batch, the value is
# used by every example: broadcasting. Its value stays one number (NumPy's
# broadcasting applies it to every example); its transpose sums the
# per-example adjoints, and in forward mode a tangent passes through.
broadcast_p = _row("broadcast", "x", ("batch_sum(g)",), ("Σ",), total=True, tangents=("g",))
# Comparisons of batched values are recorded (1.0 where true, else 0.0), so that
# tg.where's condition is replayed by jit rather than frozen; they have no derivative.
less_p = _row("less", "1.0 if x < y else 0.0", (None, None), total=True)
less_equal_p = _row("less_equal", "1.0 if x <= y else 0.0", (None, None), total=True)
greater_p = _row("greater", "1.0 if x > y else 0.0", (None, None), total=True)
greater_equal_p = _row("greater_equal", "1.0 if x >= y else 0.0", (None, None), total=True)
equal_p = _row("equal", "1.0 if x == y else 0.0", (None, None), total=True)
not_equal_p = _row("not_equal", "1.0 if x != y else 0.0", (None, None), total=True)
# A number used by every example, made as large as the batch y, and the size of
# a batch: both read y when the record runs, so a jit replay follows the batch it
# is given (never the size it was traced with). spread is what vmap returns for
# an output that does not read the mapped data, and the cotangent of a batch
# sum; it is recorded only for an unbatched x, so its transpose is the sum.
spread_p = _row("spread", "spread(x, y)", ("batch_sum(g)", None), total=True, reduces=True, tangents=("spread(g, y)", None))
batch_count_p = _row("batch_count", "batch_count(x)", (None,), total=True, reduces=True)
# The primitives that exist for batches: the textbook tables (one example) never show them.
BATCH_PRIMITIVES = frozenset(["batch_sum", "batch_mean", "broadcast", "spread", "batch_count", "less", "less_equal", "greater", "greater_equal", "equal", "not_equal"])
COMPARISONS: dict[str, Primitive] = {
    "<": less_p,
    "<=": less_equal_p,
    ">": greater_p,
    ">=": greater_equal_p,
    "==": equal_p,
    "!=": not_equal_p,
}


def _constant_float(v: float) -> bool:
    return True


def undefined(message: str, at: Any) -> Any:
    """Raise for a derivative that does not exist at this point (used by rules)."""
    raise ValueError(f"{message} (at {at!r})")


# What each name that a rule calls means when every value is a plain float
# (the float-only reverse loop): the primitive's own float function. In
# ``constant(y)`` a plain float is always a constant.
FLOAT_RULE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{p.name: p.impl for p in PRIMITIVES if p.builtin},
    "constant": _constant_float,
    "undefined": undefined,
}

BUILTINS: tuple[Primitive, ...] = tuple(PRIMITIVES)
