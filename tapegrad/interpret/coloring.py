"""Graph colorings of sparsity patterns, and how to read a matrix back from its colored products.

Layer 3 of tapegrad (``tapegrad/interpret``); it imports nothing else of
tapegrad and knows nothing of tapes: a pattern here is a list of rows, each
a sorted list of column indices.

Columns that share no row can be seeded together: one Jacobian-vector
product with the sum of their unit vectors gives all of them at once
(Curtis, Powell and Reid). :func:`column_coloring` assigns such groups
greedily, keeping for every row the bit set of colors already used in it,
so a coloring costs O(nnz) big-int operations. Rows are colored the same
way on the transposed pattern (for vector-Jacobian products).

A symmetric matrix needs fewer colors: :func:`star_coloring` (Gebremedhin,
Manne and Pothen's greedy star coloring) lets two columns share a color even
when they meet in a row, as long as every entry can still be read directly
from one of its two symmetric places. :func:`recovery` works out, for every
nonzero, which product and which component hold it, and raises if a
coloring leaves an entry ambiguous, so a wrong coloring cannot give wrong
numbers silently.
"""

from __future__ import annotations

from typing import Optional, Sequence


class ColoringError(ValueError):
    """A coloring needs more colors than the bound allows (``.needed`` is a lower bound on how many)."""

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message)
        self.needed = needed


def transpose(rows: Sequence[Sequence[int]], ncols: int) -> list[list[int]]:
    """The columns of a pattern given by its rows: ``cols[j]`` lists the rows holding column j."""
    cols: list[list[int]] = [[] for _ in range(ncols)]
    for i, row in enumerate(rows):
        for j in row:
            cols[j].append(i)
    return cols


def _lowest_free(forbidden: int) -> int:
    """The smallest color whose bit is not set in ``forbidden``."""
    return ((~forbidden) & (forbidden + 1)).bit_length() - 1


def _over(limit: Optional[int], color: int, what: str) -> None:
    if limit is not None and color >= limit:
        raise ColoringError(f"the {what} needs more than {limit} colors", color + 1)


def column_coloring(rows: Sequence[Sequence[int]], ncols: int, limit: Optional[int] = None) -> list[int]:
    """Colors for the columns such that no two columns with an entry in the same row share one.

    Greedy in order of decreasing column count (the densest columns first,
    Welsh and Powell), ties in index order. An empty column gets color -1: it
    needs no product at all. Raises :class:`ColoringError` as soon as more
    than ``limit`` colors would be needed.
    """
    cols = transpose(rows, ncols)
    used = [0] * len(rows)  # per row: the bit set of colors of its columns so far
    color = [-1] * ncols
    for j in sorted(range(ncols), key=lambda j: -len(cols[j])):
        if not cols[j]:
            continue
        forbidden = 0
        for r in cols[j]:
            forbidden |= used[r]
        c = _lowest_free(forbidden)
        _over(limit, c, "column coloring")
        color[j] = c
        bit = 1 << c
        for r in cols[j]:
            used[r] |= bit
    return color


def star_coloring(adjacent: Sequence[Sequence[int]], limit: Optional[int] = None) -> list[int]:
    """A star coloring of a symmetric pattern's graph (``adjacent[v]``: v's neighbours, v itself left out).

    Neighbours get different colors, and every path on four vertices uses at
    least three colors; that is what lets each entry of a symmetric matrix
    be read directly from a product. A vertex without neighbours gets color 0
    (it still needs a product for its diagonal entry). Greedy, densest first;
    the work is the sum of the squared degrees.
    """
    n = len(adjacent)
    color = [-1] * n
    # For every vertex, how many of its neighbours have each color so far.
    around: list[dict[int, int]] = [{} for _ in range(n)]
    for v in sorted(range(n), key=lambda v: -len(adjacent[v])):
        forbidden = 0
        for w in adjacent[v]:
            cw = color[w]
            if cw >= 0:
                forbidden |= 1 << cw
            for x in adjacent[w]:
                cx = color[x]
                if x == v or cx < 0:
                    continue
                if cw < 0:
                    # v and x meet at w, which is not colored yet: keep them
                    # apart, or w would sit between two equal colors.
                    forbidden |= 1 << cx
                elif around[x].get(cw, 0) > 1:
                    # x has a neighbour other than w with w's color: v with
                    # x's color would close a two-colored path v-w-x-y.
                    forbidden |= 1 << cx
        c = _lowest_free(forbidden)
        _over(limit, c, "star coloring")
        color[v] = c
        for w in adjacent[v]:
            around[w][c] = around[w].get(c, 0) + 1
    return color


def colors_used(color: Sequence[int]) -> int:
    """How many colors (products) a coloring needs."""
    return max(color, default=-1) + 1


def recovery(rows: Sequence[Sequence[int]], color: Sequence[int], symmetric: bool) -> list[tuple[int, int]]:
    """For each nonzero ``(i, j)`` in row order: the product and component that hold it.

    The products are ``B[c] = A s_c`` (``s_c`` the sum of the unit vectors
    of the columns of color ``c``), so entry ``(i, j)`` is ``B[c(j)][i]``
    when ``j`` is the only column of its color in row ``i``. For a symmetric
    matrix it may instead be ``B[c(i)][j]``. Raises ValueError if neither holds.
    """
    out: list[tuple[int, int]] = []
    counts: list[dict[int, int]] = []
    for row in rows:
        seen: dict[int, int] = {}
        for j in row:
            seen[color[j]] = seen.get(color[j], 0) + 1
        counts.append(seen)
    for i, row in enumerate(rows):
        for j in row:
            if counts[i][color[j]] == 1:
                out.append((color[j], i))
            elif symmetric and counts[j][color[i]] == 1:
                out.append((color[i], j))
            else:
                raise ValueError(f"the coloring cannot separate entry ({i}, {j}): columns of color {color[j]} meet in row {i}")
    return out
