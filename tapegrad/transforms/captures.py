"""What a function reads from its closure and its globals: the values jit freezes.

Layer 4 of tapegrad (``tapegrad/transforms``), used by :mod:`tapegrad.transforms.jit`.

A jit trace records the numbers ``f`` computed with; a number that ``f``
read from a closure variable or a global is a constant of the trace, so
mutating that list (or rebinding that name) later changes nothing in the
replays. That is a training loop's most likely jit bug: a minibatch stored
in a global list, refilled every step. :func:`frozen_containers` finds such
reads by looking at the names the function's code loads, so that jit can
warn at trace time.

It follows the functions ``f`` wraps (``__wrapped__``, as set by
``functools.wraps`` and by tapegrad's transforms) and the plain Python
functions it calls through globals or closures, a few levels deep. It does
not run anything, so it cannot see reads through attributes or containers
of functions; the README's "what jit assumes" says so.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Iterator

# How many levels of called functions to look through, and how many
# numbers to inspect per container (enough to tell "a list of numbers").
_DEPTH = 4
_SAMPLE = 16


def _code_names(code: types.CodeType) -> Iterator[str]:
    """Global names the code (and the code nested in it: comprehensions, lambdas) loads."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_numbers(value: Any) -> bool:
    """A list, dict or array of numbers, or of rows of numbers (the data a step reads).

    A list of records such as ``("add", 0, 1)`` is not: it describes a
    program, and its strings say so.
    """
    if hasattr(value, "__array__") and hasattr(value, "dtype"):
        return getattr(value, "ndim", 0) >= 1 and value.dtype.kind in "fiu"  # a NumPy array of numbers
    if isinstance(value, dict):
        items = list(value.values())[:_SAMPLE]
    elif isinstance(value, list):
        items = value[:_SAMPLE]
    else:
        return False
    return bool(items) and all(
        _is_number(item) or (isinstance(item, (list, tuple)) and bool(item) and all(_is_number(v) for v in item)) or _is_numbers(item)
        for item in items
    )


def _reads(fn: Callable[..., Any]) -> Iterator[tuple[str, str, Any]]:
    """(how it is read, name, value) for the closure variables and globals ``fn`` loads."""
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return
    closure = getattr(fn, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, closure):
        try:
            yield "closure variable", name, cell.cell_contents
        except ValueError:  # an empty cell: the variable is not bound yet
            continue
    module_globals = getattr(fn, "__globals__", {})
    for name in dict.fromkeys(_code_names(code)):
        if name in module_globals:
            yield "global", name, module_globals[name]


def _is_ours(fn: Any) -> bool:
    module = getattr(fn, "__module__", None) or ""
    return module == "tapegrad" or module.startswith("tapegrad.")


def frozen_containers(f: Callable[..., Any]) -> list[tuple[str, str, str]]:
    """(kind, name, function) for each list, dict or array of numbers that ``f`` reads from outside.

    ``kind`` is "closure variable" or "global"; ``function`` is the name of
    the function whose code reads it.
    """
    found: dict[tuple[str, str], str] = {}
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(f, 0)]
    while todo:
        fn, depth = todo.pop()
        while hasattr(fn, "__wrapped__"):  # functools.wraps, and tapegrad's own transforms
            fn = fn.__wrapped__
        if id(fn) in seen or depth > _DEPTH:
            continue
        seen.add(id(fn))
        for kind, name, value in _reads(fn):
            if isinstance(value, types.FunctionType) or hasattr(value, "__wrapped__"):
                if not _is_ours(value):
                    todo.append((value, depth + 1))
            elif _is_numbers(value):
                found.setdefault((kind, name), getattr(fn, "__qualname__", getattr(fn, "__name__", "?")))
    return [(kind, name, where) for (kind, name), where in found.items()]
