"""The moons example's plots render to real, non-blank PNG files.

matplotlib is an optional extra (``pip install 'tapegrad[plot]'``): without
it these tests are skipped. Training is cut to a few steps on few points,
since only the plotting is under test here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("matplotlib")

import matplotlib.image  # noqa: E402
import numpy as np  # noqa: E402  (a dependency of matplotlib)

ROOT = Path(__file__).resolve().parent.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_POINTS = 30


def _load_moons() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tapegrad_example_moons", ROOT / "examples" / "moons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained() -> tuple[ModuleType, Any, list[tuple[float, float]]]:
    moons = _load_moons()
    params, history = moons.train(steps=4, n_points=N_POINTS, verbose=False)
    return moons, params, history


def _check_png(path: Path) -> Any:
    """The file is a PNG that decodes to a picture with real content; returns its pixels."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    img = matplotlib.image.imread(str(path))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    pixels = img.reshape(-1, img.shape[-1])[:, :3]
    assert (pixels != pixels[0]).any(), "the image is a single colour"
    # Not just a frame on white: a good share of the pixels are not background.
    background = np.all(pixels > 0.98, axis=1)
    assert (~background).mean() > 0.01
    return pixels


def _has_colour(pixels: Any, rgb: tuple[float, float, float], tol: float = 0.05) -> bool:
    return bool(np.any(np.all(np.abs(pixels - np.array(rgb)) < tol, axis=1)))


def test_history_has_one_entry_per_step(trained: tuple[ModuleType, Any, list[tuple[float, float]]]) -> None:
    _, _, history = trained
    assert len(history) == 4
    for loss, acc in history:
        assert loss > 0.0 and 0.0 <= acc <= 1.0


def test_plot_boundary_renders(trained: tuple[ModuleType, Any, list[tuple[float, float]]], tmp_path: Path) -> None:
    moons, params, _ = trained
    path = tmp_path / "boundary.png"
    moons.plot_boundary(params, str(path), n_points=N_POINTS)
    pixels = _check_png(path)
    # The filled contour and the scatter give many distinct colours, not a blank axis.
    assert len(np.unique(np.round(pixels, 2), axis=0)) > 20


def test_plot_curve_renders(trained: tuple[ModuleType, Any, list[tuple[float, float]]], tmp_path: Path) -> None:
    moons, _, history = trained
    path = tmp_path / "curve.png"
    moons.plot_curve(history, str(path))
    pixels = _check_png(path)
    # Both lines were drawn: matplotlib's tab:blue (loss) and tab:orange (accuracy).
    assert _has_colour(pixels, (0x1F / 255, 0x77 / 255, 0xB4 / 255))
    assert _has_colour(pixels, (0xFF / 255, 0x7F / 255, 0x0E / 255))
