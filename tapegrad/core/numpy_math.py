"""NumPy forms of the float functions in :mod:`tapegrad.core.float_math`, for vmap's numpy back end.

Layer 1 of tapegrad (``tapegrad/core``); it imports nothing of tapegrad, and
not NumPy either: :mod:`tapegrad.core.batch` loads NumPy when the first
numpy batch is made and passes the module in. Each function computes what
its float twin computes, elementwise (NumPy's exp and cosh may differ from
math's in the last bit); without these the rows would still work on numpy
batches, one example at a time.
"""

from __future__ import annotations

from typing import Any, Callable

LN2 = 0.6931471805599453


def numpy_helpers(np: Any, sigmoid: Callable[[Any], Any]) -> dict[str, Callable[..., Any]]:
    """The vectorized helper rows, by the names the rule table's forward rules use."""

    def sech2(x: Any) -> Any:
        a = np.abs(x)
        c = np.cosh(np.minimum(a, 20.0))
        return np.where(a < 20.0, 1.0 / (c * c), 4.0 * np.exp(-2.0 * a))

    def one_minus_square(x: Any) -> Any:
        return np.where(np.abs(x) < 0.5, 1.0 - x * x, (1.0 - x) * (1.0 + x))

    def recip_one_plus_square(x: Any) -> Any:
        return 1.0 / (1.0 + x * x)

    def hypot_cos(x: Any, y: Any) -> Any:
        with np.errstate(all="ignore"):  # inf / inf is nan, as in floats
            h = np.hypot(x, y)
            return np.where(h != 0.0, x / np.where(h != 0.0, h, 1.0), 0.0 * x)

    def difference(x: Any, y: Any) -> tuple[Any, Any]:
        d = x - y
        b = d - x
        return d, np.where(np.isfinite(d), (x - (d - b)) + (-y - b), 0.0)

    def sigmoid_of_difference(x: Any, y: Any) -> Any:
        with np.errstate(all="ignore"):
            d, e = difference(x, y)
            s = sigmoid(d)
            return s + s * sigmoid(-d) * e

    def sigmoid2_of_difference(x: Any, y: Any) -> Any:
        with np.errstate(all="ignore"):
            d, e = difference(x, y)
            t = np.exp2(-np.abs(d))  # never overflows
            s = np.where(d >= 0.0, 1.0 / (1.0 + t), t / (1.0 + t))
            return s + s * np.where(d >= 0.0, t / (1.0 + t), 1.0 / (1.0 + t)) * (e * LN2)

    def mod_quotient(x: Any, y: Any) -> Any:
        with np.errstate(all="ignore"):
            finite = np.round((x - np.mod(x, y)) / y)
            infinite = np.where((x != 0.0) & ((x < 0.0) != (y < 0.0)), -1.0, 0.0)
            bad = (y == 0.0) | np.isnan(x) | np.isnan(y) | np.isinf(x)
            return np.where(bad, np.nan, np.where(np.isinf(y), infinite, finite))

    return {
        "mod_quotient": mod_quotient,
        "sech2": sech2,
        "one_minus_square": one_minus_square,
        "recip_one_plus_square": recip_one_plus_square,
        "hypot_cos": hypot_cos,
        "sigmoid_of_difference": sigmoid_of_difference,
        "sigmoid2_of_difference": sigmoid2_of_difference,
    }
