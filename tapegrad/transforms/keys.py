"""How jit keys its cache: constants by their exact value and type, not by ``==``.

Layer 4 of tapegrad (``tapegrad/transforms``), used by :mod:`tapegrad.transforms.jit`.
"""

from __future__ import annotations

from typing import Any, Hashable


def constant_key(value: Any) -> Hashable:
    """A cache key for a constant argument that tells apart what ``==`` does not.

    ``0.0 == -0.0``, ``1 == 1.0 == True`` and ``(1,) == (1.0,)``, but a
    function may treat them differently, so floats are keyed by their exact
    bits (``float.hex``, which also makes NaN equal to itself, so a NaN
    constant does not add a cache entry per call) and every value by its type,
    inside tuples, lists and dicts too.
    """
    cls = value.__class__
    if cls is float:
        return (float, value.hex())
    if cls in (tuple, list, frozenset, set):
        items = sorted(value, key=repr) if cls in (frozenset, set) else value
        return (cls, tuple(constant_key(v) for v in items))
    if cls is dict:
        return (dict, tuple((constant_key(k), constant_key(v)) for k, v in value.items()))
    hash(value)  # raises TypeError for an unhashable constant (a NumPy array among them)
    dtype = getattr(value, "dtype", None)
    if getattr(dtype, "kind", None) == "f" and getattr(dtype, "itemsize", 16) <= 8:
        # A NumPy float scalar (np.float64, np.float32, np.float16): keyed by its
        # exact bits too, so -0.0 is not 0.0 and a NaN is one key. A float of more
        # precision than Python's (np.longdouble) keeps its own value as its key.
        return (cls, float(value).hex())
    return (cls, value)


def captured_key(value: Any) -> Hashable:
    """A captured value as part of the cache key: a number by its exact value, anything else by identity."""
    if getattr(value, "ndim", None) == 0 and getattr(value, "__hash__", None) is None:
        # A 0-d NumPy array is unhashable and mutable (``a[()] = 5.0``): keyed by the number it holds now.
        return ("0-d array", constant_key(value[()]))
    try:
        return constant_key(value)
    except TypeError:
        return Identity(value)


class Identity:
    """A key that is equal only to a key of the same object, and keeps that object alive.

    Holding the object means its ``id`` cannot be reused by a later object
    while the key is in jit's cache, so a new object never matches an old trace.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other.value is self.value
