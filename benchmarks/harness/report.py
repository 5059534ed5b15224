"""The text report and the README's Markdown table."""

from __future__ import annotations

import os
import platform
import statistics
from typing import Sequence

from harness.checks import TOL
from harness.fmt import fmt_ms, fmt_ratio, fmt_ratio2, fmt_s
from harness.targets import Target
from harness.results import CHAIN_RATE, RATIOS, MemoryResults, ScaleResults, StepResults, TrainingResults

COLUMNS = [
    ("micrograd", "micrograd 0.1.0"),
    ("eager_user", "tapegrad eager (user net)"),
    ("eager_nn", "tapegrad eager (nn)"),
    ("jit", "tapegrad jit"),
    ("handwritten", "hand-written"),
]


def text_table(steps: Sequence[StepResults]) -> str:
    """The per-step timings as a fixed-width table, then every ratio: paired, its range over rounds, and pooled."""
    lines = []
    header = f"{'points':>7} | " + " | ".join(f"{label:>30}" for _, label in COLUMNS)
    lines.append(header)
    lines.append("-" * len(header))
    for s in steps:
        comps = s.timings.competitors
        cells = [
            f"{fmt_ms(comps[k].median)} (min {fmt_ms(min(comps[k].samples))}, n={len(comps[k].samples)})" for k, _ in COLUMNS
        ]
        lines.append(f"{s.n:>7} | " + " | ".join(f"{c:>30}" for c in cells))
    lines.append("")
    lines.append(
        "Ratios: the median over rounds of the ratio within each round [lowest-highest round]; pooled: ratio of the medians above"
    )
    lines.append(f"{'points':>7} | {'ratio':>22} | {'paired (median)':>15} | {'rounds':>17} | {'pooled':>8}")
    for s in steps:
        for a, b in RATIOS:
            per_round = s.timings.round_ratios(a, b)
            lines.append(
                f"{s.n:>7} | {a + '/' + b:>22} | {fmt_ratio2(s.ratio(a, b)):>15} | "
                f"{fmt_ratio2(min(per_round)) + '-' + fmt_ratio2(max(per_round)):>17} | "
                f"{fmt_ratio2(s.timings.ratio_of_medians(a, b)):>8}"
            )
    return "\n".join(lines)


def markdown_table(steps: Sequence[StepResults], training: TrainingResults, command: str) -> str:
    """The README's table: median time per step, the ratios, and the full-training line."""
    lines = [
        "| points | micrograd 0.1.0 | tapegrad eager (user net) | tapegrad eager (`nn`) | tapegrad jit | hand-written Python "
        "| micrograd / eager (user net, `nn`) | micrograd / jit | jit / hand-written |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in steps:
        c = s.timings.competitors
        lines.append(
            f"| {s.n:,} | {fmt_ms(c['micrograd'].median)} | {fmt_ms(c['eager_user'].median)} | {fmt_ms(c['eager_nn'].median)} "
            f"| {fmt_ms(c['jit'].median)} | {fmt_ms(c['handwritten'].median)} "
            f"| {fmt_ratio(s.ratio('micrograd', 'eager_user'))}, {fmt_ratio(s.ratio('micrograd', 'eager_nn'))} "
            f"| {fmt_ratio(s.ratio('micrograd', 'jit'))} | {s.ratio('jit', 'handwritten'):.2f}x |"
        )
    lowest = "; ".join(
        f"{s.n:,} points {', '.join(fmt_ratio2(min(s.timings.round_ratios(a, b))) for a, b in RATIOS)}" for s in steps
    )
    lines.append("")
    lines.append(
        "Ratios are the median over paired rounds of the ratio within a round (timed seconds apart); the lowest "
        f"round, in the table's order: {lowest}."
    )
    lines.append(
        f"Median time of one full-batch training step of micrograd's moons demo (`MLP(2, [16, 16, 1])`, hinge loss, "
        f"L2 penalty, backward, SGD update). The whole {training.steps}-step training at {training.n} points takes "
        f"{fmt_s(statistics.median(training.eager_s))} eager and {fmt_s(statistics.median(training.jit_s))} with jit "
        f"({fmt_ratio(training.ratio)} faster; jit's one-time trace and compile: "
        f"{fmt_s(training.jit_trace_s)} + {fmt_s(training.jit_compile_s)})."
    )
    lines.append(f"Produced by `{command}` (Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores).")
    return "\n".join(lines)


def print_report(
    steps: Sequence[StepResults],
    training: TrainingResults,
    scale: ScaleResults,
    memory: MemoryResults,
    targets: Sequence[Target],
    command: str,
    notes: Sequence[str],
) -> None:
    """Everything, in the order of the issue: step table, targets, scale, memory, README table."""
    print()
    print("One training step: median time over n timed runs (and the fastest run, to show the noise)")
    print(text_table(steps))
    print()
    for s in steps:
        print(
            f"jit at {s.n} points: first call {fmt_s(s.jit_first_call_s)} (trace {fmt_s(s.jit_trace_s)}, "
            f"compile {fmt_s(s.jit_compile_s)}), {s.jit_records:,} records -> {s.jit_instructions:,} instructions; "
            f"replay alone {fmt_ms(s.jit_replay_only_s)}, with the SGD update {fmt_ms(s.timings['jit'].median)}"
        )
    worst = max(v for s in steps for v in s.checks.values())
    print(f"All competitors agree on the loss and every gradient (largest difference {worst:.1e}, tolerance {TOL:g}).")
    for s in steps:
        first = statistics.median(s.timings["micrograd"].first)
        print(
            f"micrograd's untimed first step of each round, on a freshly collected heap, at {s.n} points: median {fmt_ms(first)} "
            f"(against it: eager (user net) {first / s.timings['eager_user'].median:.0f}x, "
            f"eager (nn) {first / s.timings['eager_nn'].median:.0f}x, jit {first / s.timings['jit'].median:.0f}x); "
            "its later steps pay for collecting the reference cycles of the earlier ones."
        )
    for note in notes:
        print(f"Note: {note}")
    print()
    print(f"Full {training.steps}-step moons training at {training.n} points (examples/moons.py train(), trace and compile included):")
    print(f"  eager: {', '.join(fmt_s(t) for t in training.eager_s)} -> median {fmt_s(statistics.median(training.eager_s))}")
    print(f"  jit:   {', '.join(fmt_s(t) for t in training.jit_s)} -> median {fmt_s(statistics.median(training.jit_s))}")
    print(f"  eager / jit per round: {', '.join(f'{r:.2f}x' for r in training.round_ratios)}")
    print(
        f"  eager / jit: {fmt_ratio(training.ratio)} (median over rounds); "
        f"final loss {training.final_loss:.6f}, accuracy {training.final_accuracy:.0%}"
    )
    print(
        f"  jit one-time cost: first call {fmt_s(training.jit_first_call_s)} = trace {fmt_s(training.jit_trace_s)} "
        f"+ compile {fmt_s(training.jit_compile_s)} ({training.jit_instructions:,} instructions)"
    )
    print()
    print("Targets from the issue:")
    for t in targets:
        print(f"  {t.line()}")
    print()
    print("Scale:")
    print(
        f"  tapegrad.grad through a chain of {scale.chain_ops:,} operations (x = x * {CHAIN_RATE} + 1e-7): "
        f"{fmt_s(scale.chain_s)}, no recursion"
    )
    print(
        f"  tapegrad MLP(2, [64, 64, 1]), {len(scale.big_losses)} eager steps at 100 points: loss {scale.big_losses[0]:.6f} -> "
        f"{scale.big_losses[-1]:.6f}, median {fmt_s(statistics.median(scale.big_step_s))} per value_and_grad"
    )
    print(
        f"  micrograd MLP(2, [30, 30, 1]) ({scale.micrograd_params:,} parameters) with the L2 term, "
        f"recursion limit {scale.micrograd_recursion_limit}: {scale.micrograd_error}"
    )
    print()
    print(f"Memory (tracemalloc peak during one step at {memory.n} points):")
    print(
        f"  tapegrad value_and_grad: {memory.tapegrad_peak / 1e6:.1f} MB for {memory.tapegrad_records:,} records "
        f"= {memory.tapegrad_peak / memory.tapegrad_records:.0f} bytes per record"
    )
    print(
        f"  micrograd forward + backward: {memory.micrograd_peak / 1e6:.1f} MB for {memory.micrograd_nodes:,} Value nodes "
        f"= {memory.micrograd_peak / memory.micrograd_nodes:.0f} bytes per node"
    )
    print()
    print("README table:")
    print()
    print(markdown_table(steps, training, command))
