"""Every page under docs/ is executable: its python blocks run, and what they print is what the page shows.

The conventions are those of :mod:`doc_blocks` (and CONTRIBUTING.md): blocks run in order in
one namespace per page, the ```text (or plain) block after a python block is its output, and a
``<!-- requires: numpy -->`` marker runs a block only where NumPy is installed. A page is left
out only by an entry in EXCLUDED, with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from doc_blocks import PUBLIC_MODULES, ROOT, Block, imported_modules, parse_blocks, run_page, tapegrad_imports, undeclared_imports

DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"

# Pages that this test does not run, each with the reason.
EXCLUDED = {
    "docs/tutorial.md": "tests/test_docs.py runs it, and also checks which topics it covers and that it prints nothing unshown",
}


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if p.relative_to(ROOT).as_posix() not in EXCLUDED)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_page_blocks_run_and_print_what_the_page_says(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In an empty folder of its own, so that a block that writes a file cannot litter the checkout.
    monkeypatch.chdir(tmp_path)
    run = run_page(page)
    if run.skipped:
        pytest.skip(
            f"ran {run.ran} block(s) and compared {run.compared} output(s); skipped {len(run.skipped)} "
            f"whose extras are not installed: {'; '.join(run.skipped)}"
        )


def test_every_exclusion_names_a_page_and_a_reason() -> None:
    for page, reason in EXCLUDED.items():
        assert (ROOT / page).is_file(), f"EXCLUDED names {page}, which does not exist"
        assert len(reason) > 20, f"EXCLUDED[{page!r}] needs a reason"


def test_the_reference_keeps_its_examples() -> None:
    # The examples that moved out of the README into docs/reference still run here: every
    # reference page has at least one, and their number cannot quietly shrink.
    counts = {p.name: sum(b.lang == "python" for b in parse_blocks(p.read_text(encoding="utf-8"))) for p in REFERENCE.glob("*.md")}
    assert {"functions.md", "transforms.md", "tape.md", "nn.md", "jit.md", "vmap.md", "testing.md", "errors.md", "typing.md"} <= set(counts)
    assert all(n >= 1 for n in counts.values()), counts
    assert sum(counts.values()) >= 21, counts


def test_reference_pages_use_only_the_public_api() -> None:
    for page in sorted(REFERENCE.glob("*.md")):
        code = "".join(b.text for b in parse_blocks(page.read_text(encoding="utf-8")) if b.lang == "python")
        private = sorted(tapegrad_imports(code) - PUBLIC_MODULES)
        assert not private, f"{page.relative_to(ROOT)} imports tapegrad's internals {private}; show the public API"


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
LINKING_PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.rglob("*.md")), *sorted((ROOT / "benchmarks").glob("*.md"))]


@pytest.mark.parametrize("page", LINKING_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_at_files_that_exist(page: Path) -> None:
    text = _prose(page.read_text(encoding="utf-8"))
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor on the same page
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve()
        assert path.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{page.relative_to(ROOT)} links to {target}, but {file} has no such heading"


def _unfenced(text: str) -> str:
    """The page without its fenced code blocks (where a ``# comment`` is no heading)."""
    return re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.MULTILINE | re.DOTALL)


def _prose(text: str) -> str:
    """The page without fenced blocks and inline code, where `a[1](x)` is code, not a link."""
    return re.sub(r"`[^`\n]*`", "", _unfenced(text))


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", _unfenced(page.read_text(encoding="utf-8")), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


# -- the conventions themselves, on small documents, so that a slip cannot make the checks vacuous


def test_links_inside_code_are_not_links() -> None:
    assert _LINK.findall(_prose("[a](x.md)\n```python\nf[1](2.0)\n```\n`g[0](1)` [b](y.md)\n")) == ["x.md", "y.md"]


def test_a_requires_marker_belongs_to_the_next_block_only() -> None:
    doc = (
        "<!-- requires: numpy, scipy -->\n\n```python\nimport numpy\n```\n\n```text\n```\n"
        "Prose in between.\n```python\nx = 1\n```\n"
    )
    blocks = parse_blocks(doc)
    assert blocks[0] == Block("python", "import numpy\n", 3, ("numpy", "scipy"))
    assert blocks[1].requires == () and blocks[2].requires == ()
    # Text between the marker and the fence detaches it.
    assert parse_blocks("<!-- requires: numpy -->\nA sentence.\n```python\nx = 1\n```\n")[0].requires == ()


def test_optional_imports_must_be_declared() -> None:
    code = "import math\nimport numpy as np\nfrom scipy.optimize import minimize\nimport tapegrad as tg\nfrom hypothesis import given\n"
    assert imported_modules(code) == {"math", "numpy", "scipy", "tapegrad", "hypothesis"}
    assert undeclared_imports(Block("python", code, 1)) == ["numpy", "scipy"]
    assert undeclared_imports(Block("python", code, 1, ("numpy",))) == ["scipy"]
    assert tapegrad_imports("import tapegrad as tg\nfrom tapegrad.core.tape import Tape\n") == {"tapegrad", "tapegrad.core.tape"}


def test_a_page_that_prints_something_else_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import doc_blocks

    monkeypatch.setattr(doc_blocks, "ROOT", tmp_path)
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 2\n```\n\n```python\nprint(x * 3)\n```\n\n```text\n6\n```\n", encoding="utf-8")
    assert run_page(page) == doc_blocks.PageRun(ran=2, compared=1, skipped=[])  # one namespace per page
    page.write_text("```python\nprint(7)\n```\n\n```text\n6\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="printed"):
        run_page(page)
    page.write_text("```python\nprint(7)\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="no output block follows"):
        run_page(page)
    page.write_text("<!-- requires: no_such_module_here -->\n```python\nimport no_such_module_here\n```\n\n```text\nx\n```\n", encoding="utf-8")
    assert run_page(page).skipped == ["line 2 (needs no_such_module_here)"]
    page.write_text("```python\nimport no_such_module_here\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="requires: no_such_module_here"):
        run_page(page)
