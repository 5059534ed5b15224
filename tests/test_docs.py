"""The tutorial is executable: every ```python block runs, and printed output must match.

Blocks run in document order in one shared namespace, as a reader would run
them. A python block that prints must be followed by a plain ``` block
(no language) holding exactly what it prints, so the tutorial cannot go
stale; a plain block that follows no python block would never be checked,
so it is an error too.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from doc_blocks import PUBLIC_MODULES, Block, parse_blocks, tapegrad_imports

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"


def test_parse_blocks_pairs_code_and_output() -> None:
    # The parser itself, on a small document, so a parsing slip cannot make the real check vacuous.
    doc = "text\n```python\nprint(1)\n```\n\nmore\n```\n1\n```\n```sh\nls\n```\n"
    assert parse_blocks(doc) == [Block("python", "print(1)\n", 2), Block("", "1\n", 7), Block("sh", "ls\n", 10)]
    with pytest.raises(ValueError, match="unclosed"):
        parse_blocks("```python\nx = 1\n")


def test_tutorial_blocks_run_and_print_what_the_text_says() -> None:
    blocks = parse_blocks(TUTORIAL.read_text(encoding="utf-8"))
    python = [b for b in blocks if b.lang == "python"]
    # The tutorial must cover the tape, the sweep, grad of grad and training.
    assert len(python) >= 8
    source = "".join(b.text for b in python)
    for needle in ("tg.trace(f)", "reverse_adjoints", "tg.grad(tg.grad(", "nn.sgd_step", "make_moons", "tg.explore(f)", "tg.name("):
        assert needle in source, needle

    namespace: dict[str, Any] = {"__name__": "tutorial"}
    checked = 0
    for k, block in enumerate(blocks):
        previous = blocks[k - 1] if k > 0 else None
        if block.lang == "":
            assert previous is not None and previous.lang == "python", (
                f"docs/tutorial.md line {block.line}: an output block must directly follow a python block"
            )
            continue
        if block.lang != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.text, f"docs/tutorial.md:{block.line}", "exec"), namespace)  # noqa: S102 - our own docs
        following = blocks[k + 1] if k + 1 < len(blocks) else None
        printed = out.getvalue()
        if following is not None and following.lang == "":
            assert printed == following.text, (
                f"docs/tutorial.md line {block.line}: the block printed\n{printed}\nbut the text after it says\n{following.text}"
            )
            checked += 1
        else:
            assert printed == "", f"docs/tutorial.md line {block.line} prints output that is not shown in the tutorial"
    assert checked >= 8


def test_the_tutorial_uses_only_the_public_api() -> None:
    blocks = parse_blocks(TUTORIAL.read_text(encoding="utf-8"))
    code = "".join(b.text for b in blocks if b.lang == "python")
    private = sorted(m for m in tapegrad_imports(code) if m not in PUBLIC_MODULES)
    assert not private, f"docs/tutorial.md imports tapegrad's internals {private}; use the public modules {sorted(PUBLIC_MODULES)}"

