"""How a transform puts a function's arguments on a tape and reads its outputs back.

Layer 4 of tapegrad (``tapegrad/transforms``).

Every transform (grad, jacobian, jit, vmap, sparse, ...) does the same
things around the user's function: it checks ``argnums``, replaces each leaf
of the chosen arguments by an input record labelled with its path
(:class:`TracedInputs`), runs the function, checks that its output is what
the transform can differentiate, and marks the output records. After the
sweep it builds trees shaped like the arguments, and brings traced values
one tape further out (:func:`_outside`). Those steps are here, once.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Callable, Optional, Sequence, Union

from tapegrad.core.batch import Batch
from tapegrad.core.tape import Tape, value_of
from tapegrad.core.traced import Traced, closed_error, holds_batch
from tapegrad.core.tree import BatchedResult, TreeDef, flatten, unflatten
from tapegrad.transforms.signatures import Argnums


def _fname(f: Callable[..., Any]) -> str:
    return getattr(f, "__name__", type(f).__name__)


def _arg_names(f: Callable[..., Any]) -> list[str]:
    """Names of f's positional parameters, used in paths like ``params[1]['w']``."""
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return []
    names = []
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            break
    return names


def _argnums(argnums: Argnums, transform: str) -> tuple[tuple[int, ...], bool]:
    """The argnums as a tuple, and whether a single int was given."""
    if isinstance(argnums, bool) or not isinstance(argnums, (int, tuple, list)):
        raise TypeError(f"{transform}: argnums must be an int or a tuple of ints, got {argnums!r}")
    if isinstance(argnums, int):
        return (argnums,), True
    nums = tuple(argnums)
    if not nums or not all(isinstance(n, int) and not isinstance(n, bool) for n in nums):
        raise TypeError(f"{transform}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    if len(set(nums)) != len(nums):
        raise ValueError(f"{transform}: argnums {argnums!r} repeats an argument")
    return nums, False


class TracedInputs:
    """The traced copies of some arguments and where their leaves sit on the tape.

    Every leaf of the chosen arguments becomes an input record labelled with
    its path (``params[1]['w'][3]``); the other arguments pass through.
    """

    def __init__(self, tape: Tape, args: Sequence[Any], nums: Sequence[int], names: list[str], transform: str, f: Callable[..., Any]):
        bad = [n for n in nums if n >= len(args) or n < -len(args)]
        if bad:
            raise TypeError(
                f"{transform}({_fname(f)}): argnums {tuple(nums)} asks for argument "
                f"{bad[0]}, but it was called with {len(args)} positional argument(s)"
            )
        # Negative argnums count from the end; after normalising, (0, -2) on
        # two arguments is the same argument twice.
        normal = [n % len(args) for n in nums]
        if len(set(normal)) != len(normal):
            raise ValueError(f"{transform}({_fname(f)}): argnums {tuple(nums)} names the same argument twice")
        self.args = list(args)
        self.treedefs: list[TreeDef] = []
        self.indices: list[list[int]] = []
        for n in normal:
            name = names[n] if n < len(names) else f"args[{n}]"
            leaves, treedef, paths = flatten(args[n], name)
            traced = [Traced.input(tape, v, p) for v, p in zip(leaves, paths)]
            self.args[n] = unflatten(treedef, traced)
            self.treedefs.append(treedef)
            self.indices.append([t._i for t in traced])

    def trees(self, per_index: Union[Sequence[Any], dict[int, Any]]) -> list[Any]:
        """One tree per argument, with ``per_index[i]`` at input record i (None means 0.0).

        Under vmap an input's adjoint may be a batch: per example, for a tape
        opened inside the vmap (``vmap(grad(f))``), or for an input that is
        itself a batch (a column of data). An unbatched input of a tape opened
        outside gets one number: the broadcast records summed its examples.
        """
        return [unflatten(td, [_zero(per_index[i]) for i in idx]) for td, idx in zip(self.treedefs, self.indices)]


def _zero(x: Any) -> Any:
    return 0.0 if x is None else x


def _outside(tape: Tape, x: Any) -> Any:
    """``x`` seen one tape further out: the value underneath if it is traced here."""
    if x.__class__ is Traced:
        if x._t is tape:
            return x._v
        if x._t._live is None:
            raise closed_error(x)
        return x
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    return x


def _aux_outside(tape: Tape, tree: Any) -> Any:
    """Aux values: traced scalars become their values; everything else is kept."""
    if isinstance(tree, dict):
        # A shallow copy keeps the dict's type and state (Counter,
        # defaultdict's factory); then only the values are replaced.
        out = copy.copy(tree)
        for k, v in tree.items():
            out[k] = _aux_outside(tape, v)
        return out
    if isinstance(tree, list):
        return [_aux_outside(tape, v) for v in tree]
    if isinstance(tree, tuple):
        kids = [_aux_outside(tape, v) for v in tree]
        return type(tree)(*kids) if hasattr(type(tree), "_fields") else tuple(kids)
    if tree.__class__ is Traced and tree._t is tape:
        return tree._v
    return tree


def _ref(tape: Tape, x: Any) -> int:
    """Where output ``x`` sits on ``tape``: a record index, or -1 if it is constant there."""
    if isinstance(x, Traced):
        if x._t is tape:
            return x._i
        if x._t._live is None:
            raise closed_error(x)
    return -1


def _scalar_output(out: Any, transform: str, f: Callable[..., Any], tape: Tape) -> None:
    # Inside vmap a batch is one scalar per example; outside, it is many.
    if (holds_batch(out) or isinstance(out, BatchedResult)) and not tape.in_vmap:
        raise TypeError(
            f"{transform}({_fname(f)}): the function returned a batch of {_examples(out)} values (a vmapped result), "
            "not one scalar: reduce it with tapegrad.mean or tapegrad.sum, or take the gradient per example "
            "with tapegrad.vmap(tapegrad.grad(...))"
        )
    if out.__class__ is Traced or (isinstance(out, (int, float, Batch)) and not isinstance(out, bool)):
        return  # (a batch here is inside vmap: one scalar per example)
    what = f"{type(out).__name__}"
    if isinstance(out, (list, tuple, dict)):
        what += f" with {len(out)} element(s)"
    raise TypeError(
        f"{transform}({_fname(f)}): the function must return a scalar (a float or a traced scalar), "
        f"but it returned a {what}. Gradients are only defined for scalar outputs: "
        "use tapegrad.jacobian or tapegrad.vjp for functions with several outputs, "
        "or pass has_aux=True if the function returns (value, extra)."
    )


def _examples(out: Any) -> int:
    under = out if isinstance(out, BatchedResult) else value_of(out)
    return len(under) if isinstance(under, (Batch, BatchedResult)) else 1


def _split_aux(result: Any, has_aux: bool, transform: str, f: Callable[..., Any]) -> tuple[Any, Any]:
    if not has_aux:
        return result, None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"{transform}({_fname(f)}, has_aux=True): the function must return a pair (value, aux), "
            f"but it returned {type(result).__name__}"
        )
    return result[0], result[1]


def _output_refs(tape: Tape, out: Any) -> tuple[list[int], TreeDef, list[Any]]:
    leaves, treedef, _ = flatten(out, "output", with_paths=False)
    refs = [_ref(tape, leaf) for leaf in leaves]
    tape.set_outputs([r if r >= 0 else tape.const_ref(leaf) for r, leaf in zip(refs, leaves)])
    return refs, treedef, leaves


def _trace_all(
    f: Callable[..., Any], primals: Sequence[Any], nums: Sequence[int], has_aux: bool, transform: str
) -> tuple[Tape, TracedInputs, list[int], TreeDef, Any, Any]:
    """Run ``f(*primals)`` on a new tape with the primals ``nums`` traced.

    Returns the closed tape, the inputs, where each output leaf sits on the
    tape (-1 for constants), the output's shape, the output's value, and the
    aux value (None without ``has_aux``), with traced scalars as floats.
    """
    with Tape(name=f"the {transform} tape of {_fname(f)}") as tape:
        inputs = TracedInputs(tape, primals, nums, _arg_names(f), transform, f)
        out, aux = _split_aux(f(*inputs.args), has_aux, transform, f)
        refs, out_treedef, leaves = _output_refs(tape, out)
        out_value = unflatten(out_treedef, [_outside(tape, leaf) for leaf in leaves])
        aux = _aux_outside(tape, aux)
    return tape, inputs, refs, out_treedef, out_value, aux


def _optional_argnums(argnums: Optional[Argnums], count: int, transform: str) -> tuple[tuple[int, ...], bool]:
    """``argnums`` for vjp and jvp, where None (the default) means every primal, as a tuple."""
    if argnums is None:
        return tuple(range(count)), False
    return _argnums(argnums, transform)
