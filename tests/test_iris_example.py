"""examples/iris.py: the multiclass example trains to well above chance (needs scikit-learn, else skipped)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_iris_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tapegrad_iris_example", ROOT / "examples" / "iris.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_iris_example_beats_chance_by_far(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    iris = load_iris_example()
    train_x, train_y, test_x, test_y = iris.load_split(0)
    assert (len(train_x), len(test_x)) == (105, 45) and set(train_y) == {0, 1, 2}
    assert iris.main(["--steps", "150", "--jit"]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("test accuracy ")
    accuracy = float(last.split()[2].rstrip("%")) / 100.0
    assert accuracy >= 0.85  # chance is 1/3


def test_iris_example_without_sklearn_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    iris = load_iris_example()
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes "import sklearn" raise ImportError
    with pytest.raises(SystemExit) as exc:
        iris.main([])
    assert "pip install 'tapegrad[examples]'" in str(exc.value.code)
