"""vmap: run a per-example function once, on whole batches.

Layer 4 of tapegrad (``tapegrad/transforms``).

``tg.vmap(f, in_axes=(None, 0, 0))(params, X, Y)`` computes
``[f(params, X[i], Y[i]) for i in range(len(X))]`` by running ``f`` once,
with each leaf of ``X`` and ``Y`` replaced by a :class:`Batch` holding that
leaf for every example (its *column*). Every operation then works on whole
batches (:mod:`tapegrad.core.batch`), so a tape records one example's
program whatever the batch size, and each record costs one vectorized
operation.

Where a batched value meets an unbatched one (a parameter times a batch of
inputs) the unbatched value is used for every example: broadcasting. Its
transpose is a sum: a tape opened *outside* the vmap (``grad`` of the mean
loss) adds up the batched adjoints that reach its unbatched inputs
(:class:`tapegrad.transforms.grad.TracedInputs`), while a tape opened
*inside* it (``vmap(grad(f))``) keeps them per example, which gives
per-example gradients.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Literal, Optional, Sequence, Union, overload

from tapegrad.core import functions
from tapegrad.core.batch import Batch, BoolBatch, batch_of, numpy_available, vmap_scope
from tapegrad.core.rule_table import batch_mean_p, batch_sum_p, spread_p
from tapegrad.core.tape import value_of
from tapegrad.core.traced import Scalar, Traced, bind, holds_batch
from tapegrad.core.tree import BatchedResult, TreeDef, flatten, too_deep_error, unflatten
from tapegrad.transforms.grad import _arg_names, _fname

Axes = Union[Optional[int], Sequence[Optional[int]]]


def _backend(backend: str) -> str:
    if backend not in ("auto", "python", "numpy"):
        raise ValueError(f"vmap: backend must be 'auto', 'python' or 'numpy', got {backend!r}")
    if backend == "auto":
        return "numpy" if numpy_available() else "python"
    if backend == "numpy" and not numpy_available():
        raise ImportError("vmap(backend='numpy') needs NumPy: pip install 'tapegrad[numpy]', or use backend='python'")
    return backend


def _axes(in_axes: Axes, n: int, fname: str) -> tuple[Optional[int], ...]:
    if in_axes is None or isinstance(in_axes, int):
        axes: tuple[Optional[int], ...] = (in_axes,) * n
    elif isinstance(in_axes, (tuple, list)):
        axes = tuple(in_axes)
        if len(axes) != n:
            raise ValueError(f"vmap({fname}): in_axes has {len(axes)} entries but the function was called with {n} positional argument(s)")
    else:
        raise TypeError(f"vmap({fname}): in_axes must be 0, None, or a tuple of them (one per argument), got {in_axes!r}")
    for k, a in enumerate(axes):
        if a is not None and (isinstance(a, bool) or a != 0):
            raise ValueError(f"vmap({fname}): in_axes[{k}] is {a!r}; only 0 (map over the first axis) and None (broadcast) are supported")
    if all(a is None for a in axes):
        raise ValueError(f"vmap({fname}): every in_axes entry is None, so nothing is mapped over; mark the batched arguments with 0")
    return axes


def _is_array(x: Any) -> bool:
    return hasattr(x, "__array__") and hasattr(x, "ndim") and hasattr(x, "shape")


def _not_a_sequence(arg: Any, name: str) -> TypeError:
    return TypeError(
        f"vmap: {name} is mapped over (in_axes 0) but is a {type(arg).__name__}, not a sequence of examples; "
        "pass a list with one entry per example, a NumPy array, or use in_axes=None to give every example the same value"
    )


def _columns(arg: Any, name: str, backend: str) -> tuple[Any, int]:
    """:func:`_columns_of`, with a tree nested too deeply (or containing itself) named, not a bare RecursionError."""
    try:
        return _columns_of(arg, name, backend)
    except RecursionError:
        raise too_deep_error(name) from None


def _columns_of(arg: Any, name: str, backend: str) -> tuple[Any, int]:
    """A batched argument in column form (one example's shape, a Batch per leaf) and its batch size.

    Accepts a sequence of per-example trees of one structure, a Batch, a
    1-D NumPy array (one number per example), a 2-D one (one row per
    example), or a tree whose leaves are already columns (Batch or 1-D
    arrays). A column may hold traced scalars (the data came from an outer
    transform); it is then a plain list, and vmap runs example by example.
    """
    if holds_batch(arg):
        return arg, _column_size(arg)
    if _is_array(arg) and getattr(arg, "dtype", None) is not None and arg.dtype.kind == "O":
        # An array of traced scalars (jit or grad traced a NumPy argument number by number).
        return _TRACED_DATA, len(arg)
    if _is_array(arg):
        if arg.ndim == 1:
            return _checked_size(batch_of(arg, backend), name)
        if arg.ndim == 2:
            cols = [batch_of(arg[:, j], backend) for j in range(arg.shape[1])]
            return _checked_size(cols, name)
        raise ValueError(f"vmap: {name} is a {arg.ndim}-D array; give one example per row (1-D or 2-D), or a list of per-example trees")
    # Column form: one example's shape with a column at every leaf (from tg.batch, or 1-D arrays).
    try:
        leaves, treedef, paths = flatten(_arrays_as_columns(arg, backend), name, allow=holds_batch)
    except TypeError:
        if isinstance(arg, (list, tuple, dict)):
            raise  # a tree with a bad leaf: flatten's message names it
        raise _not_a_sequence(arg, name) from None
    if leaves and all(holds_batch(v) for v in leaves):
        cols = leaves
        sizes = {p: _column_size(c) for p, c in zip(paths, cols)}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"vmap: the columns of {name} have different lengths: {sizes}")
        return unflatten(treedef, cols), _column_size(cols[0])
    if not isinstance(arg, (list, tuple)):
        raise _not_a_sequence(arg, name)
    n = len(arg)
    if n == 0:
        raise ValueError(f"vmap: {name} is an empty batch; vmap needs at least one example")
    if all(v.__class__ is float or (isinstance(v, int) and not isinstance(v, bool)) for v in arg):
        return batch_of(arg, backend), n  # one number per example: a single column
    if all(v.__class__ is Traced for v in arg):
        return _TRACED_DATA, n
    first = arg[0]
    if first.__class__ is list and all(v.__class__ is list and len(v) == len(first) for v in arg):
        rows = list(zip(*arg))  # one column per position of the per-example lists
        if all(all(x.__class__ is float for x in col) for col in rows):
            return [batch_of(col, backend) for col in rows], n
    # The general case: flatten every example and check they share one shape.
    leaves0, treedef0, paths0 = flatten(first, f"{name}[0]")
    columns: list[list[Any]] = [[v] for v in leaves0]
    for i in range(1, n):
        leaves, treedef, paths = flatten(arg[i], f"{name}[{i}]")
        if treedef != treedef0:
            raise ValueError(
                f"vmap: example {i} of {name} has shape {treedef} but example 0 has shape {treedef0}"
                f"{_first_difference(paths0, paths, name, i)}; every example of a batched argument needs the same structure"
            )
        for col, v in zip(columns, leaves):
            col.append(v)
    if any(v.__class__ is Traced for col in columns for v in col):
        return _TRACED_DATA, n  # traced data: vmap will run example by example
    return unflatten(treedef0, [batch_of(col, backend) for col in columns]), n


# Returned by _columns for data that an outer transform traces leaf by leaf.
_TRACED_DATA: Any = object()


def _arrays_as_columns(tree: Any, backend: str) -> Any:
    """The tree with each 1-D NumPy array in it replaced by a batch (its column); nothing else changes."""
    if _is_array(tree):
        return batch_of(tree, backend) if tree.ndim == 1 else tree
    if isinstance(tree, dict) and any(_is_array(v) or isinstance(v, (dict, list, tuple)) for v in tree.values()):
        return {k: _arrays_as_columns(v, backend) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)) and any(_is_array(v) or isinstance(v, (dict, list, tuple)) for v in tree):
        items = [_arrays_as_columns(v, backend) for v in tree]
        return type(tree)(*items) if hasattr(type(tree), "_fields") else type(tree)(items)
    return tree


def _column_size(v: Any) -> int:
    under = value_of(v)
    return len(under) if isinstance(under, Batch) else 1


def _first_difference(paths0: Sequence[str], paths: Sequence[str], name: str, i: int) -> str:
    strip0 = [p[len(f"{name}[0]") :] for p in paths0]
    strip = [p[len(f"{name}[{i}]") :] for p in paths]
    missing = [p for p in strip0 if p not in strip]
    extra = [p for p in strip if p not in strip0]
    if missing:
        return f" (example {i} has no leaf {name}[{i}]{missing[0]})"
    if extra:
        return f" (example {i} has a leaf {name}[{i}]{extra[0]} that example 0 lacks)"
    return ""


def _checked_size(cols: Any, name: str) -> tuple[Any, int]:
    first = cols[0] if isinstance(cols, list) else cols
    n = len(first)
    if n == 0:
        raise ValueError(f"vmap: {name} is an empty batch; vmap needs at least one example")
    return cols, n


def _broadcast(leaf: Any, like: Any, fname: str) -> Any:
    """An output leaf as one value per example: an unbatched result is the same for every example.

    ``like`` is a column of the mapped data. The copies are made by a
    ``spread`` record that reads it (its transpose sums), so under jit the
    number of copies is the replayed batch's size, never the traced one's.
    """
    if isinstance(leaf, Batch):
        return leaf
    if isinstance(leaf, BoolBatch):
        return leaf.mask
    if leaf.__class__ is Traced and holds_batch(leaf):
        return leaf
    if leaf.__class__ is Traced or (isinstance(leaf, (int, float)) and not isinstance(leaf, bool)):
        return bind(spread_p, (leaf if leaf.__class__ is Traced else float(leaf), like))
    raise TypeError(f"vmap({fname}): an output leaf is a {type(leaf).__name__}; vmapped functions return scalars or trees of them")


def _size_source(columns: Sequence[Any]) -> Any:
    """A column of the mapped data to read the batch size from: one traced by jit if there is one."""
    leaves = [v for c in columns for v in flatten(c, "data", allow=holds_batch, with_paths=False)[0] if holds_batch(v)]
    return next((v for v in leaves if v.__class__ is Traced), leaves[0])


@overload
def vmap(f: Callable[..., Any], in_axes: Axes = 0, out_axes: Literal[0] = 0, backend: str = "auto") -> Callable[..., BatchedResult]: ...
@overload
def vmap(f: Callable[..., Any], in_axes: Axes = 0, *, out_axes: None, backend: str = "auto") -> Callable[..., Any]: ...
def vmap(f: Callable[..., Any], in_axes: Axes = 0, out_axes: Optional[int] = 0, backend: str = "auto") -> Callable[..., Any]:
    """Map ``f`` over a batch: ``vmap(f)(X)`` is like ``[f(x) for x in X]``, computed on whole batches.

    ``in_axes`` is 0 (mapped) or None (the same value for every example)
    for each positional argument, or one of them for all. A mapped argument
    is a sequence of per-example trees of one structure (a list of points, a
    list of floats), a 1-D or 2-D NumPy array, or a tree whose leaves are
    columns (:func:`batch`). Keyword arguments are passed to every example.

    The result is a :class:`~tapegrad.core.tree.BatchedResult`: it compares
    equal to the list of per-example outputs and iterates like it; under a
    transform it stays one batched value per output leaf, which
    :func:`sum` and :func:`mean` reduce with one record. With
    ``out_axes=None`` the output must be the same for every example and is
    returned as it is.

    ``backend`` stores the batches: "numpy" (NumPy arrays, the optional
    ``numpy`` extra), "python" (lists of floats), or "auto" (NumPy when it
    can be imported).
    """
    fname = _fname(f)
    chosen = _backend(backend)
    if out_axes not in (0, None) or isinstance(out_axes, bool):
        raise ValueError(f"vmap({fname}): out_axes must be 0 or None, got {out_axes!r}")
    names = _arg_names(f)

    @functools.wraps(f)
    def vmapped(*args: Any, **kwargs: Any) -> Any:
        axes = _axes(in_axes, len(args), fname)
        new_args = list(args)
        size: Optional[int] = None
        sized_by = ""
        per_example = False
        for k, (arg, axis) in enumerate(zip(args, axes)):
            if axis is None:
                continue
            name = names[k] if k < len(names) else f"args[{k}]"
            cols, n = _columns(arg, name, chosen)
            if size is None:
                size, sized_by = n, name
            elif n != size:
                raise ValueError(f"vmap({fname}): {name} has {n} examples but {sized_by} has {size}; mapped arguments need the same length")
            new_args[k] = cols
            per_example = per_example or cols is _TRACED_DATA
        assert size is not None  # _axes makes sure something is mapped
        if per_example:
            if any(_jit_traced(a) for a, axis in zip(args, axes) if axis is not None):
                raise TypeError(
                    f"vmap({fname}) inside jit: the mapped data reached jit as separate numbers (a list or an array), so every "
                    "example would be traced on its own. Pass the data as columns, tapegrad.batch(X), to the "
                    "jitted function: each column is then one input, and the trace is one example's program"
                )
            return _one_by_one(f, args, axes, kwargs, size, out_axes, fname)
        with vmap_scope():
            out = f(*new_args, **kwargs)
        leaves, treedef, _ = flatten(out, "output", allow=lambda v: isinstance(v, (Batch, BoolBatch)))
        if out_axes is None:
            if any(holds_batch(v) for v in leaves):
                raise ValueError(f"vmap({fname}, out_axes=None): the output differs from example to example; use out_axes=0")
            return out
        like = _size_source([c for c, axis in zip(new_args, axes) if axis is not None])
        return BatchedResult(treedef, [_broadcast(v, like, fname) for v in leaves], size)

    vmapped.__name__ = vmapped.__qualname__ = f"vmap({fname})"
    return vmapped


def _jit_traced(arg: Any) -> bool:
    leaves = flatten(arg, "data", allow=lambda v: True, with_paths=False)[0]
    return any(v.__class__ is Traced and v._t.jit for v in leaves)


def _one_by_one(
    f: Callable[..., Any], args: Sequence[Any], axes: Sequence[Optional[int]], kwargs: Any, size: int, out_axes: Optional[int], fname: str
) -> Any:
    """vmap for data traced by an outer transform: the examples run one at a time.

    A batch holds plain numbers; when the mapped data are themselves traced
    (jit traced them as its inputs, or grad differentiates with respect to
    them), each example is computed on its own and the per-example outputs
    are collected. Under jit, pass the data as :func:`batch` columns instead,
    so that the jit tape stays one example's program.
    """
    outputs = []
    for i in range(size):
        example = [arg[i] if axis is not None else arg for arg, axis in zip(args, axes)]
        outputs.append(f(*example, **kwargs))
    if out_axes is None:
        return outputs[0]
    flat = [flatten(o, f"output of example {i}", allow=lambda v: isinstance(v, Batch)) for i, o in enumerate(outputs)]
    treedef = flat[0][1]
    for i, (_, td, _) in enumerate(flat):
        if td != treedef:
            raise ValueError(f"vmap({fname}): example {i}'s output has shape {td} but example 0's has shape {treedef}")
    columns = [[lv[0][j] for lv in flat] for j in range(treedef.num_leaves)]
    return BatchedResult(treedef, columns, size)


def batch(data: Sequence[Any], backend: str = "auto") -> Any:
    """Data in column form: one example's shape, with a :class:`Batch` at each leaf.

    ``batch([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])`` is ``[Batch([0.1, 0.3,
    0.5]), Batch([0.2, 0.4, 0.6])]``. vmap accepts it wherever it accepts
    the list; :func:`tapegrad.jit` takes each column as one input, so a
    jitted step's program stays one example's, whatever the batch size
    (a plain list would make every number an input of its own).
    """
    cols, _ = _columns(data, "data", _backend(backend))
    return cols


def _reduce_batched(xs: BatchedResult, prim: Any, what: str) -> Any:
    if xs.treedef.kind != "leaf":
        raise TypeError(f"tapegrad.{what} of a vmapped result needs one scalar per example, but each example is {xs.treedef}")
    leaf = xs.leaves[0]
    if isinstance(leaf, list):  # computed example by example (see _one_by_one)
        return functions.mean(leaf) if what == "mean" else functions.sum(leaf)
    return bind(prim, (leaf,))


@overload
def sum(xs: Iterable[float]) -> float: ...
@overload
def sum(xs: Iterable[Traced]) -> Traced: ...
@overload
def sum(xs: Iterable[Scalar]) -> Scalar: ...
@overload
def sum(xs: Batch) -> Scalar: ...
def sum(xs: Any) -> Any:  # noqa: A001 - tapegrad.sum, like numpy.sum
    """The sum of a sequence of scalars, or of a vmapped result over its examples: one record either way.

    On a sequence it is :func:`tapegrad.core.functions.sum` (left to right,
    as ``x0 + x1 + ...``). On a vmapped result (or a batch) it adds up the
    examples: exactly rounded (``math.fsum``) on the Python back end,
    pairwise (``numpy.sum``) on the NumPy one.
    """
    if isinstance(xs, BatchedResult):
        return _reduce_batched(xs, batch_sum_p, "sum")
    if holds_batch(xs):
        return bind(batch_sum_p, (xs,))
    return functions.sum(xs)


@overload
def mean(xs: Iterable[float]) -> float: ...
@overload
def mean(xs: Iterable[Traced]) -> Traced: ...
@overload
def mean(xs: Iterable[Scalar]) -> Scalar: ...
@overload
def mean(xs: Batch) -> Scalar: ...
def mean(xs: Any) -> Any:
    """The mean of a non-empty sequence of scalars, or of a vmapped result over its examples: one record.

    The batch loss is ``tg.mean(tg.vmap(per_example, in_axes=(None, 0, 0))(params, X, Y))``.
    """
    if isinstance(xs, BatchedResult):
        return _reduce_batched(xs, batch_mean_p, "mean")
    if holds_batch(xs):
        return bind(batch_mean_p, (xs,))
    return functions.mean(xs)


__all__ = ["BatchedResult", "TreeDef", "batch", "mean", "sum", "vmap"]
