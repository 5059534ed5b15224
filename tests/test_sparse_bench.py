"""benchmarks/sparse_bench.py's problems compute what the benchmark says (no timing is asserted)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

import tapegrad as tg

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(autouse=True)
def _benchmarks_on_path() -> Iterator[None]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_the_benchmark_problems_have_the_stated_bands_and_agree_with_the_dense_transforms() -> None:
    from workloads.sparse_problems import banded, chain, start

    x = start(12)
    H = tg.sparse_hessian(chain)(x)
    assert set(zip(H.rows, H.cols)) == {(i, j) for i in range(12) for j in range(12) if abs(i - j) <= 1}
    for got, want in zip(H.todense(), tg.hessian(chain)(x)):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    J = tg.sparse_jacobian(banded)(x)
    assert set(zip(J.rows, J.cols)) == {(i, j) for i in range(12) for j in range(12) if abs(i - j) <= 2}
    assert (H.sweeps, J.sweeps) == (3, 5)
