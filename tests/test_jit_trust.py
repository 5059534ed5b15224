"""jit is never silently wrong: a replay equals eager evaluation, or jit says why not.

Each test here failed on the code before this file existed: the cache key
missed distinctions (dict order, -0.0, (1,) vs (1.0,)), replays skipped
domain errors, public reads of a traced number were not guarded, captured
data froze silently, retracing was silent, and the collector pause was not
thread-safe. The property test at the end checks the whole contract on
random programs and random call sequences.
"""

from __future__ import annotations

import functools
import gc
import math
import re
import threading
import warnings
from typing import Any, Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.core.batch import numpy_available
from tapegrad.testing.strategies import Expression, expressions, floats
from tapegrad.transforms import jit as jit_module

# -- the cache key -------------------------------------------------------------------


def test_dict_insertion_order_is_part_of_the_key() -> None:
    def f(d: dict[str, tg.Scalar]) -> tg.Scalar:
        first, second = d.values()  # depends on the order
        return first * 10.0 + second

    j = tg.jit(tg.value_and_grad(f))
    assert j({"a": 1.0, "b": 2.0}) == (12.0, {"a": 10.0, "b": 1.0})
    assert j({"b": 2.0, "a": 1.0}) == (21.0, {"a": 1.0, "b": 10.0}) == tg.value_and_grad(f)({"b": 2.0, "a": 1.0})
    assert j({"a": 3.0, "b": 4.0}) == (34.0, {"a": 10.0, "b": 1.0})
    assert j.stats.traces == 2


def test_constants_that_compare_equal_but_differ_get_their_own_trace() -> None:
    def f(x: tg.Scalar, *, k: Any) -> tg.Scalar:
        if isinstance(k, tuple):
            return x * (2.0 if isinstance(k[0], int) else 3.0)
        return x * math.copysign(1.0, k)

    j = tg.jit(f)
    assert j(2.0, k=0.0) == 2.0
    assert j(2.0, k=-0.0) == -2.0
    assert j(2.0, k=(1,)) == 4.0
    assert j(2.0, k=(1.0,)) == 6.0
    assert j.stats.traces == 4


def test_a_nan_constant_is_one_cache_entry() -> None:
    # A new NaN object each call (math.nan is one object, which == would find by identity).
    j = tg.jit(lambda x, *, k: x * 2.0)
    for text in ["nan"] * 5:
        assert j(1.0, k=float(text)) == 2.0
    assert (j.stats.traces, j.stats.replays) == (1, 4)


@pytest.mark.skipif(not numpy_available(), reason="NumPy is an optional extra")
def test_numpy_float_constants_are_keyed_by_their_bits() -> None:
    import numpy as np

    def f(x: tg.Scalar, *, k: Any) -> tg.Scalar:
        return x * 2.0 if math.copysign(1.0, float(k)) > 0 else -x

    j = tg.jit(f)
    for kind in (np.float64, np.float32):
        assert j(1.0, k=kind(0.0)) == 2.0
        assert j(1.0, k=kind(-0.0)) == -1.0  # 0.0 == -0.0, but not the same constant
    traces = j.stats.traces
    for _ in range(4):
        assert j(1.0, k=np.float64(float("nan"))) == 2.0
    assert j.stats.traces == traces + 1  # one entry for NaN, not one per call
    # A float wider than Python's keeps its own value as its key: two values that
    # round to the same Python float are still two constants.
    a = np.longdouble(1.0)
    b = a + np.finfo(np.longdouble).eps
    if float(a) == float(b) and a != b:
        g = tg.jit(lambda x, *, k: x * 2.0 if k > 1 else x)
        assert (g(1.0, k=a), g(1.0, k=b)) == (1.0, 2.0)


def test_the_cache_is_bounded_warns_once_and_can_be_cleared() -> None:
    j = tg.jit(lambda xs: sum(xs))
    with pytest.warns(tg.JitWarning, match=r"more than 32 different argument structures"):
        for n in range(1, jit_module.MAX_ENTRIES + 6):
            assert j([1.0] * n) == n
    assert len(j._cache) == jit_module.MAX_ENTRIES
    j.clear_cache()
    assert len(j._cache) == 0 and j.source() is None
    assert j([1.0, 2.0]) == 3.0


def test_static_argnums_are_constants() -> None:
    def f(x: tg.Scalar, n: int) -> tg.Scalar:
        out = x
        for _ in range(n):  # n is a count: it cannot be traced
            out = out * x
        return out

    j = tg.jit(f, static_argnums=1)
    assert j(2.0, 3) == 16.0
    assert j(3.0, 3) == 81.0
    assert j(2.0, 1) == 4.0
    assert (j.stats.traces, j.stats.replays) == (2, 1)
    with pytest.raises(TypeError, match="static_argnums"):
        tg.jit(f, static_argnums=(-1,))
    # A number that names no parameter is a typo, not a silently dynamic argument.
    with pytest.raises(ValueError, match=r"static_argnums names argument 5, but f takes 2 positional argument\(s\) \(x, n\)"):
        tg.jit(f, static_argnums=5)
    # A static argument left at its default, or given by keyword, is fine.
    def scaled(x: tg.Scalar, k: float = 2.0) -> tg.Scalar:
        return x * k

    js = tg.jit(scaled, static_argnums=1)
    assert (js(3.0), js(3.0, 4.0), js(3.0, k=5.0)) == (6.0, 12.0, 15.0)


# -- replays raise where eager raises ------------------------------------------------


def test_jit_of_grad_of_log_raises_like_eager() -> None:
    j = tg.jit(tg.grad(tg.log))
    assert j(2.0) == 0.5
    with pytest.raises(ValueError, match=r"log\(-1\.0\)"):
        tg.grad(tg.log)(-1.0)
    with pytest.raises(ValueError, match=r"log\(-1\.0\)"):
        j(-1.0)


def test_whether_a_replay_raises_does_not_depend_on_the_history_of_calls() -> None:
    def f(x: tg.Scalar) -> tg.Scalar:
        return tg.relu(-x) * tg.sqrt(x)

    eager = tg.grad(f)(0.0)
    fresh = tg.jit(tg.grad(f))
    assert fresh(0.0) == eager
    warmed = tg.jit(tg.grad(f))
    assert warmed(1.0) == tg.grad(f)(1.0)
    assert warmed(0.0) == eager


def test_a_replay_that_would_give_nan_asks_eager_evaluation() -> None:
    # x * 1e200 * 1e200 overflows to inf, so the partial derivative of the
    # outer product with respect to x is infinite; relu turns the output off,
    # so eager skips that record's zero adjoint, while a straight-line replay
    # (and the tracing sweep) computes 0 * inf = nan.
    def f(x: tg.Scalar) -> tg.Scalar:
        return tg.relu(-(x * (x * 1e200 * 1e200)))

    eager = tg.grad(f)
    j = tg.jit(eager)
    assert eager(1.0) == 0.0 and eager(-1.0) == 0.0
    assert j(1.0) == 0.0  # traced: the tracing sweep gave nan
    assert j(-1.0) == 0.0  # replayed: the replay gave nan
    assert j.stats.eager_fallbacks == 2


# -- guards cover every public way of reading a number ----------------------------------


def test_reading_value_under_jit_raises() -> None:
    j = tg.jit(lambda x: x * x if x.value > 0 else -x)
    with pytest.raises(TypeError, match=r"Traced\.value inside jit"):
        j(3.0)


def test_repr_under_jit_hides_the_number() -> None:
    seen: list[str] = []

    def f(x: tg.Scalar) -> tg.Scalar:
        seen.append(repr(x))
        return x * 2.0

    assert tg.jit(f)(3.0) == 6.0
    assert "3.0" not in seen[0] and "not shown under jit" in seen[0]
    tg.grad(f)(3.0)
    assert "3.0" in seen[1]  # outside jit the number is shown


def test_primal_format_and_the_open_jit_tape_are_guarded() -> None:
    reads: list[Callable[[Any], Any]] = [
        tg.primal,
        lambda x: f"{x:.3f}",
        lambda x: x.tape.records,
        lambda x: str(x.tape),
        lambda x: x.tape.value_of(x.index),
        lambda x: tg.current_tape().value_of(x.index),  # type: ignore[union-attr]
    ]
    for read in reads:
        with pytest.raises(TypeError, match="jit"):
            tg.jit(lambda x, read=read: (read(x), x)[1])(1.0)


def test_a_tape_nested_under_jit_does_not_give_out_the_traces_numbers() -> None:
    # Under jit(grad(f)) the grad tape's values are traced by the jit tape:
    # its records hold the numbers of the trace, which a replay would not update.
    def f(x: tg.Scalar) -> tg.Scalar:
        assert isinstance(x, tg.Traced)
        y = x * 1.0
        return y * y if x.tape.records[-1].value > 0 else -y

    assert tg.grad(f)(-2.0) == -1.0  # eager: reading is fine
    for read in (lambda x: x.tape.records, lambda x: str(x.tape)):
        with pytest.raises(TypeError, match=r"traced by the jit tape of .*, which is open"):
            tg.jit(tg.grad(lambda x, read=read: (read(x), x * x)[1]))(3.0)
    with pytest.raises(TypeError, match="which is open"):
        tg.jit(tg.grad(f))(3.0)


def test_comparisons_are_guards_not_reads() -> None:
    j = tg.jit(lambda x: x * x if x > 0 else -x)
    assert [j(3.0), j(-2.0), j(4.0)] == [9.0, 2.0, 16.0]


# -- captured data --------------------------------------------------------------------------

BATCH = [1.0, 2.0, 3.0]


def _global_batch_loss(w: tg.Scalar) -> tg.Scalar:
    return sum(w * x for x in BATCH) * 1.0


def test_a_global_list_of_numbers_warns_at_trace_time() -> None:
    with pytest.warns(tg.JitWarning, match=r"_global_batch_loss reads the global 'BATCH'.*as an argument"):
        tg.jit(tg.grad(_global_batch_loss))(1.0)


def test_a_closure_list_warns_and_an_argument_does_not() -> None:
    batch = [1.0, 2.0]

    def loss(w: tg.Scalar) -> tg.Scalar:
        return sum(w * x for x in batch) * 1.0

    with pytest.warns(tg.JitWarning, match=r"closure variable 'batch'"):
        tg.jit(loss)(1.0)

    def loss_of(w: tg.Scalar, data: list[float]) -> tg.Scalar:
        return sum(w * x for x in data) * 1.0

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        j = tg.jit(tg.grad(loss_of))
        assert j(1.0, [1.0, 2.0]) == 3.0
        assert j(1.0, [5.0, 2.0]) == 7.0  # a new batch is an input, not a constant


def test_a_helper_that_reads_a_global_is_found_too() -> None:
    def loss(w: tg.Scalar) -> tg.Scalar:
        return _global_batch_loss(w) * 2.0

    with pytest.warns(tg.JitWarning, match="'BATCH'"):
        tg.jit(loss)(1.0)


BATCH_DEFAULT = [1.0, 2.0]


def _loss_with_default(w: tg.Scalar, data: list[float] = BATCH_DEFAULT) -> tg.Scalar:
    return sum(w * x for x in data) * 1.0


def _loss_of(w: tg.Scalar, data: list[float]) -> tg.Scalar:
    return sum(w * x for x in data) * 1.0


def test_a_default_or_partial_argument_left_to_the_function_warns() -> None:
    # Neither is an argument of the jitted call, so the replays keep its numbers.
    with pytest.warns(tg.JitWarning, match=r"_loss_with_default reads the default argument 'data'"):
        tg.jit(tg.grad(_loss_with_default))(1.0)
    with pytest.warns(tg.JitWarning, match=r"_loss_of reads the functools.partial argument 'data'"):
        tg.jit(functools.partial(_loss_of, data=[1.0, 2.0]))(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tg.jit(_loss_with_default)(1.0, [3.0]) == 3.0  # passed: an input, nothing frozen
        assert tg.jit(functools.partial(_loss_of, 2.0))([1.0, 2.0]) == 6.0  # a bound number is not data


class _Model:
    def loss(self, w: tg.Scalar, data: list[float] = BATCH_DEFAULT) -> tg.Scalar:
        return sum(w * x for x in data) * 1.0


def _scaled(fn: Callable[[tg.Scalar], tg.Scalar]) -> Callable[[tg.Scalar, float], tg.Scalar]:
    """A user's decorator that adds a parameter of its own."""

    @functools.wraps(fn)
    def wrapper(x: tg.Scalar, scale: float) -> tg.Scalar:
        return fn(x) * scale

    return wrapper


def test_defaults_are_matched_to_the_call_for_methods_and_decorators() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tg.jit(_Model().loss)(1.0, [3.0, 4.0]) == 7.0  # data passed: no warning
    with pytest.warns(tg.JitWarning, match=r"_Model.loss reads the default argument 'data'"):
        tg.jit(_Model().loss)(1.0)
    # A decorator's own parameter is a valid static argument, and not a default of the function it wraps.
    squared = _scaled(lambda x: x * x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tg.jit(squared, static_argnums=1)(3.0, 2.0) == 18.0


# -- retracing is not silent ---------------------------------------------------------------


def test_retracing_past_the_variant_limit_warns_naming_the_comparison() -> None:
    def halve(x: tg.Scalar) -> tg.Scalar:
        while x > 1.0:
            x = x * 0.5
        return x

    j = tg.jit(halve)
    with pytest.warns(tg.JitWarning, match=r"jit\(halve\) traced more than 8 variants.*the comparison `v\d+ > 1"):
        for k in range(12):
            assert j(2.0**k + 0.5) == halve(2.0**k + 0.5)


# -- the collector pause -------------------------------------------------------------------


@pytest.mark.parametrize("enabled", [True, False])
def test_eight_threads_compiling_leave_the_collector_as_they_found_it(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        start = threading.Barrier(8)
        errors: list[BaseException] = []

        def work(seed: int) -> None:
            try:
                start.wait()
                for n in range(5):
                    j = tg.jit(tg.grad(lambda xs: sum(x * x * float(seed) for x in xs)))
                    assert j([1.0] * (50 + n)) == [2.0 * seed] * (50 + n)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k + 1,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert gc.isenabled() == enabled
    finally:
        gc.enable() if was else gc.disable()


def test_overlapping_pauses_keep_the_collector_off_until_the_last_one_ends() -> None:
    # The interleaving of two threads, made deterministic: A pauses, B pauses,
    # A finishes while B is still compiling. A per-thread "was it on?" would
    # switch the collector back on here, in the middle of B's compile.
    from tapegrad.transforms.collector import collector_paused as _collector_paused

    was = gc.isenabled()
    try:
        gc.enable()
        a, b = _collector_paused(), _collector_paused()
        a.__enter__()
        b.__enter__()
        assert not gc.isenabled()
        a.__exit__(None, None, None)
        assert not gc.isenabled()  # B is still inside
        b.__exit__(None, None, None)
        assert gc.isenabled()
        gc.disable()  # and a collector that was off stays off
        with _collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable() if was else gc.disable()


# -- relative precision of derivative rules ------------------------------------------------


def _sigmoid_prime(x: float) -> float:
    e = math.exp(-abs(x))  # exact closed form: e / (1 + e)^2, even in x
    return e / (1.0 + e) ** 2


def _tanh_prime(x: float) -> float:
    e = math.exp(-2.0 * abs(x))  # sech^2 x = 4 e / (1 + e)^2
    return 4.0 * e / (1.0 + e) ** 2


@pytest.mark.parametrize("x", [-700.0, -100.0, -37.0, -20.0, -1.0, 0.0, 0.5, 20.0, 37.0, 100.0, 350.0])
def test_sigmoid_tanh_softplus_derivatives_keep_relative_precision(x: float) -> None:
    assert tg.grad(tg.sigmoid)(x) == pytest.approx(_sigmoid_prime(x), rel=1e-13)
    assert tg.grad(tg.tanh)(x) == pytest.approx(_tanh_prime(x), rel=1e-13)
    assert tg.grad(tg.softplus)(x) == pytest.approx(tg.sigmoid(x), rel=1e-15)
    # second derivatives too (the rules are differentiated by the nested sweep)
    sig = tg.sigmoid(x)
    assert tg.grad(tg.grad(tg.sigmoid))(x) == pytest.approx(_sigmoid_prime(x) * (1.0 - 2.0 * sig), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("x", [1e200, 1e155, 3.0, 1.0 + 2.0**-30])
def test_acosh_and_atan2_derivatives_do_not_overflow_to_zero(x: float) -> None:
    # (x - 1)(x + 1) and x*x + y*y overflow above about 1.3e154, where the
    # derivatives themselves (1/x, 1/(2x)) are ordinary numbers.
    assert tg.grad(tg.acosh)(x) == pytest.approx(1.0 / (math.sqrt(x - 1.0) * math.sqrt(x + 1.0)), rel=1e-14)
    gx, gy = tg.grad(tg.atan2, argnums=(0, 1))(x, x)
    assert gx == pytest.approx(0.5 / x, rel=1e-14) and gy == pytest.approx(-0.5 / x, rel=1e-14)


def test_sigmoid_prime_at_37_is_not_zero() -> None:
    assert tg.grad(tg.sigmoid)(37.0) == pytest.approx(8.533047625744066e-17, rel=1e-12)


@pytest.mark.parametrize("x", [-300.0, -37.0, -3.0, 0.25, 19.0, 37.0, 300.0])
def test_derivatives_against_mpmath(x: float) -> None:
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    X = mpmath.mpf(x)
    s = 1 / (1 + mpmath.exp(-X))
    assert tg.grad(tg.sigmoid)(x) == pytest.approx(float(s * (1 - s)), rel=1e-13)
    assert tg.grad(tg.tanh)(x) == pytest.approx(float(1 - mpmath.tanh(X) ** 2), rel=1e-13)
    assert tg.grad(tg.softplus)(x) == pytest.approx(float(s), rel=1e-14)


# -- clear errors for the other quiet paths ------------------------------------------------


def test_round_floor_ceil_trunc_record_a_primitive() -> None:
    # They used to raise; now each records its primitive (derivative 0), so
    # under jit a replay recomputes them instead of freezing a number.
    for fn, name, at in ((round, "round", 2.0), (math.floor, "floor", 1.0), (math.ceil, "ceil", 2.0), (math.trunc, "trunc", 1.0)):
        assert tg.grad(lambda x, fn=fn: fn(x) * x)(1.5) == at
        assert name in str(tg.trace(lambda x, fn=fn: fn(x))(1.5))
        jitted = tg.jit(lambda x, fn=fn: fn(x) * x)
        assert jitted(1.5) == at * 1.5 and jitted(-2.5) == fn(-2.5) * -2.5
    with pytest.raises(TypeError, match=r"round\(x, ndigits\) of a traced scalar.*tapegrad.primal"):
        tg.grad(lambda x: round(x, 2) * x)(1.5)


def test_a_huge_int_leaf_names_its_path() -> None:
    with pytest.raises(OverflowError, match=r"params\['w'\]\[1\]: an int of \d+ bits is too large"):
        tg.grad(lambda params: params["w"][0] * 2.0)({"w": [1.0, 10**400]})


def test_overflow_says_overflow_not_domain() -> None:
    with pytest.raises(OverflowError, match=r"pow\(1e\+200, 2\.0\): .*too large for a float"):
        tg.grad(lambda x: x**2.0)(1e200)


def test_too_deep_a_tree_is_a_clear_error() -> None:
    deep: Any = [1.0]
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValueError, match=r"nested more deeply than Python's recursion limit"):
        tg.grad(lambda p: 1.0)(deep)
    # vmap too, naming the argument; and a list that contains itself
    with pytest.raises(ValueError, match=r"^x: the tree is nested more deeply"):
        tg.vmap(lambda x: x, backend="python")([deep, deep])
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"^x: .*or it contains itself"):
        tg.vmap(lambda x: x, backend="python")([loop, loop])


def test_any_exception_from_a_custom_rule_names_the_record() -> None:
    @tg.primitive
    def twice(x: float) -> float:
        return 2.0 * x

    def bad_rule(g: Any, ans: Any, x: Any) -> Any:
        raise KeyError("lookup failed")

    tg.defvjp(twice, bad_rule)
    with pytest.raises(KeyError, match=r"record v1 = twice\(3\.0\)"):
        tg.grad(twice)(3.0)
    with pytest.raises(KeyError, match=r"record v1 = twice\(3\.0\)"):
        tg.jvp(twice, (3.0,), (1.0,))


# -- the contract, on random programs -------------------------------------------------------


def _program(expr: Expression) -> Callable[..., Any]:
    """A random formula, with a branch, an order-dependent dict and a keyword constant."""

    def f(d: dict[str, tg.Scalar], *, k: float) -> tg.Scalar:
        xs = list(d.values())  # the order of the keys matters
        v = expr(xs) * math.copysign(1.0, k)  # so does the sign of a zero k
        if xs[0] > k:  # a branch: a guard under jit
            v = v * 2.0 + tg.log(xs[1])  # log raises for xs[1] <= 0
        else:
            v = v + tg.sqrt(xs[2])  # sqrt raises for xs[2] < 0
        return v

    return f


def _outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        result = fn(*args, **kwargs)
    except (ValueError, ArithmeticError) as exc:
        return type(exc)
    return repr(result)  # repr: nan equals nan, and -0.0 is told from 0.0 only where it matters below


def _numbers(result: Any) -> Any:
    """The outcome with every -0.0 written 0.0 (only a whole number token: -0.0625 stays as it is)."""
    return result if isinstance(result, type) else re.sub(r"-0\.0(?![0-9e])", "0.0", result)


@settings(max_examples=30, deadline=None)
@given(
    expressions(n_vars=3, smooth=False),
    st.lists(st.lists(st.one_of(floats(), st.sampled_from([0.0, -1.0, -0.5])), min_size=3, max_size=3), min_size=2, max_size=8),
)
def test_jit_of_grad_replays_raise_where_eager_raises(expr: Expression, calls: list[list[float]]) -> None:
    # One key order and one k, so that every call after the first replays the
    # same trace: a replay on the log branch with xs[1] <= 0 must raise as eager
    # does, although grad alone never needs log's value.
    f = _program(expr)
    eager_g, jitted_g = tg.grad(f), tg.jit(tg.grad(f))
    for values in calls:
        d = dict(zip("abc", values))
        assert _numbers(_outcome(jitted_g, d, k=0.25)) == _numbers(_outcome(eager_g, d, k=0.25)), d


def test_numbers_only_unsigns_zeros() -> None:
    assert _numbers("(-0.0, {'a': -0.0625, 'b': -0.0}, -0.0e-5)") == "(0.0, {'a': -0.0625, 'b': 0.0}, -0.0e-5)"


@settings(max_examples=30, deadline=None)
@given(
    expressions(n_vars=3, smooth=False),
    st.lists(
        st.tuples(
            st.permutations(["a", "b", "c"]),
            st.lists(st.one_of(floats(), st.sampled_from([0.0, -1.0, -0.5])), min_size=3, max_size=3),
            st.sampled_from([0.0, -0.0, 0.5, -1.0]),
        ),
        min_size=2,
        max_size=8,
    ),
)
def test_replays_equal_eager_on_random_programs_and_call_sequences(expr: Expression, calls: list[Any]) -> None:
    f = _program(expr)
    eager_vg = tg.value_and_grad(f)
    jitted_f, jitted_vg = tg.jit(f), tg.jit(tg.value_and_grad(f))
    # grad alone drops the records only the value needed: the replay must still raise where eager does
    eager_g, jitted_g = tg.grad(f), tg.jit(tg.grad(f))
    for keys, values, k in calls:
        d = dict(zip(keys, values))
        # Values: equal bit for bit (repr), or the same error.
        assert _outcome(jitted_f, d, k=k) == _outcome(f, d, k=k), (d, k)
        # Gradients: equal as numbers (a replay may give -0.0 where eager skips a zero), or the same error.
        assert _numbers(_outcome(jitted_vg, d, k=k)) == _numbers(_outcome(eager_vg, d, k=k)), (d, k)
        assert _numbers(_outcome(jitted_g, d, k=k)) == _numbers(_outcome(eager_g, d, k=k)), (d, k)


# -- numbers read from outside the arguments are guarded (issue 16, item 9) ------------------

SCALE = 2.0


def _scaled_by_global(w: tg.Scalar) -> tg.Scalar:
    return SCALE * w * w


def _changes_warn_here(j: Callable[..., Any], *args: Any) -> Any:
    """Call ``j``; the retrace warning it gives must point at this file, the caller's."""
    with pytest.warns(tg.JitWarning, match=r"changed since the last trace") as caught:
        out = j(*args)
    assert caught[0].filename == __file__
    return out


def test_a_changed_global_number_traces_again_and_says_so() -> None:
    global SCALE
    j = tg.jit(tg.grad(_scaled_by_global))
    try:
        assert j(3.0) == 12.0
        SCALE = 5.0
        assert _changes_warn_here(j, 3.0) == 30.0 == tg.grad(_scaled_by_global)(3.0)
        assert j(3.0) == 30.0 and j.stats.traces == 2
    finally:
        SCALE = 2.0


def test_a_changed_closure_cell_default_or_attribute_traces_again() -> None:
    k = 2.0

    def closure(w: tg.Scalar) -> tg.Scalar:
        return k * w

    jc = tg.jit(closure)
    assert jc(1.0) == 2.0
    k = 7.0
    assert _changes_warn_here(jc, 1.0) == 7.0

    def with_default(w: tg.Scalar, k: float = 2.0) -> tg.Scalar:
        return k * w

    jd = tg.jit(with_default)
    assert jd(1.0) == 2.0
    with_default.__defaults__ = (4.0,)
    assert _changes_warn_here(jd, 1.0) == 4.0

    class Model:
        def __init__(self) -> None:
            self.k = 2.0

        def loss(self, w: tg.Scalar) -> tg.Scalar:
            return self.k * w * w

    model = Model()
    jm = tg.jit(tg.value_and_grad(model.loss))
    assert jm(1.0) == (2.0, 4.0)
    model.k = 5.0
    assert _changes_warn_here(jm, 1.0) == (5.0, 10.0)

    class Config:
        lr = 0.5

    config = Config()
    jo = tg.jit(lambda w: config.lr * w)
    assert jo(2.0) == 1.0
    config.lr = 0.25  # an instance attribute now shadows the class's
    assert _changes_warn_here(jo, 2.0) == 0.5


def test_unchanged_captured_numbers_replay_without_a_warning() -> None:
    j = tg.jit(_scaled_by_global)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x in (1.0, 2.0, 3.0):
            assert j(x) == SCALE * x * x
    assert j.stats.traces == 1 and j.stats.replays == 2


# -- warnings point at the user's line (item 10) ---------------------------------------------


def test_jit_warnings_point_at_the_calling_line() -> None:
    with pytest.warns(tg.JitWarning, match="'BATCH'") as caught:
        tg.jit(tg.value_and_grad(_global_batch_loss))(1.0)  # through the typed __call__ of jit(value_and_grad)
    assert [w.filename for w in caught] == [__file__]

    def halve(x: tg.Scalar) -> tg.Scalar:
        while x > 1.0:
            x = x / 2.0
        return x

    j = tg.jit(halve)
    with pytest.warns(tg.JitWarning, match="variants") as caught:
        for k in range(12):
            j(2.0**k)
    assert {w.filename for w in caught} == {__file__}


# -- a jit that keeps falling back to eager says so (item 8) -------------------------------------


def _ce_loss(p: Sequence[tg.Scalar], labels: list[int]) -> tg.Scalar:
    logits = [[p[0], 2.0 * p[1], p[2]], [p[1], p[0], 0.5 * p[2]], [p[2], p[2] * p[0], p[1]]]
    return tg.nn.cross_entropy(logits, labels)


def test_cross_entropy_labels_passed_as_arguments_trace_and_replay() -> None:
    step = tg.jit(tg.value_and_grad(_ce_loss))
    eager = tg.value_and_grad(_ce_loss)
    p = [0.1, -0.4, 0.3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for labels in ([0, 2, 1], [1, 1, 0], [2, 0, 2], [0, 2, 1]):
            assert step(p, labels) == eager(p, labels)
    assert step.stats.traces == 1 and step.stats.replays == 3 and step.stats.eager_fallbacks == 0
    with pytest.raises(ValueError, match="labels must be class indices"):
        step(p, [0, 3, 1])


@pytest.mark.parametrize(
    "loss, labels",
    [
        (tg.nn.binary_cross_entropy, ([1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1, 1, 0])),
        (tg.nn.svm_hinge_loss, ([1.0, -1.0, 1.0], [-1.0, -1.0, 1.0], [1, 1, -1])),
        (tg.nn.logistic_loss, ([1.0, -1.0, 1.0], [-1.0, -1.0, 1.0], [1, 1, -1])),
    ],
)
def test_binary_labels_passed_as_arguments_replay(loss: Callable[..., tg.Scalar], labels: tuple[list[float], ...]) -> None:
    def f(p: Sequence[tg.Scalar], y: list[float]) -> tg.Scalar:
        return loss([p[0], 2.0 * p[1], p[0] - p[1]], y)

    step = tg.jit(tg.value_and_grad(f))
    for y in labels + labels:
        assert step([0.3, -0.2], y) == tg.value_and_grad(f)([0.3, -0.2], y)
    assert step.stats.traces == 1 and step.stats.eager_fallbacks == 0  # out of range: the guard fails, and eager evaluation names the labels


def test_a_jit_that_keeps_running_eagerly_warns_once_naming_the_cause_and_the_fix() -> None:
    # The eager sweep skips the zero adjoint of sqrt at 0; a trace multiplies it through and divides by zero.
    j = tg.jit(tg.grad(lambda x: 0.0 * tg.sqrt(x)))
    with pytest.warns(tg.JitWarning, match=r"ran the function eagerly on its last 3 calls.*ZeroDivisionError.*tg.where") as caught:
        for _ in range(5):
            assert j(0.0) == 0.0
    assert len(caught) == 1 and caught[0].filename == __file__
    assert j.stats.eager_fallbacks == 5


# -- outputs (item 7) ------------------------------------------------------------------------


def test_int_output_leaves_stay_ints() -> None:
    def f(x: tg.Scalar) -> tuple[tg.Scalar, int, dict[str, int]]:
        return x * 2.0, 3, {"n": 7}

    for backend in ("source", "auto"):
        j = tg.jit(f, backend=backend)
        for x in (1.0, 2.0):
            out = j(x)
            assert out == f(x) and type(out[1]) is int and type(out[2]["n"]) is int


class _Slotted:
    __slots__ = ("k",)

    def __init__(self) -> None:
        self.k = 2.0

    def loss(self, w: tg.Scalar) -> tg.Scalar:
        return self.k * w


class _WithProperty:
    def __init__(self) -> None:
        self._k = 2.0

    @property
    def k(self) -> float:
        return self._k

    def loss(self, w: tg.Scalar) -> tg.Scalar:
        return self.k * w


def test_a_slot_is_guarded_and_a_property_is_warned_about_at_trace_time() -> None:
    slotted = _Slotted()
    j = tg.jit(slotted.loss)
    assert j(1.0) == 2.0
    slotted.k = 3.0
    assert _changes_warn_here(j, 1.0) == 3.0
    with pytest.warns(tg.JitWarning, match=r"_WithProperty.loss reads self.k, a property") as caught:
        assert tg.jit(_WithProperty().loss)(1.0) == 2.0
    assert caught[0].filename == __file__


CALLS = 0


def _counting(w: tg.Scalar) -> tg.Scalar:
    global CALLS
    CALLS += 1  # runs while tracing only: a side effect that replays skip
    return w * 2.0


def test_a_number_that_f_itself_updates_while_tracing_does_not_retrace_every_call() -> None:
    j = tg.jit(_counting)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [j(float(x)) for x in range(4)] == [0.0, 2.0, 4.0, 6.0]
    assert (j.stats.traces, j.stats.replays) == (1, 3)


def test_multiclass_accuracy_with_classes_as_arguments_replays_and_follows_them() -> None:
    # Classes passed to a jitted function are traced: the hit is picked with a recorded
    # test, so one trace serves every set of classes and no call falls back to eager.
    from tapegrad import nn

    logits = [[0.1, 0.9, 0.0], [2.0, 1.0, 0.5], [0.0, 0.0, 3.0]]
    acc = tg.jit(lambda L, y: nn.multiclass_accuracy(L, y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for classes in ([1, 0, 2], [0, 0, 2], [2, 1, 0], [1, 1, 1]):
            expected = sum(max(range(3), key=lambda c: row[c]) == y for row, y in zip(logits, classes)) / 3
            assert acc(logits, classes) == expected
    assert (acc.stats.traces, acc.stats.eager_fallbacks) == (1, 0)
    with pytest.raises(ValueError, match=r"multiclass_accuracy: .*class indices"):
        acc(logits, [0, 3, 1])


def test_labels_passed_as_arguments_keep_the_bytecode_back_end() -> None:
    # A traced label is checked, and its class picked, with binary adds: a variadic sum
    # record would send the whole step to the slower source back end.
    from tapegrad import nn
    from tapegrad.compiler.backends import ASSEMBLER_AVAILABLE

    if not ASSEMBLER_AVAILABLE:
        pytest.skip("no bytecode assembler for this Python: every step uses the source back end")
    hinge = tg.jit(tg.value_and_grad(lambda w, xs, ys: nn.svm_hinge_loss([w * x for x in xs], ys)))
    assert hinge(0.5, [1.0, -2.0], [1.0, -1.0]) == tg.value_and_grad(lambda w: nn.svm_hinge_loss([w * 1.0, w * -2.0], [1.0, -1.0]))(0.5)
    ce = tg.jit(tg.value_and_grad(lambda w, ys: nn.cross_entropy([[w, 2.0 * w, 0.0]] * len(ys), ys)))
    assert ce(0.3, [0, 2])[0] == nn.cross_entropy([[0.3, 0.6, 0.0]] * 2, [0, 2])
    acc = tg.jit(lambda L, ys: nn.multiclass_accuracy(L, ys))
    assert acc([[0.1, 0.9], [2.0, 1.0]], [1, 0]) == 1.0
    assert [f.stats.backend for f in (hinge, ce, acc)] == ["bytecode"] * 3
