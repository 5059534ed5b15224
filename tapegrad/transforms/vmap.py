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
from typing import Any, Callable, Iterable, Literal, NamedTuple, Optional, Sequence, Union, overload

from tapegrad.core import functions
from tapegrad.core.batch import Batch, BoolBatch, batch_of, in_vmap, numpy_available, vmap_scope
from tapegrad.core.rule_table import add_p, batch_mean_p, batch_sum_p, spread_p
from tapegrad.core.tape import value_of
from tapegrad.core.traced import Scalar, Traced, bind, holds_batch
from tapegrad.core.tree import BatchedResult, TreeDef, flatten, too_deep_error, unflatten
from tapegrad.transforms.grad import _arg_names, _fname
from tapegrad.transforms.vmap_axes import argument_specs, batch_axis_second, example_picker, nothing_mapped, split

Axes = Union[Optional[int], Sequence[Any], dict[Any, Any]]


def _backend(backend: str) -> str:
    if backend not in ("auto", "python", "numpy"):
        raise ValueError(f"vmap: backend must be 'auto', 'python' or 'numpy', got {backend!r}")
    if backend == "auto":
        return "numpy" if numpy_available() else "python"
    if backend == "numpy" and not numpy_available():
        raise ImportError("vmap(backend='numpy') needs NumPy: pip install 'tapegrad[numpy]', or use backend='python'")
    return backend


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
        cells = arg.ravel().tolist()
        if cells and all(holds_batch(c) for c in cells):
            # One example's array with a column in every cell (tg.batch of a list of arrays).
            lengths = {_column_size(c) for c in cells}
            if len(lengths) > 1:
                raise ValueError(f"vmap: the columns of {name} have different lengths: {sorted(lengths)}")
            return arg, lengths.pop()
        # An array of traced scalars (jit or grad traced a NumPy argument number by number).
        return _TRACED_DATA, len(arg)
    if _is_array(arg):
        if arg.ndim == 1:
            return _checked_size(batch_of(arg, backend), name)
        if arg.ndim == 2:
            cols = [batch_of(arg[:, j], backend) for j in range(arg.shape[1])]
            return _checked_size(cols, name)
        raise ValueError(f"vmap: {name} is a {arg.ndim}-D array; give one example per row (1-D or 2-D), or a list of per-example trees")
    # Column form: one example's shape with a column at every leaf (from tg.batch, or 1-D arrays
    # in a dict or namedtuple). A list or tuple is a sequence of examples, as a loop over it would
    # see them, so an array in it is (part of) one example; only Batch columns make it column form.
    columns_in = arg if _is_sequence(arg) else _arrays_as_columns(arg, backend)
    try:
        leaves, treedef, paths = flatten(columns_in, name, allow=holds_batch)
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
    if leaves and any(holds_batch(v) for v in leaves):
        raise _mixed_error(name)
    if not isinstance(arg, (list, tuple)):
        raise _not_a_sequence(arg, name)
    return _examples_as_columns(arg, name, backend)


def _is_sequence(arg: Any) -> bool:
    """A list or a plain tuple: a sequence of examples (a namedtuple is one example's record)."""
    return isinstance(arg, list) or (isinstance(arg, tuple) and not hasattr(type(arg), "_fields"))


def _mixed_error(name: str) -> ValueError:
    return ValueError(
        f"vmap: {name} mixes batch columns (from tapegrad.batch) with per-example values, so it is neither a list of "
        "examples nor one example's shape with a column at every leaf; pass either the list of examples "
        f"(vmap(f)([x0, x1, ...])) or tapegrad.batch of that list"
    )


def _examples_as_columns(arg: Sequence[Any], name: str, backend: str) -> tuple[Any, int]:
    """A sequence of per-example trees of one structure, in column form, and its length."""
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
        # A gradient that reached only some examples (below a where) is 0.0 for the others, as in the loop.
        return batch_of(leaf.values(), leaf.backend) if leaf.gapped else leaf
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
def vmap(
    f: Callable[..., Any], in_axes: Axes = 0, out_axes: Literal[0] = 0, backend: str = "auto", axis_size: Optional[int] = None
) -> Callable[..., BatchedResult]: ...
@overload
def vmap(
    f: Callable[..., Any], in_axes: Axes = 0, *, out_axes: Optional[Literal[1]], backend: str = "auto", axis_size: Optional[int] = None
) -> Callable[..., Any]: ...
def vmap(
    f: Callable[..., Any], in_axes: Axes = 0, out_axes: Optional[int] = 0, backend: str = "auto", axis_size: Optional[int] = None
) -> Callable[..., Any]:
    """Map ``f`` over a batch: ``vmap(f)(X)`` is like ``[f(x) for x in X]``, computed on whole batches.

    ``in_axes`` is 0 (mapped) or None (the same value for every example)
    for each positional argument, or one of them for all; 1 maps over the
    second axis (the columns of a 2-D array, position j of every inner
    list); and a tuple, list or dict shaped like an argument gives an axis
    for each of its parts (see :mod:`tapegrad.transforms.vmap_axes`). A
    mapped argument is a sequence of per-example trees of one structure (a
    list of points, a list of floats, a list of arrays), a 1-D or 2-D NumPy
    array, or a tree whose leaves are columns (:func:`batch`). Keyword
    arguments are passed to every example.

    The result is a :class:`~tapegrad.core.tree.BatchedResult`: it compares
    equal to the list of per-example outputs and iterates like it; under a
    transform it stays one batched value per output leaf, which
    :func:`sum` and :func:`mean` reduce with one record. With
    ``out_axes=None`` the output must be the same for every example and is
    returned as it is; with ``out_axes=1`` each example's list, tuple or
    array of outputs is turned so that the examples run along the second axis.

    Inside another vmap, a vmap runs its own examples one at a time (each
    on the outer batches) and returns the list of its per-example outputs.

    ``backend`` stores the batches: "numpy" (NumPy arrays, the optional
    ``numpy`` extra), "python" (lists of floats), or "auto" (NumPy when it
    can be imported).

    ``axis_size`` gives the number of examples. It is needed when nothing
    is mapped (every ``in_axes`` entry None): the output is then the same
    for each of the ``axis_size`` examples. With mapped arguments it must
    equal their length.
    """
    fname = _fname(f)
    chosen = _backend(backend)
    if axis_size is not None and (isinstance(axis_size, bool) or not isinstance(axis_size, int) or axis_size < 1):
        raise ValueError(f"vmap({fname}): axis_size must be a positive int (the number of examples), got {axis_size!r}")
    if out_axes not in (0, 1, None) or isinstance(out_axes, bool):
        raise ValueError(f"vmap({fname}): out_axes must be 0, 1 or None, got {out_axes!r}")
    names = _arg_names(f)

    @functools.wraps(f)
    def vmapped(*args: Any, **kwargs: Any) -> Any:
        specs = argument_specs(in_axes, len(args), fname)
        if axis_size is None and nothing_mapped(specs):
            raise ValueError(
                f"vmap({fname}): every in_axes entry is None, so nothing is mapped over; mark the batched arguments "
                "with 0, or give axis_size (the number of examples) to repeat the output that many times"
            )
        # Inside another vmap every number is already a batch of the outer examples: this
        # vmap then runs its own examples one at a time, each on the outer batches.
        nested = in_vmap()
        mapped = _map_arguments(args, specs, names, axis_size, nested, chosen, fname)
        new_args, pickers, size, per_example, all_columns = mapped
        if nested:
            out = _one_by_one(f, args, pickers, kwargs, size, out_axes, fname, as_list=out_axes != 1)
        elif per_example:
            if any(_jit_traced(a) for a, pick in zip(args, pickers) if pick is not None):
                raise TypeError(
                    f"vmap({fname}) inside jit: the mapped data reached jit as separate numbers (a list or an array), so every "
                    "example would be traced on its own. Pass the data as columns, tapegrad.batch(X), to the "
                    "jitted function: each column is then one input, and the trace is one example's program"
                )
            out = _one_by_one(f, args, pickers, kwargs, size, out_axes, fname)
        else:
            # The batch size of the outputs is read from the mapped data (a spread record), so a
            # jitted replay follows the replayed batch's size; with nothing mapped it is axis_size.
            like = _size_source(all_columns) if all_columns else batch_of([0.0] * size, chosen)
            out = _batched(f, new_args, kwargs, size, out_axes, like, fname)
        return batch_axis_second(out, fname) if out_axes == 1 else out

    vmapped.__name__ = vmapped.__qualname__ = f"vmap({fname})"
    return vmapped


class _Mapped(NamedTuple):
    """The arguments as vmap runs ``f`` on them, and how to take one example out of each."""

    args: list[Any]  # columns where mapped (or the arguments as given, when run example by example)
    pickers: list[Optional[Callable[[int], Any]]]  # example i of each mapped argument; None where shared
    size: int
    per_example: bool  # True if ``f`` must run once per example
    columns: list[Any]  # every mapped column, to read the batch size from


def _map_arguments(
    args: Sequence[Any], specs: Sequence[Any], names: Sequence[str], axis_size: Optional[int], nested: bool, backend: str, fname: str
) -> _Mapped:
    """Split each argument by its ``in_axes`` spec into columns, checking that every mapped part has one length."""
    new_args = list(args)
    pickers: list[Optional[Callable[[int], Any]]] = [None] * len(args)
    size: Optional[int] = axis_size
    sized_by = "axis_size"
    per_example = nested
    all_columns: list[Any] = []
    for k, (arg, spec) in enumerate(zip(args, specs)):
        parts, rebuild = split(arg, spec, names[k] if k < len(names) else f"args[{k}]", fname)
        if not parts:
            continue
        columns = []
        for name, part in parts:
            cols, n = (part, _nested_length(part, name, fname)) if nested else _columns(part, name, backend)
            if size is None:
                size, sized_by = n, name
            elif n != size:
                what = "is" if sized_by == "axis_size" else "has"
                raise ValueError(f"vmap({fname}): {name} has {n} examples but {sized_by} {what} {size}; mapped arguments need the same length")
            columns.append(cols)
            per_example = per_example or cols is _TRACED_DATA
        all_columns.extend(columns)
        pickers[k] = example_picker([p for _, p in parts], rebuild)
        if not per_example:
            new_args[k] = rebuild(columns)
    assert size is not None  # something is mapped, or axis_size was given
    return _Mapped(new_args, pickers, size, per_example, all_columns)


def _batched(f: Callable[..., Any], args: Sequence[Any], kwargs: Any, size: int, out_axes: Optional[int], like: Any, fname: str) -> Any:
    """``f`` run once on the columns: the vmapped result (one batch per output leaf), or with out_axes None the output."""
    with vmap_scope():
        out = f(*args, **kwargs)
    leaves, treedef, _ = flatten(out, "output", allow=lambda v: isinstance(v, (Batch, BoolBatch)))
    if out_axes is None:
        if any(holds_batch(v) for v in leaves):
            raise ValueError(f"vmap({fname}, out_axes=None): the output differs from example to example; use out_axes=0")
        return out
    return BatchedResult(treedef, [_broadcast(v, like, fname) for v in leaves], size)


def _jit_traced(arg: Any) -> bool:
    leaves = flatten(arg, "data", allow=lambda v: True, with_paths=False)[0]
    return any(v.__class__ is Traced and v._t.jit for v in leaves)


def _nested_length(arg: Any, name: str, fname: str) -> int:
    """How many examples a mapped argument of a vmap inside another vmap holds (it must be a sequence)."""
    if isinstance(arg, (list, tuple, BatchedResult)) or (_is_array(arg) and arg.ndim >= 1):
        if len(arg) == 0:
            raise ValueError(f"vmap: {name} is an empty batch; vmap needs at least one example")
        return len(arg)
    raise TypeError(
        f"vmap({fname}) inside another vmap: {name} is mapped over (in_axes 0) but is a {type(arg).__name__}, "
        "not a sequence of examples; give the inner vmap a list (or array) with one entry per inner example, "
        "or use in_axes=None for a value every inner example shares"
    )


def _one_by_one(
    f: Callable[..., Any],
    args: Sequence[Any],
    pickers: Sequence[Optional[Callable[[int], Any]]],
    kwargs: Any,
    size: int,
    out_axes: Optional[int],
    fname: str,
    as_list: bool = False,
) -> Any:
    """vmap for data traced by an outer transform: the examples run one at a time.

    A batch holds plain numbers; when the mapped data are themselves traced
    (jit traced them as its inputs, or grad differentiates with respect to
    them), each example is computed on its own and the per-example outputs
    are collected. Under jit, pass the data as :func:`batch` columns instead,
    so that the jit tape stays one example's program.

    A vmap inside another vmap runs this way too (each inner example on the
    outer batches); with ``as_list`` it returns the list of per-example
    outputs, a tree like any other for the outer vmap.
    """
    outputs = []
    for i in range(size):
        example = [arg if pick is None else pick(i) for arg, pick in zip(args, pickers)]
        outputs.append(f(*example, **kwargs))
    if out_axes is None:
        return outputs[0]
    if as_list:
        return outputs
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
