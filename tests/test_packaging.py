"""Packaging: what a user gets from the README's install, checked from outside the repository.

Both tests build a fresh virtual environment or a wheel with pip, which takes
some 20 to 40 seconds and reaches PyPI (or pip's cache) for the build backend
and mypy. That is too slow to repeat on every developer run and on every
Python of the CI matrix, and skipping it everywhere would prove nothing, so
the tests run only when TAPEGRAD_PACKAGING_TEST=1 is set. ``.ci/run`` sets it
on exactly one leg (3.11 when present) and then checks the JUnit report to be
sure they passed there rather than skipped. Run them by hand with::

    TAPEGRAD_PACKAGING_TEST=1 .venv/bin/python -m pytest -q tests/test_packaging.py
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    os.environ.get("TAPEGRAD_PACKAGING_TEST") != "1",
    reason="slow (fresh venv + pip install); set TAPEGRAD_PACKAGING_TEST=1, as .ci/run does on one leg",
)

# A user's strictly typed module. The deliberately wrong assignment carries an
# ignore comment that --strict (warn_unused_ignores) reports as unused if
# tapegrad's types were not really read: were tapegrad found without its
# py.typed, or silenced to Any, the check below would fail instead of passing
# vacuously.
USER_MODULE = '''\
import tapegrad as tg


def loss(params: list[tg.Scalar]) -> tg.Scalar:
    a, b = params
    return (a - 1.0) ** 2 + tg.sin(b) * a


grads: list[tg.Scalar] = tg.grad(loss)([2.0, 0.5])
print([tg.primal(g) for g in grads])

not_a_gradient: str = tg.grad(loss)([2.0, 0.5])  # type: ignore[assignment]
'''


def _clean_env() -> dict[str, str]:
    """The environment without anything that could point Python or mypy back into this checkout."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "MYPYPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    return env


def _run(cmd: list[str], cwd: Path) -> str:
    """Run a command, failing the test with its whole output when it exits non-zero."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=_clean_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode} in {cwd}:\n{proc.stdout}"
    return proc.stdout


def _mypy_requirement() -> str:
    """The mypy this suite already uses, so pip takes it from its cache and results match."""
    try:
        return f"mypy=={importlib.metadata.version('mypy')}"
    except importlib.metadata.PackageNotFoundError:
        return "mypy"


def test_readme_editable_install_type_checks_a_user_module(tmp_path: Path) -> None:
    """After the README's `pip install -e .`, mypy --strict finds tapegrad's types from any folder.

    setuptools' editable install used an import hook, which runs at import
    time and which mypy cannot follow ("Cannot find implementation or library
    stub for module named 'tapegrad'"). The build backend now writes a plain
    path into a .pth file, which mypy reads like site-packages itself.
    """
    venv = tmp_path / "venv"
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    # The README's install command, from the repository root, as a user types it.
    _run([str(bindir / "pip"), "install", "-q", "-e", "."], cwd=ROOT)
    _run([str(bindir / "pip"), "install", "-q", _mypy_requirement()], cwd=tmp_path)

    user_dir = tmp_path / "user_project"
    user_dir.mkdir()
    (user_dir / "train.py").write_text(USER_MODULE)
    out = _run([str(bindir / "python"), "-m", "mypy", "--strict", "train.py"], cwd=user_dir)
    assert "Success: no issues found in 1 source file" in out, out
    # The same module runs against the editable install, and it is this checkout that is imported.
    out = _run([str(bindir / "python"), "-c", "import tapegrad; print(tapegrad.__file__)"], cwd=user_dir)
    assert Path(out.strip()).resolve() == ROOT / "tapegrad" / "__init__.py"
    _run([str(bindir / "python"), "train.py"], cwd=user_dir)


def test_wheel_holds_every_subpackage_and_py_typed(tmp_path: Path) -> None:
    """A built wheel carries all of tapegrad's subpackages, including ones added later, and py.typed.

    The package list is discovered, not written by hand, so a copy of the
    source with an extra nested subpackage (standing in for the coming
    tapegrad/core/, tapegrad/interpret/, ...) must come out whole too.
    """
    src = tmp_path / "src"
    shutil.copytree(ROOT / "tapegrad", src / "tapegrad", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    probe = src / "tapegrad" / "probe_sub" / "deeper"
    probe.mkdir(parents=True)
    (probe.parent / "__init__.py").write_text("")
    (probe / "__init__.py").write_text("VALUE = 1\n")

    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), "."], cwd=src)
    (wheel,) = wheels.glob("tapegrad-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    expected = {
        path.relative_to(src).as_posix()
        for path in (src / "tapegrad").rglob("*")
        if path.is_file() and (path.suffix in (".py", ".js", ".css") or path.name == "py.typed")
    }
    assert "tapegrad/py.typed" in expected and "tapegrad/probe_sub/deeper/__init__.py" in expected
    assert "tapegrad/explore/page.js" in expected  # the explorer's script and styles are package data
    assert expected <= names, sorted(expected - names)
    # Nothing but tapegrad (and the wheel's metadata) is installed: no tests/, examples/ or benchmarks/.
    assert all(n.startswith(("tapegrad/", "tapegrad-")) for n in names), sorted(names)
