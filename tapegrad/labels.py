"""Checking the labels that the losses and accuracies of :mod:`tapegrad.nn` take.

Part of the library layer, under :mod:`tapegrad.nn`. Binary labels are -1 and
+1 for the margin losses and ``accuracy``, 0 and 1 for binary cross-entropy,
and class indices for cross-entropy and ``multiclass_accuracy``; Python's
numbers, NumPy's number scalars (the items of ``np.array([...])``) and, under
a transform, traced or batched values are all labels. A wrong label set
raises a ValueError naming the labels found, instead of silently
optimising another objective.
"""

from __future__ import annotations

import operator
from typing import Any, Optional, Sequence

from tapegrad.core.batch import Batch
from tapegrad.core.functions import where
from tapegrad.core.rule_table import batch_sum_p, equal_p
from tapegrad.core.tape import value_of
from tapegrad.core.traced import Traced, bind, holds_batch


def labels_outside(name: str, labels: Sequence[Any], allowed: tuple[float, ...]) -> Optional[list[float]]:
    """None if every label is one of ``allowed``; otherwise the labels' values, for the message.

    Under vmap (a label holding a batch) only the values outside ``allowed`` are given.

    The test is ``y == a`` for each allowed value, so a traced label (one
    passed as an argument) is checked like a number: under jit the
    comparisons are guards, and a replay whose labels differ from the
    traced ones checks them again instead of reusing a stale answer.
    """
    if all(y.__class__ is float and y in allowed for y in labels):
        return None  # the common case, plain floats, in one pass
    ok = True
    for k, y in enumerate(labels):
        if not is_label_number(y):
            raise TypeError(f"{name}: labels[{k}] must be a number, got {type(y).__name__} {y!r:.60}")
        if holds_batch(y):
            # Under vmap a label is a batch: count the examples whose label is
            # none of the allowed ones. That count is one number, so comparing
            # it with 0 is a guard under jit, checked again by every replay.
            fits: Any = 0.0
            for a in allowed:
                fits = fits + where(y == a, 1.0, 0.0)
            if bind(batch_sum_p, (1.0 - fits,)) != 0.0:
                ok = False
        elif y.__class__ is Traced:
            # A traced label (an argument of a jitted step): one recorded test whose
            # guard holds for every allowed label, not only for this one, so a
            # replay with other labels needs no new trace.
            if added([bind(equal_p, (y, a)) for a in allowed]) != 1.0:
                ok = False
        elif not any(y == a for a in allowed):
            ok = False
    if ok:
        return None
    # Reading the numbers is safe here: the call is about to fail, so nothing is frozen into a trace.
    # A batched label (one per example) shows only the examples' labels that are wrong:
    # the right ones would swamp them.
    return [v for y in labels for v in numbers(y) if not holds_batch(y) or v not in allowed]


def added(terms: Sequence[Any]) -> Any:
    """``terms[0] + terms[1] + ...`` as binary adds.

    For a few terms of a traced label's test this is cheaper than one variadic
    ``sum`` record, and it keeps a jitted step on the bytecode back end, whose
    assemblers do not write variadic records.
    """
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def is_label_number(y: Any) -> bool:
    """A number a label may be: int, float, NumPy's integer and float scalars, traced or batched; not a bool."""
    if isinstance(y, bool) or getattr(getattr(y, "dtype", None), "kind", "?") == "b":
        return False
    return isinstance(y, (int, float, Traced, Batch)) or getattr(getattr(y, "dtype", None), "kind", None) in ("i", "u", "f")


def plain_labels(labels: Sequence[Any]) -> list[Any]:
    """The labels with NumPy's number scalars (from ``np.array([...])``) as Python floats.

    ``np.int64(-1) * traced`` would hand the product to NumPy; a float keeps
    it on the tape. Traced, batched and Python numbers pass unchanged.
    """
    return [float(y) if getattr(getattr(y, "dtype", None), "kind", None) in ("i", "u", "f") else y for y in labels]


def numbers(y: Any) -> list[float]:
    """A label's value, or every example's value of a batched label."""
    under = value_of(y)
    return under.values() if isinstance(under, Batch) else [under]


def describe(values: Sequence[float], limit: int = 8) -> str:
    """The distinct values, sorted, as ``{0.0, 1.0}`` (at most ``limit`` of them, then ``...``)."""
    distinct = sorted(set(values))
    shown = ", ".join(repr(v) for v in distinct[:limit])
    return "{" + shown + (", ..." if len(distinct) > limit else "") + "}"


def check_signed_labels(name: str, labels: Sequence[Any]) -> None:
    """Labels must be -1 or +1: with 0/1 labels a margin loss would see no negative class at all."""
    values = labels_outside(name, labels, (-1.0, 1.0))
    if values is not None:
        hint = " For 0/1 labels use nn.binary_cross_entropy(logits, labels)." if set(values) <= {0.0, 1.0} else ""
        raise ValueError(f"{name}: expected labels in {{-1, +1}}, found labels {describe(values)}.{hint}")


def check_class_labels(name: str, labels: Sequence[Any], num_classes: int) -> list[int]:
    """Labels must be class indices in range(num_classes): ints (NumPy's too), or floats holding
    one (``2.0``, as vmap's label columns do). They index the logits."""
    found = [class_index(y) for y in labels]
    bad = [orig for orig, y in zip(labels, found) if y is None or not 0 <= y < num_classes]
    if bad:
        distinct = sorted({repr(y) for y in bad})
        shown = ", ".join(distinct[:8]) + (", ..." if len(distinct) > 8 else "")
        raise ValueError(
            f"{name}: labels must be class indices in {{0, ..., {num_classes - 1}}}, as ints or as floats holding one "
            f"(the logits have {num_classes} entries); found labels outside that: {{{shown}}}"
        )
    return found  # type: ignore[return-value]  # no None is left


def class_index(y: Any) -> Optional[int]:
    """``y`` as a class index if it is a whole number (an int, np.int64, 2.0, np.float32(2)), else None."""
    if isinstance(y, bool) or getattr(getattr(y, "dtype", None), "kind", None) == "b":
        return None  # True is 1 to Python, but not a class label
    try:
        return operator.index(y)  # int, and NumPy's integer scalars
    except TypeError:
        pass
    if isinstance(y, float) or getattr(getattr(y, "dtype", None), "kind", None) == "f":
        value = float(y)
        return int(value) if value.is_integer() else None
    return None
