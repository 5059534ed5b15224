"""The timing protocol: clocks, competitors and paired rounds.

This machine is shared, and its speed changes by up to 1.8x for seconds at
a time (a pure-Python float loop shows it too). Times taken minutes apart
therefore compare a fast period with a slow one; times taken seconds apart,
in the same round, compare. So every comparison the benchmark makes is
between competitors timed in the same round, and the statistics in
:mod:`harness.stats` work on those per-round pairs.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence

from harness.fmt import fmt_ms

Log = Callable[[str], None]


def time_once(fn: Callable[[], object], reset: Optional[Callable[[], None]] = None) -> float:
    """Seconds taken by one call of ``fn``, with the garbage collector on and at its default settings.

    Before the clock starts, garbage left by earlier runs is collected, so
    no competitor pays for collecting another's leftovers (in particular
    micrograd's cyclic graphs). Nothing else is changed: the objects the
    timed call creates are collected exactly as Python normally would
    (``timeit`` is not used because it switches the collector off).
    """
    if reset is not None:
        reset()
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_once_in_loop(fn: Callable[[], object]) -> float:
    """Seconds taken by one call of ``fn`` as one step of a loop: no collection before it."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@contextlib.contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    """Raise the interpreter's recursion limit to at least ``limit`` for a block."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@dataclass
class Competitor:
    """One way of running a training step, and its timings, round by round."""

    key: str
    label: str
    step: Callable[[], object]
    per_block: int  # consecutive timed steps each time it runs
    rounds: list[list[float]] = field(default_factory=list)  # seconds of each timed step, per round
    # Only for the competitor in the middle of a round (micrograd): its
    # untimed warm-up step, per round, kept for the report.
    first: list[float] = field(default_factory=list)

    @property
    def samples(self) -> list[float]:
        """Every timed step, all rounds together."""
        return [t for r in self.rounds for t in r]

    @property
    def median(self) -> float:
        """Median seconds per step over all rounds."""
        return statistics.median(self.samples)


def run_paired_rounds(
    outer: Sequence[Competitor], middle: Optional[Competitor], rounds: int, log: Log, label: str = ""
) -> None:
    """Time ``outer`` and ``middle`` in ``rounds`` paired rounds, appending to each one's ``rounds``.

    A round runs a block of every ``outer`` competitor (the order rotates
    from round to round, so nobody always goes first), then ``middle``
    (one untimed step, then its block), then the ``outer`` blocks again in
    reverse order. ``middle`` is the slow competitor (micrograd): a round
    brackets it, so the fast ones are timed both before and after it.

    Each block runs its steps back to back, as a training loop does, with
    the collector at its defaults; the heap is collected (untimed) before
    each block, so nobody pays for another's garbage. The middle block's
    untimed first step matters for micrograd: its later steps pay for
    collecting the reference cycles of the steps before them, which is how
    it runs in a training loop, and a first step on a clean heap would not.
    """
    everyone = [*outer, *([middle] if middle is not None else [])]
    for r in range(rounds):
        for c in everyone:
            c.rounds.append([])
        shift = r % len(outer) if outer else 0
        order = [*outer[shift:], *outer[:shift]]
        for c in order:
            gc.collect()
            c.rounds[-1].extend(time_once_in_loop(c.step) for _ in range(c.per_block))
        if middle is not None:
            gc.collect()
            middle.first.append(time_once_in_loop(middle.step))
            middle.rounds[-1].extend(time_once_in_loop(middle.step) for _ in range(middle.per_block))
        for c in reversed(order):
            gc.collect()
            c.rounds[-1].extend(time_once_in_loop(c.step) for _ in range(c.per_block))
        log(
            f"  {label}round {r + 1}/{rounds}: "
            + ", ".join(f"{c.key} {fmt_ms(statistics.median(c.rounds[-1]))}" for c in everyone)
        )
