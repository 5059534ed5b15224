"""Speed and scale: tapegrad against micrograd 0.1.0 and a hand-written reference.

Times one full-batch training step of micrograd's moons demo (an
``MLP(2, [16, 16, 1])``, mean SVM hinge loss, 1e-4 * L2 penalty, backward,
SGD update) for five competitors, checks the issue's targets, pushes
tapegrad to a million operations and bigger networks, and compares memory
per recorded operation. With --python or --all-pythons it instead runs a
smaller probe under each given CPython and prints one table.
See benchmarks/README.md for what every number means.

    PYTHONPATH=. python3 benchmarks/bench.py              # the full run (about 7 minutes)
    PYTHONPATH=. python3 benchmarks/bench.py --quick      # smoke run, about a minute
    PYTHONPATH=. python3 benchmarks/bench.py --points 100 --rounds 5 --json out.json
    PYTHONPATH=. python3 benchmarks/bench.py --all-pythons --quick
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import tapegrad as tg

# benchmarks/ is this script's directory, so it is on sys.path and the
# harness and workloads packages import without installing anything.
from harness.interpreters import DEFAULT_VENV_DIR, MARKER, print_interpreter_report, pyenv_pythons, run_all
from harness.report import print_report
from harness.results import StepResults
from harness.targets import evaluate_targets
from harness.timing import Log
from workloads import micrograd_demo
from workloads.memory import bench_memory
from workloads.moons_step import bench_step
from workloads.probe import run_probe
from workloads.scale import bench_scale
from workloads.training import bench_training


def parse_args(argv: Optional[Sequence[str]]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The command line; ``--probe`` is internal (what each interpreter of ``--python`` runs)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke run of about a minute")
    parser.add_argument("--points", type=int, nargs="+", default=[100, 1000], help="data-set sizes (default: 100 1000)")
    parser.add_argument(
        "--rounds", type=int, help="paired timing rounds below 1,000 points (default 7, 2 with --quick); 3 (1) at >= 1,000"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--verbose", action="store_true", help="print every round as it finishes")
    parser.add_argument(
        "--python",
        metavar="PATH",
        action="append",
        default=[],
        help="run the moons step probe under this CPython (3.10-3.13) instead of the full benchmark; repeat for several",
    )
    parser.add_argument(
        "--all-pythons", action="store_true", help="like --python for every pyenv CPython 3.10-3.13 on this machine"
    )
    parser.add_argument(
        "--venv-dir",
        metavar="DIR",
        type=Path,
        default=DEFAULT_VENV_DIR,
        help="where the per-interpreter virtual environments are kept (default benchmarks/.venvs)",
    )
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    return parser, parser.parse_args(argv)


def full_benchmark(args: argparse.Namespace, rounds: int, command: str, log: Log, progress: Log) -> int:
    """Every part of the benchmark, then the report (and the JSON file if asked)."""
    if micrograd_demo.MICROGRAD_MISSING is not None:
        sys.exit(f"this benchmark needs micrograd 0.1.0: {micrograd_demo.MICROGRAD_MISSING} (or pip install -e '.[bench]')")
    # A micrograd step at 1,000 points takes seconds: fewer rounds there, one timed step each.
    big_rounds = min(rounds, 1 if args.quick else 3)
    training_repeats = 1 if args.quick else 5
    big_steps = 5

    progress(
        f"Python {platform.python_version()} on {platform.machine()} ({os.cpu_count()} cores), "
        f"tapegrad {tg.__version__}, micrograd {micrograd_demo.version()}, "
        f"gc enabled with thresholds {gc.get_threshold()}"
    )
    notes = [
        f"{rounds} paired rounds below 1,000 points and {big_rounds} at >= 1,000. A round runs each tapegrad and "
        "hand-written competitor (3 consecutive steps for eager, 10 for jit and hand-written), then micrograd "
        "(one untimed step, then 2 timed below 1,000 points and 1 at >= 1,000), then the others again in reverse "
        "order. Ratios are taken within a round and the median over rounds is reported: this machine's speed "
        "shifts by up to 1.8x for seconds at a time, so only times taken close together compare.",
        "Every block runs its steps back to back, as a training loop does, with the garbage collector at its "
        "default settings; the heap is collected (untimed) before each block, so nobody pays for another's garbage. "
        "micrograd trains from its initial weights; the tapegrad and hand-written steps repeat the step at the "
        "initial weights (their cost does not depend on the values).",
        "The hand-written step skips the backward pass of points whose hinge is inactive, as anyone writing it by hand would.",
    ]
    steps: list[StepResults] = []
    for n in args.points:
        progress(f"timing one training step at {n} points...")
        result = bench_step(n, big_rounds if n >= 1000 else rounds, 1 if n >= 1000 else 2, log)
        steps.append(result)
        if result.micrograd_recursion_limit > 1000:
            notes.append(
                f"at {n} points micrograd's recursive topological sort is deeper than Python's default recursion limit "
                f"of 1000 (the sum of {n} per-point losses is a chain of {n} additions), so its steps there ran with "
                f"sys.setrecursionlimit({result.micrograd_recursion_limit}); with the default it raises RecursionError."
            )
    progress("timing the full 100-step training, eager and jit...")
    training = bench_training(training_repeats, log)
    progress("scale: a 1,000,000-operation chain, MLP(2, [64, 64, 1]), micrograd on MLP(2, [30, 30, 1])...")
    scale = bench_scale(big_steps, log)
    progress("memory: tracemalloc peaks...")
    memory = bench_memory()
    targets = evaluate_targets(steps, training, scale)
    print_report(steps, training, scale, memory, targets, command, notes)

    if args.json:
        payload = {
            "command": command,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "micrograd": micrograd_demo.version(),
            "tapegrad": tg.__version__,
            "rounds": rounds,
            "rounds_at_1000_points": big_rounds,
            "steps": [s.to_json() for s in steps],
            "training": training.to_json(),
            "scale": scale.to_json(),
            "memory": memory.to_json(),
            "targets": [{"name": t.name, "detail": t.detail, "met": t.met} for t in targets],
            "notes": notes,
        }
        write_json(args.json, payload)
    return 0


def interpreter_comparison(args: argparse.Namespace, rounds: int, command: str, log: Log, progress: Log) -> int:
    """Run the probe under each interpreter of --python / --all-pythons and print one table."""
    paths = list(args.python) + (pyenv_pythons() if args.all_pythons else [])
    if not paths:
        sys.exit("--all-pythons found no CPython 3.10-3.13 under $(pyenv root)/versions; give --python PATH")
    probe_args = ["--rounds", str(rounds)] + (["--quick"] if args.quick else []) + (["--verbose"] if args.verbose else [])
    rows, notes = run_all(paths, args.venv_dir, probe_args, progress)
    print_interpreter_report(rows, notes, command)
    if args.json:
        write_json(
            args.json,
            {
                "command": command,
                "interpreters": [
                    {"path": r.interpreter.path, "version": r.interpreter.version, "ran": r.interpreter.run_with,
                     "notes": r.interpreter.notes, "result": r.result, "error": r.error}
                    for r in rows
                ],
                "notes": notes,
            },
        )
    return 0 if rows and all(r.result is not None for r in rows) else 1


def default_gc_thresholds() -> tuple[int, int, int]:
    """The collector's thresholds a fresh interpreter of this version starts with.

    CPython 3.13 raised the youngest generation's threshold from 700 to
    2000; the benchmark only warns when someone changed the defaults.
    """
    return (2000, 10, 10) if sys.version_info >= (3, 13) else (700, 10, 10)


def write_json(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` as indented JSON and say so."""
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nresults written to {path}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the full benchmark, the interpreter comparison, or (internally) one interpreter's probe."""
    parser, args = parse_args(argv)
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    command = "PYTHONPATH=. python3 benchmarks/bench.py" + "".join(" " + shlex.quote(a) for a in raw_argv)
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 7)
    if rounds < 1 or any(n < 2 for n in args.points):
        parser.error("--rounds must be at least 1 and every --points at least 2")

    def log(msg: str) -> None:
        if args.verbose:
            # A probe's stdout carries only its JSON line; its chatter goes to stderr.
            print(msg, file=sys.stderr if args.probe else sys.stdout, flush=True)

    def progress(msg: str) -> None:
        print(msg, flush=True)

    if gc.get_threshold() != default_gc_thresholds() or not gc.isenabled():
        print(
            f"warning: the garbage collector is not at Python's defaults: enabled={gc.isenabled()}, thresholds={gc.get_threshold()}",
            file=sys.stderr,
        )
    if args.probe:
        result = run_probe(rounds, 1 if args.quick else 5, log)
        print(MARKER + json.dumps(result), flush=True)
        return 0
    progress(f"command: {command}")
    if args.python or args.all_pythons:
        return interpreter_comparison(args, rounds, command, log, progress)
    return full_benchmark(args, rounds, command, log, progress)


if __name__ == "__main__":
    raise SystemExit(main())
