"""Neural networks as pure functions of explicit parameters.

Nothing here holds state. :func:`init_mlp` draws a parameter tree from the
``random.Random`` you pass; :func:`mlp` evaluates the network on one input;
the losses and :func:`sgd_step` take and return plain trees, so a training
step is ``params = sgd_step(params, grad(loss)(params), lr)`` and the old
``params`` are left untouched.

The optimizers of :mod:`tapegrad.optim` (``sgd``, ``adam``, ``adamw``,
``rmsprop``, schedules and clipping) are re-exported here; they keep their
state in an explicit value: ``params, state = opt.update(params, grads, state)``.

Losses and accuracies that take labels check them (with
:mod:`tapegrad.labels`): :func:`svm_hinge_loss`, :func:`logistic_loss` and
:func:`accuracy` want labels in {-1, +1}; :func:`binary_cross_entropy`
wants {0, 1}; :func:`cross_entropy` and :func:`multiclass_accuracy` want
class indices. A wrong label set raises a ValueError naming the labels
found, instead of silently optimising another objective.

A multilayer perceptron's parameters are a list of layers, each a dict
``{"w": [[...] one row per neuron], "b": [...]}``, so an error message or a
gradient can point at ``params[1]['w'][3][0]``.
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence, TypedDict, TypeVar, Union, cast

from tapegrad.core.batch import Batch
from tapegrad.core.functions import exp, log, maximum, relu, softplus, step, stop_gradient, where
from tapegrad.core.functions import sum as fsum
from tapegrad.core.rule_table import equal_p
from tapegrad.core.traced import Scalar, Traced, bind, holds_batch
from tapegrad.core.tree import leaves
from tapegrad.core.tree_utils import tree_map
from tapegrad.labels import added, check_class_labels, check_signed_labels, describe, labels_outside, plain_labels

from tapegrad.hyperparameters import check_learning_rate

# Re-exported (``X as X`` marks them as part of this module's interface for mypy).
from tapegrad.optim import (
    AdamState as AdamState,
    RMSpropState as RMSpropState,
    SGDState as SGDState,
    LearningRate as LearningRate,
    Optimizer as Optimizer,
    Schedule as Schedule,
    adam as adam,
    adamw as adamw,
    clip_by_global_norm as clip_by_global_norm,
    clipped as clipped,
    constant as constant,
    cosine_decay as cosine_decay,
    global_norm as global_norm,
    linear_warmup as linear_warmup,
    rmsprop as rmsprop,
    sgd as sgd,
    step_decay as step_decay,
)

T = TypeVar("T")


class Layer(TypedDict):
    """One dense layer: ``w[j]`` are neuron j's input weights, ``b[j]`` its bias."""

    w: Sequence[Sequence[Scalar]]
    b: Sequence[Scalar]


MLPParams = Sequence[Layer]
"""The parameter tree of :func:`mlp`: one :class:`Layer` per layer."""


def init_mlp(rng: random.Random, sizes: Sequence[int]) -> list[Layer]:
    """Parameters for an MLP with layer sizes ``sizes = [n_in, hidden..., n_out]``.

    Numbers are drawn exactly as micrograd's ``MLP(n_in, sizes[1:])`` draws
    them: layer by layer, neuron by neuron, ``n_in`` weights from
    ``uniform(-1, 1)`` and then a bias of 0. So ``init_mlp(Random(1337),
    [2, 16, 16, 1])`` equals micrograd's network after ``random.seed(1337)``.
    """
    if not isinstance(rng, random.Random):
        raise TypeError(f"init_mlp: rng must be a random.Random, got {type(rng).__name__}")
    if len(sizes) < 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"init_mlp: sizes must be at least two positive ints, got {list(sizes)!r}")
    params: list[Layer] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        w = [[rng.uniform(-1.0, 1.0) for _ in range(n_in)] for _ in range(n_out)]
        params.append({"w": w, "b": [0.0] * n_out})
    return params


def mlp_outputs(params: MLPParams, x: Sequence[Scalar]) -> list[Scalar]:
    """All outputs of the network on input ``x``: ReLU hidden layers, linear last layer.

    Each neuron computes ``b + w[0]*x[0] + w[1]*x[1] + ...`` in that order,
    as micrograd's Neuron does, so the numbers agree with it exactly.
    """
    if isinstance(x, (int, float, Traced, Batch, str)) or not hasattr(x, "__len__"):
        raise TypeError(
            f"mlp: x must be a sequence of inputs, one number per input of the first layer, got {type(x).__name__} {x!r:.60}; "
            f"for a network of one input write mlp(params, [x])"
        )
    h: Sequence[Scalar] = x
    last = len(params) - 1
    for k, layer in enumerate(params):
        w, b = layer["w"], layer["b"]
        if w and len(w[0]) != len(h):
            raise ValueError(f"mlp: layer {k} expects {len(w[0])} inputs, got {len(h)}")
        out: list[Scalar] = []
        for row, bias in zip(w, b):
            act = bias
            for wi, xi in zip(row, h):
                act = act + wi * xi
            out.append(act if k == last else relu(act))
        h = out
    return list(h)


def mlp(params: MLPParams, x: Sequence[Scalar]) -> Scalar:
    """The single output of a network whose last layer has one neuron."""
    out = mlp_outputs(params, x)
    if len(out) != 1:
        raise ValueError(f"mlp: the network has {len(out)} outputs; use mlp_outputs for more than one")
    return out[0]


def _mean(terms: Sequence[Scalar]) -> Scalar:
    if not terms:
        raise ValueError("a loss needs at least one example")
    return sum(terms) * (1.0 / len(terms))


def _check_pairs(name: str, a: Sequence[Any], b: Sequence[Any]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name}: got {len(a)} predictions but {len(b)} targets")


def svm_hinge_loss(scores: Sequence[Scalar], labels: Sequence[Scalar]) -> Scalar:
    """Mean of ``relu(1 - y * score)`` with labels in {-1, +1} (micrograd's demo loss).

    Any other label raises a ValueError naming the labels found.
    """
    _check_pairs("svm_hinge_loss", scores, labels)
    check_signed_labels("svm_hinge_loss", labels)
    labels = plain_labels(labels)
    return _mean([relu(1.0 + -y * s) for s, y in zip(scores, labels)])


def _check_numbers(name: str, what: str, xs: Sequence[Any]) -> None:
    for k, x in enumerate(xs):
        if isinstance(x, bool) or not isinstance(x, (int, float, Traced, Batch)):  # (a batch: under vmap)
            raise TypeError(f"{name}: {what}[{k}] must be a number, got {type(x).__name__} {x!r:.60}")


def mse_loss(predictions: Sequence[Scalar], targets: Sequence[float]) -> Scalar:
    """Mean of ``(prediction - target) ** 2`` over scalar predictions and targets."""
    _check_pairs("mse_loss", predictions, targets)
    _check_numbers("mse_loss", "predictions", predictions)
    _check_numbers("mse_loss", "targets", targets)
    return _mean([(p - t) * (p - t) for p, t in zip(predictions, targets)])


def logistic_loss(scores: Sequence[Scalar], labels: Sequence[Scalar]) -> Scalar:
    """Mean of ``log(1 + exp(-y * score))`` with labels in {-1, +1}, computed without overflow.

    Any other label raises a ValueError naming the labels found; for 0/1
    labels use :func:`binary_cross_entropy`, which is the same loss.
    """
    _check_pairs("logistic_loss", scores, labels)
    check_signed_labels("logistic_loss", labels)
    labels = plain_labels(labels)
    # softplus is one primitive: written as relu(z) + log(1 + exp(-|z|)) it
    # would have derivative 0 at z = 0 (relu'(0) = abs'(0) = 0) instead of 1/2.
    return _mean([softplus(-y * s) for s, y in zip(scores, labels)])


def binary_cross_entropy(logits: Sequence[Scalar], labels: Sequence[Scalar]) -> Scalar:
    """Mean binary cross-entropy of ``sigmoid(logit)`` against labels in {0, 1}, from the logits.

    Per example ``-y log sigmoid(z) - (1 - y) log(1 - sigmoid(z))``, which
    equals ``softplus(z) - y * z``; that form never takes the log of a
    rounded-to-zero probability, so it stays finite at logits of +-1000.
    Labels other than 0 and 1 raise a ValueError naming the labels found.
    """
    _check_pairs("binary_cross_entropy", logits, labels)
    values = labels_outside("binary_cross_entropy", labels, (0.0, 1.0))
    if values is not None:
        hint = " For -1/+1 labels use nn.logistic_loss(scores, labels)." if set(values) <= {-1.0, 1.0} else ""
        raise ValueError(f"binary_cross_entropy: expected labels in {{0, 1}}, found labels {describe(values)}.{hint}")
    labels = plain_labels(labels)
    return _mean([softplus(z) - y * z for z, y in zip(logits, labels)])


def _shift(xs: Sequence[Scalar]) -> Scalar:
    """About the largest of ``xs``, as a constant: no derivative flows through it.

    Subtracting it before exp keeps every exponent <= 0, so nothing
    overflows; the log-sum-exp does not depend on the shift, so its
    derivative does not need to flow through it. Only the values are used
    (stop_gradient), and the largest is found with the ``maximum``
    primitive rather than compared with ``>``: under jit a comparison would
    become a guard and retrace whenever the largest entry changes, while
    maximum is recorded and replayed (and, unlike ``m + relu(x - m)``, it is
    not nan for two equal infinities).
    """
    values = [stop_gradient(x) for x in xs]
    if all(v.__class__ is float for v in values):
        return max(values)  # no tape in sight (the common case outside jit): plain floats
    m = values[0]
    for v in values[1:]:
        m = maximum(m, v)
    return m


def _check_logits(name: str, xs: Sequence[Scalar]) -> None:
    if isinstance(xs, (int, float, Traced)) or not len(xs):
        raise ValueError(f"{name}: expected a non-empty sequence of logits, got {xs!r:.60}")
    _check_numbers(name, "logits", xs)


def logsumexp(xs: Sequence[Scalar]) -> Scalar:
    """``log(sum(exp(x) for x in xs))``, computed without overflow or underflow.

    ``logsumexp([1000.0, 1000.0]) == 1000 + log 2``. Its gradient is
    :func:`softmax`.
    """
    _check_logits("logsumexp", xs)
    m = _shift(xs)
    if m.__class__ is float:
        if math.isinf(m):
            # All -inf (an empty sum: log 0) or some +inf: the answer is m, and
            # x - m would be nan. (A float m: no jit is recording the values.)
            return m
        return _shifted_logsumexp(xs, m)
    finite: Any = abs(cast(Any, m)) < math.inf  # a bool (a guard under jit), or a choice per example under vmap
    if finite.__class__ is bool:
        return _shifted_logsumexp(xs, m) if finite else m
    # Under vmap some examples may have an infinite shift: they get m itself,
    # and their exponents are replaced so that nothing evaluates nan or log 0.
    shift = where(finite, m, 0.0)  # (x - m itself would be nan, and NumPy would warn)
    total: Scalar = 0.0
    for x in xs:
        total = total + exp(where(finite, x - shift, -math.inf))
    safe = where(finite, total, 1.0)
    return where(finite, shift + log(safe), m)


def _shifted_logsumexp(xs: Sequence[Scalar], m: Scalar) -> Scalar:
    total: Scalar = 0.0
    for x in xs:
        total = total + exp(x - m)
    return m + log(total)


def log_softmax(xs: Sequence[Scalar]) -> list[Scalar]:
    """``x - logsumexp(xs)`` for each x: log-probabilities, finite even at logits of +-1000."""
    lse = logsumexp(xs)
    return [x - lse for x in xs]


def softmax(xs: Sequence[Scalar]) -> list[Scalar]:
    """``exp(x) / sum(exp(xs))`` for each x: probabilities that sum to 1, computed without overflow."""
    lse = logsumexp(xs)
    return [exp(x - lse) for x in xs]


def _picked(terms: Sequence[Scalar], y: Any) -> Scalar:
    """The sum of one class's terms, all but one of them zero: one ``sum`` record for a
    batched label, binary adds for a traced one (which keep a jitted step on the bytecode
    back end: its assemblers do not write variadic records)."""
    return fsum(terms) if holds_batch(y) else added(terms)


def _if_class(y: Any, c: float, z: Scalar) -> Scalar:
    """``z`` if label ``y`` is class ``c``, else 0.0: per example for a batched label, recorded for a traced one.

    A traced label's test is a record, ``equal(y, c)`` (1.0 or 0.0), that
    multiplies ``z``: neither the value nor its derivative branches in Python,
    so a jit replay follows the labels it is given. (A logit that is not
    finite gives nan there; jit then asks eager evaluation, as for any nan.)
    """
    if y.__class__ is Traced and not holds_batch(y):
        return bind(equal_p, (y, c)) * z  # type: ignore[no-any-return]
    return where(y == c, z, 0.0)


def _classes_per_row(name: str, batch_logits: Sequence[Sequence[Scalar]], labels: Sequence[Any], what: str) -> int:
    """The number of classes: every example's row of logits must have as many, and each example one label."""
    if len(batch_logits) != len(labels):
        raise ValueError(f"{name}: got {len(batch_logits)} examples of logits but {len(labels)} {what}")
    k = len(batch_logits[0])
    for i, row in enumerate(batch_logits):
        if len(row) != k:
            raise ValueError(f"{name}: example 0 has {k} logits but example {i} has {len(row)}")
    return k


def cross_entropy_per_example(batch_logits: Sequence[Sequence[Scalar]], labels: Sequence[Union[int, Scalar]]) -> list[Scalar]:
    """Softmax cross-entropy of each example: ``logsumexp(logits) - logits[label]``.

    ``batch_logits[i]`` holds example i's unnormalised scores, one per class,
    and ``labels[i]`` its class index (an int in ``0..K-1``, NumPy's
    integers included, or a float holding one, such as ``2.0``). Every
    example must have the same number K of classes. Under vmap a label may be a
    batch of class indices (as floats): each example's logit is then chosen
    with :func:`tapegrad.where`.
    """
    if not batch_logits:
        raise ValueError("cross_entropy needs at least one example")
    if isinstance(batch_logits[0], (int, float, Traced)):
        raise ValueError(
            "cross_entropy: batch_logits must be a sequence of examples, each a sequence of logits; "
            "for one example write cross_entropy([logits], [label])"
        )
    k = _classes_per_row("cross_entropy", batch_logits, labels, "labels")
    if any(holds_batch(y) or y.__class__ is Traced for y in labels):
        # Under vmap a label is a batch of class indices, and under jit a traced
        # number: pick each example's logit with where (such a label cannot
        # index a list), so that a replay reads the labels it is given.
        classes = tuple(float(c) for c in range(k))
        found = labels_outside("cross_entropy", labels, classes)
        if found is not None:
            raise ValueError(f"cross_entropy: expected class labels in 0..{k - 1}, found labels {describe(found)}")
        return [
            logsumexp(row) - _picked([_if_class(y, c, z) for c, z in zip(classes, row)], y) for row, y in zip(batch_logits, labels)
        ]
    ys = check_class_labels("cross_entropy", labels, k)
    return [logsumexp(row) - row[y] for row, y in zip(batch_logits, ys)]


def cross_entropy(batch_logits: Sequence[Sequence[Scalar]], labels: Sequence[Union[int, Scalar]]) -> Scalar:
    """Mean softmax cross-entropy over a batch, with integer class labels.

    ``batch_logits`` is a sequence of examples, each a sequence of K logits
    (unnormalised log-probabilities), and ``labels[i]`` is example i's
    class, an int in ``0..K-1`` (or a float holding one, NumPy's numbers
    included); for one example write ``cross_entropy([logits], [label])``. Per example the loss is
    ``-log softmax(logits)[label]``, computed stably
    (:func:`cross_entropy_per_example` gives the terms).
    """
    return _mean(cross_entropy_per_example(batch_logits, labels))


def l2_penalty(params: Any) -> Scalar:
    """Sum of the squares of every leaf of ``params``."""
    total: Scalar = 0.0
    for p in leaves(params):
        total = total + p * p
    return total


# grads is Any, as in the optimizers' update (see tapegrad.optim.Optimizer):
# grad types it by the loss's declared parameter (MLPParams, a Sequence),
# rarely the params' own type (list[Layer]). Its shape is checked at run time.
def sgd_step(params: T, grads: Any, lr: float) -> T:
    """One plain step of gradient descent: a new tree ``params - lr * grads``.

    No state and no schedule: for momentum, Adam or a learning-rate schedule
    use the optimizers (:func:`sgd`, :func:`adam`, ...) instead.
    """
    # A plain number (NumPy's too) is checked as the optimizers check theirs;
    # a traced or batched lr (grad with respect to it, jit, vmap) is not.
    given: object = lr  # (typed float, but any value may come in)
    if getattr(getattr(given, "dtype", None), "kind", None) in ("i", "u", "f"):
        check_learning_rate("sgd_step", float(lr))
    elif isinstance(given, (int, float, str)) or getattr(getattr(given, "dtype", None), "kind", None) == "b":
        check_learning_rate("sgd_step", given)
    if lr.__class__ is float or lr.__class__ is int:
        try:
            return _descend(params, grads, float(lr))  # type: ignore[no-any-return]
        except _NotPlain:
            pass
    # A traced or batched learning rate (jit, grad with respect to lr, vmap), a NumPy
    # scalar, traced values, ints, tuples, arrays, or shapes that differ: the general
    # walk handles all of them and names the shapes for the last.
    return tree_map(lambda p, g: p - lr * g, params, grads)


class _NotPlain(Exception):
    """The trees are not plain floats in matching lists and dicts."""


_FLOAT_ONLY = {float}


def _descend(p: Any, g: Any, lr: float) -> Any:
    """``p - lr * g`` leaf by leaf, for the common trees: floats in lists and dicts of one shape.

    A training loop calls this every step; walking the two trees together,
    with a list of floats done in one comprehension, costs a third of
    flattening both and rebuilding. The numbers are the same as tree_map's.
    """
    cls = p.__class__
    if cls is float and g.__class__ is float:
        return p - lr * g
    if cls is list and g.__class__ is list and len(p) == len(g):
        if p and {*map(type, p), *map(type, g)} == _FLOAT_ONLY:
            return [a - lr * b for a, b in zip(p, g)]
        return [_descend(a, b, lr) for a, b in zip(p, g)]
    if cls is dict and g.__class__ is dict and p.keys() == g.keys():
        return {k: _descend(v, g[k], lr) for k, v in p.items()}
    raise _NotPlain


def accuracy(scores: Sequence[Scalar], labels: Sequence[Scalar]) -> Scalar:
    """Fraction of examples whose score has the label's sign, with labels in {-1, +1} (a score of 0 counts as wrong).

    The labels are checked as the margin losses check theirs: 0/1 labels
    raise a ValueError (label 0 would count every example as wrong) that
    says how to convert them. For class indices and one logit per class use
    :func:`multiclass_accuracy`. It is computed with the ``step`` primitive
    rather than with ``if``, so it is recorded like any other value: under
    :func:`tapegrad.jit` it is replayed instead of guarding on every
    example's sign. Its derivative is zero.
    """
    _check_pairs("accuracy", scores, labels)
    if len(labels) == 0:
        raise ValueError("accuracy needs at least one example")
    values = labels_outside("accuracy", labels, (-1.0, 1.0))
    if values is not None:
        hint = (
            " For 0/1 labels pass [2 * y - 1 for y in labels]; for class indices and one logit per class use "
            "nn.multiclass_accuracy(batch_logits, classes)."
        )
        raise ValueError(f"accuracy: expected labels in {{-1, +1}} (the sign of the score is the prediction), found labels {describe(values)}.{hint}")
    hits: Scalar = 0.0
    for s, y in zip(scores, plain_labels(labels)):
        hits = hits + step(y * s)
    return hits * (1.0 / len(labels))


def _argmax_hit(row: Sequence[Scalar], c: int) -> Scalar:
    """1.0 if ``row[c]`` is the first largest entry of ``row`` (numpy.argmax's choice at a tie), else 0.0.

    Recorded with ``step``, like :func:`accuracy`, so that jit replays it.
    """
    hit: Scalar = 1.0
    for j, z in enumerate(row):
        if j < c:
            hit = hit * step(row[c] - z)  # strictly larger than every entry before it
        elif j > c:
            hit = hit * (1.0 - step(z - row[c]))  # and at least as large as every entry after it
    return hit


def multiclass_accuracy(batch_logits: Sequence[Sequence[Scalar]], classes: Sequence[Union[int, Scalar]]) -> Scalar:
    """Fraction of examples whose largest logit is at their class index: ``mean(argmax(logits) == class)``.

    ``batch_logits[i]`` holds example i's logits, one per class, and
    ``classes[i]`` its class index, checked as :func:`cross_entropy` checks
    them (ints, NumPy's integers, floats holding one). At a tie the first
    largest logit is the prediction, as ``numpy.argmax`` chooses; a nan
    logit compares false. Under vmap a class may be a batch of indices. The
    derivative is zero.
    """
    if len(batch_logits) == 0:
        raise ValueError("multiclass_accuracy needs at least one example")
    if isinstance(batch_logits[0], (int, float, Traced, Batch)):
        raise ValueError(
            "multiclass_accuracy: batch_logits must be a sequence of examples, each a sequence of logits (one per class); "
            "for one example write multiclass_accuracy([logits], [cls]); for one score per example and labels in {-1, +1} use nn.accuracy"
        )
    k = _classes_per_row("multiclass_accuracy", batch_logits, classes, "classes")
    hits: Scalar = 0.0
    if any(holds_batch(y) or y.__class__ is Traced for y in classes):
        # A batch of indices (vmap) or a traced one (an argument of a jitted step): the
        # hit is chosen per class with a recorded test, so a replay reads the classes given.
        found = labels_outside("multiclass_accuracy", classes, tuple(float(c) for c in range(k)))
        if found is not None:
            raise ValueError(f"multiclass_accuracy: expected class indices in 0..{k - 1}, found {describe(found)}")
        for row, y in zip(batch_logits, classes):
            hits = hits + _picked([_if_class(y, float(c), _argmax_hit(row, c)) for c in range(k)], y)
    else:
        for row, c in zip(batch_logits, check_class_labels("multiclass_accuracy", classes, k)):
            hits = hits + _argmax_hit(row, c)
    return hits * (1.0 / len(batch_logits))
