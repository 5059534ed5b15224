"""tapegrad.nn: pure-function networks, losses and SGD, checked against micrograd and closed forms."""

from __future__ import annotations

import copy
import importlib.util
import math
import random
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import Scalar, nn
from tapegrad.datasets import make_moons
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import floats

ROOT = Path(__file__).resolve().parent.parent


def close(a: Scalar, b: float, rel: float = 1e-9, abs_: float = 1e-12) -> bool:
    assert type(a) is float, f"expected a Python float, got {a!r}"
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def flat(params: nn.MLPParams) -> list[Any]:
    """Parameters in micrograd's order: layer by layer, neuron by neuron, weights then bias."""
    out: list[Any] = []
    for layer in params:
        for row, bias in zip(layer["w"], layer["b"]):
            out.extend(row)
            out.append(bias)
    return out


@pytest.fixture
def micrograd() -> ModuleType:
    pytest.importorskip("micrograd")
    return importlib.import_module("micrograd.nn")


# -- agreement with micrograd ------------------------------------------------------------------


def test_init_mlp_matches_micrograd(micrograd: ModuleType) -> None:
    random.seed(1337)
    model = micrograd.MLP(2, [16, 16, 1])
    params = nn.init_mlp(random.Random(1337), [2, 16, 16, 1])
    theirs = [p.data for p in model.parameters()]
    ours = flat(params)
    assert len(ours) == len(theirs) == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    assert ours == theirs
    assert [len(layer["w"]) for layer in params] == [16, 16, 1]
    assert [len(layer["w"][0]) for layer in params] == [2, 16, 16]


def moons_loss(points: Sequence[Sequence[float]], labels: Sequence[float], alpha: float) -> Callable[[nn.MLPParams], Scalar]:
    def loss(params: nn.MLPParams) -> Scalar:
        scores = [nn.mlp(params, x) for x in points]
        return nn.svm_hinge_loss(scores, labels) + alpha * nn.l2_penalty(params)

    return loss


def test_moons_loss_and_gradient_match_micrograd(micrograd: ModuleType) -> None:
    from micrograd.engine import Value

    points, labels = make_moons(100, 0.1, random.Random(1337))
    random.seed(1337)
    model = micrograd.MLP(2, [16, 16, 1])
    params = nn.init_mlp(random.Random(1337), [2, 16, 16, 1])
    alpha = 1e-4

    # micrograd's demo loss, step by step
    scores = [model([Value(x) for x in p]) for p in points]
    losses = [(1 + -y * s).relu() for y, s in zip(labels, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = alpha * sum(p * p for p in model.parameters())
    total = data_loss + reg_loss
    model.zero_grad()
    total.backward()

    value, grads = tg.value_and_grad(moons_loss(points, labels, alpha))(params)
    assert math.isclose(value, total.data, rel_tol=1e-12, abs_tol=1e-12)
    theirs = [p.grad for p in model.parameters()]
    ours = flat(grads)
    assert len(ours) == len(theirs)
    worst = max(abs(a - b) for a, b in zip(ours, theirs))
    assert worst <= 1e-12, worst
    # forward values agree score by score too
    for p, s in zip(points, scores):
        assert math.isclose(nn.mlp(params, p), s.data, rel_tol=1e-12, abs_tol=1e-12)


# -- the network as a function ---------------------------------------------------------------------


def test_mlp_on_a_tiny_network_by_hand() -> None:
    params: list[nn.Layer] = [
        {"w": [[1.0, -2.0], [0.5, 0.5]], "b": [0.5, -3.0]},
        {"w": [[2.0, 3.0]], "b": [0.25]},
    ]
    x = [1.5, 0.5]
    h0 = max(0.0, 0.5 + 1.0 * 1.5 - 2.0 * 0.5)  # 1.0
    h1 = max(0.0, -3.0 + 0.5 * 1.5 + 0.5 * 0.5)  # 0 (relu cuts)
    assert nn.mlp(params, x) == 0.25 + 2.0 * h0 + 3.0 * h1
    assert nn.mlp_outputs(params, x) == [0.25 + 2.0 * h0 + 3.0 * h1]
    g = tg.grad(nn.mlp)(params, x)
    # d out / d w of the last layer is the hidden activation
    assert g[1]["w"] == [[h0, h1]] and g[1]["b"] == [1.0]
    # the dead neuron passes no gradient
    assert g[0]["w"][1] == [0.0, 0.0] and g[0]["b"][1] == 0.0
    assert g[0]["w"][0] == [2.0 * 1.5, 2.0 * 0.5] and g[0]["b"][0] == 2.0
    gx = tg.grad(nn.mlp, argnums=1)(params, x)
    assert gx == [2.0 * 1.0, 2.0 * -2.0]


def test_mlp_outputs_and_shape_errors() -> None:
    params = nn.init_mlp(random.Random(0), [3, 4, 2])
    out = nn.mlp_outputs(params, [0.1, 0.2, 0.3])
    assert len(out) == 2 and all(type(v) is float for v in out)
    with pytest.raises(ValueError):
        nn.mlp(params, [0.1, 0.2, 0.3])  # two outputs
    with pytest.raises(ValueError):
        nn.mlp_outputs(params, [0.1, 0.2])  # wrong input size
    with pytest.raises(ValueError):
        nn.init_mlp(random.Random(0), [3])
    with pytest.raises(TypeError):
        nn.init_mlp(0, [2, 1])  # type: ignore[arg-type]


def test_init_mlp_is_deterministic_and_uses_only_the_given_rng() -> None:
    random.seed(5)
    before = random.random()
    random.seed(5)
    a = nn.init_mlp(random.Random(42), [2, 3, 1])
    after = random.random()
    b = nn.init_mlp(random.Random(42), [2, 3, 1])
    assert a == b and before == after
    assert all(bias == 0.0 for layer in a for bias in layer["b"])
    assert all(-1.0 <= w <= 1.0 for layer in a for row in layer["w"] for w in row)


def test_mlp_check_grads() -> None:
    params = nn.init_mlp(random.Random(3), [2, 3, 1])

    def f(p: nn.MLPParams) -> Scalar:
        # tanh hidden layer variant via the outputs of a ReLU net: smooth in the last layer's weights
        return nn.mlp(p, [0.3, -0.7])

    check_grads(f, (params,), order=1, modes=("fwd", "rev"))


# -- losses ------------------------------------------------------------------------------------------

pairs = st.lists(st.tuples(floats(), st.sampled_from([-1.0, 1.0])), min_size=1, max_size=6)


@settings(max_examples=30)
@given(data=pairs)
def test_svm_hinge_loss(data: list[tuple[float, float]]) -> None:
    scores = [s for s, _ in data]
    labels = [y for _, y in data]
    n = len(data)
    expected = math.fsum(max(0.0, 1.0 - y * s) for s, y in data) / n
    value, g = tg.value_and_grad(nn.svm_hinge_loss)(scores, labels)
    assert close(value, expected)
    assert all(close(gi, (-y / n if 1.0 - y * s > 0.0 else 0.0)) for gi, (s, y) in zip(g, data))


@settings(max_examples=30)
@given(data=st.lists(st.tuples(floats(), floats()), min_size=1, max_size=6))
def test_mse_loss(data: list[tuple[float, float]]) -> None:
    preds = [p for p, _ in data]
    targets = [t for _, t in data]
    n = len(data)
    value, g = tg.value_and_grad(nn.mse_loss)(preds, targets)
    assert close(value, math.fsum((p - t) ** 2 for p, t in data) / n)
    assert all(close(gi, 2.0 * (p - t) / n) for gi, (p, t) in zip(g, data))
    h = tg.hessian(nn.mse_loss)(preds, targets)
    assert all(close(h[i][j], (2.0 / n if i == j else 0.0)) for i in range(n) for j in range(n))


@settings(max_examples=30)
@given(data=pairs)
def test_logistic_loss(data: list[tuple[float, float]]) -> None:
    scores = [s for s, _ in data]
    labels = [y for _, y in data]
    n = len(data)
    expected = math.fsum(math.log1p(math.exp(-y * s)) for s, y in data) / n
    value, g = tg.value_and_grad(nn.logistic_loss)(scores, labels)
    assert close(value, expected)
    for gi, (s, y) in zip(g, data):
        assert close(gi, -y / (1.0 + math.exp(y * s)) / n)
    # Labels are constants (they are checked to be -1 or +1), so only the scores are perturbed.
    check_grads(lambda s: nn.logistic_loss(s, labels), (scores,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("label", [1.0, -1.0])
def test_logistic_loss_gradient_at_zero_score(label: float) -> None:
    # d/ds log(1 + exp(-y s)) = -y / (1 + exp(y s)), which is -y/2 at s = 0.
    # (A zero-initialised linear model starts exactly there.)
    def loss(s: Scalar) -> Scalar:
        return nn.logistic_loss([s], [label])

    value, g = tg.value_and_grad(loss)(0.0)
    assert close(value, math.log(2.0))
    assert g == -label / 2.0
    assert tg.jvp(loss, (0.0,), (1.0,))[1] == -label / 2.0


def test_logistic_loss_does_not_overflow() -> None:
    value, g = tg.value_and_grad(nn.logistic_loss)([1000.0, -1000.0], [-1.0, 1.0])
    assert close(value, 1000.0)
    assert g == [0.5, -0.5]
    value2, g2 = tg.value_and_grad(nn.logistic_loss)([1000.0], [1.0])
    assert value2 == 0.0 and g2 == [0.0]


def test_losses_check_lengths() -> None:
    for loss in (nn.svm_hinge_loss, nn.mse_loss, nn.logistic_loss, nn.accuracy):
        with pytest.raises(ValueError):
            loss([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        nn.mse_loss([], [])


def test_l2_penalty_and_accuracy() -> None:
    params: list[nn.Layer] = [{"w": [[1.0, -2.0]], "b": [3.0]}]

    # (a typed wrapper: nn.l2_penalty takes Any, which makes mypy pick the
    # untyped overload of value_and_grad; see tests/BUGS_FOUND.txt)
    def penalty(p: list[nn.Layer]) -> Scalar:
        return nn.l2_penalty(p)

    value, g = tg.value_and_grad(penalty)(params)
    assert value == 14.0
    assert g == [{"w": [[2.0, -4.0]], "b": [6.0]}]
    assert nn.accuracy([0.5, -0.2, 3.0, -1.0], [1.0, -1.0, -1.0, 1.0]) == 0.5


# -- sgd_step ---------------------------------------------------------------------------------------------------


def test_sgd_step_returns_new_params_and_does_not_mutate() -> None:
    params = nn.init_mlp(random.Random(7), [2, 3, 1])
    before = copy.deepcopy(params)

    def out(p: nn.MLPParams) -> Scalar:
        return nn.mlp(p, [0.5, -0.5])

    grads = tg.grad(out)(params)
    grads_before = copy.deepcopy(grads)
    new = nn.sgd_step(params, grads, 0.1)
    assert params == before and grads == grads_before
    assert new is not params and new[0] is not params[0] and new[0]["w"] is not params[0]["w"]
    for p, gr, q in zip(flat(params), flat(grads), flat(new)):
        assert q == p - 0.1 * gr
    with pytest.raises(ValueError):
        nn.sgd_step(params, [{"w": [[1.0]], "b": [1.0]}], 0.1)


def test_a_few_sgd_step_calls_reduce_the_loss() -> None:
    points, labels = make_moons(20, 0.1, random.Random(0))
    params: nn.MLPParams = nn.init_mlp(random.Random(0), [2, 8, 1])
    loss = moons_loss(points, labels, 1e-4)
    first = last = loss(params)
    for _ in range(10):
        value, g = tg.value_and_grad(loss)(params)
        params = nn.sgd_step(params, g, 0.5)
        last = value
    assert last < first


# -- the moons example ---------------------------------------------------------------------------------------


def load_moons_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tapegrad_moons_example", ROOT / "examples" / "moons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_moons_example_trains_to_full_accuracy() -> None:
    moons = load_moons_example()
    params, history = moons.train(steps=100, verbose=False)
    assert len(history) == 100
    final_loss, final_accuracy = history[-1]
    assert final_accuracy == 1.0
    assert final_loss < history[0][0]
    points, labels = make_moons(100, 0.1, random.Random(1337))
    assert nn.accuracy([nn.mlp(params, p) for p in points], labels) == 1.0


def test_moons_example_with_vmap_follows_the_same_path() -> None:
    # The loss written per example and mapped with vmap: the same numbers,
    # up to the rounding of the batch mean (compensated on the Python back end).
    moons = load_moons_example()
    _, plain = moons.train(steps=8, verbose=False)
    _, mapped = moons.train(steps=8, verbose=False, use_vmap=True)
    _, both = moons.train(steps=8, verbose=False, use_vmap=True, use_jit=True)
    for (a, acc_a), (b, acc_b), (c, acc_c) in zip(plain, mapped, both):
        assert b == pytest.approx(a, rel=1e-10) and c == b
        assert acc_a == acc_b == acc_c


def test_large_moons_example_trains_with_vmap() -> None:
    spec = importlib.util.spec_from_file_location("tapegrad_moons_large_example", ROOT / "examples" / "moons_large.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for backend in ["python"] + (["numpy"] if tg.core.batch.numpy_available() else []):
        loss, accuracy, times = module.train(400, 40, backend, verbose=False)
        assert accuracy > 0.9 and loss < 0.5 and len(times) == 40
