"""Write ``reverse_loops.py`` from the rule table: ``python -m tapegrad.interpret.generate``.

Layer 3 of tapegrad (``tapegrad/interpret``). Run it after changing a rule in
:mod:`tapegrad.core.rule_table`; ``--check`` only reports whether the file on
disk is current (tests/test_generated.py does the same).

The reverse sweep's loop has one branch per built-in primitive with that
primitive's derivative rules pasted in, so a record of ``mul`` costs two
multiplications and no function call (that halves the sweep's time). Two
loops are written:

- ``general_reverse_loop`` works on any tape. The names a rule calls are
  the traced-aware functions of :mod:`tapegrad.core.functions`, so on
  values traced by an outer tape the sweep itself is recorded there.
- ``flat_reverse_loop`` is for a *flat* tape, whose values are all plain
  numbers (:attr:`Tape.flat`). Its value list has the constants appended in
  reverse, so a constant's negative reference indexes it directly and
  ``adj`` has a spare slot at the same negative index: a binary record then
  needs no "is this a constant?" test, and what a rule sends to a constant
  lands in a slot that is thrown away. Rules call the float functions
  (``f_cos`` is cos_p's), and an adjoint of exactly 0.0 is skipped.

The rules are read with Python's own parser (:mod:`ast`), so what a branch
reads (``x``, ``y``, ``ans``) and which functions it calls are known
exactly, not guessed from the text.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Optional, Sequence

from tapegrad.core.primitive import ARG_NAMES, RULES, Primitive
from tapegrad.core.rule_table import BUILTINS, input_p

TARGET = Path(__file__).with_name("reverse_loops.py")

# Networks are mostly sums of products with a ReLU per neuron: testing for
# these first saves a dozen comparisons per record in the loop.
_COMMON = ("add", "mul", "relu")


def _by_frequency(prims: Sequence[Primitive]) -> list[Primitive]:
    return sorted(prims, key=lambda p: _COMMON.index(p.name) if p.name in _COMMON else len(_COMMON))


class _FloatNames(ast.NodeTransformer):
    """Renames every function a rule calls to its float version: ``step(x)`` -> ``f_step(x)``."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name):
            node.func = ast.Name(id=f"f_{node.func.id}", ctx=ast.Load())
        return node


def _called(spec: str) -> set[str]:
    return {n.func.id for n in ast.walk(ast.parse(spec, mode="eval")) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _read(spec: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(spec, mode="eval")) if isinstance(n, ast.Name)}


def _pasted(spec: str, flat: bool) -> str:
    if not flat:
        return spec
    return ast.unparse(_FloatNames().visit(ast.parse(spec, mode="eval")))


def _cannot_raise(spec: str) -> bool:
    """True if a rule is only additions, subtractions and products of names and numbers.

    Such a rule cannot raise on floats, so the flat loop may run it for a
    constant operand too (its result lands in a discarded slot). A rule that
    divides, calls a function or branches could fail for a constant it was
    never meant to differentiate (pow's rule for the exponent at a negative
    constant base), so it keeps its "is this a record?" test.
    """
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load, ast.Add, ast.Sub, ast.Mult, ast.USub)
    return all(isinstance(n, allowed) for n in ast.walk(ast.parse(spec, mode="eval")))


def _branches(spec: str) -> bool:
    """True if a rule has a condition (``a if c else b``): under vmap it may need one branch per example."""
    return any(isinstance(n, (ast.IfExp, ast.BoolOp, ast.Compare)) for n in ast.walk(ast.parse(spec, mode="eval")))


def _pasteable(prim: Primitive) -> bool:
    """Rules pasted into the loops: straight-line expressions of one or two arguments.

    A rule with a condition goes to generic_record instead, which can run it
    example by example when a batch needs both branches.
    """
    specs = RULES[prim.id]
    return (
        0 < prim.arity <= 2
        and all(s is None or (isinstance(s, str) and not _branches(s)) for s in specs)
        and any(s is not None for s in specs)
    )


def _loop(name: str, flat: bool) -> list[str]:
    # The general loop can drop each adjoint once its record is swept (see
    # reverse_sweep's inputs_only); the flat loop's adjoints are plain floats,
    # too small for that to pay.
    lines = [
        f"def {name}(tape: Tape, adj: list[Any], start: int{'' if flat else ', release: bool = False'}) -> None:",
        "    ops, lhs, rhs = tape._ops, tape._lhs, tape._rhs",
        "    vals = tape._vals + tape._consts[::-1]" if flat else "    vals, consts = tape._vals, tape._consts",
        "    i = start",
        "    try:",
        "        for i in range(start, -1, -1):",
        "            g = adj[i]",
    ]
    if flat:
        # On a flat tape an adjoint of exactly 0.0 (below a ReLU that is off,
        # say: half the records of a typical network) can send nothing but
        # zeros back, so it is skipped like None; ``not g`` tests both.
        lines += ["            if not g:  # None, or exactly 0.0: nothing to send back", "                continue"]
    else:
        # On a traced adjoint ``not g`` would itself be an operation, and a
        # traced zero can still have a derivative: skip only None.
        lines += ["            if g is None:  # no cotangent reached this record", "                continue"]
    lines.append("            p = ops[i]")
    if not flat:
        # Nothing reads adj[i] after this iteration (every use of v_i has a
        # higher index and is swept already), so when only the inputs'
        # adjoints are wanted it is freed now. Under vmap that returns a
        # batch's list of floats to the allocator while the sweep still runs.
        lines += [f"            if release and p != {input_p.id}:  # only the inputs' adjoints are returned", "                adj[i] = None"]
    keyword = "if"
    if not flat:
        # An adjoint present for some examples only (vmap, below a where) runs each rule on
        # those examples: a rule pasted here would compute every example, and could fail
        # (atan2's at the origin) or give nan where the loop over examples never looks.
        # A record whose value is gapped exists for some examples only; an adjoint that reaches
        # it for every example (from a sum over the batch) is kept for those (rules.py says why).
        lines += [
            "            v = vals[i]",
            "            if v.__class__ in MAYBE_GAPPED and p not in NO_ADJOINTS and holds_gaps(v):  # a record of some examples",
            "                g = adjoint_where_present(g, v)",
            "            if g.__class__ in MAYBE_GAPPED and p not in NO_ADJOINTS and holds_gaps(g):  # some examples only",
            "                generic_record(tape, adj, i, g)",
        ]
        keyword = "elif"
    for prim in _by_frequency([p for p in BUILTINS if _pasteable(p)]):
        specs = RULES[prim.id]
        refs = ("a", "b")[: prim.arity]
        shown = ", ".join(f"d/d{arg} = {s}" for arg, s in zip(ARG_NAMES, specs) if isinstance(s, str))
        lines.append(f"            {keyword} p == {prim.id}:  # {prim.name}: {shown}"[:150].rstrip())
        keyword = "elif"
        lines.append("                a = lhs[i]")
        if prim.arity == 2:
            lines.append("                b = rhs[i]")
        # A unary record never reads a constant; a binary one may, unless
        # the flat layout makes constants ordinary negative indices (and the
        # rules cannot fail on a constant's slot).
        guarded = prim.arity > 1 and not (flat and all(_cannot_raise(s) for s in specs if isinstance(s, str)))
        used: set[str] = set().union(*(_read(s) for s in specs if isinstance(s, str)))
        for ref, arg in zip(refs, ARG_NAMES):
            if arg in used:
                lines.append(
                    f"                {arg} = vals[{ref}] if {ref} >= 0 else consts[~{ref}]" if guarded and not flat else f"                {arg} = vals[{ref}]"
                )
        if "ans" in used:
            lines.append("                ans = vals[i]")
        for ref, spec in zip(refs, specs):
            if not isinstance(spec, str):  # None: a zero derivative sends nothing
                continue
            indent = "                "
            if guarded:
                lines.append(f"{indent}if {ref} >= 0:")
                indent += "    "
            lines.append(f"{indent}d = {_pasted(spec, flat)}")
            lines.append(f"{indent}old = adj[{ref}]")
            lines.append(f"{indent}adj[{ref}] = d if old is None else old + d")
    lines += [
        "            elif p not in NO_ADJOINTS:  # a custom primitive: its rules are functions",
        f"                generic_record(tape, adj, i, g{', True' if flat else ''})",
        "    except NotFlat:",
        "        raise",
        "    except Exception as exc:  # say which record failed (sweep.py re-raises it with the record named)",
        "        raise AtRecord(i) from exc",
    ]
    return lines


def reverse_loops_source() -> str:
    """The text of ``reverse_loops.py`` for the table as it is now."""
    names = sorted(set().union(*(_called(s) for p in BUILTINS if _pasteable(p) for s in RULES[p.id] if isinstance(s, str))))
    lines = [
        '"""The reverse sweep\'s two loops, with the rule table\'s derivative rules pasted in.',
        "",
        "GENERATED by ``python -m tapegrad.interpret.generate`` from tapegrad/core/rule_table.py.",
        "Do not edit: change the table and run the command (tests/test_generated.py checks",
        "that this file is current). tapegrad/interpret/generate.py explains the two loops;",
        "tapegrad/interpret/sweep.py starts with the short reference loop they must agree with.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Any",
        "",
        "from tapegrad.core.functions import RULE_FUNCTIONS",
        "from tapegrad.core.rule_table import FLOAT_RULE_FUNCTIONS",
        "from tapegrad.core.tape import Tape",
        "from tapegrad.interpret.rules import MAYBE_GAPPED, NO_ADJOINTS, AtRecord, NotFlat, adjoint_where_present, generic_record, holds_gaps",
        "",
        "# The functions the rules call: on traced values, and their float versions.",
    ]
    lines += [f'{n} = RULE_FUNCTIONS["{n}"]' for n in names]
    lines += [f'f_{n} = FLOAT_RULE_FUNCTIONS["{n}"]' for n in names]
    lines += ["", ""]
    lines += _loop("general_reverse_loop", flat=False)
    lines += ["", ""]
    lines += _loop("flat_reverse_loop", flat=True)
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write (or with --check, only compare) tapegrad/interpret/reverse_loops.py."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file on disk differs from the table")
    args = parser.parse_args(argv)
    source = reverse_loops_source()
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if args.check:
        if current != source:
            print(f"{TARGET} is out of date: run python -m tapegrad.interpret.generate", file=sys.stderr)
            return 1
        print(f"{TARGET} is current")
        return 0
    if current != source:
        TARGET.write_text(source, encoding="utf-8")
        print(f"wrote {TARGET}")
    else:
        print(f"{TARGET} was already current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
