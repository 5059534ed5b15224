"""The Bratu boundary-value problem with 1,000 unknowns, solved by Newton's method with sparse Jacobians.

    u''(x) + lam * exp(u(x)) = 0 on (0, 1),   u(0) = u(1) = 0

has the closed-form solution u(x) = -2 log(cosh((x - 1/2) theta / 2) / cosh(theta / 4)),
where theta solves theta = sqrt(2 lam) cosh(theta / 4) (the lower of its two
roots, for lam below about 3.51). Central differences on n interior points
give n equations whose Jacobian is tridiagonal. The example solves it for
lam = 0.5, 1.0, ..., 3.0 in turn (continuation: each solve starts from the
previous solution) by Newton's method, each step a sparse direct solve
(scipy.sparse.linalg.spsolve), taking the Jacobian from:

- ``tg.sparse_jacobian(residual, jit=True)``: 3 sweeps, traced once;
- ``tg.sparse_jacobian(residual)``: the same, recording the tape every time;
- ``tg.jacobian(residual)``: dense, one sweep per unknown (numpy.linalg.solve;
  the first lam only, since each Jacobian takes n sweeps);
- SciPy's own sparse 2-point finite differences: ``approx_derivative`` with
  the column groups of the pattern, the routine behind
  ``least_squares(jac_sparsity=...)``.

The example checks its own answer: every solution must satisfy the
discrete equations to 1e-10 and agree with the closed form to the
discretization error, or it exits with status 1. It needs NumPy and SciPy
(``pip install 'tapegrad[numpy,sparse]'``).

    python examples/bvp.py              # n = 1,000: about half a minute, most of it the dense Jacobian
    python examples/bvp.py --n 200 --skip-dense
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any, Callable, Sequence

import tapegrad as tg
from tapegrad import Scalar


def residual(u: Sequence[Scalar], lam: float) -> list[Scalar]:
    """The discrete equations times h^2: u[i-1] - 2 u[i] + u[i+1] + h^2 lam exp(u[i]), with zero boundary values."""
    n = len(u)
    h2 = (1.0 / (n + 1)) ** 2
    out: list[Scalar] = []
    for i in range(n):
        left = u[i - 1] if i > 0 else 0.0
        right = u[i + 1] if i + 1 < n else 0.0
        out.append(left - 2.0 * u[i] + right + h2 * lam * tg.exp(u[i]))
    return out


def exact(n: int, lam: float) -> list[float]:
    """The closed-form solution at the n interior grid points."""
    theta = 1.0
    for _ in range(50):  # Newton on theta - sqrt(2 lam) cosh(theta / 4) = 0, from the lower root's side
        g = theta - math.sqrt(2.0 * lam) * math.cosh(theta / 4.0)
        theta -= g / (1.0 - math.sqrt(2.0 * lam) * math.sinh(theta / 4.0) / 4.0)
    h = 1.0 / (n + 1)
    return [-2.0 * math.log(math.cosh(((i + 1) * h - 0.5) * theta / 2.0) / math.cosh(theta / 4.0)) for i in range(n)]


def newton(
    fun: Callable[[Any], Any], jac: Callable[[Any], Any], solve: Callable[[Any, Any], Any], u0: Any, tol: float = 1e-12
) -> tuple[Any, int, float]:
    """Newton's method until max |fun(u)| < tol: the solution, the number of steps, the seconds spent in ``jac``."""
    u = u0.copy()
    in_jac = 0.0
    for step in range(1, 31):
        t0 = time.perf_counter()
        J = jac(u)
        in_jac += time.perf_counter() - t0
        u = u - solve(J, fun(u))
        if abs(fun(u)).max() < tol:
            return u, step, in_jac
    raise RuntimeError(f"Newton's method did not reach max |residual| < {tol} in 30 steps")


LAMS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="interior grid points (unknowns); default 1,000")
    parser.add_argument("--skip-dense", action="store_true", help="leave out the dense Jacobian (the slow one)")
    args = parser.parse_args(argv)
    try:
        import numpy as np
        import scipy.sparse.linalg as spla
        from scipy.optimize._numdiff import approx_derivative, group_columns
    except ImportError:
        print("this example needs NumPy and SciPy: pip install 'tapegrad[numpy,sparse]'", file=sys.stderr)
        return 2
    n = args.n
    sparse_jit = tg.sparse_jacobian(residual, jit=True)
    sparse_plain = tg.sparse_jacobian(residual)
    pattern = tg.jacobian_sparsity(residual)([0.0] * n, 1.0).to_scipy()
    groups = group_columns(pattern)

    def scipy_fd(u: Any, lam: float) -> Any:
        return approx_derivative(lambda v: np.array(residual(v.tolist(), lam)), u, method="2-point", sparsity=(pattern, groups))

    # (name, Jacobian of (u, lam), linear solver, how many of the lam values to solve)
    methods: list[tuple[str, Callable[[Any, float], Any], Callable[[Any, Any], Any], int]] = [
        ("tg.sparse_jacobian(jit=True)", lambda u, lam: sparse_jit(u.tolist(), lam).to_scipy().tocsc(), spla.spsolve, len(LAMS)),
        ("tg.sparse_jacobian", lambda u, lam: sparse_plain(u.tolist(), lam).to_scipy().tocsc(), spla.spsolve, len(LAMS)),
        ("SciPy 2-point, sparse", lambda u, lam: scipy_fd(u, lam).tocsc(), spla.spsolve, len(LAMS)),
    ]
    if not args.skip_dense:
        # n sweeps per Jacobian: only the first value, to keep the run short.
        methods.append(("tg.jacobian (dense)", lambda u, lam: np.array(tg.jacobian(residual)(u.tolist(), lam)), np.linalg.solve, 1))

    sweeps = sparse_plain([0.0] * n, 1.0).sweeps
    print(f"Bratu problem with n = {n} unknowns, continued through lam = {', '.join(map(str, LAMS))}")
    print(f"(each solve starts from the previous one). The sparse Jacobian takes {sweeps} sweeps, the dense one {n}.")
    print(f"{'Jacobian':<30} {'lam values':>10} {'Jacobians':>9} {'per Jacobian':>12} {'total':>9} {'max |residual|':>14} {'max |u - exact|':>15}")
    ok = True
    for name, jac, solve, count in methods:
        u = np.zeros(n)
        steps, in_jac, res, err = 0, 0.0, 0.0, 0.0
        t0 = time.perf_counter()
        for lam in LAMS[:count]:
            u, k, seconds = newton(lambda v: np.array(residual(v.tolist(), lam)), lambda v: jac(v, lam), solve, u)
            steps, in_jac = steps + k, in_jac + seconds
            res = max(res, float(abs(np.array(residual(u.tolist(), lam))).max()))
            err = max(err, float(abs(u - np.array(exact(n, lam))).max()))
        total = time.perf_counter() - t0
        # Central differences are second order: the error is about h^2 max|u''''| / 12.
        good = res < 1e-10 and err < 5.0 / (n + 1) ** 2
        ok = ok and good
        print(f"{name:<30} {count:>10} {steps:>9} {in_jac / steps * 1e3:>10.1f}ms {total:>8.2f}s {res:>14.1e} {err:>15.1e}{'' if good else '  FAILED'}")
    print("every solution checked against the discrete equations and the closed form" if ok else "a check FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
