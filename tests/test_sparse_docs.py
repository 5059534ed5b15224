"""docs/sparse.md is executable: every python block runs in order, and what it prints is the plain block after it."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from test_docs import parse_blocks

PAGE = Path(__file__).resolve().parent.parent / "docs" / "sparse.md"


def test_sparse_page_blocks_run_and_print_what_the_page_says() -> None:
    pytest.importorskip("scipy", reason="docs/sparse.md converts a result with .to_scipy(); install the sparse extra")
    blocks = parse_blocks(PAGE.read_text(encoding="utf-8"))
    source = "".join(b.text for b in blocks if b.lang == "python")
    for needle in ("tg.jacobian_sparsity(", "tg.hessian_sparsity(", "tg.sparse_jacobian(", "tg.sparse_hessian(", "jit=True", ".to_scipy()"):
        assert needle in source, needle
    namespace: dict[str, Any] = {"__name__": "sparse_docs"}
    checked = 0
    for k, block in enumerate(blocks):
        previous = blocks[k - 1] if k > 0 else None
        if block.lang == "":
            assert previous is not None and previous.lang == "python", f"docs/sparse.md line {block.line}: an output block must follow a python block"
            continue
        if block.lang != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.text, f"docs/sparse.md:{block.line}", "exec"), namespace)  # noqa: S102 - our own docs
        following = blocks[k + 1] if k + 1 < len(blocks) else None
        assert following is not None and following.lang == "", f"docs/sparse.md line {block.line}: show what the block prints"
        assert out.getvalue() == following.text, f"docs/sparse.md line {block.line} printed\n{out.getvalue()}"
        checked += 1
    assert checked >= 8
