"""Memory a jitted step keeps after its first call, per traced record: vmapped against plain.

``PYTHONPATH=. python3 benchmarks/jit_memory.py [--hidden 64] [--points 200]``

A jit keeps, per argument structure, the compiled replay and the program it
came from. This script traces the same network's loss twice: once written
with vmap over data columns (``tg.batch``), once as a plain loop over the
examples, and reports the bytes still allocated after the first call
(tracemalloc, after a full collection), divided by the trace's record count,
and the peak during that call (while tracing, every record's value is alive:
under vmap, a whole batch per record).
"""

from __future__ import annotations

import argparse
import gc
import random
import tracemalloc
from typing import Any, Callable

import tapegrad as tg
from tapegrad import nn


def retained_per_record(make: Callable[[], Any], call: Callable[[Any], Any]) -> tuple[float, float, int]:
    """Bytes per record that ``make()``'s jitted function keeps alive after ``call`` ran it once,
    the peak bytes per record during that first call, and the record count."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        jitted = make()
        call(jitted)
        peak = tracemalloc.get_traced_memory()[1] - before
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    records = jitted.stats.records
    return kept / records, peak / records, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64, help="width of the two hidden layers")
    parser.add_argument("--points", type=int, default=20, help="examples in the plain loop (its tape grows with them)")
    parser.add_argument("--backend", default="python", choices=["python", "numpy"], help="vmap's back end")
    parser.add_argument("--batch", type=int, default=2000, help="examples in the vmapped batch (its tape does not grow with them)")
    opts = parser.parse_args()
    rng = random.Random(0)
    params = nn.init_mlp(rng, [2, opts.hidden, opts.hidden, 1])
    X = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(max(opts.points, opts.batch))]
    Y = [rng.choice([-1.0, 1.0]) for _ in range(len(X))]

    def per_example(p: Any, x: Any, y: tg.Scalar) -> tg.Scalar:
        return tg.relu(1.0 - y * nn.mlp(p, x))

    def vmapped_loss(p: Any, Xc: Any, Yc: Any) -> tg.Scalar:
        return tg.mean(tg.vmap(per_example, in_axes=(None, 0, 0), backend=opts.backend)(p, Xc, Yc))

    def plain_loss(p: Any, X: Any, Y: Any) -> tg.Scalar:
        return sum(per_example(p, x, y) for x, y in zip(X, Y)) / len(X)

    Xc, Yc = tg.batch(X[: opts.batch], backend=opts.backend), tg.batch(Y[: opts.batch], backend=opts.backend)
    X, Y = X[: opts.points], Y[: opts.points]
    v, v_peak, v_records = retained_per_record(lambda: tg.jit(tg.value_and_grad(vmapped_loss)), lambda j: j(params, Xc, Yc))
    p, p_peak, p_records = retained_per_record(lambda: tg.jit(tg.value_and_grad(plain_loss)), lambda j: j(params, X, Y))
    print(f"jit of vmap : {v:7.0f} bytes per record kept after the first call, {v_peak:9.0f} at its peak ({v_records} records, {opts.batch} examples, {opts.backend})")
    print(f"plain jit   : {p:7.0f} bytes per record kept after the first call, {p_peak:9.0f} at its peak ({p_records} records)")
    print(f"kept, vmap / plain: {v / p:.2f}")


if __name__ == "__main__":
    main()
