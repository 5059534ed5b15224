"""The explorer's HTML: one self-contained page holding the graph, the table, the steps and the stepper.

The page needs nothing but a browser: the drawing is inline SVG made by
:mod:`tapegrad.explore.layout`, the styles and the script (``page.css`` and
``page.js`` beside this file) are pasted inline, and the data the script
steps through is a JSON block of text that tapegrad formatted. No URL
appears in the page, so opening it makes no network request.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from typing import Any, Optional, Sequence

from tapegrad.core.records import Record
from tapegrad.explore.layout import Drawing, svg
from tapegrad.explore.model import BAR, Step, Sweeps, fmt


def _asset(name: str) -> str:
    return (resources.files("tapegrad.explore") / name).read_text(encoding="utf-8")


def _step_data(step: Step, digits: int) -> dict[str, Any]:
    return {
        "phase": step.phase,
        "record": step.record,
        "reads": list(step.reads),
        "terms": [[t.target, fmt(t.after, digits), fmt(t.value, digits)] for t in step.terms],
        "text": step.text,
    }


def page_data(sweeps: Sweeps, drawing: Drawing, digits: int) -> dict[str, Any]:
    """What the script needs: each record's value as text, its box, and every step."""
    return {
        "records": [{"val": fmt(r.value, digits)} for r in sweeps.rows],
        "boxes": list(drawing.box_of),
        "single": drawing.single,
        "steps": [_step_data(s, digits) for s in sweeps.steps],
    }


def _json_for_script(data: Any) -> str:
    # "</" would end the script element early; "\u003c/" is the same JSON string.
    return json.dumps(data, ensure_ascii=False, allow_nan=False).replace("</", "<\\/")


def _table(sweeps: Sweeps, records: Sequence[Record]) -> str:
    lines = [
        "<table><thead><tr><th>v<sub>i</sub></th><th>forward: v<sub>i</sub> =</th><th>value</th>",
        f'<th class="sep">reverse: v{BAR}<sub>i</sub> = Σ v{BAR}<sub>j</sub> ∂v<sub>j</sub>/∂v<sub>i</sub></th><th>adjoint</th></tr></thead><tbody>',
    ]
    for row in sweeps.rows:
        user = "" if row.user_name is None else f' <span class="user">({escape(row.user_name)})</span>'
        lines.append(
            f'<tr id="r{row.index}" data-record="{row.index}"><td>{escape(row.name)}{user}</td>'
            f'<td><span class="clip" title="{escape(row.expression)}">{escape(row.expression)}</span></td><td class="num"></td>'
            f'<td class="sep"><span class="clip" title="{escape(row.adjoint_expression)}">{escape(row.adjoint_expression)}</span></td>'
            '<td class="num"></td></tr>'
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _summary(sweeps: Sweeps, records: Sequence[Record], digits: int) -> str:
    inputs = [r for r in records if r.primitive.name == "input"]
    parts = [f"{len(records)} records, {len(inputs)} input{'s' if len(inputs) != 1 else ''}"]
    if sweeps.output is not None:
        parts.append(f"output v{sweeps.output} = {fmt(sweeps.rows[sweeps.output].value, digits)}")
        shown = ", ".join(f"∂y/∂{r.label or f'v{r.index}'} = {fmt(sweeps.rows[r.index].adjoint, digits)}" for r in inputs[:3])
        parts.append(shown + (f", … ({len(inputs)} inputs)" if len(inputs) > 3 else ""))
    return " · ".join(parts)


def render(title: str, sweeps: Sweeps, records: Sequence[Record], drawing: Drawing, digits: int, note: Optional[str] = None) -> str:
    """The whole page as one string of HTML."""
    view = "one box per record" if drawing.single else "collapsed: a box per cluster"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
{_asset("page.css")}</style></head>
<body>
<header><h1>{escape(title)}</h1><p id="summary">{escape(_summary(sweeps, records, digits))}</p></header>
<div class="controls">
<button id="first" title="start (Home)">« start</button><button id="back" title="step back (←)">◀ back</button>
<button id="next" title="step forward (→)">step ▶</button><button id="last" title="end (End)">end »</button>
<button id="reverse" title="skip to the start of the reverse sweep">to the reverse sweep</button>
<input id="slider" type="range" min="0" value="0" aria-label="step">
<span id="phase" class="phase start">Start</span><span id="counter"></span><span id="now" data-record="" data-phase="start"></span>
<div class="explain-row"><span id="explain"></span>
<span class="legend"><span class="l-current">current record</span><span class="l-reads">reads</span><span class="l-adds">adds to</span></span></div>
</div>
<main>
<section class="panel"><h2>Computation graph <span class="note">({view}, inputs left)</span>
<button id="zoom-out" title="zoom out">−</button><button id="zoom-in" title="zoom in">+</button><button id="zoom-fit" title="fit">fit</button></h2>
<div id="graph-box">
{svg(drawing)}
</div></section>
<section class="panel"><h2>Evaluation trace <span class="note">(forward read down, reverse read up)</span></h2>
<div id="table-box">
{_table(sweeps, records)}
</div></section>
</main>
<footer>{escape(note or "")} Drawn by tapegrad: every value is the tape's, every adjoint the reverse sweep's. Keys: ← → step, Home, End.</footer>
<script type="application/json" id="tape-data">{_json_for_script(page_data(sweeps, drawing, digits))}</script>
<script>
{_asset("page.js")}</script>
</body></html>
"""
