"""Learning-rate schedules: functions of the step number, built by :func:`constant`, :func:`step_decay`, :func:`cosine_decay` and :func:`linear_warmup`.

A schedule is called with the step number (0 for the first update) and
returns the learning rate for that step; any optimizer of
:mod:`tapegrad.optim` takes one wherever it takes a float ``lr``. The
builders check their arguments when called.
"""

from __future__ import annotations

import math

import attrs

from tapegrad.hyperparameters import Schedule, _at_least, _number, _steps

__all__ = ["constant", "step_decay", "cosine_decay", "linear_warmup"]


@attrs.frozen
class _Constant:
    value: float

    def __call__(self, step: int) -> float:
        return self.value


@attrs.frozen
class _StepDecay:
    init: float
    rate: float
    every: int

    def __call__(self, step: int) -> float:
        return self.init * self.rate ** (max(step, 0) // self.every)


@attrs.frozen
class _CosineDecay:
    init: float
    steps: int
    floor: float

    def __call__(self, step: int) -> float:
        progress = min(max(step, 0), self.steps) / self.steps
        return self.floor + (self.init - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@attrs.frozen
class _Warmup:
    peak: float
    steps: int
    then: Schedule

    def __call__(self, step: int) -> float:
        if step < self.steps:
            return self.peak * (max(step, 0) + 1) / self.steps
        return self.then(step - self.steps)


# Schedules are frozen attrs instances rather than closures so that they
# print their parameters and compare equal when built alike.


def constant(value: float) -> Schedule:
    """The schedule that is ``value`` at every step."""
    return _Constant(_at_least("constant", "value", value, 0.0))


def step_decay(init: float, rate: float, every: int) -> Schedule:
    """``init`` multiplied by ``rate`` once every ``every`` steps: ``init * rate ** (step // every)``.

    ``rate`` must be in (0, 1]; like PyTorch's StepLR with ``gamma=rate``
    and ``step_size=every``.
    """
    rate_ = _number("step_decay", "rate", rate)
    if not 0.0 < rate_ <= 1.0:
        raise ValueError(f"step_decay: rate must be in (0, 1], got {rate_}")
    return _StepDecay(_at_least("step_decay", "init", init, 0.0), rate_, _steps("step_decay", "every", every))


def cosine_decay(init: float, steps: int, final: float = 0.0) -> Schedule:
    """From ``init`` at step 0 down to ``final`` at step ``steps`` along half a cosine; ``final`` afterwards.

    ``lr(k) = final + (init - final) * (1 + cos(pi * k / steps)) / 2``, like
    PyTorch's CosineAnnealingLR with ``T_max=steps`` and ``eta_min=final``
    (for ``k <= steps``).
    """
    init_ = _at_least("cosine_decay", "init", init, 0.0)
    final_ = _at_least("cosine_decay", "final", final, 0.0)
    if final_ > init_:
        raise ValueError(f"cosine_decay: final ({final_}) must not exceed init ({init_})")
    return _CosineDecay(init_, _steps("cosine_decay", "steps", steps), final_)


def linear_warmup(peak: float, steps: int, then: Schedule | None = None) -> Schedule:
    """Rise linearly to ``peak`` over the first ``steps`` steps, then follow ``then`` (by default stay at ``peak``).

    During warmup ``lr(k) = peak * (k + 1) / steps``, so the first update
    already moves and step ``steps - 1`` uses ``peak``. Afterwards ``then``
    is called with the steps counted from the end of the warmup, so
    ``linear_warmup(1e-3, 100, cosine_decay(1e-3, 900))`` warms up for 100
    steps and decays over the next 900.
    """
    peak_ = _at_least("linear_warmup", "peak", peak, 0.0)
    n = _steps("linear_warmup", "steps", steps)
    if then is not None and not callable(then):
        raise TypeError(f"linear_warmup: then must be a schedule (a function of the step), got {type(then).__name__}")
    return _Warmup(peak_, n, then if then is not None else _Constant(peak_))
