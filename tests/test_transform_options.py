"""argnums and has_aux for vjp, jvp, jacobian and hessian (grad and value_and_grad have their own tests)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import pytest

import tapegrad as tg
from tapegrad import Scalar


def f2(x: Sequence[Scalar], y: Scalar) -> list[Scalar]:
    return [x[0] * y, tg.sin(x[1]) + y * y]


def with_aux(x: Sequence[Scalar], y: Scalar) -> tuple[list[Scalar], dict[str, Any]]:
    out = f2(x, y)
    return out, {"first": out[0], "tag": "kept"}


def test_vjp_argnums_int_gives_one_tree_and_tuple_gives_a_tuple() -> None:
    out, full = tg.vjp(f2, [1.0, 2.0], 3.0)
    _, only_y = tg.vjp(f2, [1.0, 2.0], 3.0, argnums=1)
    _, only_x = tg.vjp(f2, [1.0, 2.0], 3.0, argnums=(0,))
    ct = [1.0, 0.5]
    gx, gy = full(ct)
    assert only_y(ct) == gy and isinstance(only_y(ct), float)
    assert only_x(ct) == (gx,)
    assert out == [3.0, math.sin(2.0) + 9.0]


def test_vjp_has_aux_is_the_third_element_with_floats() -> None:
    out, fn, aux = tg.vjp(with_aux, [1.0, 2.0], 3.0, has_aux=True)
    assert out == [3.0, math.sin(2.0) + 9.0]
    assert aux == {"first": 3.0, "tag": "kept"} and type(aux["first"]) is float
    assert fn([1.0, 0.0]) == ([3.0, 0.0], 1.0)


def test_jvp_argnums_and_has_aux() -> None:
    _, t_all = tg.jvp(f2, ([1.0, 2.0], 3.0), ([0.0, 0.0], 1.0))
    _, t_y = tg.jvp(f2, ([1.0, 2.0], 3.0), (1.0,), argnums=1)
    assert t_all == t_y == [1.0, 6.0]
    out, t, aux = tg.jvp(with_aux, ([1.0, 2.0], 3.0), ([1.0, 0.0],), argnums=0, has_aux=True)
    assert t == [3.0, 0.0] and aux["first"] == 3.0 and type(aux["first"]) is float
    with pytest.raises(ValueError, match="argnums"):
        tg.jvp(f2, ([1.0, 2.0], 3.0), ([1.0, 0.0], 1.0), argnums=0)


def test_jacobian_has_aux() -> None:
    jac, aux = tg.jacobian(with_aux, has_aux=True)([1.0, 2.0], 3.0)
    assert jac == tg.jacobian(f2)([1.0, 2.0], 3.0) == [[3.0, 0.0], [0.0, math.cos(2.0)]]
    assert aux == {"first": 3.0, "tag": "kept"} and type(aux["first"]) is float
    jy, aux = tg.jacobian(with_aux, argnums=1, has_aux=True, mode="fwd")([1.0, 2.0], 3.0)
    assert jy == [1.0, 6.0]


def test_hessian_argnums_and_has_aux() -> None:
    def g(x: Scalar, y: Scalar) -> tuple[Scalar, Scalar]:
        value = x * x * y + y ** 3
        return value, value

    h, aux = tg.hessian(g, argnums=1, has_aux=True)(2.0, 3.0)
    assert h == 18.0 and aux == 4.0 * 3.0 + 27.0 and type(aux) is float
    hxy, aux = tg.hessian(g, argnums=(0, 1), has_aux=True)(2.0, 3.0)
    assert hxy == ((6.0, 4.0), (4.0, 18.0))


def test_nested_has_aux_under_grad() -> None:
    # aux values come back one level down: under an outer grad they are still traced there
    def inner(y: Scalar, x: Scalar) -> tuple[Scalar, Scalar]:
        return x * y * y, x * y

    def outer(x: Scalar) -> Scalar:
        h, aux = tg.hessian(inner, has_aux=True)(1.0, x)
        product: Scalar = h * aux  # 2x * x
        return product

    assert tg.grad(outer)(3.0) == 12.0
