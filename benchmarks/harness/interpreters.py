"""Running a workload under other CPythons, each in its own subprocess and virtual environment.

Each interpreter gets a virtual environment of its own under a cache
folder (``benchmarks/.venvs/`` by default, ignored by git) with attrs,
tapegrad's only runtime dependency, and micrograd 0.1.0. tapegrad itself is
not installed there: the subprocess finds it through ``PYTHONPATH`` set to
the repository root, so every interpreter runs the working tree's code.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from harness.fmt import fmt_ratio, fmt_s
from harness.timing import Log

BENCH_DIR = Path(__file__).resolve().parent.parent
ROOT = BENCH_DIR.parent
DEFAULT_VENV_DIR = BENCH_DIR / ".venvs"
SUPPORTED = ((3, 10), (3, 11), (3, 12), (3, 13))  # older CPythons are ignored: tapegrad needs 3.10
REQUIREMENTS = ("attrs>=23.1", "micrograd==0.1.0")  # installed one at a time: micrograd may fail alone
# A probe prints its results as one line of JSON after this marker (workloads/probe.py).
MARKER = "TAPEGRAD-PROBE-JSON: "
PROBE_TIMEOUT_S = 1800.0  # a probe takes about a minute; a hung one must not stall the whole run


@dataclass
class Interpreter:
    """A CPython found on this machine, and the environment the probe runs it in."""

    path: str  # the base interpreter, as given or found
    version: str  # e.g. "3.12.1"
    run_with: str = ""  # the virtual environment's python, or ``path`` if none could be made
    notes: list[str] = field(default_factory=list)


@dataclass
class ProbeRow:
    """One interpreter's results, or why there are none."""

    interpreter: Interpreter
    result: Optional[dict[str, Any]]
    error: Optional[str] = None


def pyenv_pythons() -> list[str]:
    """Every pyenv-installed CPython 3.10 to 3.13 (``$(pyenv root)/versions/3.1[0-3]*/bin/python``)."""
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        root = done.stdout.strip() if done.returncode == 0 else None
    if not root:
        root = str(Path.home() / ".pyenv")
    return sorted(glob.glob(os.path.join(root, "versions", "3.1[0-3]*", "bin", "python")))


def identify(path: str) -> tuple[Optional[Interpreter], Optional[str]]:
    """The interpreter at ``path`` if it is CPython 3.10-3.13, else ``None`` and the reason."""
    code = "import platform, sys; print(platform.python_implementation(), platform.python_version(), *sys.version_info[:2])"
    try:
        done = subprocess.run([path, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{path}: cannot run it ({exc})"
    if done.returncode != 0:
        return None, f"{path}: cannot run it ({done.stderr.strip()[-200:]})"
    impl, version, major, minor = done.stdout.split()
    if impl != "CPython" or (int(major), int(minor)) not in SUPPORTED:
        return None, f"{path}: {impl} {version} ignored (only CPython 3.10-3.13 count)"
    return Interpreter(path, version), None


def _run(cmd: Sequence[str], timeout: float = 600.0) -> tuple[bool, str]:
    """Run ``cmd``; whether it succeeded, and the tail of its output for a note."""
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    tail = (done.stderr or done.stdout).strip().splitlines()
    return done.returncode == 0, tail[-1] if tail else ""


def prepare_venv(interp: Interpreter, venv_dir: Path, log: Log) -> None:
    """Point ``interp.run_with`` at a virtual environment with attrs and micrograd, making it if needed.

    An environment that already imports both is reused. When one cannot be
    made, the base interpreter runs the probe instead and a note says so;
    when micrograd alone cannot be installed, the probe skips its column.
    """
    env_path = venv_dir / f"cpython-{interp.version}"
    python = env_path / "bin" / "python"
    if python.exists() and _run([str(python), "-c", "import attrs, micrograd"])[0]:
        interp.run_with = str(python)
        return
    log(f"  making {env_path} (attrs, micrograd 0.1.0)...")
    ok, why = _run([interp.path, "-m", "venv", "--clear", str(env_path)])
    if not ok:
        interp.run_with = interp.path
        interp.notes.append(f"no virtual environment ({why}); ran the base interpreter")
        return
    interp.run_with = str(python)
    for requirement in REQUIREMENTS:
        ok, why = _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", requirement])
        if not ok:
            interp.notes.append(f"pip install {requirement} failed: {why}")


def probe(interp: Interpreter, probe_args: Sequence[str], log: Log) -> ProbeRow:
    """Run ``bench.py --probe`` under ``interp`` and read its JSON line back."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV", "PYTHONPATH")}
    env["PYTHONPATH"] = str(ROOT)  # tapegrad from this working tree, not from any installed copy
    cmd = [interp.run_with or interp.path, str(BENCH_DIR / "bench.py"), "--probe", *probe_args]
    log(f"  running CPython {interp.version}: {' '.join(cmd)}")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return ProbeRow(interp, None, f"timed out after {PROBE_TIMEOUT_S:.0f} s")
    for line in done.stderr.splitlines():
        log(f"    {line}")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            return ProbeRow(interp, json.loads(line[len(MARKER):]))
    tail = done.stderr.strip().splitlines()
    return ProbeRow(interp, None, f"exit code {done.returncode}: {tail[-1] if tail else 'no output'}")


def run_all(paths: Sequence[str], venv_dir: Path, probe_args: Sequence[str], log: Log) -> tuple[list[ProbeRow], list[str]]:
    """Identify, set up and probe every interpreter in turn (never in parallel: the timings would disturb each other)."""
    notes: list[str] = []
    seen: set[str] = set()
    rows: list[ProbeRow] = []
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        interp, why = identify(path)
        if interp is None:
            notes.append(why or path)
            continue
        log(f"CPython {interp.version} ({path})")
        prepare_venv(interp, venv_dir, log)
        rows.append(probe(interp, probe_args, log))
    return rows, notes


def render_table(rows: Sequence[ProbeRow]) -> str:
    """One Markdown table: CPython | back end | jit first call (at 100 and 1,000 points) | jit vs micrograd | 100 steps eager / jit."""
    lines = [
        "| CPython | jit back end | jit first call, 100 points | first call, 1,000 points (per record: 100 / 1,000 points) "
        "| jit vs micrograd | 100 steps eager time / jit time (cold first call included) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in sorted(rows, key=lambda r: tuple(int(p) for p in r.interpreter.version.split(".")[:3] if p.isdigit())):
        r = row.result
        if r is None:
            lines.append(f"| {row.interpreter.version} | failed: {row.error} | | | | |")
            continue
        first = f"{fmt_s(r['jit_first_call_s'])} (trace {fmt_s(r['jit_trace_s'])} + compile {fmt_s(r['jit_compile_s'])})"
        if r["micrograd_over_jit"] is None:
            versus = "n/a (micrograd not installed)"
        else:
            per_round = r["micrograd_over_jit_per_round"]
            versus = f"{fmt_ratio(r['micrograd_over_jit'])} faster ({fmt_ratio(min(per_round))}-{fmt_ratio(max(per_round))})"
        training = (
            f"{fmt_s(r['training_eager_s'])} / {fmt_s(r['training_jit_s'])} = {fmt_ratio(r['training_eager_over_jit'])}"
        )
        backend = r.get("jit_backend") or "?"
        if r.get("scaled_first_call_s") is not None:
            per_small = r["jit_first_call_s"] / r["jit_records"] * 1e6
            per_large = r["scaled_first_call_s"] / r["scaled_records"] * 1e6
            scaled = f"{fmt_s(r['scaled_first_call_s'])} ({per_small:.1f} / {per_large:.1f} µs)"
        else:
            scaled = "n/a"
        lines.append(f"| {r['python']} | {backend} | {first} | {scaled} | {versus} | {training} |")
    if not rows:
        lines.append("| (no interpreter ran: see the notes) | | | | | |")
    return "\n".join(lines)


def print_interpreter_report(rows: Sequence[ProbeRow], notes: Sequence[str], command: str) -> None:
    """The table, then what the numbers are and every note about an interpreter."""
    print()
    print(render_table(rows))
    print()
    if rows and rows[0].result is not None:
        r = rows[0].result
        print(
            f"Moons step at {r['points']} points: jit vs micrograd is the median over {r['rounds']} paired rounds of "
            "micrograd's step time over the jit step's (with its SGD update), range over rounds in brackets. "
            f"The training is examples/moons.py's train(), {r['training_steps']} steps, median of "
            f"{r['training_rounds']} round(s); the jit time includes the trace and compile of its first call, which "
            f"ran in a fresh process. The first call at {r.get('scaled_points', 1000)} points is one call of a fresh "
            "jitted step, on a tape ten times longer; equal costs per record mean it grows linearly. The back end is "
            "what jit chose: 'bytecode' (an assembler for that version) or 'source' (the portable path)."
        )
    for row in rows:
        for note in row.interpreter.notes:
            print(f"Note: CPython {row.interpreter.version}: {note}")
        if row.result is not None and row.result["micrograd_missing"]:
            print(f"Note: CPython {row.interpreter.version}: {row.result['micrograd_missing']}")
    for note in notes:
        print(f"Note: {note}")
    print(f"Produced by `{command}` on {os.cpu_count()} cores (parent: Python {sys.version.split()[0]}).")
