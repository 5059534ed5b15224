"""Checking hyperparameters: numbers, rates, step counts, and learning rates that may be schedules.

The optimizers (:mod:`tapegrad.optim`), the schedules
(:mod:`tapegrad.schedules`) and the networks' plain gradient step
(:mod:`tapegrad.nn`) check every hyperparameter when it is given, with a
message that names the function and the hyperparameter; a learning-rate
schedule's values are checked at every step, when they are known.
"""

from __future__ import annotations

import math
from typing import Callable, Union

Schedule = Callable[[int], float]
"""A learning rate as a function of the step number (0 for the first update)."""

LearningRate = Union[float, Schedule]
"""A constant learning rate, or a :data:`Schedule`."""


def _number(owner: str, name: str, value: object) -> float:
    """``value`` as a float, or a TypeError/ValueError naming the hyperparameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number, got {type(value).__name__} {value!r:.60}")
    if math.isnan(value):
        raise ValueError(f"{owner}: {name} must be a number, got nan")
    return float(value)


def _at_least(owner: str, name: str, value: object, low: float) -> float:
    v = _number(owner, name, value)
    if v < low or math.isinf(v):
        raise ValueError(f"{owner}: {name} must be a finite number >= {low}, got {v}")
    return v


def _positive(owner: str, name: str, value: object) -> float:
    v = _number(owner, name, value)
    if not 0.0 < v < math.inf:
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {v}")
    return v


def _eps(owner: str, value: object) -> float:
    """eps > 0: it is what keeps the step finite where a gradient has been zero all along."""
    v = _number(owner, "eps", value)
    if not 0.0 < v < math.inf:
        raise ValueError(
            f"{owner}: eps must be a finite number > 0, got {v}: it is added to the root of the second moment, "
            f"which is 0 for a parameter whose gradients have all been 0, and the step would divide by zero "
            f"(the default is 1e-8)"
        )
    return v


def _state_of(owner: str, state: object, expected: type) -> None:
    """The state must be the one this kind of optimizer's init made, not another optimizer's."""
    if not isinstance(state, expected):
        raise TypeError(
            f"{owner}.update: state must be the {expected.__name__} that this optimizer's init(params) returned, "
            f"got {type(state).__name__}; an optimizer's state only fits the optimizer that made it "
            f"(call init(params) on this one to start)"
        )


def check_learning_rate(owner: str, lr: object) -> float:
    """A plain learning rate checked as the optimizers check theirs: a finite number >= 0."""
    return _at_least(owner, "lr", lr, 0.0)


def _unit(owner: str, name: str, value: object) -> float:
    """A decay rate in [0, 1): 1 would never forget the first value, and never correct its bias."""
    v = _number(owner, name, value)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{owner}: {name} must be in [0, 1), got {v}")
    return v


def _steps(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r:.60}")
    return value


def _learning_rate(owner: str, lr: object) -> LearningRate:
    """A float lr is checked now; a schedule's values are checked at every step (see :func:`_lr_at`)."""
    if callable(lr):
        return lr
    return _at_least(owner, "lr", lr, 0.0)


def _lr_at(owner: str, lr: LearningRate, count: int) -> float:
    if not callable(lr):
        return lr
    value = lr(count)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < math.inf:
        raise ValueError(f"{owner}: the learning-rate schedule returned {value!r:.60} at step {count}; it must be a finite number >= 0")
    return float(value)

