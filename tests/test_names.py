"""tg.name and tg.name_scope: names every view prints, which change no number under any transform."""

from __future__ import annotations

import threading
import warnings
from typing import Any, Callable

import pytest

import tapegrad as tg
from tapegrad.dot import tape_to_dot
from tapegrad.tables import side_by_side, table_rows


def f(x: tg.Scalar, y: tg.Scalar) -> tg.Scalar:
    h = tg.name(tg.tanh(x * y), "h1")
    return tg.name(h * h + tg.sin(x), "loss")


def plain(x: tg.Scalar, y: tg.Scalar) -> tg.Scalar:
    h = tg.tanh(x * y)
    return h * h + tg.sin(x)


def test_a_name_is_printed_by_every_view() -> None:
    tape = tg.trace(f)(0.5, 1.5)
    named = {r.index: r.name for r in tape.records if r.name is not None}
    assert named == {3: "h1", 6: "loss"}
    text = str(tape)
    assert "v3 (h1) = tanh(v2)" in text and "v6 (loss) = add(v4, v5)" in text
    table = side_by_side(tape)
    assert "v3 (h1)   = tanh(v2)" in table and "v6 (loss) = v4 + v5" in table
    assert [r.user_name for r in table_rows(tape)] == [named.get(i) for i in range(len(tape))]
    assert "v3 (h1)" in tape_to_dot(tape)
    page = tg.explore(f)(0.5, 1.5).html()
    assert "v3 (h1)" in page and '<span class="user">(loss)</span>' in page


def test_name_returns_its_argument_and_appends_nothing() -> None:
    assert tg.name(2.5, "a") == 2.5
    with tg.Tape() as tape:
        x = tg.Traced.input(tape, 1.0, "x")
        y = x * 3.0
        assert tg.name(y, "y") is y
    assert len(tape) == 2 and tape.records[1].name == "y"
    # A later name for the same record replaces the first.
    assert [r.name for r in tg.trace(lambda x: tg.name(tg.name(x * 2.0, "a"), "b"))(1.0).records] == [None, "b"]


def test_name_refuses_bad_names_and_closed_tapes() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        tg.name(1.0, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty or blank"):
        tg.name(1.0, " ")
    with tg.Tape() as tape:
        x = tg.Traced.input(tape, 1.0, "x")
    with pytest.raises(tg.TapeClosedError, match="has closed"):
        tg.name(x, "late")


def test_names_change_nothing_under_grad_jit_and_vmap() -> None:
    args = (0.5, 1.5)
    transforms: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        lambda g: tg.grad(g, argnums=(0, 1)),
        lambda g: tg.grad(tg.grad(g)),
        lambda g: tg.jit(g),
        lambda g: tg.jit(tg.grad(g, argnums=(0, 1))),
        lambda g: tg.jit(tg.value_and_grad(g)),
    ]
    for transform in transforms:
        named, unnamed = transform(f), transform(plain)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            first = named(*args)
            assert first == unnamed(*args)
            assert named(0.7, -1.1) == unnamed(0.7, -1.1)  # a replay, for jit
    xs, ys = [0.1, 0.5, -2.0], [1.0, 2.0, 3.0]
    assert tg.vmap(f)(xs, ys) == tg.vmap(plain)(xs, ys)
    assert tg.vmap(tg.grad(f))(xs, ys) == tg.vmap(tg.grad(plain))(xs, ys)
    assert tg.grad(lambda x: tg.mean(tg.vmap(f, in_axes=(None, 0))(x, ys)))(0.3) == tg.grad(lambda x: tg.mean(tg.vmap(plain, in_axes=(None, 0))(x, ys)))(0.3)


def test_a_name_reaches_the_outer_tape_of_grad_of_grad() -> None:
    outer = tg.trace(tg.grad(f))(0.5, 1.5)
    named = [r for r in outer.records if r.name == "h1"]
    assert len(named) == 1 and named[0].primitive.name == "tanh"
    # On the outer tape the gradient's own records are unnamed.
    assert sum(r.name is not None for r in outer.records) == 2


def test_a_name_under_vmap_names_the_batched_record() -> None:
    def per_example(x: tg.Scalar) -> tg.Scalar:
        return tg.name(x * x, "sq")

    tape = tg.trace(lambda w: tg.mean(tg.vmap(lambda x: per_example(x) * w)([1.0, 2.0])))(3.0)
    assert [r.name for r in tape.records].count("sq") == 0  # x * x involves no traced value: nothing to name
    tape = tg.trace(lambda w: tg.mean(tg.vmap(lambda x: per_example(x * w))([1.0, 2.0])))(3.0)
    assert [r.primitive.name for r in tape.records if r.name == "sq"] == ["mul"]


def test_name_scope_records_ranges_on_every_open_tape() -> None:
    def g(x: tg.Scalar) -> tg.Scalar:
        with tg.name_scope("layer"):
            a = x * 2.0
            with tg.name_scope("inner"):
                b = tg.sin(a)
        return b + 1.0

    tape = tg.trace(g)(0.3)
    assert tape.groups == (("layer/inner", 2, 3), ("layer", 1, 3))
    ex = tg.explore(g, collapse="group")(0.3)
    assert ex.sweeps.groups == (None, "layer", "layer/inner", None)
    assert {"layer", "layer/inner"} <= {b.title.split(" · ")[-1] for b in ex.drawing.boxes}
    outer = tg.trace(tg.grad(g))(0.3)
    assert [name for name, _, _ in outer.groups] == ["layer/inner", "layer"]
    with pytest.raises(TypeError):
        with tg.name_scope(None):  # type: ignore[arg-type]
            pass


def test_scopes_are_per_thread() -> None:
    seen: list[tuple[tuple[str, int, int], ...]] = []

    def worker() -> None:
        seen.append(tg.trace(lambda x: x * 2.0)(1.0).groups)

    with tg.name_scope("main thread"):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == [()]
