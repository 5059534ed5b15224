"""check_per_example_grads: ``vmap(grad(f))`` against the loop of ``grad(f)``, example by example.

Part of the library layer (``tapegrad/testing``).

Per-example gradients come from running ``grad`` inside ``vmap``: the tape
records one example's program on whole batches, and its batched adjoints
stay per example. The obvious reference is the loop that takes the gradient
of each example on its own. This checker runs both (values first, then
gradients) and reports the first example, and the leaf of the parameters,
where they part.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

from tapegrad.core.tree import flatten
from tapegrad.transforms.grad import grad
from tapegrad.transforms.vmap import vmap


def _example(batch: Sequence[Any], i: int, k: int) -> Any:
    try:
        return batch[i]
    except (TypeError, IndexError, KeyError) as exc:
        raise TypeError(
            f"check_per_example_grads: batch argument {k} cannot be indexed by example ({exc}); pass a list with one "
            "entry per example, or a NumPy array with one row per example"
        ) from None


def _mismatch(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return False
    return not abs(a - b) <= atol + rtol * abs(b)


def _report(what: str, bad: list[tuple[int, str, float, float]], n: int, rtol: float, atol: float, passed: Optional[str]) -> AssertionError:
    i, path, got, want = bad[0]
    shown = ", ".join(str(j) for j in sorted({b[0] for b in bad})[:10])
    count = len({b[0] for b in bad})
    lines = [
        f"check_per_example_grads: {what} of example {i} differs at {path}:",
        f"  vmap:      {got!r}",
        f"  the loop:  {want!r}",
        f"  difference {abs(got - want):.3g} (tolerance atol={atol} + rtol={rtol} * |loop|)",
        f"  {count} of {n} examples differ: {shown}{', ...' if count > 10 else ''}",
    ]
    if passed:
        lines.append(f"  passed: {passed}")
    return AssertionError("\n".join(lines))


def check_per_example_grads(
    f: Callable[..., Any],
    params: Any,
    *batch: Sequence[Any],
    rtol: float = 1e-9,
    atol: float = 1e-11,
    backend: str = "auto",
) -> None:
    """Check ``vmap(grad(f), in_axes=(None, 0, ...))(params, *batch)`` against a loop of ``grad(f)``.

    ``f(params, *example)`` returns one example's scalar loss; each entry of
    ``batch`` holds one value per example (a list, or a NumPy array with one
    row per example), and example ``i`` is ``[b[i] for b in batch]``. The
    per-example values of ``vmap(f)`` are compared first, then the
    per-example gradients, leaf by leaf. On a difference beyond ``atol +
    rtol * |loop value|`` it raises AssertionError naming the first example
    and the leaf of ``params`` that differ (``params['w'][1]``), both
    values, and how many examples differ. ``backend`` is passed to vmap.
    """
    if not batch:
        raise TypeError("check_per_example_grads: give at least one batch argument (the examples), after params")
    sizes = {len(b) for b in batch}
    if len(sizes) != 1:
        raise ValueError(f"check_per_example_grads: the batch arguments have different numbers of examples: {[len(b) for b in batch]}")
    n = sizes.pop()
    if n == 0:
        raise ValueError("check_per_example_grads: the batch is empty; give at least one example")
    in_axes = (None,) + (0,) * len(batch)
    examples = [[_example(b, i, k) for k, b in enumerate(batch)] for i in range(n)]

    values = list(vmap(f, in_axes=in_axes, backend=backend)(params, *batch))
    bad = []
    for i, ex in enumerate(examples):
        want = f(params, *ex)
        got, _, _ = flatten(values[i], "value", with_paths=False)
        (w,), _, _ = flatten(want, "value", with_paths=False)
        if _mismatch(float(got[0]), float(w), rtol, atol):
            bad.append((i, "its value f(params, *example)", float(got[0]), float(w)))
    if bad:
        raise _report("the value", bad, n, rtol, atol, None)

    per_example = list(vmap(grad(f), in_axes=in_axes, backend=backend)(params, *batch))
    g = grad(f)
    for i, ex in enumerate(examples):
        want_leaves, want_def, paths = flatten(g(params, *ex), "params")
        got_leaves, got_def, _ = flatten(per_example[i], "params")
        if got_def != want_def:
            raise AssertionError(f"check_per_example_grads: the gradient of example {i} has shape {got_def} under vmap but {want_def} in the loop")
        bad.extend((i, p, float(a), float(b)) for a, b, p in zip(got_leaves, want_leaves, paths) if _mismatch(float(a), float(b), rtol, atol))
    if bad:
        raise _report("the gradient", bad, n, rtol, atol, f"the per-example values of vmap(f) agree with the loop for all {n} examples")
