"""Float functions that the rule table's forward rules call and the math module lacks.

Layer 1 of tapegrad (``tapegrad/core``); it imports nothing of tapegrad.

Two kinds: new functions (``logaddexp2``, numpy's normalized ``sinc`` and its
derivatives of every order, ``sinc_deriv``), and the helpers that derivative
rules share (``sech2``, ``one_minus_square``, ``recip_one_plus_square``,
``hypot_cos``, ``sigmoid_of_difference``, ``sigmoid2_of_difference`` and
``mod_quotient``). A helper is the accurate form of a factor whose own
derivative is a plain product, so that second derivatives keep every digit
too: see the comments at the rows in :mod:`tapegrad.core.rule_table`.
"""

from __future__ import annotations

import math

LN2 = math.log(2.0)


def logaddexp2(x: float, y: float) -> float:
    """log2(2^x + 2^y) = max + log2(1 + 2^-|x - y|), written as logaddexp is (equal arguments, equal infinities included, answer directly)."""
    if x == y:
        return x + 1.0
    m = x if x > y else y
    return m + math.log1p(math.pow(2.0, -abs(x - y))) / LN2


def sech2(x: float) -> float:
    """1 / cosh(x)**2, the derivative of tanh. Beyond |x| = 20 the square of
    cosh is e^(2|x|)/4 to within 1e-17 relative (and would overflow past 355).
    """
    a = abs(x)
    if a < 20.0:
        c = math.cosh(a)
        return 1.0 / (c * c)
    return 4.0 * math.exp(-2.0 * a)


def one_minus_square(x: float) -> float:
    """1 - x*x, to one rounding or so everywhere: near |x| = 1, x*x would have
    rounded away the digits the difference keeps, so the factored form is used.
    """
    if abs(x) < 0.5:
        return 1.0 - x * x
    return (1.0 - x) * (1.0 + x)


def recip_one_plus_square(x: float) -> float:
    """1 / (1 + x*x); for |x| > 1.3e154 x*x is inf and the answer 0.0 (the
    true value is below the smallest normal float there).
    """
    return 1.0 / (1.0 + x * x)


def hypot_cos(x: float, y: float) -> float:
    """x / hypot(x, y), the cosine of the angle of the point (x, y); 0.0 at the origin."""
    h = math.hypot(x, y)
    return x / h if h != 0.0 else 0.0 * x


def mod_quotient(x: float, y: float) -> float:
    """The whole q with x % y == x - q * y, as Python's % computed it (nan where % is nan or fails).

    It is read back from the remainder, round((x - x % y) / y), which can
    differ from floor(x / y) when that division rounds (1.0 % 0.1 is
    1.0 - 9 * 0.1). For an infinite y the remainder is x or y itself, and q
    is 0, or -1 when x and y have opposite signs (the limit for large y).
    """
    if y == 0.0 or x != x or y != y or math.isinf(x):
        return math.nan
    if math.isinf(y):
        return -1.0 if x != 0.0 and (x < 0.0) != (y < 0.0) else 0.0
    q = (x - x % y) / y
    return float(round(q)) if math.isfinite(q) else q  # (a quotient beyond the floats is inf)


def sinpi(x: float) -> float:
    """Sin(pi x) without rounding pi x: x is reduced modulo 2 first, exactly
    (fmod and the subtractions below are exact in floating point).
    """
    r = math.fmod(x, 2.0)
    if r > 1.0:
        r -= 2.0
    elif r < -1.0:
        r += 2.0
    if r > 0.5:
        r = 1.0 - r
    elif r < -0.5:
        r = -1.0 - r
    return math.sin(math.pi * r)


def cospi(x: float) -> float:
    """Cos(pi x) = sin(pi (1/2 - r)) for r = |x| mod 2 folded into [0, 1]."""
    r = math.fmod(abs(x), 2.0)
    if r > 1.0:
        r = 2.0 - r
    return math.sin(math.pi * (0.5 - r))


SINC_MAX_ORDER = 16


def sinc_deriv(x: float, n: float) -> float:
    """The n-th derivative of numpy's sinc, sin(pi x) / (pi x), with sinc(0) = 1.

    In u = pi x, S(u) = sin(u)/u satisfies u S_n = sin^(n)(u) - n S_(n-1)
    (differentiate u S = sin u n times). Near 0 (|u| < n + 1, where that
    recursion would cancel) the Taylor series is summed instead, so x = 0
    itself is exact at every order: (-1)^(n/2) pi^n / (n + 1) for even n, 0 for odd.
    """
    if not (0 <= n <= SINC_MAX_ORDER and n == math.floor(n)):
        raise ValueError(f"the order must be a whole number from 0 to {SINC_MAX_ORDER}, got {n!r}")
    order = int(n)
    if math.isinf(x):
        return 0.0
    u = math.pi * x
    scale = math.pi**order
    if abs(u) < order + 1.0:
        # S^(n)(u) = sum over 2k >= n of (-1)^k (2k)! / ((2k - n)! (2k + 1)!) u^(2k - n)
        total = 0.0
        k = (order + 1) // 2
        term = (-1.0) ** k * math.factorial(2 * k) / (math.factorial(2 * k - order) * math.factorial(2 * k + 1)) * u ** (2 * k - order)
        while True:
            total += term
            if abs(term) <= 1e-18 * abs(total) and 2 * k - order > abs(u):
                return scale * total
            # the ratio of consecutive terms, k -> k + 1
            term *= -u * u * (2 * k + 1) / ((2 * k + 2 - order) * (2 * k + 1 - order) * (2 * k + 3))
            k += 1
    trig = (sinpi(x), cospi(x), -sinpi(x), -cospi(x))
    s = trig[0] / u
    for m in range(1, order + 1):
        s = (trig[m % 4] - m * s) / u
    return scale * s


def sinc(x: float) -> float:
    """numpy's normalized sinc, sin(pi x) / (pi x), with sinc(0) = 1: the 0th derivative."""
    return sinc_deriv(x, 0.0)


def _difference(x: float, y: float) -> tuple[float, float]:
    """x - y as d + e exactly (Knuth's two-sum): d is the rounded difference, e what rounding dropped."""
    d = x - y
    if not math.isfinite(d):
        return d, 0.0
    b = d - x
    return d, (x - (d - b)) + (-y - b)


def sigmoid_of_difference(x: float, y: float) -> float:
    """sigmoid(x - y) = e^x / (e^x + e^y), with x - y taken exactly.

    Rounding x - y (for x = 0.1, y = 700.3, say) would cost |x - y| units in
    the last place of a result near e^(x - y); the dropped part e enters
    through sigmoid(d + e) = sigmoid(d) (1 + sigmoid(-d) e), to first order,
    which is exact here since |e| < 1e-13.
    """
    d, e = _difference(x, y)
    if d >= 0.0:
        s = 1.0 / (1.0 + math.exp(-d))
        return s + s * (1.0 - s) * e
    t = math.exp(d)
    s = t / (1.0 + t)
    return s + s * (1.0 / (1.0 + t)) * e


def sigmoid2_of_difference(x: float, y: float) -> float:
    """2^x / (2^x + 2^y), the same in base 2 (the partial derivative of logaddexp2), with x - y taken exactly."""
    d, e = _difference(x, y)
    if d >= 0.0:
        t = math.pow(2.0, -d)
        s = 1.0 / (1.0 + t)
        return s + s * (t / (1.0 + t)) * (e * LN2)
    t = math.pow(2.0, d)
    s = t / (1.0 + t)
    return s + s * (1.0 / (1.0 + t)) * (e * LN2)
