"""The reference pages docs/testing.md and docs/transforms.md are executable, like the tutorial.

Each page's python blocks run in order in one namespace of its own; a block
that prints must be followed by a plain block holding exactly what it
prints (the same rule as tests/test_docs.py, whose parser this reuses).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
from test_docs import parse_blocks

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize(
    "page, needles",
    [
        ("testing.md", ("check_grads(", "taylor_test(", "check_per_example_grads(", "dot-product test")),
        ("transforms.md", ("tg.linearize(", "tg.checkpoint(", "benchmarks/checkpoint_memory.py")),
    ],
)
def test_reference_page_runs_and_prints_what_it_says(page: str, needles: tuple[str, ...]) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    for needle in needles:
        assert needle in text, f"docs/{page} should cover {needle}"
    blocks = parse_blocks(text)
    namespace: dict[str, Any] = {"__name__": page}
    checked = 0
    for k, block in enumerate(blocks):
        previous = blocks[k - 1] if k > 0 else None
        if block.lang == "":
            assert previous is not None and previous.lang == "python", f"docs/{page} line {block.line}: an output block must follow a python block"
            continue
        if block.lang != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.text, f"docs/{page}:{block.line}", "exec"), namespace)  # noqa: S102 - our own docs
        following = blocks[k + 1] if k + 1 < len(blocks) else None
        if following is not None and following.lang == "":
            assert out.getvalue() == following.text, f"docs/{page} line {block.line} printed\n{out.getvalue()}\nbut the page says\n{following.text}"
            checked += 1
        else:
            assert out.getvalue() == "", f"docs/{page} line {block.line} prints output the page does not show"
    assert checked >= 4
