"""Sparse Jacobians and Hessians: patterns from the tape, colorings, and values against the dense transforms."""

from __future__ import annotations

import math
import random
import sys
from typing import Any, Callable, Sequence

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad.core.primitive import BUILTIN_NAMED, PRIMITIVES, Primitive
from tapegrad.core.rule_table import BATCH_PRIMITIVES
from tapegrad.core.traced import Scalar, bind
from tapegrad.interpret.coloring import colors_used, column_coloring, recovery, star_coloring
from tapegrad.interpret.sparsity import interaction
from tapegrad.testing.strategies import Expression, expressions, floats
from tapegrad.transforms.sparse import hessian_plan, jacobian_plan

Vector = Sequence[Scalar]


def banded(x: Vector) -> list[Scalar]:
    """A residual coupling each unknown to two neighbours on each side (half-bandwidth 2)."""
    n = len(x)
    out: list[Scalar] = []
    for i in range(n):
        near = [x[j] for j in (i - 2, i - 1, i + 1, i + 2) if 0 <= j < n]
        out.append(tg.sum(near) * 0.25 - 2.0 * x[i] + tg.exp(0.1 * x[i]))
    return out


def chain(x: Vector) -> Scalar:
    """Chained Rosenbrock with a sine coupling: a tridiagonal Hessian."""
    return tg.sum([(1.0 - x[i]) ** 2 + 10.0 * (x[i + 1] - x[i] * x[i]) ** 2 + tg.sin(x[i] * x[i + 1]) for i in range(len(x) - 1)])


def dense_close(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], tol: float = 1e-10) -> bool:
    return all(abs(u - v) <= tol * (1.0 + abs(v)) for ra, rb in zip(a, b) for u, v in zip(ra, rb))


def coords(p: tg.Sparsity) -> set[tuple[int, int]]:
    return set(zip(p.rows, p.cols))


def points(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1.0, 1.0) for _ in range(n)]


# -- patterns on structured examples: exact ------------------------------------------------


def test_banded_jacobian_pattern_is_exactly_the_band() -> None:
    n = 9
    p = tg.jacobian_sparsity(banded)(points(n))
    assert p.shape == (n, n)
    assert coords(p) == {(i, j) for i in range(n) for j in range(n) if abs(i - j) <= 2}
    assert list(zip(p.rows, p.cols)) == sorted(coords(p))  # row-major order


def test_chain_hessian_pattern_is_tridiagonal_and_linear_terms_add_nothing() -> None:
    n = 7
    p = tg.hessian_sparsity(chain)(points(n))
    assert coords(p) == {(i, j) for i in range(n) for j in range(n) if abs(i - j) <= 1}
    # Only sums, abs, relu and constants times x: the Hessian is zero.
    flat = tg.hessian_sparsity(lambda x: tg.sum([3.0 * x[0], abs(x[1]), tg.relu(x[2]), x[0] - x[2]]))([0.5, -0.5, 0.25])
    assert flat.nnz == 0 and flat.shape == (3, 3)


def test_hessian_pattern_pairs_the_dependency_sets_of_a_product() -> None:
    # (x0 + x1) * (x2 + x3): every x in the first sum meets every x in the second, and nothing squares.
    p = tg.hessian_sparsity(lambda x: (x[0] + x[1]) * (x[2] + x[3]))([1.0, 2.0, 3.0, 4.0])
    assert coords(p) == {(a, b) for a in (0, 1) for b in (2, 3)} | {(b, a) for a in (0, 1) for b in (2, 3)}
    # exp of a sum couples all its variables with each other and with themselves.
    q = tg.hessian_sparsity(lambda x: tg.exp(x[0] + x[2]) + x[1])([0.1, 0.2, 0.3])
    assert coords(q) == {(0, 0), (0, 2), (2, 0), (2, 2)}


def test_records_the_output_does_not_need_add_no_pattern() -> None:
    def f(x: Vector) -> Scalar:
        unused = tg.exp(x[0] * x[1])  # recorded, but the output never reads it
        return x[0] + x[1] + 0.0 * 0.0 + (unused if False else 0.0)

    assert tg.hessian_sparsity(f)([1.0, 2.0]).nnz == 0


def test_where_contributes_only_the_value_it_chose() -> None:
    def f(x: Vector) -> list[Scalar]:
        return [tg.where(x[0] > 0.0, x[1] * x[1], tg.exp(x[2]))]

    assert coords(tg.jacobian_sparsity(f)([1.0, 2.0, 3.0])) == {(0, 1)}
    assert coords(tg.jacobian_sparsity(f)([-1.0, 2.0, 3.0])) == {(0, 2)}
    assert coords(tg.hessian_sparsity(lambda x: f(x)[0])([-1.0, 2.0, 3.0])) == {(2, 2)}


def test_a_pattern_is_the_pattern_of_the_branch_taken() -> None:
    def f(x: Vector) -> list[Scalar]:
        return [x[1] * 2.0] if x[0] > 0.0 else [x[2] * 3.0]

    assert coords(tg.jacobian_sparsity(f)([1.0, 0.0, 0.0])) == {(0, 1)}
    assert coords(tg.jacobian_sparsity(f)([-1.0, 0.0, 0.0])) == {(0, 2)}


def test_constant_outputs_and_unused_inputs_are_empty_rows_and_columns() -> None:
    def f(x: Vector) -> list[Scalar]:
        return [x[0] * 2.0, 5.0, tg.step(x[1]), x[0]]

    J = tg.sparse_jacobian(f)([1.0, 2.0, 3.0])
    assert J.shape == (4, 3)
    assert coords(J.pattern) == {(0, 0), (3, 0)}
    assert J.todense() == [[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]


# -- the table's classification, checked against numbers -------------------------------------


def _callables() -> dict[str, Callable[..., Scalar]]:
    return {
        "add": lambda x, y: x + y,
        "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y,
        "pow": lambda x, y: x**y,
        "mod": lambda x, y: x % y,
        "abs": abs,
        "sum": lambda x, y: tg.sum([x, y, x * 1.0]),
        "mean": lambda x, y: tg.mean([x, y]),
        "where": lambda x, y: tg.where(True, x, y),
        "clip": lambda x, y: tg.clip(x, y, 2.0),
        **{
            name: getattr(tg, name)
            for name, prim in BUILTIN_NAMED.items()
            if hasattr(tg, name) and name not in ("sum", "mean", "where", "clip") and prim.arity in (1, 2)
        },
        # The rule table's helper rows (used inside other rules, not exported) are bound directly.
        **{name: _bound(prim) for name, prim in BUILTIN_NAMED.items() if not hasattr(tg, name) and prim.arity in (1, 2)},
    }


def _bound(prim: Primitive) -> Callable[..., Scalar]:
    return lambda *args: bind(prim, args)


# A point inside every primitive's domain, away from kinks and ties.
_POINT = {"acosh": (1.7, 0.6), "fmod": (1.7, 0.6), "mod": (1.7, 0.6), "mod_quotient": (1.7, 0.6), "sinc_deriv": (0.6, 1.0)}


def test_every_builtin_primitive_is_classified_and_the_classes_match_second_derivatives() -> None:
    fns = _callables()
    skipped = {"input", *BATCH_PRIMITIVES}
    names = [p.name for p in PRIMITIVES if p.builtin and p.name not in skipped]
    missing = [n for n in names if n not in fns]
    assert missing == [], f"add these primitives to the classification test: {missing}"
    for name in names:
        prim = BUILTIN_NAMED[name]
        fn = fns[name]
        point = list(_POINT.get(name, (0.6, 0.35)))
        dense = tg.hessian(lambda v: fn(v[0], v[1]) if _two(fn, point) else fn(v[0]) + 0.0 * v[1])(point)
        pattern = coords(tg.hessian_sparsity(lambda v: fn(v[0], v[1]) if _two(fn, point) else fn(v[0]) + 0.0 * v[1])(point))
        nonzero = {(i, j) for i in range(2) for j in range(2) if dense[i][j] != 0.0}
        # Exact: every predicted entry is nonzero at a generic point, and nothing else is.
        assert pattern == nonzero, (name, pattern, nonzero, interaction(prim.id))


def _two(fn: Callable[..., Any], point: Sequence[float]) -> bool:
    try:
        fn(*point)
    except TypeError:
        return False
    return True


def test_interaction_of_custom_primitive_is_conservative() -> None:
    @tg.primitive
    def cube_plus(x: float, y: float) -> float:
        return x**3 + y

    tg.defvjp(cube_plus, lambda g, ans, x, y: g * 3.0 * x * x, lambda g, ans, x, y: g)
    p = tg.hessian_sparsity(lambda v: cube_plus(v[0], v[1]))([1.0, 2.0])
    assert coords(p) == {(0, 0), (0, 1), (1, 0), (1, 1)}  # a Python rule cannot be read: all pairs
    H = tg.sparse_hessian(lambda v: cube_plus(v[0], v[1]) * 1.0)([1.0, 2.0])
    assert dense_close(H.todense(), [[6.0, 0.0], [0.0, 0.0]])


# -- values against the dense transforms ------------------------------------------------------


def test_sparse_jacobian_equals_the_dense_one_in_both_modes() -> None:
    x = points(12, seed=1)
    dense = tg.jacobian(banded)(x)
    for mode in ("auto", "fwd", "rev"):
        J = tg.sparse_jacobian(banded, mode=mode)(x)
        assert J.sweeps == 5 and dense_close(J.todense(), dense)
        assert J.mode == ("rev" if mode == "auto" else mode)


def test_arrowhead_needs_few_sweeps_in_the_right_direction() -> None:
    # Output 0 reads every input; the others one each. Columns all meet in row 0, but rows split in two groups.
    def arrow(x: Vector) -> list[Scalar]:
        return [tg.sum(x)] + [tg.sin(v) for v in x[1:]]

    x = points(30, seed=2)
    J = tg.sparse_jacobian(arrow)(x)
    assert (J.mode, J.sweeps) == ("rev", 2)
    assert dense_close(J.todense(), tg.jacobian(arrow)(x))
    assert tg.sparse_jacobian(arrow, mode="fwd")(x).sweeps == 30
    # Its Hessian analogue: x0 times everything. Star coloring needs 2 colors; distance-2 would need 30.
    H = tg.sparse_hessian(lambda v: v[0] * tg.sum(v[1:]) + tg.sum([t * t for t in v]))(x)
    assert H.sweeps == 2
    assert dense_close(H.todense(), tg.hessian(lambda v: v[0] * tg.sum(v[1:]) + tg.sum([t * t for t in v]))(x))


def test_sparse_hessian_of_the_chain_against_the_dense_and_a_closed_form() -> None:
    x = points(10, seed=3)
    H = tg.sparse_hessian(chain)(x)
    assert H.sweeps == 3 and H.mode == "hvp"
    assert dense_close(H.todense(), tg.hessian(chain)(x))
    # Closed form of d2/dx0 dx1 of the first term: -40 x0 + cos(x0 x1) - x0 x1 sin(x0 x1).
    a, b = x[0], x[1]
    entry = dict(zip(zip(H.rows, H.cols), H.values))[(0, 1)]
    assert entry == pytest.approx(-40.0 * a + math.cos(a * b) - a * b * math.sin(a * b), rel=1e-12)
    # Symmetric, both triangles stored.
    stored = dict(zip(zip(H.rows, H.cols), H.values))
    assert all(stored[(j, i)] == pytest.approx(v, rel=1e-12) for (i, j), v in stored.items())


def test_argnums_tuples_and_trees_flatten_in_order() -> None:
    def f(a: dict[str, float], b: list[float]) -> list[Scalar]:
        return [a["u"] * b[0], a["v"] + b[1] * b[1]]

    a, b = {"v": 2.0, "u": 1.0}, [3.0, 4.0]
    J = tg.sparse_jacobian(f, argnums=(0, 1))(a, b)
    # Columns: a's leaves in sorted key order (u, v), then b's.
    assert J.todense() == [[3.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 8.0]]
    assert a == {"v": 2.0, "u": 1.0} and b == [3.0, 4.0]  # the caller's data is untouched
    assert tg.sparse_jacobian(f, argnums=1)(a, b).todense() == [[1.0, 0.0], [0.0, 8.0]]


def _program(exprs: Sequence[Expression], subsets: Sequence[Sequence[int]]) -> Callable[[Vector], list[Scalar]]:
    def f(x: Vector) -> list[Scalar]:
        return [e([x[i] for i in s]) for e, s in zip(exprs, subsets)]

    return f


_N = 6


@st.composite
def programs(draw: st.DrawFn) -> tuple[Callable[[Vector], list[Scalar]], list[float]]:
    """A vector function of 6 inputs whose outputs are random expressions of random pairs of them."""
    k = draw(st.integers(1, 4))
    smooth = draw(st.booleans())  # with False, relu and abs too: linear pieces that add nothing to a Hessian
    exprs = [draw(expressions(n_vars=2, max_depth=3, smooth=smooth)) for _ in range(k)]
    subsets = [draw(st.lists(st.integers(0, _N - 1), min_size=2, max_size=2)) for _ in range(k)]
    x = [draw(floats()) for _ in range(_N)]
    return _program(exprs, subsets), x


@given(programs())
def test_random_programs_sparse_jacobian_matches_dense_and_the_pattern_covers_it(case: tuple[Callable[[Vector], list[Scalar]], list[float]]) -> None:
    f, x = case
    dense = tg.jacobian(f)(x)
    pattern = coords(tg.jacobian_sparsity(f)(x))
    assert {(i, j) for i, row in enumerate(dense) for j, v in enumerate(row) if v != 0.0} <= pattern
    J = tg.sparse_jacobian(f)(x)
    assert coords(J.pattern) == pattern and J.sweeps <= min(J.shape)
    assert dense_close(J.todense(), dense, tol=1e-9)


@given(programs())
def test_random_programs_sparse_hessian_matches_dense_and_the_pattern_covers_it(case: tuple[Callable[[Vector], list[Scalar]], list[float]]) -> None:
    g, x = case

    def f(v: Vector) -> Scalar:
        return tg.sum(g(v))

    dense = tg.hessian(f)(x)
    pattern = coords(tg.hessian_sparsity(f)(x))
    assert {(i, j) for i, row in enumerate(dense) for j, v in enumerate(row) if v != 0.0} <= pattern
    H = tg.sparse_hessian(f)(x)
    assert coords(H.pattern) == pattern
    assert dense_close(H.todense(), dense, tol=1e-9)


def test_shapes_of_scalars_identities_repeated_outputs_and_constants() -> None:
    assert tg.sparse_jacobian(lambda x: x)([1.0, 2.0]).todense() == [[1.0, 0.0], [0.0, 1.0]]
    assert tg.sparse_jacobian(lambda x: x[0] * x[1])([1.0, 2.0]).todense() == [[2.0, 1.0]]
    assert tg.sparse_jacobian(lambda x: x * 2.0)(3.0).todense() == [[2.0]]
    assert tg.sparse_hessian(lambda x: x**3)(2.0).todense() == [[12.0]]
    for f in (lambda x: 1.0, lambda x: x[0] * 3.0):
        H = tg.sparse_hessian(f)([2.0])
        assert (H.nnz, H.sweeps, H.todense()) == (0, 0, [[0.0]])
    for mode in ("fwd", "rev"):  # the same record as two outputs
        assert tg.sparse_jacobian(lambda x: [x[0], x[0] * x[1]], mode=mode)([2.0, 1.0]).todense() == [[1.0, 0.0], [1.0, 2.0]]


def test_values_are_differentiable_under_an_outer_transform() -> None:
    # Under grad the sweeps record on the outer tape: d/dx of the sum of the Jacobian's entries.
    def f(x: Vector) -> list[Scalar]:
        return [x[0] * x[1], tg.sin(x[1])]

    g = tg.grad(lambda x: tg.sum(list(tg.sparse_jacobian(f)(x).values)))([1.0, 2.0])
    assert g == pytest.approx([1.0, 1.0 - math.sin(2.0)], rel=1e-14)
    # Sum of the Hessian of x0^3 x1 is 6 x0 x1 + 6 x0^2; its gradient is (6 x1 + 12 x0, 6 x0).
    h = tg.grad(lambda x: tg.sum(list(tg.sparse_hessian(lambda v: v[0] ** 3 * v[1])(x).values)))([1.0, 2.0])
    assert h == pytest.approx([24.0, 6.0], rel=1e-14)


# -- sweep counts (deterministic, so asserted; times never are) -------------------------------


def test_sweep_counts_of_the_benchmark_targets_at_n_2000() -> None:
    n = 2000
    x = points(n, seed=4)
    jp = tg.jacobian_sparsity(banded)(x)
    rows: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(jp.rows, jp.cols):
        rows[i].append(j)
    assert len(jacobian_plan(rows, jp.shape, "auto", None, "sparse_jacobian", banded).seeds) <= 5
    hp = tg.hessian_sparsity(chain)(x)
    hrows: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(hp.rows, hp.cols):
        hrows[i].append(j)
    assert len(hessian_plan(hrows, n, None, "sparse_hessian", chain).seeds) <= 6
    # The same counts come out of the full transforms at a smaller size.
    assert tg.sparse_jacobian(banded)(x[:200]).sweeps <= 5
    assert tg.sparse_hessian(chain)(x[:200]).sweeps <= 6


# -- under jit: the pattern and the coloring once per trace ---------------------------------


def test_jit_computes_pattern_and_coloring_once_then_replays_the_sweeps() -> None:
    J = tg.sparse_jacobian(banded, jit=True)
    H = tg.sparse_hessian(chain, jit=True)
    for seed in range(4):
        x = points(15, seed=seed)
        jac, hess = J(x), H(x)
        assert dense_close(jac.todense(), tg.jacobian(banded)(x))
        assert dense_close(hess.todense(), tg.hessian(chain)(x))
        assert all(v.__class__ is float for v in jac.values + hess.values)
    assert (J.stats.patterns, J.stats.colorings) == (1, 1)
    assert (H.stats.patterns, H.stats.colorings) == (1, 1)
    # Without jit every call works them out again.
    plain = tg.sparse_jacobian(banded)
    plain(points(15)), plain(points(15, seed=1))
    assert plain.stats.patterns == 2


def test_jit_traces_again_when_the_branch_and_so_the_pattern_changes() -> None:
    def f(x: Vector) -> list[Scalar]:
        return [x[1] * x[1]] if x[0] > 0.0 else [tg.exp(x[2])]

    J = tg.sparse_jacobian(f, jit=True)
    assert J([1.0, 3.0, 0.0]).todense() == [[0.0, 6.0, 0.0]]
    assert J([2.0, 4.0, 0.0]).todense() == [[0.0, 8.0, 0.0]]
    assert J.stats.patterns == 1
    assert J([-1.0, 4.0, 0.0]).todense() == [[0.0, 0.0, 1.0]]
    assert J.stats.patterns == 2


def test_tg_jit_of_a_sparse_transform_is_refused_and_points_to_jit_true() -> None:
    # tg.jit rebuilds trees of numbers; a replay would return the traced run's object.
    with pytest.raises(TypeError, match=r"cannot run inside tg.jit.*tg.sparse_jacobian\(f, jit=True\)"):
        tg.jit(tg.sparse_jacobian(banded))([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match=r"tg.sparse_hessian\(f, jit=True\)"):
        tg.jit(tg.sparse_hessian(chain, jit=True))([1.0, 2.0, 3.0])


# -- the result object ---------------------------------------------------------------------


def test_the_result_is_frozen_and_converts_to_scipy() -> None:
    sp = pytest.importorskip("scipy.sparse")
    x = points(8, seed=5)
    J = tg.sparse_jacobian(banded)(x)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        J.sweeps = 1  # type: ignore[misc]
    m = J.to_scipy()
    assert sp.issparse(m) and m.shape == J.shape and m.nnz == J.nnz
    assert dense_close(m.toarray().tolist(), J.todense(), tol=0.0)
    mask = J.pattern.to_scipy()
    assert mask.dtype == bool and mask.nnz == J.nnz


def test_to_scipy_without_scipy_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    J = tg.sparse_jacobian(banded)([1.0, 2.0, 3.0])
    with pytest.raises(ImportError, match=r"tapegrad\[sparse\]"):
        J.to_scipy()
    with pytest.raises(ImportError, match=r"tapegrad\[sparse\]"):
        J.pattern.to_scipy()


# -- bad input ------------------------------------------------------------------------------


def test_sparse_hessian_refuses_a_non_scalar_output() -> None:
    with pytest.raises(TypeError, match=r"sparse_hessian\(banded\): the function must return a scalar"):
        tg.sparse_hessian(banded)([1.0, 2.0])
    with pytest.raises(TypeError, match=r"hessian_sparsity\(banded\)"):
        tg.hessian_sparsity(banded)([1.0, 2.0])


def test_a_pattern_needing_more_sweeps_than_the_bound_is_refused_with_the_numbers() -> None:
    def dense(x: Vector) -> list[Scalar]:
        return [tg.exp(tg.sum(x)) * v for v in x]

    with pytest.raises(ValueError, match=r"sparse_jacobian\(dense\): the 6x6 pattern \(36 nonzeros; row 0 has 6\) needs at least 6 sweeps, more than max_sweeps=3"):
        tg.sparse_jacobian(dense, max_sweeps=3)(points(6))
    with pytest.raises(ValueError, match=r"max_sweeps=2.*use the dense transform, which takes 6 sweeps"):
        tg.sparse_hessian(lambda x: tg.exp(tg.sum(x)), max_sweeps=2)(points(6))
    assert tg.sparse_jacobian(banded, max_sweeps=5)(points(9)).sweeps == 5


def test_bad_options_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="mode must be 'auto', 'fwd' or 'rev'"):
        tg.sparse_jacobian(banded, mode="sideways")
    with pytest.raises(ValueError, match="max_sweeps must be a positive int"):
        tg.sparse_hessian(chain, max_sweeps=0)
    with pytest.raises(TypeError, match="argnums"):
        tg.sparse_jacobian(banded, argnums="x")  # type: ignore[arg-type]


def test_sparse_transforms_refuse_vmap() -> None:
    with pytest.raises(TypeError, match=r"sparse_jacobian\(.*\) does not run under vmap"):
        tg.vmap(lambda t: tg.sparse_jacobian(lambda v: [v[0] * t])([1.0]).values[0])([1.0, 2.0])


# -- the colorings themselves -------------------------------------------------------------------


def _random_graph(n: int, p: float, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    adj: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if rng.random() < p:
                adj[i].add(j)
                adj[j].add(i)
    return [sorted(a) for a in adj]


@pytest.mark.parametrize("seed", range(6))
def test_star_coloring_is_a_star_coloring_and_every_entry_is_recoverable(seed: int) -> None:
    adj = _random_graph(40, 0.08, seed)
    color = star_coloring(adj)
    for v, ns in enumerate(adj):
        assert all(color[v] != color[w] for w in ns)
    # No path on four vertices uses only two colors.
    for a in range(len(adj)):
        for b in adj[a]:
            for c in adj[b]:
                if c == a:
                    continue
                for d in adj[c]:
                    if d not in (a, b):
                        assert len({color[a], color[b], color[c], color[d]}) >= 3
    rows = [sorted({v, *ns}) for v, ns in enumerate(adj)]
    assert len(recovery(rows, color, symmetric=True)) == sum(map(len, rows))
    assert colors_used(color) <= colors_used(column_coloring(rows, len(rows))) + 3


def test_column_coloring_keeps_columns_of_a_row_apart_and_recovery_refuses_a_bad_coloring() -> None:
    rows = [[0, 1], [1, 2], [2, 3], [0, 3]]
    color = column_coloring(rows, 4)
    assert all(color[i] != color[j] for row in rows for i in row for j in row if i != j)
    assert colors_used(color) == 2
    with pytest.raises(ValueError, match=r"cannot separate entry \(0, 0\)"):
        recovery(rows, [0, 0, 0, 0], symmetric=False)


def test_past_the_star_work_limit_the_distance2_coloring_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import tapegrad.transforms.sparse as sparse_module

    def arrow(v: Vector) -> Scalar:
        return v[0] * tg.sum(v[1:])

    x = points(12, seed=6)
    assert tg.sparse_hessian(arrow)(x).sweeps == 2
    monkeypatch.setattr(sparse_module, "STAR_WORK_LIMIT", 0)
    H = tg.sparse_hessian(arrow)(x)
    assert H.sweeps == 11  # columns 1 to 11 all meet in row 0; column 0 can join one of them
    assert dense_close(H.todense(), tg.hessian(arrow)(x))


def test_a_vmapped_result_returned_from_the_function_has_its_true_derivatives() -> None:
    # vmap over traced leaves computes example by example, and its result's
    # columns are lists of traced scalars; each is an output, not a constant.
    def squares(v: Vector) -> Any:
        return tg.vmap(lambda x: x * x * x)(v)

    x = [1.0, 2.0, 0.5]
    closed = [[3.0 * x[i] ** 2 if i == j else 0.0 for j in range(3)] for i in range(3)]
    assert tg.sparse_jacobian(squares)(x).todense() == closed
    assert tg.jacobian_sparsity(squares)(x).todense() == [[i == j for j in range(3)] for i in range(3)]
    assert list(tg.jacobian(squares)(x)) == closed
    assert list(tg.jvp(squares, (x,), ([1.0, 1.0, 1.0],))[1]) == [closed[i][i] for i in range(3)]


def test_a_checkpointed_block_has_a_covering_pattern_and_the_right_values() -> None:
    def f(x: Vector) -> Scalar:
        return tg.checkpoint(lambda a, b: a * b + a)(x[0], x[1]) + x[2] ** 2  # type: ignore[no-any-return]

    x = [1.0, 2.0, 3.0]
    pattern = tg.hessian_sparsity(f)(x).todense()
    assert pattern == [[True, True, False], [True, True, False], [False, False, True]]  # the block as one whole
    assert tg.sparse_hessian(f)(x).todense() == tg.hessian(f)(x) == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 2.0]]


def test_the_refusal_names_the_lower_bound_of_the_direction_asked_for() -> None:
    def arrow(x: Vector) -> list[Scalar]:  # row 0 is full, every column has at most two entries
        return [tg.sum(x)] + [v * v for v in x[1:]]

    with pytest.raises(ValueError, match=r"needs at least 8 sweeps, more than max_sweeps=2"):
        tg.sparse_jacobian(arrow, mode="fwd", max_sweeps=2)(points(8))
    with pytest.raises(ValueError, match=r"needs at least 2 sweeps, more than max_sweeps=1"):
        tg.sparse_jacobian(arrow, mode="rev", max_sweeps=1)(points(8))
    assert tg.sparse_jacobian(arrow, max_sweeps=2)(points(8)).sweeps == 2  # auto: the reverse sweeps fit
