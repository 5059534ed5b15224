"""tg.linearize against tg.jvp, and tg.checkpoint against the same function without it.

The references are independent of what is tested: linearize is compared with
the forward sweep (which recomputes every partial), checkpoint with the
function's own tape; record counts come from tracing the block on its own.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.testing import check_grads
from tapegrad.testing.strategies import Expression, expressions, floats


def flat(tree: Any) -> list[float]:
    """The leaves of a nested result, for pytest.approx."""
    return [float(v) for v in tg.tree_leaves(tree)]

# -- linearize ------------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(expr=expressions(n_vars=3, max_depth=5, smooth=False), xs=st.lists(floats(), min_size=3, max_size=3), ts=st.lists(floats(), min_size=6, max_size=6))
def test_linearize_equals_jvp_on_random_programs(expr: Any, xs: list[float], ts: list[float]) -> None:
    out, f_jvp = tg.linearize(expr, xs)
    assert out == expr(xs)
    for t in (ts[:3], ts[3:]):
        want = tg.jvp(expr, (xs,), (t,))[1]
        assert f_jvp(t) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_linearize_runs_f_and_each_rule_once() -> None:
    calls = {"f": 0, "impl": 0, "rule": 0}

    @tg.primitive
    def cube(x: float) -> float:
        calls["impl"] += 1
        return x**3

    def rule(g: Any, ans: Any, x: Any) -> Any:
        calls["rule"] += 1
        return g * 3.0 * x * x

    tg.defvjp(cube, rule)

    def f(p: dict[str, Scalar], q: Sequence[Scalar]) -> list[Scalar]:
        calls["f"] += 1
        return [cube(p["a"]) * q[0] + tg.sin(q[1]), tg.exp(p["b"]) * q[1]]

    primals: tuple[dict[str, Scalar], list[Scalar]] = ({"a": 0.5, "b": -0.3}, [2.0, 0.7])
    out, f_jvp = tg.linearize(f, *primals)
    assert calls == {"f": 1, "impl": 1, "rule": 1}
    tangents = [({"a": 1.0, "b": 0.0}, [0.0, 0.0]), ({"a": 0.2, "b": -1.0}, [0.5, 3.0]), ({"a": 0.0, "b": 0.0}, [1.0, 0.0])]
    for t in tangents:
        got = f_jvp(*t)
        want = tg.jvp(f, primals, t)[1]
        assert got == pytest.approx(want, rel=1e-13)
    # jvp ran f three more times, and the rule twice (the last tangent does not reach it);
    # the linearization ran neither again
    assert calls["f"] == 1 + 3 and calls["rule"] == 1 + 2 and calls["impl"] == 1 + 3
    assert out == f(*primals)


def test_f_jvp_is_linear_and_closed_form() -> None:
    # f(x, y) = x**2 * y: the linearization at (x, y) is (2 x y) dx + x**2 dy.
    x, y = 1.5, -0.4
    _, f_jvp = tg.linearize(lambda a, b: a * a * b, x, y)
    assert f_jvp(1.0, 0.0) == pytest.approx(2 * x * y, rel=1e-15)
    assert f_jvp(0.0, 1.0) == pytest.approx(x * x, rel=1e-15)
    assert f_jvp(3.0, -2.0) == pytest.approx(3 * f_jvp(1.0, 0.0) - 2 * f_jvp(0.0, 1.0), rel=1e-14)


def test_f_jvp_differentiates_like_jvp() -> None:
    # the partials are computed with tapegrad's operations: an outer grad sees through them
    g = tg.grad(lambda x: tg.linearize(tg.sin, x)[1](1.0))(0.3)
    assert g == pytest.approx(-math.sin(0.3), rel=1e-15)
    h = tg.hessian(lambda a: tg.linearize(lambda v: v[0] ** 3 * v[1], a)[1]([1.0, 0.0]))([0.5, 2.0])
    assert flat(h) == pytest.approx([6 * 2.0, 6 * 0.5, 6 * 0.5, 0.0])


def test_a_rule_that_fails_raises_only_when_a_tangent_reaches_it() -> None:
    @tg.primitive
    def fragile(x: float) -> float:
        return x

    def broken(g: Any, ans: Any, x: Any) -> Any:
        raise ZeroDivisionError("no derivative here")

    tg.defvjp(fragile, broken)
    _, f_jvp = tg.linearize(lambda x, y: fragile(x) + y * y, 1.0, 2.0)
    assert f_jvp(0.0, 1.0) == 4.0  # nothing reaches the fragile record
    with pytest.raises(ZeroDivisionError, match=r"tangent of record v2 = fragile"):
        f_jvp(1.0, 0.0)


def test_f_jvp_checks_its_tangents() -> None:
    _, f_jvp = tg.linearize(lambda p: p[0] * p[1], [1.0, 2.0])
    with pytest.raises(TypeError, match="expected 1 tangent"):
        f_jvp([1.0, 0.0], 2.0)
    with pytest.raises(ValueError, match="shape"):
        f_jvp([1.0])


# -- checkpoint -----------------------------------------------------------------------------------------

DEPTH = 25


def block(p: Sequence[Scalar], x: Scalar) -> list[Scalar]:
    """A block of 6 * DEPTH + 1 records with two outputs."""
    h = x
    for k in range(DEPTH):
        h = tg.tanh(p[0] * h + p[1] * k) + 0.1 * h
    return [h, h * p[0]]


checkpointed_block = tg.checkpoint(block)


def chain(p: Sequence[Scalar], use: bool, blocks: int = 4) -> Scalar:
    b = checkpointed_block if use else block
    y: Scalar = 0.3 * p[0]  # traced from the start, so every block records the same ops
    for _ in range(blocks):
        y, z = b(p, y)
        y = y + 0.5 * z
    return y * y


P = [0.7, -0.2]


def test_checkpoint_gives_the_same_gradients_and_higher_derivatives() -> None:
    def f(p: Sequence[Scalar]) -> Scalar:
        return chain(p, True)

    def g(p: Sequence[Scalar]) -> Scalar:
        return chain(p, False)

    assert f(P) == g(P)
    assert tg.grad(f)(P) == pytest.approx(tg.grad(g)(P), rel=1e-13)
    assert flat(tg.hessian(f)(P)) == pytest.approx(flat(tg.hessian(g)(P)), rel=1e-12)
    third = tg.grad(tg.grad(tg.grad(lambda a: chain([a, -0.2], True))))(0.7)
    assert third == pytest.approx(tg.grad(tg.grad(tg.grad(lambda a: chain([a, -0.2], False))))(0.7), rel=1e-11)
    t = ([1.0, 0.5],)
    assert tg.jvp(f, (P,), t)[1] == pytest.approx(tg.jvp(g, (P,), t)[1], rel=1e-13)
    assert tg.linearize(f, P)[1](*t) == pytest.approx(tg.jvp(g, (P,), t)[1], rel=1e-13)
    # a jacobian sweeps the same tape several times: each sweep starts afresh
    many = tg.jacobian(lambda p: [chain(p, True), chain(p, True, blocks=2)], mode="rev")(P)
    assert flat(many) == pytest.approx(flat(tg.jacobian(lambda p: [chain(p, False), chain(p, False, blocks=2)], mode="rev")(P)), rel=1e-13)
    check_grads(f, (P,), order=2)


@settings(max_examples=25)
@given(expr=expressions(n_vars=2, max_depth=4), a=floats(), b=floats())
def test_checkpoint_of_random_programs_has_the_dense_derivatives(expr: Expression, a: float, b: float) -> None:
    ck = tg.checkpoint(expr)

    def with_ck(x: Sequence[Scalar]) -> Scalar:
        return ck(x) * x[0] + tg.sin(ck([x[1], x[0]]))

    def without(x: Sequence[Scalar]) -> Scalar:
        return expr(x) * x[0] + tg.sin(expr([x[1], x[0]]))

    assert with_ck([a, b]) == without([a, b])
    assert tg.grad(with_ck)([a, b]) == pytest.approx(tg.grad(without)([a, b]), rel=1e-12, abs=1e-12)
    assert flat(tg.hessian(with_ck)([a, b])) == pytest.approx(flat(tg.hessian(without)([a, b])), rel=1e-10, abs=1e-10)


def test_checkpoint_keeps_two_records_per_call_plus_one_per_output() -> None:
    blocks = 6
    with_ck = len(tg.trace(lambda p: chain(p, True, blocks))(P))
    without = len(tg.trace(lambda p: chain(p, False, blocks))(P))
    per_block = len(tg.trace(block)(P, 0.3)) - 3  # the block's own records, without its 3 inputs
    # Per block: the call record and its 2 outputs, instead of the block's records.
    assert per_block == 6 * DEPTH + 1
    assert without - with_ck == blocks * (per_block - 3)
    assert with_ck < without / 20


def test_the_reverse_sweep_recomputes_each_block_once() -> None:
    runs = {"n": 0}

    def counted(p: Sequence[Scalar], x: Scalar) -> list[Scalar]:
        runs["n"] += 1
        return block(p, x)

    ck = tg.checkpoint(counted)

    def f(p: Sequence[Scalar]) -> Scalar:
        y: Scalar = 0.3
        for _ in range(3):
            y = ck(p, y)[0]
        return y

    tg.grad(f)(P)
    assert runs["n"] == 3 + 3  # forward: once per call; reverse: once per call
    value = f(P)
    runs["n"] = 0
    assert tg.value_and_grad(f)(P)[0] == value and runs["n"] == 3 + 3


def test_checkpoint_under_jit_replays_correctly() -> None:
    jitted = tg.jit(tg.grad(lambda p: chain(p, True)))
    for p in ([0.7, -0.2], [0.5, 0.1], [-0.3, 0.9]):
        assert jitted(p) == pytest.approx(tg.grad(lambda q: chain(q, False))(p), rel=1e-12)
    assert jitted.stats.traces == 1 and jitted.stats.replays == 2
    # jit of a checkpointed function alone (no tape to save records on) is the function
    value = tg.jit(lambda p: chain(p, True))
    assert value([0.5, 0.1]) == chain([0.5, 0.1], False) and value([0.2, 0.4]) == pytest.approx(chain([0.2, 0.4], False))


def test_checkpoint_under_vmap() -> None:
    X = [0.1, 0.5, -1.0, 2.0]

    def step(p: Sequence[Scalar], x: Scalar) -> Scalar:
        return tg.tanh(p[0] * x + p[1]) * p[0]

    ck = tg.checkpoint(step)
    mean_ck = tg.grad(lambda q: tg.mean(tg.vmap(lambda x: ck(q, x))(X)))(P)
    mean = tg.grad(lambda q: tg.mean(tg.vmap(lambda x: step(q, x))(X)))(P)
    assert mean_ck == pytest.approx(mean, rel=1e-13)
    per_ck = list(tg.vmap(tg.grad(ck), in_axes=(None, 0))(P, X))
    per = [tg.grad(step)(P, x) for x in X]
    assert flat(per_ck) == pytest.approx(flat(per), rel=1e-13)


def test_checkpoint_passes_constants_and_plain_calls_through() -> None:
    def scaled(p: Sequence[Scalar], label: str, n: int) -> Scalar:
        assert isinstance(label, str) and isinstance(n, int)
        return p[0] * n + p[1]

    ck = tg.checkpoint(scaled)
    assert ck([1.0, 2.0], "x", 3) == 5.0  # no tape: just the function
    assert tg.grad(lambda p: ck(p, "x", 3) ** 2)([1.0, 2.0]) == [2 * 5.0 * 3, 2 * 5.0]
    assert ck.__name__ == "scaled"


def test_checkpoint_refuses_values_traced_through_a_closure() -> None:
    def f(q: Sequence[Scalar]) -> Scalar:
        return tg.checkpoint(lambda x: x * q[0])(q[1])  # type: ignore[no-any-return]

    with pytest.raises(TypeError, match=r"through a closure .* pass the value as an argument"):
        tg.grad(f)(P)
    # through its arguments it is fine
    assert tg.grad(lambda q: tg.checkpoint(lambda a, b: a * b)(q[0], q[1]))(P) == [P[1], P[0]]
