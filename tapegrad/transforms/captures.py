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
functions it calls through globals or closures, a few levels deep, and the
attributes that their code names on a method's ``self`` or on an object or
module read by name (``self.k``, ``config.lr``). :func:`captured_numbers`
lists all these, with a function that reads each again, so that jit can key
its traces by them: numbers (and strings, None, enum members) by value,
anything else by identity. A changed number, or a name bound to another
function or object, traces again instead of replaying a stale trace.

It does not run anything, so it cannot see reads through containers
(``self.layers[0].k``), attributes two levels down (``self.config.k``) or
``getattr`` with a computed name; docs/reference/jit.md lists what jit cannot see.
"""

from __future__ import annotations

import enum
import functools
import inspect
import numbers
import types
from typing import Any, Callable, Iterator

from tapegrad.core.primitive import RULES, TANGENT_RULES, Primitive
from tapegrad.transforms.keys import Identity

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


# What a reader returns for a name that is no longer bound (an emptied cell, a deleted global).
_UNBOUND: Any = object()


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _UNBOUND


def _attribute(obj: Any, name: str) -> Any:
    """``obj.name`` from the instance's own dict, else from its class's: no property or __getattr__ is run."""
    own = getattr(obj, "__dict__", None)
    if isinstance(own, dict) and name in own:
        return own[name]
    try:
        found = inspect.getattr_static(obj, name)
    except AttributeError:
        return _UNBOUND
    if isinstance(found, types.MemberDescriptorType):  # a __slots__ attribute: reading it runs no user code
        try:
            return found.__get__(obj, type(obj))
        except AttributeError:
            return _UNBOUND
    return found


# A read from outside a function's arguments: how it is read, the name, its
# value now, and a function that reads it again (for jit's guard on numbers).
Read = tuple[str, str, Any, Callable[[], Any]]


def _reads(fn: Callable[..., Any]) -> Iterator[Read]:
    """The closure variables and globals ``fn`` loads, and the attributes its code names on its ``self``."""
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return
    names = list(dict.fromkeys(_code_names(code)))
    closure = getattr(fn, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, closure):
        value = _cell_value(cell)
        if value is not _UNBOUND:
            yield "closure variable", name, value, functools.partial(_cell_value, cell)
            yield from _attributes(value, name, names)
    module_globals = getattr(fn, "__globals__", {})
    for name in names:
        if name in module_globals:
            value = module_globals[name]
            yield "global", name, value, functools.partial(module_globals.get, name, _UNBOUND)
            yield from _attributes(value, name, names)
    if inspect.ismethod(fn):
        yield from _attributes(fn.__self__, "self", names)


def _attributes(owner: Any, owner_name: str, names: list[str]) -> Iterator[Read]:
    """The attributes of ``owner`` (a method's ``self``, an object or module read by name) that the code names.

    ``self.k`` in a method puts ``k`` among the code's names. Only the
    instance's and its class's dicts are read, so no property runs; a
    function or a number has no attributes worth following. A method the
    code calls on it (``self.scale()``) is returned bound, to be followed.
    """
    if isinstance(owner, (int, float, complex, str, bytes, tuple, list, dict, types.FunctionType, types.BuiltinFunctionType)):
        return
    if isinstance(owner, types.ModuleType):
        module = owner.__name__
    else:  # a class's attributes are its own state (``Config.lr``, ``cls.k``), as an instance's are
        module = str(getattr(owner, "__module__", None) or "") if isinstance(owner, type) else type(owner).__module__
    if module in ("tapegrad", "enum", "typing") or module.startswith(("tapegrad.", "numpy", "builtins")):
        return  # tapegrad's own objects and modules, NumPy's, Python's: not the user's state
    for name in names:
        value = _attribute(owner, name)
        if value is _UNBOUND:
            continue
        if not callable(value) and not isinstance(value, (staticmethod, classmethod)):
            yield "attribute", f"{owner_name}.{name}", value, functools.partial(_attribute, owner, name)
        else:
            method = None if isinstance(owner, types.ModuleType) else _method(owner, name, value)
            if method is not None:  # a method the code calls (``self.scale()``): its reads are f's reads
                yield "method", f"{owner_name}.{name}", method, functools.partial(_fixed, method)
            else:  # a function held as an attribute (``self.act = tg.tanh``, ``config.act``): keyed by identity
                yield "attribute", f"{owner_name}.{name}", value, functools.partial(_attribute, owner, name)


def _method(owner: Any, name: str, value: Any) -> Any:
    """What ``owner.name`` calls, when ``value`` (its static lookup) is a function of the class: bound as Python would."""
    if isinstance(value, staticmethod):
        return value.__func__
    cls = owner if isinstance(owner, type) else type(owner)
    if isinstance(value, classmethod):
        return types.MethodType(value.__func__, cls)
    own = getattr(owner, "__dict__", None)
    if not isinstance(value, types.FunctionType) or (isinstance(own, dict) and name in own):
        return None  # not a method: a callable held by the instance itself
    return value if isinstance(owner, type) else types.MethodType(value, owner)


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


def _default(fn: Any, k: int) -> Any:
    defaults = getattr(fn, "__defaults__", None) or ()
    return defaults[k] if k < len(defaults) else _UNBOUND


def _kwdefault(fn: Any, name: str) -> Any:
    return (getattr(fn, "__kwdefaults__", None) or {}).get(name, _UNBOUND)


def _bound(f: Any, n_args: int, passed: frozenset[str]) -> Iterator[Read]:
    """What a call of ``f`` with ``n_args`` positional arguments and the keywords ``passed``
    takes from ``f`` itself: arguments bound by functools.partial, and the defaults of the
    parameters the call leaves out (kind, name, value, reader)."""
    while True:
        f = unwrap_transforms(f)
        if not isinstance(f, functools.partial):
            break
        for k, value in enumerate(f.args):
            yield "functools.partial argument", str(k), value, functools.partial(_fixed, value)
        for name, value in f.keywords.items():
            if name not in passed:
                yield "functools.partial argument", name, value, functools.partial(f.keywords.get, name, _UNBOUND)
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
    first = len(positional) - len(defaults)
    for k, (name, value) in enumerate(zip(positional[first:], defaults), first):
        if k >= n_args and name not in passed:
            yield "default argument", name, value, functools.partial(_default, f, k - first)
    for name, value in (getattr(f, "__kwdefaults__", None) or {}).items():
        if name not in passed:
            yield "default argument", name, value, functools.partial(_kwdefault, f, name)


def _fixed(value: Any) -> Any:
    return value


def _outside_reads(f: Callable[..., Any], n_args: int, passed: frozenset[str]) -> Iterator[tuple[str, str, str, Any, Callable[[], Any]]]:
    """(kind, name, function, value, reader) for every value ``f`` reads from outside its arguments.

    ``function`` is the name of the function whose code reads it. Called
    functions are followed, a few levels deep (see the module docstring).
    """
    for kind, name, value, reader in _bound(f, n_args, passed):
        yield kind, name, _name_of(f), value, reader
    seen: set[int] = set()
    visited: list[Any] = []  # keeps the bound methods made on the way alive, so that their ids stay unique
    todo: list[tuple[Any, int]] = [(f, 0)]
    while todo:
        fn, depth = todo.pop()
        prim = getattr(fn, "primitive", None)
        if isinstance(prim, Primitive) and not prim.builtin and depth < _DEPTH:
            # A custom primitive (tg.primitive): its derivative rules run while jit traces, as f's code does.
            todo.extend((rule, depth + 1) for rule in (*RULES[prim.id], *TANGENT_RULES.get(prim.id, ())) if callable(rule))
        while hasattr(fn, "__wrapped__") or isinstance(fn, functools.partial):  # functools.wraps and partial, and tapegrad's own transforms
            fn = fn.func if isinstance(fn, functools.partial) else fn.__wrapped__
        if not isinstance(fn, (types.FunctionType, types.MethodType, type)) and isinstance(getattr(type(fn), "__call__", None), types.FunctionType):
            fn = fn.__call__  # a callable object: its __call__ reads self's attributes
        if id(fn) in seen or depth > _DEPTH:
            continue
        seen.add(id(fn))
        visited.append(fn)
        for kind, name, value, reader in _reads(fn):
            if isinstance(value, (types.FunctionType, types.MethodType)) or hasattr(value, "__wrapped__"):
                if not _is_ours(value):
                    todo.append((value, depth + 1))
                if kind == "method":
                    continue  # bound on the way: its object's reads are keyed already
            yield kind, name, _name_of(fn), value, reader


def frozen_containers(f: Callable[..., Any], n_args: int = 0, passed: frozenset[str] = frozenset()) -> list[tuple[str, str, str]]:
    """(kind, name, function) for each list, dict or array of numbers that ``f`` reads from outside.

    ``kind`` is "closure variable", "global", "attribute", "default argument" or
    "functools.partial argument"; ``function`` is the name of the function
    whose code reads it. Defaults count only for the parameters a call with
    ``n_args`` positional arguments and the keywords ``passed`` leaves out
    (an argument that is passed is traced or keyed, not frozen).
    """
    found: dict[tuple[str, str], str] = {}
    for kind, name, where, value, _ in _outside_reads(f, n_args, passed):
        if _is_numbers(value):
            found.setdefault((kind, name), where)
    return [(kind, name, where) for (kind, name), where in found.items()]


def _is_scalar(value: Any) -> bool:
    """A number (bools too: a flag decides a branch), a tuple of numbers, a string, None or an enum member:
    immutable, so a guard can compare it."""
    if isinstance(value, tuple):
        return bool(value) and len(value) <= _SAMPLE and all(isinstance(v, (bool, int, float, complex)) for v in value)
    if isinstance(value, (str, bytes, enum.Enum, numbers.Number)) or value is None:
        return True  # immutable values a branch may test (a mode, an optional scale, a Fraction): compared by value
    return hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0


def computed_attributes(f: Callable[..., Any], n_args: int = 0, passed: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(name, function) for each property (or other computed attribute) that ``f``'s code names on an object it reads.

    Its value is computed by code that jit does not run again, so a guard
    cannot follow it: jit warns instead.
    """
    found: dict[str, str] = {}
    for kind, name, where, value, _ in _outside_reads(f, n_args, passed):
        if kind == "attribute" and isinstance(value, property):
            found.setdefault(name, where)
    return list(found.items())


def captured_numbers(f: Callable[..., Any], n_args: int = 0, passed: frozenset[str] = frozenset()) -> list[tuple[str, Callable[[], Any]]]:
    """(description, reader) for each number, and each other value, ``f`` reads from outside its arguments.

    The description says what and where (``the global 'K' (read by loss)``);
    the reader returns a number's value now, and anything else (a function, an
    object, a container) as an :class:`~tapegrad.transforms.keys.Identity`.
    jit keys its traces by these, so a changed number, or a name bound to
    another function or object (``ACT = tg.sin``), traces again rather than
    replaying a stale trace.
    """
    found: dict[tuple[str, str], tuple[str, Callable[[], Any]]] = {}
    for kind, name, where, value, reader in _outside_reads(f, n_args, passed):
        read = reader if _is_scalar(value) else functools.partial(_identity_of, reader)
        found.setdefault((kind, name), (f"the {kind} {name!r} (read by {where})", read))
    return list(found.values())


def _identity_of(reader: Callable[[], Any]) -> Identity:
    return Identity(reader())


def _name_of(fn: Any) -> str:
    while isinstance(fn, functools.partial) or hasattr(fn, "__wrapped__"):
        fn = fn.func if isinstance(fn, functools.partial) else fn.__wrapped__
    return str(getattr(fn, "__qualname__", getattr(fn, "__name__", "?")))
