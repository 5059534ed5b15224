"""Optimizers, schedules and clipping (tapegrad.optim, re-exported by tapegrad.nn).

Two kinds of reference: closed forms worked out by hand for the first
steps (these need nothing beyond tapegrad), and PyTorch's torch.optim
trajectories in float64 (optional: skipped when torch is not installed).
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any, Callable, Sequence

import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad import optim
from tapegrad.core.tree_utils import tree_flatten, tree_unflatten

Tree = Any


def approx(a: float, b: float, rel: float = 1e-12, abs_: float = 1e-15) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def all_close(xs: list[float], ys: list[float], rel: float = 1e-12, abs_: float = 1e-15) -> bool:
    return len(xs) == len(ys) and all(approx(x, y, rel, abs_) for x, y in zip(xs, ys))


# A small quadratic with a known minimum at C, and an MLP-shaped loss.
A = [1.0, 3.0, 0.5]
C = [2.0, -1.0, 0.25]


def quadratic(x: Sequence[tg.Scalar]) -> tg.Scalar:
    total: tg.Scalar = 0.0
    for a, xi, c in zip(A, x, C):
        total = total + 0.5 * a * (xi - c) * (xi - c)
    # a coupling term, so the coordinates do not move independently
    return total + 0.1 * x[0] * x[1]


def quadratic_grad(x: list[float]) -> list[float]:
    g = [a * (xi - c) for a, xi, c in zip(A, x, C)]
    g[0] += 0.1 * x[1]
    g[1] += 0.1 * x[0]
    return g


POINTS = [[0.5, -0.2], [-1.0, 0.3], [0.1, 0.9], [0.7, 0.7]]
TARGETS = [1.0, -1.0, 0.5, 0.0]


def mlp_loss(params: nn.MLPParams) -> tg.Scalar:
    return nn.mse_loss([nn.mlp(params, x) for x in POINTS], TARGETS)


def mlp_params() -> nn.MLPParams:
    return nn.init_mlp(random.Random(4), [2, 5, 1])


OPTIMIZERS: dict[str, Callable[[], optim.Optimizer[Any]]] = {
    "sgd": lambda: nn.sgd(0.05),
    "sgd_momentum": lambda: nn.sgd(0.05, momentum=0.9),
    "sgd_nesterov": lambda: nn.sgd(0.05, momentum=0.8, nesterov=True),
    "adam": lambda: nn.adam(0.05),
    "adam_tuned": lambda: nn.adam(0.02, b1=0.5, b2=0.9, eps=1e-6),
    "adamw": lambda: nn.adamw(0.05, weight_decay=0.1),
    "rmsprop": lambda: nn.rmsprop(0.01),
    "rmsprop_momentum_centered": lambda: nn.rmsprop(0.01, decay=0.9, momentum=0.5, centered=True),
    "adam_scheduled": lambda: nn.adam(nn.linear_warmup(0.05, 3, nn.cosine_decay(0.05, 10))),
    "sgd_step_decay": lambda: nn.sgd(nn.step_decay(0.1, 0.5, 2), momentum=0.5),
}


# -- closed forms, by hand ----------------------------------------------------------------------------


def test_sgd_first_steps_by_hand() -> None:
    opt = nn.sgd(0.1)
    p, s = opt.update([1.0, -2.0], [0.5, -4.0], opt.init([1.0, -2.0]))
    assert p == [1.0 - 0.1 * 0.5, -2.0 + 0.1 * 4.0] and s.step == 1 and s.velocity is None


def test_sgd_momentum_and_nesterov_by_hand() -> None:
    # velocity v1 = g1, v2 = m v1 + g2; plain momentum steps along v, Nesterov along g + m v
    g1, g2, m, lr = 2.0, 1.0, 0.9, 0.1
    opt = nn.sgd(lr, momentum=m)
    p, s = opt.update([0.0], [g1], opt.init([0.0]))
    assert p == [-lr * g1] and s.velocity == [g1]
    p, s = opt.update(p, [g2], s)
    assert approx(p[0], -lr * g1 - lr * (m * g1 + g2)) and approx(s.velocity[0], m * g1 + g2)

    nes = nn.sgd(lr, momentum=m, nesterov=True)
    q, t = nes.update([0.0], [g1], nes.init([0.0]))
    assert approx(q[0], -lr * (g1 + m * g1))
    q, t = nes.update(q, [g2], t)
    assert approx(q[0], -lr * (g1 + m * g1) - lr * (g2 + m * (m * g1 + g2)))


@pytest.mark.parametrize("g", [3.0, -0.25, 1e-3])
def test_adam_first_step_is_lr_times_sign(g: float) -> None:
    # After bias correction the first moments are exactly g and g*g, so the
    # first step is lr * g / (|g| + eps): lr against the sign, up to eps.
    lr, eps = 0.01, 1e-8
    opt = nn.adam(lr)
    p, s = opt.update([1.0], [g], opt.init([1.0]))
    assert approx(p[0], 1.0 - lr * g / (abs(g) + eps))
    assert approx(p[0], 1.0 - lr * math.copysign(1.0, g), rel=1e-6)
    assert s.step == 1 and approx(s.mu[0], 0.1 * g) and approx(s.nu[0], 0.001 * g * g)


def test_adam_second_step_by_hand() -> None:
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    g1, g2 = 1.0, -2.0
    opt = nn.adam(lr)
    p, s = opt.update([0.0], [g1], opt.init([0.0]))
    p, s = opt.update(p, [g2], s)
    m = (b1 * (1 - b1) * g1 + (1 - b1) * g2) / (1 - b1**2)
    v = (b2 * (1 - b2) * g1**2 + (1 - b2) * g2**2) / (1 - b2**2)
    assert approx(p[0], -lr * g1 / (abs(g1) + eps) - lr * m / (math.sqrt(v) + eps))


def test_adamw_first_step_decays_then_steps() -> None:
    lr, wd = 0.1, 0.5
    opt = nn.adamw(lr, weight_decay=wd)
    p, _ = opt.update([2.0], [4.0], opt.init([2.0]))
    assert approx(p[0], 2.0 * (1.0 - lr * wd) - lr * 4.0 / (4.0 + 1e-8))
    assert nn.adam(0.1) == nn.adamw(0.1, weight_decay=0.0)


def test_rmsprop_first_step_by_hand() -> None:
    # mean square after one step: (1 - decay) g^2, so the step is lr * g / (sqrt(1 - decay) |g| + eps)
    lr, g = 0.01, -3.0
    opt = nn.rmsprop(lr)
    p, s = opt.update([0.0], [g], opt.init([0.0]))
    assert approx(p[0], -lr * g / (math.sqrt(0.01) * abs(g) + 1e-8))
    assert approx(p[0], 0.1, rel=1e-6)  # = 10 * lr against the sign of g
    centered = nn.rmsprop(lr, centered=True)
    q, _ = centered.update([0.0], [g], centered.init([0.0]))
    # variance estimate 0.01 g^2 - (0.01 g)^2
    assert approx(q[0], -lr * g / (math.sqrt(0.01 * g * g - (0.01 * g) ** 2) + 1e-8))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_minimises_the_quadratic(name: str) -> None:
    opt = OPTIMIZERS[name]()
    x: Sequence[tg.Scalar] = [0.0, 0.0, 0.0]
    state = opt.init(x)
    start = tg.primal(quadratic(x))
    for _ in range(60):
        x, state = opt.update(x, tg.grad(quadratic)(x), state)
    assert tg.primal(quadratic(x)) < start


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_update_mutates_nothing(name: str) -> None:
    opt = OPTIMIZERS[name]()
    params = mlp_params()
    state = opt.init(params)
    for _ in range(2):  # the second update starts from a non-trivial state
        grads = tg.grad(mlp_loss)(params)
        before = copy.deepcopy((params, grads, state))
        new_params, new_state = opt.update(params, grads, state)
        assert (params, grads, state) == before
        assert new_params is not params and new_params != params
        params, state = new_params, new_state
    assert state.step == 2


def test_state_is_a_typed_immutable_value() -> None:
    s = nn.adam(0.1).init({"a": [1.0, 2.0]})
    assert isinstance(s, optim.AdamState) and s.step == 0
    assert s.mu == {"a": [0.0, 0.0]} and s.nu == {"a": [0.0, 0.0]}
    with pytest.raises(AttributeError):
        s.step = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        nn.adam(0.1).lr = 0.2  # type: ignore[misc]


def test_grads_of_another_shape_are_refused() -> None:
    opt = nn.adam(0.1)
    state = opt.init([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grads has shape \[\*\], but params have shape \[\*, \*\]"):
        opt.update([1.0, 2.0], [1.0], state)


# -- hyperparameter validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: nn.sgd(-0.1), r"sgd: lr must be a finite number >= 0.0, got -0.1"),
        (lambda: nn.sgd(math.nan), r"sgd: lr must be a number, got nan"),
        (lambda: nn.sgd(0.1, momentum=1.5), r"sgd: momentum must be in \[0, 1\), got 1.5"),
        (lambda: nn.sgd(0.1, nesterov=True), r"nesterov=True needs momentum > 0"),
        (lambda: nn.adam(0.1, b1=1.0), r"adam: b1 must be in \[0, 1\), got 1.0"),
        (lambda: nn.adam(0.1, b2=-0.1), r"adam: b2 must be in \[0, 1\), got -0.1"),
        (lambda: nn.adam(0.1, eps=-1e-8), r"adam: eps must be a finite number > 0, got -1e-08"),
            (lambda: nn.adam(0.1, eps=0), r"adam: eps must be a finite number > 0, got 0.0: .* divide by zero"),
            (lambda: nn.adamw(0.1, eps=0.0), r"adamw: eps must be a finite number > 0"),
            (lambda: nn.rmsprop(0.1, eps=0), r"rmsprop: eps must be a finite number > 0, got 0.0"),
        (lambda: nn.adamw(0.1, weight_decay=-0.01), r"adamw: weight_decay must be a finite number >= 0.0"),
        (lambda: nn.rmsprop(0.1, decay=1.0), r"rmsprop: decay must be in \[0, 1\), got 1.0"),
        (lambda: nn.clipped(nn.sgd(0.1), 0.0), r"clipped: max_norm must be a finite number > 0, got 0.0"),
        (lambda: nn.step_decay(0.1, 0.0, 5), r"step_decay: rate must be in \(0, 1\], got 0.0"),
        (lambda: nn.step_decay(0.1, 0.5, 0), r"step_decay: every must be a positive int, got 0"),
        (lambda: nn.cosine_decay(0.1, 10, final=0.2), r"final \(0.2\) must not exceed init \(0.1\)"),
        (lambda: nn.linear_warmup(0.1, -3), r"linear_warmup: steps must be a positive int, got -3"),
    ],
)
def test_bad_hyperparameters_raise_clear_errors(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_hyperparameters_of_the_wrong_type_raise_type_errors() -> None:
    with pytest.raises(TypeError, match="sgd: lr must be a number, got str"):
        nn.sgd("0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="adam: b1 must be a number, got bool"):
        nn.adam(0.1, b1=True)
    with pytest.raises(TypeError, match="clipped: expected an optimizer"):
        nn.clipped(0.1, 1.0)  # type: ignore[arg-type]


def test_a_schedule_that_goes_negative_is_caught_at_that_step() -> None:
    opt = nn.sgd(lambda k: 0.1 - 0.1 * k)
    p, s = opt.update([0.0], [1.0], opt.init([0.0]))
    p, s = opt.update(p, [1.0], s)  # lr 0 at step 1 is fine
    with pytest.raises(ValueError, match=r"schedule returned -0.1\d* at step 2"):
        opt.update(p, [1.0], s)


# -- schedules ------------------------------------------------------------------------------------------


def test_schedules_by_hand() -> None:
    assert [nn.constant(0.3)(k) for k in (0, 7)] == [0.3, 0.3]
    decay = nn.step_decay(1.0, 0.5, 3)
    assert [decay(k) for k in range(7)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    cos = nn.cosine_decay(1.0, 4, final=0.2)
    expected = [0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(5)]
    assert all_close([cos(k) for k in range(5)], expected)
    assert cos(0) == 1.0 and approx(cos(2), 0.6) and approx(cos(4), 0.2) and cos(100) == cos(4)
    warm = nn.linear_warmup(0.4, 4)
    assert all_close([warm(k) for k in range(6)], [0.1, 0.2, 0.3, 0.4, 0.4, 0.4])


def test_warmup_then_another_schedule() -> None:
    sched = nn.linear_warmup(1.0, 2, nn.step_decay(1.0, 0.1, 2))
    assert all_close([sched(k) for k in range(7)], [0.5, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01])
    # schedules built alike compare equal and print their parameters
    assert nn.cosine_decay(1.0, 4) == nn.cosine_decay(1.0, 4)
    assert "steps=4" in repr(nn.cosine_decay(1.0, 4))


def test_an_optimizer_follows_its_schedule() -> None:
    # With SGD the step taken is lr(k) * g, so the schedule can be read back off the params.
    sched = nn.linear_warmup(0.3, 3, nn.cosine_decay(0.3, 4))
    opt = nn.sgd(sched)
    p, s = [0.0], opt.init([0.0])
    taken = []
    for _ in range(8):
        q, s = opt.update(p, [-1.0], s)
        taken.append(q[0] - p[0])
        p = q
    assert all_close(taken, [sched(k) for k in range(8)])


# -- clipping -----------------------------------------------------------------------------------------------


def test_clip_by_global_norm_by_hand() -> None:
    grads = {"a": [3.0], "b": (4.0,)}  # global norm 5
    assert nn.global_norm(grads) == 5.0
    clipped = nn.clip_by_global_norm(grads, 1.0)
    assert all_close(tree_flatten(clipped)[0], [0.6, 0.8]) and tree_flatten(clipped)[1] == tree_flatten(grads)[1]
    assert grads == {"a": [3.0], "b": (4.0,)}
    assert nn.clip_by_global_norm(grads, 5.0) is grads  # within the limit: untouched
    assert nn.clip_by_global_norm({"a": [0.0]}, 1.0) == {"a": [0.0]}


def test_clipped_optimizer_clips_before_its_step() -> None:
    inner = nn.sgd(0.1, momentum=0.5)
    opt = nn.clipped(inner, max_norm=1.0)
    params = [0.0, 0.0]
    s1 = opt.init(params)
    assert s1 == inner.init(params)
    p1, s1 = opt.update(params, [30.0, 40.0], s1)
    p2, s2 = inner.update(params, [0.6, 0.8], inner.init(params))
    assert all_close(p1, p2) and s1 == s2


def test_clipping_is_differentiable() -> None:
    # inside a transform the norm is traced: the gradient of the clipped sum
    def f(g: list[tg.Scalar]) -> tg.Scalar:
        c = nn.clip_by_global_norm(g, 1.0)
        return c[0] + c[1]

    tg.testing.check_grads(f, ([3.0, 4.0],), order=1)


# -- against PyTorch ---------------------------------------------------------------------------------------


def _torch_optimizer(name: str, tensor: Any) -> tuple[Any, Any]:
    """The torch.optim counterpart of OPTIMIZERS[name], and its LR scheduler (or None)."""
    torch = pytest.importorskip("torch")
    o = torch.optim
    ps = [tensor]
    if name == "sgd":
        return o.SGD(ps, lr=0.05), None
    if name == "sgd_momentum":
        return o.SGD(ps, lr=0.05, momentum=0.9), None
    if name == "sgd_nesterov":
        return o.SGD(ps, lr=0.05, momentum=0.8, nesterov=True), None
    if name == "adam":
        return o.Adam(ps, lr=0.05), None
    if name == "adam_tuned":
        return o.Adam(ps, lr=0.02, betas=(0.5, 0.9), eps=1e-6), None
    if name == "adamw":
        return o.AdamW(ps, lr=0.05, weight_decay=0.1), None
    if name == "rmsprop":
        return o.RMSprop(ps, lr=0.01), None
    if name == "rmsprop_momentum_centered":
        return o.RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.5, centered=True), None
    # Scheduled: LambdaLR multiplies the initial lr (1.0 here) by our schedule at each step.
    if name == "adam_scheduled":
        sched = nn.linear_warmup(0.05, 3, nn.cosine_decay(0.05, 10))
        opt = o.Adam(ps, lr=1.0)
        return opt, o.lr_scheduler.LambdaLR(opt, sched)
    if name == "sgd_step_decay":
        opt = o.SGD(ps, lr=0.1, momentum=0.5)
        return opt, o.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    raise AssertionError(name)


def _compare_with_torch(name: str, params: Tree, loss: Callable[[Any], tg.Scalar], steps: int) -> None:
    torch = pytest.importorskip("torch")
    leaves, treedef = tree_flatten(params)
    # One flat float64 tensor: every rule here is leaf-wise, so flattening changes nothing.
    x = torch.tensor(leaves, dtype=torch.float64, requires_grad=True)
    topt, tsched = _torch_optimizer(name, x)
    opt = OPTIMIZERS[name]()
    state = opt.init(params)
    for k in range(steps):
        # the same gradient function on both sides, each at its own current point
        theirs_grad = tree_flatten(tg.grad(loss)(tree_unflatten(treedef, x.detach().tolist())))[0]
        x.grad = torch.tensor(theirs_grad, dtype=torch.float64)
        topt.step()
        if tsched is not None:
            tsched.step()
        params, state = opt.update(params, tg.grad(loss)(params), state)
        ours = tree_flatten(params)[0]
        theirs = x.detach().tolist()
        assert all_close(ours, theirs, rel=1e-10, abs_=1e-12), f"{name}, step {k}: {ours} vs {theirs}"


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_matches_torch_on_a_quadratic(name: str) -> None:
    _compare_with_torch(name, [0.0, 0.5, -1.0], quadratic, steps=12)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_matches_torch_on_an_mlp_tree(name: str) -> None:
    _compare_with_torch(name, mlp_params(), mlp_loss, steps=6)


def test_quadratic_gradient_is_what_the_torch_comparison_assumes() -> None:
    # (the comparisons above feed both sides tapegrad's gradient; make sure it is the right one)
    x = [0.3, -0.7, 1.1]
    assert all_close([tg.primal(g) for g in tg.grad(quadratic)(x)], quadratic_grad(x))


def test_schedules_match_torch_schedulers() -> None:
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)

    def lrs(make: Callable[[Any], Any], n: int) -> list[float]:
        opt = torch.optim.SGD([p], lr=0.8)
        sched = make(opt)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    step = lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.3), 10)
    assert all_close(step, [nn.step_decay(0.8, 0.3, 3)(k) for k in range(10)])
    cos = lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.1), 9)
    assert all_close(cos, [nn.cosine_decay(0.8, 8, final=0.1)(k) for k in range(9)], rel=1e-9)


def test_clipping_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    grads = [0.5, -2.0, 3.5, 1.0]
    t = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    t.grad = torch.tensor(grads, dtype=torch.float64)
    norm = torch.nn.utils.clip_grad_norm_([t], max_norm=1.5)
    assert approx(nn.global_norm(grads), float(norm))
    # torch divides by norm + 1e-6, so the two agree to about 1e-6 relative
    assert all_close(nn.clip_by_global_norm(grads, 1.5), t.grad.tolist(), rel=1e-5)
