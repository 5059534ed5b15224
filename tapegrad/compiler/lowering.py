"""How a primitive's forward rule becomes code: the one reading of a rule that jit's back ends share.

Layer 3 of tapegrad (``tapegrad/compiler``).

:func:`lowering` reads a primitive's forward rule (its row in the table) with
Python's own parser and says whether it is an infix operator, a call of one
float function, a copy, a choice between two values by one comparison, or a
variadic sum or mean, which is all the back ends
(:mod:`tapegrad.compiler.backends` and the assemblers) need. Anything else is
``"general"``: computed by calling the primitive's float function.
"""

from __future__ import annotations

import ast
import builtins
from typing import Any, Callable, Optional

import attrs

from tapegrad.core.primitive import ARG_NAMES, VARIADIC, Primitive
from tapegrad.core.rule_table import FLOAT_NAMESPACE


@attrs.frozen
class Lowering:
    """The shape of a forward rule, as the back ends need it.

    ``kind`` is one of:

    - ``"binary"``: ``x <op> y`` with ``op`` one of ``+ - * / % **``;
    - ``"call"``: ``fn(x)`` or ``fn(x, y)``, a float function;
    - ``"copy"``: ``x`` itself;
    - ``"select"``: ``A if x <compare> threshold else B``, where A and B are
      ``x`` (None) or a number;
    - ``"sum"``: a variadic ``add_all(xs)``, written ``a + b + c``;
    - ``"mean"``: a variadic ``add_all(xs) / len(xs)``, written ``(a + b + c) / 3.0``;
    - ``"general"``: anything else, computed by calling ``fn`` (the
      primitive's float function) with all the arguments.
    """

    kind: str
    op: str = ""
    fn: Optional[Callable[..., Any]] = None
    compare: str = ""
    threshold: float = 0.0
    when_true: Optional[float] = None
    when_false: Optional[float] = None


_BINARY_OPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%", ast.Pow: "**"}
_COMPARE_OPS: dict[type, str] = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_LOWERINGS: dict[int, Lowering] = {}


def _number(node: ast.expr) -> Optional[float]:
    """The float a node spells (``0.0``, ``-1.0``), or None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, float):
        return node.value
    return None


def _is_arg(node: ast.expr, k: int) -> bool:
    return isinstance(node, ast.Name) and node.id == ARG_NAMES[k]


def _is_call_of_xs(node: ast.expr, fn: str) -> bool:
    """True if ``node`` is ``fn(xs)``: a variadic forward rule's call on all its arguments."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == fn
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "xs"
        and not node.keywords
    )


def lowering(prim: Primitive) -> Lowering:
    """How ``prim``'s forward rule is written as code (computed once per primitive)."""
    found = _LOWERINGS.get(prim.id)
    if found is None:
        found = _LOWERINGS[prim.id] = _lower(prim)
    return found


def _lower(prim: Primitive) -> Lowering:
    general = Lowering("general", fn=prim.impl)
    if prim.forward is None:
        return general
    node = ast.parse(prim.forward, mode="eval").body
    if prim.arity == VARIADIC:
        if _is_call_of_xs(node, "add_all"):
            return Lowering("sum")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _is_call_of_xs(node.left, "add_all") and _is_call_of_xs(node.right, "len"):
            return Lowering("mean")
        return general
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS and _is_arg(node.left, 0) and _is_arg(node.right, 1):
        return Lowering("binary", op=_BINARY_OPS[type(node.op)])
    if prim.arity >= 1 and _is_arg(node, 0):
        return Lowering("copy")
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and not node.keywords
        and len(node.args) == prim.arity
        and all(_is_arg(a, k) for k, a in enumerate(node.args))
    ):
        fn = FLOAT_NAMESPACE.get(node.func.id) or getattr(builtins, node.func.id, None)
        if callable(fn):
            return Lowering("call", fn=fn)
    if (
        isinstance(node, ast.IfExp)
        and isinstance(node.test, ast.Compare)
        and _is_arg(node.test.left, 0)
        and len(node.test.ops) == 1
        and type(node.test.ops[0]) in _COMPARE_OPS
        and _number(node.test.comparators[0]) is not None
        and (_is_arg(node.body, 0) or _number(node.body) is not None)
        and (_is_arg(node.orelse, 0) or _number(node.orelse) is not None)
    ):
        threshold = _number(node.test.comparators[0])
        assert threshold is not None  # checked just above
        return Lowering(
            "select",
            compare=_COMPARE_OPS[type(node.test.ops[0])],
            threshold=threshold,
            when_true=_number(node.body),
            when_false=_number(node.orelse),
        )
    return general
