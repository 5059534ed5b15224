"""Edge cases found in review: each test pins down one behaviour that once went wrong."""

from __future__ import annotations

import math
from typing import Any

import pytest

import tapegrad as tg
from tapegrad import Scalar


def test_forward_mode_ignores_records_the_output_never_reads() -> None:
    def f(x: Scalar) -> Scalar:
        unused = tg.sqrt(x)  # its derivative at 0 is infinite, but nothing uses it
        del unused
        return x * x

    assert tg.jvp(f, (0.0,), (1.0,)) == (0.0, 0.0)
    assert tg.jacobian(f, mode="fwd")(0.0) == 0.0
    assert tg.hessian(f)(0.0) == 2.0


def test_stop_gradient_operands_never_reach_a_rule() -> None:
    # d/dx x ** c with c = stop_gradient(x) = -2 at x = -2: c * x ** (c - 1) = 0.25.
    # pow's rule for the exponent would fail for a negative base; it must not run.
    assert tg.grad(lambda x: x ** tg.stop_gradient(x))(-2.0) == 0.25

    @tg.primitive
    def opaque(x: float) -> float:
        return 2.0 * x

    # no rule given: fine as long as nothing differentiates through it
    assert tg.grad(lambda x: x * tg.stop_gradient(opaque(x)))(3.0) == 6.0
    with pytest.raises(tg.MissingRuleError, match="opaque"):
        tg.grad(opaque)(3.0)


def test_explicit_zero_tangents_are_structural_zeros() -> None:
    @tg.primitive
    def opaque(x: float) -> float:
        return 2.0 * x

    out, tangent = tg.jvp(lambda x, y: x + opaque(y), (1.0, 2.0), (1.0, 0.0))
    assert (out, tangent) == (5.0, 1.0)


def test_negative_argnums_cannot_name_an_argument_twice() -> None:
    with pytest.raises(ValueError, match="same argument twice"):
        tg.grad(lambda x, y: x * y, argnums=(0, -2))(2.0, 3.0)
    assert tg.grad(lambda x, y: x * y, argnums=-1)(2.0, 3.0) == 2.0


def test_dict_key_order_is_not_part_of_the_shape() -> None:
    def f(p: dict[str, Scalar]) -> list[Scalar]:
        return [p["s"] * p["t"], p["t"]]

    _, vjp_fn = tg.vjp(f, {"s": 2.0, "t": 3.0})
    assert vjp_fn([1.0, 0.0]) == ({"s": 3.0, "t": 2.0},)
    _, tangent = tg.jvp(f, ({"s": 2.0, "t": 3.0},), ({"t": 1.0, "s": 0.0},))
    assert tangent == [2.0, 1.0]
    merged = tg.tree_map(lambda a, b: a + b, {"x": 1.0, "y": 2.0}, {"y": 10.0, "x": 20.0})
    assert merged == {"x": 21.0, "y": 12.0} and list(merged) == ["x", "y"]
    # the gradient keeps the parameters' own key order
    assert list(tg.grad(lambda p: p["b"] * p["a"])({"b": 2.0, "a": 3.0})) == ["b", "a"]


class Money:
    """A foreign type that knows how to add itself to numbers."""

    def __init__(self, amount: float) -> None:
        self.amount = amount

    def __radd__(self, other: Any) -> str:
        return "Money.__radd__"

    def __rmul__(self, other: Any) -> str:
        return "Money.__rmul__"


def test_foreign_operands_get_their_reflected_method() -> None:
    seen: list[object] = []

    def f(x: Scalar) -> Scalar:
        seen.append(x + Money(1.0))
        seen.append(x * Money(1.0))
        return x

    tg.grad(f)(1.0)
    assert seen == ["Money.__radd__", "Money.__rmul__"]


def test_a_rule_must_return_a_scalar() -> None:
    @tg.primitive
    def double(x: float) -> float:
        return 2.0 * x

    tg.defvjp(double, lambda g, ans, x: [g * 2.0])
    with pytest.raises(TypeError, match="double.*list"):
        tg.grad(double)(1.0)
    with pytest.raises(TypeError, match="double.*list"):
        tg.jvp(double, (1.0,), (1.0,))


def test_relu_keeps_nan() -> None:
    assert math.isnan(tg.relu(math.nan))
    assert tg.relu(-0.5) == 0.0 and tg.relu(0.0) == 0.0 and tg.relu(2.5) == 2.5


def test_records_of_a_closed_tape_are_built_once() -> None:
    tape = tg.trace(lambda x: x * x + 1.0)(2.0)
    assert tape.records is tape.records
    assert [r.value for r in tape.records] == [2.0, 4.0, 5.0]


def test_grad_names_itself_after_the_function() -> None:
    def cube(x: Scalar) -> Scalar:
        return x * x * x

    tape = tg.trace(tg.grad(cube))(2.0)
    assert str(tape).startswith("the tape of grad(cube): 1 input,")


def test_a_training_step_leaves_no_reference_cycles() -> None:
    # A cycle would keep the step's whole tape alive until the next garbage
    # collection (recursive closures in the tree walker once did exactly that).
    import gc
    import random

    from tapegrad import nn

    points = [[0.5, -0.2], [-1.0, 0.3], [0.1, 0.9]]
    labels = [1.0, -1.0, 1.0]
    params = nn.init_mlp(random.Random(0), [2, 4, 1])

    def loss(p: nn.MLPParams, points: list[list[float]], labels: list[float]) -> tuple[Scalar, Scalar]:
        scores = [nn.mlp(p, x) for x in points]
        return nn.svm_hinge_loss(scores, labels) + 1e-4 * nn.l2_penalty(p), nn.accuracy(scores, labels)

    step = tg.value_and_grad(loss, has_aux=True)
    jitted = tg.jit(step)
    jitted(params, points, labels)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        step(params, points, labels)
        nn.sgd_step(params, step(params, points, labels)[1], 0.1)
        jitted(params, points, labels)
        tg.hessian(lambda p: nn.l2_penalty(p))([1.0, 2.0])
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()
