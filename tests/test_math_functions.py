"""The math-module primitives, maximum/minimum, where, clip and logaddexp.

Each one: values equal to the math module's, first and second derivatives
equal to their closed forms in both modes, check_grads at order 2 in both
modes (away from kinks and domain edges), domain errors like math's, and
the conventions at kinks and ties tested explicitly. The optional
comparisons with PyTorch (float64) are at the end.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.core.primitive import PRIMITIVES
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import floats, positive_floats

LN2 = math.log(2.0)
LN10 = math.log(10.0)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
EXP2 = getattr(math, "exp2", lambda x: math.pow(2.0, x))  # math.exp2 is new in 3.11


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


@dataclass(frozen=True)
class Unary:
    name: str
    fn: Callable[[Any], Any]
    ref: Callable[[float], float]
    d1: Callable[[float], float]
    d2: Callable[[float], float]
    domain: SearchStrategy[float]


def _sec2(x: float) -> float:
    return 1.0 + math.tan(x) ** 2


UNARY = [
    Unary("tan", tg.tan, math.tan, _sec2, lambda x: 2.0 * math.tan(x) * _sec2(x), floats(-1.3, 1.3)),
    Unary("asin", tg.asin, math.asin, lambda x: (1 - x * x) ** -0.5, lambda x: x * (1 - x * x) ** -1.5, floats(-0.9, 0.9)),
    Unary("acos", tg.acos, math.acos, lambda x: -((1 - x * x) ** -0.5), lambda x: -x * (1 - x * x) ** -1.5, floats(-0.9, 0.9)),
    Unary("atan", tg.atan, math.atan, lambda x: 1 / (1 + x * x), lambda x: -2 * x / (1 + x * x) ** 2, floats()),
    Unary("sinh", tg.sinh, math.sinh, math.cosh, math.sinh, floats()),
    Unary("cosh", tg.cosh, math.cosh, math.sinh, math.cosh, floats()),
    Unary("asinh", tg.asinh, math.asinh, lambda x: (x * x + 1) ** -0.5, lambda x: -x * (x * x + 1) ** -1.5, floats()),
    Unary("acosh", tg.acosh, math.acosh, lambda x: (x * x - 1) ** -0.5, lambda x: -x * (x * x - 1) ** -1.5, floats(1.1, 5.0)),
    Unary("atanh", tg.atanh, math.atanh, lambda x: 1 / (1 - x * x), lambda x: 2 * x / (1 - x * x) ** 2, floats(-0.9, 0.9)),
    Unary("log2", tg.log2, math.log2, lambda x: 1 / (x * LN2), lambda x: -1 / (x * x * LN2), positive_floats()),
    Unary("log10", tg.log10, math.log10, lambda x: 1 / (x * LN10), lambda x: -1 / (x * x * LN10), positive_floats()),
    Unary("log1p", tg.log1p, math.log1p, lambda x: 1 / (1 + x), lambda x: -1 / (1 + x) ** 2, floats(-0.9, 3.0)),
    Unary("expm1", tg.expm1, math.expm1, math.exp, math.exp, floats()),
    Unary("exp2", tg.exp2, EXP2, lambda x: EXP2(x) * LN2, lambda x: EXP2(x) * LN2 * LN2, floats()),
    Unary("erf", tg.erf, math.erf, lambda x: TWO_OVER_SQRT_PI * math.exp(-x * x), lambda x: -2 * x * TWO_OVER_SQRT_PI * math.exp(-x * x), floats()),
    Unary("erfc", tg.erfc, math.erfc, lambda x: -TWO_OVER_SQRT_PI * math.exp(-x * x), lambda x: 2 * x * TWO_OVER_SQRT_PI * math.exp(-x * x), floats()),
]


def _clip(x: float) -> float:
    return min(max(x, -0.5), 0.7)


def _inside(x: float) -> float:
    return 1.0 if -0.5 <= x <= 0.7 else 0.0


def _away(x: float, points: list[float]) -> bool:
    return all(abs(x - p) > 1e-3 for p in points)


def _not_whole(x: float, offset: float = 0.0) -> bool:
    return abs((x - offset) - round(x - offset)) > 1e-3


def _piecewise(name: str, fn: Callable[[Any], Any], ref: Callable[[float], float], d1: Callable[[float], float], d2: Callable[[float], float], ok: Callable[[float], bool]) -> Unary:
    """A function built on a step or kink primitive, tested like the smooth ones away from its jumps (``ok``)."""
    return Unary(name, fn, ref, d1, d2, floats(-4.0, 4.0).filter(ok))


# Each step or kink primitive times a smooth factor, so that the derivatives
# at orders 1 and 2 are not all zero and a wrong rule would show. They run
# through the same tests as UNARY (test_unary_...), which are parametrized over both.
PIECEWISE = [
    _piecewise("floor", lambda x: tg.floor(x) * x * x, lambda x: math.floor(x) * x * x, lambda x: 2 * math.floor(x) * x, lambda x: 2.0 * math.floor(x), _not_whole),
    _piecewise("ceil", lambda x: tg.ceil(x) * x * x, lambda x: math.ceil(x) * x * x, lambda x: 2 * math.ceil(x) * x, lambda x: 2.0 * math.ceil(x), _not_whole),
    _piecewise("trunc", lambda x: tg.trunc(x) * x * x, lambda x: math.trunc(x) * x * x, lambda x: 2 * math.trunc(x) * x, lambda x: 2.0 * math.trunc(x), _not_whole),
    _piecewise("round", lambda x: tg.round(x) * x * x, lambda x: round(x) * x * x, lambda x: 2 * round(x) * x, lambda x: 2.0 * round(x), lambda x: _not_whole(x, 0.5)),
    _piecewise("sign", lambda x: tg.sign(x) * x * x, lambda x: math.copysign(x * x, x), lambda x: 2 * abs(x), lambda x: math.copysign(2.0, x), lambda x: abs(x) > 1e-3),
    _piecewise("clip", lambda x: tg.clip(x, -0.5, 0.7) * x, lambda x: _clip(x) * x, lambda x: _inside(x) * x + _clip(x), lambda x: 2.0 * _inside(x), lambda x: _away(x, [-0.5, 0.7])),
    _piecewise(
        "where",
        lambda x: tg.where(x > 0.2, tg.sin(x) * x, tg.exp(x)),
        lambda x: math.sin(x) * x if x > 0.2 else math.exp(x),
        lambda x: math.cos(x) * x + math.sin(x) if x > 0.2 else math.exp(x),
        lambda x: 2 * math.cos(x) - math.sin(x) * x if x > 0.2 else math.exp(x),
        lambda x: _away(x, [0.2]),
    ),
]


@pytest.mark.parametrize("u", UNARY + PIECEWISE, ids=[u.name for u in UNARY + PIECEWISE])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_unary_values_and_derivatives(u: Unary, data: st.DataObject) -> None:
    x = data.draw(u.domain, label="x")
    assert u.fn(x) == u.ref(x)  # the math module's own function
    value, g = tg.value_and_grad(u.fn)(x)
    assert value == u.ref(x) and type(g) is float
    assert close(g, u.d1(x)), (x, g, u.d1(x))
    assert close(tg.jvp(u.fn, (x,), (1.0,))[1], u.d1(x))
    d2 = u.d2(x)
    assert close(tg.grad(tg.grad(u.fn))(x), d2, abs_=1e-11)
    assert close(tg.jvp(tg.grad(u.fn), (x,), (1.0,))[1], d2, abs_=1e-11)
    assert close(tg.grad(lambda t: tg.jvp(u.fn, (t,), (1.0,))[1])(x), d2, abs_=1e-11)


@pytest.mark.parametrize("u", UNARY + PIECEWISE, ids=[u.name for u in UNARY + PIECEWISE])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_unary_check_grads_second_order(u: Unary, data: st.DataObject) -> None:
    x = data.draw(u.domain, label="x")
    check_grads(u.fn, (x,), order=2, modes=("fwd", "rev"))


# -- two arguments -------------------------------------------------------------------------


@dataclass(frozen=True)
class Binary:
    name: str
    fn: Callable[[Any, Any], Any]
    ref: Callable[[float, float], float]
    grad: Callable[[float, float], tuple[float, float]]
    hess: Callable[[float, float], list[list[float]]]
    ok: Callable[[float, float], bool]  # away from kinks and singular points


def _atan2_hess(x: float, y: float) -> list[list[float]]:
    r4 = (x * x + y * y) ** 2
    return [[-2 * x * y / r4, (x * x - y * y) / r4], [(x * x - y * y) / r4, 2 * x * y / r4]]


def _hypot_hess(x: float, y: float) -> list[list[float]]:
    r3 = math.hypot(x, y) ** 3
    return [[y * y / r3, -x * y / r3], [-x * y / r3, x * x / r3]]


def _lae_hess(x: float, y: float) -> list[list[float]]:
    s = 1 / (1 + math.exp(y - x))
    v = s * (1 - s)
    return [[v, -v], [-v, v]]


def _away_from_whole(q: float) -> bool:
    return abs(q - round(q)) > 1e-3


def _lae2_hess(x: float, y: float) -> list[list[float]]:
    s = 1 / (1 + 2.0 ** (y - x))
    v = LN2 * s * (1 - s)
    return [[v, -v], [-v, v]]


ZERO2 = [[0.0, 0.0], [0.0, 0.0]]
BINARY = [
    Binary("atan2", tg.atan2, math.atan2, lambda x, y: (y / (x * x + y * y), -x / (x * x + y * y)), _atan2_hess, lambda x, y: math.hypot(x, y) > 0.3 and not (y < 0.0 and abs(x) < 0.01)),  # the branch cut
    Binary("hypot", tg.hypot, math.hypot, lambda x, y: (x / math.hypot(x, y), y / math.hypot(x, y)), _hypot_hess, lambda x, y: math.hypot(x, y) > 0.3),
    Binary("mod", lambda x, y: x % y, lambda x, y: x % y, lambda x, y: (1.0, -math.floor(x / y)), lambda x, y: ZERO2, lambda x, y: abs(y) > 0.3 and _away_from_whole(x / y)),
    Binary("fmod", tg.fmod, math.fmod, lambda x, y: (1.0, -math.trunc(x / y)), lambda x, y: ZERO2, lambda x, y: abs(y) > 0.3 and _away_from_whole(x / y)),
    Binary("maximum", tg.maximum, max, lambda x, y: (float(x > y), float(y > x)), lambda x, y: ZERO2, lambda x, y: abs(x - y) > 1e-3),
    Binary("minimum", tg.minimum, min, lambda x, y: (float(x < y), float(y < x)), lambda x, y: ZERO2, lambda x, y: abs(x - y) > 1e-3),
    Binary(
        "logaddexp",
        tg.logaddexp,
        lambda x, y: math.log(math.exp(x) + math.exp(y)),
        lambda x, y: (1 / (1 + math.exp(y - x)), 1 / (1 + math.exp(x - y))),
        _lae_hess,
        lambda x, y: True,
    ),
    Binary(
        "logaddexp2",
        tg.logaddexp2,
        lambda x, y: math.log2(2.0**x + 2.0**y),
        lambda x, y: (1 / (1 + 2.0 ** (y - x)), 1 / (1 + 2.0 ** (x - y))),
        _lae2_hess,
        lambda x, y: True,
    ),
]


@pytest.mark.parametrize("b", BINARY, ids=[b.name for b in BINARY])
@settings(max_examples=15, deadline=None)
@given(x=floats(), y=floats())
def test_binary_values_gradients_and_hessians(b: Binary, x: float, y: float) -> None:
    assume(b.ok(x, y))
    value, (gx, gy) = tg.value_and_grad(b.fn, argnums=(0, 1))(x, y)
    assert close(value, b.ref(x, y), rel=1e-15, abs_=0.0) and close(b.fn(x, y), value, rel=0.0, abs_=0.0)
    ex, ey = b.grad(x, y)
    assert close(gx, ex) and close(gy, ey), (gx, gy, ex, ey)
    _, t = tg.jvp(b.fn, (x, y), (1.0, 0.0))
    assert close(t, ex)
    h = tg.hessian(b.fn, argnums=(0, 1))(x, y)
    expected = b.hess(x, y)
    for i in range(2):
        for j in range(2):
            assert close(h[i][j], expected[i][j], abs_=1e-11), (i, j, h, expected)
    check_grads(b.fn, (x, y), order=2, modes=("fwd", "rev"))


def test_mod_is_pythons_and_fmod_is_cs() -> None:
    for x, y in itertools.product((5.5, -5.5, 0.0, -0.0), (2.0, -2.0)):
        value = tg.trace(lambda a: a % y)(x).records[-1].value
        assert isinstance(value, float) and math.copysign(1.0, value) == math.copysign(1.0, x % y)
        assert tg.value_and_grad(lambda a: a % y)(x)[0] == x % y
        assert tg.value_and_grad(lambda a: 10.0 % a)(y)[0] == 10.0 % y
        assert tg.value_and_grad(lambda a: tg.fmod(a, y))(x)[0] == math.fmod(x, y)
    assert tg.grad(lambda a, b: a % b, argnums=(0, 1))(-5.5, 2.0) == (1.0, 3.0)  # -5.5 = 2 * -3 + 0.5
    assert tg.grad(lambda a, b: tg.fmod(a, b), argnums=(0, 1))(-5.5, 2.0) == (1.0, 2.0)  # -5.5 = 2 * -2 - 1.5


# -- domain errors: what math raises, naming the primitive, with a hint -------------------------

DOMAIN_ERRORS: list[tuple[Callable[..., Any], tuple[float, ...], type[Exception], str]] = [
    (tg.tan, (math.inf,), ValueError, r"tan\(inf\): math domain error \(tan is defined for finite x\)"),
    (tg.asin, (2.0,), ValueError, r"asin\(2\.0\): math domain error \(asin is defined for -1 <= x <= 1\)"),
    (tg.acos, (-1.5,), ValueError, r"acos\(-1\.5\): .*acos is defined for -1 <= x <= 1"),
    (tg.sinh, (1000.0,), OverflowError, r"sinh\(1000\.0\): math range error \(the result is too large for a float\)"),
    (tg.cosh, (-1000.0,), OverflowError, r"cosh\(-1000\.0\): .*too large"),
    (tg.acosh, (0.5,), ValueError, r"acosh\(0\.5\): .*acosh is defined for x >= 1"),
    (tg.atanh, (1.0,), ValueError, r"atanh\(1\.0\): .*atanh is defined for -1 < x < 1"),
    (tg.log2, (0.0,), ValueError, r"log2\(0\.0\): .*log2 is defined for x > 0"),
    (tg.log10, (-1.0,), ValueError, r"log10\(-1\.0\): .*log10 is defined for x > 0"),
    (tg.log1p, (-1.0,), ValueError, r"log1p\(-1\.0\): .*log1p is defined for x > -1"),
    (tg.expm1, (1000.0,), OverflowError, r"expm1\(1000\.0\): .*too large"),
    (tg.exp2, (2000.0,), OverflowError, r"exp2\(2000\.0\): .*too large"),
    (tg.fmod, (1.0, 0.0), ValueError, r"fmod\(1\.0, 0\.0\): math domain error \(fmod needs a finite x and y != 0\)"),
    (tg.fmod, (math.inf, 1.0), ValueError, r"fmod\(inf, 1\.0\): .*fmod needs"),
    # (CPython 3.13 says "float modulo by zero", earlier versions "float modulo")
    (lambda x, y: x % y, (1.0, 0.0), ZeroDivisionError, r"mod\(1\.0, 0\.0\): float modulo( by zero)? \(mod needs y != 0\)"),
]


@pytest.mark.parametrize("case", DOMAIN_ERRORS, ids=[c[3][:12] for c in DOMAIN_ERRORS])
def test_domain_errors_name_the_primitive(case: tuple[Callable[..., Any], tuple[float, ...], type[Exception], str]) -> None:
    fn, args, exc, pattern = case
    argnums = tuple(range(len(args)))
    with pytest.raises(exc, match=pattern):
        tg.grad(fn, argnums=argnums)(*args)  # traced
    if fn.__name__ != "<lambda>":
        with pytest.raises(exc, match=pattern):
            fn(*args)  # on floats


def test_rows_marked_total_never_raise_and_the_others_can() -> None:
    # total=True lets the jit drop a dead record, so it must be true of every float.
    special = (math.inf, -math.inf, math.nan, 0.0, -0.0, 1.0, -1.0, 0.5, 1e308, -1e308, 5e-324, 1000.0)
    for prim in PRIMITIVES:
        if not prim.builtin or prim.arity == 0:
            continue
        n = prim.arity if prim.arity > 0 else 3
        raised = []
        for args in itertools.product(special, repeat=n):
            try:
                prim.impl(*args)
            except (ValueError, ArithmeticError):
                raised.append(args)
        if not prim.can_raise:
            assert not raised, (prim.name, raised[:3])
        else:
            assert raised, f"{prim.name} never raised: mark its row total=True"


# -- steps: floor, ceil, trunc, round ------------------------------------------------------------

STEPS = [(tg.floor, math.floor), (tg.ceil, math.ceil), (tg.trunc, math.trunc), (tg.round, round)]


@pytest.mark.parametrize("fn, ref", STEPS, ids=[f.__name__ for f, _ in STEPS])
def test_steps_are_floats_with_derivative_zero(fn: Callable[[Any], Any], ref: Callable[[float], int]) -> None:
    for x in (2.5, -2.5, 3.5, 0.49, -0.0, 7.0, 1e300):  # 7.0: on a jump, where the derivative is taken to be 0
        assert fn(x) == float(ref(x)) and type(fn(x)) is float
        value, g = tg.value_and_grad(fn)(x)
        assert value == float(ref(x)) and g == 0.0
        assert tg.jvp(fn, (x,), (1.0,))[1] == 0.0
        assert tg.grad(lambda t: fn(t) * t)(x) == float(ref(x))
        assert tg.grad(tg.grad(lambda t: fn(t) * t * t))(x) == 2.0 * float(ref(x))
    assert fn(math.inf) == math.inf and fn(-math.inf) == -math.inf and math.isnan(fn(math.nan))


def test_the_math_module_and_round_record_the_step_primitives() -> None:
    # (typed Any: for a Scalar, a float | Traced, mypy joins math.floor's int and Traced to object;
    # typed code calls tg.floor instead)
    def f(x: Any) -> Any:
        return math.floor(x) + math.ceil(x) * 10.0 + math.trunc(x) * 100.0 + round(x) * 1000.0 + x

    for x in (-2.5, 2.5, 3.7):
        assert tg.value_and_grad(f)(x) == (math.floor(x) + math.ceil(x) * 10.0 + math.trunc(x) * 100.0 + round(x) * 1000.0 + x, 1.0)
    assert [r.primitive.name for r in tg.trace(f)(1.5).records][1:5] == ["floor", "ceil", "mul", "add"]
    assert round(2.5) == 2 and tg.round(2.5) == 2.0 and tg.round(3.5) == 4.0  # halves to even, as Python


def test_sign_is_exported() -> None:
    assert "sign" in tg.__all__ and tg.sign(-3.0) == -1.0 and tg.grad(tg.sign)(2.0) == 0.0


# -- ties, kinks and choices ---------------------------------------------------------------------


def test_maximum_and_minimum_split_a_tie_evenly() -> None:
    for fn in (tg.maximum, tg.minimum):
        assert tg.grad(fn, argnums=(0, 1))(1.5, 1.5) == (0.5, 0.5)
        assert tg.jvp(fn, (1.5, 1.5), (1.0, 0.0))[1] == 0.5
        assert tg.grad(lambda x, fn=fn: fn(x, x))(2.0) == 1.0  # both halves reach x
        assert tg.hessian(fn, argnums=(0, 1))(1.5, 1.5) == ((0.0, 0.0), (0.0, 0.0))
    assert tg.grad(tg.maximum, argnums=(0, 1))(2.0, 1.0) == (1.0, 0.0)
    assert tg.grad(tg.minimum, argnums=(0, 1))(2.0, 1.0) == (0.0, 1.0)
    assert math.isnan(tg.maximum(math.nan, 1.0)) and math.isnan(tg.maximum(1.0, math.nan))
    assert math.isnan(tg.minimum(math.nan, 1.0)) and math.isnan(tg.minimum(1.0, math.nan))


def test_hypot_at_the_origin_has_derivative_zero() -> None:
    assert tg.grad(tg.hypot, argnums=(0, 1))(0.0, 0.0) == (0.0, 0.0)
    assert tg.grad(tg.hypot, argnums=(0, 1))(-3.0, 4.0) == (-0.6, 0.8)
    assert tg.hypot(1e300, 1e300) == math.hypot(1e300, 1e300)  # no overflow in between


def test_logaddexp_is_stable_at_large_magnitudes() -> None:
    for big in (1000.0, -1000.0):
        assert tg.logaddexp(big, big) == big + LN2
        assert tg.grad(tg.logaddexp, argnums=(0, 1))(big, big) == (0.5, 0.5)
    assert tg.logaddexp(1000.0, -1000.0) == 1000.0
    assert tg.grad(tg.logaddexp, argnums=(0, 1))(1000.0, -1000.0) == (1.0, 0.0)
    assert tg.grad(tg.logaddexp, argnums=(0, 1))(-1000.0, 1000.0) == (0.0, 1.0)
    h = tg.hessian(tg.logaddexp, argnums=(0, 1))(1000.0, 1000.0)
    assert h == ((0.25, -0.25), (-0.25, 0.25))
    assert tg.logaddexp(math.inf, math.inf) == math.inf and tg.logaddexp(-math.inf, -math.inf) == -math.inf
    assert tg.logaddexp(-math.inf, 2.0) == 2.0


@settings(max_examples=20, deadline=None)
@given(x=floats(), y=floats())
def test_logaddexp_is_log_of_exp_sum(x: float, y: float) -> None:
    assert close(tg.logaddexp(x, y), math.log(math.exp(x) + math.exp(y)), rel=1e-14)


def test_where_sends_the_gradient_to_the_chosen_value_only() -> None:
    def f(x: Scalar) -> Scalar:
        return tg.where(x > 0.0, tg.sqrt(x), 0.0)

    assert tg.grad(f)(4.0) == 0.25
    assert tg.grad(f)(0.0) == 0.0  # sqrt'(0) is never evaluated: no error, no nan
    assert tg.grad(tg.grad(f))(0.0) == 0.0  # nor on the traced (general) sweep
    assert tg.jvp(f, (0.0,), (1.0,))[1] == 0.0

    def g(x: Scalar, y: Scalar) -> Scalar:
        return tg.where(x < y, x * y, y * y)

    assert tg.grad(g, argnums=(0, 1))(1.0, 3.0) == (3.0, 1.0)
    assert tg.grad(g, argnums=(0, 1))(3.0, 1.0) == (0.0, 2.0)
    check_grads(g, (1.0, 3.0), order=2)
    assert tg.where(True, 1.0, 2.0) == 1.0 and tg.where(False, 1.0, 2.0) == 2.0
    tape = tg.trace(g)(1.0, 3.0)
    assert "where(1, v2, v3)" in str(tape)
    with pytest.raises(TypeError, match="where: the condition is a traced scalar"):
        tg.grad(lambda x: tg.where(x, x, 0.0))(1.0)


def test_where_under_jit_retraces_when_the_condition_changes() -> None:
    f = tg.jit(tg.grad(lambda x: tg.where(x > 0.0, x * x, -x)))
    assert f(3.0) == 6.0 and f(-3.0) == -1.0 and f(2.0) == 4.0


def test_clip_derivative_is_one_on_the_closed_interval() -> None:
    d = tg.grad(lambda x: tg.clip(x, -1.0, 1.0))
    assert [d(x) for x in (-2.0, -1.0, 0.0, 1.0, 2.0)] == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert [tg.clip(x, -1.0, 1.0) for x in (-2.0, -1.0, 0.5, 1.0, 2.0)] == [-1.0, -1.0, 0.5, 1.0, 1.0]
    # traced bounds get the gradient when they are the answer; it always sums to 1
    g3 = tg.grad(tg.clip, argnums=(0, 1, 2))
    assert g3(-2.0, -1.0, 1.0) == (0.0, 1.0, 0.0)
    assert g3(2.0, -1.0, 1.0) == (0.0, 0.0, 1.0)
    assert g3(1.0, -1.0, 1.0) == (1.0, 0.0, 0.0)
    assert g3(0.0, 2.0, 1.0) == (0.0, 0.0, 1.0) and tg.clip(0.0, 2.0, 1.0) == 1.0  # lo > hi: hi, as clamp
    assert math.isnan(tg.clip(math.nan, 0.0, 1.0))
    check_grads(lambda x, lo, hi: tg.clip(x, lo, hi) * x, (0.5, -1.0, 1.0), order=2)
    check_grads(lambda x, lo, hi: tg.clip(x, lo, hi) * x, (-1.5, -1.0, 1.0), order=2)


def test_constants() -> None:
    assert tg.pi == math.pi and tg.e == math.e


# -- under jit: every new primitive replays equal to eager -------------------------------------


@pytest.mark.parametrize("backend", ["source", "bytecode"])
def test_jit_replays_equal_eager(backend: str) -> None:
    from tapegrad.compiler.backends import ASSEMBLER_AVAILABLE

    if backend == "bytecode" and not ASSEMBLER_AVAILABLE:
        pytest.skip("the bytecode back end is for CPython 3.11")

    def f(x: Any, y: Any) -> Any:
        unary = tg.tan(x) + tg.asin(x) + tg.acos(x) + tg.atan(y) + tg.sinh(x) + tg.cosh(y) + tg.asinh(x) + tg.acosh(y) + tg.atanh(x)
        logs = tg.log2(y) + tg.log10(y) + tg.log1p(x) + tg.expm1(x) + tg.exp2(y) + tg.erf(x) + tg.erfc(y)
        two = tg.atan2(x, y) + tg.hypot(x, y) + y % x + tg.fmod(y, x) + tg.maximum(x, y) + tg.minimum(x, y) + tg.logaddexp(x, y)
        steps = math.floor(y * 3.0) + math.ceil(y) + math.trunc(-y) + round(y * 2.0)
        return unary + logs + two + steps + tg.where(x < y, x, y) + tg.clip(x, 0.0, 0.4)

    jf = tg.jit(f, backend=backend)
    jg = tg.jit(tg.grad(f, argnums=(0, 1)), backend=backend)
    for x, y in ((0.3, 1.7), (0.5, 1.2), (-0.2, 2.9)):
        assert jf(x, y) == f(x, y)
        assert jg(x, y) == tg.grad(f, argnums=(0, 1))(x, y)
    with pytest.raises(ValueError, match=r"asin\(1\.5\)"):
        jf(1.5, 1.7)  # the domain check replays too


# -- PyTorch (float64), where installed: the same numbers and the same conventions ------------


def test_agrees_with_pytorch() -> None:
    torch = pytest.importorskip("torch")

    def torch_grads(fn: Callable[..., Any], *args: float) -> list[float]:
        ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
        fn(*ts).backward()
        return [float(t.grad) if t.grad is not None else 0.0 for t in ts]

    cases: list[tuple[Callable[..., Any], Callable[..., Any], tuple[float, ...]]] = [
        (tg.tan, torch.tan, (0.7,)),
        (tg.asin, torch.asin, (0.3,)),
        (tg.acos, torch.acos, (-0.3,)),
        (tg.atan, torch.atan, (2.0,)),
        (tg.sinh, torch.sinh, (1.2,)),
        (tg.cosh, torch.cosh, (-1.2,)),
        (tg.asinh, torch.asinh, (3.0,)),
        (tg.acosh, torch.acosh, (3.0,)),
        (tg.atanh, torch.atanh, (0.5,)),
        (tg.log2, torch.log2, (3.0,)),
        (tg.log10, torch.log10, (3.0,)),
        (tg.log1p, torch.log1p, (0.1,)),
        (tg.expm1, torch.expm1, (0.1,)),
        (tg.exp2, torch.exp2, (1.5,)),
        (tg.erf, torch.erf, (0.4,)),
        (tg.erfc, torch.erfc, (0.4,)),
        (tg.atan2, torch.atan2, (1.0, -2.0)),
        (tg.hypot, torch.hypot, (3.0, -4.0)),
        (lambda a, b: a % b, torch.remainder, (-5.5, 2.0)),
        (tg.fmod, torch.fmod, (-5.5, 2.0)),
        (tg.logaddexp, torch.logaddexp, (1000.0, 999.0)),
        (tg.logaddexp2, torch.logaddexp2, (1000.0, 999.0)),
        (tg.logaddexp2, torch.logaddexp2, (0.3, -2.5)),
        (tg.sinc, torch.sinc, (0.3,)),
        (tg.sinc, torch.sinc, (-2.5,)),
        (tg.sinc, torch.sinc, (0.0,)),
        # kinks and ties
        (tg.floor, torch.floor, (2.0,)),
        (tg.ceil, torch.ceil, (2.5,)),
        (tg.trunc, torch.trunc, (-2.5,)),
        (tg.round, torch.round, (2.5,)),
        (tg.maximum, torch.maximum, (1.5, 1.5)),
        (tg.minimum, torch.minimum, (1.5, 1.5)),
        (tg.maximum, torch.maximum, (2.5, 1.5)),
        (tg.clip, torch.clamp, (1.0, -1.0, 1.0)),
        (tg.clip, torch.clamp, (-1.0, -1.0, 1.0)),
        (tg.clip, torch.clamp, (2.0, -1.0, 1.0)),
        (tg.clip, torch.clamp, (-2.0, -1.0, 1.0)),
        (tg.clip, torch.clamp, (0.0, 2.0, 1.0)),
    ]
    for ours, theirs, args in cases:
        n = len(args)
        value, grads = tg.value_and_grad(ours, argnums=tuple(range(n)))(*args)
        expected = torch_grads(theirs, *args)
        assert close(value, float(theirs(*[torch.tensor(a, dtype=torch.float64) for a in args])), rel=1e-14), (ours, args)
        assert all(close(a, b, rel=1e-12) for a, b in zip(grads, expected)), (ours, args, grads, expected)
