"""docs/functions.md is executable: every python block runs, and printed output must match the block after it."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from test_docs import parse_blocks

FUNCTIONS_DOC = Path(__file__).resolve().parent.parent / "docs" / "functions.md"


def test_functions_doc_blocks_run_and_print_what_the_text_says() -> None:
    blocks = parse_blocks(FUNCTIONS_DOC.read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": "functions_doc"}
    checked = 0
    for k, block in enumerate(blocks):
        if block.lang == "":
            assert k > 0 and blocks[k - 1].lang == "python", f"docs/functions.md line {block.line}: an output block must follow a python block"
            continue
        if block.lang != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.text, f"docs/functions.md:{block.line}", "exec"), namespace)  # noqa: S102 - our own docs
        following = blocks[k + 1] if k + 1 < len(blocks) else None
        assert following is not None and following.lang == "", f"docs/functions.md line {block.line}: show what the block prints"
        assert out.getvalue() == following.text, (block.line, out.getvalue(), following.text)
        checked += 1
    assert checked >= 6


def test_functions_doc_lists_every_public_function() -> None:
    import tapegrad as tg
    from tapegrad.core.primitive import PRIMITIVES

    text = FUNCTIONS_DOC.read_text(encoding="utf-8")
    public = {p.name for p in PRIMITIVES if p.builtin and p.name in tg.__all__}
    missing = sorted(name for name in public if f"{name}," not in text and f"{name} " not in text and f"{name}`" not in text)
    assert not missing, f"docs/functions.md does not list {missing}"
