"""tapegrad.testing.check_grads: passes on correct derivatives, fails loudly on wrong ones."""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.testing import check_grads, numerical_jvp
from tapegrad.testing.strategies import floats

# -- correct functions pass ------------------------------------------------------------------


def smooth(x: Sequence[Scalar], y: dict[str, Scalar]) -> Scalar:
    return tg.sin(x[0] * y["a"]) + tg.exp(0.3 * x[1]) * y["b"] + tg.log(1.0 + x[0] * x[0])


def vector_valued(p: Sequence[Scalar]) -> dict[str, Any]:
    return {"sum": p[0] + p[1], "pair": [p[0] * p[1], tg.tanh(p[1])]}


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("modes", [("fwd",), ("rev",), ("fwd", "rev")])
def test_correct_functions_pass(order: int, modes: tuple[str, ...]) -> None:
    check_grads(smooth, ([0.3, -1.2], {"a": 2.0, "b": 0.5}), order=order, modes=modes)
    check_grads(vector_valued, ([0.7, -0.4],), order=order, modes=modes)
    check_grads(tg.sigmoid, (0.2,), order=order, modes=modes)


@settings(max_examples=20)
@given(x=floats(), y=floats(), seed=st.integers(0, 2**32 - 1))
def test_correct_functions_pass_for_any_seed(x: float, y: float, seed: int) -> None:
    check_grads(smooth, ([x, y], {"a": 0.5, "b": -1.0}), order=2, seed=seed)


def test_numerical_jvp() -> None:
    def f(x: Scalar, y: Scalar) -> list[Scalar]:
        return [x * y, x * x]

    num = numerical_jvp(f, (2.0, 3.0), (1.0, 0.5))
    assert len(num) == 2
    assert math.isclose(num[0], 3.0 + 2.0 * 0.5, rel_tol=1e-8)
    assert math.isclose(num[1], 4.0, rel_tol=1e-8)


def test_argument_validation() -> None:
    with pytest.raises(ValueError, match="order"):
        check_grads(tg.sin, (1.0,), order=0)
    with pytest.raises(ValueError, match="modes"):
        check_grads(tg.sin, (1.0,), modes=("backward",))
    with pytest.raises(ValueError, match="modes"):
        check_grads(tg.sin, (1.0,), modes=())


# -- wrong rules are caught -----------------------------------------------------------------------------


@tg.primitive
def sin_wrong_first(x: float) -> float:
    return math.sin(x)


# twice the true derivative
tg.defvjp(sin_wrong_first, lambda g, ans, x: g * 2.0 * tg.cos(x))


@tg.primitive
def cube_wrong_second(x: float) -> float:
    return x * x * x


# right first derivative, but written so that it has no derivative itself:
# the second derivative comes out as 0 instead of 6x.
tg.defvjp(cube_wrong_second, lambda g, ans, x: g * 3.0 * tg.stop_gradient(x) ** 2)


@tg.primitive
def mul_wrong_second_arg(x: float, y: float) -> float:
    return x * y


# right for x, wrong (negated) for y
tg.defvjp(mul_wrong_second_arg, lambda g, ans, x, y: g * y, lambda g, ans, x, y: -(g * x))


def wrong_first(x: Scalar) -> Scalar:
    return sin_wrong_first(x)  # type: ignore[no-any-return]


def wrong_second(x: Scalar) -> Scalar:
    return cube_wrong_second(x)  # type: ignore[no-any-return]


def wrong_in_y(x: Scalar, y: Scalar) -> Scalar:
    return mul_wrong_second_arg(x, y)  # type: ignore[no-any-return]


def failure(f: Any, args: tuple[Any, ...], **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as info:
        check_grads(f, args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_wrong_first_derivative_is_reported(mode: str) -> None:
    message = failure(wrong_first, (0.4,), order=1, modes=(mode,))
    assert "analytic" in message and "numeric" in message, message
    assert "order 1" in message
    assert ("jvp" if mode == "fwd" else "vjp") in message
    # the reported numbers are the two derivatives (along the random direction)
    numbers = [float(m) for m in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", message.split("at args")[0])]
    assert len(numbers) >= 2
    # and the order-2 check fails already at the first level
    assert "order 1" in failure(wrong_first, (0.4,), order=2, modes=(mode,))


def test_wrong_first_derivative_values_in_message() -> None:
    # with one input and one output, the forward check compares 2 cos(x) u with cos(x) u
    message = failure(wrong_first, (0.4,), order=1, modes=("fwd",))
    analytic_line = next(line for line in message.splitlines() if "analytic" in line)
    numeric_line = next(line for line in message.splitlines() if "numeric" in line)
    analytic = float(analytic_line.split("[")[1].split("]")[0])
    numeric = float(numeric_line.split("[")[1].split("]")[0])
    assert math.isclose(analytic, 2.0 * numeric, rel_tol=1e-6)


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_wrong_second_derivative_is_reported(mode: str) -> None:
    # first order is right...
    check_grads(wrong_second, (0.7,), order=1, modes=(mode,))
    assert tg.grad(wrong_second)(0.7) == 3.0 * 0.7**2
    # ...but the second-order check catches the rule that cannot be differentiated
    message = failure(wrong_second, (0.7,), order=2, modes=(mode,))
    assert "order 2" in message and "analytic" in message and "numeric" in message, message


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_wrong_rule_for_one_argument_is_reported(mode: str) -> None:
    check_grads(lambda x: wrong_in_y(x, 2.0), (0.5,), order=2, modes=(mode,))
    message = failure(wrong_in_y, (0.5, 2.0), order=1, modes=(mode,))
    assert "analytic" in message


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_tolerances_are_respected(mode: str) -> None:
    # a rule that is off by one part in 10^3 passes a loose check and fails a tight one
    @tg.primitive
    def almost_exp(x: float) -> float:
        return math.exp(x)

    tg.defvjp(almost_exp, lambda g, ans, x: g * ans * 1.001)

    def f(x: Scalar) -> Scalar:
        return almost_exp(x)  # type: ignore[no-any-return]

    check_grads(f, (0.3,), order=1, modes=(mode,), rtol=1e-2, atol=1e-2)
    failure(f, (0.3,), order=1, modes=(mode,), rtol=1e-5, atol=1e-6)


# -- determinism -----------------------------------------------------------------------------------------------


def test_same_seed_same_behaviour() -> None:
    def recorded(seed: int) -> tuple[str, list[tuple[float, ...]]]:
        seen: list[tuple[float, ...]] = []

        def f(x: Scalar, y: Scalar) -> Scalar:
            seen.append((tg.primal(x), tg.primal(y)))
            return wrong_in_y(x, y)

        message = failure(f, (0.5, 2.0), order=2, seed=seed)
        return message, seen

    m1, s1 = recorded(7)
    m2, s2 = recorded(7)
    assert m1 == m2 and s1 == s2
    _, s3 = recorded(8)
    assert s3 != s1  # another seed, another random direction


def test_passing_checks_are_repeatable() -> None:
    seen: list[list[float]] = []

    def f(x: Sequence[Scalar]) -> Scalar:
        seen.append([tg.primal(v) for v in x])
        return tg.sin(x[0]) * x[1]

    check_grads(f, ([0.1, 0.2],), order=2, seed=3)
    first = list(seen)
    seen.clear()
    check_grads(f, ([0.1, 0.2],), order=2, seed=3)
    assert seen == first


# -- wrong second derivatives with respect to the cotangent ------------------------------------------------


@tg.primitive
def twice(y: float) -> float:
    return 2.0 * y


# off by 0.1%: the true derivative of 2y is 2
tg.defvjp(twice, lambda g, ans, y: g * 2.002)


@tg.primitive
def double(x: float) -> float:
    return 2.0 * x


# Right as a first derivative (twice(g) is 2g), but its derivative with respect
# to the cotangent g goes through twice's wrong rule. It does not depend on x at
# all, so only a check that also perturbs g can see it.
tg.defvjp(double, lambda g, ans, x: twice(g))


@tg.primitive
def double_right(x: float) -> float:
    return 2.0 * x


tg.defvjp(double_right, lambda g, ans, x: 2.0 * g)


def test_the_helpers_wrong_rule_shows_in_a_hessian() -> None:
    # d2/dx2 [2x * x] = 4; through the wrong helper it comes out 4.002
    assert tg.hessian(lambda x: double(x) * x)(1.0) == pytest.approx(4.002, rel=1e-12)
    assert tg.hessian(lambda x: double_right(x) * x)(1.0) == 4.0
    check_grads(double, (1.0,), order=1)  # first derivatives are right


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_a_wrong_rule_inside_a_rule_is_caught_by_perturbing_the_cotangent(mode: str) -> None:
    message = failure(double, (1.0,), order=2, modes=(mode,))
    assert "order 2" in message, message
    check_grads(double_right, (1.0,), order=2, modes=(mode,))
    check_grads(double_right, (1.0,), order=3, modes=(mode,))


# -- argnums and arguments that are not floats -------------------------------------------------------------


def test_int_labels_are_not_perturbed() -> None:
    seen: list[Any] = []

    def loss(logits: list[list[Scalar]], labels: list[int]) -> Scalar:
        seen.append(labels)
        return tg.nn.cross_entropy(logits, labels)

    labels = [0, 2]
    check_grads(loss, ([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], labels), order=2)
    assert seen and all(s is labels for s in seen)


def test_argnums_passes_the_others_through_unchanged() -> None:
    seen: list[Any] = []

    def f(x: Scalar, y: Any, z: Scalar) -> Scalar:
        seen.append(y)
        return tg.sin(x) * z

    marker = ("not", "a", "number")
    check_grads(f, (0.3, marker, 2.0), order=2)  # y is not a tree of numbers: left alone
    assert all(s is marker for s in seen)
    seen.clear()
    check_grads(f, (0.3, marker, 2.0), order=2, argnums=0)
    check_grads(f, (0.3, marker, 2.0), order=1, argnums=(2, 0))
    check_grads(lambda n, x: x ** n, (3, 1.5), order=2)  # the int exponent stays 3
    check_grads(lambda x: x * x, (3,), argnums=0)  # asked for: the int is treated as a float
    with pytest.raises(ValueError, match="nothing to perturb"):
        check_grads(lambda n: n * 2.0, (3,))
    with pytest.raises(ValueError, match="argnums"):
        check_grads(f, (0.3, marker, 2.0), argnums=3)
    # a wrong rule in an argument that is not checked goes unnoticed; in one that is, it does not
    check_grads(wrong_in_y, (0.5, 2.0), order=1, argnums=0)
    assert "analytic" in failure(wrong_in_y, (0.5, 2.0), order=1, argnums=1)
