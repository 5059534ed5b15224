"""A user's own strictly typed code on top of tapegrad.

mypy --strict checks this file with the rest of the project (see mypy.ini),
and tests/test_typed_usage.py runs it, so the annotations users write are
known to type-check *and* to describe what actually happens at run time.
"""

from __future__ import annotations

import math
import random
from typing import NamedTuple, Sequence

import tapegrad as tg
from tapegrad import Scalar, nn
from tapegrad.testing import check_grads

# -- plain functions of a parameter list ------------------------------------------------------


def rosenbrock(params: Sequence[Scalar]) -> Scalar:
    x, y = params[0], params[1]
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def loss(params: list[Scalar]) -> Scalar:
    """A smooth bowl with its minimum at (1, -2)."""
    a, b = params
    return (a - 1.0) ** 2 + tg.log(1.0 + (b + 2.0) ** 2)


def gradient_descent(steps: int, lr: float = 0.1) -> list[float]:
    params: list[Scalar] = [3.0, 0.0]
    for _ in range(steps):
        grads: list[Scalar] = tg.grad(loss)(params)
        params = [p - lr * g for p, g in zip(params, grads)]
    return [tg.primal(p) for p in params]


def plain_descent(steps: int, lr: float = 0.1) -> list[float]:
    """The same bowl with list[float] parameters: the gradient of a list[float] is a list[float]."""
    p: list[float] = [3.0, 0.0]
    for _ in range(steps):
        g = tg.grad(rosenbrock_like)(p)
        p = [pi - lr * gi for pi, gi in zip(p, g)]
    return p


def rosenbrock_like(params: Sequence[Scalar]) -> Scalar:
    a, b = params[0], params[1]
    return (a - 1.0) ** 2 + tg.log(1.0 + (b + 2.0) ** 2)


def jitted_descent(steps: int, lr: float = 0.1) -> tuple[list[float], int]:
    """jit keeps grad's type: list[float] in, list[float] out, and the jit's stats are typed too."""
    step = tg.jit(tg.grad(rosenbrock_like))
    p: list[float] = [3.0, 0.0]
    for _ in range(steps):
        g = step(p)
        p = [pi - lr * gi for pi, gi in zip(p, g)]
    traces: int = step.stats.traces
    return p, traces


def adam_descent(steps: int) -> tuple[list[float], int]:
    """The same bowl with Adam (warmup, then cosine decay) and gradients clipped to norm 1.

    The optimizer's state is typed: mypy knows ``state.step`` is an int and
    that ``update`` hands back parameters of the type it was given.
    """
    opt = nn.clipped(nn.adam(nn.linear_warmup(0.1, 5, nn.cosine_decay(0.1, steps))), max_norm=1.0)
    params: list[Scalar] = [3.0, 0.0]
    state: nn.AdamState = opt.init(params)
    for _ in range(steps):
        grads: list[Scalar] = tg.grad(loss)(params)
        params, state = opt.update(params, grads, state)
    step: int = state.step
    return [tg.primal(p) for p in params], step


def rosenbrock_value_and_gradient(point: Sequence[float]) -> tuple[float, list[float]]:
    value, grads = tg.value_and_grad(rosenbrock)(list(point))
    return value, [tg.primal(g) for g in grads]


# -- a named tuple of parameters and has_aux ------------------------------------------------------


class Line(NamedTuple):
    slope: Scalar
    intercept: Scalar


def line_loss(line: Line, xs: Sequence[float], ys: Sequence[float]) -> tuple[Scalar, int]:
    """Mean squared error, plus the number of points predicted within 0.5 (the aux value)."""
    total: Scalar = 0.0
    hits = 0
    for x, y in zip(xs, ys):
        err = line.slope * x + line.intercept - y
        total = total + err * err
        if abs(tg.primal(err)) < 0.5:
            hits += 1
    return total * (1.0 / len(xs)), hits


def fit_line(xs: Sequence[float], ys: Sequence[float], steps: int = 200, lr: float = 0.05) -> tuple[Line, float, int]:
    line = Line(0.0, 0.0)
    value = math.inf
    hits = 0
    step = tg.value_and_grad(line_loss, has_aux=True)
    for _ in range(steps):
        (value, hits), g = step(line, xs, ys)
        line = Line(line.slope - lr * g.slope, line.intercept - lr * g.intercept)
    return line, value, hits


# -- a small network with nn -----------------------------------------------------------------------------


def train_classifier(steps: int) -> tuple[list[float], float]:
    points: list[list[float]] = [[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]]
    labels: list[float] = [1.0, -1.0, 1.0, -1.0]

    def objective(params: nn.MLPParams) -> tuple[Scalar, Scalar]:
        scores = [nn.mlp(params, p) for p in points]
        return nn.svm_hinge_loss(scores, labels), nn.accuracy(scores, labels)

    params = nn.init_mlp(random.Random(1), [2, 8, 1])  # a list[Layer], not annotated
    step = tg.value_and_grad(objective, has_aux=True)
    history: list[float] = []
    accuracy = 0.0
    for _ in range(steps):
        (value, accuracy), grads = step(params)
        params = nn.sgd_step(params, grads, 0.2)
        history.append(value)
    # has_aux hands traced aux values back as floats, and says so: accuracy is a float
    return history, accuracy


def train_classifier_with_adam(steps: int) -> list[Scalar]:
    """The README's pattern: params from init_mlp (a list[Layer]), a loss annotated with MLPParams.

    grad types the gradient as the loss's parameter (Sequence[Layer]);
    ``update`` takes it and hands back a list[Layer], so ``params`` keeps its type.
    """
    points: list[list[float]] = [[0.0, 1.0], [1.0, 0.0]]

    def loss(params: nn.MLPParams) -> Scalar:
        return nn.mse_loss([nn.mlp(params, p) for p in points], [1.0, -1.0])

    params = nn.init_mlp(random.Random(2), [2, 4, 1])
    opt = nn.adam(0.05)
    state = opt.init(params)
    losses: list[Scalar] = []
    for _ in range(steps):
        params, state = opt.update(params, tg.grad(loss)(params), state)
        losses.append(loss(params))
    first_layer: nn.Layer = params[0]  # still a list[Layer]: indexable, and a Layer inside
    assert len(first_layer["b"]) == 4
    assert tg.primal(losses[-1]) < tg.primal(losses[0])
    return losses


# -- jacobians, hessians, jvp and vjp ----------------------------------------------------------------------


def to_cartesian(polar: Sequence[Scalar]) -> list[Scalar]:
    r, theta = polar[0], polar[1]
    return [r * tg.cos(theta), r * tg.sin(theta)]


def polar_jacobian(r: float, theta: float) -> list[list[float]]:
    jac: list[list[float]] = tg.jacobian(to_cartesian)([r, theta])
    return jac


def rosenbrock_hessian(x: float, y: float) -> list[list[float]]:
    hess: list[list[float]] = tg.hessian(rosenbrock)([x, y])
    return hess


def directional_derivative(point: list[float], direction: list[float]) -> float:
    value, tangent = tg.jvp(rosenbrock, (point,), (direction,))
    return tangent


def pullback(point: list[float]) -> list[float]:
    out, vjp_fn = tg.vjp(to_cartesian, point)
    first: float = out[0]
    (cotangent,) = vjp_fn([1.0, 0.0])
    return [c + 0.0 * first for c in cotangent]


def polar_x_pullback(point: list[float]) -> list[float]:
    """vjp with has_aux: the aux value comes third."""

    def x_and_radius(p: Sequence[Scalar]) -> tuple[Scalar, Scalar]:
        return p[0] * tg.cos(p[1]), p[0]

    out, vjp_fn, radius = tg.vjp(x_and_radius, point, has_aux=True)
    (cotangent,) = vjp_fn(1.0)
    return [c * tg.primal(radius) for c in cotangent]


# -- a custom primitive ---------------------------------------------------------------------------------------


@tg.primitive
def softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _softplus_rule(g: Scalar, ans: Scalar, x: Scalar) -> Scalar:
    return g * tg.sigmoid(x)


tg.defvjp(softplus, _softplus_rule)


def smooth_relu_sum(xs: Sequence[Scalar]) -> Scalar:
    total: Scalar = 0.0
    for x in xs:
        y: Scalar = softplus(x)
        total = total + y
    return total


# -- the math functions, sum and mean: floats in, a float out; anything traced, a traced result --


def mean_squared_error(preds: Sequence[Scalar], targets: Sequence[float]) -> Scalar:
    return tg.mean([(p - t) ** 2 for p, t in zip(preds, targets)])


def soft_clipped_total(xs: list[Scalar]) -> Scalar:
    total: Scalar = tg.sum(tg.clip(x, -1.0, 1.0) + tg.logaddexp(x, 0.0) for x in xs)
    return total + tg.where(total > 0.0, tg.hypot(xs[0], xs[1]), tg.atan2(xs[0], 1.0))


def typed_math() -> tuple[float, float, float]:
    plain: float = tg.sum([1.0, 2.0, 3.0])  # all floats: a float
    average: float = tg.mean([1.0, 2.0])
    angle: float = tg.atan2(1.0, 1.0) + tg.maximum(tg.pi, tg.e) + tg.tan(0.5) + tg.erf(0.5)
    angle += tg.sinc(0.25) + tg.logaddexp2(1.0, 2.0)
    return plain, average, angle


def sinc_of_traced(x: Scalar) -> Scalar:
    return tg.sinc(x) * tg.logaddexp2(x, 0.5)


def sum_of_traced(xs: list[tg.Traced]) -> tg.Traced:
    return tg.sum(x * x for x in xs)  # all traced: a traced scalar


def main() -> dict[str, object]:
    """Run every example above and return what they computed."""
    results: dict[str, object] = {}
    results["descent"] = gradient_descent(100)
    results["plain_descent"] = plain_descent(100)
    results["jitted_descent"] = jitted_descent(100)
    results["aux_pullback"] = polar_x_pullback([2.0, 0.0])
    results["adam"] = adam_descent(300)
    results["rosenbrock"] = rosenbrock_value_and_gradient([1.0, 1.0])
    xs = [0.0, 1.0, 2.0, 3.0]
    results["line"] = fit_line(xs, [2.0 * x + 1.0 for x in xs], steps=500)
    results["classifier"] = train_classifier(30)
    results["classifier_adam"] = train_classifier_with_adam(20)
    results["polar"] = polar_jacobian(2.0, 0.5)
    results["hessian"] = rosenbrock_hessian(1.0, 1.0)
    results["directional"] = directional_derivative([1.0, 2.0], [1.0, 0.0])
    results["pullback"] = pullback([2.0, 0.0])
    results["softplus_grad"] = tg.grad(smooth_relu_sum)([0.0, 1.0])
    check_grads(smooth_relu_sum, ([0.3, -0.2],), order=2)
    results["mse_grad"] = tg.grad(mean_squared_error)([1.0, 3.0], [0.0, 1.0])
    results["soft_clipped"] = tg.grad(soft_clipped_total)([0.5, 2.0])
    results["typed_math"] = typed_math()
    results["sinc_grad"] = tg.grad(sinc_of_traced)(0.0)
    return results


if __name__ == "__main__":
    for name, value in main().items():
        print(f"{name}: {value}")
