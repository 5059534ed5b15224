"""The public tree utilities: tree_leaves, tree_flatten/unflatten and the leaf-wise arithmetic."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import nn
from tapegrad.core.tree import flatten, unflatten


class Pair(NamedTuple):
    w: list[float]
    b: float


A: Any = {"layers": [Pair([1.0, 2.0], 3.0)], "scale": (4.0,)}
B: Any = {"layers": [Pair([0.5, -1.0], 2.0)], "scale": (-4.0,)}


def test_leaves_flatten_and_unflatten_round_trip() -> None:
    leaves, treedef = tg.tree_flatten(A)
    assert leaves == tg.tree_leaves(A) == [1.0, 2.0, 3.0, 4.0]
    assert tg.tree_unflatten(treedef, leaves) == A
    rebuilt = tg.tree_unflatten(treedef, [0.0, 1.0, 2.0, 3.0])
    assert rebuilt == {"layers": [Pair([0.0, 1.0], 2.0)], "scale": (3.0,)}
    assert type(rebuilt["layers"][0]) is Pair
    with pytest.raises(ValueError, match="has 4 leaves, got 3"):
        tg.tree_unflatten(treedef, [0.0, 1.0, 2.0])
    # ints become floats, as everywhere in tapegrad
    assert tg.tree_leaves({"a": 1}) == [1.0] and type(tg.tree_leaves({"a": 1})[0]) is float


def test_arithmetic_by_hand() -> None:
    before = copy.deepcopy((A, B))
    assert tg.tree_add(A, B) == {"layers": [Pair([1.5, 1.0], 5.0)], "scale": (0.0,)}
    assert tg.tree_sub(A, B) == {"layers": [Pair([0.5, 3.0], 1.0)], "scale": (8.0,)}
    assert tg.tree_scale(A, 2.0) == {"layers": [Pair([2.0, 4.0], 6.0)], "scale": (8.0,)}
    assert tg.tree_dot(A, B) == 0.5 - 2.0 + 6.0 - 16.0
    assert tg.tree_zeros_like(A) == {"layers": [Pair([0.0, 0.0], 0.0)], "scale": (0.0,)}
    assert tg.tree_dot([], []) == 0.0
    assert (A, B) == before  # nothing was modified


def test_dict_key_order_does_not_matter_but_is_kept() -> None:
    a = {"x": 1.0, "y": 2.0}
    b = {"y": 10.0, "x": 20.0}
    total = tg.tree_add(b, a)
    assert total == {"x": 21.0, "y": 12.0} and list(total) == ["y", "x"]
    # an OrderedDict is another container type: the message says so, as the shapes print alike
    with pytest.raises(ValueError, match="containers are of different types"):
        tg.tree_add(OrderedDict(a), a)


def test_mismatched_shapes_name_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"tree_add: the trees have different shapes: the first is \[\*, \*\], the second is \[\*\]"):
        tg.tree_add([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"tree_sub: .* the first is \{'a': \*\}, the second is \{'b': \*\}"):
        tg.tree_sub({"a": 1.0}, {"b": 1.0})
    with pytest.raises(ValueError, match=r"tree_dot: .* the first is \(\*, \*\), the second is \[\*, \*\]"):
        tg.tree_dot((1.0, 2.0), [1.0, 2.0])
    with pytest.raises(TypeError, match="factor must be a scalar, got a list"):
        tg.tree_scale([1.0], [2.0])
    with pytest.raises(TypeError, match=r"expected a float"):
        tg.tree_zeros_like(["x"])


def test_the_utilities_work_on_traced_values() -> None:
    # grad of <p, p> is 2p; grad of |p - q|^2 / 2 wrt p is p - q
    assert tg.grad(lambda p: tg.tree_dot(p, p))({"a": [1.0, -2.0]}) == {"a": [2.0, -4.0]}

    def half_sq_dist(p: list[tg.Scalar]) -> tg.Scalar:
        d = tg.tree_sub(p, [0.5, 0.5])
        return tg.tree_dot(d, tg.tree_scale(d, 0.5))

    assert tg.grad(half_sq_dist)([1.0, 2.0]) == [0.5, 1.5]
    tg.testing.check_grads(half_sq_dist, ([1.0, 2.0],), order=2)


def test_an_optimizer_step_is_one_line() -> None:
    params = nn.init_mlp(__import__("random").Random(0), [2, 3, 1])
    grads = tg.tree_map(lambda p: 0.5 * p, params)
    stepped = tg.tree_sub(params, tg.tree_scale(grads, 0.1))
    assert stepped == nn.sgd_step(params, grads, 0.1)


# -- the fast paths agree with the general walk ---------------------------------------------------

_leaf = st.one_of(st.floats(allow_nan=False, width=64), st.integers(-5, 5))
_trees = st.recursive(
    _leaf,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.sampled_from("abc"), kids, max_size=3), st.tuples(kids, kids)),
    max_leaves=20,
)


@settings(max_examples=60)
@given(st.one_of(_trees, st.lists(st.lists(_leaf, max_size=3), max_size=4)))
def test_flatten_without_paths_equals_the_walk_with_paths(tree: Any) -> None:
    # Without paths, lists of floats and lists of such rows take shortcuts
    # (shared shapes, one loop); with paths every node is visited. Same result.
    fast_leaves, fast_def, _ = flatten(tree, "t", with_paths=False)
    slow_leaves, slow_def, paths = flatten(tree, "t")
    assert fast_leaves == slow_leaves and fast_def == slow_def and len(paths) == len(slow_leaves)
    assert unflatten(fast_def, fast_leaves) == unflatten(slow_def, slow_leaves)


@settings(max_examples=60)
@given(_trees, st.floats(0.0, 2.0))
def test_sgd_step_equals_tree_map_on_any_tree(tree: Any, lr: float) -> None:
    # (a negative lr is refused, as the optimizers refuse it: see test_sgd_step_checks_its_learning_rate)
    # sgd_step walks plain floats in lists and dicts itself, and leaves the rest to tree_map.
    grads = tg.tree_map(lambda v: v * 0.5 + 1.0, tree)
    expected = tg.tree_map(lambda p, g: p - lr * g, tree, grads)
    assert nn.sgd_step(tree, grads, lr) == expected


def test_sgd_step_names_both_shapes_when_they_differ() -> None:
    with pytest.raises(ValueError, match=r"tree_map: tree 1 has shape \{'w': \[\*\]\}, but the first tree has shape \{'w': \[\*, \*\]\}"):
        nn.sgd_step({"w": [1.0, 2.0]}, {"w": [1.0]}, 0.1)


def test_sgd_step_with_a_traced_or_batched_learning_rate() -> None:
    # The learning rate may itself be traced (jit of a step that takes it, grad with
    # respect to it) or batched (vmap over learning rates): the general walk takes those.
    params: dict[str, Any] = {"w": [1.0, 2.0], "b": 0.5}
    grads: dict[str, Any] = {"w": [0.5, -1.0], "b": 2.0}
    assert tg.grad(lambda lr: nn.sgd_step(params, grads, lr)["b"])(0.1) == -2.0
    step = tg.jit(lambda p, g, lr: nn.sgd_step(p, g, lr))
    assert step(params, grads, 0.1) == step(params, grads, 0.1) == nn.sgd_step(params, grads, 0.1)
    mapped = tg.vmap(lambda lr: nn.sgd_step(params, grads, lr)["b"], backend="python")([0.1, 0.2])
    assert list(mapped) == [0.5 - 0.1 * 2.0, 0.5 - 0.2 * 2.0]


def test_only_short_float_lists_share_their_shape() -> None:
    # Sharing is for rows of data and weights; a long list must not stay in memory for good.
    from tapegrad.core import tree

    short = flatten([0.5] * 8, "t", with_paths=False)[1]
    assert short is flatten([1.5] * 8, "t", with_paths=False)[1]
    flatten([0.5] * (tree._SHARED_UP_TO + 1000), "t", with_paths=False)
    assert tree._SHARED_UP_TO + 1000 not in tree._FLOAT_LISTS
