"""vmap's axes: which parts of the arguments are mapped, over which axis, and where the output's batch axis goes.

Layer 4 of tapegrad (``tapegrad/transforms``), used by :mod:`tapegrad.transforms.vmap`.

``in_axes`` has one entry per positional argument (or one for all). An
entry is ``0`` (the argument is a sequence of examples), ``None`` (every
example gets the same value), ``1`` (the examples run along the second axis:
the columns of a 2-D array, or position j of every inner list), or a tuple,
list or dict shaped like the argument, whose own entries say the same for
each part: ``in_axes=({"w": None, "xs": 0},)`` maps ``args[0]["xs"]`` and
passes ``args[0]["w"]`` whole. A part under ``0`` or ``1`` may be any tree,
as a whole argument may.

``out_axes`` is ``0`` (the result is the sequence of per-example outputs),
``None`` (the output is the same for every example, returned once) or ``1``
(the batch axis second: a per-example vector of k numbers gives k rows of
one number per example, as the transpose of the ``out_axes=0`` result).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence, Union

from tapegrad.core.traced import Traced
from tapegrad.core.tree import BatchedResult

Spec = Union[None, int, Sequence[Any], dict[Any, Any]]
Rebuild = Callable[[list[Any]], Any]


def _is_array(x: Any) -> bool:
    return hasattr(x, "__array__") and hasattr(x, "ndim") and hasattr(x, "shape")


def argument_specs(in_axes: Any, n: int, fname: str) -> tuple[Spec, ...]:
    """One spec per positional argument, each checked to hold only 0, 1 and None at its leaves."""
    if in_axes is None or isinstance(in_axes, int):
        specs: tuple[Spec, ...] = (in_axes,) * n
    elif isinstance(in_axes, (tuple, list)):
        specs = tuple(in_axes)
        if len(specs) != n:
            raise ValueError(f"vmap({fname}): in_axes has {len(specs)} entries but the function was called with {n} positional argument(s)")
    else:
        raise TypeError(f"vmap({fname}): in_axes must be 0, 1, None, or a tuple of them (one per argument), got {in_axes!r}")
    for k, spec in enumerate(specs):
        _check_spec(spec, f"in_axes[{k}]", fname)
    return specs


def _check_spec(spec: Any, where: str, fname: str) -> None:
    if isinstance(spec, dict):
        for key, sub in spec.items():
            _check_spec(sub, f"{where}[{key!r}]", fname)
    elif isinstance(spec, (tuple, list)):
        for j, sub in enumerate(spec):
            _check_spec(sub, f"{where}[{j}]", fname)
    elif spec is not None and (isinstance(spec, bool) or spec not in (0, 1)):
        raise ValueError(
            f"vmap({fname}): {where} is {spec!r}; an axis is 0 (map over the examples), 1 (over the second axis) "
            "or None (broadcast), or a tuple, list or dict of them shaped like the argument"
        )


def nothing_mapped(specs: Sequence[Spec]) -> bool:
    """True if no spec holds a 0 or a 1."""
    return all(_none_only(s) for s in specs)


def _none_only(spec: Any) -> bool:
    if isinstance(spec, dict):
        return all(_none_only(s) for s in spec.values())
    if isinstance(spec, (tuple, list)):
        return all(_none_only(s) for s in spec)
    return spec is None


def split(arg: Any, spec: Spec, name: str, fname: str) -> tuple[list[tuple[str, Any]], Rebuild]:
    """The mapped parts of ``arg`` (each named, with its examples along the first axis) and how to rebuild ``arg``.

    ``rebuild(parts)`` puts a replacement for each mapped part (its columns,
    or one example of it) back into a copy of the argument's structure;
    the parts under ``None`` stay as they are. The caller's data is never changed.
    """
    if spec is None:
        return [], lambda parts: arg
    if isinstance(spec, int):
        return [(name, arg if spec == 0 else axis_one_first(arg, name, fname))], lambda parts: parts[0]
    if isinstance(spec, dict):
        if not isinstance(arg, dict) or set(arg) != set(spec):
            have = f"has keys {', '.join(sorted(map(repr, arg)))}" if isinstance(arg, dict) else f"is a {type(arg).__name__}"
            raise ValueError(
                f"vmap({fname}): the in_axes entry for {name} is a dict with keys {', '.join(sorted(map(repr, spec)))}, "
                f"but {name} {have}; a dict of axes needs a dict argument with the same keys"
            )
        keys = list(arg)
        pieces = [split(arg[key], spec[key], f"{name}[{key!r}]", fname) for key in keys]

        def rebuild_dict(parts: list[Any]) -> Any:
            out = dict(arg)  # a copy: the caller's dict is not changed
            for key, value in zip(keys, _rebuilt(pieces, parts)):
                out[key] = value
            return out

        return [p for piece in pieces for p in piece[0]], rebuild_dict
    if not isinstance(arg, (tuple, list)) or len(arg) != len(spec):
        what = f"a {type(arg).__name__} of {len(arg)}" if isinstance(arg, (tuple, list)) else f"a {type(arg).__name__}"
        raise ValueError(
            f"vmap({fname}): the in_axes entry for {name} has {len(spec)} entries, but {name} is {what}; "
            "a tuple or list of axes needs a tuple or list argument of the same length"
        )
    pieces = [split(v, s, f"{name}[{j}]", fname) for j, (v, s) in enumerate(zip(arg, spec))]

    def rebuild_sequence(parts: list[Any]) -> Any:
        items = _rebuilt(pieces, parts)
        if isinstance(arg, list):
            return items
        return type(arg)(*items) if hasattr(type(arg), "_fields") else tuple(items)

    return [p for piece in pieces for p in piece[0]], rebuild_sequence


def _rebuilt(pieces: Sequence[tuple[list[tuple[str, Any]], Rebuild]], parts: list[Any]) -> list[Any]:
    out = []
    at = 0
    for mapped, rebuild in pieces:
        out.append(rebuild(parts[at : at + len(mapped)]))
        at += len(mapped)
    return out


def axis_one_first(arg: Any, name: str, fname: str) -> Any:
    """``arg`` with its second axis first: a 2-D (or more) array's axes swapped, or a list of equal-length lists transposed."""
    if _is_array(arg) and arg.ndim >= 2:
        np = sys.modules["numpy"]  # present: arg is one of its arrays
        return np.moveaxis(arg, 1, 0)
    if isinstance(arg, (list, tuple)) and arg and all(isinstance(row, (list, tuple)) for row in arg):
        width = len(arg[0])
        if width and all(len(row) == width for row in arg):
            return [[row[j] for row in arg] for j in range(width)]
    raise ValueError(
        f"vmap({fname}): {name} is mapped over its second axis (in_axes 1), so it must be an array of at least "
        f"2 dimensions or a list of equal-length lists, got {type(arg).__name__} {arg!r:.60}"
    )


def batch_axis_second(result: Any, fname: str) -> Any:
    """A vmapped result (``out_axes=0``) with the batch axis moved to second place (``out_axes=1``).

    Each example's output must have an axis to put it after: a list, tuple
    or array (inside dicts and namedtuples, each such value is turned).
    Under a transform, where the examples cannot be taken apart, the
    output must be a flat list or tuple of scalars: the result is then its
    column form, one batched value per position.
    """
    if isinstance(result, BatchedResult) and any(v.__class__ is Traced for v in result.leaves):
        td = result.treedef
        if td.kind in ("list", "tuple") and all(c.kind == "leaf" for c in td.children):
            return result.columns
        raise ValueError(
            f"vmap({fname}, out_axes=1) under a transform needs each example's output to be a flat list or tuple "
            "of scalars; use out_axes=0 and .columns"
        )
    rows = list(result)
    return _second(rows, fname)


def _second(rows: list[Any], fname: str) -> Any:
    first = rows[0]
    if isinstance(first, dict):
        return {key: _second([r[key] for r in rows], fname) for key in first}
    if hasattr(type(first), "_fields"):
        return type(first)(*(_second([r[j] for r in rows], fname) for j in range(len(first))))
    if _is_array(first) and first.ndim >= 1:
        np = sys.modules["numpy"]
        return np.stack(rows, axis=1)
    if isinstance(first, (list, tuple)):
        turned = [[r[j] for r in rows] for j in range(len(first))]
        return turned if isinstance(first, list) else tuple(turned)
    raise ValueError(
        f"vmap({fname}, out_axes=1): each example's output is a {type(first).__name__}, which has no axis to put "
        "the batch axis after; use out_axes=0, or return a list, tuple or array per example"
    )


def example_picker(parts: Sequence[Any], rebuild: Rebuild) -> Callable[[int], Any]:
    """Example ``i`` of an argument whose mapped parts are ``parts`` (each a sequence of examples)."""
    return lambda i: rebuild([p[i] for p in parts])


