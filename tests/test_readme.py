"""Every Python example in the README runs, its printed output is what the README shows, and the README stays a tour.

Each python block runs in a namespace of its own; the ```text block that follows it (prose
may come between) is what it prints. A ``<!-- requires: numpy -->`` marker above a block, or
an ``import numpy`` in it, skips it where NumPy is not installed (CI has a NumPy-free leg).
Reference material lives in docs/reference/, whose blocks tests/test_doc_pages.py runs.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from doc_blocks import Block, missing, parse_blocks, undeclared_imports

README = Path(__file__).resolve().parent.parent / "README.md"
# The README is a tour; the reference, the benchmark figures and the internals live in
# docs/ and benchmarks/RESULTS.md. CONTRIBUTING.md states the same budget.
MAX_LINES = 450


def _blocks() -> list[tuple[str, str | None, tuple[str, ...], int]]:
    """(python code, expected output or None, required modules, line) for each python block, in order."""
    found = parse_blocks(README.read_text(encoding="utf-8"))
    out: list[tuple[str, str | None, tuple[str, ...], int]] = []
    for k, block in enumerate(found):
        if block.lang != "python":
            continue
        nxt = found[k + 1] if k + 1 < len(found) else None
        expected = nxt.text if nxt is not None and nxt.lang == "text" else None
        requires = block.requires
        if re.search(r"^import numpy\b", block.text, re.MULTILINE) and "numpy" not in requires:
            requires += ("numpy",)
        out.append((block.text, expected, requires, block.line))
    return out


def test_readme_has_examples() -> None:
    assert len(_blocks()) >= 8


def test_readme_is_a_tour_within_its_line_budget() -> None:
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines; the budget is {MAX_LINES}: move reference material to docs/reference/"


def test_readme_blocks_declare_their_extras() -> None:
    for code, _, requires, line in _blocks():
        undeclared = undeclared_imports(Block("python", code, line, requires))
        assert not undeclared, f"README.md line {line} imports {undeclared}: add <!-- requires: ... --> above the block"


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_readme_example_runs(index: int) -> None:
    code, expected, requires, line = _blocks()[index]
    absent = missing(requires)
    if absent:
        pytest.skip(f"README.md line {line} needs {', '.join(absent)} (an optional extra; CI has a NumPy-free leg)")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(code, f"README.md python block {index} (line {line})", "exec"), {"__name__": f"readme_{index}"})
    if expected is not None:
        assert buffer.getvalue() == expected
