"""Drawing a tape: Graphviz DOT text, and rendering it to SVG or PNG.

:func:`tape_to_dot` draws the computation graph the way micrograd's
``draw_dot`` does: every record is a box showing its name, value and (when
given) adjoint, and every operation is a small oval between its arguments
and its result. Constants, which have no record of their own on the tape,
are drawn as dashed boxes next to the operation that uses them. Inputs are
blue, outputs green with a double border.

Node names are stable so the text can be read or tested: ``v3`` is record 3,
``op3`` the operation that produced it, ``c3_1`` the constant in argument 1
of record 3, and ``out0`` a constant output. The only edges are
``v{a} -> op{i}`` or ``c{i}_{k} -> op{i}`` for each argument of record ``i``,
and ``op{i} -> v{i}``.

:func:`render` turns DOT text into a picture with the Graphviz ``dot``
program. tapegrad does not depend on Graphviz; without it, :func:`render`
raises :class:`GraphvizNotFoundError` saying how to install it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from tapegrad.core.primitive import ARG_NAMES
from tapegrad.core.records import Lit, Var, format_number, record_name
from tapegrad.core.tape import Tape
from tapegrad.tables import normalize_adjoints

AdjointsArg = Union[Mapping[int, float], Sequence[Optional[float]]]

INSTALL_HINT = (
    "rendering a tape needs Graphviz's `dot` program, which was not found on PATH. "
    "Install it with your package manager (apt-get install graphviz, brew install graphviz, "
    "conda install graphviz; downloads at https://graphviz.org/download/), "
    "or install the Python wrapper with pip install graphviz (it still needs the `dot` program). "
    "The DOT text itself needs nothing: save tapegrad.dot.tape_to_dot(tape) to a file and paste it into any Graphviz viewer."
)

# Operations whose arguments may be swapped; the others get their edges
# labelled with the argument's name (x, y, ...) so that pow(v1, v2) and
# pow(v2, v1) look different.
# (and the symmetric ones: their edges need no x/y labels)
_COMMUTATIVE = frozenset({"add", "mul", "sum", "mean", "maximum", "minimum", "hypot", "logaddexp"})

_INPUT_STYLE = 'style=filled, fillcolor="#cfe3ff"'
_OUTPUT_STYLE = 'style=filled, fillcolor="#d5f5d5", peripheries=2'
_CONST_STYLE = 'style=dashed, color="#777777"'


class GraphvizNotFoundError(RuntimeError):
    """Neither the ``dot`` program nor a working ``graphviz`` package is available."""


def _field(text: str) -> str:
    """Escape text for one field of a Graphviz record label inside a quoted DOT string."""
    text = text.replace("\\", "\\\\")
    return re.sub(r'([{}|<>"])', r"\\\1", text)


def _quoted(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _record_label(fields: Sequence[str]) -> str:
    # The braces flip the record to horizontal under rankdir=LR, as in micrograd.
    return '"{ ' + " | ".join(_field(f) for f in fields) + ' }"'


def _adjoint_lookup(tape: Tape, adjoints: Optional[AdjointsArg]) -> Optional[list[Optional[float]]]:
    if adjoints is None:
        return None

    return normalize_adjoints(tape, adjoints)


def tape_to_dot(tape: Tape, adjoints: Optional[AdjointsArg] = None) -> str:
    """Graphviz DOT text for ``tape``: record boxes, operation ovals, constants, inputs and outputs.

    ``adjoints`` is what :func:`tapegrad.interpret.sweep.reverse_sweep` returned (a
    list with None for zero) or a dict from record index to adjoint; when
    given, each box also shows its record's adjoint.
    """
    adj = _adjoint_lookup(tape, adjoints)
    outputs = tape.outputs
    out_vars = {o.index for o in outputs if isinstance(o, Var)}
    lines = [
        "digraph tape {",
        f"  graph [rankdir=LR, labelloc=t, fontname=Helvetica, label={_quoted(tape.name)}];",
        "  node [fontname=Helvetica, fontsize=11];",
        "  edge [arrowsize=0.7];",
    ]
    for r in tape.records:
        name = f"v{r.index}"
        is_input = r.primitive.name == "input"
        shown = record_name(r)
        fields = [f"{shown} (output)" if r.index in out_vars else shown]
        if is_input:
            fields.append(f"input {r.label}" if r.label else "input")
        fields.append(f"value {format_number(r.value)}")
        if adj is not None:
            a = adj[r.index]
            fields.append(f"adjoint {format_number(0.0 if a is None else a)}")
        style = [f"shape=record, label={_record_label(fields)}"]
        if r.index in out_vars:
            style.append(_OUTPUT_STYLE)
        elif is_input:
            style.append(_INPUT_STYLE)
        lines.append(f"  {name} [{', '.join(style)}];")
        if is_input:
            continue
        op = f"op{r.index}"
        lines.append(f"  {op} [shape=ellipse, label={_quoted(r.primitive.name)}];")
        labelled = len(r.args) > 1 and not (r.primitive.builtin and r.primitive.name in _COMMUTATIVE)
        for k, arg in enumerate(r.args):
            edge_attr = f" [label={_quoted(ARG_NAMES[k] if k < len(ARG_NAMES) else f'arg{k}')}]" if labelled else ""
            if isinstance(arg, Var):
                lines.append(f"  v{arg.index} -> {op}{edge_attr};")
            else:
                const = f"c{r.index}_{k}"
                lines.append(f"  {const} [shape=box, {_CONST_STYLE}, label={_quoted(format_number(arg.value))}];")
                lines.append(f"  {const} -> {op}{edge_attr};")
        lines.append(f"  {op} -> {name};")
    for k, o in enumerate(outputs):
        if isinstance(o, Lit):  # the function ignored its inputs: show the constant it returned
            label = _record_label([f"output {k} (constant)", f"value {format_number(o.value)}"])
            lines.append(f"  out{k} [shape=record, label={label}, {_OUTPUT_STYLE}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, path: Union[str, os.PathLike[str]], format: Optional[str] = None) -> Path:
    """Render DOT text to an image file and return its path.

    ``format`` (``svg``, ``png``, ``pdf``, ...) defaults to the file's
    suffix, or ``svg`` if it has none. Uses the Graphviz ``dot`` program if
    it is on PATH, else the ``graphviz`` Python package if it is installed.
    Raises :class:`GraphvizNotFoundError` (a RuntimeError) explaining how to
    install Graphviz when neither works, and RuntimeError if ``dot`` rejects
    the text.
    """
    out = Path(path)
    fmt = format or out.suffix.lstrip(".") or "svg"
    if not re.fullmatch(r"[A-Za-z0-9_:]+", fmt):
        raise ValueError(f"render: {fmt!r} is not a Graphviz output format (try 'svg' or 'png')")
    exe = shutil.which("dot")
    if exe is not None:
        done = subprocess.run([exe, f"-T{fmt}", "-o", str(out)], input=dot_text.encode(), capture_output=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"dot -T{fmt} failed (exit {done.returncode}): {done.stderr.decode(errors='replace').strip()}")
        return out
    try:
        import graphviz
    except ImportError:
        raise GraphvizNotFoundError(INSTALL_HINT) from None
    try:
        data = graphviz.Source(dot_text).pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:  # the wrapper is installed, the program is not
        raise GraphvizNotFoundError(INSTALL_HINT) from exc
    out.write_bytes(data)
    return out


__all__ = ["GraphvizNotFoundError", "INSTALL_HINT", "render", "tape_to_dot"]
