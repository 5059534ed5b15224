"""Parameter trees: nested lists, tuples, named tuples and dicts with scalar leaves.

Layer 2 of tapegrad (``tapegrad/core``), beside the traced values it flattens.

``flatten`` turns a tree into a list of leaves plus a :class:`TreeDef` that
remembers the shape; ``unflatten`` puts new leaves back into the same shape.
Every leaf carries a path such as ``params[1]['w'][3]``, which is what the
error messages name when a leaf is not a number.

Dicts are visited in sorted key order (as JAX does), so a dict's shape does
not depend on the order its keys were inserted: a gradient or a cotangent
built in another order still matches. Rebuilt dicts keep the insertion
order of the tree they were flattened from.

The public leaf-wise utilities built on these (``tree_map``, ``tree_add``,
...) are in :mod:`tapegrad.core.tree_utils`.
"""

from __future__ import annotations

import collections
import itertools
import sys
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar, Union, cast, overload

import attrs

from tapegrad.core.batch import Batch
from tapegrad.core.traced import Traced

T = TypeVar("T")


@attrs.frozen(cache_hash=True)
class TreeDef:
    """The shape of a tree: its node kinds, dict keys and leaf count."""

    kind: str  # "leaf", "list", "tuple", "namedtuple", "dict" or "ndarray"
    children: tuple[TreeDef, ...] = ()
    keys: tuple[Any, ...] = ()
    node_type: Optional[type] = None
    num_leaves: int = 1
    # What else rebuilding the node needs: a defaultdict's default_factory.
    node_data: Any = None
    # A dict's keys in insertion order, to rebuild it that way. Not part of
    # the shape: ``keys`` (sorted) is.
    key_order: tuple[Any, ...] = attrs.field(default=(), eq=False)
    # Whether any node below is a dict (derived from the children, so it
    # needs no part in equality); lets key_orders() skip dict-free subtrees.
    has_dict: bool = attrs.field(default=False, eq=False)
    # A NumPy array's dtype, to rebuild it with. Not part of the shape: a
    # float64 cotangent fits a float32 array, and an array of traced scalars
    # (dtype object) has the shape of the array it stands for.
    dtype: Any = attrs.field(default=None, eq=False)
    # A list whose children are all leaves (a weight row, a data point):
    # unflatten takes its leaves in one slice. Derived, so not in equality.
    leaf_list: bool = attrs.field(default=False, eq=False)

    def key_orders(self) -> tuple[tuple[Any, ...], ...]:
        """The insertion order of every dict in the tree, in traversal order.

        Two trees of the same shape may still differ here, and a function
        that iterates over ``.values()`` sees the difference (jit keys its
        cache with it). Cheap for trees without dicts: it returns ``()``.
        """
        if not self.has_dict:
            return ()
        out: list[tuple[Any, ...]] = []
        stack: list[TreeDef] = [self]
        while stack:
            node = stack.pop()
            if node.kind == "dict":
                out.append(node.key_order)
            stack.extend(reversed([c for c in node.children if c.has_dict]))
        return tuple(out)

    def __str__(self) -> str:
        if self.kind == "leaf":
            return "*"
        inner = ", ".join(str(c) for c in self.children)
        if self.kind == "list":
            return f"[{inner}]"
        if self.kind == "ndarray":
            return f"array(shape={self.node_data})"
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, self.children)) + "}"
        if self.kind == "namedtuple" and self.node_type is not None:
            return f"{self.node_type.__name__}({inner})"
        return f"({inner}{',' if len(self.children) == 1 else ''})"


def _sorted_keys(d: dict[Any, Any]) -> tuple[Any, ...]:
    """A dict's keys in sorted order, so that two dicts with the same keys have the same shape.

    (A gradient or cotangent built in another order must still match its
    parameters.) Keys that cannot be compared keep their insertion order.
    """
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(d)


def _is_namedtuple(x: object) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


_LEAF = TreeDef("leaf")


def any_leaf(_: Any) -> bool:
    """An ``allow`` for :func:`flatten` that keeps every leaf as it is, ints included (jit's outputs)."""
    return True


def flatten(
    tree: Any,
    name: str = "params",
    *,
    allow: Callable[[Any], bool] | None = None,
    with_paths: bool = True,
) -> tuple[list[Any], TreeDef, list[str]]:
    """Leaves (ints converted to floats), the tree's shape, and each leaf's path.

    A leaf must be an int or float (not a bool) or a traced scalar; anything
    else raises a TypeError naming the leaf's path. ``allow`` may accept
    further leaf types (used for aux values, which are not differentiated).
    With ``with_paths=False`` no path strings are built (the list comes back
    empty), which is much cheaper; an error message still names the path.
    """
    try:
        try:
            return _flatten(tree, name if with_paths else None, allow)
        except _BadLeaf:
            # Walk again, this time building paths, to say where the bad leaf is.
            _flatten(tree, name, allow)
            raise AssertionError("unreachable: the second walk raises")  # pragma: no cover
    except RecursionError:
        raise too_deep_error(name) from None


def too_deep_error(name: str) -> ValueError:
    """The error for a tree nested past the recursion limit (or containing itself), naming the argument."""
    return ValueError(
        f"{name}: the tree is nested more deeply than Python's recursion limit "
        f"({sys.getrecursionlimit()}) allows, or it contains itself; "
        "parameter trees must be finite nestings of lists, tuples and dicts"
    )


class _BadLeaf(TypeError):
    pass


# The walkers below are module-level functions that pass their accumulators
# explicitly. A nested function that calls itself keeps a reference to
# itself through its closure cell: that cycle (and every leaf it holds, traced
# scalars and so their whole tape included) would then live until the next
# garbage collection instead of being freed at once.


# The shape of a list of n floats, shared for n up to _SHARED_UP_TO (rows of
# data and weights are short; sharing every length ever seen would keep an
# n-tuple per length alive for good).
_SHARED_UP_TO = 64
_FLOAT_LISTS: dict[int, TreeDef] = {}
_FLOAT_ONLY = {float}


def _float_list(n: int) -> TreeDef:
    shape = _FLOAT_LISTS.get(n)
    if shape is None:
        shape = TreeDef("list", (_LEAF,) * n, num_leaves=n, leaf_list=True)
        if n <= _SHARED_UP_TO:
            _FLOAT_LISTS[n] = shape
    return shape


def _flatten(tree: Any, name: Optional[str], allow: Callable[[Any], bool] | None) -> tuple[list[Any], TreeDef, list[str]]:
    leaves: list[Any] = []
    paths: list[str] = []
    treedef = _walk(tree, name, allow, leaves, paths)
    return leaves, treedef, paths


def _walk(node: Any, path: Optional[str], allow: Callable[[Any], bool] | None, leaves: list[Any], paths: list[str]) -> TreeDef:
    """The shape of ``node``; its leaves (and, when ``path`` is given, their paths) are appended."""
    cls = node.__class__
    if cls is float or cls is Traced or isinstance(node, Batch):  # the common case first; a batch is one leaf
        leaves.append(node)
        if path is not None:
            paths.append(path)
        return _LEAF
    if cls is BatchedResult:
        return _walk_batched(node, path, allow, leaves, paths)
    if cls is list and path is None:
        # A list of floats (a weight row, a data point): no need to visit each
        # leaf, and its shape is one shared object per length, so that jit's
        # cache key hashes and compares it by identity on every call. A list
        # of such rows (a data set, a weight matrix) is done in one loop.
        if all(v.__class__ is float for v in node):
            leaves.extend(node)
            return _float_list(len(node))
        if all(v.__class__ is list for v in node):
            rows: list[TreeDef] = []
            for v in node:
                if v and {*map(type, v)} == _FLOAT_ONLY:
                    leaves.extend(v)
                    rows.append(_float_list(len(v)))
                else:
                    rows.append(_walk(v, None, allow, leaves, paths))
            return TreeDef("list", tuple(rows), num_leaves=sum(c.num_leaves for c in rows), has_dict=any(c.has_dict for c in rows))
    if isinstance(node, dict):
        keys = _sorted_keys(node)
        children = tuple(_walk(node[k], None if path is None else f"{path}[{k!r}]", allow, leaves, paths) for k in keys)
        factory = node.default_factory if isinstance(node, collections.defaultdict) else None
        return TreeDef("dict", children, keys, type(node), sum(c.num_leaves for c in children), factory, tuple(node), True)
    if isinstance(node, list):
        children = tuple(_walk(v, None if path is None else f"{path}[{i}]", allow, leaves, paths) for i, v in enumerate(node))
        return TreeDef(
            "list",
            children,
            num_leaves=sum(c.num_leaves for c in children),
            has_dict=any(c.has_dict for c in children),
            leaf_list=all(c is _LEAF for c in children),
        )
    if isinstance(node, tuple):
        kind = "namedtuple" if _is_namedtuple(node) else "tuple"
        children = tuple(_walk(v, None if path is None else f"{path}[{i}]", allow, leaves, paths) for i, v in enumerate(node))
        return TreeDef(
            kind, children, node_type=type(node), num_leaves=sum(c.num_leaves for c in children), has_dict=any(c.has_dict for c in children)
        )
    if cls is not int and hasattr(node, "dtype") and hasattr(node, "ndim"):
        return _walk_numpy(node, path, leaves, paths)
    if cls is int and allow is any_leaf:
        leaves.append(node)  # kept as it is: an int that a function returns stays an int
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        try:
            leaves.append(float(node))
        except OverflowError:
            if path is None:
                raise _BadLeaf() from None
            raise OverflowError(f"{path}: an int of {int(node).bit_length()} bits is too large to be a float (the largest float is about 1.8e308)") from None
    elif allow is not None and allow(node):
        leaves.append(node)
    elif path is None:
        raise _BadLeaf()
    else:
        raise TypeError(
            f"{path}: expected a float (or a list, tuple or dict of them), "
            f"got {type(node).__name__} {node!r:.60}"
        )
    if path is not None:
        paths.append(path)
    return _LEAF


def _walk_batched(node: BatchedResult, path: Optional[str], allow: Callable[[Any], bool] | None, leaves: list[Any], paths: list[str]) -> TreeDef:
    """vmap's result: one leaf per output leaf, each holding the whole batch.

    A column vmap computed example by example is a plain list: its values are
    leaves one by one (as one leaf, a list of traced scalars would look like a
    constant to a transform, whose derivative is then 0).
    """
    columns = []
    for k, column in enumerate(node.leaves):
        if column.__class__ is list:
            columns.append(_walk(column, None if path is None else f"{path}.leaves[{k}]", allow, leaves, paths))
        else:
            leaves.append(column)
            if path is not None:
                paths.append(f"{path}.leaves[{k}]")
            columns.append(_LEAF)
    return TreeDef("batched", tuple(columns), node_data=(node.treedef, len(node)), num_leaves=sum(c.num_leaves for c in columns))


def _walk_numpy(node: Any, path: Optional[str], leaves: list[Any], paths: list[str]) -> TreeDef:
    """A NumPy scalar (a leaf) or array (a node with one leaf per element, in C order).

    Recognised by its ``dtype`` and ``ndim`` rather than by importing NumPy:
    tapegrad never imports it, and only meets it when the caller passed one.
    Only real numbers qualify (dtype kinds f, i, u, and object arrays holding
    floats or traced scalars); a bool or complex array is rejected like any
    other non-number.
    """
    kind = getattr(node.dtype, "kind", None)
    if kind == "O" and node.ndim > 0:
        # An array of objects: what a transform gives a function for an
        # array argument (traced scalars), seen again by a nested transform,
        # or one example's array under vmap (a batch in each cell).
        values = list(node.ravel().tolist())
        if all(v.__class__ is Traced or v.__class__ is float or isinstance(v, Batch) for v in values):
            return _array_node(node, values, path, leaves, paths)
    if kind not in ("f", "i", "u"):
        if path is None:
            raise _BadLeaf()
        raise TypeError(f"{path}: expected real numbers, got a NumPy {type(node).__name__} of dtype {node.dtype}")
    if node.ndim == 0:
        leaves.append(float(node))
        if path is not None:
            paths.append(path)
        return _LEAF
    return _array_node(node, [float(v) for v in node.ravel().tolist()], path, leaves, paths)


def _array_node(node: Any, values: list[Any], path: Optional[str], leaves: list[Any], paths: list[str]) -> TreeDef:
    leaves.extend(values)
    if path is not None:
        shape = node.shape
        for position in range(len(values)):  # in C order
            index = []
            for size in reversed(shape):
                position, i = divmod(position, size)
                index.append(str(i))
            paths.append(f"{path}[{', '.join(reversed(index))}]")
    # node_data: the shape to rebuild the array with.
    return TreeDef("ndarray", (_LEAF,) * len(values), node_type=type(node), num_leaves=len(values), node_data=tuple(node.shape), dtype=node.dtype)


def _build_ndarray(td: TreeDef, kids: list[Any]) -> Any:
    """An array of the recorded shape: floats in the original float dtype (float64 for an
    integer array), anything else (traced scalars) in an array of dtype object."""
    np = sys.modules["numpy"]  # present: the tree being rebuilt came from a NumPy array
    shape, dtype = td.node_data, td.dtype
    if all(k.__class__ is float for k in kids):
        return np.asarray(kids, dtype=dtype if dtype.kind == "f" else np.float64).reshape(shape)
    out = np.empty(len(kids), dtype=object)
    out[:] = kids
    return out.reshape(shape)


def unflatten(treedef: TreeDef, leaves: Sequence[Any]) -> Any:
    """Build a tree of shape ``treedef`` from ``leaves`` (in flatten's order)."""
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree {treedef} has {treedef.num_leaves} leaves, got {len(leaves)}")
    try:
        return _build(treedef, iter(leaves))
    except RecursionError:
        raise too_deep_error("tree") from None


def _build(td: TreeDef, it: Iterator[Any]) -> Any:
    if td.kind == "leaf":
        return next(it)
    if td.leaf_list:
        return list(itertools.islice(it, td.num_leaves))
    kids = [_build(c, it) for c in td.children]
    if td.kind == "ndarray":
        return _build_ndarray(td, kids)
    if td.kind == "list":
        return kids
    if td.kind == "batched":
        example, size = td.node_data
        # A jit replay rebuilds the output for the batch it was given, whose size may differ from the trace's.
        size = next((len(k) for k in kids if isinstance(k, Batch)), size)
        return BatchedResult(example, kids, size)
    if td.kind == "dict":
        by_key = dict(zip(td.keys, kids))
        return _rebuild_dict(td, {k: by_key[k] for k in td.key_order} if td.key_order else by_key)
    if td.kind == "namedtuple":
        return cast(Any, td.node_type)(*kids)
    return tuple(kids)


def _rebuild_dict(td: TreeDef, items: dict[Any, Any]) -> Any:
    """A dict of the same type as the original (OrderedDict, defaultdict, ...)."""
    node_type = td.node_type
    if node_type is None or node_type is dict:
        return items
    if issubclass(node_type, collections.defaultdict):
        return cast(Any, node_type)(td.node_data, items)
    try:
        return cast(Any, node_type)(items)
    except TypeError as exc:
        raise TypeError(f"cannot rebuild a {node_type.__name__} from its items; use a plain dict for parameters") from exc


class BatchedResult(Sequence[Any]):
    """What a vmapped function returns: the per-example outputs, kept as batches.

    It compares equal to, and iterates like, the list of per-example outputs
    ``[f(*args_i) for each example i]``, each shaped like ``f``'s output. It
    stores one batched value per output leaf (``leaves``; ``treedef`` is one
    example's shape), so under a transform it stays one batched value:
    reduce it with :func:`tapegrad.sum` or :func:`tapegrad.mean`, or return it.
    """

    __slots__ = ("treedef", "leaves", "_size")

    def __init__(self, treedef: TreeDef, leaves: Sequence[Any], size: int) -> None:
        self.treedef = treedef
        self.leaves = list(leaves)
        self._size = size

    def __len__(self) -> int:
        return self._size

    @property
    def columns(self) -> Any:
        """The output in column form: one example's shape, each leaf holding that output for every example.

        ``losses, hits = tg.vmap(f)(X).columns`` splits a pair of outputs;
        each can be reduced with :func:`tapegrad.mean`, also under a transform.
        """
        return unflatten(self.treedef, self.leaves)

    def _leaves_by_example(self) -> list[list[Any]]:
        """Every output leaf as a list with one value per example (the rows are read across them)."""
        return [_by_example(leaf, self._size) for leaf in self.leaves]

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: Union[int, slice]) -> Any:
        columns = self._leaves_by_example()
        rows = list(zip(*columns)) if columns else [()] * self._size
        if isinstance(i, slice):
            return [unflatten(self.treedef, list(r)) for r in rows[i]]
        return unflatten(self.treedef, list(rows[i]))

    def __iter__(self) -> Iterator[Any]:
        columns = self._leaves_by_example()
        rows = zip(*columns) if columns else iter([()] * self._size)
        return (unflatten(self.treedef, list(r)) for r in rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (BatchedResult, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BatchedResult({list(self)!r})"


def _by_example(leaf: Any, size: int) -> list[Any]:
    """One output leaf, example by example."""
    if isinstance(leaf, Batch):
        return leaf.values()
    if isinstance(leaf, list):  # already one value per example (see vmap's per-example fallback)
        return leaf
    if leaf.__class__ is Traced:
        if leaf._t._live is not None:
            raise TypeError(
                "taking one example out of a batched result while a transform traces it would undo the "
                "batching: reduce it with tapegrad.sum or tapegrad.mean, or return it from the function"
            )
        raise TypeError("a batched result escaped the transform that traced it; return it from that function")
    return [leaf] * size


def leaves(tree: Any) -> list[Any]:
    """The scalar leaves of ``tree``, in order."""
    return flatten(tree, "tree", with_paths=False)[0]
