"""Mistakes that mypy --strict must report in a user's code (tests/test_typed_usage.py checks it).

Each line marked ``# error: <code>`` must be reported with that error code,
and nothing else may be. This file is excluded from the project's own mypy
run (see mypy.ini) and is never imported.
"""

from __future__ import annotations

from typing import Sequence

import tapegrad as tg
from tapegrad import Scalar


def loss(params: Sequence[Scalar], scale: float) -> Scalar:
    return scale * (params[0] * params[0] + params[1])


p: list[float] = [1.0, 2.0]
g = tg.grad(loss)(p, 2.0)
ok: list[float] = [pi - 0.1 * gi for pi, gi in zip(p, g)]

words: list[str] = tg.grad(loss)(p, 2.0)  # error: assignment
tg.grad(loss)("not numbers", 2.0)  # error: type-var
tg.grad(loss)(p, "two")  # error: call-overload
tg.grad(loss)(p)  # error: call-overload
tg.jit(tg.grad(loss))(p, "two")  # error: call-overload
value, grads = tg.value_and_grad(loss)(p, 2.0)
value.append(1.0)  # error: attr-defined


def cube(x: Scalar) -> Scalar:
    return x * x * x


hess = tg.hessian(cube)(2.0)
hess.keys()  # error: attr-defined
