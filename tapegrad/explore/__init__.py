"""The tape explorer: a page that steps through a function's forward and reverse sweeps.

``tapegrad.explore(f)(2.0, 5.0)`` traces ``f`` and returns an
:class:`Explorer`. In a Jupyter or VS Code notebook it shows itself inline;
``.save("page.html")`` writes one self-contained HTML file (no network, no
Graphviz) with the computation graph, the evaluation-trace table and a
stepper that walks the forward sweep and then the reverse sweep one record
at a time, marking the adjoints each record reads and adds to. From a
terminal: ``python -m tapegrad.explore module:function 2.0 5.0 --out page.html``.

The package: :mod:`~tapegrad.explore.model` (the rows and the steps, from
the tables and the real sweep), :mod:`~tapegrad.explore.layout` (the graph
drawn as SVG), :mod:`~tapegrad.explore.page` (the HTML, with ``page.css``
and ``page.js``) and ``__main__`` (the command line).
"""

from __future__ import annotations

import functools
import os
from html import escape
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from tapegrad.core.tape import Tape
from tapegrad.explore import layout
from tapegrad.explore.model import Sweeps, build
from tapegrad.explore.page import render
from tapegrad.transforms.arguments import TracedInputs, _arg_names, _fname, _output_refs, _split_aux

FULL_VIEW_LIMIT = 400
"""Tapes of up to this many records are drawn one box per record; longer ones collapsed."""

COLLAPSE_MODES = ("auto", "none", "primitive", "group")


class Explorer:
    """A traced tape with its sweeps cut into steps, ready to be shown as a page.

    ``tape`` is the recorded tape and ``sweeps`` the rows (the tables'
    numbers) and steps the page walks through. :meth:`html` is the page,
    :meth:`save` writes it, and notebooks call :meth:`_repr_html_`.
    """

    def __init__(self, tape: Tape, sweeps: Sweeps, title: str, collapse: str = "auto", digits: int = 6) -> None:
        if collapse not in COLLAPSE_MODES:
            raise ValueError(f"explore: collapse must be one of {', '.join(map(repr, COLLAPSE_MODES))}, got {collapse!r}")
        self.tape = tape
        self.sweeps = sweeps
        self.title = title
        self.digits = digits
        records = tape.records
        if collapse == "auto":
            collapse = "none" if len(records) <= FULL_VIEW_LIMIT else ("group" if tape.groups else "primitive")
        self.collapse = collapse
        self.drawing = layout.full(sweeps, records) if collapse == "none" else layout.collapsed(sweeps, records, collapse)

    def html(self) -> str:
        """The page: one HTML document with its script, styles and data inline."""
        note = ""
        if not self.drawing.single:
            note = f"The graph is collapsed ({self.collapse}); the table lists every record."
        return render(self.title, self.sweeps, self.tape.records, self.drawing, self.digits, note)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> Path:
        """Write the page to ``path`` (UTF-8) and return the path."""
        out = Path(path)
        out.write_text(self.html(), encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        # An iframe keeps the page's ids, styles and keys apart from the
        # notebook's and from other explorers in the same notebook.
        return (
            f'<iframe srcdoc="{escape(self.html(), quote=True)}" title="{escape(self.title, quote=True)}" '
            'style="width: 100%; height: 820px; border: 1px solid #d1d5db; border-radius: 6px;"></iframe>'
        )

    def __repr__(self) -> str:
        return f"<Explorer of {self.tape.name}: {len(self.tape)} records, {len(self.sweeps.steps) - 1} steps>"


def _has_int_leaf(tree: Any) -> bool:
    """Whether an integer (a Python or NumPy one, not a bool) sits at a leaf of ``tree``."""
    if isinstance(tree, dict):
        return any(_has_int_leaf(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return any(_has_int_leaf(v) for v in tree)
    if isinstance(tree, bool):
        return False
    return isinstance(tree, int) or getattr(getattr(tree, "dtype", None), "kind", None) in ("i", "u")


def _normalized_argnums(argnums: Union[None, int, Sequence[int]], args: Sequence[Any]) -> list[int]:
    if argnums is None:
        # Integer arguments are class labels and exponents more often than
        # points: traced, a label would no longer be an int (cross_entropy
        # refuses it). A call with only such arguments traces them all.
        floats = [k for k, a in enumerate(args) if not _has_int_leaf(a)]
        return floats or list(range(len(args)))
    nums = [argnums] if isinstance(argnums, int) else list(argnums)
    if not all(isinstance(k, int) and not isinstance(k, bool) for k in nums):
        raise TypeError(f"explore: argnums must be an int or a sequence of ints, got {argnums!r}")
    return nums


def explore(
    f: Callable[..., Any],
    *,
    argnums: Union[None, int, Sequence[int]] = None,
    has_aux: bool = False,
    output: Optional[int] = None,
    collapse: str = "auto",
    digits: int = 6,
    title: Optional[str] = None,
) -> Callable[..., Explorer]:
    """Return a function that traces ``f`` on its arguments and returns an :class:`Explorer`.

    Every leaf of the arguments named by ``argnums`` becomes an input
    labelled with its path. By default that is every positional argument
    without an integer leaf, so an int class label or exponent stays an int
    (every argument, if each has one). Leaves are labelled
    (``params[0]['w'][1][0]``); keyword arguments pass through. ``f`` may be
    any function tapegrad traces: a scalar function, ``tapegrad.grad(g)``
    (the page then shows the tape of the gradient computation), a network's
    loss (``has_aux=True`` if it returns ``(loss, aux)``). The reverse sweep
    is seeded with 1 at the output; a function with several outputs needs
    ``output=k``. ``collapse`` is ``"none"`` (one box per record),
    ``"primitive"``, ``"group"`` (named scopes, see
    :func:`tapegrad.name_scope`) or ``"auto"`` (one box per record up to
    :data:`FULL_VIEW_LIMIT` records). Numbers show ``digits`` significant digits.
    """
    if collapse not in COLLAPSE_MODES:
        raise ValueError(f"explore: collapse must be one of {', '.join(map(repr, COLLAPSE_MODES))}, got {collapse!r}")
    names = _arg_names(f)

    @functools.wraps(f)
    def explore_f(*args: Any, **kwargs: Any) -> Explorer:
        tape = Tape(name=f"the tape of {_fname(f)}")
        with tape:
            inputs = TracedInputs(tape, args, _normalized_argnums(argnums, args), names, "explore", f)
            out, _ = _split_aux(f(*inputs.args, **kwargs), has_aux, "explore", f)
            _output_refs(tape, out)
        sweeps = build(tape, output, digits)
        return Explorer(tape, sweeps, title or f"The tape of {_fname(f)}", collapse, digits)

    return explore_f


__all__ = ["COLLAPSE_MODES", "Explorer", "FULL_VIEW_LIMIT", "explore"]
