"""The explorer without a browser: its steps against the real sweep, the page's content, the command line.

The browser test (tests/test_explore_browser.py) checks what the page
shows; this file checks what tapegrad puts into it.
"""

from __future__ import annotations

import html
import importlib.util
import json
import math
import random
import re
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.explore import Explorer, model
from tapegrad.interpret import sweep
from tapegrad.explore.__main__ import main
from tapegrad.tables import output_adjoints, table_rows

ROOT = Path(__file__).resolve().parent.parent


def baydin(x1: tg.Scalar, x2: tg.Scalar) -> tg.Scalar:
    return tg.log(x1) + x1 * x2 - tg.sin(x2)


def relu_branch(x: tg.Scalar, y: tg.Scalar) -> tg.Scalar:
    return tg.relu(x * y - 10.0) * tg.exp(x) + x * x / y  # relu is off at (2, 3): zeros flow


def neuron(x1: tg.Scalar, x2: tg.Scalar, w1: tg.Scalar, w2: tg.Scalar, b: tg.Scalar) -> tg.Scalar:
    return tg.tanh(x1 * w1 + x2 * w2 + b)


CASES: list[tuple[Callable[..., Any], tuple[float, ...]]] = [
    (baydin, (2.0, 5.0)),
    (relu_branch, (2.0, 3.0)),
    (neuron, (2.0, 0.0, -3.0, 1.0, 6.8813735870195432)),
    (tg.grad(lambda x: x**3.0 * tg.sin(x)), (0.7,)),
]


def page_data(explorer: Explorer) -> Any:
    m = re.search(r'<script type="application/json" id="tape-data">(.*?)</script>', explorer.html(), re.S)
    assert m is not None
    return json.loads(m.group(1))


@pytest.mark.parametrize("f, args", CASES, ids=["baydin", "relu_branch", "neuron", "grad"])
def test_the_steps_replay_the_real_sweep(f: Callable[..., Any], args: tuple[float, ...]) -> None:
    ex = tg.explore(f)(*args)
    tape, steps = ex.tape, ex.sweeps.steps
    n = len(tape)
    assert [s.phase for s in steps] == ["start"] + ["forward"] * n + ["seed"] + ["reverse"] * n
    assert [s.record for s in steps[1 : n + 1]] == list(range(n))
    assert [s.record for s in steps[n + 2 :]] == list(range(n - 1, -1, -1))
    # Adding up every step's terms, as the page does, ends at the tables' adjoints.
    final = output_adjoints(tape)
    running: list[Optional[float]] = [None] * n
    running[n - 1] = 1.0
    for s in steps[n + 2 :]:
        assert s.record is not None
        # When the sweep reaches a record, its adjoint is complete: the tables' number.
        assert running[s.record] == final[s.record]
        for t in s.terms:
            assert t.source == s.record and t.before == running[t.target]
            assert t.after == (t.value if t.before is None else t.before + t.value)
            running[t.target] = t.after
    assert running == final
    # And the rows are the tables' own.
    assert list(ex.sweeps.rows) == table_rows(tape)


def test_each_term_is_the_adjoint_times_the_local_derivative() -> None:
    # Against central differences of each record's own primitive, independent of the rule table.
    ex = tg.explore(neuron)(0.3, -1.2, 0.8, 0.5, 0.1)
    records = ex.tape.records
    for s in ex.sweeps.steps:
        if s.phase != "reverse" or s.record is None:
            continue
        rec = records[s.record]
        for t in s.terms:
            args = [float(records[a.index].value) if isinstance(a, tg.Var) else a.value for a in rec.args]
            k = [a.index if isinstance(a, tg.Var) else None for a in rec.args].index(t.target)
            h = 1e-6
            up, down = list(args), list(args)
            up[k] += h
            down[k] -= h
            fd = (rec.primitive.impl(*up) - rec.primitive.impl(*down)) / (2 * h)
            adjoint = ex.sweeps.rows[s.record].adjoint
            assert adjoint is not None and math.isclose(t.value, adjoint * fd, rel_tol=1e-6, abs_tol=1e-9)


def test_the_page_is_one_file_with_nothing_to_fetch(tmp_path: Path) -> None:
    ex = tg.explore(baydin)(2.0, 5.0)
    text = ex.save(tmp_path / "page.html").read_text(encoding="utf-8")
    assert text == ex.html() and text.startswith("<!DOCTYPE html>")
    for needle in ("http:", "https:", "//cdn", "<link", " src=", "url(http", "@import"):
        assert needle not in text, needle
    assert text.count("<script") == 2 and "<style>" in text and "<svg" in text
    assert len(text.encode()) < 40_000
    data = page_data(ex)
    assert [r["val"] for r in data["records"]] == [format(float(r.value), ".6g") for r in ex.tape.records]
    assert "11.6521" in text and "5.5" in text and "1.71634" in text
    # One box per record, and an edge for each argument.
    assert data["single"] and data["boxes"] == [f"n{i}" for i in range(8)]
    assert len(re.findall(r'<path class="edge"', text)) == 9


def test_user_text_is_escaped() -> None:
    def f(x: tg.Scalar) -> tg.Scalar:
        return tg.name(x * 2.0, "</script><b>h")

    text = tg.explore(f)(1.0).html()
    assert "</script><b>h" not in text
    assert html.escape("</script><b>h") in text


def test_repr_html_is_an_isolated_frame() -> None:
    ex = tg.explore(baydin)(2.0, 5.0)
    frame = ex._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "<script" not in frame
    assert html.unescape(frame.split('srcdoc="')[1].split('" title=')[0]) == ex.html()


def test_a_gradient_of_several_outputs_needs_an_output() -> None:
    g = tg.grad(baydin, argnums=(0, 1))
    with pytest.raises(ValueError, match=r"2 outputs.*output=k"):
        tg.explore(g)(2.0, 5.0)
    ex = tg.explore(g, output=1)(2.0, 5.0)
    # The tape of df/dx2 = x1 - cos(x2), swept back: d2f/dx2dx1 = 1, d2f/dx2^2 = sin(x2).
    rows = ex.sweeps.rows
    assert rows[0].adjoint == pytest.approx(1.0) and rows[1].adjoint == pytest.approx(math.sin(5.0))
    with pytest.raises(ValueError, match="output=2"):
        tg.explore(g, output=2)(2.0, 5.0)


def test_a_constant_output_has_no_reverse_terms() -> None:
    ex = tg.explore(lambda x: 3.0)(1.0)
    assert ex.sweeps.output is None
    assert all(not s.terms for s in ex.sweeps.steps) and "constant" in ex.sweeps.steps[2].text


def test_the_sweep_and_its_reference_must_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sweep.reverse_sweep

    def off_by_a_bit(tape: tg.Tape, seeds: Any, **kw: Any) -> list[Any]:
        adj = real(tape, seeds, **kw)
        adj[0] = adj[0] + 1e-9
        return adj

    monkeypatch.setattr(model, "reverse_sweep", off_by_a_bit)
    with pytest.raises(RuntimeError, match=r"disagree .* record\(s\) \[0\]"):
        tg.explore(baydin)(2.0, 5.0)


def moons_loss(params: nn.MLPParams, points: list[list[float]], labels: list[float]) -> tuple[tg.Scalar, tg.Scalar]:
    scores = []
    for k, x in enumerate(points):
        with tg.name_scope(f"example {k}"):
            scores.append(tg.name(nn.mlp(params, x), f"score {k}"))
    return nn.svm_hinge_loss(scores, labels), nn.accuracy(scores, labels)


def test_a_network_loss_is_collapsed_by_scope_or_by_primitive() -> None:
    params = nn.init_mlp(random.Random(0), [2, 8, 8, 1])
    points, labels = [[0.5, -0.2], [1.0, 0.3], [-0.4, 0.9]], [1.0, -1.0, 1.0]
    ex = tg.explore(moons_loss, argnums=0, has_aux=True)(params, points, labels)
    tape = ex.tape
    assert len(tape) > 400 and ex.collapse == "group" and not ex.drawing.single
    titles = {b.title for b in ex.drawing.boxes}
    assert {"example 0", "example 1", "example 2", "params"} <= titles
    assert len(ex.drawing.boxes) < 40
    # The gradient on the page is grad's.
    grads = tg.grad(moons_loss, has_aux=True)(params, points, labels)[0]
    leaves = tg.tree_leaves(grads)
    adjoints = [ex.sweeps.rows[i].adjoint or 0.0 for i in tape.inputs]
    assert adjoints == pytest.approx(leaves, rel=1e-12, abs=1e-15)
    assert "params[0]['w'][1][1]" in {tape.records[i].label for i in tape.inputs}
    by_primitive = Explorer(tape, ex.sweeps, "t", collapse="primitive")
    assert all(b.key for b in by_primitive.drawing.boxes) and {"params"} <= {b.title for b in by_primitive.drawing.boxes}
    assert all(box in {b.key for b in by_primitive.drawing.boxes} for box in by_primitive.drawing.box_of)
    # The table still lists every record.
    assert len(page_data(by_primitive)["records"]) == len(tape)


def test_explore_refuses_a_bad_collapse_mode() -> None:
    with pytest.raises(ValueError, match="collapse must be one of"):
        tg.explore(baydin, collapse="tree")


def test_the_layout_points_every_edge_right() -> None:
    ex = tg.explore(neuron)(2.0, 0.0, -3.0, 1.0, 6.88)
    pos = ex.drawing.positions
    for a, b, _ in ex.drawing.edges:
        assert pos[a][0] < pos[b][0]
    xs = {i: pos[f"n{i}"][0] for i in range(len(ex.tape))}
    assert all(xs[i] == min(xs.values()) for i in ex.tape.inputs)
    assert xs[len(ex.tape) - 1] == max(xs.values())


def test_the_command_line_writes_a_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "mine.py"
    source.write_text("import tapegrad as tg\n\ndef f(x1, x2):\n    return tg.log(x1) + x1 * x2 - tg.sin(x2)\n")
    out = tmp_path / "page.html"
    assert main([f"{source}:f", "2", "5.0", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    data = json.loads(re.findall(r'id="tape-data">(.*?)</script>', out.read_text(encoding="utf-8"), re.S)[0])
    assert data["records"][7]["val"] == "11.6521"
    with pytest.raises(SystemExit, match="module:function"):
        main(["nocolon"])
    with pytest.raises(SystemExit, match="no attribute"):
        main([f"{source}:g", "1"])
    with pytest.raises(SystemExit, match="cannot read"):
        main([f"{source}:f", "two", "5"])


def test_command_line_mistakes_are_one_line_messages_not_tracebacks(tmp_path: Path) -> None:
    source = tmp_path / "mine.py"
    source.write_text("def f(x1, x2):\n    return x1 * x2\n\ndef pair(x):\n    return [x * 2.0, x * x]\n")
    with pytest.raises(SystemExit, match=r"f\(x1, x2\) was given 1 argument\(s\).*'x2'"):
        main([f"{source}:f", "2"])
    with pytest.raises(SystemExit, match=r"2 outputs.*--output k"):
        main([f"{source}:pair", "2", "--out", str(tmp_path / "p.html")])
    assert main([f"{source}:pair", "2", "--output", "1", "--out", str(tmp_path / "p.html")]) == 0
    with pytest.raises(SystemExit, match=r"cannot write .*missing"):
        main([f"{source}:f", "2", "5", "--out", str(tmp_path / "missing" / "p.html")])


def test_the_example_writes_its_three_pages(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("tapegrad_explore_example", ROOT / "examples" / "explore.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    pages = example.write_pages(tmp_path, points=2)
    assert [p.name for p in pages] == ["expression.html", "neuron.html", "moons.html"]
    singles = [json.loads(re.findall(r'id="tape-data">(.*?)</script>', p.read_text(encoding="utf-8"), re.S)[0])["single"] for p in pages]
    assert singles == [True, True, False]  # the moons loss is collapsed
    neuron_page = pages[1].read_text(encoding="utf-8")
    # micrograd's own gradients for the same neuron (its weights after random.seed(1337)).
    engine = pytest.importorskip("micrograd.engine", reason="micrograd (the bench extra) is the oracle here")
    rng = random.Random(1337)
    w = [engine.Value(rng.uniform(-1.0, 1.0)) for _ in range(2)]
    b = engine.Value(0.0)
    out = (b + w[0] * 1.0 + w[1] * -2.0).relu()
    out.backward()
    expected = f"∂y/∂params['b'] = {b.grad:.6g}, ∂y/∂params['w'][0] = {w[0].grad:.6g}, ∂y/∂params['w'][1] = {w[1].grad:.6g}"
    assert html.escape(expected) in neuron_page and f"output v9 = {out.data:.6g}" in neuron_page


def test_a_jitted_function_shows_the_same_tape_and_a_vmapped_one_is_refused() -> None:
    assert tg.explore(tg.jit(baydin))(2.0, 5.0).sweeps.rows == tg.explore(baydin)(2.0, 5.0).sweeps.rows
    with pytest.raises(ValueError, match="one example"):
        tg.explore(lambda w: tg.mean(tg.vmap(lambda x: x * w)([1.0, 2.0])))(3.0)


def test_python_dash_m_runs_the_package_and_tg_explore_stays_the_function(tmp_path: Path) -> None:
    import subprocess
    import sys

    import tapegrad.explore.layout  # importing a submodule must not rebind tapegrad.explore

    assert callable(tg.explore) and tg.explore.__module__ == "tapegrad.explore"
    source = tmp_path / "mine.py"
    source.write_text("import tapegrad as tg\n\ndef f(x):\n    return tg.sin(x) * x\n")
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "tapegrad.explore", f"{source}:f", "0.5", "--out", str(tmp_path / "p.html")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote ") and "3 records, 7 steps" in done.stdout  # x, sin(x), their product


def test_integer_arguments_stay_integers_by_default() -> None:
    def loss(logits: list[tg.Scalar], labels: list[int]) -> tg.Scalar:
        return nn.cross_entropy([logits], labels)

    ex = tg.explore(loss)([0.1, 0.2, -0.3], [1])  # the label is not traced, so cross_entropy takes it
    assert [ex.sweeps.rows[i].expression for i in ex.tape.inputs] == ["logits[0]", "logits[1]", "logits[2]"]
    grads = tg.grad(loss)([0.1, 0.2, -0.3], [1])
    assert [ex.sweeps.rows[i].adjoint for i in ex.tape.inputs] == pytest.approx(grads, rel=1e-12)
    assert len(tg.explore(lambda x, n: x**n)(2.0, 3).tape.inputs) == 1
    assert len(tg.explore(lambda x: x * x)(3).tape.inputs) == 1  # only ints: traced all the same
    assert len(tg.explore(lambda x, n: x**n, argnums=(0, 1))(2.0, 3).tape.inputs) == 2
