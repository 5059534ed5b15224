"""User-defined primitives: tapegrad.primitive and tapegrad.defvjp."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import floats, positive_floats


def close(a: Scalar, b: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    assert type(a) is float, f"expected a Python float, got {a!r}"
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# -- softplus: a stable one-argument primitive ---------------------------------------------------


@tg.primitive
def softplus(x: float) -> float:
    """log(1 + exp(x)), without overflow for large x."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


# The rule is written with tapegrad operations, so it is differentiable too.
tg.defvjp(softplus, lambda g, ans, x: g * tg.sigmoid(x))


def sp(x: Scalar) -> Scalar:
    return softplus(x)  # type: ignore[no-any-return]


def ref_sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_the_decorated_function_keeps_its_name_doc_and_signature() -> None:
    import inspect

    assert softplus.__name__ == "softplus" and softplus.__qualname__ == "softplus"
    assert softplus.__doc__ == "log(1 + exp(x)), without overflow for large x."
    assert softplus.__module__ == __name__
    assert str(inspect.signature(softplus)) == "(x: 'float') -> 'float'"
    assert softplus.primitive.name == "softplus"


def test_softplus_is_stable_and_registered() -> None:
    assert isinstance(softplus, tg.PrimitiveFunction) and softplus.primitive.name == "softplus" and softplus.primitive.arity == 1
    assert softplus(1000.0) == 1000.0
    assert softplus(-1000.0) == 0.0
    assert close(softplus(0.0), math.log(2.0))
    assert tg.grad(sp)(1000.0) == 1.0
    assert tg.grad(sp)(-1000.0) == 0.0


@settings(max_examples=30)
@given(x=floats(-10.0, 10.0))
def test_softplus_derivatives(x: float) -> None:
    s = ref_sigmoid(x)
    value, g = tg.value_and_grad(sp)(x)
    assert close(value, math.log1p(math.exp(x)))
    assert close(g, s)
    assert close(tg.grad(tg.grad(sp))(x), s * (1.0 - s))
    assert close(tg.grad(tg.grad(tg.grad(sp)))(x), s * (1.0 - s) * (1.0 - 2.0 * s))
    out, tangent = tg.jvp(sp, (x,), (2.0,))
    assert close(out, value) and close(tangent, 2.0 * s)
    assert close(tg.hessian(sp)(x), s * (1.0 - s))
    assert close(tg.jvp(tg.grad(sp), (x,), (1.0,))[1], s * (1.0 - s))


@settings(max_examples=30)
@given(x=floats(-10.0, 10.0))
def test_softplus_check_grads(x: float) -> None:
    check_grads(sp, (x,), order=2, modes=("fwd", "rev"))


def test_softplus_in_a_larger_function_and_on_a_tape() -> None:
    def loss(w: list[Scalar]) -> Scalar:
        return softplus(w[0] * w[1]) + softplus(-w[1])  # type: ignore[no-any-return]

    w = [0.5, -2.0]
    check_grads(loss, (w,), order=2, modes=("fwd", "rev"))
    h = tg.hessian(loss)(w)
    assert close(h[0][1], h[1][0])
    tape = tg.trace(loss)(w)
    assert [r.primitive.name for r in tape.records].count("softplus") == 2
    assert "softplus(v2)" in str(tape)


# -- a two-argument primitive with two rules ----------------------------------------------------------


@tg.primitive
def hypot(x: float, y: float) -> float:
    return math.hypot(x, y)


tg.defvjp(hypot, lambda g, ans, x, y: g * x / ans, lambda g, ans, x, y: g * y / ans)


def hyp(x: Scalar, y: Scalar) -> Scalar:
    return hypot(x, y)  # type: ignore[no-any-return]


@settings(max_examples=30)
@given(x=floats(min_magnitude=0.2), y=floats(min_magnitude=0.2))
def test_hypot_primitive(x: float, y: float) -> None:
    r = math.hypot(x, y)
    value, (gx, gy) = tg.value_and_grad(hyp, argnums=(0, 1))(x, y)
    assert value == r
    assert close(gx, x / r) and close(gy, y / r)
    h = tg.hessian(hyp, argnums=(0, 1))(x, y)
    r3 = r**3
    assert close(h[0][0], y * y / r3) and close(h[1][1], x * x / r3)
    assert close(h[0][1], -x * y / r3) and close(h[1][0], -x * y / r3)
    check_grads(hyp, (x, y), order=2, modes=("fwd", "rev"))


def test_hypot_with_constant_and_traced_arguments() -> None:
    def f(x: Scalar) -> Scalar:
        return hypot(x, 4.0)  # type: ignore[no-any-return]

    def g(y: Scalar) -> Scalar:
        return hypot(3.0, y)  # type: ignore[no-any-return]

    assert tg.value_and_grad(f)(3.0) == (5.0, 3.0 / 5.0)
    assert tg.value_and_grad(g)(4.0) == (5.0, 4.0 / 5.0)
    assert close(tg.grad(tg.grad(f))(3.0), 16.0 / 125.0)


def test_none_rule_means_zero_derivative() -> None:
    @tg.primitive
    def scaled(x: float, scale: float) -> float:
        return x * scale

    tg.defvjp(scaled, lambda g, ans, x, s: g * s, None)

    def f(x: Scalar, s: Scalar) -> Scalar:
        return scaled(x, s)  # type: ignore[no-any-return]

    assert tg.grad(f, argnums=(0, 1))(2.0, 3.0) == (3.0, 0.0)
    assert tg.jvp(f, (2.0, 3.0), (1.0, 1.0)) == (6.0, 3.0)


# -- wrapping a float function tapegrad cannot trace ------------------------------------------------------


@tg.primitive
def erf(x: float) -> float:
    return math.erf(x)


TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
tg.defvjp(erf, lambda g, ans, x: g * TWO_OVER_SQRT_PI * tg.exp(-x * x))


def erf_fn(x: Scalar) -> Scalar:
    return erf(x)  # type: ignore[no-any-return]


@settings(max_examples=30)
@given(x=floats())
def test_erf_primitive(x: float) -> None:
    assert erf(x) == math.erf(x)
    value, g = tg.value_and_grad(erf_fn)(x)
    assert value == math.erf(x)
    assert close(g, TWO_OVER_SQRT_PI * math.exp(-x * x))
    assert close(tg.grad(tg.grad(erf_fn))(x), -2.0 * x * TWO_OVER_SQRT_PI * math.exp(-x * x))
    check_grads(erf_fn, (x,), order=2, modes=("fwd", "rev"))


def test_math_erf_itself_cannot_be_traced() -> None:
    def f(x: Scalar) -> Scalar:
        return math.erf(x)

    with pytest.raises(TypeError):
        tg.grad(f)(0.5)


@settings(max_examples=20)
@given(x=positive_floats())
def test_custom_primitives_compose_with_builtins(x: float) -> None:
    def f(t: Scalar) -> Scalar:
        return erf(tg.log(t)) * softplus(t) + hypot(t, tg.sin(t))  # type: ignore[no-any-return]

    check_grads(f, (x,), order=2, modes=("fwd", "rev"))


# -- misuse ------------------------------------------------------------------------------------------


def test_primitive_must_return_a_float() -> None:
    @tg.primitive
    def bad(x: float) -> Any:
        return "not a number"

    with pytest.raises(TypeError, match="bad"):
        bad(1.0)
    with pytest.raises(TypeError, match="bad"):
        tg.grad(bad)(1.0)


def test_primitive_needs_fixed_positional_arguments() -> None:
    def with_default(x: float, y: float = 1.0) -> float:
        return x * y

    def varargs(*xs: float) -> float:
        return sum(xs)

    with pytest.raises(TypeError):
        tg.primitive(with_default)
    with pytest.raises(TypeError):
        tg.primitive(varargs)


def test_defvjp_checks_its_arguments() -> None:
    with pytest.raises(TypeError):
        tg.defvjp(math.sin, lambda g, ans, x: g)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tg.defvjp(erf, lambda g, ans, x: g, lambda g, ans, x: g)


def test_primitive_arity_is_checked() -> None:
    with pytest.raises(TypeError, match="hypot"):
        hypot(1.0)


# -- defjvp: forward-mode rules of their own -------------------------------------------------


def test_forward_mode_uses_the_defjvp_rule() -> None:
    @tg.primitive
    def square(x: float) -> float:
        return x * x

    tg.defvjp(square, lambda g, ans, x: g * 2.0 * x)
    assert tg.jvp(square, (3.0,), (1.0,))[1] == 6.0  # the VJP rule, read forward
    # A deliberately different rule (three times the true derivative) is what forward mode sees...
    assert tg.defjvp(square, lambda t, ans, x: t * 3.0 * x) is square
    assert tg.jvp(square, (3.0,), (1.0,)) == (9.0, 9.0)
    assert tg.jvp(lambda x: square(x) + x, (3.0,), (2.0,))[1] == 20.0
    # ... while reverse mode keeps its own.
    assert tg.grad(square)(3.0) == 6.0


def test_defjvp_alone_is_enough_for_forward_mode() -> None:
    @tg.primitive
    def cube(x: float) -> float:
        return x**3

    tg.defjvp(cube, lambda t, ans, x: t * 3.0 * x * x)
    assert tg.jvp(cube, (2.0,), (1.0,)) == (8.0, 12.0)
    with pytest.raises(tg.MissingRuleError, match="cube"):
        tg.grad(cube)(2.0)


def _sin_and_cos() -> tuple[tg.PrimitiveFunction, tg.PrimitiveFunction, list[str]]:
    """A sine and cosine pair whose VJP rules call each other, with forward rules that log their use."""
    used: list[str] = []

    @tg.primitive
    def my_sin(x: float) -> float:
        return math.sin(x)

    @tg.primitive
    def my_cos(x: float) -> float:
        return math.cos(x)

    def sin_jvp(t: Any, ans: Any, x: Any) -> Any:
        used.append("sin")
        return t * my_cos(x)

    def cos_jvp(t: Any, ans: Any, x: Any) -> Any:
        used.append("cos")
        return -(t * my_sin(x))

    tg.defvjp(my_sin, lambda g, ans, x: g * my_cos(x))
    tg.defvjp(my_cos, lambda g, ans, x: -(g * my_sin(x)))
    tg.defjvp(my_sin, sin_jvp)
    tg.defjvp(my_cos, cos_jvp)
    return my_sin, my_cos, used


def test_defjvp_composes_with_grad() -> None:
    my_sin, _, used = _sin_and_cos()
    x = 0.7
    # forward over reverse: the reverse sweep records my_cos, whose forward rule then runs
    assert tg.jvp(tg.grad(my_sin), (x,), (1.0,))[1] == pytest.approx(-math.sin(x), rel=1e-15)
    assert "cos" in used
    used.clear()
    assert tg.hessian(my_sin)(x) == pytest.approx(-math.sin(x), rel=1e-15)
    assert tg.hessian(lambda a, b: my_sin(a * b), argnums=(0, 1))(x, 2.0)[0][1] == pytest.approx(
        math.cos(1.4) - 1.4 * math.sin(1.4), rel=1e-14
    )
    # reverse over forward: grad of a jvp differentiates the forward rule itself
    assert tg.grad(lambda t: tg.jvp(my_sin, (t,), (1.0,))[1])(x) == pytest.approx(-math.sin(x), rel=1e-15)
    assert "sin" in used
    check_grads(my_sin, (x,), order=2, modes=("fwd", "rev"))


def test_defjvp_checks_its_arguments() -> None:
    @tg.primitive
    def scaled(x: float, s: float) -> float:
        return x * s

    with pytest.raises(TypeError, match="needs 2 forward rule"):
        tg.defjvp(scaled, lambda t, ans, x, s: t * s)
    with pytest.raises(TypeError, match="must be callable or None"):
        tg.defjvp(scaled, "t * s", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="defjvp: expected a primitive"):
        tg.defjvp(math.sin, None)  # type: ignore[arg-type]
    tg.defjvp(scaled, lambda t, ans, x, s: t * s, None)  # None: the second argument's tangent is dropped
    assert tg.jvp(scaled, (2.0, 3.0), (1.0, 1.0))[1] == 3.0
