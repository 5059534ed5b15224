"""examples/bvp.py: the Bratu problem solved with sparse Jacobians checks its own answers (needs NumPy and SciPy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

import tapegrad as tg

ROOT = Path(__file__).resolve().parent.parent


def load_bvp_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tapegrad_bvp_example", ROOT / "examples" / "bvp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bvp_example_solves_every_case_and_checks_it(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("scipy")
    bvp = load_bvp_example()
    assert bvp.main(["--n", "40"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out and "The sparse Jacobian takes 3 sweeps, the dense one 40." in out
    for name in ("tg.sparse_jacobian(jit=True)", "tg.sparse_jacobian ", "SciPy 2-point, sparse", "tg.jacobian (dense)"):
        assert name in out


def test_bvp_example_notices_a_wrong_answer(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("scipy")
    bvp = load_bvp_example()
    right = bvp.exact
    monkeypatch.setattr(bvp, "exact", lambda n, lam: [v + 0.02 for v in right(n, lam)])
    assert bvp.main(["--n", "30", "--skip-dense"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_bvp_closed_form_solves_the_differential_equation() -> None:
    # Independent of the discretization: u'' + lam e^u = 0 at interior points, by central differences of the closed form.
    bvp = load_bvp_example()
    n, lam = 999, 2.0
    u = [0.0] + bvp.exact(n, lam) + [0.0]
    h = 1.0 / (n + 1)
    worst = max(abs((u[i - 1] - 2 * u[i] + u[i + 1]) / h**2 + lam * tg.exp(u[i])) for i in range(1, n + 1))
    assert worst < 1e-4
