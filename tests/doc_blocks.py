"""The code blocks of Markdown pages, and how the tests run them; shared by the doc tests, not a test module.

The conventions (written for contributors in CONTRIBUTING.md, "Code blocks in the docs"):

- A ```` ```python ```` block is run. The blocks of one page run in document order in one
  shared namespace, as a reader would run them.
- The next fenced block after a python block (prose may come between), if it is
  ```` ```text ```` or a plain ```` ``` ````, is what that block prints, exactly. A python
  block followed by no such block must print nothing.
- ``<!-- requires: numpy -->`` on the last non-blank line before a block's opening fence
  (several modules: ``<!-- requires: numpy, scipy -->``) runs the block only where those
  modules can be imported; elsewhere the block and its output are skipped. A block that
  imports anything outside the standard library, tapegrad and the test extras must say so
  with this marker, so that the NumPy-free leg cannot fail on it unnoticed.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent

_OPEN = re.compile(r"^```([\w+-]*)\s*$")
_REQUIRES = re.compile(r"^<!--\s*requires:\s*([\w.]+(?:\s*,\s*[\w.]+)*)\s*-->$")
OUTPUT_LANGS = ("", "text")

# What every CI leg installs (the package and its `test` and `bench` extras): a block may
# import these without a marker. Everything else (numpy, scipy, matplotlib, torch,
# sklearn, graphviz, ...) is an optional extra that some leg lacks.
ALWAYS_THERE = frozenset({"tapegrad", "attrs", "pytest", "hypothesis", "mypy", "micrograd"})

# The modules a user imports from tapegrad, its public import paths (plus datasets and the
# hypothesis strategies): the tutorial and the reference pages teach only these, never internals.
PUBLIC_MODULES = frozenset(
    {
        "tapegrad",
        "tapegrad.nn",
        "tapegrad.optim",
        "tapegrad.tables",
        "tapegrad.dot",
        "tapegrad.datasets",
        "tapegrad.testing",
        "tapegrad.testing.strategies",
    }
)


class Block(NamedTuple):
    """A fenced block: its info string ("" for a plain fence), text, first line, and required modules."""

    lang: str
    text: str
    line: int
    requires: tuple[str, ...] = ()


def parse_blocks(markdown: str) -> list[Block]:
    """The fenced blocks of a Markdown document, in order, with their ``requires`` markers."""
    blocks: list[Block] = []
    lang: str | None = None
    start = 0
    body: list[str] = []
    requires: tuple[str, ...] = ()
    last_text = ""  # the last non-blank line outside a block
    for n, line in enumerate(markdown.splitlines(), start=1):
        if lang is None:
            m = _OPEN.match(line)
            if m:
                marker = _REQUIRES.match(last_text.strip())
                requires = tuple(name.strip() for name in marker.group(1).split(",")) if marker else ()
                lang, start, body = m.group(1), n, []
            elif line.strip():
                last_text = line
        elif line.strip() == "```":
            blocks.append(Block(lang, "\n".join(body) + "\n" if body else "", start, requires))
            lang, last_text = None, ""
        else:
            body.append(line)
    if lang is not None:
        raise ValueError(f"unclosed code fence opened at line {start}")
    return blocks


def imported_modules(code: str) -> set[str]:
    """The top-level names of the modules a piece of code imports (``numpy`` for ``import numpy.linalg``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def tapegrad_imports(code: str) -> set[str]:
    """The tapegrad modules that code imports, by their full dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "tapegrad")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "tapegrad":
            found.add(node.module)
    return found


def undeclared_imports(block: Block) -> list[str]:
    """Modules the block imports that are neither always installed nor named by its ``requires`` marker."""
    stdlib = set(sys.stdlib_module_names)
    return sorted(m for m in imported_modules(block.text) if m not in stdlib and m not in ALWAYS_THERE and m not in block.requires)


def missing(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that cannot be imported here."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def output_of(blocks: list[Block], k: int) -> Block | None:
    """The block holding what python block ``k`` prints, or None if it shows no output."""
    following = blocks[k + 1] if k + 1 < len(blocks) else None
    return following if following is not None and following.lang in OUTPUT_LANGS else None


class PageRun(NamedTuple):
    """What running a page did: python blocks run, outputs compared, and blocks skipped (with why)."""

    ran: int
    compared: int
    skipped: list[str]


def run_page(path: Path) -> PageRun:
    """Run every python block of the page at ``path`` and compare what it prints; AssertionError on a mismatch."""
    where = path.relative_to(ROOT).as_posix()
    blocks = parse_blocks(path.read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": where.replace("/", "_").removesuffix(".md")}
    ran = compared = 0
    skipped: list[str] = []
    for k, block in enumerate(blocks):
        if block.lang != "python":
            continue
        undeclared = undeclared_imports(block)
        assert not undeclared, (
            f"{where} line {block.line}: the block imports {', '.join(undeclared)}, which not every CI leg has; "
            f"put <!-- requires: {', '.join(undeclared)} --> on the line above its opening fence"
        )
        absent = missing(block.requires)
        if absent:
            skipped.append(f"line {block.line} (needs {', '.join(absent)})")
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.text, f"{where}:{block.line}", "exec"), namespace)  # noqa: S102 - our own docs
        ran += 1
        printed = out.getvalue()
        shown = output_of(blocks, k)
        if shown is None:
            assert printed == "", f"{where} line {block.line}: the block prints\n{printed}\nbut no output block follows it"
        else:
            assert printed == shown.text, (
                f"{where} line {block.line}: the block printed\n{printed}\nbut the page (line {shown.line}) says\n{shown.text}"
            )
            compared += 1
    return PageRun(ran, compared, skipped)
