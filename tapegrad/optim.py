"""Optimizers, learning-rate schedules and gradient clipping, as pure functions.

An optimizer is a small immutable object holding its hyperparameters. It
keeps no state of its own: ``opt.init(params)`` returns the state (step
count, moment estimates) as a typed immutable value, and
``opt.update(params, grads, state)`` returns ``(new_params, new_state)``.
Nothing is modified in place, so an old state or old parameters can be
kept, compared or reused freely::

    opt = adam(1e-3)
    state = opt.init(params)
    for _ in range(steps):
        params, state = opt.update(params, tg.grad(loss)(params), state)

A learning rate is a float or a *schedule*: a function of the step number
(0 for the first update) returning a float. :func:`constant`,
:func:`step_decay`, :func:`cosine_decay` and :func:`linear_warmup` build
them; they live in :mod:`tapegrad.schedules` and are importable from here
too, and every hyperparameter is checked by :mod:`tapegrad.hyperparameters`.
:func:`clip_by_global_norm` rescales a gradient tree, and
:func:`clipped` wraps an optimizer so that it clips before every update.

The update rules follow PyTorch's ``torch.optim`` (the tests compare
trajectories step by step), so hyperparameters carry over directly.
"""

from __future__ import annotations

import math
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import attrs

from tapegrad.core.functions import sqrt
from tapegrad.core.tree_utils import tree_flatten, tree_leaves, tree_unflatten, tree_zeros_like
from tapegrad.hyperparameters import (
    LearningRate,
    Schedule,
    _at_least,
    _eps,
    _learning_rate,
    _lr_at,
    _positive,
    _state_of,
    _unit,
)
from tapegrad.schedules import constant, cosine_decay, linear_warmup, step_decay

T = TypeVar("T")
S = TypeVar("S")

__all__ = [
    "LearningRate",
    "Optimizer",
    "Schedule",
    "SGD",
    "SGDState",
    "Adam",
    "AdamState",
    "RMSprop",
    "RMSpropState",
    "Clipped",
    "sgd",
    "adam",
    "adamw",
    "rmsprop",
    "clipped",
    "clip_by_global_norm",
    "global_norm",
    "constant",
    "step_decay",
    "cosine_decay",
    "linear_warmup",
]


# -- the optimizer protocol ----------------------------------------------------------------------------


class Optimizer(Protocol[S]):
    """What every optimizer here provides: ``init`` and ``update``, both pure.

    ``grads`` is typed ``Any``: it is a tree shaped like ``params``, but
    ``grad`` types it by the loss's declared parameter (``Sequence[Layer]``
    for ``params: MLPParams``, ``dict[str, Scalar]``), which is rarely the
    params' own type (``list[Layer]``, ``dict[str, float]``). Its shape is
    checked when the update runs (a mismatch shows both shapes); the
    new parameters have the type of ``params``.
    """

    def init(self, params: Any) -> S:
        """The state before the first update, for parameters shaped like ``params``."""
        ...

    def update(self, params: T, grads: Any, state: S) -> tuple[T, S]:
        """New parameters and new state after one step; ``params``, ``grads`` and ``state`` are left as they were."""
        ...


def _leafwise(params: Any, *trees: Any) -> tuple[list[Any], list[list[Any]], Any]:
    """Leaves of ``params`` and of each tree in ``trees``, which must all have the shape of ``params``.

    The optimizers work on lists of leaves: one flatten per tree per step,
    instead of one tree walk per arithmetic operation.
    """
    pl, treedef = tree_flatten(params)
    out = []
    for name, tree in zip(("grads", "state", "state", "state"), trees):
        lv, td = tree_flatten(tree)
        if td != treedef:
            raise ValueError(f"optimizer update: {name} has shape {td}, but params have shape {treedef}")
        out.append(lv)
    return pl, out, treedef


# -- SGD -------------------------------------------------------------------------------------------------


class SGDState(NamedTuple):
    """SGD's state: the number of updates done (``step``), and the velocity (a tree like params; None without momentum)."""

    step: int
    velocity: Any


@attrs.frozen
class SGD:
    """Stochastic gradient descent, optionally with (Nesterov) momentum. Build it with :func:`sgd`."""

    lr: LearningRate
    momentum: float = 0.0
    nesterov: bool = False

    def init(self, params: Any) -> SGDState:
        """Count 0 and, with momentum, a zero velocity shaped like ``params``."""
        return SGDState(0, tree_zeros_like(params) if self.momentum else None)

    def update(self, params: T, grads: Any, state: SGDState) -> tuple[T, SGDState]:
        """``p - lr * g``; with momentum ``v = momentum * v + g`` and the step uses ``v``
        (or ``g + momentum * v`` when nesterov)."""
        _state_of("sgd", state, SGDState)
        lr = _lr_at("sgd", self.lr, state.step)
        if not self.momentum:
            pl, (gl,), td = _leafwise(params, grads)
            return tree_unflatten(td, [p - lr * g for p, g in zip(pl, gl)]), SGDState(state.step + 1, None)
        m = self.momentum
        pl, (gl, vl), td = _leafwise(params, grads, state.velocity)
        new_v = [m * v + g for g, v in zip(gl, vl)]
        direction = [g + m * v for g, v in zip(gl, new_v)] if self.nesterov else new_v
        new_p = [p - lr * d for p, d in zip(pl, direction)]
        return tree_unflatten(td, new_p), SGDState(state.step + 1, tree_unflatten(td, new_v))


def sgd(lr: LearningRate, momentum: float = 0.0, nesterov: bool = False) -> SGD:
    """Gradient descent with learning rate ``lr`` (a float or a schedule).

    With ``momentum`` in [0, 1) it keeps a velocity ``v = momentum * v + g``
    and steps along ``v`` (PyTorch's convention: the learning rate is
    applied after the velocity, not folded into it). ``nesterov=True``
    steps along ``g + momentum * v`` instead and needs ``momentum > 0``.
    """
    lr = _learning_rate("sgd", lr)
    momentum = _unit("sgd", "momentum", momentum)
    if not isinstance(nesterov, bool):
        raise TypeError(f"sgd: nesterov must be True or False, got {nesterov!r:.60}")
    if nesterov and momentum == 0.0:
        raise ValueError("sgd: nesterov=True needs momentum > 0")
    return SGD(lr, momentum, nesterov)


# -- Adam and AdamW ---------------------------------------------------------------------------------------


class AdamState(NamedTuple):
    """Adam's state: the number of updates done (``step``) and the running first and second moments (trees like params)."""

    step: int
    mu: Any
    nu: Any


@attrs.frozen
class Adam:
    """Adam, or AdamW when ``weight_decay > 0``. Build it with :func:`adam` or :func:`adamw`."""

    lr: LearningRate
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def init(self, params: Any) -> AdamState:
        """Count 0 and zero moments shaped like ``params``."""
        zeros = tree_zeros_like(params)
        return AdamState(0, zeros, zeros)

    def update(self, params: T, grads: Any, state: AdamState) -> tuple[T, AdamState]:
        """One Adam step with bias-corrected moments; decoupled weight decay first when set."""
        _state_of("adamw" if self.weight_decay else "adam", state, AdamState)
        lr = _lr_at("adam", self.lr, state.step)
        b1, b2, eps, wd = self.b1, self.b2, self.eps, self.weight_decay
        t = state.step + 1
        # The moments start at zero, so early averages are too small by the
        # factor 1 - b**t; dividing by it removes that bias.
        c1 = 1.0 - b1**t
        sqrt_c2 = math.sqrt(1.0 - b2**t)
        pl, (gl, ml, vl), td = _leafwise(params, grads, state.mu, state.nu)
        new_m = [b1 * m + (1.0 - b1) * g for m, g in zip(ml, gl)]
        new_v = [b2 * v + (1.0 - b2) * (g * g) for v, g in zip(vl, gl)]
        # AdamW: shrink the weights directly, apart from the gradient, so
        # the decay is not rescaled by the second moment as L2 would be.
        shrunk = [p * (1.0 - lr * wd) for p in pl] if wd else pl
        new_p = [p - (lr / c1) * m / (sqrt(v) / sqrt_c2 + eps) for p, m, v in zip(shrunk, new_m, new_v)]
        return tree_unflatten(td, new_p), AdamState(t, tree_unflatten(td, new_m), tree_unflatten(td, new_v))


def adam(lr: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Adam:
    """Adam: steps along the bias-corrected first moment divided by the root of the second.

    ``b1`` and ``b2`` (decay rates of the moment averages) must lie in
    [0, 1); ``eps > 0`` keeps the division finite where the gradient has
    been zero. The first step moves every parameter by about ``lr`` against
    the sign of its gradient.
    """
    return Adam(
        _learning_rate("adam", lr),
        _unit("adam", "b1", b1),
        _unit("adam", "b2", b2),
        _eps("adam", eps),
    )


def adamw(lr: LearningRate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.01) -> Adam:
    """Adam with decoupled weight decay: each step first multiplies the parameters by ``1 - lr * weight_decay``.

    The decay applies to every leaf of the tree (biases included); pass a
    separate optimizer per subtree if some leaves should not decay.
    """
    return Adam(
        _learning_rate("adamw", lr),
        _unit("adamw", "b1", b1),
        _unit("adamw", "b2", b2),
        _eps("adamw", eps),
        _at_least("adamw", "weight_decay", weight_decay, 0.0),
    )


# -- RMSprop ---------------------------------------------------------------------------------------------


class RMSpropState(NamedTuple):
    """RMSprop's state: the number of updates done (``step``), the mean square of the gradients, and (when used) their mean and the velocity."""

    step: int
    square_avg: Any
    grad_avg: Any
    velocity: Any


@attrs.frozen
class RMSprop:
    """RMSprop. Build it with :func:`rmsprop`."""

    lr: LearningRate
    decay: float = 0.99
    eps: float = 1e-8
    momentum: float = 0.0
    centered: bool = False

    def init(self, params: Any) -> RMSpropState:
        """Count 0, zero averages; the mean gradient and the velocity only when centered / with momentum."""
        zeros = tree_zeros_like(params)
        return RMSpropState(0, zeros, zeros if self.centered else None, zeros if self.momentum else None)

    def update(self, params: T, grads: Any, state: RMSpropState) -> tuple[T, RMSpropState]:
        """One step: the gradient divided by the root of its running mean square (plus eps)."""
        _state_of("rmsprop", state, RMSpropState)
        lr = _lr_at("rmsprop", self.lr, state.step)
        d = self.decay
        pl, (gl, sl), td = _leafwise(params, grads, state.square_avg)
        new_s = [d * s + (1.0 - d) * (g * g) for s, g in zip(sl, gl)]
        new_gavg: list[Any] | None = None
        if self.centered:
            # Subtracting the squared mean gives the variance: the step is
            # then scaled by the gradient's spread rather than its size.
            (ga,) = _leafwise(params, state.grad_avg)[1]
            new_gavg = [d * a + (1.0 - d) * g for a, g in zip(ga, gl)]
            denom = [sqrt(s - a * a) + self.eps for s, a in zip(new_s, new_gavg)]
        else:
            denom = [sqrt(s) + self.eps for s in new_s]
        scaled = [g / q for g, q in zip(gl, denom)]
        new_vel: list[Any] | None = None
        if self.momentum:
            (vl,) = _leafwise(params, state.velocity)[1]
            new_vel = [self.momentum * v + u for v, u in zip(vl, scaled)]
            scaled = new_vel
        new_p = [p - lr * u for p, u in zip(pl, scaled)]
        return tree_unflatten(td, new_p), RMSpropState(
            state.step + 1,
            tree_unflatten(td, new_s),
            None if new_gavg is None else tree_unflatten(td, new_gavg),
            None if new_vel is None else tree_unflatten(td, new_vel),
        )


def rmsprop(lr: LearningRate, decay: float = 0.99, eps: float = 1e-8, momentum: float = 0.0, centered: bool = False) -> RMSprop:
    """RMSprop: divide each gradient by the root of its running mean square.

    ``decay`` (PyTorch calls it ``alpha``) in [0, 1) is the averaging rate;
    ``momentum`` in [0, 1) adds a velocity over the scaled gradients;
    ``centered=True`` divides by the running standard deviation instead.
    """
    if not isinstance(centered, bool):
        raise TypeError(f"rmsprop: centered must be True or False, got {centered!r:.60}")
    return RMSprop(
        _learning_rate("rmsprop", lr),
        _unit("rmsprop", "decay", decay),
        _eps("rmsprop", eps),
        _unit("rmsprop", "momentum", momentum),
        centered,
    )


# -- gradient clipping -------------------------------------------------------------------------------------


def global_norm(tree: Any) -> Any:
    """The Euclidean norm of all the leaves of ``tree`` taken together (a float, or traced inside a transform)."""
    total: Any = 0.0
    for x in tree_leaves(tree):
        total = total + x * x
    return sqrt(total)


def clip_by_global_norm(grads: T, max_norm: float) -> T:
    """``grads`` scaled down so that their global norm is at most ``max_norm``; unchanged if already within.

    Scaling the whole tree by one factor keeps the gradient's direction,
    which clipping each leaf on its own would not.
    """
    limit = _positive("clip_by_global_norm", "max_norm", max_norm)
    norm = global_norm(grads)
    if not norm > limit:  # also leaves a nan norm alone rather than hiding it
        return grads
    factor = limit / norm
    lv, td = tree_flatten(grads)
    return tree_unflatten(td, [g * factor for g in lv])  # type: ignore[no-any-return]


@attrs.frozen
class Clipped(Generic[S]):
    """An optimizer that clips the gradients by global norm before each update. Build it with :func:`clipped`."""

    inner: Optimizer[S]
    max_norm: float

    def init(self, params: Any) -> S:
        """The wrapped optimizer's initial state (clipping needs none of its own)."""
        return self.inner.init(params)

    def update(self, params: T, grads: Any, state: S) -> tuple[T, S]:
        """Clip ``grads`` to ``max_norm``, then take the wrapped optimizer's step."""
        return self.inner.update(params, clip_by_global_norm(grads, self.max_norm), state)


def clipped(optimizer: Optimizer[S], max_norm: float) -> Clipped[S]:
    """``optimizer`` with every gradient clipped to global norm ``max_norm`` first.

    For example ``clipped(adam(1e-3), max_norm=1.0)``; its state is the
    wrapped optimizer's state.
    """
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise TypeError(f"clipped: expected an optimizer (with init and update), got {type(optimizer).__name__}")
    return Clipped(optimizer, _positive("clipped", "max_norm", max_norm))


# -- learning-rate schedules ---------------------------------------------------------------------------------
