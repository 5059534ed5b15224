"""Graphviz DOT text for a tape (placeholder until the drawing module lands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from tapegrad.tape import Tape


def tape_to_dot(tape: Tape, adjoints: Optional[dict[int, float]] = None) -> str:
    """DOT text with one node per record and one edge per argument reference."""
    lines = ["digraph tape {"]
    for r in tape.records:
        lines.append(f'  v{r.index} [label="v{r.index} = {r.primitive.name}\\n{r.value:.4g}"];')
        for a in r.inputs:
            lines.append(f"  v{a} -> v{r.index};")
    lines.append("}")
    return "\n".join(lines)
