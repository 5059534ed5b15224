"""Sparse Jacobians and Hessians: the exact pattern from the tape, the values from a few colored sweeps.

Layer 4 of tapegrad (``tapegrad/transforms``).

``sparse_jacobian(f)(x)`` records ``f`` once, reads the Jacobian's pattern
off the tape (:mod:`tapegrad.interpret.sparsity`), colors it
(:mod:`tapegrad.interpret.coloring`) and then runs one sweep per color: a
forward sweep seeded with a group of columns that share no row, or a
reverse sweep seeded with a group of rows that share no column, whichever
needs fewer. ``sparse_hessian`` records the tape of ``grad(f)`` once and
runs one reverse sweep over it per color of a star coloring of the
Hessian's pattern: seeded with ``s`` at the gradient, it gives
``s^T (d grad / dx)``, which is the Hessian-vector product ``H s`` since H is
symmetric. A banded Jacobian or Hessian takes
as many sweeps as its band is wide, whatever the number of unknowns.

With ``jit=True`` the whole computation is traced once per input structure
by :func:`tapegrad.jit`: the pattern and the coloring are worked out while
tracing, and every later call replays only the sweeps' arithmetic.

A pattern is the pattern of the branch taken: if ``f`` branches on a traced
value (``if x[0] > 0``), the tape, and so the pattern, follow the branch that
this call took. Under ``jit=True`` such a comparison is a guard: a call that
takes the other branch traces again and gets that branch's pattern.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Generic, Optional, ParamSpec, Sequence

import attrs

from tapegrad.core.batch import in_vmap
from tapegrad.core.tape import Tape, current_tape
from tapegrad.core.traced import holds_batch
from tapegrad.interpret.coloring import ColoringError, colors_used, column_coloring, recovery, star_coloring, transpose
from tapegrad.interpret.sparsity import hessian_rows, jacobian_rows, members
from tapegrad.interpret.sweep import forward_sweep, reverse_sweep
from tapegrad.transforms.arguments import TracedInputs, _arg_names, _argnums, _fname, _output_refs, _ref, _scalar_output
from tapegrad.transforms.signatures import Argnums
from tapegrad.transforms.jit import jit as _jit

P = ParamSpec("P")

# Star coloring costs the sum of the squared degrees of the pattern's graph;
# past this much work the cheaper distance-2 coloring (O(nnz)) is used alone.
STAR_WORK_LIMIT = 20_000_000


def _scipy_sparse(what: str) -> Any:
    try:
        import scipy.sparse
    except ImportError as exc:
        raise ImportError(f"{what}.to_scipy() needs SciPy; install it with pip install 'tapegrad[sparse]'") from exc
    return scipy.sparse


@attrs.frozen
class Sparsity:
    """A sparsity pattern: the coordinates of the entries that may be nonzero, in row-major order.

    For a Jacobian, rows are the output's leaves and columns the
    differentiated arguments' leaves, both in :func:`tapegrad.tree_flatten`
    order; a Hessian's pattern is symmetric and lists both triangles.
    """

    shape: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @property
    def nnz(self) -> int:
        """How many entries may be nonzero."""
        return len(self.rows)

    def todense(self) -> list[list[bool]]:
        """The pattern as nested lists of bools."""
        out = [[False] * self.shape[1] for _ in range(self.shape[0])]
        for i, j in zip(self.rows, self.cols):
            out[i][j] = True
        return out

    def to_scipy(self) -> Any:
        """The pattern as a SciPy CSR matrix of bools (``least_squares(jac_sparsity=...)`` takes it)."""
        sp = _scipy_sparse("Sparsity")
        return sp.csr_matrix(([True] * self.nnz, (list(self.rows), list(self.cols))), shape=self.shape, dtype=bool)


@attrs.frozen
class SparseMatrix:
    """A sparse Jacobian or Hessian: ``values[k]`` is the entry at ``(rows[k], cols[k])``.

    ``sweeps`` says how many sweeps computed it (one per color) and
    ``mode`` which kind: ``"fwd"`` (Jacobian-vector products), ``"rev"``
    (vector-Jacobian products) or ``"hvp"`` (Hessian-vector products).
    Entries outside the pattern are zero; an entry inside it may be zero too.
    """

    shape: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    values: tuple[Any, ...]
    sweeps: int
    mode: str

    @property
    def nnz(self) -> int:
        """How many entries are stored."""
        return len(self.values)

    @property
    def pattern(self) -> Sparsity:
        """The coordinates alone."""
        return Sparsity(self.shape, self.rows, self.cols)

    def todense(self) -> list[list[Any]]:
        """The matrix as nested lists (``0.0`` outside the pattern)."""
        out: list[list[Any]] = [[0.0] * self.shape[1] for _ in range(self.shape[0])]
        for i, j, v in zip(self.rows, self.cols, self.values):
            out[i][j] = v
        return out

    def to_scipy(self) -> Any:
        """The matrix as a SciPy CSR matrix of float64 (SciPy is the optional extra ``tapegrad[sparse]``)."""
        sp = _scipy_sparse("SparseMatrix")
        bad = next((v for v in self.values if v.__class__ is not float), None)
        if bad is not None:
            raise TypeError(f"SparseMatrix.to_scipy: the values must be floats, but one is {type(bad).__name__} (computed under another transform?)")
        return sp.csr_matrix((list(self.values), (list(self.rows), list(self.cols))), shape=self.shape)


@attrs.frozen
class Plan:
    """What the pattern and its coloring decide, once per trace: which seeds to sweep, and where each entry comes from."""

    pattern: Sparsity
    mode: str
    seeds: tuple[tuple[int, ...], ...]  # per sweep: the columns (or rows) seeded with 1.0
    sources: tuple[tuple[int, int], ...]  # per entry: (sweep, component of that sweep's result)


@attrs.define
class SparseStats:
    """How often a sparse transform worked out a pattern and a coloring (for tests and benchmarks)."""

    patterns: int = 0
    colorings: int = 0


def _groups(color: Sequence[int], count: int) -> tuple[tuple[int, ...], ...]:
    groups: list[list[int]] = [[] for _ in range(count)]
    for j, c in enumerate(color):
        if c >= 0:
            groups[c].append(j)
    return tuple(tuple(g) for g in groups)


def _pattern(rows: Sequence[Sequence[int]], shape: tuple[int, int]) -> Sparsity:
    return Sparsity(shape, tuple(i for i, row in enumerate(rows) for _ in row), tuple(j for row in rows for j in row))


def _too_many(transform: str, f: Callable[..., Any], pattern: Sparsity, needed: int, limit: Optional[int], dense: int) -> ColoringError:
    counts: dict[int, int] = {}
    for i in pattern.rows:
        counts[i] = counts.get(i, 0) + 1
    row, most = max(counts.items(), key=lambda item: item[1], default=(0, 0))
    return ColoringError(
        f"{transform}({_fname(f)}): the {pattern.shape[0]}x{pattern.shape[1]} pattern ({pattern.nnz} nonzeros; "
        f"row {row} has {most}) needs at least {needed} sweeps, more than max_sweeps={limit}. Raise max_sweeps, "
        f"or use the dense transform, which takes {dense} sweeps.",
        needed,
    )


def _coloring(color: Callable[[Optional[int]], list[int]], limit: Optional[int]) -> Optional[list[int]]:
    try:
        return color(limit)
    except ColoringError:
        return None


def jacobian_plan(rows: list[list[int]], shape: tuple[int, int], mode: str, limit: Optional[int], transform: str, f: Callable[..., Any]) -> Plan:
    """Color the Jacobian pattern's columns (forward) or rows (reverse), as ``mode`` says or whichever needs fewer."""
    pattern = _pattern(rows, shape)
    m, n = shape
    fwd = _coloring(lambda lim: column_coloring(rows, n, lim), limit) if mode in ("auto", "fwd") else None
    cols = transpose(rows, n)
    rev = _coloring(lambda lim: column_coloring(cols, m, lim), limit) if mode in ("auto", "rev") else None
    # On a tie, reverse: the reverse sweep is the generated loop, faster than the forward one.
    if rev is not None and (fwd is None or colors_used(rev) <= colors_used(fwd)):
        recovery(cols, rev, symmetric=False)  # raises if the coloring cannot separate an entry
        sources = tuple((rev[i], j) for i, row in enumerate(rows) for j in row)
        return Plan(pattern, "rev", _groups(rev, colors_used(rev)), sources)
    if fwd is not None:
        return Plan(pattern, "fwd", _groups(fwd, colors_used(fwd)), tuple(recovery(rows, fwd, symmetric=False)))
    # A forward sweep per color of the columns needs at least as many as the
    # fullest row has entries; a reverse one, as the fullest column has.
    bounds = {"fwd": max(map(len, rows), default=0), "rev": max(map(len, cols), default=0)}
    widest = min(bounds.values()) if mode == "auto" else bounds[mode]
    raise _too_many(transform, f, pattern, max((limit or 0) + 1, widest), limit, min(m, n))


def hessian_plan(rows: list[list[int]], n: int, limit: Optional[int], transform: str, f: Callable[..., Any]) -> Plan:
    """A star coloring of the symmetric pattern (or a distance-2 one, if that needs fewer colors or star coloring would cost too much)."""
    pattern = _pattern(rows, (n, n))
    adjacent = [[j for j in row if j != i] for i, row in enumerate(rows)]
    # Vertices without any entry need no sweep; keep them out of the coloring.
    empty = [not row for row in rows]
    candidates = []
    if sum(len(a) ** 2 for a in adjacent) <= STAR_WORK_LIMIT:
        candidates.append(_coloring(lambda lim: star_coloring(adjacent, lim), limit))
    # Distance-2: no two columns of one color meet in a row (the rows as they are, diagonal or not).
    candidates.append(_coloring(lambda lim: column_coloring(rows, n, lim), limit))
    found = [c for c in candidates if c is not None]
    if not found:
        raise _too_many(transform, f, pattern, (limit or 0) + 1, limit, n)
    color = min(found, key=colors_used)
    color = [-1 if e else c for c, e in zip(color, empty)]
    return Plan(pattern, "hvp", _groups(color, colors_used(color)), tuple(recovery(rows, color, symmetric=True)))


def _values(plan: Plan, products: list[list[Any]]) -> tuple[Any, ...]:
    """Each entry read off its product (a structural zero, None, reads as 0.0)."""
    out = []
    for sweep, component in plan.sources:
        v = products[sweep][component]
        out.append(0.0 if v is None else v)
    return tuple(out)


def _not_batched(transform: str, f: Callable[..., Any], leaves: Sequence[Any]) -> None:
    if in_vmap() or any(holds_batch(v) for v in leaves):
        raise TypeError(f"{transform}({_fname(f)}) does not run under vmap or on batches: call it once per example")


class _SparseTransform(Generic[P]):
    """What the sparse transforms share: the function, argnums, the bound on sweeps, stats, and the jit switch."""

    transform = ""

    def __init__(self, f: Callable[P, Any], argnums: Argnums, max_sweeps: Optional[int], jit: bool) -> None:
        if max_sweeps is not None and (isinstance(max_sweeps, bool) or not isinstance(max_sweeps, int) or max_sweeps < 1):
            raise ValueError(f"{self.transform}: max_sweeps must be a positive int or None, got {max_sweeps!r}")
        self._f = f
        self._nums, _ = _argnums(argnums, self.transform)
        self._names = _arg_names(f)
        self._limit = max_sweeps
        self.stats = SparseStats()
        self.__name__ = f"{self.transform}({_fname(f)})"
        self.__wrapped__ = f
        self._jitted: Optional[Callable[..., Any]] = None
        if jit:
            compressed = self._compressed

            @functools.wraps(f)
            def products(*args: Any, **kwargs: Any) -> Any:
                plan, values = compressed(args, kwargs)
                return [list(values), plan]

            self._jitted = _jit(products)

    def _compressed(self, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[Plan, tuple[Any, ...]]:
        raise NotImplementedError

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> SparseMatrix:
        tape = current_tape()
        if tape is not None and tape.jit:
            # jit rebuilds trees of numbers, not this object: a replay would
            # hand back the traced run's SparseMatrix, with stale values.
            raise TypeError(
                f"{self.__name__} cannot run inside tg.jit: a replay could not rebuild its SparseMatrix. "
                f"Use tg.{self.transform}(f, jit=True), which traces the sweeps once and replays them"
            )
        if self._jitted is not None:
            values, plan = self._jitted(*args, **kwargs)
        else:
            plan, values = self._compressed(args, kwargs)
        p = plan.pattern
        return SparseMatrix(p.shape, p.rows, p.cols, tuple(values), len(plan.seeds), plan.mode)

    def __repr__(self) -> str:
        return f"<{self.__name__}>"


class SparseJacobian(_SparseTransform[P]):
    """What :func:`sparse_jacobian` returns: call it like ``f`` to get a :class:`SparseMatrix`."""

    transform = "sparse_jacobian"

    def __init__(self, f: Callable[P, Any], argnums: Argnums, mode: str, max_sweeps: Optional[int], jit: bool) -> None:
        if mode not in ("auto", "fwd", "rev"):
            raise ValueError(f"sparse_jacobian: mode must be 'auto', 'fwd' or 'rev', got {mode!r}")
        self._mode = mode
        super().__init__(f, argnums, max_sweeps, jit)

    def _compressed(self, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[Plan, tuple[Any, ...]]:
        f, name = self._f, self.transform
        with Tape(name=f"the {name} tape of {_fname(f)}") as tape:
            inputs = TracedInputs(tape, args, self._nums, self._names, name, f)
            refs, _, leaves = _output_refs(tape, f(*inputs.args, **kwargs))
        _not_batched(name, f, leaves)
        flat = [i for idx in inputs.indices for i in idx]
        rows = [members(bits) for bits in jacobian_rows(tape, flat, refs)]
        self.stats.patterns += 1
        plan = jacobian_plan(rows, (len(refs), len(flat)), self._mode, self._limit, name, f)
        self.stats.colorings += 1
        products: list[list[Any]] = []
        live = [r for r in refs if r >= 0]
        for group in plan.seeds:
            if plan.mode == "fwd":
                tan = forward_sweep(tape, {flat[j]: 1.0 for j in group}, live)
                products.append([tan[r] if r >= 0 else None for r in refs])
            else:
                adj = reverse_sweep(tape, [(refs[i], 1.0) for i in group], inputs_only=True)
                products.append([adj[i] for i in flat])
        return plan, _values(plan, products)


class SparseHessian(_SparseTransform[P]):
    """What :func:`sparse_hessian` returns: call it like ``f`` to get a symmetric :class:`SparseMatrix`."""

    transform = "sparse_hessian"

    def _compressed(self, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[Plan, tuple[Any, ...]]:
        f, name = self._f, self.transform
        # The gradient's computation is recorded on ``outer`` by the reverse
        # sweep of f's own tape; each product is then one sweep over ``outer``.
        with Tape(name=f"the {name} tape of grad({_fname(f)})") as outer:
            inputs = TracedInputs(outer, args, self._nums, self._names, name, f)
            with Tape(name=f"the {name} tape of {_fname(f)}") as tape:
                inner = TracedInputs(tape, inputs.args, self._nums, self._names, name, f)
                out = f(*inner.args, **kwargs)
                _scalar_output(out, name, f, tape)
                _not_batched(name, f, [out])
                ref = _ref(tape, out)
            flat = [i for idx in inner.indices for i in idx]
            rows = [members(bits) for bits in hessian_rows(tape, flat, ref)]
            self.stats.patterns += 1
            adj = reverse_sweep(tape, [(ref, 1.0)], inputs_only=True) if ref >= 0 else [None] * len(tape)
            grads = [_ref(outer, adj[i]) for i in flat]
        plan = hessian_plan(rows, len(flat), self._limit, name, f)
        self.stats.colorings += 1
        outer_flat = [i for idx in inputs.indices for i in idx]
        products: list[list[Any]] = []
        for group in plan.seeds:
            # s^T (d grad / dx) is (H s)^T, H being symmetric: a reverse sweep
            # over the recorded gradient is a Hessian-vector product, and the
            # reverse loop is the generated one, several times faster than the
            # forward sweep. Two inputs whose gradient is one record add their seeds.
            adj = reverse_sweep(outer, [(grads[i], 1.0) for i in group if grads[i] >= 0], inputs_only=True)
            products.append([adj[i] for i in outer_flat])
        return plan, _values(plan, products)


def sparse_jacobian(
    f: Callable[P, Any], argnums: Argnums = 0, *, mode: str = "auto", max_sweeps: Optional[int] = None, jit: bool = False
) -> SparseJacobian[P]:
    """Return a function computing ``f``'s Jacobian as a :class:`SparseMatrix`, in a few colored sweeps.

    Rows are the leaves of ``f``'s output, columns the leaves of the
    differentiated argument(s) (``argnums``: an int or a tuple; with a tuple,
    the arguments' leaves one after the other). The pattern comes from the
    tape; its columns are colored for forward sweeps and its rows for
    reverse sweeps, and ``mode="auto"`` takes whichever needs fewer (``"fwd"``
    or ``"rev"`` forces one). ``max_sweeps`` bounds the number of sweeps: a
    pattern needing more raises ValueError. ``jit=True`` traces the whole
    computation once per input structure with :func:`tapegrad.jit`, so later
    calls only replay the sweeps.

    The pattern is the pattern of the branch taken: Python control flow on
    traced values follows this call's branch (under ``jit=True``, a call
    that branches otherwise traces again).
    """
    return SparseJacobian(f, argnums, mode, max_sweeps, jit)


def sparse_hessian(f: Callable[P, Any], argnums: Argnums = 0, *, max_sweeps: Optional[int] = None, jit: bool = False) -> SparseHessian[P]:
    """Return a function computing scalar-valued ``f``'s Hessian as a symmetric :class:`SparseMatrix`.

    The tape of ``grad(f)`` is recorded once; each sweep is one reverse
    sweep over it seeded at the gradient with a group of a star coloring of
    the pattern (a Hessian-vector product, by symmetry), and every entry is read directly off one
    product. ``argnums``, ``max_sweeps`` and ``jit`` are as for
    :func:`sparse_jacobian`, and so is the rule that the pattern is that
    of the branch taken.
    """
    return SparseHessian(f, argnums, max_sweeps, jit)


def jacobian_sparsity(f: Callable[P, Any], argnums: Argnums = 0) -> Callable[P, Sparsity]:
    """Return a function giving ``f``'s Jacobian pattern (:class:`Sparsity`) from its tape, with no derivatives computed.

    Exact for the branch taken: an entry is in the pattern when the output
    depends on the input through records whose derivative rules are not
    identically zero (``where`` counts only the value it chose).
    """
    nums, _ = _argnums(argnums, "jacobian_sparsity")
    names = _arg_names(f)

    @functools.wraps(f)
    def pattern(*args: Any, **kwargs: Any) -> Sparsity:
        with Tape(name=f"the jacobian_sparsity tape of {_fname(f)}") as tape:
            inputs = TracedInputs(tape, args, nums, names, "jacobian_sparsity", f)
            refs, _, leaves = _output_refs(tape, f(*inputs.args, **kwargs))
        _not_batched("jacobian_sparsity", f, leaves)
        flat = [i for idx in inputs.indices for i in idx]
        return _pattern([members(b) for b in jacobian_rows(tape, flat, refs)], (len(refs), len(flat)))

    return pattern


def hessian_sparsity(f: Callable[P, Any], argnums: Argnums = 0) -> Callable[P, Sparsity]:
    """Return a function giving scalar-valued ``f``'s Hessian pattern (:class:`Sparsity`, both triangles) from its tape.

    An entry ``(p, q)`` is in it when some record that the output needs
    combines ``p`` and ``q`` nonlinearly (``x * y``, ``exp(x + y)``); linear
    records (sums, ``abs``, ``relu``) add nothing. Exact for the branch taken.
    """
    nums, _ = _argnums(argnums, "hessian_sparsity")
    names = _arg_names(f)

    @functools.wraps(f)
    def pattern(*args: Any, **kwargs: Any) -> Sparsity:
        with Tape(name=f"the hessian_sparsity tape of {_fname(f)}") as tape:
            inputs = TracedInputs(tape, args, nums, names, "hessian_sparsity", f)
            out = f(*inputs.args, **kwargs)
            _scalar_output(out, "hessian_sparsity", f, tape)
            _not_batched("hessian_sparsity", f, [out])
        flat = [i for idx in inputs.indices for i in idx]
        n = len(flat)
        return _pattern([members(b) for b in hessian_rows(tape, flat, _ref(tape, out))], (n, n))

    return pattern
