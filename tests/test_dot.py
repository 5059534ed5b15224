"""DOT drawings of a tape, checked structurally, and rendering with or without Graphviz."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import pytest

import tapegrad as tg
from tapegrad.dot import GraphvizNotFoundError, render, tape_to_dot
from tapegrad.interpret.sweep import reverse_sweep
from tapegrad.core.tape import Tape

ROOT = Path(__file__).resolve().parent.parent

_NODE = re.compile(r"^\s*(\w+)\s*\[(.*)\];$")
_EDGE = re.compile(r"^\s*(\w+)\s*->\s*(\w+)\s*(?:\[(.*)\])?;$")
_KEYWORDS = {"graph", "node", "edge"}


class Dot:
    """Node and edge lines of DOT text, parsed with two small regexes."""

    def __init__(self, text: str) -> None:
        lines = text.strip().splitlines()
        assert lines[0] == "digraph tape {" and lines[-1] == "}"
        self.nodes: dict[str, str] = {}
        self.edges: list[tuple[str, str, str]] = []
        for line in lines[1:-1]:
            edge = _EDGE.match(line)
            if edge:
                self.edges.append((edge.group(1), edge.group(2), edge.group(3) or ""))
                continue
            node = _NODE.match(line)
            assert node, f"unparsed DOT line: {line!r}"
            name, attrs = node.groups()
            if name not in _KEYWORDS:
                assert name not in self.nodes, f"node {name} declared twice"
                self.nodes[name] = attrs

    def label(self, node: str) -> str:
        m = re.search(r'label="((?:[^"\\]|\\.)*)"', self.nodes[node])
        assert m, self.nodes[node]
        return m.group(1)

    def number(self, node: str, field: str) -> float:
        m = re.search(rf"{field} (-?[\d.]+(?:e[-+]?\d+)?)", self.label(node))
        assert m, (node, field, self.label(node))
        return float(m.group(1))


def f(x1: tg.Scalar, x2: tg.Scalar) -> tg.Scalar:
    return tg.log(x1) + x1 * x2 - tg.sin(x2)


def swept(tape: Tape) -> list[Any]:
    out = tape.outputs[0]
    assert isinstance(out, tg.Var)
    return reverse_sweep(tape, [(out.index, 1.0)])


def test_every_record_is_a_node_with_its_value_and_adjoint() -> None:
    tape = tg.trace(f)(2.0, 5.0)
    adj = swept(tape)
    dot = Dot(tape_to_dot(tape, adj))
    for r in tape.records:
        name = f"v{r.index}"
        assert name in dot.nodes
        assert dot.label(name).startswith("{ " + name)
        assert dot.number(name, "value") == pytest.approx(r.value, rel=1e-5)
        assert dot.number(name, "adjoint") == pytest.approx(adj[r.index], rel=1e-5)
    # Spot checks against the hand-derived numbers: ln 2, and the gradient (1/x1 + x2, x1 - cos x2).
    assert dot.number("v2", "value") == pytest.approx(math.log(2.0), rel=1e-5)
    assert dot.number("v0", "adjoint") == pytest.approx(1 / 2.0 + 5.0, rel=1e-5)
    assert dot.number("v1", "adjoint") == pytest.approx(2.0 - math.cos(5.0), rel=1e-5)


def test_edges_are_exactly_the_records_arguments() -> None:
    tape = tg.trace(lambda x, y: (x * x + 3.0) ** y - x / y)(1.5, 2.0)
    dot = Dot(tape_to_dot(tape))
    expected: Counter[tuple[str, str]] = Counter()
    for r in tape.records:
        if r.primitive.name == "input":
            assert f"op{r.index}" not in dot.nodes  # inputs are not produced by an operation
            continue
        op = f"op{r.index}"
        assert r.primitive.name in dot.label(op)
        for k, arg in enumerate(r.args):
            if isinstance(arg, tg.Var):
                expected[(f"v{arg.index}", op)] += 1
            else:
                const = f"c{r.index}_{k}"
                assert float(dot.label(const)) == pytest.approx(arg.value)
                assert "dashed" in dot.nodes[const]
                expected[(const, op)] += 1
        expected[(op, f"v{r.index}")] += 1
    assert Counter((a, b) for a, b, _ in dot.edges) == expected
    # x * x: both arguments are v0, so there are two parallel edges.
    assert expected[("v0", "op2")] == 2
    # pow is not commutative: its edges say which argument is which.
    pow_rec = next(r for r in tape.records if r.primitive.name == "pow" and isinstance(r.args[1], tg.Var))
    into_pow = {a: attrs for a, b, attrs in dot.edges if b == f"op{pow_rec.index}"}
    assert 'label="x"' in into_pow[f"v{pow_rec.args[0].index}"]  # type: ignore[union-attr]
    assert 'label="y"' in into_pow[f"v{pow_rec.args[1].index}"]  # type: ignore[union-attr]


def test_inputs_and_outputs_are_marked() -> None:
    tape = tg.trace(f)(2.0, 5.0)
    dot = Dot(tape_to_dot(tape))
    out = tape.outputs[0]
    assert isinstance(out, tg.Var)
    for r in tape.records:
        attrs = dot.nodes[f"v{r.index}"]
        if r.index in tape.inputs:
            assert f"input {r.label}" in dot.label(f"v{r.index}") and "fillcolor" in attrs
        elif r.index == out.index:
            assert "(output)" in dot.label(f"v{r.index}") and "peripheries=2" in attrs
        else:
            assert "fillcolor" not in attrs and "peripheries" not in attrs
    assert "adjoint" not in tape_to_dot(tape)  # no adjoints given, none shown


def test_a_constant_output_is_drawn() -> None:
    dot = Dot(tape_to_dot(tg.trace(lambda x: 4.0)(1.0)))
    assert "out0" in dot.nodes and "constant" in dot.label("out0") and dot.number("out0", "value") == 4.0
    assert dot.edges == []


def test_unreached_adjoints_show_as_zero() -> None:
    tape = tg.trace(lambda x, y: x * 2.0)(1.0, 7.0)
    dot = Dot(tape_to_dot(tape, swept(tape)))
    assert dot.number("v1", "adjoint") == 0.0  # y is unused: the sweep gave None
    assert dot.number("v0", "adjoint") == 2.0
    with pytest.raises(ValueError, match="records"):
        tape_to_dot(tape, [1.0])


def test_labels_with_special_characters_are_escaped() -> None:
    key = 'a|b{c}<d> "e" \\'
    tape = tg.trace(lambda p: p[key] * 2.0)({key: 1.0})
    text = tape_to_dot(tape)
    label = Dot(text).label("v0")
    # The record still has three fields (name, input, value): the key's | did not split it.
    assert len(re.split(r"(?<!\\)\|", label)) == 3
    for ch in "|{}<>":
        assert f"\\{ch}" in label
    if shutil.which("dot"):
        done = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


# -- rendering ---------------------------------------------------------------------------------


def _hide_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes "import graphviz" raise ImportError


def test_render_explains_how_to_install_graphviz(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _hide_graphviz(monkeypatch)
    with pytest.raises(RuntimeError, match="apt-get install graphviz") as info:
        render(tape_to_dot(tg.trace(f)(2.0, 5.0)), tmp_path / "tape.svg")
    assert isinstance(info.value, GraphvizNotFoundError)
    assert "pip install graphviz" in str(info.value)
    assert not (tmp_path / "tape.svg").exists()


class _FakeSource:
    calls: list[tuple[str, str]] = []

    def __init__(self, text: str) -> None:
        self.text = text

    def pipe(self, format: str) -> bytes:
        _FakeSource.calls.append((self.text, format))
        return b"rendered:" + format.encode()


class _FakeNotFound(Exception):
    pass


def _fake_graphviz(missing_program: bool) -> types.ModuleType:
    module = types.ModuleType("graphviz")

    class Source(_FakeSource):
        def pipe(self, format: str) -> bytes:
            if missing_program:
                raise _FakeNotFound("failed to execute 'dot'")
            return super().pipe(format)

    module.Source = Source  # type: ignore[attr-defined]
    module.ExecutableNotFound = _FakeNotFound  # type: ignore[attr-defined]
    return module


def test_render_falls_back_to_the_graphviz_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setitem(sys.modules, "graphviz", _fake_graphviz(missing_program=False))
    _FakeSource.calls.clear()
    text = tape_to_dot(tg.trace(f)(2.0, 5.0))
    path = render(text, tmp_path / "tape.png")  # the format comes from the suffix
    assert path.read_bytes() == b"rendered:png"
    assert _FakeSource.calls == [(text, "png")]
    render(text, tmp_path / "tape", format="pdf")
    assert _FakeSource.calls[-1][1] == "pdf"
    render(text, tmp_path / "plain")
    assert _FakeSource.calls[-1][1] == "svg"  # no suffix: SVG


def test_render_with_the_package_but_no_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    monkeypatch.setitem(sys.modules, "graphviz", _fake_graphviz(missing_program=True))
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        render("digraph tape {\n}\n", tmp_path / "tape.svg")


def test_render_rejects_odd_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        render("digraph tape {\n}\n", tmp_path / "x", format="svg; rm -rf /")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_render_with_dot_writes_an_svg(tmp_path: Path) -> None:
    tape = tg.trace(f)(2.0, 5.0)
    path = render(tape_to_dot(tape, swept(tape)), tmp_path / "tape.svg")
    svg = path.read_text()
    assert "<svg" in svg
    titles = set(re.findall(r"<title>(\w+)</title>", svg))
    assert {f"v{i}" for i in range(8)} <= titles
    with pytest.raises(RuntimeError, match="dot -Tsvg failed"):
        render("digraph {", tmp_path / "broken.svg")


# -- the example script ---------------------------------------------------------------------------


def _run_trace_graph(*args: str, path: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "trace_graph.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_trace_graph_example_prints_both_graphs(tmp_path: Path) -> None:
    done = _run_trace_graph("--render", str(tmp_path))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("digraph tape {") == 2
    # relu(x * 2 + 1) at x = 1 is 3, with slope 2.
    assert re.search(r"y = 3\.0, dy/dx = 2\.0", out)
    # The neuron: relu(w0 * 1 + w1 * -2) > 0 for these weights, so dy/dw = x and dy/dx = w.
    weights = [float(w) for w in re.findall(r"-?\d\.\d+", re.search(r"# w = \[(.*?)\]", out).group(1))]  # type: ignore[union-attr]
    assert len(weights) == 2
    assert f"# y = {weights[0] * 1.0 + weights[1] * -2.0!r}" in out
    assert "d y / d params['w'][0] = 1.0" in out
    assert "d y / d params['w'][1] = -2.0" in out
    assert f"d y / d x[1] = {weights[1]!r}" in out
    if shutil.which("dot"):
        assert (tmp_path / "expression.svg").read_text().count("<svg") == 1
        assert (tmp_path / "neuron.svg").exists()
    else:
        assert "apt-get install graphviz" in out


def test_trace_graph_example_without_graphviz(tmp_path: Path) -> None:
    # Without dot on PATH, neither route can render (the graphviz package also runs dot).
    done = _run_trace_graph("--render", str(tmp_path), path=str(tmp_path))  # no dot on this PATH
    assert done.returncode == 0, done.stderr
    assert "could not render" in done.stdout and "apt-get install graphviz" in done.stdout
    assert not list(tmp_path.glob("*.svg"))
