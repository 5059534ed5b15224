"""Nested differentiation: higher derivatives, mixed modes and perturbation confusion."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import Expression, expressions, floats


def close(a: Scalar, b: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    assert type(a) is float, f"expected a Python float, got {a!r}"
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def sin(x: Scalar) -> Scalar:
    return tg.sin(x)


# -- higher derivatives ------------------------------------------------------------------


def test_grad_of_grad_of_sin() -> None:
    assert tg.grad(tg.grad(sin))(1.0) == -math.sin(1.0)


@settings(max_examples=30)
@given(x=floats())
def test_derivatives_of_sin_cycle(x: float) -> None:
    d1 = tg.grad(sin)
    d2 = tg.grad(d1)
    d3 = tg.grad(d2)
    d4 = tg.grad(d3)
    assert close(d1(x), math.cos(x))
    assert close(d2(x), -math.sin(x))
    assert close(d3(x), -math.cos(x))
    assert close(d4(x), math.sin(x))


@settings(max_examples=30)
@given(x=floats())
def test_third_derivatives(x: float) -> None:
    def poly(t: Scalar) -> Scalar:
        return t**4 - 2.0 * t**3 + t

    def tanh(t: Scalar) -> Scalar:
        return tg.tanh(t)

    def exp_sq(t: Scalar) -> Scalar:
        return tg.exp(0.5 * t * t)

    assert close(tg.grad(tg.grad(tg.grad(poly)))(x), 24.0 * x - 12.0, abs_=1e-10)
    th = math.tanh(x)
    # tanh''' = -2 (1 - tanh^2) (1 - 3 tanh^2)
    assert close(tg.grad(tg.grad(tg.grad(tanh)))(x), -2.0 * (1 - th * th) * (1 - 3 * th * th))
    # (exp(x^2/2))''' = (x^3 + 3x) exp(x^2/2)
    assert close(tg.grad(tg.grad(tg.grad(exp_sq)))(x), (x**3 + 3 * x) * math.exp(0.5 * x * x))
    # the same number in forward mode, over two reverse levels
    _, t3 = tg.jvp(tg.grad(tg.grad(poly)), (x,), (1.0,))
    assert close(t3, 24.0 * x - 12.0, abs_=1e-10)


@settings(max_examples=20)
@given(expr=expressions(n_vars=2, max_depth=3), xs=st.lists(floats(), min_size=2, max_size=2))
def test_check_grads_third_order_on_random_expressions(expr: Expression, xs: list[float]) -> None:
    check_grads(expr, (xs,), order=3, modes=("fwd", "rev"), rtol=1e-3, atol=1e-4)


# -- perturbation confusion -------------------------------------------------------------------


@settings(max_examples=30)
@given(x=floats(), y=floats())
def test_perturbation_confusion_add(x: float, y: float) -> None:
    # d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1
    def outer(a: Scalar) -> Scalar:
        def inner(b: Scalar) -> Scalar:
            return a + b

        return a * tg.grad(inner)(y)

    assert tg.grad(outer)(x) == 1.0


def test_perturbation_confusion_mul_at_three() -> None:
    # d/dx [x * d/dy (x * y)] = d/dx [x * x] = 2x, which is 6 at x = 3
    def outer(a: Scalar) -> Scalar:
        def inner(b: Scalar) -> Scalar:
            return a * b

        return a * tg.grad(inner)(1.0)

    assert tg.grad(outer)(3.0) == 6.0


@settings(max_examples=30)
@given(x=floats(), y=floats())
def test_perturbation_confusion_mul(x: float, y: float) -> None:
    def outer(a: Scalar) -> Scalar:
        def inner(b: Scalar) -> Scalar:
            return a * b

        return a * tg.grad(inner)(y)

    assert close(tg.grad(outer)(x), 2.0 * x)
    # and in forward mode over reverse, and reverse over forward
    assert close(tg.jvp(outer, (x,), (1.0,))[1], 2.0 * x)

    def outer_fwd(a: Scalar) -> Scalar:
        def inner(b: Scalar) -> Scalar:
            return a * b

        return a * tg.jvp(inner, (y,), (1.0,))[1]

    assert close(tg.grad(outer_fwd)(x), 2.0 * x)


def test_perturbation_confusion_same_function_at_two_levels() -> None:
    # f(x) = x * g(x) where g = grad of (y -> x * y * y) at y = x: g = 2 x^2,
    # so f = 2 x^3 and f' = 6 x^2.
    def f(x: Scalar) -> Scalar:
        def h(y: Scalar) -> Scalar:
            return x * y * y

        return x * tg.grad(h)(x)

    for x in (-1.5, 0.5, 2.0):
        assert close(tg.grad(f)(x), 6.0 * x * x)


def test_nested_grad_with_closure_over_both_levels() -> None:
    # d/dx d/dy (x^2 y^3) = 6 x y^2; the Hessian cross term
    def dxy(x: Scalar, y: Scalar) -> Scalar:
        def fy(b: Scalar) -> Scalar:
            return x * x * b * b * b

        return tg.grad(fy)(y)

    assert tg.grad(dxy)(2.0, 3.0) == 6.0 * 2.0 * 9.0


# -- mixing modes ------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(x=floats(), v=floats())
def test_grad_of_jvp_and_jvp_of_grad(x: float, v: float) -> None:
    # f(x) = sin(x) x^2; f' = cos x x^2 + 2x sin x
    def f(t: Scalar) -> Scalar:
        return tg.sin(t) * t * t

    def f1(t: float) -> float:
        return math.cos(t) * t * t + 2 * t * math.sin(t)

    def f2(t: float) -> float:
        return -math.sin(t) * t * t + 4 * t * math.cos(t) + 2 * math.sin(t)

    def directional(t: Scalar) -> Scalar:
        return tg.jvp(f, (t,), (v,))[1]

    assert close(tg.grad(directional)(x), v * f2(x), abs_=1e-10)
    assert close(tg.jvp(tg.grad(f), (x,), (v,))[1], v * f2(x), abs_=1e-10)
    assert close(tg.jvp(directional, (x,), (1.0,))[1], v * f2(x), abs_=1e-10)
    assert close(directional(x), v * f1(x))


def test_grad_of_jvp_with_traced_tangent() -> None:
    # jvp of sin at x along the tangent x gives x cos x; d/dx = cos x - x sin x
    def g(x: Scalar) -> Scalar:
        return tg.jvp(sin, (x,), (x,))[1]

    assert close(tg.grad(g)(1.0), math.cos(1.0) - math.sin(1.0))


def test_hessian_of_a_function_that_calls_grad() -> None:
    # g(x) = x0^2 x1 + sin(x1); f = |grad g|^2 = (2 x0 x1)^2 + (x0^2 + cos x1)^2
    def g(x: Sequence[Scalar]) -> Scalar:
        return x[0] * x[0] * x[1] + tg.sin(x[1])

    def f(x: Sequence[Scalar]) -> Scalar:
        gx = tg.grad(g)(x)
        return gx[0] * gx[0] + gx[1] * gx[1]

    def hessian_closed_form(a: float, b: float) -> list[list[float]]:
        c, s = math.cos(b), math.sin(b)
        return [
            [8 * b * b + 12 * a * a + 4 * c, 16 * a * b - 4 * a * s],
            [16 * a * b - 4 * a * s, 8 * a * a + 2 * s * s - 2 * (a * a + c) * c],
        ]

    for a, b in [(1.0, 2.0), (-0.5, 0.3), (0.0, -1.0)]:
        h = tg.hessian(f)([a, b])
        expected = hessian_closed_form(a, b)
        for i in range(2):
            for j in range(2):
                assert close(h[i][j], expected[i][j], abs_=1e-10), (a, b, h, expected)


def test_jacobian_of_grad_and_grad_of_jacobian_entry() -> None:
    def f(x: Sequence[Scalar]) -> Scalar:
        return x[0] ** 3 * x[1]

    for mode in ("fwd", "rev"):
        jg = tg.jacobian(tg.grad(f), mode=mode)([2.0, 3.0])
        assert jg == [[6.0 * 2.0 * 3.0, 3.0 * 4.0], [3.0 * 4.0, 0.0]]

    def entry(x: Sequence[Scalar]) -> Scalar:
        def g(y: Sequence[Scalar]) -> list[Scalar]:
            return [y[0] * y[0] * x[1], y[1]]

        j = tg.jacobian(g)(x)
        return j[0][0]  # 2 x0 x1

    assert tg.grad(entry)([2.0, 3.0]) == [6.0, 4.0]


def test_hvp_of_a_function_with_nested_grad_inside() -> None:
    def f(x: Sequence[Scalar]) -> Scalar:
        def g(y: Scalar) -> Scalar:
            return y * y * x[0]

        return tg.grad(g)(x[1]) * x[0]  # 2 x1 x0 * x0

    # H = [[4 x1, 4 x0], [4 x0, 0]]
    hv = tg.hvp(f, ([1.5, 2.0],), ([1.0, -1.0],))
    assert hv == [4 * 2.0 - 4 * 1.5, 4 * 1.5]


# -- stop_gradient inside nesting -----------------------------------------------------------------


def test_stop_gradient_in_inner_function_hides_outer_variable() -> None:
    # inner derivative d/dy [y * sg(x)] = sg(x): as a function of x it is constant
    def outer(x: Scalar) -> Scalar:
        def inner(y: Scalar) -> Scalar:
            return y * tg.stop_gradient(x)

        return tg.grad(inner)(1.0) * x

    assert tg.value_and_grad(outer)(3.0) == (9.0, 3.0)  # d/dx [sg(x) * x] = sg(x)


def test_stop_gradient_of_inner_variable_at_both_levels() -> None:
    def outer(x: Scalar) -> Scalar:
        def inner(y: Scalar) -> Scalar:
            return tg.stop_gradient(y * x) * y + y * x

        return tg.grad(inner)(2.0)  # = sg(2x) + x

    assert tg.value_and_grad(outer)(3.0) == (9.0, 1.0)

    def f(x: Scalar) -> Scalar:
        return tg.stop_gradient(x) * x * x  # d/dx = 2 sg(x) x; d2/dx2 = 2 sg(x)

    assert tg.grad(tg.grad(f))(3.0) == 6.0


# -- long chains --------------------------------------------------------------------------------------


def test_chain_of_100000_operations() -> None:
    n = 100_000

    def chain(x: Scalar) -> Scalar:
        for _ in range(n):
            x = x * 0.9999 + 0.0001
        return x

    value, g = tg.value_and_grad(chain)(2.0)
    assert close(g, 0.9999**n, rel=1e-9)
    assert close(value, 1.0 + 0.9999**n, rel=1e-9)
    _, t = tg.jvp(chain, (2.0,), (1.0,))
    assert close(t, 0.9999**n, rel=1e-9)


def test_chain_of_nested_unary_calls_second_order() -> None:
    # 20,000 sin records, then grad of grad: the inner sweep records on the outer tape
    n = 20_000

    def chain(x: Scalar) -> Scalar:
        for _ in range(n):
            x = tg.sin(x)
        return x

    xs = [0.5]
    d = [1.0]
    dd = [0.0]
    v = 0.5
    for _ in range(n):
        # chain rule for the running first and second derivative
        c, s = math.cos(v), math.sin(v)
        dd.append(-s * d[-1] ** 2 + c * dd[-1])
        d.append(c * d[-1])
        v = s
        xs.append(v)
    assert close(tg.grad(chain)(0.5), d[-1], rel=1e-9)
    assert close(tg.grad(tg.grad(chain))(0.5), dd[-1], rel=1e-7)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_nth_derivative_of_exp(depth: int) -> None:
    def exp(x: Scalar) -> Scalar:
        return tg.exp(2.0 * x)

    f: Callable[[Scalar], Scalar] = exp
    for _ in range(depth):
        f = tg.grad(f)
    assert close(f(0.3), 2.0**depth * math.exp(0.6))
