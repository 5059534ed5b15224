"""jit guards what f reads from outside its arguments: values other than floats, classes, callable objects, methods.

Each test changes something a jitted function reads between two calls and
checks that the second call gives eager evaluation's new answer (tracing
again, with the "changed since the last trace" warning), not a stale replay.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

import tapegrad as tg

def _retraced(j: Callable[..., Any], *args: Any) -> Any:
    """Call ``j`` after a change: it must trace again and say so, at this file's line."""
    with pytest.warns(tg.JitWarning, match=r"changed since the last trace") as caught:
        out = j(*args)
    assert caught[0].filename == __file__
    return out


def test_a_zero_dimensional_array_changed_in_place_traces_again() -> None:
    np = pytest.importorskip("numpy")
    scale = np.array(2.0)
    j = tg.jit(lambda w: float(scale) * w)
    assert j(1.0) == 2.0
    scale[()] = 5.0
    assert _retraced(j, 1.0) == 5.0
