"""Leaf-wise operations on parameter trees: tree_map, tree_add, tree_sub, tree_scale, tree_dot, and the like.

Layer 2 of tapegrad (``tapegrad/core``), above :mod:`tapegrad.core.tree`,
which takes trees apart and puts them back; these are the public utilities
built on it, so that an optimizer step reads as one line.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from tapegrad.core.batch import Batch
from tapegrad.core.traced import Traced
from tapegrad.core.tree import TreeDef, flatten, leaves, unflatten

T = TypeVar("T")


def tree_map(fn: Callable[..., Any], tree: T, *rest: Any) -> T:
    """Apply ``fn`` leaf by leaf to trees of the same shape; return the same shape.

    The trees are never modified: a new tree is built. Mismatched shapes
    raise a ValueError saying which trees differ and how.
    """
    first, treedef, _ = flatten(tree, "tree", with_paths=False)
    others = []
    for k, other in enumerate(rest, start=1):
        lv, td, _ = flatten(other, f"tree{k}", with_paths=False)
        if td != treedef:
            raise ValueError(f"tree_map: tree {k} has shape {td}, but the first tree has shape {treedef}")
        others.append(lv)
    return unflatten(treedef, [fn(*xs) for xs in zip(first, *others)])  # type: ignore[no-any-return]


# -- public tree utilities ---------------------------------------------------------------------------
#
# Small leaf-wise operations, so that an optimizer step reads as one line
# (``tree_sub(params, tree_scale(grads, lr))``). Each builds a new tree; the
# inputs are never modified. Two-tree operations check that the shapes agree
# and name both shapes when they do not.


def tree_leaves(tree: Any) -> list[Any]:
    """The scalar leaves of ``tree``, in flatten order (dict keys sorted)."""
    return leaves(tree)


def tree_flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """The leaves of ``tree`` and its shape, for :func:`tree_unflatten`."""
    lv, treedef, _ = flatten(tree, "tree", with_paths=False)
    return lv, treedef


def tree_unflatten(treedef: TreeDef, leaves: Sequence[Any]) -> Any:
    """The tree of shape ``treedef`` holding ``leaves`` (in :func:`tree_flatten`'s order)."""
    if not isinstance(treedef, TreeDef):
        raise TypeError(
            f"tree_unflatten: the first argument must be a tree shape, the TreeDef that tree_flatten returns "
            f"(leaves, treedef = tree_flatten(tree)), got {type(treedef).__name__} {treedef!r:.60}"
        )
    if isinstance(leaves, (str, bytes)) or not hasattr(leaves, "__len__"):
        raise TypeError(f"tree_unflatten: leaves must be a sequence of leaves, got {type(leaves).__name__} {leaves!r:.60}")
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree_unflatten: the shape {treedef} has {treedef.num_leaves} leaves, got {len(leaves)}")
    return unflatten(treedef, leaves)


def _two_trees(name: str, a: Any, b: Any) -> tuple[list[Any], list[Any], TreeDef]:
    """Leaves of two trees that must have the same shape (a ValueError names both shapes otherwise)."""
    la, ta, _ = flatten(a, "a", with_paths=False)
    lb, tb, _ = flatten(b, "b", with_paths=False)
    if ta != tb:
        # Shapes that print alike differ in a container's type (a dict and an OrderedDict, say).
        why = " (their containers are of different types)" if str(ta) == str(tb) else ""
        raise ValueError(f"{name}: the trees have different shapes: the first is {ta}, the second is {tb}{why}")
    return la, lb, ta


def tree_add(a: T, b: T) -> T:
    """``a + b`` leaf by leaf, for two trees of the same shape."""
    la, lb, td = _two_trees("tree_add", a, b)
    return unflatten(td, [x + y for x, y in zip(la, lb)])  # type: ignore[no-any-return]


def tree_sub(a: T, b: T) -> T:
    """``a - b`` leaf by leaf, for two trees of the same shape."""
    la, lb, td = _two_trees("tree_sub", a, b)
    return unflatten(td, [x - y for x, y in zip(la, lb)])  # type: ignore[no-any-return]


def tree_scale(tree: T, factor: Any) -> T:
    """Every leaf of ``tree`` multiplied by the scalar ``factor`` (a float or a traced scalar)."""
    if isinstance(factor, (list, tuple, dict)):
        raise TypeError(f"tree_scale: factor must be a scalar, got a {type(factor).__name__}; use tree_map for leaf-wise products")
    numpy_number = getattr(getattr(factor, "dtype", None), "kind", None) in ("i", "u", "f") and getattr(factor, "ndim", 1) == 0
    if isinstance(factor, bool) or not (isinstance(factor, (int, float, Traced, Batch)) or numpy_number):
        raise TypeError(f"tree_scale: factor must be a number (a float, an int or a traced scalar), got {type(factor).__name__} {factor!r:.60}")
    lv, td = tree_flatten(tree)
    return unflatten(td, [factor * x for x in lv])  # type: ignore[no-any-return]


def tree_dot(a: T, b: T) -> float | Traced:
    """The sum of the leaf-wise products of two trees of the same shape (0.0 for empty trees).

    The result is a float, or a traced scalar when a leaf is traced, so it
    can appear inside a differentiated function.
    """
    la, lb, _ = _two_trees("tree_dot", a, b)
    total: float | Traced = 0.0
    for x, y in zip(la, lb):
        total = total + x * y
    return total


def tree_zeros_like(tree: T) -> T:
    """A tree of the same shape as ``tree`` with every leaf 0.0."""
    lv, td = tree_flatten(tree)
    return unflatten(td, [0.0] * len(lv))  # type: ignore[no-any-return]
