"""vmap on the moons step: against PyTorch batched, micrograd, and the eager per-example loop.

    PYTHONPATH=. python3 benchmarks/vmap_bench.py            # about 3 minutes
    PYTHONPATH=. python3 benchmarks/vmap_bench.py --quick    # a smoke run

Measures, on MLP(2, [16, 16, 1]) with the demo's hinge loss and L2 penalty:

1. N = 10,000: ``jit(value_and_grad(...))`` of the vmapped loss with NumPy,
   against PyTorch 2.13 on CPU (one thread, float64, the same network and
   loss), in paired rounds; and against micrograd, whose step is measured at
   1,000 points (200 with --quick) and extrapolated linearly to 10,000 (its
   cost is linear in the points: one copy of the network per point).
2. N = 2,000: the pure-Python back end (eager, and under jit) against the
   eager per-example loop, in paired rounds.
3. The tape: records of the vmapped loss at N = 100 and N = 10,000.
4. Memory: the peak of one jitted NumPy step against records x N x 8 bytes.

Every comparison is checked first: the vmapped loss and gradient against
the loop's and PyTorch's. The targets are judged at the end (MET/MISSED);
no timing is asserted anywhere in the tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

import tapegrad as tg
from tapegrad.core.batch import numpy_available

from harness.fmt import fmt_ms, fmt_ratio
from harness.stats import PairedTimings
from harness.timing import recursion_limit, run_paired_rounds
from workloads import micrograd_demo, vmap_moons


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, micrograd at 200 points")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 5
    log = print
    if not numpy_available():
        print("NumPy is not installed: the NumPy measurements need `pip install 'tapegrad[numpy]'`")
        return 1
    print(f"command: PYTHONPATH=. python3 benchmarks/vmap_bench.py{' --quick' if args.quick else ''}")
    print(f"Python {sys.version.split()[0]}, tapegrad {tg.__version__}")
    results: dict[str, float] = {}

    # 1. N = 10,000, NumPy, jit, against PyTorch.
    big = vmap_moons.seeded_problem(10_000)
    torch_fn = vmap_moons.torch_step(big)
    if torch_fn is None:
        print("PyTorch not measured: pip install torch==2.13.0 (the `oracle` extra)")
    checks = vmap_moons.check_against(big, "numpy", torch_fn)
    print("agreement (largest relative difference): " + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    step, first, records = vmap_moons.jitted_step(big, "numpy")
    results["jit first call at 10,000 (s)"] = first
    outer = [vmap_moons.competitor("vmap_jit", "tapegrad vmap+jit (numpy)", step, 10)]
    if torch_fn is not None:
        outer.append(vmap_moons.competitor("torch", "PyTorch batched", torch_fn, 10))
    run_paired_rounds(outer, None, rounds, log, "N=10,000 ")
    timings = PairedTimings({c.key: c for c in outer})
    results["vmap+jit step at 10,000 (ms)"] = timings["vmap_jit"].median * 1e3
    if torch_fn is not None:
        results["PyTorch step at 10,000 (ms)"] = timings["torch"].median * 1e3
        results["vmap+jit / PyTorch"] = timings.ratio("vmap_jit", "torch")

    # micrograd, measured at fewer points and extrapolated linearly.
    n_micro = 200 if args.quick else 1000
    micrograd_per_point: Optional[float] = None
    if micrograd_demo.MICROGRAD_MISSING is not None:
        print(f"micrograd not measured: {micrograd_demo.MICROGRAD_MISSING}")
    else:
        small = vmap_moons.seeded_problem(n_micro)
        demo = micrograd_demo.MicrogradDemo(small)
        with recursion_limit(micrograd_demo.micrograd_limit(n_micro)):
            demo.step()  # warm-up: its garbage is what later steps pay for, as in training
            t0 = time.perf_counter()
            demo.step()
            micrograd_s = time.perf_counter() - t0
        micrograd_per_point = micrograd_s / n_micro
        results[f"micrograd step at {n_micro:,} (s, measured)"] = micrograd_s
        results["micrograd at 10,000 (s, extrapolated)"] = micrograd_per_point * 10_000
        results["micrograd(10,000, extrapolated) / vmap+jit"] = micrograd_per_point * 10_000 / timings["vmap_jit"].median

    # 2. N = 2,000, the Python back end against the eager loop.
    mid = vmap_moons.seeded_problem(2000)
    checks = vmap_moons.check_against(mid, "python", None)
    print("agreement (python back end): " + ", ".join(f"{k} {v:.1e}" for k, v in checks.items()))
    py_jit, _, _ = vmap_moons.jitted_step(mid, "python")
    competitors = [
        vmap_moons.competitor("loop", "eager per-example loop", vmap_moons.eager_loop_step(mid), 1),
        vmap_moons.competitor("vmap_py", "vmap (python), eager", vmap_moons.eager_vmap_step(mid, "python"), 1),
        vmap_moons.competitor("vmap_py_jit", "vmap (python) + jit", py_jit, 2),
    ]
    run_paired_rounds(competitors, None, rounds, log, "N=2,000 ")
    t2 = PairedTimings({c.key: c for c in competitors})
    results["eager loop at 2,000 (ms)"] = t2["loop"].median * 1e3
    results["vmap python eager at 2,000 (ms)"] = t2["vmap_py"].median * 1e3
    results["vmap python jit at 2,000 (ms)"] = t2["vmap_py_jit"].median * 1e3
    results["loop / vmap python eager"] = t2.ratio("loop", "vmap_py")
    results["loop / vmap python jit"] = t2.ratio("loop", "vmap_py_jit")

    # 3. The tape, and 4. memory.
    small_records = vmap_moons.jitted_step(vmap_moons.seeded_problem(100), "numpy")[2]
    results["tape records at N=100"] = small_records
    results["tape records at N=10,000"] = records
    peak = vmap_moons.peak_bytes(step)
    results["peak bytes of one step at 10,000"] = peak
    results["records x N x 8 bytes"] = records * 10_000 * 8

    print()
    for k, v in results.items():
        shown = fmt_ratio(v) if "/" in k and "(" not in k.split("/")[0] else (f"{v:,.3f}" if isinstance(v, float) and v < 100 else f"{v:,.0f}")
        print(f"  {k:48s} {shown}")
    print()
    targets = []
    if "vmap+jit / PyTorch" in results:
        targets.append(("N=10,000: vmap+jit within 10x of PyTorch batched", results["vmap+jit / PyTorch"] <= 10.0, fmt_ratio(results["vmap+jit / PyTorch"])))
    if micrograd_per_point is not None:
        r = results["micrograd(10,000, extrapolated) / vmap+jit"]
        targets.append(("N=10,000: at least 5,000x faster than micrograd (extrapolated)", r >= 5000, fmt_ratio(r)))
    r = results["loop / vmap python eager"]
    targets.append(("N=2,000: the Python back end at least 4x faster than the eager loop", r >= 4.0, f"{fmt_ratio(r)} eager, {fmt_ratio(results['loop / vmap python jit'])} with jit"))
    targets.append(("the tape is one example's program (records independent of N)", small_records == records, f"{small_records} and {records}"))
    ratio = peak / (records * 10_000 * 8)
    targets.append(("peak memory of a step about records x N x 8 bytes, or less", ratio <= 1.5, f"{ratio:.2f}x of it"))
    for name, met, shown in targets:
        print(f"  {'MET   ' if met else 'MISSED'} {name}: {shown}")
    print(f"  (medians per step: vmap+jit {fmt_ms(timings['vmap_jit'].median)}; loop at 2,000 {fmt_ms(t2['loop'].median)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
