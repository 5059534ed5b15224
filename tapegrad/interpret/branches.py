"""Derivative rules with a condition, run on batches that an outer transform traces.

Layer 3 of tapegrad (``tapegrad/interpret``), used by :mod:`tapegrad.interpret.rules`.

A rule such as ``where``'s ``g if x else None`` or ``maximum``'s ``g if x >
y else ...`` takes one branch per example under vmap. On plain batches the
rule simply runs example by example, on floats. When an outer tape traces
the batches (``hessian`` of a vmapped loss: the inner sweep is itself
recorded), the rule must be recorded too, and stay differentiable. It is
then read as an expression tree: each condition is evaluated example by
example on the numbers, which splits the examples into those that take
each branch; each branch runs on its values *restricted* to its examples
(a ``restrict`` record, whose value is a gapped batch,
:mod:`tapegrad.core.gaps`), so that it computes, and can fail, only where
the loop over examples would run it; and the branches' results, present on
disjoint examples, are added. ``restrict`` is linear, and its derivative is
the same restriction, so the outer sweep differentiates the rule as the
loop would, example by example.
"""

from __future__ import annotations

import ast
from typing import Any, Sequence

from tapegrad.core.batch import Batch, BoolBatch, batch_of, batch_size
from tapegrad.core.functions import RULE_FUNCTIONS
from tapegrad.core.gaps import restricted
from tapegrad.core.primitive import ARG_NAMES, register, set_rules
from tapegrad.core.rule_table import FLOAT_RULE_FUNCTIONS
from tapegrad.core.tape import value_of
from tapegrad.core.traced import Traced, bind


def _restrict_impl(x: Any, mask: Any) -> Any:
    """``x`` present only for the examples where ``mask`` is 1.0 (it takes whole batches)."""
    keep = [m != 0.0 for m in mask.values()]
    return restricted(x, keep, mask)


# restrict(x, mask): x for the examples of mask, absent for the others. Its derivative
# with respect to x is the same restriction (it is linear); the mask is a constant.
restrict_p = register("restrict", _restrict_impl, 2, reduces=True)
set_rules(restrict_p, (lambda g, ans, x, mask: bind(restrict_p, (g, mask)), None))

_PARSED: dict[str, ast.expr] = {}


def run_branches(spec: str, arity: int, values: Sequence[Any]) -> Any:
    """The rule ``spec`` on ``values`` (g, ans and the arguments), one branch per example, recorded where traced."""
    tree = _PARSED.get(spec)
    if tree is None:
        tree = _PARSED[spec] = ast.parse(spec, mode="eval").body
    names = ("g", "ans", *ARG_NAMES[:arity])
    env = dict(zip(names, values))
    n, kind = batch_size([_plain(v) for v in values])
    return _branch(tree, env, [True] * n, kind.backend)


def _plain(v: Any) -> Any:
    """The value under any tracing, a comparison as its 1.0 / 0.0 mask."""
    under: Any = value_of(v)
    return under.mask if isinstance(under, BoolBatch) else under


def _branch(node: ast.expr, env: dict[str, Any], mask: list[bool], backend: str) -> Any:
    if isinstance(node, ast.IfExp):
        chosen = _condition(node.test, env, mask)
        yes = [m and c for m, c in zip(mask, chosen)]
        no = [m and not c for m, c in zip(mask, chosen)]
        a = _branch(node.body, env, yes, backend) if any(yes) else None
        b = _branch(node.orelse, env, no, backend) if any(no) else None
        if a is None or b is None:
            return a if b is None else b
        return a + b  # present on disjoint examples: the sum is each example's own branch
    if isinstance(node, ast.Constant) and node.value is None:
        return None  # nothing flows back for these examples
    local = env if all(mask) else {k: _restricted(v, mask, backend) for k, v in env.items()}
    code = compile(ast.Expression(node), "<rule branch>", "eval")
    return eval(code, dict(RULE_FUNCTIONS), local)  # noqa: S307 - our own table


def _restricted(v: Any, mask: list[bool], backend: str) -> Any:
    """``v`` for the examples of ``mask`` only: a restrict record if ``v`` is traced."""
    if v.__class__ is Traced:
        return bind(restrict_p, (v, batch_of([1.0 if m else 0.0 for m in mask], backend)))
    if isinstance(v, BoolBatch):
        v = v.mask
    like = batch_of([0.0], backend)  # the back end, for a number spread over the examples of mask
    return restricted(v, mask, v if isinstance(v, Batch) else like)  # a number too: a branch may be just g


def _condition(test: ast.expr, env: dict[str, Any], mask: list[bool]) -> list[bool]:
    """The condition ``test`` for every example (False where ``mask`` is), evaluated on the numbers."""
    tree = _Constants(env).visit(ast.Expression(body=_copy(test)))
    code = compile(ast.fix_missing_locations(tree), "<rule condition>", "eval")
    columns = {}
    n = len(mask)
    for name, v in env.items():
        under = _plain(v)
        columns[name] = under.values() if isinstance(under, Batch) else [under] * n
    out = []
    for k in range(n):
        if not mask[k]:
            out.append(False)
            continue
        example = {name: col[k] for name, col in columns.items()}
        out.append(bool(eval(code, dict(FLOAT_RULE_FUNCTIONS), example)))  # noqa: S307 - our own table
    return out


def _copy(node: ast.expr) -> ast.expr:
    """A fresh copy of a parsed expression (the transformer below rewrites in place; the parse is cached)."""
    return ast.parse(ast.unparse(node), mode="eval").body


class _Constants(ast.NodeTransformer):
    """``constant(y)`` becomes True or False: whether ``y`` is traced is a property of the value, not of each example."""

    def __init__(self, env: dict[str, Any]) -> None:
        self.env = env

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "constant" and len(node.args) == 1 and isinstance(node.args[0], ast.Name):
            return ast.Constant(bool(RULE_FUNCTIONS["constant"](self.env[node.args[0].id])))
        return node
