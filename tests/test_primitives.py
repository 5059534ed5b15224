"""Every primitive, one at a time: values, first and second derivatives.

For each primitive the forward value must equal the math module's, the
first derivative must equal both its closed form and a central difference
of the math function, and the second derivative (grad of grad, and jvp of
grad) must equal its closed form and pass check_grads in both modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import floats, positive_floats


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def as_float(x: object) -> float:
    """The value, checking that tapegrad handed back a plain Python float."""
    assert type(x) is float, f"expected a Python float, got {type(x).__name__} {x!r}"
    return x


def central(fn: Callable[[float], float], x: float, h: float = 1e-5) -> float:
    return (fn(x + h) - fn(x - h)) / (2.0 * h)


def ref_sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class Unary:
    name: str
    fn: Callable[[Scalar], Scalar]
    ref: Callable[[float], float]
    d1: Callable[[float], float]
    d2: Callable[[float], float]
    domain: SearchStrategy[float]
    exact: bool = True  # the value is the math module's, bit for bit


def tg_abs(x: Scalar) -> Scalar:
    return cast(Scalar, abs(x))  # mypy types abs() of a union as object


def tg_relu(x: Scalar) -> Scalar:
    return tg.relu(x)


def _tanh_d1(x: float) -> float:
    t = math.tanh(x)
    return 1.0 - t * t


def _sig_d1(x: float) -> float:
    s = ref_sigmoid(x)
    return s * (1.0 - s)


UNARY = [
    Unary("exp", lambda x: tg.exp(x), math.exp, math.exp, math.exp, floats()),
    Unary("log", lambda x: tg.log(x), math.log, lambda x: 1.0 / x, lambda x: -1.0 / (x * x), positive_floats()),
    Unary(
        "sqrt",
        lambda x: tg.sqrt(x),
        math.sqrt,
        lambda x: 0.5 / math.sqrt(x),
        lambda x: -0.25 * x**-1.5,
        positive_floats(),
    ),
    Unary("sin", lambda x: tg.sin(x), math.sin, math.cos, lambda x: -math.sin(x), floats()),
    Unary("cos", lambda x: tg.cos(x), math.cos, lambda x: -math.sin(x), lambda x: -math.cos(x), floats()),
    Unary("tanh", lambda x: tg.tanh(x), math.tanh, _tanh_d1, lambda x: -2.0 * math.tanh(x) * _tanh_d1(x), floats()),
    Unary(
        "sigmoid",
        lambda x: tg.sigmoid(x),
        ref_sigmoid,
        _sig_d1,
        lambda x: _sig_d1(x) * (1.0 - 2.0 * ref_sigmoid(x)),
        floats(),
        exact=False,
    ),
    Unary(
        "relu",
        lambda x: tg.relu(x),
        lambda x: max(x, 0.0),
        lambda x: 1.0 if x > 0.0 else 0.0,
        lambda x: 0.0,
        floats(min_magnitude=1e-3),
    ),
    Unary(
        "abs",
        tg_abs,
        math.fabs,
        lambda x: math.copysign(1.0, x),
        lambda x: 0.0,
        floats(min_magnitude=1e-3),
    ),
    Unary("neg", lambda x: -x, lambda x: -x, lambda x: -1.0, lambda x: 0.0, floats()),
]

def power_term(k: float, x: float, e: float) -> float:
    """k * x ** e, which is 0 when k is 0 (even where x ** e is not defined)."""
    return 0.0 if k == 0.0 else k * math.pow(x, e)


# x ** c for constant exponents: whole numbers on any base, others on x > 0.
POWERS: list[tuple[float, SearchStrategy[float]]] = [
    (2.0, floats()),
    (3.0, floats()),
    (-1.0, floats(min_magnitude=0.3)),
    (-2.0, floats(min_magnitude=0.3)),
    (0.0, floats()),
    (1.0, floats()),
    (0.5, positive_floats()),
    (2.5, positive_floats()),
    (-1.5, positive_floats()),
]
for _c, _dom in POWERS:
    UNARY.append(
        Unary(
            f"x ** {_c}",
            (lambda c: lambda x: x**c)(_c),
            (lambda c: lambda x: math.pow(x, c))(_c),
            (lambda c: lambda x: power_term(c, x, c - 1.0))(_c),
            (lambda c: lambda x: power_term(c * (c - 1.0), x, c - 2.0))(_c),
            _dom,
        )
    )
# c ** x: a float base and a traced exponent.
for _b in (2.0, 0.5, math.e, 10.0):
    UNARY.append(
        Unary(
            f"{_b:.3g} ** x",
            (lambda b: lambda x: b**x)(_b),
            (lambda b: lambda x: math.pow(b, x))(_b),
            (lambda b: lambda x: math.pow(b, x) * math.log(b))(_b),
            (lambda b: lambda x: math.pow(b, x) * math.log(b) ** 2)(_b),
            floats(),
        )
    )

IDS = [u.name for u in UNARY]


def draw_in(u: Unary, data: st.DataObject) -> float:
    return data.draw(u.domain, label="x")


# -- values ------------------------------------------------------------------------


@pytest.mark.parametrize("u", UNARY, ids=IDS)
@settings(max_examples=30)
@given(data=st.data())
def test_value_on_floats_and_traced(u: Unary, data: st.DataObject) -> None:
    x = draw_in(u, data)
    expected = u.ref(x)
    on_float = as_float(u.fn(x))
    on_traced, _ = tg.value_and_grad(u.fn)(x)
    as_float(on_traced)
    if u.exact:
        assert on_float == expected
        assert on_traced == expected
    else:
        assert close(on_float, expected)
        assert close(on_traced, expected)


# -- first derivatives ---------------------------------------------------------------


@pytest.mark.parametrize("u", UNARY, ids=IDS)
@settings(max_examples=30)
@given(data=st.data())
def test_first_derivative_closed_form(u: Unary, data: st.DataObject) -> None:
    x = draw_in(u, data)
    g = as_float(tg.grad(u.fn)(x))
    assert close(g, u.d1(x)), (x, g, u.d1(x))
    # forward mode agrees too
    _, t = tg.jvp(u.fn, (x,), (1.0,))
    assert close(as_float(t), u.d1(x)), (x, t, u.d1(x))


@pytest.mark.parametrize("u", UNARY, ids=IDS)
@settings(max_examples=30)
@given(data=st.data())
def test_first_derivative_central_difference(u: Unary, data: st.DataObject) -> None:
    x = draw_in(u, data)
    g = as_float(tg.grad(u.fn)(x))
    numeric = central(u.ref, x)
    assert math.isclose(g, numeric, rel_tol=1e-5, abs_tol=1e-6), (x, g, numeric)


# -- second derivatives ---------------------------------------------------------------


@pytest.mark.parametrize("u", UNARY, ids=IDS)
@settings(max_examples=30)
@given(data=st.data())
def test_second_derivative_closed_form(u: Unary, data: st.DataObject) -> None:
    x = draw_in(u, data)
    gg = as_float(tg.grad(tg.grad(u.fn))(x))
    assert close(gg, u.d2(x), rel=1e-9, abs_=1e-11), (x, gg, u.d2(x))
    # forward over reverse gives the same number
    _, t = tg.jvp(tg.grad(u.fn), (x,), (1.0,))
    assert close(as_float(t), u.d2(x), rel=1e-9, abs_=1e-11)
    # and so does the 1x1 Hessian
    h = tg.hessian(u.fn)(x)
    assert close(as_float(h), u.d2(x), rel=1e-9, abs_=1e-11)


@pytest.mark.parametrize("u", UNARY, ids=IDS)
@settings(max_examples=20)
@given(data=st.data())
def test_check_grads_second_order(u: Unary, data: st.DataObject) -> None:
    x = draw_in(u, data)
    check_grads(u.fn, (x,), order=2, modes=("fwd", "rev"))


# -- kinks: relu and abs follow PyTorch -------------------------------------------------


@pytest.mark.parametrize("x0", [0.0, -0.0])
def test_relu_and_abs_derivative_at_zero_is_zero(x0: float) -> None:
    for fn in (tg_relu, tg_abs):
        assert tg.grad(fn)(x0) == 0.0
        assert tg.jvp(fn, (x0,), (1.0,))[1] == 0.0
        assert tg.grad(tg.grad(fn))(x0) == 0.0
    assert tg.relu(x0) == 0.0
    assert abs(tg.value_and_grad(tg_abs)(x0)[0]) == 0.0


def test_relu_and_abs_either_side_of_zero() -> None:
    assert tg.grad(tg_relu)(1e-300) == 1.0
    assert tg.grad(tg_relu)(-1e-300) == 0.0
    assert tg.grad(tg_abs)(1e-300) == 1.0
    assert tg.grad(tg_abs)(-1e-300) == -1.0


# -- binary operators -------------------------------------------------------------------

# name, operation, d/dx, d/dy, Hessian [[xx, xy], [yx, yy]]
Binary = tuple[
    str,
    Callable[[Scalar, Scalar], Scalar],
    Callable[[float, float], float],
    Callable[[float, float], float],
    Callable[[float, float], list[list[float]]],
]
BINARY: list[Binary] = [
    ("add", lambda x, y: x + y, lambda x, y: 1.0, lambda x, y: 1.0, lambda x, y: [[0.0, 0.0], [0.0, 0.0]]),
    ("sub", lambda x, y: x - y, lambda x, y: 1.0, lambda x, y: -1.0, lambda x, y: [[0.0, 0.0], [0.0, 0.0]]),
    ("mul", lambda x, y: x * y, lambda x, y: y, lambda x, y: x, lambda x, y: [[0.0, 1.0], [1.0, 0.0]]),
    (
        "div",
        lambda x, y: x / y,
        lambda x, y: 1.0 / y,
        lambda x, y: -x / (y * y),
        lambda x, y: [[0.0, -1.0 / (y * y)], [-1.0 / (y * y), 2.0 * x / y**3]],
    ),
]
REF_BINARY: dict[str, Callable[[float, float], float]] = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
}


@pytest.mark.parametrize("op", BINARY, ids=[b[0] for b in BINARY])
@settings(max_examples=30)
@given(x=floats(), y=floats(min_magnitude=0.3))
def test_binary_values_gradients_and_hessians(op: Binary, x: float, y: float) -> None:
    name, fn, dx, dy, hess = op
    ref = REF_BINARY[name]
    value, (gx, gy) = tg.value_and_grad(fn, argnums=(0, 1))(x, y)
    assert close(as_float(value), ref(x, y), rel=1e-15, abs_=0.0)
    assert close(as_float(gx), dx(x, y)) and close(as_float(gy), dy(x, y))
    assert math.isclose(gx, (ref(x + 1e-6, y) - ref(x - 1e-6, y)) / 2e-6, rel_tol=1e-5, abs_tol=1e-6)
    assert math.isclose(gy, (ref(x, y + 1e-6) - ref(x, y - 1e-6)) / 2e-6, rel_tol=1e-5, abs_tol=1e-6)
    h = tg.hessian(fn, argnums=(0, 1))(x, y)
    expected = hess(x, y)
    for i in range(2):
        for j in range(2):
            assert close(as_float(h[i][j]), expected[i][j]), (i, j, h, expected)
    check_grads(fn, (x, y), order=2, modes=("fwd", "rev"))


# Operations with a constant (float or int) on either side.
WITH_CONST: list[tuple[str, Callable[[Scalar], Scalar], Callable[[float], float], Callable[[float], float]]] = [
    ("x + 2.5", lambda x: x + 2.5, lambda x: x + 2.5, lambda x: 1.0),
    ("2.5 + x", lambda x: 2.5 + x, lambda x: 2.5 + x, lambda x: 1.0),
    ("x + 2", lambda x: x + 2, lambda x: x + 2, lambda x: 1.0),
    ("x - 2.5", lambda x: x - 2.5, lambda x: x - 2.5, lambda x: 1.0),
    ("2.5 - x", lambda x: 2.5 - x, lambda x: 2.5 - x, lambda x: -1.0),
    ("3 - x", lambda x: 3 - x, lambda x: 3 - x, lambda x: -1.0),
    ("x * 2.5", lambda x: x * 2.5, lambda x: x * 2.5, lambda x: 2.5),
    ("2.5 * x", lambda x: 2.5 * x, lambda x: 2.5 * x, lambda x: 2.5),
    ("x * 3", lambda x: x * 3, lambda x: x * 3, lambda x: 3.0),
    ("x / 2.5", lambda x: x / 2.5, lambda x: x / 2.5, lambda x: 1.0 / 2.5),
    ("x / 4", lambda x: x / 4, lambda x: x / 4, lambda x: 0.25),
    ("sum", lambda x: sum([x, x, 1.0]), lambda x: x + x + 1.0, lambda x: 2.0),
    ("x + x", lambda x: x + x, lambda x: x + x, lambda x: 2.0),
    ("x * x", lambda x: x * x, lambda x: x * x, lambda x: 2.0 * x),
    ("x - x", lambda x: x - x, lambda x: 0.0, lambda x: 0.0),
    ("+x", lambda x: +x, lambda x: x, lambda x: 1.0),
]


@pytest.mark.parametrize("case", WITH_CONST, ids=[c[0] for c in WITH_CONST])
@settings(max_examples=20)
@given(x=floats())
def test_operations_with_constants(
    case: tuple[str, Callable[[Scalar], Scalar], Callable[[float], float], Callable[[float], float]], x: float
) -> None:
    _, fn, ref, d1 = case
    value, g = tg.value_and_grad(fn)(x)
    assert close(as_float(value), ref(x), rel=1e-15, abs_=0.0)
    assert close(as_float(g), d1(x))
    assert close(as_float(tg.jvp(fn, (x,), (1.0,))[1]), d1(x))


@settings(max_examples=20)
@given(x=floats(min_magnitude=0.3))
def test_constant_divided_by_traced(x: float) -> None:
    for c in (2.5, 3, -1.0):
        fn: Callable[[Scalar], Scalar] = lambda t: c / t
        value, g = tg.value_and_grad(fn)(x)
        assert close(as_float(value), c / x, rel=1e-15, abs_=0.0)
        assert close(as_float(g), -c / (x * x))
        assert close(as_float(tg.grad(tg.grad(fn))(x)), 2.0 * c / x**3)


@settings(max_examples=30)
@given(x=positive_floats(), y=floats(-2.0, 2.0))
def test_pow_with_both_arguments_traced(x: float, y: float) -> None:
    fn: Callable[[Scalar, Scalar], Scalar] = lambda a, b: a**b
    value, (gx, gy) = tg.value_and_grad(fn, argnums=(0, 1))(x, y)
    assert value == math.pow(x, y)
    assert close(as_float(gx), y * math.pow(x, y - 1.0))
    assert close(as_float(gy), math.pow(x, y) * math.log(x))
    h = tg.hessian(fn, argnums=(0, 1))(x, y)
    lx = math.log(x)
    xy = math.pow(x, y)
    expected = [
        [y * (y - 1.0) * math.pow(x, y - 2.0), math.pow(x, y - 1.0) * (1.0 + y * lx)],
        [math.pow(x, y - 1.0) * (1.0 + y * lx), xy * lx * lx],
    ]
    for i in range(2):
        for j in range(2):
            assert close(as_float(h[i][j]), expected[i][j]), (i, j, h, expected)
    check_grads(fn, (x, y), order=2, modes=("fwd", "rev"))


def test_pow_exponent_derivative_at_zero_base() -> None:
    # d/dy 0 ** y = 0 for y > 0 (the limit of x**y log x is 0)
    def zero_to_the(b: Scalar) -> Scalar:
        return 0.0**b

    assert tg.grad(zero_to_the)(2.0) == 0.0
    assert tg.grad(lambda a, b: a**b, argnums=(0, 1))(0.0, 2.0) == (0.0, 0.0)


def test_operations_on_floats_return_floats() -> None:
    for fn in (tg.exp, tg.log, tg.sqrt, tg.sin, tg.cos, tg.tanh, tg.sigmoid, tg.relu, tg.stop_gradient):
        assert type(fn(0.5)) is float
    assert tg.exp(1) == math.e  # ints are accepted as floats
    assert tg.sigmoid(-1000.0) == 0.0 and tg.sigmoid(1000.0) == 1.0  # no overflow


# -- comparisons and control flow ---------------------------------------------------------


@settings(max_examples=30)
@given(a=floats(), b=floats())
def test_comparisons_give_bools_from_current_values(a: float, b: float) -> None:
    seen: list[object] = []

    def f(x: Scalar, y: Scalar) -> Scalar:
        seen.extend([x < y, x <= y, x > y, x >= y, x == y, x != y, x < 0.5, 0.5 < x, bool(x)])
        return x * y

    tg.grad(f, argnums=(0, 1))(a, b)
    assert seen == [a < b, a <= b, a > b, a >= b, a == b, a != b, a < 0.5, 0.5 < a, bool(a)]
    assert all(type(s) is bool for s in seen)


@settings(max_examples=30)
@given(x=floats(min_magnitude=1e-3))
def test_control_flow_under_grad(x: float) -> None:
    def piecewise(t: Scalar) -> Scalar:
        if t > 0.0:
            return t * t * t
        return tg.sin(t)

    expected = 3.0 * x * x if x > 0.0 else math.cos(x)
    assert close(as_float(tg.grad(piecewise)(x)), expected)
    expected2 = 6.0 * x if x > 0.0 else -math.sin(x)
    assert close(as_float(tg.grad(tg.grad(piecewise))(x)), expected2)

    def loop(t: Scalar) -> Scalar:
        # the number of iterations depends on the value
        acc: Scalar = t
        while abs(acc) < 100.0:  # type: ignore[operator]
            acc = acc * 2.0 + 1.0
        return acc

    n = 0
    v = x
    while abs(v) < 100.0:
        v = v * 2.0 + 1.0
        n += 1
    assert close(as_float(tg.grad(loop)(x)), 2.0**n)


def test_max_and_min_with_traced_values() -> None:
    # builtins that only compare work on traced scalars
    def spread(xs: list[Scalar]) -> Scalar:
        return max(xs) + 2.0 * min(xs)

    def median(xs: list[Scalar]) -> Scalar:
        return sorted(xs)[1]

    assert tg.grad(spread)([1.0, 3.0, 2.0]) == [2.0, 1.0, 0.0]
    assert tg.grad(median)([1.0, 3.0, 2.0]) == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("exponent", [0.0, 0, 1.0])
def test_pow_whole_exponent_derivatives_at_zero_base(exponent: float) -> None:
    # x ** 0 is the constant 1 and x ** 1 is x: every derivative exists at
    # x = 0 (d/dx x**0 = 0, d2/dx2 x**1 = 0), as in PyTorch and JAX.
    def f(x: Scalar) -> Scalar:
        return x**exponent

    assert tg.grad(f)(0.0) == float(exponent)
    assert tg.jvp(f, (0.0,), (1.0,))[1] == float(exponent)
    assert tg.grad(tg.grad(f))(0.0) == 0.0
