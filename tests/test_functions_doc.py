"""docs/reference/functions.md lists every public function of the rule table.

(Its blocks, like every docs page's, are run by tests/test_doc_pages.py.)
"""

from __future__ import annotations

from pathlib import Path

FUNCTIONS_DOC = Path(__file__).resolve().parent.parent / "docs" / "reference" / "functions.md"


def test_functions_doc_lists_every_public_function() -> None:
    import tapegrad as tg
    from tapegrad.core.primitive import PRIMITIVES

    text = FUNCTIONS_DOC.read_text(encoding="utf-8")
    public = {p.name for p in PRIMITIVES if p.builtin and p.name in tg.__all__}
    missing = sorted(name for name in public if f"`{name}`" not in text)
    assert not missing, f"docs/reference/functions.md does not list {missing}"
