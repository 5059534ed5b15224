"""Gradient checks that do not hang on a step size: the dot-product test, taylor_test, per-example grads.

Every wrong rule here is wrong by a known amount, chosen below what central
differences can see (1e-9) or at the edge of what they can (1e-4), and the
references are closed forms: the remainders of a cubic, the error terms of
a rule scaled by (1 + delta).
"""

from __future__ import annotations

import math
import sys
from typing import Any, Sequence

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.core.traced import holds_batch
from tapegrad.testing import TaylorResult, check_grads, check_per_example_grads, taylor_test
from tapegrad.testing.checks import rounding_tolerance
from tapegrad.testing.strategies import expressions, floats

# -- custom rules that are wrong by a known amount ------------------------------------------------------


def sine_with_forward_error(delta: float) -> tg.PrimitiveFunction:
    """sin, whose reverse rule is right and whose forward rule is (1 + delta) times too large."""

    def sine(x: float) -> float:
        return math.sin(x)

    prim = tg.primitive(sine)
    tg.defvjp(prim, lambda g, ans, x: g * tg.cos(x))
    tg.defjvp(prim, lambda t, ans, x: t * tg.cos(x) * (1.0 + delta))
    return prim


SIN_OFF_1E9 = sine_with_forward_error(1e-9)
SIN_EXACT = sine_with_forward_error(0.0)


def with_sine(sine: tg.PrimitiveFunction) -> Any:
    def f(x: Scalar, y: Scalar) -> Scalar:
        return sine(x * y) + tg.exp(y) * x  # type: ignore[no-any-return]

    return f


def failure(f: Any, args: tuple[Any, ...], **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as info:
        check_grads(f, args, **kwargs)
    return str(info.value)


# -- 1. the dot-product test -------------------------------------------------------------------------------


def test_a_forward_rule_off_by_1e9_passes_central_differences_but_not_the_dot_test() -> None:
    f = with_sine(SIN_OFF_1E9)
    # Each mode alone agrees with central differences: 1e-9 is far below their tolerance.
    check_grads(f, (0.3, 0.8), order=1, modes=("fwd",))
    check_grads(f, (0.3, 0.8), order=1, modes=("rev",))
    message = failure(f, (0.3, 0.8), order=1)
    assert "dot-product test of order 1 failed" in message, message
    assert "passed before this: jvp against central differences (order 1); vjp against central differences (order 1)" in message
    # The reported gap is the rule's error: 1e-9 times the sine's share of the derivative, well above the bound.
    gap = float(message.split("they differ by ")[1].split(";")[0])
    allowed = float(message.split("rounding explains at most ")[1].split("\n")[0])
    assert 1e-11 < gap < 1e-8 and allowed < gap / 100


def test_the_same_function_with_matching_rules_passes_to_third_order() -> None:
    check_grads(with_sine(SIN_EXACT), (0.3, 0.8), order=3)


def helper_with_forward_error(delta: float) -> tg.PrimitiveFunction:
    """x**2 whose first derivative is right in both modes, through a helper whose own two rules differ by delta."""

    def twice(x: float) -> float:
        return 2.0 * x

    helper = tg.primitive(twice)
    tg.defvjp(helper, lambda g, ans, x: g * 2.0)
    tg.defjvp(helper, lambda t, ans, x: t * (2.0 + 2.0 * delta))

    def square(x: float) -> float:
        return x * x

    sq = tg.primitive(square)
    tg.defvjp(sq, lambda g, ans, x: g * helper(x))
    return sq


def test_second_order_compares_forward_over_reverse_with_reverse_over_reverse() -> None:
    sq = helper_with_forward_error(1e-9)

    def f(x: Scalar) -> Scalar:
        return sq(x) * tg.sin(x)  # type: ignore[no-any-return]

    check_grads(f, (0.7,), order=1)  # first derivatives agree exactly in both modes
    message = failure(f, (0.7,), order=2)
    assert "dot-product test of order 2 failed" in message, message
    assert "dot-product test <w, jvp(u)> = <vjp(w), u> (order 1)" in message  # what passed before
    # The same helper with matching rules passes.
    good = helper_with_forward_error(0.0)
    check_grads(lambda x: good(x) * tg.sin(x), (0.7,), order=3)


def test_the_failure_names_the_argument_whose_rule_is_wrong() -> None:
    def f(x: Scalar, y: Scalar) -> Scalar:
        return tg.exp(x) * 2.0 + SIN_OFF_1E9(y)  # type: ignore[no-any-return]

    message = failure(f, (0.3, 0.8), order=1)
    assert "along argument 0 (x) alone" in message and "along argument 1 (y) alone" in message
    x_line = next(line for line in message.splitlines() if "argument 0 (x) alone" in line)
    y_line = next(line for line in message.splitlines() if "argument 1 (y) alone" in line)
    assert x_line.endswith("agrees") and "DISAGREES" in y_line, message


def test_a_central_difference_failure_names_the_argument_and_what_passed() -> None:
    @tg.primitive
    def mul_wrong_y(x: float, y: float) -> float:
        return x * y

    # Wrong in y in both modes: the forward check fails first.
    tg.defvjp(mul_wrong_y, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x * 1.1)

    @tg.primitive
    def mul_wrong_y_reverse(x: float, y: float) -> float:
        return x * y

    # Wrong in y in reverse mode only: the forward check passes, then the reverse one fails.
    tg.defvjp(mul_wrong_y_reverse, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x * 1.1)
    tg.defjvp(mul_wrong_y_reverse, lambda t, ans, x, y: t * y, lambda t, ans, x, y: t * x)

    for prim, mode in ((mul_wrong_y, "fwd"), (mul_wrong_y, "rev"), (mul_wrong_y_reverse, "rev")):
        message = failure(lambda x, y: prim(x, y), (0.5, 2.0), order=1, modes=(mode,))
        lines = message.splitlines()
        assert any("argument 0 (x) alone" in line and line.endswith("agrees") for line in lines), message
        assert any("argument 1 (y) alone" in line and "DISAGREES" in line for line in lines), message
        assert "passed before this: none" in message
    message = failure(lambda x, y: mul_wrong_y_reverse(x, y), (0.5, 2.0), order=1)
    assert message.startswith("check_grads: reverse-mode derivative")
    assert "passed before this: jvp against central differences (order 1)" in message


def test_the_rounding_bound_is_the_closed_form_for_a_product() -> None:
    # f = x * y: the paths are x -> f (partial y) and y -> f (partial x), so
    # S = |w| (|y u1| + |x u2|); the tape has 1 record, 2 inputs, 1 output.
    x, y, u1, u2, w = 1.5, -2.0, 0.25, -3.0, 0.75
    tol = rounding_tolerance(lambda a, b: a * b, (x, y), (u1, u2), [w])
    k = 4 * 1 + 2 + 1 + 4
    eps = sys.float_info.epsilon
    assert tol == pytest.approx(2.0 * k * eps / (1 - k * eps) * abs(w) * (abs(y * u1) + abs(x * u2)), rel=1e-12)


def test_no_false_alarm_under_cancellation_or_on_a_long_tape() -> None:
    # Jacobian exactly 0, made of products of size 1e8 that cancel: S is large, the answer tiny.
    def cancelling(x: Scalar, y: Scalar) -> Scalar:
        return (x + y) * (x - y) * 1e8 - x * x * 1e8 + y * y * 1e8

    check_grads(cancelling, (1.3, 0.7), order=2, atol=1e-3)

    def long(xs: Sequence[Scalar]) -> Scalar:
        total: Scalar = 0.0
        for k in range(1500):
            total = total + tg.sin(xs[k % 3] * (1.0 + k / 1500.0)) * xs[(k + 1) % 3]
        return total

    check_grads(long, ([0.3, -0.4, 0.5],), order=1, atol=1e-3, rtol=1e-3)


@settings(max_examples=25)
@given(expr=expressions(n_vars=3, max_depth=5), a=floats(), b=floats(), c=floats(), seed=st.integers(0, 2**16))
def test_random_programs_pass_the_dot_test_at_second_order(expr: Any, a: float, b: float, c: float, seed: int) -> None:
    check_grads(expr, ([a, b, c],), order=2, seed=seed)


# -- 2. taylor_test --------------------------------------------------------------------------------------------


def exp_with_reverse_error(delta: float) -> tg.PrimitiveFunction:
    def exponential(x: float) -> float:
        return math.exp(x)

    prim = tg.primitive(exponential)
    tg.defvjp(prim, lambda g, ans, x: g * ans * (1.0 + delta))
    return prim


EXP_OFF_1E4 = exp_with_reverse_error(1e-4)
EXP_RIGHT = exp_with_reverse_error(0.0)


def with_exp(e: tg.PrimitiveFunction) -> Any:
    def f(x: Sequence[Scalar]) -> Scalar:
        return tg.sin(x[0]) * e(x[1]) + x[0] * x[1]  # type: ignore[no-any-return]

    return f


def test_taylor_test_passes_a_right_gradient_at_order_two() -> None:
    result = taylor_test(with_exp(EXP_RIGHT), ([0.3, 0.5],))
    assert result.ok and result.status == "passed" and not result.inconclusive, result
    assert result.order is not None and abs(result.order - 2.0) < 0.1, result


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_taylor_test_catches_a_reverse_rule_off_by_1e4_relative(seed: int) -> None:
    f = with_exp(EXP_OFF_1E4)
    check_grads(f, ([0.3, 0.5],), order=1, modes=("rev",), rtol=1e-3)  # a loose central-difference check misses it
    result = taylor_test(f, ([0.3, 0.5],), seed=seed)
    assert not result.ok and result.status == "failed", result
    assert result.order is not None and abs(result.order - 1.0) < 0.15, result
    # In the first-order regime r(h) / h is the error along v: 1e-4 * sin(x0) * exp(x1) * v1.
    assert "off by about" in result.reason


def test_taylor_remainders_match_the_closed_form_of_a_cubic() -> None:
    # f = x**3 at x = 1 along v = 1: r(h) = (1 + h)**3 - 1 - 3h = 3 h**2 + h**3.
    result = taylor_test(lambda x: x * x * x, (1.0,), direction=1.0, steps=[0.1 / 2**k for k in range(8)])
    for h, r in zip(result.steps, result.remainders):
        assert r == pytest.approx(3 * h * h + h**3, rel=1e-6)
    assert result.ok and result.order == pytest.approx(2.0, abs=0.05)
    assert len(result.table) == 8 and result.table[0][2] is None


def test_taylor_test_of_a_hand_written_gradient() -> None:
    def f(x: Sequence[Scalar]) -> Scalar:
        return x[0] ** 2 * tg.sin(x[1])

    def right(x: Sequence[float]) -> list[float]:
        return [2 * x[0] * math.sin(x[1]), x[0] ** 2 * math.cos(x[1])]

    def wrong(x: Sequence[float]) -> list[float]:  # a forgotten factor 2
        return [x[0] * math.sin(x[1]), x[0] ** 2 * math.cos(x[1])]

    assert taylor_test(f, ([0.7, 0.4],), grad=right).ok
    bad = taylor_test(f, ([0.7, 0.4],), grad=wrong)
    assert bad.status == "failed" and bad.order == pytest.approx(1.0, abs=0.1)
    # two arguments: the gradient and the direction are tuples, one tree per argument
    two = taylor_test(lambda a, b: a * tg.exp(b), (0.3, 0.2), grad=lambda a, b: (math.exp(b), a * math.exp(b)))
    assert two.ok


def test_taylor_test_says_when_rounding_makes_it_inconclusive() -> None:
    def linear(x: Sequence[Scalar]) -> Scalar:
        return 3.0 * x[0] - x[1]

    result = taylor_test(linear, ([0.3, 0.5],))
    assert result.inconclusive and not result.ok and result.order is None
    assert "rounding" in result.reason and "linear" in result.reason
    assert not any(result.usable)
    # but a wrong gradient of a linear function is first order, and caught
    wrong = taylor_test(linear, ([0.3, 0.5],), grad=lambda x: [3.0, -1.001])
    assert wrong.status == "failed" and wrong.order == pytest.approx(1.0, abs=0.01)


def test_higher_order_remainders_pass_and_kinks_fail() -> None:
    quartic = taylor_test(lambda x: x**4, (0.0,))
    assert quartic.ok and quartic.order == pytest.approx(4.0, abs=0.1)
    kink = taylor_test(tg.relu, (0.0,), direction=1.0)
    assert kink.status == "failed" and "not differentiable" in kink.reason


@settings(max_examples=25)
@given(expr=expressions(n_vars=3, max_depth=5), a=floats(), b=floats(), c=floats(), seed=st.integers(0, 2**16))
def test_a_right_gradient_never_fails_the_taylor_test(expr: Any, a: float, b: float, c: float, seed: int) -> None:
    # tapegrad's gradients of random smooth programs: passed, or (constant, linear, very flat) inconclusive
    result = taylor_test(expr, ([a, b, c],), seed=seed)
    assert result.status in ("passed", "inconclusive"), (expr, str(result))
    if result.inconclusive:
        assert "rounding" in result.reason or "exactly 0" in result.reason


def test_exactly_zero_remainders_are_inconclusive() -> None:
    result = taylor_test(lambda x: 0.0 * x, (0.5,))
    assert result.inconclusive and "exactly 0" in result.reason


def test_the_result_is_frozen_and_prints_its_table() -> None:
    result = taylor_test(with_exp(EXP_RIGHT), ([0.3, 0.5],))
    assert isinstance(result, TaylorResult)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.status = "failed"  # type: ignore[misc]
    text = str(result)
    assert text.startswith("taylor_test passed: the remainder falls at order 2.0")
    assert len(text.splitlines()) == 2 + len(result.steps)
    assert "(at rounding level: not used)" in text  # the smallest default steps reach rounding


def test_taylor_test_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match="one scalar"):
        taylor_test(lambda x: [x, x], (1.0,))
    with pytest.raises(ValueError, match="steps"):
        taylor_test(tg.sin, (1.0,), steps=[1e-3, 1e-2, 1e-4])
    with pytest.raises(ValueError, match="shape"):
        taylor_test(lambda x: x[0] * x[1], ([1.0, 2.0],), grad=lambda x: [1.0])
    with pytest.raises(ValueError, match="argnums"):
        taylor_test(tg.sin, (1.0,), argnums=1)
    with pytest.raises(ValueError, match="finite"):
        taylor_test(lambda x: x * math.inf, (1.0,))


# -- 4. per-example gradients ------------------------------------------------------------------------------


def regression_loss(p: dict[str, Scalar | list[Scalar]], x: Sequence[Scalar], y: Scalar) -> Scalar:
    w, b = p["w"], p["b"]
    assert isinstance(w, list) and not isinstance(b, list)
    return (tg.tanh(w[0] * x[0] + w[1] * x[1]) + b - y) ** 2


PARAMS: dict[str, Any] = {"w": [0.3, -0.2], "b": 0.1}
X = [[1.0, 2.0], [0.5, -1.0], [2.0, 0.1], [-1.5, 0.3]]
Y = [1.0, 0.0, -1.0, 0.5]


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_per_example_gradients_agree_with_the_loop(backend: str) -> None:
    if backend == "numpy":
        pytest.importorskip("numpy")
    check_per_example_grads(regression_loss, PARAMS, X, Y, backend=backend)


@tg.primitive
def scaled_square(x: float) -> float:
    return x * x


def _batched_rule(g: Any, ans: Any, x: Any) -> Any:
    # Right on a single example; under vmap (x holds a batch) it is wrong where x > 1.
    if holds_batch(x):
        return g * tg.where(x > 1.0, 2.2 * x, 2.0 * x)
    return g * 2.0 * x


tg.defvjp(scaled_square, _batched_rule)


def test_a_batching_bug_is_reported_with_the_example_and_the_leaf() -> None:
    def loss(p: dict[str, Any], x: Sequence[Scalar], y: Scalar) -> Scalar:
        return scaled_square(p["w"][0] * x[0] - y) + p["b"]  # type: ignore[no-any-return]

    with pytest.raises(AssertionError) as info:
        check_per_example_grads(loss, PARAMS, X, Y, backend="python")
    message = str(info.value)
    # only example 3 has p.w[0] * x[0] - y = -0.45 - 0.5 ... < 1; examples where the residual exceeds 1 differ
    residuals = [PARAMS["w"][0] * x[0] - y for x, y in zip(X, Y)]
    differing = [i for i, r in enumerate(residuals) if r > 1.0]
    assert differing, residuals
    assert f"the gradient of example {differing[0]} differs at params['w'][0]" in message, message
    assert f"{len(differing)} of 4 examples differ" in message
    assert "passed: the per-example values of vmap(f) agree" in message


def test_a_value_bug_is_reported_before_the_gradients() -> None:
    def loss(p: dict[str, Any], x: Sequence[Scalar], y: Scalar) -> Scalar:
        scale = 1.5 if holds_batch(y) else 1.0  # a batched path that computes something else
        b: Scalar = p["b"]
        return scale * (b - y) ** 2

    with pytest.raises(AssertionError, match=r"the value of example 0 differs at its value"):
        check_per_example_grads(loss, PARAMS, X, Y, backend="python")


def test_per_example_checker_rejects_bad_batches() -> None:
    with pytest.raises(TypeError, match="at least one batch"):
        check_per_example_grads(regression_loss, PARAMS)
    with pytest.raises(ValueError, match="different numbers of examples"):
        check_per_example_grads(regression_loss, PARAMS, X, Y[:2])
    with pytest.raises(ValueError, match="empty"):
        check_per_example_grads(regression_loss, PARAMS, [], [])


def test_noise_that_tiny_steps_cannot_see_is_no_false_alarm() -> None:
    # 1 - cos(x) near 0 loses most digits, and a value rounded to 6 digits is
    # a step function at small steps; at the tiniest steps neither moves, so
    # only differences at the table's own spacings show their noise.
    rounded = taylor_test(lambda x: round(x[0] ** 3, 6), ([1.5],), grad=lambda x: [3.0 * x[0] ** 2])
    assert rounded.status != "failed", str(rounded)
    cancelling = taylor_test(lambda x: 1.0 - tg.cos(x[0]), ([1e-6],), grad=lambda x: [math.sin(x[0])])
    assert cancelling.status != "failed", str(cancelling)


def test_a_pass_that_could_not_see_the_error_is_inconclusive() -> None:
    # A gradient 1% off, at a point where f's rounding hides an error that size.
    wrong = taylor_test(lambda x: 1.0 - tg.cos(x[0]), ([1e-6],), grad=lambda x: [1.01 * math.sin(x[0])])
    assert wrong.status == "inconclusive" and "would not show" in wrong.reason, str(wrong)
    right = taylor_test(with_exp(EXP_RIGHT), ([0.3, 0.5],))
    assert right.ok and "would have shown" in right.reason


def test_check_grads_of_a_vmapped_function() -> None:
    # The result is a batched one; its per-example outputs are what is checked.
    cube = tg.vmap(lambda x: x * x * x)
    check_grads(cube, ([0.5, -1.0, 2.0],), order=2)
    off = tg.primitive(lambda x: x**3)
    tg.defvjp(off, lambda g, ans, x: g * 3.0 * x * x)
    tg.defjvp(off, lambda t, ans, x: t * 3.0 * x * x * (1 + 1e-9))
    with pytest.raises(AssertionError, match="dot-product test"):
        check_grads(tg.vmap(lambda x: off(x)), ([0.5, -1.0, 2.0],), order=1)


def test_a_central_difference_step_off_the_domain_says_so() -> None:
    def root(x: Scalar) -> Scalar:
        return tg.where(x > 0, tg.sqrt(x), 0.0)  # sqrt is evaluated on both sides of 0

    with pytest.raises(ValueError, match=r"central-difference point.*eps=0.0001.*smaller eps"):
        check_grads(root, (0.0,), order=1)
    check_grads(root, (0.5,), order=1)  # away from the edge it passes


def test_steps_that_leave_the_domain_are_not_used_and_a_nan_gradient_fails() -> None:
    # log at 0.001 along -1: the two largest default steps cross 0, where log raises.
    result = taylor_test(tg.log, (0.001,), direction=-1.0)
    assert result.ok, str(result)
    assert not result.usable[0] and math.isnan(result.remainders[0]) and "undefined here" in str(result)
    wrong = taylor_test(tg.log, (0.001,), direction=-1.0, grad=lambda x: 1.1 / x)
    assert wrong.status == "failed"
    nowhere = taylor_test(tg.log, (0.001,), direction=-1.0, steps=[1.0, 0.5, 0.25])
    assert nowhere.inconclusive and "undefined or not finite at every step" in nowhere.reason
    nan = taylor_test(lambda x: x * x, (1.0,), grad=lambda x: math.nan)
    assert nan.status == "failed" and "not finite" in nan.reason
