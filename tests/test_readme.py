"""Every Python example in the README runs, and its printed output is what the README shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, str | None]]:
    """(python code, expected output or None) for each python block, in order."""
    found = FENCE.findall(README.read_text())
    out: list[tuple[str, str | None]] = []
    for k, (lang, body) in enumerate(found):
        if lang != "python":
            continue
        nxt = found[k + 1] if k + 1 < len(found) else None
        expected = nxt[1] if nxt is not None and nxt[0] == "text" else None
        out.append((body, expected))
    return out


def test_readme_has_examples() -> None:
    assert len(_blocks()) >= 8


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_readme_example_runs(index: int) -> None:
    code, expected = _blocks()[index]
    if re.search(r"^import numpy\b", code, re.MULTILINE):
        pytest.importorskip("numpy")  # the optional extra; CI has a NumPy-free leg
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": f"readme_{index}"})
    if expected is not None:
        assert buffer.getvalue() == expected
