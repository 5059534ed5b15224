"""The Taylor-remainder test of a gradient, as dolfin-adjoint's and PETSc's: no step size to tune.

Part of the library layer (``tapegrad/testing``).

For a scalar ``f``, a point ``x``, a direction ``v`` and a candidate gradient
``g``, the remainder ``r(h) = |f(x + h v) - f(x) - h <g, v>|`` falls like
``h**2`` as ``h`` shrinks if ``g`` is the gradient, and only like ``h`` if it
is not (then ``r(h) / h`` tends to ``|<g - grad f, v>|``). :func:`taylor_test`
computes ``r`` over a geometric range of steps and reads the order off the
smallest steps whose remainders are still well above rounding, so no single
step has to be right. Where rounding leaves too few such steps (``f`` linear
along ``v``, or remainders at the level of ``f``'s last bits) it says the
test is inconclusive instead of guessing.
"""

from __future__ import annotations

import math
import random
import sys
from typing import Any, Callable, Optional, Sequence, Union

import attrs

from tapegrad.core.tree import flatten, unflatten
from tapegrad.transforms.grad import grad as tg_grad

EPS = sys.float_info.epsilon
# A remainder counts only if it is this many times above what rounding in
# forming f(x + h v) - f(x) - h <g, v> can produce (a few ulps of each term).
# f's own evaluation adds more than one rounding; the margin covers a few
# hundred operations, and a measurement at tiny steps (below) covers the rest.
_FLOOR = 1000.0
_PASS = 1.8  # orders at least this: the remainder is second order (or higher)
_FAIL = 1.25  # orders at most this: first order, a wrong gradient
# A pass must be able to see an error in <g, v> of this fraction of it.
_RESOLUTION = 1e-3


@attrs.frozen
class TaylorResult:
    """What :func:`taylor_test` found: a status, the fitted order, its reason, and the table.

    ``status`` is ``"passed"`` (second-order remainders: the gradient is
    right along the direction), ``"failed"`` (first order or worse: it is
    wrong, or f is not differentiable there) or ``"inconclusive"`` (rounding
    left too few usable steps, or the orders settled on neither). ``order``
    is the order fitted at the smallest usable steps (None if there were
    fewer than two). ``steps``, ``remainders`` and ``orders`` are the table;
    ``usable[k]`` says whether remainder k is above the rounding level.
    """

    status: str
    order: Optional[float]
    reason: str
    steps: tuple[float, ...]
    remainders: tuple[float, ...]
    orders: tuple[Optional[float], ...]
    usable: tuple[bool, ...]
    directional: float  # <g, v>, the candidate's derivative along the direction

    @property
    def ok(self) -> bool:
        """True if the test passed."""
        return self.status == "passed"

    @property
    def inconclusive(self) -> bool:
        """True if rounding (or an unsettled order) kept the test from deciding."""
        return self.status == "inconclusive"

    @property
    def table(self) -> tuple[tuple[float, float, Optional[float], bool], ...]:
        """One row per step: ``(h, remainder, order from the previous step, usable)``."""
        return tuple(zip(self.steps, self.remainders, self.orders, self.usable))

    def __str__(self) -> str:
        head = f"taylor_test {self.status}: {self.reason}"
        rows = [f"  {'h':>10}  {'|f(x+hv) - f(x) - h<g,v>|':>26}  {'order':>6}"]
        for h, r, o, use in self.table:
            note = "" if use else ("  (f not finite or undefined here: not used)" if not math.isfinite(r) else "  (at rounding level: not used)")
            order = f"{o:6.2f}" if o is not None else " " * 6
            rows.append(f"  {h:10.3e}  {r:26.3e}  {order}{note}")
        return "\n".join([head, *rows])


def _perturbed(args: tuple[Any, ...], nums: Sequence[int], h: float, v: Sequence[list[float]]) -> list[Any]:
    out = list(args)
    for n, vl in zip(nums, v):
        lv, td, _ = flatten(args[n], f"args[{n}]", with_paths=False)
        out[n] = unflatten(td, [x + h * d for x, d in zip(lv, vl)])
    return out


def _scalar(value: Any, where: str) -> float:
    lv, _, _ = flatten(value, "output", with_paths=False)
    if len(lv) != 1 or isinstance(value, (list, tuple, dict)):
        raise TypeError(f"taylor_test: f must return one scalar, but {where} it returned {type(value).__name__} {value!r:.60}")
    return float(lv[0])


def _as_leaves(tree: Any, like: Sequence[int], args: tuple[Any, ...], what: str) -> list[list[float]]:
    """``tree`` (one tree for one argument, a tuple of trees for several) as leaf lists, checked against the arguments."""
    trees = (tree,) if len(like) == 1 else tree
    if not isinstance(trees, (tuple, list)) or len(trees) != len(like):
        raise ValueError(f"taylor_test: {what} must be a tuple of {len(like)} trees, one per checked argument {tuple(like)}")
    out = []
    for n, t in zip(like, trees):
        lv, td, _ = flatten(t, what, with_paths=False)
        _, atd, _ = flatten(args[n], f"args[{n}]", with_paths=False)
        if td != atd:
            raise ValueError(f"taylor_test: {what} has shape {td}, but argument {n} has shape {atd}")
        out.append([float(x) for x in lv])
    return out


def taylor_test(
    f: Callable[..., Any],
    args: Sequence[Any],
    *,
    grad: Optional[Callable[..., Any]] = None,
    direction: Any = None,
    steps: Optional[Sequence[float]] = None,
    argnums: Optional[Union[int, Sequence[int]]] = None,
    seed: int = 0,
) -> TaylorResult:
    """Test a gradient of scalar ``f`` at ``args`` by the order of its Taylor remainder.

    ``grad`` is the gradient to test, called as ``grad(*args)``: by default
    tapegrad's own (``tapegrad.grad(f, argnums)``); pass your hand-derived
    gradient to test it. It returns one tree shaped like the argument when
    one argument is checked, else a tuple with one tree per checked argument,
    and so is ``direction`` (default: random, from ``random.Random(seed)``).
    ``argnums`` picks the arguments to move (default: all). ``steps`` are the
    step sizes, largest first (default: 14 steps from ``0.01 * scale`` down
    by factors of 4, ``scale`` the size of the point over that of the
    direction). Nothing is raised for a wrong gradient: read ``result.ok``,
    ``result.status`` and ``print(result)`` for the table.
    """
    full = tuple(args)
    nums = tuple(range(len(full))) if argnums is None else ((argnums,) if isinstance(argnums, int) else tuple(argnums))
    if not nums or any(isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < len(full) for n in nums):
        raise ValueError(f"taylor_test: argnums must name positional arguments 0..{len(full) - 1}, got {argnums!r}")
    for n in nums:
        flatten(full[n], f"args[{n}]", with_paths=False)  # names a leaf that is not a number; pass argnums to skip it
    f0 = _scalar(f(*full), "at args")
    if not math.isfinite(f0):
        raise ValueError(f"taylor_test: f(*args) is {f0}; the test needs a finite value at the point")
    if grad is None:
        grad = tg_grad(f, argnums=nums[0] if len(nums) == 1 else nums)
    g = _as_leaves(grad(*full), nums, full, "the gradient")
    if direction is None:
        rng = random.Random(seed)
        v = [[rng.gauss(0.0, 1.0) for _ in gl] for gl in g]
    else:
        v = _as_leaves(direction, nums, full, "direction")
    gv = math.fsum(a * b for gl, vl in zip(g, v) for a, b in zip(gl, vl))
    if steps is None:
        x_size = max([abs(x) for n in nums for x in flatten(full[n], "args", with_paths=False)[0]] + [1.0])
        v_size = max([abs(d) for vl in v for d in vl] + [1e-300])
        steps = [0.01 * x_size / v_size * 4.0**-k for k in range(14)]
    hs = tuple(float(h) for h in steps)
    if len(hs) < 3 or any(not (h > 0.0 and math.isfinite(h)) for h in hs) or any(b >= a for a, b in zip(hs, hs[1:])):
        raise ValueError(f"taylor_test: steps must be at least 3 positive step sizes, largest first, got {tuple(steps)!r}")

    def value_at(h: float) -> float:
        """f(x + h v), or nan where a large step leaves f's domain (that step is then not used)."""
        try:
            return _scalar(f(*_perturbed(full, nums, h, v)), f"at step {h:g}")
        except (ValueError, ArithmeticError):
            return math.nan

    def remainder(h: float) -> tuple[float, float]:
        """f(x + h v) - f(x) - h <g, v> (signed), and the size of one rounding in forming it."""
        fh = value_at(h)
        return fh - f0 - h * gv, EPS * (abs(fh) + abs(f0) + abs(h * gv))

    # f's rounding noise, measured where the true remainder is negligible.
    noise = max([abs(r) for r in (remainder(hs[-1] * s)[0] for s in (1e-4, 2e-4, 3e-4)) if math.isfinite(r)], default=0.0)
    # Steps that small may not move f at all (every value rounds to f(x)),
    # which hides the noise that steps of the table's size meet: f computed
    # as 1 - cos(x) near 0, or a value rounded to a few digits. Fourth
    # differences of f along v, spaced like the table's smaller steps, show it.
    for k in (len(hs) // 2, len(hs) - 1):
        noise = max(noise, _difference_noise(value_at, f0, hs[k]))
    signed, usable = [], []
    for h in hs:
        r, ulp = remainder(h)
        signed.append(r)
        usable.append(math.isfinite(r) and abs(r) > max(_FLOOR * ulp, 10.0 * noise))
    return _verdict(hs, signed, usable, gv)


def _difference_noise(along: Callable[[float], float], f0: float, spacing: float) -> float:
    """f's rounding noise along v near x: from fourth differences of ``f(x + j * spacing * v)``, j = 0..6.

    A smooth f's fourth difference is its fourth derivative times
    ``spacing**4``, negligible at the table's small steps, while independent
    rounding errors of size ``s`` give fourth differences of about
    ``sqrt(70) * s`` (70 is the sum of the squares of 1, -4, 6, -4, 1).
    """
    values = [f0] + [along(j * spacing) for j in range(1, 7)]
    fourth = [values[j] - 4.0 * values[j + 1] + 6.0 * values[j + 2] - 4.0 * values[j + 3] + values[j + 4] for j in range(3)]
    finite = [abs(d) for d in fourth if math.isfinite(d)]
    return max(finite, default=0.0) / math.sqrt(70.0)


def _undecidable(rs: Sequence[float], gv: float) -> Optional[tuple[str, str]]:
    """The status and reason when the table cannot be read at all: a gradient or an f that is nowhere finite, or no remainder."""
    if not math.isfinite(gv):
        return (
            "failed",
            f"the gradient is not finite: <g, v> = {gv} (a leaf of the gradient is nan or infinite), while f is finite at the point; "
            "f may not be differentiable there",
        )
    if not any(math.isfinite(r) for r in rs):
        return (
            "inconclusive",
            "f is undefined or not finite at every step (it raised, or returned nan or inf): pass smaller steps, or test a point "
            "farther from the edge of f's domain",
        )
    if all(r == 0.0 for r in rs):
        return (
            "inconclusive",
            "every remainder is exactly 0: f is constant or linear along the direction (or the gradient matches f's "
            "rounding exactly), so a right and a wrong gradient look alike. Try another point or direction.",
        )
    return None


def _verdict(hs: tuple[float, ...], signed: list[float], usable: list[bool], gv: float) -> TaylorResult:
    rs = [abs(r) for r in signed]
    orders: list[Optional[float]] = [None]
    for k in range(1, len(hs)):
        ok = usable[k] and usable[k - 1]
        orders.append(math.log(rs[k - 1] / rs[k]) / math.log(hs[k - 1] / hs[k]) if ok else None)
    # The last run of consecutive usable steps: the smallest steps above rounding.
    end = max((k for k in range(len(hs)) if usable[k]), default=-1)
    start = end
    while start > 0 and usable[start - 1]:
        start -= 1
    run = list(range(start, end + 1)) if end >= 0 else []

    def result(status: str, order: Optional[float], reason: str) -> TaylorResult:
        return TaylorResult(status, order, reason, hs, tuple(rs), tuple(orders), tuple(usable), gv)

    early = _undecidable(rs, gv)
    if early is not None:
        return result(early[0], None, early[1])
    if len(run) < 3:
        return result(
            "inconclusive",
            None,
            f"only {len(run)} consecutive step(s) give remainders above rounding (3 are needed). The remainders are at "
            "the level of f's rounding: f may be linear (or have a zero second derivative) along the direction, so a "
            "right and a wrong gradient look alike. Try another point or direction, or larger steps.",
        )
    tail = [orders[k] for k in run[-2:]]
    o_a, o_b = (float(o) for o in tail if o is not None)
    x = [math.log(hs[k]) for k in run[-3:]]
    y = [math.log(rs[k]) for k in run[-3:]]
    mx, my = sum(x) / 3.0, sum(y) / 3.0
    fitted = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)
    last = run[-1]
    slope = gv + signed[last] / hs[last]  # (f(x + h v) - f(x)) / h at the smallest usable step
    off = abs(slope - gv)
    if o_a >= _PASS and o_b >= _PASS:
        # An error e in <g, v> adds |e| h to the remainder; a second-order fall
        # at the smallest usable step bounds it by about r / h there.
        resolution = rs[last] / hs[last]
        if gv != 0.0 and resolution > _RESOLUTION * abs(gv):
            return result(
                "inconclusive",
                fitted,
                f"the remainder falls at order {fitted:.2f}, but rounding keeps the steps so large that an error in the "
                f"gradient below about {resolution:.3g} along the direction ({resolution / abs(gv):.2g} of <g, v> = {gv:.6g}) "
                "would not show: f's rounding error is large there (cancellation, or few digits). Try another point or "
                "direction, or compute f more accurately",
            )
        return result(
            "passed",
            fitted,
            f"the remainder falls at order {fitted:.2f} (a right gradient gives 2 or more, a wrong one 1); an error in the "
            f"gradient along the direction above about {resolution:.3g} would have shown",
        )
    if (o_a <= _FAIL and o_b <= _FAIL) or (o_b < o_a - 0.2 and o_b < 1.6):
        what = "falls at order" if fitted > 0.75 else "hardly falls: order"
        return result(
            "failed",
            fitted,
            f"the remainder {what} {fitted:.2f} at the smallest steps (a right gradient gives 2): along the direction "
            f"the gradient gives {gv:.10g} but f changes at about {slope:.10g} "
            f"(off by about {off:.3g}, {off / abs(slope) if slope else math.inf:.3g} relative); or f is not differentiable there",
        )
    return result(
        "inconclusive",
        fitted,
        f"the last orders are {o_a:.2f} and {o_b:.2f}, neither settled at 2 nor falling toward 1; rounding may be setting "
        "in, or the steps are still too large: pass smaller steps, or test another point",
    )
