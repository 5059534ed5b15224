"""Memory of a long tape with and without tg.checkpoint: records held, and tracemalloc's peak.

    PYTHONPATH=. python3 benchmarks/checkpoint_memory.py              # a few seconds
    PYTHONPATH=. python3 benchmarks/checkpoint_memory.py --blocks 100 --depth 200

A chain of ``blocks`` blocks, each ``depth`` steps of ``tanh(a * h + b * k) + 0.1 * h``
(6 records per step), differentiated by ``tg.grad``. Reported for each variant:
the records on the grad tape, the records of the largest tape alive during the
reverse sweep (with checkpoint: one block's recomputation), and the peak of
Python's allocations during the whole gradient (tracemalloc). The gradients are
checked to agree first. Memory is measured, not time.
"""

from __future__ import annotations

import argparse
import tracemalloc
from typing import Callable, Sequence

import tapegrad as tg
from tapegrad import Scalar


def make_block(depth: int) -> Callable[[Sequence[Scalar], Scalar], Scalar]:
    def block(p: Sequence[Scalar], x: Scalar) -> Scalar:
        h = x
        for k in range(depth):
            h = tg.tanh(p[0] * h + p[1] * (k / depth)) + 0.1 * h
        return h

    return block


def make_loss(blocks: int, depth: int, checkpointed: bool) -> Callable[[Sequence[Scalar]], Scalar]:
    block = make_block(depth)
    step = tg.checkpoint(block) if checkpointed else block

    def loss(p: Sequence[Scalar]) -> Scalar:
        y: Scalar = 0.5 * p[0]
        for _ in range(blocks):
            y = step(p, y)
        return y * y

    return loss


def peak_bytes(f: Callable[[], object]) -> int:
    """tracemalloc's peak while ``f`` runs, above what was allocated before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        f()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=50)
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args(argv)
    p = [0.7, -0.2]
    plain, ck = make_loss(args.blocks, args.depth, False), make_loss(args.blocks, args.depth, True)
    g_plain, g_ck = tg.grad(plain)(p), tg.grad(ck)(p)
    assert all(abs(a - b) <= 1e-12 * max(1.0, abs(b)) for a, b in zip(g_ck, g_plain)), (g_ck, g_plain)
    block_records = len(tg.trace(make_block(args.depth))(p, 0.3)) - 3
    print(f"{args.blocks} blocks of {args.depth} steps; the gradients agree: {g_ck}")
    print(f"{'':14}{'grad tape records':>20}{'largest tape in sweep':>24}{'peak memory':>14}")
    for name, loss in (("plain", plain), ("checkpoint", ck)):
        records = len(tg.trace(loss)(p))
        largest = records if name == "plain" else max(records, block_records + 3)
        peak = peak_bytes(lambda: tg.grad(loss)(p))
        print(f"{name:14}{records:>20,}{largest:>24,}{peak / 2**20:>11.2f} MiB")


if __name__ == "__main__":
    main()
