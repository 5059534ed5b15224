"""Sparse Jacobians and Hessians: sweep counts, and the sparse Hessian against tg.hessian.

    PYTHONPATH=. python3 benchmarks/sparse_bench.py            # about 2 minutes on a quiet machine
    PYTHONPATH=. python3 benchmarks/sparse_bench.py --quick    # one round

Targets (issue 19):

1. the chain-coupled objective (workloads/sparse_problems.chain) at n = 2,000
   needs at most 6 sweeps for its Hessian;
2. at n = 400 tg.sparse_hessian is at least 50x faster than tg.hessian,
   timed in the same run, in alternating rounds (the ratio of the medians);
3. the banded residual (half-bandwidth 2) at n = 2,000 needs at most 5
   sweeps for its Jacobian.

Before timing, the sparse results are checked against the dense transforms.
Also shown: the first call and the replays of ``jit=True``. No timing is
asserted in the tests; sweep counts are (they are deterministic).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable, Optional, Sequence

import tapegrad as tg

from harness.fmt import fmt_ms, fmt_ratio
from workloads.sparse_problems import banded, chain, start


def _best(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _largest_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    return max(abs(u - v) / (1.0 + abs(v)) for ra, rb in zip(a, b) for u, v in zip(ra, rb))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one timing round instead of three")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else 3
    print(f"command: PYTHONPATH=. python3 benchmarks/sparse_bench.py{' --quick' if args.quick else ''}")
    print(f"Python {sys.version.split()[0]}, tapegrad {tg.__version__}")
    rows: list[tuple[str, str, str, bool]] = []

    # Correctness first, at a size where the dense transforms are quick.
    x = start(60)
    print(f"check at n = 60: Hessian {_largest_difference(tg.sparse_hessian(chain)(x).todense(), tg.hessian(chain)(x)):.1e}, "
          f"Jacobian {_largest_difference(tg.sparse_jacobian(banded)(x).todense(), tg.jacobian(banded)(x)):.1e} (largest relative difference)")

    big = start(2000)
    t0 = time.perf_counter()
    H = tg.sparse_hessian(chain)(big)
    t_h = time.perf_counter() - t0
    rows.append(("chain Hessian, n = 2,000: sweeps", f"{H.sweeps} ({H.nnz} nonzeros, {fmt_ms(t_h)})", "<= 6", H.sweeps <= 6))
    t0 = time.perf_counter()
    J = tg.sparse_jacobian(banded)(big)
    t_j = time.perf_counter() - t0
    rows.append(("banded Jacobian, n = 2,000: sweeps", f"{J.sweeps} ({J.mode}, {J.nnz} nonzeros, {fmt_ms(t_j)})", "<= 5", J.sweeps <= 5))

    x400 = start(400)
    sparse_times: list[float] = []
    dense_times: list[float] = []
    for r in range(rounds):
        # Alternate which goes first, so that a slow spell of the machine hits both.
        order = ("sparse", "dense") if r % 2 == 0 else ("dense", "sparse")
        for which in order:
            if which == "sparse":
                sparse_times.append(_best(lambda: tg.sparse_hessian(chain)(x400), 5))
            else:
                dense_times.append(_best(lambda: tg.hessian(chain)(x400), 1))
        print(f"round {r + 1}: sparse {fmt_ms(sparse_times[-1])}, dense {fmt_ms(dense_times[-1])}")
    ratio = statistics.median(dense_times) / statistics.median(sparse_times)
    rows.append((
        "chain Hessian, n = 400: tg.hessian / tg.sparse_hessian",
        f"{fmt_ratio(ratio)} ({fmt_ms(statistics.median(dense_times))} / {fmt_ms(statistics.median(sparse_times))})",
        ">= 50x",
        ratio >= 50,
    ))

    jitted = tg.sparse_hessian(chain, jit=True)
    t0 = time.perf_counter()
    jitted(x400)
    first = time.perf_counter() - t0
    replay = _best(lambda: jitted(start(400, seed=1)), 5)
    rows.append(("jit=True at n = 400: first call, replay", f"{fmt_ms(first)}, {fmt_ms(replay)} (patterns worked out: {jitted.stats.patterns})", "", True))

    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'measure':<{width}}  {'measured':<44} {'target':<8} verdict")
    for name, measured, target, ok in rows:
        verdict = ("MET" if ok else "MISSED") if target else ""
        print(f"{name:<{width}}  {measured:<44} {target:<8} {verdict}")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
