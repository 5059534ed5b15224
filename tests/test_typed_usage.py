"""Run tests/typed_usage.py, so its strictly typed examples are executed, not only type-checked."""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("typed_usage", HERE / "typed_usage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    out: dict[str, Any] = load().main()
    return out


def test_gradient_descent_finds_the_minimum(results: dict[str, Any]) -> None:
    a, b = results["descent"]
    assert math.isclose(a, 1.0, abs_tol=1e-6) and math.isclose(b, -2.0, abs_tol=1e-6)
    assert type(a) is float and type(b) is float


def test_adam_finds_the_minimum(results: dict[str, Any]) -> None:
    (a, b), steps = results["adam"]
    assert math.isclose(a, 1.0, abs_tol=1e-3) and math.isclose(b, -2.0, abs_tol=1e-3)
    assert steps == 300 and type(steps) is int


def test_plain_and_jitted_descent(results: dict[str, Any]) -> None:
    a, b = results["plain_descent"]
    assert math.isclose(a, 1.0, abs_tol=1e-6) and math.isclose(b, -2.0, abs_tol=1e-6)
    (c, d), traces = results["jitted_descent"]
    assert (c, d) == (a, b) and traces == 1
    assert results["aux_pullback"] == [2.0, 0.0]


def test_rosenbrock_value_and_gradient(results: dict[str, Any]) -> None:
    value, grad = results["rosenbrock"]
    assert value == 0.0 and grad == [0.0, 0.0]


def test_fit_line_with_aux(results: dict[str, Any]) -> None:
    line, value, hits = results["line"]
    assert math.isclose(line.slope, 2.0, abs_tol=1e-6) and math.isclose(line.intercept, 1.0, abs_tol=1e-6)
    assert type(line).__name__ == "Line"
    assert value < 1e-10 and hits == 4 and type(hits) is int


def test_classifier_training(results: dict[str, Any]) -> None:
    history, accuracy = results["classifier"]
    assert history[-1] < history[0]
    assert accuracy == 1.0 and type(accuracy) is float


def test_jacobian_hessian_jvp_vjp(results: dict[str, Any]) -> None:
    r, theta = 2.0, 0.5
    expected = [[math.cos(theta), -r * math.sin(theta)], [math.sin(theta), r * math.cos(theta)]]
    assert all(math.isclose(a, b, rel_tol=1e-12) for ra, rb in zip(results["polar"], expected) for a, b in zip(ra, rb))
    assert results["hessian"] == [[802.0, -400.0], [-400.0, 200.0]]
    # d/dx rosenbrock at (1, 2): -2(1 - x) - 400 x (y - x^2) = -400
    assert results["directional"] == -400.0
    # d(r cos theta)/d(r, theta) at (2, 0)
    assert results["pullback"] == [1.0, 0.0]


def test_custom_primitive(results: dict[str, Any]) -> None:
    g0, g1 = results["softplus_grad"]
    assert g0 == 0.5 and math.isclose(g1, 1.0 / (1.0 + math.exp(-1.0)), rel_tol=1e-12)


def test_typed_usage_passes_mypy_strict() -> None:
    api = pytest.importorskip("mypy.api")
    config = HERE.parent / "mypy.ini"
    stdout, stderr, status = api.run(
        ["--config-file", str(config), "--strict", "--follow-imports=silent", str(HERE / "typed_usage.py")]
    )
    assert status == 0, stdout + stderr


def test_mypy_reports_the_mistakes_in_typed_mistakes() -> None:
    """Precise types must still catch a user's errors: each marked line, and nothing else."""
    api = pytest.importorskip("mypy.api")
    path = HERE / "typed_mistakes.py"
    expected = {
        (n, m.group(1))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for m in [re.search(r"  # error: ([a-z-]+)$", line)]
        if m
    }
    stdout, stderr, status = api.run(
        ["--config-file", str(HERE.parent / "mypy.ini"), "--strict", "--follow-imports=silent", str(path)]
    )
    found = {
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"typed_mistakes\.py:(\d+): error: .*\[([a-z-]+)\]$", stdout, re.MULTILINE)
    }
    assert status == 1 and len(expected) >= 7, stdout + stderr
    assert found == expected, stdout + stderr


def test_typed_usage_runs_as_a_script(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["typed_usage.py"])
    module = load()
    for name, value in module.main().items():
        print(f"{name}: {value}")
    assert "descent:" in capsys.readouterr().out


def test_math_functions_sum_and_mean(results: dict[str, Any]) -> None:
    assert results["mse_grad"] == [1.0, 2.0]
    g0, g1 = results["soft_clipped"]
    assert math.isclose(g0, 1.0 + 1.0 / (1.0 + math.exp(-0.5)) + 0.5 / math.hypot(0.5, 2.0), rel_tol=1e-12)
    plain, average, angle = results["typed_math"]
    assert plain == 6.0 and average == 1.5 and type(angle) is float
    # d/dx sinc(x) logaddexp2(x, 0.5) at 0: sinc'(0) = 0, so it is sinc(0) * 2^0 / (2^0 + 2^0.5)
    assert math.isclose(results["sinc_grad"], 1.0 / (1.0 + 2.0**0.5), rel_tol=1e-15)
