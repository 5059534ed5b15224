"""The textbook example of reverse mode, computed by tapegrad.

Baydin et al., "Automatic differentiation in machine learning: a survey"
(2018), Table 2, differentiates

    f(x1, x2) = ln(x1) + x1 * x2 - sin(x2)      at (x1, x2) = (2, 5)

with a forward primal trace and a reverse adjoint trace side by side. This
script prints the same table from tapegrad's real tape and real reverse
sweep, then checks the numbers against what you can work out by hand:

    f      = ln 2 + 10 - sin 5  = 11.652071455223084
    df/dx1 = 1/x1 + x2          = 1/2 + 5 = 5.5
    df/dx2 = x1 - cos(x2)       = 2 - cos 5 = 1.7163378145367738

    python examples/wengert_table.py
"""

from __future__ import annotations

import math

import tapegrad as tg
from tapegrad.tables import adjoint_table, forward_table, output_adjoints, table_rows, wengert_table


def f(x1: tg.Scalar, x2: tg.Scalar) -> tg.Scalar:
    """The survey's example function."""
    return tg.log(x1) + x1 * x2 - tg.sin(x2)


NOTE = """\
How this tape differs from the textbook's table:
  * tapegrad numbers records from v0, so the inputs x1, x2 are v0, v1
    (the survey calls them v-1, v0).
  * tapegrad has no subtraction primitive: a - b is recorded as a + (b * -1),
    so "- sin(x2)" takes two records (v6 = v5 * (-1), then v7 = v4 + v6)
    where the survey has a single subtraction. That is why this tape has 8
    records where the survey has 7 variables, and why the adjoint of sin(x2)
    arrives as v̄6 * (-1) rather than through a rule for '-'.
  * Records are in the order Python ran the operations: ln(x1) + x1 * x2 is
    added up before sin(x2) is computed.
  * Each adjoint line shows the whole sum at once: v̄0 = v̄2 * (1/v0) + v̄3 * v1
    is the survey's two updates "v̄-1 += v̄1 / v-1" and "v̄-1 += v̄2 * v0".
The numbers on the right are the reverse sweep's; the expressions only explain them."""


def main() -> int:
    x1, x2 = 2.0, 5.0
    tape = tg.trace(f)(x1, x2)
    print(wengert_table(f, x1, x2))
    print()
    print(NOTE)
    print()
    print(forward_table(tape))
    print()
    print(adjoint_table(tape))
    print()

    rows = table_rows(tape, output_adjoints(tape))
    out = tape.outputs[0]
    assert isinstance(out, tg.Var)
    value = rows[out.index].value
    d1, d2 = (rows[i].adjoint for i in tape.inputs)
    # Full precision, next to the formulas a reader can evaluate by hand.
    print("From the tape and the sweep, and by hand:")
    print(f"  f(2, 5) = {value!r:<20}  ln 2 + 10 - sin 5         = {math.log(2.0) + 10.0 - math.sin(5.0)!r}")
    print(f"  df/dx1  = {d1!r:<20}  1/x1 + x2 = 1/2 + 5       = {1.0 / x1 + x2!r}")
    print(f"  df/dx2  = {d2!r:<20}  x1 - cos(x2) = 2 - cos 5  = {x1 - math.cos(x2)!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
