"""The rule table: every built-in primitive in one row.

Layer 1 of tapegrad (``tapegrad/core``); it imports only
:mod:`tapegrad.core.primitive`.

Read it like a cheat sheet. Each row gives, for one primitive:

- its forward rule, an expression over the arguments ``x`` and ``y`` that
  computes the float result (the names it calls are in ``FLOAT_NAMESPACE``);
- one derivative rule per argument, an expression over ``g`` (the incoming
  cotangent or tangent), ``ans`` (the output) and the arguments, returning
  ``g`` times the partial derivative. The names a rule calls are
  primitives, so when the values are traced by an outer tape the derivative
  computation is itself recorded (grad of grad);
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

import math
from typing import Any, Callable, Optional

from tapegrad.core.batch import batch_average, batch_count, batch_total, spread
from tapegrad.core.primitive import PRIMITIVES, TANGENT_RULES, Primitive, float_function, register, set_rules


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
) -> Primitive:
    """Register one built-in: its forward rule, one derivative rule per argument, and their text.

    ``total=True`` says the forward rule is defined for every float (it never raises).
    """
    arity = len(rules)
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
# 1 - tanh(x)**2 cancels catastrophically once tanh(x) rounds to 1 (|x| > 19);
# (1 - t)(1 + t) = 4 sigmoid(2x) sigmoid(-2x) keeps every digit, with no branch.
tanh_p = _row("tanh", "tanh(x)",               ("g * (4.0 * (sigmoid(2.0 * x) * sigmoid(-2.0 * x)))",),
                                                                                            ("1 - {ans} ** 2",), total=True)
# Likewise sigmoid'(x) = s(x) (1 - s(x)), and 1 - s(x) = s(-x) without cancellation.
sigmoid_p = _row("sigmoid", "sigmoid(x)",      ("g * (ans * sigmoid(-x))",),                ("{ans} * (1 - {ans})",), total=True)
softplus_p = _row("softplus", "softplus(x)",   ("g * sigmoid(x)",),                         ("sigmoid({x})",), total=True)
relu_p = _row("relu", "0.0 if x <= 0.0 else x", ("g * step(x)",),                           ("step({x})",), total=True)  # relu'(0) = 0, as in PyTorch; relu(nan) is nan
step_p = _row("step", "1.0 if x > 0.0 else 0.0", (None,), total=True)   # flat on both sides; the jump is not differentiated
sign_p = _row("sign", "sign(x)",               (None,), total=True)
stop_gradient_p = _row("stop_gradient", "x",   (None,), total=True)     # recorded only on jit tapes: see functions.stop_gradient


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
# The primitives that exist for batches: the textbook tables (one example) never show them.
BATCH_PRIMITIVES = frozenset(["batch_sum", "batch_mean", "broadcast", "less", "less_equal", "greater", "greater_equal", "equal", "not_equal"])
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
    "batch_count": batch_count,
    "spread": spread,
}

BUILTINS: tuple[Primitive, ...] = tuple(PRIMITIVES)
