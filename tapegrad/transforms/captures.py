"""What a function reads from its closure and its globals: the values jit freezes.

Layer 4 of tapegrad (``tapegrad/transforms``), used by :mod:`tapegrad.transforms.jit`.

A jit trace records the numbers ``f`` computed with; a number that ``f``
read from a closure variable or a global is a constant of the trace, so
mutating that list (or rebinding that name) later changes nothing in the
replays. That is a training loop's most likely jit bug: a minibatch stored
in a global list, refilled every step. :func:`frozen_containers` finds such
reads by looking at the names the function's code loads, so that jit can
warn at trace time.

Defaults and ``functools.partial`` arguments are frozen the same way when
the call leaves them to ``f``: they are not arguments of the jitted call.

It follows the functions ``f`` wraps (``__wrapped__``, as set by
``functools.wraps`` and by tapegrad's transforms, and partial's ``func``) and the plain Python
functions it calls through globals or closures, a few levels deep. It does
not run anything, so it cannot see reads through attributes or containers
of functions; the README's "what jit assumes" says so.
"""

from __future__ import annotations

import functools
import inspect
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


def unwrap_transforms(f: Any) -> Any:
    """``f`` without tapegrad's own transform wrappers (grad, jit, ...), which pass every argument through.

    A user's decorator (``functools.wraps``) is not unwrapped: its
    arguments need not be the wrapped function's.
    """
    while type(f).__module__.startswith("tapegrad.") and hasattr(f, "__wrapped__"):
        f = f.__wrapped__
    return f


def _bound(f: Any, n_args: int, passed: frozenset[str]) -> Iterator[tuple[str, str, Any]]:
    """(kind, name, value) for what a call of ``f`` with ``n_args`` positional arguments and the
    keywords ``passed`` takes from ``f`` itself: arguments bound by functools.partial, and
    the defaults of the parameters the call leaves out."""
    while True:
        f = unwrap_transforms(f)
        if not isinstance(f, functools.partial):
            break
        for k, value in enumerate(f.args):
            yield "functools.partial argument", str(k), value
        for name, value in f.keywords.items():
            if name not in passed:
                yield "functools.partial argument", name, value
        n_args += len(f.args)
        passed = passed | frozenset(f.keywords)
        f = f.func
    if hasattr(f, "__wrapped__"):
        return  # someone else's decorator: which of its arguments reach f is unknown
    if inspect.ismethod(f):
        n_args += 1  # the bound instance is f's first positional argument
        f = f.__func__
    code = getattr(f, "__code__", None)
    if not isinstance(code, types.CodeType):
        return
    positional = code.co_varnames[: code.co_argcount]
    defaults = getattr(f, "__defaults__", None) or ()
    for k, (name, value) in enumerate(zip(positional[len(positional) - len(defaults) :], defaults), len(positional) - len(defaults)):
        if k >= n_args and name not in passed:
            yield "default argument", name, value
    for name, value in (getattr(f, "__kwdefaults__", None) or {}).items():
        if name not in passed:
            yield "default argument", name, value


def frozen_containers(f: Callable[..., Any], n_args: int = 0, passed: frozenset[str] = frozenset()) -> list[tuple[str, str, str]]:
    """(kind, name, function) for each list, dict or array of numbers that ``f`` reads from outside.

    ``kind`` is "closure variable", "global", "default argument" or
    "functools.partial argument"; ``function`` is the name of the function
    whose code reads it. Defaults count only for the parameters a call with
    ``n_args`` positional arguments and the keywords ``passed`` leaves out
    (an argument that is passed is traced or keyed, not frozen).
    """
    found: dict[tuple[str, str], str] = {}
    for kind, name, value in _bound(f, n_args, passed):
        if _is_numbers(value):
            found.setdefault((kind, name), _name_of(f))
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(f, 0)]
    while todo:
        fn, depth = todo.pop()
        while hasattr(fn, "__wrapped__") or isinstance(fn, functools.partial):  # functools.wraps and partial, and tapegrad's own transforms
            fn = fn.func if isinstance(fn, functools.partial) else fn.__wrapped__
        if id(fn) in seen or depth > _DEPTH:
            continue
        seen.add(id(fn))
        for kind, name, value in _reads(fn):
            if isinstance(value, types.FunctionType) or hasattr(value, "__wrapped__"):
                if not _is_ours(value):
                    todo.append((value, depth + 1))
            elif _is_numbers(value):
                found.setdefault((kind, name), _name_of(fn))
    return [(kind, name, where) for (kind, name), where in found.items()]


def _name_of(fn: Any) -> str:
    while isinstance(fn, functools.partial) or hasattr(fn, "__wrapped__"):
        fn = fn.func if isinstance(fn, functools.partial) else fn.__wrapped__
    return str(getattr(fn, "__qualname__", getattr(fn, "__name__", "?")))
