"""How accurate the rule table's derivatives are, and the rows that need care to be.

- ``x % y`` and ``fmod``: the derivative in ``y`` is minus the quotient the
  remainder was computed with (exact rational arithmetic says which), on
  every back end.
- First and second derivatives of every smooth one-argument function within
  1e-15 relative wherever the true value is a normal float, from 1e-300 to
  the edge of the domain: against series at tiny arguments (always) and
  against mpmath at a grid of points (when mpmath is installed).
- ``sinc`` (numpy's normalized one) and ``logaddexp2``: values, closed-form
  derivatives, the removable singularity of sinc at 0 at several orders.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any, Callable

import pytest
from hypothesis import given, settings

import tapegrad as tg
from tapegrad.core.primitive import PRIMITIVES
from tapegrad.core.rule_table import HELPER_PRIMITIVES
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import floats

NORMAL = 2.2250738585072014e-308


def relative_error(got: float, true: float) -> float:
    return abs(got - true) / abs(true)


# -- the quotient of % and fmod -------------------------------------------------------------


def _mod_cases() -> list[tuple[float, float]]:
    rng = random.Random(16)
    cases = [(1.0, 0.1), (-1.0, 0.1), (1.0, -0.1), (0.3, 0.1), (7.0, 0.7), (5.5, 2.0), (-5.5, 2.0), (1e-20, -1.0), (-1e-20, 1.0)]
    for _ in range(300):
        y = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-3, 3)
        x = rng.uniform(-1e3, 1e3) * abs(y) * rng.choice([1e-3, 1.0, 30.0])
        cases.append((x, y))
    return cases


MOD_CASES = _mod_cases()


def _floor_quotient(x: float, y: float) -> float:
    return float(math.floor(Fraction(x) / Fraction(y)))


def _trunc_quotient(x: float, y: float) -> float:
    return float(math.trunc(Fraction(x) / Fraction(y)))


def test_the_derivative_of_mod_in_y_is_minus_the_quotient_python_used() -> None:
    # 1.0 % 0.1 == 1.0 - 9 * 0.1 (0.1 is a little above 1/10), though floor(1.0 / 0.1) == 10
    assert 1.0 % 0.1 == pytest.approx(1.0 - 9 * 0.1) and math.floor(1.0 / 0.1) == 10
    assert tg.grad(lambda y: 1.0 % y)(0.1) == -9.0
    assert tg.grad(lambda y: tg.fmod(1.0, y))(0.1) == -9.0
    for x, y in MOD_CASES:
        # The exact quotient of Python's % is floor(x / y) in exact arithmetic.
        assert tg.grad(lambda a, b: a % b, argnums=(0, 1))(x, y) == (1.0, -_floor_quotient(x, y)), (x, y)
        assert tg.grad(tg.fmod, argnums=(0, 1))(x, y) == (1.0, -_trunc_quotient(x, y)), (x, y)


def test_mod_quotient_for_an_infinite_divisor_is_the_limit() -> None:
    # -1.0 % inf is inf: x - q * y with q = -1, the limit of floor(-1 / y) for large y (PyTorch: 1.0 too)
    inf = math.inf
    cases = [(-1.0, inf, 1.0), (1.0, inf, -0.0), (2.0, -inf, 1.0), (-2.0, -inf, -0.0), (0.0, inf, -0.0)]
    for x, y, expected in cases:
        assert tg.grad(lambda b: x % b)(y) == expected, (x, y)
        assert tg.jit(tg.grad(lambda b: x % b))(y) == expected, (x, y)
    d = tg.grad(lambda b, a: a % b)
    for backend in ["python"] + (["numpy"] if _has_numpy() else []):
        assert list(tg.vmap(d, backend=backend)([c[1] for c in cases], [c[0] for c in cases])) == [c[2] for c in cases]


def test_mod_quotient_on_every_back_end() -> None:
    xs = [x for x, _ in MOD_CASES[:60]]
    ys = [y for _, y in MOD_CASES[:60]]
    expected = [-_floor_quotient(x, y) for x, y in zip(xs, ys)]
    expected_fmod = [-_trunc_quotient(x, y) for x, y in zip(xs, ys)]
    d_mod = tg.grad(lambda b, a: a % b)
    d_fmod = tg.grad(lambda b, a: tg.fmod(a, b))
    jitted = tg.jit(d_mod)
    assert [jitted(y, x) for x, y in zip(xs, ys)] == expected
    assert [tg.jit(d_fmod)(y, x) for x, y in zip(xs, ys)] == expected_fmod
    # the second derivative (mixed, in y twice) is zero
    assert tg.grad(tg.grad(lambda y: 1.0 % y))(0.1) == 0.0
    backends = ["python"] + (["numpy"] if _has_numpy() else [])
    for backend in backends:
        mapped = tg.vmap(d_mod, backend=backend)(ys, xs)
        assert list(mapped) == expected, backend
        assert list(tg.vmap(d_fmod, backend=backend)(ys, xs)) == expected_fmod, backend
        replay = tg.jit(tg.vmap(d_mod, backend=backend))
        assert list(replay(tg.batch(ys, backend=backend), tg.batch(xs, backend=backend))) == expected, backend


def _has_numpy() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def test_mod_quotient_agrees_with_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for x, y in MOD_CASES[:40]:
        ty = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        torch.remainder(torch.tensor(x, dtype=torch.float64), ty).backward()
        assert tg.grad(lambda b: x % b)(y) == float(ty.grad), (x, y)


# -- first and second derivatives near 0 and far out ------------------------------------------


def _orders(fn: Callable[[Any], Any], x: float) -> list[tuple[str, float, float]]:
    """(how, first, second) derivative of fn at x by every route: reverse, forward, mixed, jit."""
    first = tg.grad(fn)
    return [
        ("reverse", first(x), tg.grad(first)(x)),
        ("forward over reverse", tg.jvp(fn, (x,), (1.0,))[1], tg.jvp(first, (x,), (1.0,))[1]),
        ("reverse over forward", first(x), tg.grad(lambda t: tg.jvp(fn, (t,), (1.0,))[1])(x)),
        ("jit", tg.jit(first)(x), tg.jit(tg.grad(first))(x)),
    ]


# Second derivatives near 0 from their Taylor series (two terms are exact to
# rounding at these points), and tanh's first derivative far out.
TINY_POINTS = (1e-300, -3.7e-200, 1e-100, 1e-8, -2e-8)
SERIES: list[tuple[str, Callable[[Any], Any], Callable[[float], float]]] = [
    ("tanh", tg.tanh, lambda x: -2 * x + 8 / 3 * x**3),
    ("sigmoid", tg.sigmoid, lambda x: -x / 8 + x**3 / 24),
    ("asin", tg.asin, lambda x: x + 1.5 * x**3),
    ("acos", tg.acos, lambda x: -(x + 1.5 * x**3)),
    ("atanh", tg.atanh, lambda x: 2 * x + 4 * x**3),
    ("atan", tg.atan, lambda x: -2 * x + 4 * x**3),
    ("sinh", tg.sinh, lambda x: x),
    ("erf", tg.erf, lambda x: -4 / math.sqrt(math.pi) * x),
    ("sinc", tg.sinc, lambda x: -(math.pi**2) / 3 + math.pi**4 / 10 * x * x),
]


@pytest.mark.parametrize("name, fn, second", SERIES, ids=[s[0] for s in SERIES])
def test_second_derivatives_near_zero_keep_every_digit(name: str, fn: Callable[[Any], Any], second: Callable[[float], float]) -> None:
    for x in TINY_POINTS:
        true = second(x)
        for how, _, d2 in _orders(fn, x):
            assert relative_error(d2, true) <= 1e-15, (name, how, x, d2, true)


def test_derivatives_far_out_stay_normal_where_the_answer_is() -> None:
    # atan''(x) = -2x / (1 + x^2)^2, which is -2 / x^3 to 1e-200 relative here;
    # a chain through 1 + x*x would pass near 1/x^4 and underflow.
    for x in (1e100, -3e90, 1e80):
        assert relative_error(tg.grad(tg.grad(tg.atan))(x), -2 / x**3) <= 1e-15
    # tanh'(x) = 4 e^(-2|x|) (1 + e^(-2|x|))^-2, normal up to |x| of about 354
    for x in (20.5, -30.0, 300.0):
        assert relative_error(tg.grad(tg.tanh)(x), 4 * math.exp(-2 * abs(x))) <= 1e-15
        assert relative_error(tg.grad(tg.grad(tg.tanh))(x), -math.copysign(8.0, x) * math.exp(-2 * abs(x))) <= 1e-15
    assert tg.grad(tg.tanh)(800.0) == 0.0 and tg.grad(tg.grad(tg.tanh))(-800.0) == 0.0  # no overflow error


# mpmath references: (first, second derivative) as functions of an mpf.
def _mpmath_references(mp: Any) -> dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], tuple[float, float]]]:
    def s(x: Any) -> Any:
        return 1 / (1 + mp.exp(-x))

    k = 2 / mp.sqrt(mp.pi)
    ln2, ln10 = mp.log(2), mp.log(10)
    inf = math.inf

    def sinc_series(x: Any, order: int) -> Any:
        # d^n/dx^n of sum (-1)^k (pi x)^(2k) / (2k + 1)!, for |pi x| < 1 (where the closed forms cancel)
        u = mp.pi * x
        total = mp.mpf(0)
        for k in range((order + 1) // 2, 40):
            total += (-1) ** k * mp.factorial(2 * k) / (mp.factorial(2 * k - order) * mp.factorial(2 * k + 1)) * u ** (2 * k - order)
        return mp.pi**order * total

    def sinc1(x: Any) -> Any:
        if abs(x) < 0.3:
            return sinc_series(x, 1)
        u = mp.pi * x  # sin(u) and cos(u) through sinpi and cospi, exact for huge x
        return mp.pi * (mp.cospi(x) / u - mp.sinpi(x) / u**2)

    def sinc2(x: Any) -> Any:
        if abs(x) < 0.3:
            return sinc_series(x, 2)
        u = mp.pi * x
        return mp.pi**2 * (-mp.sinpi(x) / u - 2 * mp.cospi(x) / u**2 + 2 * mp.sinpi(x) / u**3)

    return {
        "exp": (mp.exp, mp.exp, (-inf, inf)),
        "log": (lambda x: 1 / x, lambda x: -1 / x**2, (0.0, inf)),
        "sqrt": (lambda x: 1 / (2 * mp.sqrt(x)), lambda x: -(x ** mp.mpf(-1.5)) / 4, (0.0, inf)),
        "sin": (mp.cos, lambda x: -mp.sin(x), (-inf, inf)),
        "cos": (lambda x: -mp.sin(x), lambda x: -mp.cos(x), (-inf, inf)),
        "tanh": (lambda x: mp.sech(x) ** 2, lambda x: -2 * mp.tanh(x) * mp.sech(x) ** 2, (-inf, inf)),
        "sigmoid": (lambda x: s(x) * s(-x), lambda x: -mp.tanh(x / 2) * mp.sech(x / 2) ** 2 / 4, (-inf, inf)),
        "softplus": (s, lambda x: s(x) * s(-x), (-inf, inf)),
        "tan": (lambda x: mp.sec(x) ** 2, lambda x: 2 * mp.tan(x) * mp.sec(x) ** 2, (-inf, inf)),
        "asin": (lambda x: 1 / mp.sqrt(1 - x * x), lambda x: x * (1 - x * x) ** mp.mpf(-1.5), (-1.0, 1.0)),
        "acos": (lambda x: -1 / mp.sqrt(1 - x * x), lambda x: -x * (1 - x * x) ** mp.mpf(-1.5), (-1.0, 1.0)),
        "atan": (lambda x: 1 / (1 + x * x), lambda x: -2 * x / (1 + x * x) ** 2, (-inf, inf)),
        "sinh": (mp.cosh, mp.sinh, (-inf, inf)),
        "cosh": (mp.sinh, mp.cosh, (-inf, inf)),
        "asinh": (lambda x: 1 / mp.sqrt(1 + x * x), lambda x: -x * (1 + x * x) ** mp.mpf(-1.5), (-inf, inf)),
        "acosh": (lambda x: 1 / mp.sqrt(x * x - 1), lambda x: -x * (x * x - 1) ** mp.mpf(-1.5), (1.0, inf)),
        "atanh": (lambda x: 1 / (1 - x * x), lambda x: 2 * x / (1 - x * x) ** 2, (-1.0, 1.0)),
        "log2": (lambda x: 1 / (x * ln2), lambda x: -1 / (x * x * ln2), (0.0, inf)),
        "log10": (lambda x: 1 / (x * ln10), lambda x: -1 / (x * x * ln10), (0.0, inf)),
        "log1p": (lambda x: 1 / (1 + x), lambda x: -1 / (1 + x) ** 2, (-1.0, inf)),
        "expm1": (mp.exp, mp.exp, (-inf, inf)),
        "exp2": (lambda x: mp.power(2, x) * ln2, lambda x: mp.power(2, x) * ln2**2, (-inf, inf)),
        "erf": (lambda x: k * mp.exp(-x * x), lambda x: -2 * x * k * mp.exp(-x * x), (-inf, inf)),
        "erfc": (lambda x: -k * mp.exp(-x * x), lambda x: 2 * x * k * mp.exp(-x * x), (-inf, inf)),
        "sinc": (sinc1, sinc2, (-inf, inf)),
    }


# Piecewise-constant or kinked functions: their derivatives are 0, 1 or a sign, tested elsewhere.
PIECEWISE = {"abs", "relu", "step", "sign", "floor", "ceil", "trunc", "round", "stop_gradient"}


def _grid() -> list[float]:
    points = [0.0, 0.5, 0.7, 1.5, 19.0, 20.5, 30.0, 100.0, 354.0, 700.0, 709.0, 800.0]
    for e in range(-300, 309, 17):
        points += [float(f"1e{e}"), float(f"3.7e{e}")]
    points += [1 - 2.0**-k for k in range(1, 53, 5)] + [1 + 2.0**-k for k in range(1, 53, 5)]
    return points + [-p for p in points]


def test_every_smooth_function_against_mpmath() -> None:
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    refs = _mpmath_references(mp)
    unary = {p.name for p in PRIMITIVES if p.builtin and p.arity == 1 and p.name in tg.__all__}
    assert unary - PIECEWISE == set(refs), "give every new one-argument function an mpmath reference here"
    for name, (d1, d2, (lo, hi)) in refs.items():
        fn = getattr(tg, name)
        # sinc's derivatives pass through zeros between the integers, where
        # the recursion's terms cancel; elsewhere 1e-15 holds.
        tolerance = 4e-15 if name == "sinc" else 1e-15
        first, second = tg.grad(fn), tg.grad(tg.grad(fn))
        for x in _grid():
            if not lo < x < hi:
                continue
            try:
                fn(x)
            except (ValueError, OverflowError):
                continue  # outside what the float function takes
            for order, derivative, ref in ((1, first, d1), (2, second, d2)):
                true = ref(mp.mpf(x))
                if NORMAL <= abs(true) <= 1.7e308:
                    got = derivative(x)
                    assert relative_error(got, true) <= tolerance, (name, order, x, got, float(true))


def test_the_helper_rows_are_not_public() -> None:
    # Rules call them; users call tanh, asin, atan and sinc.
    assert HELPER_PRIMITIVES and not HELPER_PRIMITIVES & set(tg.__all__)
    assert HELPER_PRIMITIVES <= {p.name for p in PRIMITIVES if p.builtin}


# -- sinc and logaddexp2 ------------------------------------------------------------------------


def _sinc_ref(x: float) -> float:
    return math.sin(math.pi * x) / (math.pi * x) if x else 1.0


def _sinc_d1(x: float) -> float:
    return (math.cos(math.pi * x) - _sinc_ref(x)) / x


def _sinc_d2(x: float) -> float:
    return -(math.pi**2) * _sinc_ref(x) - 2 * _sinc_d1(x) / x


@settings(max_examples=25, deadline=None)
@given(x=floats(-4.0, 4.0, min_magnitude=0.1))
def test_sinc_values_and_derivatives_are_the_closed_forms(x: float) -> None:
    assert math.isclose(tg.sinc(x), _sinc_ref(x), rel_tol=1e-13, abs_tol=1e-15)
    assert math.isclose(tg.grad(tg.sinc)(x), _sinc_d1(x), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(tg.jvp(tg.sinc, (x,), (1.0,))[1], _sinc_d1(x), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(tg.grad(tg.grad(tg.sinc))(x), _sinc_d2(x), rel_tol=1e-9, abs_tol=1e-11)
    check_grads(tg.sinc, (x,), order=2, modes=("fwd", "rev"))


def test_sinc_at_its_removable_singularity_at_every_order() -> None:
    # The Taylor series sinc(x) = sum (-1)^k (pi x)^(2k) / (2k + 1)!: at 0 the
    # n-th derivative is (-1)^(n/2) pi^n / (n + 1) for even n, 0 for odd n.
    fn: Callable[[Any], Any] = tg.sinc
    assert tg.sinc(0.0) == 1.0
    for n in range(1, 7):
        fn = tg.grad(fn)
        expected = 0.0 if n % 2 else (-1) ** (n // 2) * math.pi**n / (n + 1)
        assert math.isclose(fn(0.0), expected, rel_tol=1e-15, abs_tol=0.0), (n, fn(0.0), expected)
    check_grads(tg.sinc, (0.0,), order=2, modes=("fwd", "rev"))
    # The value next to 0 is continuous with it (series there, not 0/0)
    assert tg.sinc(1e-300) == 1.0 and tg.sinc(-1e-9) == pytest.approx(1.0 - (math.pi * 1e-9) ** 2 / 6, rel=1e-16)


def test_sinc_is_numpys_convention_and_exact_at_the_integers() -> None:
    for k in (1.0, -2.0, 3.0, 1e15, 2.0**60):
        assert tg.sinc(k) == 0.0  # sin(pi k) reduced exactly, not sin of a rounded pi k
    assert tg.sinc(0.5) == pytest.approx(2 / math.pi, rel=1e-16)
    big = 1e10 + 0.5  # sin(pi x) is exactly 1 here; math.sin(math.pi * x) is not
    assert tg.sinc(big) == pytest.approx(1 / (math.pi * big), rel=1e-15)
    assert tg.sinc(math.inf) == 0.0 and tg.sinc(-math.inf) == 0.0 and math.isnan(tg.sinc(math.nan))
    np = pytest.importorskip("numpy")
    for x in (0.3, -1.7, 2.25, 1e-3):
        assert tg.sinc(x) == pytest.approx(float(np.sinc(x)), rel=1e-14)


def test_sinc_deriv_refuses_an_order_it_cannot_compute() -> None:
    from tapegrad.core.rule_table import sinc_deriv_p

    with pytest.raises(ValueError, match=r"sinc_deriv\(0\.5, 0\.5\): the order must be a whole number from 0 to 16"):
        sinc_deriv_p.evaluate((0.5, 0.5))


def test_logaddexp2_values_and_gradients() -> None:
    assert tg.logaddexp2(3.0, 3.0) == 4.0 and tg.logaddexp2(1000.0, -1000.0) == 1000.0
    assert tg.logaddexp2(2.0, 1.0) == pytest.approx(math.log2(6.0), rel=1e-16)
    assert tg.grad(tg.logaddexp2, argnums=(0, 1))(1000.0, 1000.0) == (0.5, 0.5)
    assert tg.grad(tg.logaddexp2, argnums=(0, 1))(2.0, 1.0) == pytest.approx((2 / 3, 1 / 3), rel=1e-15)
    assert tg.logaddexp2(math.inf, math.inf) == math.inf and tg.logaddexp2(-math.inf, -math.inf) == -math.inf
    assert tg.logaddexp2(-math.inf, 2.0) == 2.0 and math.isnan(tg.logaddexp2(math.nan, 1.0))
    np = pytest.importorskip("numpy")
    for x, y in ((0.3, -2.5), (50.0, 49.0), (-700.0, -701.5)):
        assert tg.logaddexp2(x, y) == pytest.approx(float(np.logaddexp2(x, y)), rel=1e-15)


def test_sinc_and_logaddexp2_under_jit_and_vmap_equal_eager() -> None:
    def f(x: Any, y: Any) -> Any:
        return tg.sinc(x) * tg.logaddexp2(x, y)

    g = tg.grad(f, argnums=(0, 1))
    xs, ys = [0.0, 0.3, -1.2, 2.0], [1.0, -0.5, 3.0, 2.0]
    jf, jg = tg.jit(f), tg.jit(g)
    for x, y in zip(xs, ys):
        assert jf(x, y) == f(x, y) and jg(x, y) == g(x, y)
    eager = [g(x, y) for x, y in zip(xs, ys)]
    mapped = tg.vmap(g)(xs, ys)
    assert [tuple(map(float, row)) for row in mapped] == [tuple(e) for e in eager]


# -- hessian of a list-valued function ---------------------------------------------------------


def test_hessian_of_a_list_valued_function_is_the_jacobian_of_the_jacobian() -> None:
    def f(p: Any) -> list[Any]:
        x, y = p
        return [x * x * y, tg.sin(x) * y, tg.exp(x * y)]

    def closed_form(x: float, y: float) -> list[list[list[float]]]:
        e = math.exp(x * y)
        return [
            [[2 * y, 2 * x], [2 * x, 0.0]],
            [[-math.sin(x) * y, math.cos(x)], [math.cos(x), 0.0]],
            [[y * y * e, e + x * y * e], [e + x * y * e, x * x * e]],
        ]

    for x, y in ((1.0, 2.0), (-0.3, 0.7), (2.5, -1.1)):
        h = tg.hessian(f)([x, y])
        expected = closed_form(x, y)
        for k in range(3):
            for i in range(2):
                for j in range(2):
                    assert math.isclose(h[k][i][j], expected[k][i][j], rel_tol=1e-14, abs_tol=1e-15), (k, i, j)
        assert h == tg.jacobian(tg.jacobian(f))([x, y])
    # several arguments, and outputs nested in a dict: H[output][i][j]
    h2 = tg.hessian(lambda a, b: {"p": a * b * b, "q": (a * a, b)}, argnums=(0, 1))(1.0, 3.0)
    assert h2 == {"p": ((0.0, 6.0), (6.0, 2.0)), "q": (((2.0, 0.0), (0.0, 0.0)), ((0.0, 0.0), (0.0, 0.0)))}
    # a scalar function keeps its Hessian shape
    assert tg.hessian(lambda p: p[0] * p[0] * p[1])([1.0, 2.0]) == [[4.0, 2.0], [2.0, 0.0]]


def _binary_references(mp: Any) -> dict[str, tuple[Callable[..., Any], Callable[[Any, Any], tuple[list[Any], list[list[Any]]]]]]:
    def s(z: Any) -> Any:
        return 1 / (1 + mp.exp(-z))

    ln2 = mp.log(2)

    def hypot(x: Any, y: Any) -> tuple[list[Any], list[list[Any]]]:
        r = mp.sqrt(x * x + y * y)
        return [x / r, y / r], [[y * y / r**3, -x * y / r**3], [-x * y / r**3, x * x / r**3]]

    def atan2(x: Any, y: Any) -> tuple[list[Any], list[list[Any]]]:  # tapegrad's atan2(x, y) is math.atan2(x, y)
        r2 = x * x + y * y
        c = (x * x - y * y) / r2**2
        return [y / r2, -x / r2], [[-2 * x * y / r2**2, c], [c, 2 * x * y / r2**2]]

    def logaddexp(x: Any, y: Any) -> tuple[list[Any], list[list[Any]]]:
        v = s(x - y) * s(y - x)
        return [s(x - y), s(y - x)], [[v, -v], [-v, v]]

    def logaddexp2(x: Any, y: Any) -> tuple[list[Any], list[list[Any]]]:
        v = ln2 * s((x - y) * ln2) * s((y - x) * ln2)
        return [s((x - y) * ln2), s((y - x) * ln2)], [[v, -v], [-v, v]]

    def div(x: Any, y: Any) -> tuple[list[Any], list[list[Any]]]:
        return [1 / y, -x / y**2], [[mp.mpf(0), -1 / y**2], [-1 / y**2, 2 * x / y**3]]

    def pow_(x: Any, y: Any) -> tuple[list[Any], list[list[Any]]]:
        p, lx, q = mp.power(x, y), mp.log(x), mp.power(x, y - 1)
        return [y * q, p * lx], [[y * (y - 1) * mp.power(x, y - 2), q * (1 + y * lx)], [q * (1 + y * lx), p * lx * lx]]

    return {
        "hypot": (tg.hypot, hypot),
        "atan2": (tg.atan2, atan2),
        "logaddexp": (tg.logaddexp, logaddexp),
        "logaddexp2": (tg.logaddexp2, logaddexp2),
        "div": (lambda a, b: a / b, div),
        "pow": (lambda a, b: a**b, pow_),
    }


def test_two_argument_functions_against_mpmath() -> None:
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    magnitudes = [1e-300, 1e-150, 1e-8, 0.3, 1.0, 2.5, 1e20, 1e150, 1e300]
    grid = magnitudes + [-v for v in magnitudes]
    for name, (fn, ref) in _binary_references(mp).items():
        if name == "pow":
            # pow: moderate bases and exponents whose y - 1 is exact (see docs/reference/conventions.md for its
            # limits), away from where the mixed derivative x^(y-1) (1 + y ln x) is itself a
            # cancellation (its condition number is |y ln x| / |1 + y ln x|, whatever the formula)
            points = [(x, y) for x in (0.3, 1.0, 2.5, 7.0, 1e3) for y in (-1.0, 0.5, 1.5, 2.0, 3.0, 4.5) if abs(1 + y * math.log(x)) > 0.5]
        else:
            points = [(x, y) for x in grid for y in grid]
        if name.startswith("logaddexp"):
            # far apart, where x - y rounds: the partials are taken with the exact difference
            far = [(0.1, 700.3), (0.123456789, 650.987654321), (1e-5, 300.7), (-3.3, 500.1), (7.7, -690.9)]
            points += far + [(y, x) for x, y in far]
        d1 = tg.grad(fn, argnums=(0, 1))
        d2 = tg.hessian(fn, argnums=(0, 1))
        for x, y in points:
            try:
                fn(x, y)
            except (ValueError, ArithmeticError):
                continue
            g, h = d1(x, y), d2(x, y)
            true_g, true_h = ref(mp.mpf(x), mp.mpf(y))
            pairs = [(g[i], true_g[i]) for i in range(2)] + [(h[i][j], true_h[i][j]) for i in range(2) for j in range(2)]
            for got, true in pairs:
                if NORMAL <= abs(true) <= 1.7e308:
                    assert relative_error(got, true) <= 1e-15, (name, x, y, got, float(true))


def test_hypot_second_derivatives_where_one_coordinate_is_tiny() -> None:
    # d2/dx2 hypot = y^2 / h^3: with |y| << |x| the chain through x / hypot would cancel to 0.
    for x, y in ((1.0, 1e-10), (3.0, 1e-100), (-2.0, 1e-5)):
        h = math.hypot(x, y)
        assert relative_error(tg.hessian(tg.hypot, argnums=(0, 1))(x, y)[0][0], y * y / h**3) <= 1e-15
    assert tg.hessian(tg.hypot, argnums=(0, 1))(0.0, 0.0) == ((0.0, 0.0), (0.0, 0.0))  # taken to be 0, as abs''


def test_the_helper_rows_numpy_forms_equal_their_float_functions() -> None:
    np = pytest.importorskip("numpy")
    from tapegrad.core.batch import numpy_forward

    special = [0.0, -0.0, 1e-300, -0.3, 0.5, -0.99, 19.9, 20.0, -25.0, 400.0, 800.0, 700.3, math.inf, -math.inf, math.nan]
    pairs = [(x, y) for x in special for y in special]
    for prim in PRIMITIVES:
        if prim.name not in HELPER_PRIMITIVES or prim.name == "sinc_deriv":
            continue
        vectorized = numpy_forward(prim)
        assert vectorized is not None, f"{prim.name} has no NumPy form: add it to tapegrad/core/numpy_math.py"
        args = [(x,) for x in special] if prim.arity == 1 else pairs
        columns = [np.array(column) for column in zip(*args)]
        out = vectorized(*columns)
        for a, got in zip(args, out):
            want = prim.impl(*a)
            assert (math.isnan(got) and math.isnan(want)) or got == want or abs(got - want) <= 4e-16 * abs(want), (prim.name, a, got, want)
