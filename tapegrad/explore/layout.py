"""Drawing a tape as SVG without Graphviz: layers by depth, inputs on the left, the output on the right.

Each record sits in the column of its depth (an input is at depth 0, any
other record one column right of its deepest argument), so every edge points
right. Within a column, records are ordered by the mean height of their
arguments (the barycenter heuristic of Sugiyama-style layouts), which keeps
most edges short and uncrossed; columns are centred on one another.

A tape of more than a few hundred records is unreadable drawn one box per
record, so :func:`collapsed` draws one box per cluster instead: the records
of one named scope (:func:`tapegrad.name_scope`), or the records of one
primitive at one depth (``16 × mul``), with the inputs clustered by the
argument they came from. Edges between clusters are drawn once, thicker for
more records.

The SVG carries what the page's script needs: each box is a ``<g
class="node" id="n…">`` and each edge a ``<path class="edge">`` whose
``data-from`` and ``data-to`` name boxes; a box of one record also holds
the text elements its value and adjoint are written into.
"""

from __future__ import annotations

import math
from html import escape
from typing import Optional, Sequence

import attrs

from tapegrad.core.records import Record
from tapegrad.explore.model import Sweeps

WIDTH, HEIGHT = 160, 58  # one box
COLUMN, ROW = 200, 70  # distance between columns and between boxes in a column
MARGIN = 16
_EXPRESSION_CHARS = 22


@attrs.frozen
class Box:
    """One box of the drawing: a record, or a cluster of records."""

    key: str
    column: int
    records: tuple[int, ...]
    title: str
    detail: str
    kind: str  # "input", "output" or "op"


@attrs.frozen
class Drawing:
    """Boxes with their positions, the edges between them, and which box holds each record."""

    boxes: tuple[Box, ...]
    positions: dict[str, tuple[float, float]]
    edges: tuple[tuple[str, str, int], ...]  # from, to, how many record edges it stands for
    box_of: tuple[str, ...]
    width: float
    height: float
    single: bool  # one box per record (values and adjoints are drawn in the boxes)


def _short(text: str) -> str:
    return text if len(text) <= _EXPRESSION_CHARS else text[: _EXPRESSION_CHARS - 1] + "…"


def _kind(record: Record, output: Optional[int]) -> str:
    if record.index == output:
        return "output"
    return "input" if record.primitive.name == "input" else "op"


def _spread(wanted: Sequence[float]) -> list[float]:
    """Heights as close to ``wanted`` (sorted) as boxes a row apart allow, none above the margin."""
    out: list[float] = []
    for w in wanted:
        out.append(max(w, MARGIN if not out else out[-1] + ROW))
    # Pushing boxes down moved the column's middle; move it back up as far as the margin allows.
    shift = min(sum(out) / len(out) - sum(wanted) / len(wanted), out[0] - MARGIN) if out else 0.0
    return [o - max(shift, 0.0) for o in out]


def _place(boxes: Sequence[Box], parents: dict[str, list[str]]) -> tuple[dict[str, tuple[float, float]], float, float]:
    """Positions: columns left to right; in each, boxes as near their parents' mean height as they fit."""
    columns: dict[int, list[Box]] = {}
    for b in boxes:
        columns.setdefault(b.column, []).append(b)
    y: dict[str, float] = {}
    pos: dict[str, tuple[float, float]] = {}
    for col in sorted(columns):
        members = columns[col]
        wanted: dict[str, float] = {}
        for j, b in enumerate(members):
            ys = [y[p] for p in parents.get(b.key, ()) if p in y]
            wanted[b.key] = sum(ys) / len(ys) if ys else MARGIN + j * ROW
        members = sorted(members, key=lambda b: wanted[b.key])  # stable: ties keep tape order
        for b, height in zip(members, _spread([wanted[b.key] for b in members])):
            y[b.key] = height
            pos[b.key] = (MARGIN + col * COLUMN, height)
    width = 2 * MARGIN + max(columns, default=0) * COLUMN + WIDTH
    height = MARGIN + max(y.values(), default=0.0) + HEIGHT
    return pos, width, height


def _drawing(boxes: list[Box], box_of: list[str], records: Sequence[Record], single: bool) -> Drawing:
    counts: dict[tuple[str, str], int] = {}
    for r in records:
        for arg in dict.fromkeys(r.inputs):
            edge = (box_of[arg], box_of[r.index])
            if edge[0] != edge[1]:
                counts[edge] = counts.get(edge, 0) + 1
    parents: dict[str, list[str]] = {}
    for source, target in counts:
        parents.setdefault(target, []).append(source)
    pos, width, height = _place(boxes, parents)
    edges = tuple((a, b, n) for (a, b), n in counts.items())
    return Drawing(tuple(boxes), pos, edges, tuple(box_of), width, height, single)


def full(sweeps: Sweeps, records: Sequence[Record]) -> Drawing:
    """One box per record, in the column of its depth."""
    boxes = []
    for r, row in zip(records, sweeps.rows):
        title = f"v{r.index}" if r.name is None else f"v{r.index} ({r.name})"
        boxes.append(Box(f"n{r.index}", sweeps.depths[r.index], (r.index,), title, _short(row.expression), _kind(r, sweeps.output)))
    return _drawing(boxes, [b.key for b in boxes], records, single=True)


def _cluster_key(r: Record, depth: int, group: Optional[str], by_group: bool) -> tuple[str, str]:
    """A cluster's identity and its title."""
    if r.primitive.name == "input":
        root = (r.label or "input").split("[")[0]
        return f"input:{root}", root
    if by_group and group is not None:
        return f"group:{group}", group
    return f"{r.primitive.name}@{depth}", r.primitive.name


def collapsed(sweeps: Sweeps, records: Sequence[Record], by: str) -> Drawing:
    """One box per cluster: ``by="group"`` (named scopes, the rest by primitive) or ``by="primitive"``."""
    members: dict[str, list[int]] = {}
    titles: dict[str, str] = {}
    for r in records:
        key, title = _cluster_key(r, sweeps.depths[r.index], sweeps.groups[r.index], by == "group")
        members.setdefault(key, []).append(r.index)
        titles[key] = title
    box_of = [""] * len(records)
    keys = list(members)  # in order of each cluster's first record
    ids = {key: f"n{k}" for k, key in enumerate(keys)}
    for key, idx in members.items():
        for i in idx:
            box_of[i] = ids[key]
    # A cluster's column: one right of the clusters it reads that came before it
    # (named scopes may interleave, so a later cluster's edges are not followed).
    column: dict[str, int] = {}
    for key in keys:
        cols = [column[box_of[a]] for i in members[key] for a in records[i].inputs if box_of[a] in column and box_of[a] != ids[key]]
        column[ids[key]] = 0 if key.startswith("input:") else 1 + max(cols, default=0)
    boxes = []
    for key in keys:
        idx = members[key]
        n = len(idx)
        first = records[idx[0]]
        kind = "output" if sweeps.output in idx else ("input" if key.startswith("input:") else "op")
        if key.startswith("input:"):
            title, detail = titles[key], f"{n} input{'s' if n > 1 else ''}"
        elif n == 1:
            title, detail = f"v{first.index} · {titles[key]}", _short(sweeps.rows[first.index].expression)
        else:
            title = titles[key] if key.startswith("group:") else f"{n} × {titles[key]}"
            detail = f"{n} records"
        boxes.append(Box(ids[key], column[ids[key]], tuple(idx), title, detail, kind))
    return _drawing(boxes, box_of, records, single=False)


def _edge_path(a: tuple[float, float], b: tuple[float, float]) -> str:
    x0, y0 = a[0] + WIDTH, a[1] + HEIGHT / 2
    x1, y1 = b[0], b[1] + HEIGHT / 2
    bend = max(40.0, (x1 - x0) / 2)
    return f"M{x0:.1f},{y0:.1f} C{x0 + bend:.1f},{y0:.1f} {x1 - bend:.1f},{y1:.1f} {x1 - 4:.1f},{y1:.1f}"


def svg(drawing: Drawing) -> str:
    """The drawing as an inline ``<svg>`` element (its boxes start with the forward values hidden)."""
    out = [
        f'<svg id="graph" width="{drawing.width:.0f}" height="{drawing.height:.0f}" '
        f'viewBox="0 0 {drawing.width:.0f} {drawing.height:.0f}" role="img" aria-label="computation graph">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto">'
        '<path d="M0,0 L8,4 L0,8 z" class="arrowhead"/></marker></defs>',
        '<g class="edges">',
    ]
    for a, b, n in drawing.edges:
        width = min(5.0, 1.2 + math.log2(n) / 2)
        out.append(
            f'<path class="edge" data-from="{a}" data-to="{b}" d="{_edge_path(drawing.positions[a], drawing.positions[b])}" '
            f'style="stroke-width:{width:.1f}" marker-end="url(#arrow)"/>'
        )
    out.append('</g><g class="nodes">')
    for box in drawing.boxes:
        x, y = drawing.positions[box.key]
        out.append(f'<g class="node {box.kind}" id="{box.key}" transform="translate({x:.1f},{y:.1f})">')
        out.append(f'<title>{escape(box.title)}: {escape(box.detail)}</title>')
        out.append(f'<rect width="{WIDTH}" height="{HEIGHT}" rx="7"/>')
        out.append(f'<text class="t-name" x="8" y="17">{escape(box.title)}</text>')
        out.append(f'<text class="t-expr" x="8" y="33">{escape(box.detail)}</text>')
        # The page writes values and adjoints here as the sweeps reach them (in a
        # cluster, those of the record being swept, if it is one of the cluster's).
        out.append('<text class="t-val" x="8" y="50"></text>')
        out.append(f'<text class="t-adj" x="{WIDTH - 8}" y="50" text-anchor="end"></text>')
        out.append("</g>")
    out.append("</g></svg>")
    return "\n".join(out)
