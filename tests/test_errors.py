"""Bad input gets clear errors, and errors leave tapegrad in a clean state."""

from __future__ import annotations

import copy
import math
import re
import threading
from typing import Any, Callable, Sequence, cast

import pytest

import tapegrad as tg
from tapegrad import Scalar

# -- parameters that are not numbers ---------------------------------------------------------


def first_leaf(params: Sequence[Any]) -> Scalar:
    return params[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "bad, type_name", [("3.0", "str"), (None, "NoneType"), (True, "bool"), (object(), "object"), (1j, "complex")]
)
@pytest.mark.parametrize(
    "transform",
    [
        lambda f, p: tg.grad(f)(p),
        lambda f, p: tg.value_and_grad(f)(p),
        lambda f, p: tg.jacobian(f)(p),
        lambda f, p: tg.hessian(f)(p),
        lambda f, p: tg.vjp(f, p),
        lambda f, p: tg.jvp(f, (p,), (p,)),
    ],
    ids=["grad", "value_and_grad", "jacobian", "hessian", "vjp", "jvp"],
)
def test_bad_leaf_names_its_path(bad: object, type_name: str, transform: Callable[[Any, Any], Any]) -> None:
    params = [1.0, {"b": 2.0, "w": [0.0, 1.0, 2.0, bad]}]
    with pytest.raises(TypeError) as info:
        transform(first_leaf, params)
    message = str(info.value)
    assert "params[1]['w'][3]" in message, message
    assert type_name in message, message


def test_bad_leaf_path_uses_the_parameter_name_and_argnum() -> None:
    def loss(weights: Scalar, data: dict[str, object]) -> Scalar:
        return weights

    with pytest.raises(TypeError, match=re.escape("data['xs'][1]")):
        tg.grad(loss, argnums=1)(1.0, {"xs": [1.0, "oops"]})
    # an undifferentiated argument may hold anything
    assert tg.grad(loss)(1.0, {"xs": [1.0, "oops"]}) == 1.0


# -- outputs that are not scalars ------------------------------------------------------------------


@pytest.mark.parametrize(
    "out, what",
    [([1.0, 2.0], "list"), ((1.0, 2.0, 3.0), "tuple"), ({"a": 1.0}, "dict"), ("loss", "str"), (None, "NoneType")],
)
def test_non_scalar_output_from_grad(out: object, what: str) -> None:
    def f(x: Scalar) -> object:
        return out

    for transform in (tg.grad, tg.value_and_grad):
        with pytest.raises(TypeError) as info:
            transform(f)(1.0)  # type: ignore[arg-type]  # deliberately not a scalar function
        message = str(info.value)
        assert what in message, message
        assert "jacobian" in message and "vjp" in message, message
        assert "f" in message


def test_non_scalar_output_mentions_element_count() -> None:
    def f(x: Scalar) -> list[Scalar]:
        return [x, x * x]

    with pytest.raises(TypeError, match=r"list with 2 element"):
        tg.grad(f)(1.0)  # type: ignore[arg-type]  # deliberately returns a list


def test_has_aux_needs_a_pair() -> None:
    def f(x: Scalar) -> Scalar:
        return x

    with pytest.raises(TypeError, match="pair"):
        tg.grad(f, has_aux=True)(1.0)  # type: ignore[call-overload]  # deliberately no aux


# -- domain errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, fn", [("log", tg.log), ("sqrt", tg.sqrt)])
def test_domain_errors_name_the_primitive(name: str, fn: Callable[[Any], Any]) -> None:
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        fn(-1.0)
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        tg.grad(fn)(-1.0)

    def shifted(x: Scalar) -> Scalar:
        return fn(x - 5.0)  # type: ignore[no-any-return]

    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        tg.grad(shifted)(1.0)


def test_log_of_zero() -> None:
    with pytest.raises(ValueError, match="log"):
        tg.log(0.0)


def test_exp_overflow_names_exp() -> None:
    with pytest.raises(OverflowError, match="exp"):
        tg.grad(tg.exp)(1000.0)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x / 0.0,
        lambda x: x / 0,
        lambda x: 1.0 / (x - 2.0),
        lambda x: 3 / (x * 0.0),
        lambda x: x / (x - x),
    ],
)
def test_division_by_zero(fn: Callable[[Any], Any]) -> None:
    with pytest.raises(ZeroDivisionError):
        tg.grad(fn)(2.0)
    with pytest.raises(ZeroDivisionError):
        tg.jvp(fn, (2.0,), (1.0,))


def test_sqrt_derivative_at_zero_names_the_record() -> None:
    def f(x: Scalar) -> Scalar:
        return tg.sqrt(x * x)

    assert tg.sqrt(0.0) == 0.0
    with pytest.raises(ArithmeticError) as info:
        tg.grad(f)(0.0)
    message = str(info.value)
    assert "sqrt" in message and "v2" in message, message
    with pytest.raises(ArithmeticError) as info2:
        tg.jvp(tg.sqrt, (0.0,), (1.0,))
    assert "sqrt" in str(info2.value) and "v1" in str(info2.value)


# -- arguments are never mutated -----------------------------------------------------------------


def test_grad_never_mutates_its_arguments() -> None:
    params: dict[str, Any] = {
        "layers": [{"w": [[1.0, 2.0], [3.0, 4.0]], "b": [0.5, -0.5]}, {"w": [[1.5, -2.0]], "b": [0.0]}],
        "scale": (2.0, {"inner": [1.0]}),
    }
    data: dict[str, object] = {"x": [1.0, 2.0], "y": {"z": 3.0}}
    meta = {"name": "demo", "tags": ["a", "b"]}
    before_params = copy.deepcopy(params)
    before_data = copy.deepcopy(data)
    before_meta = copy.deepcopy(meta)
    inner_lists = [layer["w"] for layer in params["layers"]]

    def loss(p_: dict[str, object], d_: dict[str, object], meta: object = None) -> Scalar:
        p, d = cast(Any, p_), cast(Any, d_)
        total: Scalar = 0.0
        for layer in p["layers"]:
            for row, b in zip(layer["w"], layer["b"]):
                total = total + tg.tanh(b + row[0] * d["x"][0] + row[1 % len(row)] * d["x"][1]) ** 2
        out: Scalar = total * p["scale"][0] * p["scale"][1]["inner"][0] * d["y"]["z"]
        return out

    g = cast(Any, tg.grad(loss)(params, data, meta=meta))
    tg.value_and_grad(loss, argnums=(0, 1))(params, data, meta=meta)
    tg.hessian(loss)(params, data, meta=meta)
    tg.jacobian(loss, argnums=(0, 1), mode="fwd")(params, data, meta=meta)
    tg.jacobian(loss, argnums=(0, 1), mode="rev")(params, data, meta=meta)
    _, vjp_fn = tg.vjp(loss, params, data)
    vjp_fn(1.0)
    vjp_fn(2.0)
    tg.jvp(loss, (params, data), (params, data))
    tg.hvp(loss, (params, data), (params, data))
    tg.trace(loss)(params, data)
    assert params == before_params and data == before_data and meta == before_meta
    assert [layer["w"] for layer in params["layers"]] == inner_lists
    assert all(a is b for a, b in zip([layer["w"] for layer in params["layers"]], inner_lists))
    # the gradient is a new tree, sharing nothing with the params
    assert g is not params and g["layers"] is not params["layers"]
    g["layers"][0]["w"][0][0] = 99.0
    assert params == before_params


def test_sgd_step_and_tree_map_do_not_mutate() -> None:
    params = [{"w": [1.0, 2.0]}]
    before = copy.deepcopy(params)
    new = tg.nn.sgd_step(params, [{"w": [1.0, 1.0]}], 0.5)
    assert new == [{"w": [0.5, 1.5]}] and params == before


# -- traced values that escape ------------------------------------------------------------------------


def test_traced_value_leaked_through_a_list() -> None:
    leaked: list[Scalar] = []

    def f(x: Scalar) -> Scalar:
        leaked.append(x * 2.0)
        return x * x

    assert tg.grad(f)(3.0) == 6.0
    (ghost,) = leaked

    def times_ghost(y: Scalar) -> Scalar:
        return y * ghost

    for use in (
        lambda: ghost + 1.0,
        lambda: 1.0 + ghost,
        lambda: ghost * ghost,
        lambda: ghost * 2.0,
        lambda: tg.sin(ghost),
        lambda: ghost / 2.0,
        lambda: ghost**2,
        lambda: -ghost,
        lambda: tg.grad(times_ghost)(1.0),
    ):
        with pytest.raises(tg.TapeClosedError) as info:
            cast(Callable[[], object], use)()
        message = str(info.value)
        assert "closed" in message and "escaped" in message, message
        assert "has_aux" in message or "primal" in message
    # reading its value is still fine
    assert tg.primal(ghost) == 6.0
    assert "6.0" in repr(ghost)


def test_traced_value_leaked_through_nonlocal() -> None:
    leaked: Any = None

    def f(x: Scalar) -> Scalar:
        nonlocal leaked
        leaked = x
        return tg.exp(x)

    tg.value_and_grad(f)(1.0)
    with pytest.raises(tg.TapeClosedError, match="closed"):
        tg.exp(leaked)
    # returning a leaked value from a later grad is also caught
    def uses_leaked(y: Scalar) -> Scalar:
        return y * 1.0 + leaked  # type: ignore[no-any-return]

    with pytest.raises(tg.TapeClosedError):
        tg.grad(uses_leaked)(2.0)


def test_float_and_math_functions_refuse_traced_scalars() -> None:
    def f(x: Scalar) -> Scalar:
        return float(x)

    with pytest.raises(TypeError, match="primal"):
        tg.grad(f)(1.0)

    def g(x: Scalar) -> Scalar:
        return math.exp(x)

    with pytest.raises(TypeError, match="tapegrad.exp"):
        tg.grad(g)(1.0)

    def h(x: Scalar) -> Scalar:
        return [1.0, 2.0][x]  # type: ignore[index]

    with pytest.raises(TypeError):
        tg.grad(h)(1.0)

    def k(x: Scalar) -> Scalar:
        return int(x)

    with pytest.raises(TypeError):
        tg.grad(k)(1.0)


def test_traced_scalars_are_not_hashable() -> None:
    def f(x: Scalar) -> Scalar:
        return {x: 1.0}[x]

    with pytest.raises(TypeError):
        tg.grad(f)(1.0)


# -- custom primitives with missing rules -------------------------------------------------------------


def test_defvjp_needs_one_rule_per_argument() -> None:
    @tg.primitive
    def scaled_diff(x: float, y: float) -> float:
        return 3.0 * x - y

    # A forgotten rule is an error when the rules are given, not later when
    # that derivative is first needed.
    with pytest.raises(TypeError, match=r"scaled_diff takes 2 argument\(s\), so it needs 2 rule\(s\).*1 were given"):
        tg.defvjp(scaled_diff, lambda g, ans, x, y: 3.0 * g)
    with pytest.raises(TypeError, match=r"3 were given"):
        tg.defvjp(scaled_diff, None, None, None)


def test_missing_rule_names_primitive_and_argument() -> None:
    @tg.primitive
    def scaled_diff(x: float, y: float) -> float:
        return 3.0 * x - y

    def f(a: Scalar, b: Scalar) -> Scalar:
        return scaled_diff(a, b)  # type: ignore[no-any-return]

    with pytest.raises(tg.MissingRuleError) as info:
        tg.grad(f, argnums=1)(1.0, 2.0)
    message = str(info.value)
    assert "scaled_diff" in message and "argument 1" in message, message
    with pytest.raises(tg.MissingRuleError, match="scaled_diff"):
        tg.jvp(f, (1.0, 2.0), (0.0, 1.0))
    assert isinstance(info.value, NotImplementedError)


def test_primitive_without_any_rules() -> None:
    @tg.primitive
    def no_rules(x: float) -> float:
        return x + 1.0

    assert no_rules(1.0) == 2.0  # the forward pass works
    with pytest.raises(tg.MissingRuleError, match=r"no_rules.*argument 0"):
        tg.grad(no_rules)(1.0)


# -- the active tape is restored --------------------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.parametrize(
    "transform",
    [
        lambda f: tg.grad(cast(Any, f))(1.0),
        lambda f: tg.value_and_grad(cast(Any, f))(1.0),
        lambda f: tg.jvp(f, (1.0,), (1.0,)),
        lambda f: tg.vjp(f, 1.0),
        lambda f: tg.jacobian(f)(1.0),
        lambda f: tg.hessian(f)(1.0),
        lambda f: tg.trace(f)(1.0),
    ],
    ids=["grad", "value_and_grad", "jvp", "vjp", "jacobian", "hessian", "trace"],
)
def test_tape_is_restored_when_the_function_raises(transform: Callable[[Any], Any]) -> None:
    assert tg.current_tape() is None
    seen: list[Any] = []

    def f(x: Scalar) -> Scalar:
        seen.append(tg.current_tape())
        raise Boom("inside")

    with pytest.raises(Boom):
        transform(f)
    assert seen and seen[0] is not None
    assert tg.current_tape() is None

    # inside an outer grad, the outer tape is the current one again afterwards
    outer_seen: list[Any] = []

    def outer(x: Scalar) -> Scalar:
        outer_seen.append(tg.current_tape())
        with pytest.raises(Boom):
            transform(f)
        outer_seen.append(tg.current_tape())
        return x * x

    assert tg.grad(outer)(2.0) == 4.0
    assert outer_seen[0] is not None and outer_seen[0] is outer_seen[1]
    assert tg.current_tape() is None


def test_tape_is_restored_after_errors_in_the_sweep() -> None:
    with pytest.raises(ArithmeticError):
        tg.grad(tg.sqrt)(0.0)
    assert tg.current_tape() is None
    with pytest.raises(ValueError):
        tg.grad(tg.log)(-1.0)
    assert tg.current_tape() is None
    # and everything still works afterwards
    assert tg.grad(tg.sin)(0.0) == 1.0


def test_tape_cannot_be_entered_twice() -> None:
    tape = tg.Tape()
    with tape:
        assert tg.current_tape() is tape
    assert tape.closed and tg.current_tape() is None
    with pytest.raises(RuntimeError):
        with tape:
            pass


# -- threads ------------------------------------------------------------------------------------------------


def nested(x: Scalar) -> Scalar:
    # tanh(x) + d/dy [y^2 x] at y = x, i.e. tanh(x) + 2 x^2
    def inner(y: Scalar) -> Scalar:
        return y * y * x

    return tg.tanh(x) + tg.grad(inner)(x)


def test_threads_differentiate_independently() -> None:
    functions: list[tuple[Callable[[Scalar], Scalar], Callable[[float], float]]] = [
        (lambda x: tg.sin(x) * x, lambda x: math.cos(x) * x + math.sin(x)),
        (lambda x: tg.exp(0.5 * x), lambda x: 0.5 * math.exp(0.5 * x)),
        (lambda x: x * x * x, lambda x: 3.0 * x * x),
        (nested, lambda x: 1.0 - math.tanh(x) ** 2 + 4.0 * x),
    ]
    errors: list[str] = []
    barrier = threading.Barrier(len(functions))

    def work(k: int) -> None:
        fn, derivative = functions[k]
        barrier.wait()
        try:
            for i in range(50):
                x = 0.05 * i - 1.0 + 0.01 * k
                got = tg.grad(fn)(x)
                if not math.isclose(got, derivative(x), rel_tol=1e-9, abs_tol=1e-12):
                    errors.append(f"thread {k}, x={x}: {got} != {derivative(x)}")
                if tg.current_tape() is not None:
                    errors.append(f"thread {k}: a tape was left open")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(f"thread {k}: {exc!r}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(functions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:5]
    assert tg.current_tape() is None
