"""jit guards what f reads from outside its arguments: values other than floats, classes, callable objects, methods.

Each test changes something a jitted function reads between two calls and
checks that the second call gives eager evaluation's new answer (tracing
again, with the "changed since the last trace" warning), not a stale replay.
"""

from __future__ import annotations

import enum
import fractions
import warnings
from typing import Any, Callable, Optional

import pytest

import tapegrad as tg

MODE = "double"
OFFSET: Optional[float] = None
RATIO = fractions.Fraction(1, 2)


class _Kind(enum.Enum):
    DOUBLE = 1
    TRIPLE = 2


KIND = _Kind.DOUBLE


def _by_mode(w: tg.Scalar) -> tg.Scalar:
    return w * 2.0 if MODE == "double" else w * 3.0


def _by_offset(w: tg.Scalar) -> tg.Scalar:
    return w if OFFSET is None else w + OFFSET


def _by_kind(w: tg.Scalar) -> tg.Scalar:
    return w * 2.0 if KIND is _Kind.DOUBLE else w * 3.0


def _by_ratio(w: tg.Scalar) -> tg.Scalar:
    return w * float(RATIO)


def _retraced(j: Callable[..., Any], *args: Any) -> Any:
    """Call ``j`` after a change: it must trace again and say so, at this file's line."""
    with pytest.warns(tg.JitWarning, match=r"changed since the last trace") as caught:
        out = j(*args)
    assert caught[0].filename == __file__
    return out


def test_a_changed_string_none_enum_or_fraction_global_traces_again() -> None:
    global MODE, OFFSET, KIND, RATIO
    jm, jo, jk, jr = tg.jit(_by_mode), tg.jit(_by_offset), tg.jit(_by_kind), tg.jit(_by_ratio)
    try:
        assert (jm(1.0), jo(1.0), jk(1.0), jr(1.0)) == (2.0, 1.0, 2.0, 0.5)
        MODE, OFFSET, KIND, RATIO = "triple", 4.0, _Kind.TRIPLE, fractions.Fraction(5)
        assert _retraced(jm, 1.0) == 3.0 == _by_mode(1.0)
        assert _retraced(jo, 1.0) == 5.0 == _by_offset(1.0)
        assert _retraced(jk, 1.0) == 3.0 == _by_kind(1.0)
        assert _retraced(jr, 1.0) == 5.0 == _by_ratio(1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", tg.JitWarning)  # unchanged: a replay, no warning
            assert (jm(2.0), jo(2.0), jk(2.0), jr(2.0)) == (6.0, 6.0, 6.0, 10.0)
    finally:
        MODE, OFFSET, KIND, RATIO = "double", None, _Kind.DOUBLE, fractions.Fraction(1, 2)


class _Settings:
    scale = 2.0

    @classmethod
    def loss(cls, w: tg.Scalar) -> tg.Scalar:
        return cls.scale * w * w


def _reads_class_attribute(w: tg.Scalar) -> tg.Scalar:
    return _Settings.scale * w


def test_a_changed_class_attribute_traces_again() -> None:
    by_name = tg.jit(_reads_class_attribute)
    through_cls = tg.jit(tg.grad(_Settings.loss))
    try:
        assert by_name(1.0) == 2.0 and through_cls(1.0) == 4.0
        _Settings.scale = 5.0
        assert _retraced(by_name, 1.0) == 5.0
        assert _retraced(through_cls, 1.0) == 10.0 == tg.grad(_Settings.loss)(1.0)
    finally:
        _Settings.scale = 2.0


def test_a_zero_dimensional_array_changed_in_place_traces_again() -> None:
    np = pytest.importorskip("numpy")
    scale = np.array(2.0)
    j = tg.jit(lambda w: float(scale) * w)
    assert j(1.0) == 2.0
    scale[()] = 5.0
    assert _retraced(j, 1.0) == 5.0


class _Scaled:
    def __init__(self) -> None:
        self.k = 2.0

    def __call__(self, w: tg.Scalar) -> tg.Scalar:
        return self.k * w

    def factor(self) -> float:
        return self.k

    def loss(self, w: tg.Scalar) -> tg.Scalar:
        return self.factor() * w * w


def test_a_callable_object_and_a_method_called_on_self_are_guarded() -> None:
    model = _Scaled()
    called, through_method = tg.jit(model), tg.jit(tg.value_and_grad(model.loss))
    assert called(1.0) == 2.0 and through_method(1.0) == (2.0, 4.0)
    model.k = 5.0
    assert _retraced(called, 1.0) == 5.0 == model(1.0)
    assert _retraced(through_method, 1.0) == (5.0, 10.0) == tg.value_and_grad(model.loss)(1.0)


ACTIVATION: Callable[[tg.Scalar], tg.Scalar] = tg.tanh


class _Frozen:
    def __init__(self, lr: float) -> None:
        self.lr = lr


CONFIG = _Frozen(2.0)


def _activated(w: tg.Scalar) -> tg.Scalar:
    return ACTIVATION(w) * CONFIG.lr


def test_a_name_bound_to_another_function_or_object_traces_again() -> None:
    global ACTIVATION, CONFIG
    j = tg.jit(tg.grad(_activated))
    try:
        assert j(0.5) == tg.grad(_activated)(0.5)
        ACTIVATION = tg.sin
        assert _retraced(j, 0.5) == tg.grad(_activated)(0.5) == 2.0 * tg.cos(0.5)
        CONFIG = _Frozen(5.0)  # another object: its own attributes are read from now on
        assert j(0.5) == tg.grad(_activated)(0.5) == 5.0 * tg.cos(0.5)
        CONFIG.lr = 7.0
        assert j(0.5) == 7.0 * tg.cos(0.5)
        for lr in (2.0, 5.0, 2.0):  # a third object may take a freed one's id: never an old trace
            CONFIG = _Frozen(lr)
            assert j(0.5) == lr * tg.cos(0.5)
    finally:
        ACTIVATION, CONFIG = tg.tanh, _Frozen(2.0)


def test_a_function_held_by_an_instance_or_a_partial_keyword_is_guarded() -> None:
    import functools

    class Model:
        def __init__(self) -> None:
            self.act: Callable[[tg.Scalar], tg.Scalar] = tg.tanh

        def loss(self, w: tg.Scalar) -> tg.Scalar:
            return self.act(w)

    model = Model()
    j = tg.jit(model.loss)
    assert j(0.5) == tg.tanh(0.5)
    model.act = tg.sin
    assert _retraced(j, 0.5) == tg.sin(0.5)

    def scaled(w: tg.Scalar, k: float) -> tg.Scalar:
        return k * w

    bound = functools.partial(scaled, k=2.0)
    jp = tg.jit(bound)
    assert jp(1.0) == 2.0
    bound.keywords["k"] = 5.0
    assert _retraced(jp, 1.0) == 5.0


RULE_SCALE = 2.0


@tg.primitive
def _passed_through(x: float) -> float:
    return x


tg.defvjp(_passed_through, lambda g, ans, x: g * RULE_SCALE)  # a rule reading a global: a scaled gradient


def test_a_number_read_by_a_custom_primitive_rule_is_guarded() -> None:
    global RULE_SCALE
    j = tg.jit(tg.grad(lambda w: _passed_through(w) * w))
    try:
        assert j(1.0) == 3.0
        RULE_SCALE = 5.0
        assert _retraced(j, 1.0) == 6.0 == tg.grad(lambda w: _passed_through(w) * w)(1.0)
    finally:
        RULE_SCALE = 2.0
