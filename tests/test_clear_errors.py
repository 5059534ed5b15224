"""Bad input to the library gets an exception that names the call, the argument and the fix.

One test per entry of the "clear errors" list: optimizers' eps and state,
sgd_step's learning rate, tree utilities, check_grads' options, jit's
positional arguments, constants too large for a float, a custom rule that
raises KeyError, nn.mlp on a scalar, hvp's own name in its errors, and
tangents whose containers differ from their primals'.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.testing import check_grads


# -- optimizers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, name",
    [(lambda: nn.adam(1e-3, eps=0), "adam"), (lambda: nn.adamw(1e-3, eps=0.0), "adamw"), (lambda: nn.rmsprop(1e-3, eps=0), "rmsprop")],
)
def test_eps_zero_is_refused_up_front(build: Callable[[], object], name: str) -> None:
    # With eps = 0 a parameter whose gradient is 0 would divide 0 by 0 at its first step.
    with pytest.raises(ValueError, match=rf"{name}: eps must be a finite number > 0, got 0\.0: .*divide by zero"):
        build()


def test_a_positive_eps_steps_finitely_on_a_zero_gradient() -> None:
    adam = nn.adam(0.1, eps=1e-12)
    rms = nn.rmsprop(0.1, eps=1e-12)
    for params in (adam.update([1.0, 2.0], [0.0, 0.5], adam.init([1.0, 2.0]))[0], rms.update([1.0, 2.0], [0.0, 0.5], rms.init([1.0, 2.0]))[0]):
        assert params[0] == 1.0 and all(math.isfinite(p) for p in params)


def test_an_optimizer_refuses_another_optimizers_state() -> None:
    params = [1.0, 2.0]
    cases: list[tuple[Any, Any, str]] = [
        (nn.sgd(0.1), nn.adam(0.1).init(params), r"sgd\.update: state must be the SGDState .* got AdamState"),
        (nn.adam(0.1), nn.sgd(0.1).init(params), r"adam\.update: state must be the AdamState .* got SGDState"),
        (nn.adamw(0.1), nn.rmsprop(0.1).init(params), r"adamw\.update: state must be the AdamState .* got RMSpropState"),
        (nn.rmsprop(0.1), nn.adam(0.1).init(params), r"rmsprop\.update: state must be the RMSpropState .* got AdamState"),
        (nn.clipped(nn.sgd(0.1), 1.0), nn.adam(0.1).init(params), r"sgd\.update: state must be the SGDState"),
    ]
    for opt, state, message in cases:
        with pytest.raises(TypeError, match=message):
            opt.update(params, [0.1, 0.1], state)
    # the right state still works
    opt = nn.adam(0.1)
    p, s = opt.update(params, [0.1, 0.2], opt.init(params))
    assert p == pytest.approx([0.9, 1.9], rel=1e-7) and isinstance(s, nn.AdamState)


@pytest.mark.parametrize(
    "lr, exc, message",
    [
        (-0.1, ValueError, r"sgd_step: lr must be a finite number >= 0\.0, got -0\.1"),
        (math.nan, ValueError, r"sgd_step: lr must be a number, got nan"),
        (math.inf, ValueError, r"sgd_step: lr must be a finite number"),
        ("a", TypeError, r"sgd_step: lr must be a number, got str 'a'"),
        (True, TypeError, r"sgd_step: lr must be a number, got bool"),
    ],
)
def test_sgd_step_checks_its_learning_rate(lr: Any, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        nn.sgd_step([1.0], [1.0], lr)


def test_sgd_step_takes_numpy_and_traced_learning_rates() -> None:
    assert nn.sgd_step([1.0], [1.0], 0) == [1.0]
    assert tg.grad(lambda lr: nn.sgd_step([1.0, 2.0], [3.0, 4.0], lr)[1])(0.5) == -4.0  # traced: not checked
    np = pytest.importorskip("numpy")
    assert nn.sgd_step([1.0], [1.0], np.float64(0.25)) == [0.75]
    with pytest.raises(ValueError, match="sgd_step: lr must be a finite number >= 0.0, got -1.0"):
        nn.sgd_step([1.0], [1.0], np.int64(-1))


# -- trees ---------------------------------------------------------------------------------------


def test_tree_scale_names_a_factor_that_is_not_a_number() -> None:
    with pytest.raises(TypeError, match=r"tree_scale: factor must be a number .* got str 'a'"):
        tg.tree_scale([1.0, 2.0], "a")
    with pytest.raises(TypeError, match=r"tree_scale: factor must be a number .* got NoneType"):
        tg.tree_scale({"w": 1.0}, None)
    assert tg.tree_scale([1.0, 2.0], 3) == [3.0, 6.0]


def test_tree_unflatten_names_something_that_is_not_a_tree_shape() -> None:
    with pytest.raises(TypeError, match=r"tree_unflatten: the first argument must be a tree shape, the TreeDef that tree_flatten returns .* got list \[1, 2\]"):
        tg.tree_unflatten([1, 2], [1.0, 2.0])  # type: ignore[arg-type]
    leaves, treedef = tg.tree_flatten({"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"tree_unflatten: the shape \{'a': \[\*, \*\]\} has 2 leaves, got 3"):
        tg.tree_unflatten(treedef, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match=r"tree_unflatten: leaves must be a sequence of leaves, got float"):
        tg.tree_unflatten(treedef, 1.0)  # type: ignore[arg-type]
    assert tg.tree_unflatten(treedef, leaves) == {"a": [1.0, 2.0]}


# -- check_grads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        ({"eps": 0}, ValueError, r"check_grads: eps, the finite-difference step, must be > 0, got 0"),
        ({"eps": -1e-4}, ValueError, r"check_grads: eps, the finite-difference step, must be > 0"),
        ({"eps": math.nan}, ValueError, r"check_grads: eps must be a finite number, got nan"),
        ({"order": 1.5}, ValueError, r"check_grads: order must be a whole number >= 1 .*got 1\.5"),
        ({"order": 0}, ValueError, r"check_grads: order must be a whole number >= 1"),
        ({"rtol": -1.0}, ValueError, r"check_grads: rtol must be >= 0"),
    ],
)
def test_check_grads_refuses_bad_options(kwargs: dict[str, Any], exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        check_grads(tg.sin, (1.0,), **kwargs)


def test_check_grads_says_how_to_pass_one_argument() -> None:
    with pytest.raises(TypeError, match=r"check_grads: args must be a tuple \(or list\) of f's positional arguments, got float 1\.0; .*args=\(1\.0,\)"):
        check_grads(tg.sin, 1.0)  # type: ignore[arg-type]
    check_grads(tg.sin, [1.0], order=1)  # a list of arguments is fine


# -- jit -------------------------------------------------------------------------------------------------


def test_jit_points_a_string_argument_to_keywords_and_static_argnums() -> None:
    def scale(x: float, how: str) -> float:
        return x * 2.0 if how == "double" else x

    with pytest.raises(TypeError, match=r"jit\(scale\): positional argument 1 cannot be traced \(how: expected a float.*got str 'a'\).*keyword argument.*static_argnums=\(1,\)"):
        tg.jit(scale)(1.0, "a")
    assert tg.jit(scale, static_argnums=1)(1.0, "double") == 2.0
    assert tg.jit(scale)(1.0, how="double") == 2.0


# -- constants, custom rules, mlp ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, name",
    [(lambda x: x * 10**400, "mul"), (lambda x: x + 10**400, "add"), (lambda x: x / 10**400, "div"), (lambda x: tg.maximum(x, 10**400), "maximum")],
)
def test_a_constant_too_large_for_a_float_names_the_operation(fn: Callable[[Any], Any], name: str) -> None:
    with pytest.raises(OverflowError, match=rf"{name}: a constant operand \(an int of 1329 bits\) is too large for a float"):
        tg.grad(fn)(1.0)
    with pytest.raises(OverflowError, match=r"exp: a constant operand \(an int of 1329 bits\) is too large"):
        tg.exp(10**400)


def test_a_custom_rule_that_raises_keyerror_is_named_as_the_users_rule() -> None:
    @tg.primitive
    def lookup(x: float) -> float:
        return 2.0 * x

    table: dict[str, float] = {}

    def rule(g: Any, ans: Any, x: Any) -> Any:
        return g * table["slope"]  # not there

    tg.defvjp(lookup, rule)
    pattern = r"while computing the derivative of record v1 = lookup\(1\.0\): the derivative rule of the custom primitive 'lookup' .*raised KeyError: 'slope'"
    with pytest.raises(KeyError) as info:
        tg.grad(lookup)(1.0)
    assert info.match(pattern)
    assert str(info.value).startswith("while computing")  # readable text, not KeyError's quoted repr


def test_mlp_of_a_scalar_names_the_call() -> None:
    params = nn.init_mlp(random.Random(0), [1, 3, 1])
    with pytest.raises(TypeError, match=r"mlp: x must be a sequence of inputs, .*got float 1\.0; .*mlp\(params, \[x\]\)"):
        nn.mlp(params, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"mlp: x must be a sequence of inputs"):
        nn.mlp_outputs(params, 1.0)  # type: ignore[arg-type]
    assert nn.mlp(params, [1.0]) == nn.mlp_outputs(params, [1.0])[0]


# -- hvp and tangents ------------------------------------------------------------------------------------


def test_hvp_errors_say_hvp() -> None:
    def f(x: Any) -> Any:
        return x[0] * x[1]

    with pytest.raises(ValueError, match=r"^hvp: tangents\[0\] has shape \[\*\], but primals\[0\] has shape \[\*, \*\]"):
        tg.hvp(f, ([1.0, 2.0],), ([1.0],))
    with pytest.raises(ValueError, match=r"^hvp: got 1 primals but 2 tangents"):
        tg.hvp(f, ([1.0, 2.0],), ([1.0, 0.0], [1.0, 0.0]))
    with pytest.raises(TypeError, match=r"^hvp: primals and tangents must be tuples or lists .*hvp\(f, \(x,\), \(t,\)\)"):
        tg.hvp(lambda x: x * x, 1.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^jvp: tangents\[0\] has shape"):
        tg.jvp(f, ([1.0, 2.0],), ([1.0],))


def test_tangents_as_lists_are_accepted_and_mismatched_containers_explained() -> None:
    # The sequences of primals and tangents may be lists or tuples.
    assert tg.jvp(lambda x, y: x * y, [2.0, 3.0], [1.0, 0.0]) == (6.0, 3.0)
    assert tg.hvp(lambda x: x * x * x, [2.0], [1.0]) == 12.0
    # A tangent is shaped like its primal; a list for a tuple primal is explained.
    pair = (1.0, 2.0)
    with pytest.raises(ValueError, match=r"jvp: tangents\[0\] has shape \[\*, \*\], but primals\[0\] has shape \(\*, \*\); they differ only in lists and tuples"):
        tg.jvp(lambda p: p[0] * p[1], (pair,), ([1.0, 0.0],))
    with pytest.raises(ValueError, match=r"hvp: .*they differ only in lists and tuples: give it the same containers"):
        tg.hvp(lambda p: p[0] * p[1], (pair,), ([1.0, 0.0],))
    # and a cotangent, for vjp's pullback
    _, pullback = tg.vjp(lambda x: (x * 2.0, x * 3.0), 1.0)
    with pytest.raises(ValueError, match=r"vjp_fn: the cotangent has shape \[\*, \*\], but <lambda> returned shape \(\*, \*\); they differ only in lists and tuples"):
        pullback([1.0, 0.0])
    assert pullback((1.0, 0.0)) == (2.0,)
    assert tg.jvp(lambda p: p[0] * p[1], (pair,), ((1.0, 0.0),)) == (2.0, 2.0)
