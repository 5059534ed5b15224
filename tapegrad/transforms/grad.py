"""Function transformations: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp, trace.

Layer 4 of tapegrad (``tapegrad/transforms``).

Each one opens a fresh tape, replaces the differentiated arguments' leaves
by traced inputs, runs the user's function once to fill the tape, and then
runs a sweep over the records (:mod:`tapegrad.interpret.sweep`). Nothing about the
function is remembered between calls, and the caller's arguments are never
modified: new trees are built for the traced copies and for the results.

What every transform does around the function (the traced inputs, the
checks of the output) is in :mod:`tapegrad.transforms.arguments`.

Because every transform only needs "a tape of the function", they nest in
any order: the inner transform's tape holds values that the outer one is
tracing, and its sweep records on the outer tape.

Their static types (the overloads that type a gradient like the argument
passed, and the classes of what the transforms return) are in
:mod:`tapegrad.transforms.signatures`; each transform here is a plain
function given its signature by ``@typed_as``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence

from tapegrad.core.tape import Tape
from tapegrad.core.tree import BatchedResult, flatten, unflatten
from tapegrad.interpret.sweep import forward_sweep, reverse_sweep

# TracedInputs, _arg_names and _fname are also imported from here by jit and vmap.
from tapegrad.transforms.arguments import (
    TracedInputs as TracedInputs,
    _arg_names as _arg_names,
    _argnums,
    _aux_outside,
    _fname as _fname,
    _optional_argnums,
    _output_refs,
    _outside,
    _ref,
    _scalar_output,
    _split_aux,
    _trace_all,
    _zero,
)
from tapegrad.transforms.signatures import (
    Argnums as Argnums,
    Gradient as Gradient,
    GradientWithAux as GradientWithAux,
    GradSignature,
    Hessian as Hessian,
    HessianSignature,
    Jacobian as Jacobian,
    JacobianSignature,
    JvpSignature,
    ValueAndGradient as ValueAndGradient,
    ValueAndGradientWithAux as ValueAndGradientWithAux,
    ValueAndGradSignature,
    VjpSignature,
    typed_as,
)


# -- grad and value_and_grad ------------------------------------------------------


def _value_and_grad_impl(f: Callable[..., Any], argnums: Argnums, has_aux: bool, transform: str) -> Callable[..., Any]:
    nums, single = _argnums(argnums, transform)
    names = _arg_names(f)

    @functools.wraps(f)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        with Tape(name=f"the {transform} tape of {_fname(f)}") as tape:
            inputs = TracedInputs(tape, args, nums, names, transform, f)
            out, aux = _split_aux(f(*inputs.args, **kwargs), has_aux, transform, f)
            _scalar_output(out, transform, f, tape)
            ref = _ref(tape, out)
            tape.set_outputs([ref if ref >= 0 else tape.const_ref(out)])
            adj = reverse_sweep(tape, [(ref, 1.0)], inputs_only=True) if ref >= 0 else [None] * len(tape)
            grads = inputs.trees(adj)
            value = _outside(tape, out)
            aux = _aux_outside(tape, aux)
        g = grads[0] if single else tuple(grads)
        return ((value, aux), g) if has_aux else (value, g)

    return value_and_grad_f


@typed_as(ValueAndGradSignature)
def value_and_grad(f: Any, argnums: Argnums = 0, has_aux: bool = False) -> Any:
    """Return a function computing both ``f(*args)`` and its gradient.

    ``f`` must return a scalar. The gradient has the same structure as the
    differentiated argument (``argnums``, an int or a tuple of ints), with
    floats at the leaves. With ``has_aux=True``, ``f`` returns
    ``(value, aux)`` and the result is ``((value, aux), grad)``; traced
    scalars inside ``aux`` come back as floats.
    """
    impl = _value_and_grad_impl(f, argnums, has_aux, "value_and_grad")
    cls = ValueAndGradientWithAux if has_aux else ValueAndGradient
    return cls(impl, f, f"value_and_grad({_fname(f)})")


@typed_as(GradSignature)
def grad(f: Any, argnums: Argnums = 0, has_aux: bool = False) -> Any:
    """Return a function computing the gradient of scalar-valued ``f``.

    ``grad(f)(params)`` has the same nesting of lists, tuples and dicts as
    ``params``, with floats at the leaves. ``argnums`` picks the argument(s)
    to differentiate (a tuple gives a tuple of gradients). With
    ``has_aux=True``, ``f`` returns ``(value, aux)`` and the result is
    ``(grad, aux)``, with traced scalars inside ``aux`` as floats. Apply
    ``grad`` again for higher derivatives.
    """
    impl = _grad_impl(f, argnums, has_aux, "grad")
    cls = GradientWithAux if has_aux else Gradient
    return cls(impl, f, f"grad({_fname(f)})")


def _grad_impl(f: Callable[..., Any], argnums: Argnums, has_aux: bool, transform: str) -> Callable[..., Any]:
    """grad's function: the gradient, or ``(gradient, aux)`` with ``has_aux``."""
    vg = _value_and_grad_impl(f, argnums, has_aux, transform)

    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        (value, g) = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    grad_f.__name__ = grad_f.__qualname__ = f"grad({_fname(f)})"
    return grad_f


# -- vjp and jvp ------------------------------------------------------------------


@typed_as(VjpSignature)
def vjp(f: Any, *primals: Any, argnums: Optional[Argnums] = None, has_aux: bool = False) -> Any:
    """Run ``f(*primals)`` once and return ``(out, vjp_fn)``, or ``(out, vjp_fn, aux)``.

    ``out`` may be a scalar or any tree of scalars; it comes back with
    floats at its leaves. ``vjp_fn(cotangent)`` takes a tree shaped like
    ``out`` and pulls it back through ``f``: by default it returns a tuple
    with one tree per primal. ``argnums`` restricts that to some primals
    (the others are constants): an int gives one tree, a tuple of ints a
    tuple of trees. ``vjp_fn`` can be called any number of times; ``f`` is
    not run again.

    With ``has_aux=True``, ``f`` returns ``(out, aux)``: only ``out`` is
    differentiated, and ``aux`` is returned as the third element, with
    traced scalars inside it replaced by floats.

    Types: for a function of one argument returning a scalar or a list of
    scalars, ``out`` is typed float or list[float] and the cotangents are
    typed like the function's parameter; otherwise the result is Any.
    """
    nums, single = _optional_argnums(argnums, len(primals), "vjp")
    tape, inputs, refs, out_treedef, out_value, aux = _trace_all(f, primals, nums, has_aux, "vjp")

    def vjp_fn(cotangent: Any) -> Any:
        cts, ct_treedef, _ = flatten(cotangent, "cotangent", with_paths=False)
        if ct_treedef != out_treedef:
            raise ValueError(f"vjp_fn: the cotangent has shape {ct_treedef}, but {_fname(f)} returned shape {out_treedef}{_container_hint(ct_treedef, out_treedef)}")
        adj = reverse_sweep(tape, zip(refs, cts), inputs_only=True)
        trees = inputs.trees(adj)
        return trees[0] if single else tuple(trees)

    return (out_value, vjp_fn, aux) if has_aux else (out_value, vjp_fn)


@typed_as(JvpSignature)
def jvp(
    f: Any,
    primals: Sequence[Any],
    tangents: Sequence[Any],
    argnums: Optional[Argnums] = None,
    has_aux: bool = False,
) -> Any:
    """Forward mode: ``(f(*primals), directional derivative of f along tangents)``.

    ``tangents`` has one tree per primal, shaped like it. With ``argnums``
    (an int or a tuple of ints), only those primals move: ``tangents`` then
    has one tree per entry of ``argnums``, in that order, and the other
    primals are constants. The tangent of the output is computed by one
    forward sweep over the tape of ``f``.

    With ``has_aux=True``, ``f`` returns ``(out, aux)`` and the result is
    ``(out, tangent, aux)``, with traced scalars inside ``aux`` as floats.

    Types: a function typed to return a scalar (or a list of scalars) gives
    floats (lists of floats); others give Any. Under an outer transform that
    traces the primals, the numbers are traced scalars instead.
    """
    return _jvp(f, primals, tangents, argnums, has_aux, "jvp")


def _jvp(f: Any, primals: Sequence[Any], tangents: Sequence[Any], argnums: Optional[Argnums], has_aux: bool, name: str) -> Any:
    """jvp, with its errors naming ``name`` (the public function called: jvp or hvp)."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            f"{name}: primals and tangents must be tuples or lists (one entry per argument of f), got "
            f"{type(primals).__name__} and {type(tangents).__name__}; for one argument write {name}(f, (x,), (t,))"
        )
    nums, _ = _optional_argnums(argnums, len(primals), name)
    if len(nums) != len(tangents):
        moving = "primals" if argnums is None else f"differentiated arguments (argnums={argnums!r})"
        raise ValueError(f"{name}: got {len(nums)} {moving} but {len(tangents)} tangents")
    tape, inputs, refs, out_treedef, out_value, aux = _trace_all(f, primals, nums, has_aux, name)
    seeds: dict[int, Any] = {}
    for k, (treedef, idx, tangent) in enumerate(zip(inputs.treedefs, inputs.indices, tangents)):
        tleaves, ttreedef, _ = flatten(tangent, f"tangents[{k}]", with_paths=False)
        if ttreedef != treedef:
            raise ValueError(f"{name}: tangents[{k}] has shape {ttreedef}, but primals[{nums[k]}] has shape {treedef}{_container_hint(ttreedef, treedef)}")
        seeds.update(zip(idx, tleaves))
    tan = forward_sweep(tape, seeds, refs)
    out_tangent = unflatten(out_treedef, [_zero(tan[r]) if r >= 0 else 0.0 for r in refs])
    return (out_value, out_tangent, aux) if has_aux else (out_value, out_tangent)


def _container_hint(got: Any, want: Any) -> str:
    """Why two shapes that hold the same leaves differ: a list where the primal has a tuple, or the reverse."""
    def plain(td: Any) -> str:
        return str(td).replace("(", "[").replace(")", "]").replace(",]", "]")

    if plain(got) == plain(want):
        return "; they differ only in lists and tuples: give it the same containers (tuple(t) or list(t))"
    return ""


# -- jacobian, hessian, hvp ---------------------------------------------------------


def _jacobian_impl(f: Callable[..., Any], argnums: Argnums, mode: str, has_aux: bool) -> Callable[..., Any]:
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError(f"jacobian: mode must be 'auto', 'fwd' or 'rev', got {mode!r}")
    nums, single = _argnums(argnums, "jacobian")
    names = _arg_names(f)

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        with Tape(name=f"the jacobian tape of {_fname(f)}") as tape:
            inputs = TracedInputs(tape, args, nums, names, "jacobian", f)
            out, aux = _split_aux(f(*inputs.args, **kwargs), has_aux, "jacobian", f)
            refs, out_treedef, _ = _output_refs(tape, out)
            aux = _aux_outside(tape, aux)
        input_records = [i for idx in inputs.indices for i in idx]
        use = mode if mode != "auto" else ("rev" if len(refs) <= len(input_records) else "fwd")
        # table[k][i]: d output k / d input record i (None for zero)
        table: list[dict[int, Any]]
        if use == "rev":
            table = []
            for r in refs:
                adj = reverse_sweep(tape, [(r, 1.0)], inputs_only=True) if r >= 0 else [None] * len(tape)
                table.append({i: adj[i] for i in input_records})
        else:
            table = [{} for _ in refs]
            for i in input_records:
                tan = forward_sweep(tape, {i: 1.0}, refs)
                for k, r in enumerate(refs):
                    table[k][i] = tan[r] if r >= 0 else None
        rows = []
        for row in table:
            trees = inputs.trees(row)
            rows.append(trees[0] if single else tuple(trees))
        jac = unflatten(out_treedef, rows)
        return (jac, aux) if has_aux else jac

    jacobian_f.__name__ = jacobian_f.__qualname__ = f"jacobian({_fname(f)})"
    return jacobian_f


@typed_as(JacobianSignature)
def jacobian(f: Any, argnums: Argnums = 0, mode: str = "auto", has_aux: bool = False) -> Any:
    """Return a function computing the Jacobian of ``f``.

    The result is shaped like ``f``'s output, with each output leaf replaced
    by a tree shaped like the differentiated argument: ``J[i][j]`` is
    d out[i] / d x[j] (rows are outputs, columns inputs). With a tuple
    ``argnums``, each output leaf holds a tuple of such trees, one per
    argument. ``mode="rev"`` runs one reverse sweep per output, ``"fwd"``
    one forward sweep per input; ``"auto"`` picks whichever needs fewer
    sweeps. ``f`` runs once.

    With ``has_aux=True``, ``f`` returns ``(out, aux)`` and the function
    returns ``(J, aux)``, with traced scalars inside ``aux`` as floats.

    Types: for ``f`` typed to return a scalar the result is typed like
    :func:`grad`'s, for a list of scalars as a list of rows shaped like the
    argument passed; otherwise Any.
    """
    impl = _jacobian_impl(f, argnums, mode, has_aux)
    # Typed as Gradient (a scalar function's Jacobian is its gradient) or
    # Jacobian; at run time the class only wraps the implementation.
    return Jacobian(impl, f, impl.__name__)


@typed_as(HessianSignature)
def hessian(f: Any, argnums: Argnums = 0, has_aux: bool = False) -> Any:
    """Return a function computing the Hessian of ``f``.

    Forward over reverse: the tape of ``grad(f)`` is recorded once and swept
    forward once per input. ``H[i][j]`` is d2 f / dx[i] dx[j], nested like
    the argument twice over. A function that returns a list (or tuple, or
    dict) of scalars gets one Hessian per output, nested like the output:
    ``H[k][i][j]`` is d2 f[k] / dx[i] dx[j], the Jacobian of the Jacobian,
    as ``jacobian(jacobian(f))`` computes it. With ``has_aux=True``, ``f``
    returns ``(value, aux)`` and the function returns ``(H, aux)``.
    """
    hess = _jacobian_impl(_first_derivative(f, argnums, has_aux), argnums, "fwd", has_aux)
    return Hessian(hess, f, f"hessian({_fname(f)})")


def _first_derivative(f: Callable[..., Any], argnums: Argnums, has_aux: bool) -> Callable[..., Any]:
    """What hessian differentiates again: grad(f) for a scalar f, the Jacobian (reverse mode) for a tree of outputs.

    The output's kind is known only once ``f`` has run, so one tape serves both.
    """
    nums, single = _argnums(argnums, "hessian")
    names = _arg_names(f)

    @functools.wraps(f)
    def derivative_f(*args: Any, **kwargs: Any) -> Any:
        with Tape(name=f"the hessian tape of {_fname(f)}") as tape:
            inputs = TracedInputs(tape, args, nums, names, "hessian", f)
            out, aux = _split_aux(f(*inputs.args, **kwargs), has_aux, "hessian", f)
            if not isinstance(out, (list, tuple, dict)) or isinstance(out, BatchedResult):
                _scalar_output(out, "hessian", f, tape)  # one output: it must be a scalar
            refs, out_treedef, _ = _output_refs(tape, out)
            rows = []
            for ref in refs:
                adj = reverse_sweep(tape, [(ref, 1.0)], inputs_only=True) if ref >= 0 else [None] * len(tape)
                trees = inputs.trees(adj)
                rows.append(trees[0] if single else tuple(trees))
            result = unflatten(out_treedef, rows)
            aux = _aux_outside(tape, aux)
        return (result, aux) if has_aux else result

    derivative_f.__name__ = derivative_f.__qualname__ = f"grad({_fname(f)})"
    return derivative_f


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """The Hessian of ``f`` times ``tangents``, without forming the Hessian.

    Exactly ``jvp(grad(f), primals, tangents)[1]``: one tape of the
    gradient, one forward sweep. As with ``grad(f)``, the gradient is taken
    with respect to the first argument; tangents of the other arguments
    (if any) give the mixed second derivatives d/d(other) of that gradient.
    The result is shaped like the first argument.
    """
    return _jvp(grad(f), primals, tangents, None, False, "hvp")[1]


# -- trace ------------------------------------------------------------------------------


def trace(f: Callable[..., Any]) -> Callable[..., Tape]:
    """Return a function that runs ``f`` and returns its recorded tape.

    Every leaf of every positional argument becomes an input, labelled with
    its path; the outputs are marked. Print the tape to read it as an
    evaluation trace, or look at ``tape.records``.
    """
    names = _arg_names(f)

    @functools.wraps(f)
    def trace_f(*args: Any, **kwargs: Any) -> Tape:
        tape = Tape(name=f"the tape of {_fname(f)}")
        with tape:
            inputs = TracedInputs(tape, args, range(len(args)), names, "trace", f)
            out = f(*inputs.args, **kwargs)
            _output_refs(tape, out)
        return tape

    return trace_f
