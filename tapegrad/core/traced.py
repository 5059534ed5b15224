"""Traced scalars, and how an operation on them becomes a record.

Layer 2 of tapegrad (``tapegrad/core``): it builds on the tape and the rule
table and knows nothing about sweeps or transforms.

A :class:`Traced` is a handle: the tape that owns it, the index of the
record that produced it, and its value. It holds no gradient and no closure.
Every arithmetic operation goes through :func:`bind`, which finds the
innermost tape among the operands, evaluates the primitive one level down
(which may itself record on an outer tape), and appends one record.

``+`` and ``*`` are by far the most common operations in a network, so
``__add__`` and ``__mul__`` inline the two common cases (both operands on the
same tape, or a float constant on the right), and :func:`bind_unary` inlines
a one-argument primitive on a traced scalar. Everything else takes
:func:`bind`. The inlined code does exactly what ``bind`` would do.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

from tapegrad.core.batch import COMPARE_OPS, ArrayBatch, Batch, BoolBatch, ListBatch, evaluate_batch, floordiv_message
from tapegrad.core.primitive import BUILTIN_NAMED, Primitive
from tapegrad.core.rule_table import COMPARISONS, abs_p, add_p, batch_count_p, batch_mean_p, batch_sum_p, broadcast_p, ceil_p, div_p, floor_p, mod_p, mul_p, pow_p, round_p, spread_p, trunc_p
from tapegrad.core.tape import Handle, Tape, TapeClosedError, primal_of

# Primitives that never broadcast their operands: the sums over a batch take
# it whole, and comparisons send no adjoint back.
_NO_BROADCAST = frozenset([batch_sum_p.id, batch_mean_p.id, broadcast_p.id, spread_p.id, batch_count_p.id] + [p.id for p in COMPARISONS.values()])

# The two hot operators append these ids directly (module globals are
# cheaper to read than an attribute of the primitive).
ADD_ID = add_p.id
MUL_ID = mul_p.id


class Traced(Handle):
    """A scalar being traced on a tape; use it like a float.

    Arithmetic (``+ - * / % **``, unary minus, ``abs``, ``round`` and
    ``math.floor``/``ceil``/``trunc``) records on the tape;
    comparisons give a plain bool from the current values, so ordinary
    ``if`` statements work under :func:`tapegrad.grad`. ``float(x)`` raises,
    because the number would silently lose its derivative: use
    :func:`tapegrad.primal` when you only want to look at the value.
    """

    __slots__ = ()  # the three slots (tape, index, value) are Handle's
    # No __init__: the hot paths create a handle with ``Traced()`` and set
    # the three slots directly. Calling the class with no arguments is about
    # 20 ns faster than ``object.__new__(Traced)``, which builds an argument
    # tuple on every call, and a Python __init__ would cost a frame.

    # Equality compares values, so (like numbers that are not hashable in
    # JAX or NumPy) a traced scalar cannot be a dict key or set member.
    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def input(cls, tape: Tape, value: Any, label: Optional[str] = None) -> Traced:
        """A new independent variable on ``tape`` (which must be open), labelled with its leaf path."""
        return make_traced(tape, tape.add_input(value, label), value)

    @property
    def tape(self) -> Tape:
        """The tape that recorded this value."""
        return self._t

    @property
    def index(self) -> int:
        """The index of the record that produced this value (``v{index}``)."""
        return self._i

    @property
    def value(self) -> Any:
        """The value one tape down: a float, or a Traced of an outer tape when nested.

        Under :func:`tapegrad.jit` this raises, like :func:`primal`: the
        number would be frozen into every replay.
        """
        if self._t.jit:
            raise TypeError(_FROZEN.format(what="Traced.value"))
        return self._v

    # -- the two hot operations, inlined ---------------------------------------

    def __add__(self, other: Scalar) -> Traced:
        t = self._t
        live = t._live
        cls = other.__class__
        if live is not None:
            if cls is Traced and other._t is t:  # type: ignore[union-attr]
                if not t._flat and _mixed(t, self, other):  # (a batch on the tape makes it not flat)
                    return bind(add_p, (self, other))  # type: ignore[no-any-return]  # broadcasts the unbatched one
                v = self._v + other._v  # type: ignore[union-attr]
                ref = other._i  # type: ignore[union-attr]
            elif cls is float:
                v = self._v + other
                consts = t._consts
                ref = ~len(consts)
                consts.append(other)
            elif not _is_scalar(other):
                return NotImplemented  # let the other operand's reflected method try
            else:
                return bind(add_p, (self, other))  # type: ignore[no-any-return]
            out = Traced()
            out._t = t
            out._i = len(live)
            out._v = v
            live.append(ADD_ID)
            t._lhs.append(self._i)
            t._rhs.append(ref)
            t._vals.append(v)
            return out
        if not _is_scalar(other):
            return NotImplemented
        return bind(add_p, (self, other))  # type: ignore[no-any-return]

    def __mul__(self, other: Scalar) -> Traced:
        t = self._t
        live = t._live
        cls = other.__class__
        if live is not None:
            if cls is Traced and other._t is t:  # type: ignore[union-attr]
                if not t._flat and _mixed(t, self, other):  # (a batch on the tape makes it not flat)
                    return bind(mul_p, (self, other))  # type: ignore[no-any-return]  # broadcasts the unbatched one
                v = self._v * other._v  # type: ignore[union-attr]
                ref = other._i  # type: ignore[union-attr]
            elif cls is float:
                v = self._v * other
                consts = t._consts
                ref = ~len(consts)
                consts.append(other)
            elif not _is_scalar(other):
                return NotImplemented  # let the other operand's reflected method try
            else:
                return bind(mul_p, (self, other))  # type: ignore[no-any-return]
            out = Traced()
            out._t = t
            out._i = len(live)
            out._v = v
            live.append(MUL_ID)
            t._lhs.append(self._i)
            t._rhs.append(ref)
            t._vals.append(v)
            return out
        if not _is_scalar(other):
            return NotImplemented
        return bind(mul_p, (self, other))  # type: ignore[no-any-return]

    # -- the rest of arithmetic, built from primitives -------------------------

    def __radd__(self, other: float) -> Traced:
        # ``sum()`` starts from the int 0; adding it would only clutter the
        # tape with a record that changes nothing.
        if type(other) is int and other == 0:
            return self
        if not _is_scalar(other):
            return NotImplemented
        return bind(add_p, (other, self))  # type: ignore[no-any-return]

    def __rmul__(self, other: float) -> Traced:
        if not _is_scalar(other):
            return NotImplemented
        return bind(mul_p, (other, self))  # type: ignore[no-any-return]

    def __neg__(self) -> Traced:
        return bind(mul_p, (self, -1.0))  # type: ignore[no-any-return]

    def __pos__(self) -> Traced:
        return self

    def __sub__(self, other: Scalar) -> Traced:
        if not _is_scalar(other):
            return NotImplemented
        return self + (-other)

    def __rsub__(self, other: float) -> Traced:
        if not _is_scalar(other):
            return NotImplemented
        return bind(add_p, (other, -self))  # type: ignore[no-any-return]

    def __truediv__(self, other: Scalar) -> Traced:
        if not _is_scalar(other):
            return NotImplemented
        return bind(div_p, (self, other))  # type: ignore[no-any-return]

    def __rtruediv__(self, other: float) -> Traced:
        if not _is_scalar(other):
            return NotImplemented
        return bind(div_p, (other, self))  # type: ignore[no-any-return]

    def __pow__(self, other: Scalar) -> Traced:
        if not _is_scalar(other):
            return NotImplemented
        return bind(pow_p, (self, other))  # type: ignore[no-any-return]

    def __rpow__(self, other: float) -> Traced:
        if not _is_scalar(other):
            return NotImplemented
        return bind(pow_p, (other, self))  # type: ignore[no-any-return]

    def __mod__(self, other: Scalar) -> Traced:
        # Python's float %: the result has the divisor's sign.
        if not _is_scalar(other):
            return NotImplemented
        return bind(mod_p, (self, other))  # type: ignore[no-any-return]

    def __rmod__(self, other: float) -> Traced:
        if not _is_scalar(other):
            return NotImplemented
        return bind(mod_p, (other, self))  # type: ignore[no-any-return]

    def __floordiv__(self, other: Any) -> Traced:
        raise TypeError(floordiv_message("a traced scalar"))

    __rfloordiv__ = __floordiv__
    __divmod__ = __floordiv__
    __rdivmod__ = __floordiv__

    def __abs__(self) -> Traced:
        return bind(abs_p, (self,))  # type: ignore[no-any-return]

    # -- comparisons: plain bools from the current values ----------------------

    def __lt__(self, other: Scalar) -> bool:
        outcome: bool = compare("<", self, other)  # (under vmap, a batched boolean)
        return outcome

    def __le__(self, other: Scalar) -> bool:
        outcome: bool = compare("<=", self, other)  # (under vmap, a batched boolean)
        return outcome

    def __gt__(self, other: Scalar) -> bool:
        outcome: bool = compare(">", self, other)  # (under vmap, a batched boolean)
        return outcome

    def __ge__(self, other: Scalar) -> bool:
        outcome: bool = compare(">=", self, other)  # (under vmap, a batched boolean)
        return outcome

    def __eq__(self, other: object) -> bool:
        if not _is_scalar(other):
            return NotImplemented
        outcome: bool = compare("==", self, other)  # type: ignore[arg-type]
        return outcome

    def __ne__(self, other: object) -> bool:
        if not _is_scalar(other):
            return NotImplemented
        outcome: bool = compare("!=", self, other)  # type: ignore[arg-type]
        return outcome

    def __bool__(self) -> bool:
        underneath: object = self._v
        while underneath.__class__ is Traced:
            underneath = underneath._v
        if isinstance(underneath, (Batch, BoolBatch)):
            return bool(underneath)  # raises, naming the comparison
        outcome: bool = compare("!=", self, 0.0)
        return outcome

    # -- conversions that would drop the derivative ----------------------------

    def __float__(self) -> float:
        raise TypeError(
            "float() of a traced scalar would silently drop its derivative "
            "(this also happens inside math.exp, math.log, ...). Use tapegrad.exp, "
            "tapegrad.log, ... to compute with it, or tapegrad.primal(x) to read its value."
        )

    def __int__(self) -> int:
        raise TypeError(
            "int() of a traced scalar would silently drop its derivative; use tapegrad.primal(x) to read "
            "its value (under jit, pass whole numbers such as counts as keyword arguments: they are constants)"
        )

    def __index__(self) -> int:
        raise TypeError(
            "a traced scalar cannot be used as an index or a count (range(n), lists[n]); pass such numbers "
            "as keyword arguments or other non-differentiated arguments instead"
        )

    def __repr__(self) -> str:
        if _under_jit(self):
            # Printing the number would read it; under jit it would be stale in a replay.
            return f"Traced(v{self._i} on {self._t.name}; its value is not shown under jit)"
        return f"Traced({primal_of(self)!r}, v{self._i} on {self._t.name})"

    # math.floor, math.ceil, math.trunc and round give traced results (as
    # floats underneath, with derivative 0), not ints: an int would drop the
    # tape, and under jit it would freeze the number into every replay.

    def __round__(self, ndigits: Optional[int] = None) -> Traced:
        if ndigits is not None:
            raise TypeError(
                "round(x, ndigits) of a traced scalar is not supported (only round(x), which records the "
                "'round' primitive); use tapegrad.primal(x) to read the value (outside jit)"
            )
        return bind_unary(round_p, self)  # type: ignore[no-any-return]

    def __floor__(self) -> Traced:
        return bind_unary(floor_p, self)  # type: ignore[no-any-return]

    def __ceil__(self) -> Traced:
        return bind_unary(ceil_p, self)  # type: ignore[no-any-return]

    def __trunc__(self) -> Traced:
        return bind_unary(trunc_p, self)  # type: ignore[no-any-return]

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # NumPy asks an operand that defines this before converting it: this is
        # how np.exp(x) and np.float32(2.0) * x reach the tape instead of failing.
        return array_ufunc(ufunc, method, inputs, kwargs)

    def __format__(self, spec: str) -> str:
        # An f-string inside jit would freeze the traced number into the
        # replay (the Python around it is not run again): refuse, as primal() does.
        return format(primal(self), spec)


Scalar = Union[float, Traced]
"""What users annotate with: a plain float, or a scalar traced on a tape."""

def _is_scalar(x: object) -> bool:
    return x.__class__ is Traced or isinstance(x, (int, float, Batch, BoolBatch))


# NumPy ufuncs whose primitive in the rule table has another name; every
# other ufunc is looked up under its own name (np.exp -> exp, np.tanh -> tanh).
_UFUNC_ALIASES = {
    "multiply": "mul",
    "divide": "div",
    "true_divide": "div",
    "power": "pow",
    "absolute": "abs",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arcsinh": "asinh",
    "arccosh": "acosh",
    "arctanh": "atanh",
    "arctan2": "atan2",
    "remainder": "mod",  # np.mod is np.remainder: Python's float %
    "rint": "round",  # halves to even, like round()
}
# Table rows that no NumPy ufunc means (np.sum and np.where are not ufuncs on scalars).
_NOT_UFUNCS = frozenset(("input", "stop_gradient", "step", "broadcast", "batch_sum", "batch_mean", "spread", "batch_count", "sum", "mean", "where", "relu"))
# NumPy's comparison ufuncs give a bool, as the operators do (under jit, a guard).
_UFUNC_COMPARISONS = {"greater": ">", "greater_equal": ">=", "less": "<", "less_equal": "<=", "equal": "==", "not_equal": "!="}


def _ufunc_operand(x: Any) -> Any:
    """A ufunc operand as bind takes it, or None: traced scalars and numbers only.

    A NumPy scalar of a real dtype becomes a float; arrays are not taken.
    """
    if x.__class__ is Traced or (isinstance(x, (int, float)) and not isinstance(x, bool)):
        return x
    if getattr(x, "ndim", None) == 0 and getattr(getattr(x, "dtype", None), "kind", None) in ("f", "i", "u"):
        return float(x)
    return None


def array_ufunc(ufunc: Any, method: str, inputs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``ufunc(*inputs)`` for a NumPy ufunc called on traced scalars, as one tapegrad primitive.

    Only plain calls on scalars are taken, and only for ufuncs that are a
    primitive of the rule table (or subtraction and negation, which are
    derived as in the operators). Anything else raises a TypeError that names
    the tapegrad function to use.
    """
    name = getattr(ufunc, "__name__", repr(ufunc))
    args = [_ufunc_operand(x) for x in inputs]
    if method == "__call__" and not kwargs and all(a is not None for a in args):
        if name == "subtract" and len(args) == 2:
            return args[0] + (-args[1])
        if name == "negative" and len(args) == 1:
            return args[0] * -1.0
        if name == "positive" and len(args) == 1:
            return args[0]
        if name in _UFUNC_COMPARISONS and len(args) == 2:
            return compare(_UFUNC_COMPARISONS[name], args[0], args[1])
        wanted = _UFUNC_ALIASES.get(name, name)
        prim = BUILTIN_NAMED.get(wanted)
        if prim is not None and wanted not in _NOT_UFUNCS and prim.arity == len(args):
            return bind(prim, args)
    shown = "an array" if any(a is None for a in args) else "a traced scalar"
    raise TypeError(
        f"numpy.{name}{'' if method == '__call__' else '.' + method} on {shown}: tapegrad records NumPy ufuncs only "
        "when called on traced scalars (and numbers), and only those that are tapegrad primitives: "
        "the ufuncs named like a tapegrad function (np.exp, np.log1p, np.tanh, np.hypot, np.maximum, "
        "np.floor, ...), np.arcsin ... np.arctan2 (tg.asin ... tg.atan2), np.remainder (%), np.rint (round), "
        "the comparisons and + - * / **. "
        f"Use tapegrad's own functions (tg.exp(x), tg.log(x), ...), elementwise for a list or array: "
        f"[tg.exp(v) for v in xs]"
    )


def make_traced(tape: Tape, index: int, value: Any) -> Traced:
    """Create the handle for record ``index`` of ``tape``."""
    out = Traced()
    out._t = tape
    out._i = index
    out._v = value
    return out


def closed_error(x: Traced) -> TapeClosedError:
    """The error for a traced value whose tape has already closed."""
    return TapeClosedError(
        f"traced value v{x._i} (= {primal_of(x)!r}) belongs to {x._t.name}, which has closed: "
        "it escaped the function that was being differentiated (for example through a "
        "global, a closure or a returned object). Return values through has_aux, or keep "
        "the number with tapegrad.primal(x) before the function returns."
    )


def _innermost(prim_name: str, args: Sequence[Any]) -> Tape | None:
    """The open tape with the highest order among the traced arguments."""
    top: Tape | None = None
    for k, a in enumerate(args):
        if a.__class__ is Traced:
            t = a._t
            if t._live is None:
                raise closed_error(a)
            if top is None or t.order > top.order:
                top = t
        elif not isinstance(a, (int, float, Batch, BoolBatch)):
            raise TypeError(
                f"{prim_name}: argument {k} must be a float or a traced scalar, got {type(a).__name__} {a!r:.60}"
            )
    return top


def bind(prim: Primitive, args: Sequence[Any]) -> Any:
    """Apply ``prim`` to ``args``: a float on floats, otherwise one new record.

    The record goes on the innermost tape among the arguments. Arguments
    from other (outer) tapes and plain numbers are constants there; the
    primitive is then evaluated on the values one level down, which records
    on the outer tapes in turn.
    """
    top = _innermost(prim.name, args)
    if top is None:
        values = [a.mask if a.__class__ is BoolBatch else a for a in args]
        if not prim.reduces and any(isinstance(v, Batch) for v in values):
            return evaluate_batch(prim, values)  # under vmap: example by example
        numbers: list[Any] = [v if isinstance(v, Batch) else float_constant(prim.name, v) for v in values]
        return prim.evaluate(numbers)  # plain numbers (or a whole batch, for a sum over it)
    refs: list[int] = []
    inner: list[Any] = []
    # On a tape outside vmap, an unbatched operand of an operation on batches
    # is broadcast, with a record whose transpose sums over the batch.
    broadcasting = not top.in_vmap and prim.id not in _NO_BROADCAST and _batched_args(args)
    for a in args:
        if a.__class__ is Traced and a._t is top:
            if broadcasting:
                a = _broadcast(top, a)
            refs.append(a._i)
            inner.append(a._v)
        else:
            c = a if a.__class__ is Traced or isinstance(a, (Batch, BoolBatch)) else float_constant(prim.name, a)
            refs.append(top.const_ref(c))
            inner.append(c)
    value = bind(prim, inner)
    return make_traced(top, top.append(prim.id, tuple(refs), value), value)



def float_constant(where: str, a: Any) -> float:
    """``float(a)`` for a constant operand; an int too large for a float says so, naming the operation."""
    try:
        return float(a)
    except OverflowError:
        size = f"an int of {int(a).bit_length()} bits" if isinstance(a, int) else type(a).__name__
        raise OverflowError(
            f"{where}: a constant operand ({size}) is too large for a float, whose largest value is about 1.8e308; "
            f"tapegrad computes in floats: write the constant as a float, or rescale the computation"
        ) from None


def bind_unary(prim: Primitive, x: Any) -> Any:
    """``bind(prim, (x,))``, with the common case (x traced on an open tape) inlined."""
    if x.__class__ is Traced:
        t = x._t
        live = t._live
        if live is not None:
            v = x._v
            if v.__class__ is float:
                try:
                    value = prim.impl(v)
                except (ValueError, ArithmeticError):
                    value = prim.evaluate((v,))  # raises again, now naming the primitive
            else:
                value = bind(prim, (v,))
            out = Traced()
            out._t = t
            out._i = len(live)
            out._v = value
            live.append(prim.id)
            t._lhs.append(x._i)
            t._rhs.append(0)
            t._vals.append(value)
            return out
    elif x.__class__ is float:
        return prim.evaluate((x,))
    return bind(prim, (x,))


def compare(op: str, a: Scalar, b: Scalar) -> Any:
    """Compare current values. Under jit, remember the outcome as a guard.

    Batched values (under vmap) give batched booleans instead, one per
    example: a :class:`BoolBatch`, or a traced scalar holding one, recorded
    so that jit replays the comparison (for :func:`tapegrad.where`).
    """
    if holds_batch(a) or holds_batch(b):
        mask = bind(COMPARISONS[op], (a, b))
        text = f"{_describe(a)} {op} {_describe(b)}"
        if mask.__class__ is Traced:
            _relabel(mask, text)
            return mask
        return BoolBatch(mask, text)
    top = _innermost(op, (a, b))
    if top is None:
        return COMPARE_OPS[op](a, b)
    av = a._v if isinstance(a, Traced) and a._t is top else a
    bv = b._v if isinstance(b, Traced) and b._t is top else b
    outcome = compare(op, av, bv)
    if top.jit:
        top.add_guard(op, _ref_on(top, a), _ref_on(top, b), outcome)
    return outcome


def _mixed(t: Tape, a: Traced, b: Any) -> bool:
    """True if one operand holds a batch and the other does not, on a tape outside vmap."""
    return not t.in_vmap and holds_batch(a._v) != holds_batch(b._v)


def _batched_args(args: Sequence[Any]) -> bool:
    """True if an argument holds a batch (written for speed: bind runs it on every call)."""
    for a in args:
        c = a.__class__
        if c is float:
            continue
        if c is Traced:
            v = a._v
            if v.__class__ is not float and holds_batch(v):
                return True
        elif c is ListBatch or c is ArrayBatch or c is BoolBatch:
            return True
    return False


def _broadcast(tape: Tape, a: Traced) -> Traced:
    """``a`` used by every example of a batch: a broadcast record if ``a`` holds one number.

    The record's value is the same number (the batch arithmetic applies it
    to every example); its reverse rule sums the per-example adjoints, which
    is what makes ``grad`` of a vmapped loss add up the examples' gradients.
    """
    if holds_batch(a._v):
        return a
    return make_traced(tape, tape.append(broadcast_p.id, (a._i,), a._v), a._v)


def holds_batch(x: Any) -> bool:
    """True if ``x``, under any levels of tracing, is a batch (or a batched comparison): a value under vmap."""
    while x.__class__ is Traced:
        x = x._v
    return isinstance(x, (Batch, BoolBatch))


def _describe(x: Any) -> str:
    if x.__class__ is Traced:
        return f"v{x._i}"
    if isinstance(x, Batch):
        return "a batch"
    return repr(x)


def _relabel(mask: Traced, text: str) -> None:
    """Give the batched boolean under a traced comparison the comparison's text (for the branch error)."""
    holder: Any = mask
    while holder.__class__ is Traced:
        if isinstance(holder._v, Batch):
            holder._v = BoolBatch(holder._v, text)
            holder._t._vals[holder._i] = holder._v
            return
        holder = holder._v


def _ref_on(tape: Tape, x: Any) -> int:
    if x.__class__ is Traced and x._t is tape:
        return x._i
    return tape.const_ref(x if x.__class__ is Traced else float(x))


_FROZEN = (
    "{what} inside jit: the value would be frozen at trace time, and every replay would use it. "
    "Return it from the function instead (for example through has_aux), or compare the traced "
    "value itself (x > 0 is recorded as a guard that every replay checks)."
)


def _under_jit(x: Traced) -> bool:
    """True if ``x`` or a value under it belongs to a jit tape."""
    v: Any = x
    while v.__class__ is Traced:
        if v._t.jit:
            return True
        v = v._v
    return False


def primal(x: Scalar) -> float:
    """The plain number inside ``x``, for printing and logging.

    Under :func:`tapegrad.jit` this raises, because jit replays the tape
    without running your Python again and the number would be stale.
    """
    v: Any = x
    while v.__class__ is Traced:
        if v._t.jit:
            raise TypeError(_FROZEN.format(what="tapegrad.primal()"))
        v = v._v
    if not isinstance(v, (int, float)):
        raise TypeError(f"primal() expects a float or a traced scalar, got {type(x).__name__}")
    return float(v)
