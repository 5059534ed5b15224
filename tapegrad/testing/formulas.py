"""Random formulas as trees: evaluated with tapegrad's operations, and with :mod:`math` alone.

An :class:`Expression` is a tree of nodes (variables, constants, unary and
binary forms) that is callable on floats and traced scalars, prints as a
readable formula, and has a ``float_fn`` that evaluates the same formula with
the math module only, so that tapegrad's forward values can be compared with
code that shares nothing with it. Every node carries a bound on its value and
on its slope, which is what keeps random formulas well conditioned.

The hypothesis strategy that draws them,
:func:`tapegrad.testing.strategies.expressions`, is in
:mod:`tapegrad.testing.strategies`; this module does not import hypothesis.
"""

from __future__ import annotations

import math
from typing import Sequence

from tapegrad.core.functions import cos, exp, log, relu, sigmoid, sin, sqrt, tanh
from tapegrad.core.traced import Scalar

# Limits on the magnitude of every subexpression and on its Lipschitz
# constant with respect to the inputs. A node that would exceed them is
# rebuilt from squashed operands or replaced by its first operand, so the
# derivatives of every generated expression stay moderate and central
# differences stay accurate.
_VALUE_LIMIT = 20.0
_SLOPE_LIMIT = 20.0


class Expression:
    """A random differentiable formula in ``n_vars`` variables ``x[0]``, ``x[1]``, ...

    Call it on a sequence of floats or traced scalars: ``expr([a, b])``.
    ``repr(expr)`` is the formula; :meth:`float_fn` evaluates it with the
    :mod:`math` module only, independently of tapegrad. ``primitives`` names
    the tapegrad operations it uses.
    """

    __slots__ = ("_node", "n_vars", "smooth")

    def __init__(self, node: _Node, n_vars: int, smooth: bool) -> None:
        self._node = node
        self.n_vars = n_vars
        self.smooth = smooth

    def _check(self, xs: Sequence[object]) -> None:
        if len(xs) != self.n_vars:
            raise ValueError(f"{self!r} takes {self.n_vars} variable(s), got {len(xs)}")

    def __call__(self, xs: Sequence[Scalar]) -> Scalar:
        """Evaluate with tapegrad's operations (works on floats and traced scalars)."""
        self._check(xs)
        return self._node.scalar(xs)

    def float_fn(self, xs: Sequence[float]) -> float:
        """Evaluate with the math module alone: a reference for the forward values."""
        self._check(xs)
        return self._node.reference([float(x) for x in xs])

    @property
    def formula(self) -> str:
        """The formula as text, e.g. ``sin(x[0]) * x[1]``."""
        return self._node.text()

    @property
    def primitives(self) -> frozenset[str]:
        """Names of the operations the formula uses (``add``, ``exp``, ...)."""
        return self._node.ops()

    def __repr__(self) -> str:
        return f"Expression(lambda x: {self.formula})"


class _Node:
    """A node of an expression: its value bound, slope bound and three evaluations."""

    bound: float  # |value| <= bound for inputs within the declared range
    slope: float  # |d value / d input| summed over inputs, at most this
    precedence: int = 9  # for printing with few parentheses

    def scalar(self, xs: Sequence[Scalar]) -> Scalar:
        raise NotImplementedError

    def reference(self, xs: Sequence[float]) -> float:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError

    def ops(self) -> frozenset[str]:
        raise NotImplementedError

    def wrap(self, precedence: int) -> str:
        t = self.text()
        return f"({t})" if self.precedence < precedence else t


class _Var(_Node):
    def __init__(self, index: int, input_bound: float) -> None:
        self.index = index
        self.bound = input_bound
        self.slope = 1.0

    def scalar(self, xs: Sequence[Scalar]) -> Scalar:
        return xs[self.index]

    def reference(self, xs: Sequence[float]) -> float:
        return xs[self.index]

    def text(self) -> str:
        return f"x[{self.index}]"

    def ops(self) -> frozenset[str]:
        return frozenset()


class _Const(_Node):
    def __init__(self, value: float) -> None:
        self.value = value
        self.bound = abs(value)
        self.slope = 0.0
        self.precedence = 9 if value >= 0 else 5

    def scalar(self, xs: Sequence[Scalar]) -> Scalar:
        return self.value

    def reference(self, xs: Sequence[float]) -> float:
        return self.value

    def text(self) -> str:
        return repr(self.value)

    def ops(self) -> frozenset[str]:
        return frozenset()


def _ref_sigmoid(x: float) -> float:
    # A different formula from tapegrad's: the logistic function via tanh.
    return 0.5 + 0.5 * math.tanh(0.5 * x)


class _Unary(_Node):
    """One of a fixed menu of unary forms, each defined for every real operand."""

    # kind: (text template, tapegrad primitives used)
    FORMS: dict[str, tuple[str, frozenset[str]]] = {
        "neg": ("-{a}", frozenset({"mul"})),
        "sin": ("sin({a})", frozenset({"sin"})),
        "cos": ("cos({a})", frozenset({"cos"})),
        "tanh": ("tanh({a})", frozenset({"tanh"})),
        "sigmoid": ("sigmoid({a})", frozenset({"sigmoid"})),
        "exp_tanh": ("exp(tanh({a}))", frozenset({"exp", "tanh"})),
        "exp_neg_sq": ("exp(-{a} * {a})", frozenset({"exp", "mul"})),
        "log1p_sq": ("log(1.0 + {a} * {a})", frozenset({"log", "add", "mul"})),
        "sqrt1p_sq": ("sqrt(1.0 + {a} * {a})", frozenset({"sqrt", "add", "mul"})),
        "square": ("{a} ** 2", frozenset({"pow"})),
        "cube": ("{a} ** 3", frozenset({"pow"})),
        "recip": ("1.0 / (1.0 + {a} * {a})", frozenset({"pow", "mul", "add"})),
        "two_pow": ("2.0 ** tanh({a})", frozenset({"pow", "tanh"})),
        "relu": ("relu({a})", frozenset({"relu"})),
        "abs": ("abs({a})", frozenset({"abs"})),
    }

    def __init__(self, kind: str, a: _Node) -> None:
        self.kind = kind
        self.a = a
        self.precedence = {"neg": 5, "square": 7, "cube": 7, "recip": 6, "two_pow": 7}.get(kind, 9)
        b, s = a.bound, a.slope
        e = math.e
        bounds: dict[str, tuple[float, float]] = {
            "neg": (b, s),
            "sin": (min(1.0, b), s),
            "cos": (1.0, s),
            "tanh": (min(1.0, b), s),
            "sigmoid": (1.0, 0.25 * s),
            "exp_tanh": (e, e * s),
            "exp_neg_sq": (1.0, s),  # |d/da exp(-a^2)| <= sqrt(2/e) < 1
            "log1p_sq": (math.log1p(b * b), s),  # |d/da log(1 + a^2)| <= 1
            "sqrt1p_sq": (math.sqrt(1.0 + b * b), s),  # |d/da sqrt(1 + a^2)| <= 1
            "square": (b * b, 2.0 * b * s),
            "cube": (b**3, 3.0 * b * b * s),
            "recip": (1.0, s),  # |d/da 1/(1 + a^2)| <= 0.65
            "two_pow": (2.0, 2.0 * math.log(2.0) * s),
            "relu": (b, s),
            "abs": (b, s),
        }
        self.bound, self.slope = bounds[kind]

    def scalar(self, xs: Sequence[Scalar]) -> Scalar:
        a = self.a.scalar(xs)
        k = self.kind
        if k == "neg":
            return -a
        if k == "sin":
            return sin(a)
        if k == "cos":
            return cos(a)
        if k == "tanh":
            return tanh(a)
        if k == "sigmoid":
            return sigmoid(a)
        if k == "exp_tanh":
            return exp(tanh(a))
        if k == "exp_neg_sq":
            return exp(-a * a)
        if k == "log1p_sq":
            return log(1.0 + a * a)
        if k == "sqrt1p_sq":
            return sqrt(1.0 + a * a)
        if k == "square":
            return a**2
        if k == "cube":
            return a**3
        if k == "recip":
            return 1.0 / (1.0 + a * a)
        if k == "two_pow":
            return 2.0 ** tanh(a)
        if k == "relu":
            return relu(a)
        if k == "abs":
            return abs(a)  # type: ignore[return-value]  # abs() of Scalar is Scalar
        raise AssertionError(k)

    def reference(self, xs: Sequence[float]) -> float:
        a = self.a.reference(xs)
        k = self.kind
        if k == "neg":
            return -a
        if k == "sin":
            return math.sin(a)
        if k == "cos":
            return math.cos(a)
        if k == "tanh":
            return math.tanh(a)
        if k == "sigmoid":
            return _ref_sigmoid(a)
        if k == "exp_tanh":
            return math.exp(math.tanh(a))
        if k == "exp_neg_sq":
            return math.exp(-a * a)
        if k == "log1p_sq":
            return math.log(1.0 + a * a)
        if k == "sqrt1p_sq":
            return math.sqrt(1.0 + a * a)
        if k == "square":
            return a * a
        if k == "cube":
            return a * a * a
        if k == "recip":
            return 1.0 / (1.0 + a * a)
        if k == "two_pow":
            return math.pow(2.0, math.tanh(a))
        if k == "relu":
            return a if a > 0.0 else 0.0
        if k == "abs":
            return math.fabs(a)
        raise AssertionError(k)

    def text(self) -> str:
        template = self.FORMS[self.kind][0]
        inner_precedence = {"neg": 6, "square": 8, "cube": 8, "recip": 7, "exp_neg_sq": 7, "log1p_sq": 7, "sqrt1p_sq": 7}
        return template.format(a=self.a.wrap(inner_precedence.get(self.kind, 0)))

    def ops(self) -> frozenset[str]:
        return self.FORMS[self.kind][1] | self.a.ops()


class _Binary(_Node):
    """A binary form, defined for every pair of real operands."""

    FORMS: dict[str, tuple[str, frozenset[str]]] = {
        "add": ("{a} + {b}", frozenset({"add"})),
        "sub": ("{a} - {b}", frozenset({"add", "mul"})),
        "mul": ("{a} * {b}", frozenset({"mul"})),
        "div": ("{a} / (1.0 + {b} * {b})", frozenset({"mul", "pow", "add"})),
        "pow": ("(1.0 + {a} * {a}) ** tanh({b})", frozenset({"pow", "add", "mul", "tanh"})),
    }

    def __init__(self, kind: str, a: _Node, b: _Node) -> None:
        self.kind = kind
        self.a = a
        self.b = b
        self.precedence = {"add": 4, "sub": 4, "mul": 6, "div": 6, "pow": 7}[kind]
        ba, sa, bb, sb = a.bound, a.slope, b.bound, b.slope
        base = 1.0 + ba * ba
        bounds: dict[str, tuple[float, float]] = {
            "add": (ba + bb, sa + sb),
            "sub": (ba + bb, sa + sb),
            "mul": (ba * bb, sa * bb + sb * ba),
            # |d/db a/(1+b^2)| <= 0.65 |a|
            "div": (ba, sa + ba * sb),
            # d/da base^t = t base^(t-1) 2a; d/dt base^t = base^t log(base)
            "pow": (base, 2.0 * ba * sa + base * math.log(base) * sb),
        }
        self.bound, self.slope = bounds[kind]

    def scalar(self, xs: Sequence[Scalar]) -> Scalar:
        a = self.a.scalar(xs)
        b = self.b.scalar(xs)
        k = self.kind
        if k == "add":
            return a + b
        if k == "sub":
            return a - b
        if k == "mul":
            return a * b
        if k == "div":
            return a / (1.0 + b * b)
        if k == "pow":
            return (1.0 + a * a) ** tanh(b)
        raise AssertionError(k)

    def reference(self, xs: Sequence[float]) -> float:
        a = self.a.reference(xs)
        b = self.b.reference(xs)
        k = self.kind
        if k == "add":
            return a + b
        if k == "sub":
            return a - b
        if k == "mul":
            return a * b
        if k == "div":
            return a / (1.0 + b * b)
        if k == "pow":
            return math.pow(1.0 + a * a, math.tanh(b))
        raise AssertionError(k)

    def text(self) -> str:
        k = self.kind
        if k in ("add", "sub", "mul"):
            p = self.precedence
            # Left-associative: the right operand needs parentheses at equal precedence.
            return self.FORMS[k][0].format(a=self.a.wrap(p), b=self.b.wrap(p + 1))
        return self.FORMS[k][0].format(a=self.a.wrap(7), b=self.b.wrap(0 if k == "pow" else 7))

    def ops(self) -> frozenset[str]:
        return self.FORMS[self.kind][1] | self.a.ops() | self.b.ops()


def _fits(node: _Node) -> bool:
    return node.bound <= _VALUE_LIMIT and node.slope <= _SLOPE_LIMIT


def _squash(node: _Node) -> _Node:
    """A bounded version of ``node``: ``tanh(node)`` if it can be large, else itself."""
    return _Unary("tanh", node) if node.bound > 1.0 else node


_SMOOTH_UNARY = (
    "neg",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "exp_tanh",
    "exp_neg_sq",
    "log1p_sq",
    "sqrt1p_sq",
    "square",
    "cube",
    "recip",
    "two_pow",
)
_BINARY = ("add", "sub", "mul", "div", "pow")
