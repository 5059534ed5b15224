"""Numbers from NumPy: scalars as parameter leaves, arrays as arguments (eager and under jit), ufuncs on traced scalars.

NumPy is optional: every test but the first skips without it.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any, Callable

import pytest

import tapegrad as tg
from tapegrad import Scalar
from tapegrad.testing import check_grads


def test_importing_tapegrad_does_not_import_numpy() -> None:
    code = "import sys, tapegrad, tapegrad.testing; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


np = pytest.importorskip("numpy")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8"])
def test_numpy_scalars_are_parameter_leaves(dtype: str) -> None:
    x = np.dtype(dtype).type(2)
    assert tg.grad(lambda v: v * v * v)(x) == 12.0
    g = tg.grad(lambda p: p["a"] * p["b"][0])({"a": x, "b": [np.float32(0.5)]})
    assert g == {"a": 0.5, "b": [2.0]} and type(g["a"]) is float


def test_bool_and_complex_are_refused_with_the_path() -> None:
    with pytest.raises(TypeError, match=r"p\[1\]: expected real numbers"):
        tg.grad(lambda p: p[0])([1.0, np.bool_(True)])
    with pytest.raises(TypeError, match="dtype complex128"):
        tg.grad(lambda p: p[0])(np.array([1j]))


def data_loss(w: Scalar, xs: Any) -> Scalar:
    total: Scalar = 0.0
    for x in xs:
        total = total + (w * x - 1.0) ** 2
    return total


def test_arrays_as_data_arguments_eager_and_under_jit() -> None:
    step = tg.jit(tg.value_and_grad(data_loss))
    for xs in ([1.0, 2.0], [3.0, -1.0], [0.5, 0.25]):
        arr = np.array(xs)
        expected = tg.value_and_grad(data_loss)(0.7, xs)
        assert tg.value_and_grad(data_loss)(0.7, arr) == expected
        assert step(0.7, arr) == expected
    assert step.stats.traces == 1 and step.stats.replays == 2
    # a new length is a new structure, as for lists
    assert step(0.7, np.array([1.0, 2.0, 3.0])) == tg.value_and_grad(data_loss)(0.7, [1.0, 2.0, 3.0])
    assert step.stats.traces == 2
    # integer and float32 data too
    assert step(0.7, np.array([1, 2])) == tg.value_and_grad(data_loss)(0.7, [1.0, 2.0])


def test_gradient_with_respect_to_an_array_is_an_array() -> None:
    for dtype, out_dtype in (("float64", "float64"), ("float32", "float32"), ("int64", "float64")):
        x = np.array([[1, 2], [3, 4]], dtype=dtype)
        g = tg.grad(lambda a: a[0, 0] * a[1, 1] + a[0, 1])(x)
        assert isinstance(g, np.ndarray) and g.shape == (2, 2) and g.dtype == np.dtype(out_dtype)
        assert g.tolist() == [[4.0, 1.0], [0.0, 1.0]]
    jitted = tg.jit(tg.grad(lambda a: a[0] * a[1]))
    assert jitted(np.array([2.0, 3.0])).tolist() == [3.0, 2.0]
    assert jitted(np.array([5.0, 7.0])).tolist() == [7.0, 5.0]
    assert jitted.stats.replays == 1
    check_grads(lambda a: tg.sin(a[0]) * a[1], (np.array([0.3, -0.7]),), order=2)


def test_ufuncs_on_traced_scalars_bind_the_primitive() -> None:
    def f(x: Any) -> Any:
        return np.exp(x) * np.sin(x) + np.sqrt(x) - np.log(x) / np.float32(2.0) + np.tanh(x) ** np.int64(2) + np.abs(-x)

    def g(x: Any) -> Any:
        return tg.exp(x) * tg.sin(x) + tg.sqrt(x) - tg.log(x) / 2.0 + tg.tanh(x) ** 2.0 + abs(-x)

    for order in range(3):
        df: Callable[[Any], Any] = f
        dg: Callable[[Any], Any] = g
        for _ in range(order):
            df, dg = tg.grad(df), tg.grad(dg)
        assert math.isclose(df(0.8), dg(0.8), rel_tol=1e-14)
    assert tg.trace(lambda x: np.exp(x))(1.0).records[-1].primitive.name == "exp"
    assert tg.jit(tg.grad(lambda x: np.cos(x) * np.negative(x)))(1.0) == tg.grad(lambda x: -(tg.cos(x) * x))(1.0)
    assert tg.grad(lambda x: np.subtract(1.0, x) * np.float64(3.0) * x)(1.0) == -3.0


@pytest.mark.parametrize(
    "ufunc, ours, at",
    [
        (np.arcsin, tg.asin, (0.3,)),
        (np.arccos, tg.acos, (0.3,)),
        (np.arctan, tg.atan, (0.3,)),
        (np.arcsinh, tg.asinh, (0.3,)),
        (np.arccosh, tg.acosh, (1.3,)),
        (np.arctanh, tg.atanh, (0.3,)),
        (np.arctan2, tg.atan2, (0.3, -1.2)),
        (np.remainder, lambda x, y: x % y, (1.1, 0.25)),
        (np.mod, lambda x, y: x % y, (-1.1, 0.25)),
        (np.rint, round, (2.5,)),
        (np.hypot, tg.hypot, (0.3, -1.2)),
        (np.log1p, tg.log1p, (0.3,)),
    ],
)
def test_numpys_names_for_tapegrads_functions_record_them(ufunc: Any, ours: Callable[..., Any], at: tuple[float, ...]) -> None:
    argnums = tuple(range(len(at)))
    assert tg.value_and_grad(lambda *a: ufunc(*a) * a[0], argnums=argnums)(*at) == tg.value_and_grad(lambda *a: ours(*a) * a[0], argnums=argnums)(*at)
    assert tg.trace(lambda *a: ufunc(*a))(*at).records[-1].primitive.name == tg.trace(lambda *a: ours(*a))(*at).records[-1].primitive.name


def test_numpys_comparisons_give_bools_and_jit_guards_them() -> None:
    def f(x: Any) -> Any:
        return x * 2.0 if np.greater(x, 0.0) else -x

    assert tg.grad(f)(1.0) == 2.0 and tg.grad(f)(-1.0) == -1.0
    jitted = tg.jit(tg.grad(f))
    assert jitted(1.0) == 2.0 and jitted(-3.0) == -1.0  # the guard sends the other sign back to tracing
    assert tg.grad(lambda x: x * float(np.less_equal(x, 1.0)))(1.0) == 1.0


def test_other_ufuncs_point_to_tapegrad_functions() -> None:
    with pytest.raises(TypeError, match=r"numpy\.cbrt on a traced scalar.*tg\.exp"):
        tg.grad(lambda x: np.cbrt(x))(1.0)
    # maximum is a tapegrad primitive too, so numpy's ufunc of that name records it
    assert tg.grad(lambda x: np.maximum(x, 0.0))(1.0) == 1.0
    with pytest.raises(TypeError, match=r"numpy\.add\.accumulate"):
        tg.grad(lambda x: np.add.accumulate(x))(1.0)
