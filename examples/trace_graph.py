"""micrograd's trace_graph notebook, redone with tapegrad's tape.

micrograd draws the graph of Value objects behind a result. tapegrad has no
such objects: the graph *is* the tape, so we trace the function, run the
reverse sweep once, and draw the records with their values and adjoints.

The two examples are the notebook's:

1. a small expression, ``y = relu(x * 2 + 1)`` at ``x = 1``;
2. one ReLU neuron with two inputs, ``relu(b + w0 * x0 + w1 * x1)`` at
   ``x = [1.0, -2.0]``, its weights drawn as micrograd's ``Neuron(2)`` draws
   them after ``random.seed(1337)`` (``uniform(-1, 1)`` per weight, bias 0).

    python examples/trace_graph.py                  # print the DOT text
    python examples/trace_graph.py --render out/    # also write out/expression.svg, out/neuron.svg

Rendering needs Graphviz's ``dot`` program (apt-get install graphviz); the
DOT text does not.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Optional, Sequence, TypedDict

import tapegrad as tg
from tapegrad.dot import GraphvizNotFoundError, render, tape_to_dot
from tapegrad.interpret.sweep import reverse_sweep
from tapegrad.core.records import Var
from tapegrad.core.tape import Tape


class NeuronParams(TypedDict):
    """A neuron's weights (one per input) and bias."""

    w: list[tg.Scalar]
    b: tg.Scalar


def expression(x: tg.Scalar) -> tg.Scalar:
    """micrograd's first example: ``(x * 2 + 1).relu()``."""
    return tg.relu(x * 2.0 + 1.0)


def init_neuron(rng: random.Random, n_in: int) -> NeuronParams:
    """Weights as micrograd's ``Neuron(n_in)`` draws them: ``uniform(-1, 1)`` each, then bias 0."""
    return {"w": [rng.uniform(-1.0, 1.0) for _ in range(n_in)], "b": 0.0}


def neuron(params: NeuronParams, x: Sequence[tg.Scalar]) -> tg.Scalar:
    """``relu(b + w0 * x0 + w1 * x1 + ...)``, summed in micrograd's order (bias first)."""
    act = params["b"]
    for wi, xi in zip(params["w"], x):
        act = act + wi * xi
    return tg.relu(act)


def swept(tape: Tape) -> list[Optional[float]]:
    """The reverse sweep from the tape's single output, seeded with 1."""
    out = tape.outputs[0]
    assert isinstance(out, Var), "the example functions depend on their inputs"
    return reverse_sweep(tape, [(out.index, 1.0)], skip_zeros=False)  # every adjoint shown, zeros too


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--render", metavar="DIR", help="write expression.svg and neuron.svg into DIR (needs Graphviz)")
    args = parser.parse_args(argv)

    graphs: list[tuple[str, Tape]] = []

    tape = tg.trace(expression)(1.0)
    adj = swept(tape)
    out = tape.outputs[0]
    assert isinstance(out, Var)
    print("# 1. y = relu(x * 2 + 1) at x = 1")
    print(f"# y = {tape.records[out.index].value!r}, dy/dx = {adj[tape.inputs[0]]!r}")
    print(tape_to_dot(tape, adj))
    graphs.append(("expression", tape))

    params = init_neuron(random.Random(1337), 2)
    tape = tg.trace(neuron)(params, [1.0, -2.0])
    adj = swept(tape)
    out = tape.outputs[0]
    assert isinstance(out, Var)
    print("# 2. one neuron: relu(b + w0 * x0 + w1 * x1) at x = [1.0, -2.0]")
    print(f"# w = {params['w']!r}, b = {params['b']!r}")
    print(f"# y = {tape.records[out.index].value!r}")
    for i in tape.inputs:
        print(f"# d y / d {tape.records[i].label} = {adj[i]!r}")
    print(tape_to_dot(tape, adj))
    graphs.append(("neuron", tape))

    if args.render:
        directory = Path(args.render)
        directory.mkdir(parents=True, exist_ok=True)
        for name, t in graphs:
            try:
                path = render(tape_to_dot(t, swept(t)), directory / f"{name}.svg")
            except GraphvizNotFoundError as exc:
                print(f"could not render: {exc}")
                return 0  # the DOT text above is still the result
            print(f"rendered {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
