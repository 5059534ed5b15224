"""``python -m tapegrad.explore module:function 2.0 5.0 --out page.html``: the explorer from a terminal.

``module`` is an importable module (``examples.explore``, ``mypkg.losses``)
or a path to a Python file (``examples/explore.py``). Each positional value
after it is one argument of the function, read as JSON (``2.0``,
``[1.0, 2.0]``, ``{"w": [0.5]}``); JSON integers are passed as floats.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from tapegrad.explore import COLLAPSE_MODES, explore
from tapegrad.explore.model import OutputChoiceError


def load(spec: str) -> Callable[..., Any]:
    """The function ``module:function`` names; ``module`` may be a dotted name or a ``.py`` path."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"explore: expected module:function (for example mymodule:f), got {spec!r}")
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise SystemExit(f"explore: no such file {module_name!r}")
        loader_spec = importlib.util.spec_from_file_location(path.stem, path)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        loader_spec.loader.exec_module(module)
    else:
        sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SystemExit(f"explore: cannot import {module_name!r}: {exc}") from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SystemExit(f"explore: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SystemExit(f"explore: {spec} is a {type(obj).__name__}, not a function")
    return obj


def _floats(value: Any) -> Any:
    """JSON's integers as floats, inside lists and dicts too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def parse_value(text: str) -> Any:
    """One argument from the command line, read as JSON."""
    try:
        return _floats(json.loads(text))
    except json.JSONDecodeError as exc:
        raise SystemExit(f"explore: cannot read the argument {text!r} as a number or JSON: {exc}") from exc


def _check_arity(spec: str, f: Callable[..., Any], args: Sequence[Any]) -> None:
    """Refuse a wrong number of arguments by the function's signature, before any tracing."""
    try:
        signature = inspect.signature(f)
    except (TypeError, ValueError):
        return  # a builtin or a callable without a signature: let the call say
    try:
        signature.bind(*args)
    except TypeError as exc:
        raise SystemExit(f"explore: {spec}{signature} was given {len(args)} argument(s) on the command line: {exc}") from exc


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tapegrad.explore", description="Write the tape explorer page for a function.")
    parser.add_argument("function", help="module:function, e.g. mymodule:f or path/to/file.py:f")
    parser.add_argument("args", nargs="*", help="the function's arguments, each a number or JSON")
    parser.add_argument("--out", help="the HTML file to write (default: FUNCTION.html)")
    parser.add_argument("--output", type=int, default=None, help="which output to seed, for a function with several")
    parser.add_argument("--has-aux", action="store_true", help="the function returns (value, aux)")
    parser.add_argument("--collapse", choices=COLLAPSE_MODES, default="auto", help="how to draw the graph (default: auto)")
    opts = parser.parse_args(argv)
    f = load(opts.function)
    args = [parse_value(a) for a in opts.args]
    _check_arity(opts.function, f, args)
    try:
        explorer = explore(f, has_aux=opts.has_aux, output=opts.output, collapse=opts.collapse)(*args)
    except OutputChoiceError as exc:
        raise SystemExit(f"explore: {exc} (on the command line: --output k)") from exc
    target = opts.out or f"{opts.function.rpartition(':')[2]}.html"
    try:
        out = explorer.save(target)
    except OSError as exc:
        raise SystemExit(f"explore: cannot write {target!r}: {exc.strerror or exc}") from exc
    print(f"wrote {out} ({len(explorer.tape)} records, {len(explorer.sweeps.steps) - 1} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
